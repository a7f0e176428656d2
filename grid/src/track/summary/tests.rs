//! `summarise` on the shipped sample layer (server/data/sample-grid.geojson:
//! a 10 × 10 lattice of ~300 m cells from lon 111.682, lat 40.8535 going
//! east and south, 0.0036° × 0.0027° each; see tools/make_sample_grid.py).

use gridwarden_protocol::track::{PatrolInfo, TrackPoint};
use uuid::Uuid;

use super::*;
use crate::{parse_geojson, CodePattern};

const SAMPLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../server/data/sample-grid.geojson"
));

/// Middle of lattice row 1 (counted from the north), far from the
/// slightly irregular edges: "Row 1 street".
const ROW_1_LAT: f64 = 40.8535 - 1.5 * 0.0027;
const ROW_8_LAT: f64 = 40.8535 - 8.5 * 0.0027;

/// Row 1 from west to east: street 001 (north-west quadrant) community 001
/// sequence 6–10, then street 002 (north-east) community 001 sequence 6–10.
const ROW_1: [&str; 10] = [
    "990102001001006",
    "990102001001007",
    "990102001001008",
    "990102001001009",
    "990102001001010",
    "990102002001006",
    "990102002001007",
    "990102002001008",
    "990102002001009",
    "990102002001010",
];

fn layer() -> GridIndex {
    GridIndex::new(parse_geojson(SAMPLE, &CodePattern::default_15()).unwrap())
}

fn info() -> PatrolInfo {
    PatrolInfo {
        id: Uuid::from_u128(1),
        warden: "zhang.wei".into(),
        device: Uuid::from_u128(2),
        started_at_ms: 1_715_905_800_000,
        ended_at_ms: None,
        note: String::new(),
    }
}

/// Walks east at 1.4 m/s along `lat` from `lon0` to `lon1`, a point every
/// 5 s (7 m: about what the thinner keeps), starting at `t0_s`.
fn walk(first_seq: u32, t0_s: i64, lat: f64, lon0: f64, lon1: f64) -> Vec<TrackPoint> {
    let metres = distance_m(lon0, lat, lon1, lat);
    let n = ((metres / 7.0).ceil() as u32).max(1);
    (0..=n)
        .map(|i| TrackPoint {
            seq: first_seq + i,
            time_ms: Some(1_715_905_800_000 + (t0_s + 5 * i64::from(i)) * 1_000),
            lon: lon0 + (lon1 - lon0) * f64::from(i) / f64::from(n),
            lat,
            accuracy_m: Some(6.0),
            speed_mps: Some(1.4),
            segment: 0,
        })
        .collect()
}

fn codes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_walk_along_row_1_visits_its_ten_cells() {
    let g = layer();
    let points = walk(0, 0, ROW_1_LAT, 111.6825, 111.7175);
    // The warden's cells: all of community 001 of street 001 (rows 0–1).
    let scope: Vec<String> = (1..=10).map(|s| format!("990102001001{s:03}")).collect();
    let s = summarise(&info(), &points, Some(&g), &scope, vec![]);
    assert_eq!(s.visited_cells, codes(&ROW_1));
    assert_eq!(s.covered_cells, codes(&ROW_1[..5]));
    assert_eq!(s.scope_cells, 10);
    assert_eq!(s.coverage(), 0.5);
    assert_eq!(s.flagged, 0);
    assert_eq!(s.points, points.len() as u32);
    let straight = distance_m(111.6825, ROW_1_LAT, 111.7175, ROW_1_LAT);
    assert!((s.distance_m - straight).abs() < 0.01, "{}", s.distance_m);
    let last = points.last().unwrap().time_ms.unwrap();
    assert_eq!(s.duration_ms, Some(last - points[0].time_ms.unwrap()));
}

#[test]
fn a_spike_adds_neither_distance_nor_cells() {
    let g = layer();
    let clean = walk(0, 0, ROW_1_LAT, 111.6825, 111.7175);
    let mut spiked = clean.clone();
    spiked[100].lat += 500.0 / 111_050.0; // into row 0, 500 m north
    let a = summarise(&info(), &clean, Some(&g), &[], vec![]);
    let b = summarise(&info(), &spiked, Some(&g), &[], vec![]);
    assert_eq!(b.flagged, 1);
    assert_eq!(b.visited_cells, a.visited_cells);
    // Leaving out one 7 m step pair changes the sum only by rounding.
    assert!((a.distance_m - b.distance_m).abs() < 0.01);
}

#[test]
fn a_bus_ride_covers_nothing_between_its_ends() {
    let g = layer();
    // Row 1, first two cells; 5 minutes on a bus (2.1 km: 7 m/s); row 8,
    // two cells.
    let mut points = walk(0, 0, ROW_1_LAT, 111.6830, 111.6890);
    let n = points.len() as u32;
    let after = 5 * i64::from(n) + 300;
    points.extend(walk(n, after, ROW_8_LAT, 111.6830, 111.6890));
    let s = summarise(&info(), &points, Some(&g), &[], vec![]);
    assert_eq!(s.flagged, 0, "the relocation recovered");
    assert_eq!(s.visited_cells.len(), 4, "{:?}", s.visited_cells);
    assert!(s.visited_cells.contains(&ROW_1[0].to_string()));
    assert!(s.visited_cells.contains(&ROW_1[1].to_string()));
    let walked = distance_m(111.6830, ROW_1_LAT, 111.6890, ROW_1_LAT)
        + distance_m(111.6830, ROW_8_LAT, 111.6890, ROW_8_LAT);
    assert!(
        (s.distance_m - walked).abs() < 0.01,
        "{} {walked}",
        s.distance_m
    );
}

#[test]
fn sparse_points_are_sampled_between() {
    let g = layer();
    let mut points = walk(0, 0, ROW_1_LAT, 111.6825, 111.7175);
    let ends = [points.remove(0), points.pop().unwrap()];
    let untimed: Vec<TrackPoint> = ends
        .iter()
        .map(|p| TrackPoint {
            time_ms: None,
            ..*p
        })
        .collect();
    let s = summarise(&info(), &untimed, Some(&g), &[], vec![]);
    assert_eq!(s.visited_cells, codes(&ROW_1));
    assert_eq!(s.duration_ms, None);
}

#[test]
fn a_lone_point_visits_its_cell_and_separate_segments_are_not_joined() {
    let g = layer();
    let mut a = walk(0, 0, ROW_1_LAT, 111.6830, 111.6830)[0];
    let mut b = a;
    b.seq = 1;
    b.lon = 111.7160; // row 1, last column
    b.segment = 1;
    a.time_ms = None;
    b.time_ms = None;
    let s = summarise(&info(), &[a, b], Some(&g), &[], vec![]);
    assert_eq!(s.visited_cells, codes(&[ROW_1[0], ROW_1[9]]));
    assert_eq!(s.distance_m, 0.0);
}

#[test]
fn walking_past_the_edge_covers_nothing() {
    let g = layer();
    // 30 m west of the straight west edge: `assign` would say "near".
    let lon = 111.682 - 30.0 / 84_100.0;
    let points = walk(0, 0, 40.8535 - 3.5 * 0.0027, lon, lon + 1e-9);
    assert!(matches!(
        g.assign(lon, points[0].lat),
        crate::Assignment::Near { .. }
    ));
    let s = summarise(&info(), &points, Some(&g), &[], vec![]);
    assert!(s.visited_cells.is_empty(), "{:?}", s.visited_cells);
}

#[test]
fn without_a_layer_nothing_is_visited() {
    let points = walk(0, 0, ROW_1_LAT, 111.6825, 111.7175);
    let scope = codes(&ROW_1);
    let s = summarise(&info(), &points, None, &scope, vec![]);
    assert!(s.visited_cells.is_empty() && s.covered_cells.is_empty());
    assert_eq!(s.scope_cells, 10);
    assert!(s.distance_m > 2_900.0);
}

#[test]
fn duration_from_points_or_from_start_and_stop() {
    let mut i = info();
    assert_eq!(summarise(&i, &[], None, &[], vec![]).duration_ms, None);
    i.ended_at_ms = Some(i.started_at_ms + 60_000);
    assert_eq!(
        summarise(&i, &[], None, &[], vec![]).duration_ms,
        Some(60_000)
    );
    // One timed point is not enough to measure from.
    let one = walk(0, 0, ROW_1_LAT, 111.69, 111.69);
    assert_eq!(
        summarise(&i, &one[..1], None, &[], vec![]).duration_ms,
        Some(60_000)
    );
}

#[test]
fn scope_duplicates_count_once_and_reports_are_sorted() {
    let scope = codes(&[ROW_1[1], ROW_1[0], ROW_1[1]]);
    let reports = vec![Uuid::from_u128(9), Uuid::from_u128(3), Uuid::from_u128(5)];
    let s = summarise(&info(), &[], Some(&layer()), &scope, reports);
    assert_eq!(s.scope_cells, 2);
    assert_eq!(
        s.reports,
        vec![Uuid::from_u128(3), Uuid::from_u128(5), Uuid::from_u128(9)]
    );
    assert_eq!(s.points, 0);
    assert_eq!(s.distance_m, 0.0);
}

#[test]
fn the_order_points_arrive_in_does_not_matter() {
    let g = layer();
    let mut points = walk(0, 0, ROW_1_LAT, 111.6825, 111.7175);
    points[50].lon += 0.01;
    // Four cells of row 1 and six of row 0: 4 of 10 covered.
    let mut scope = codes(&ROW_1[3..7]);
    scope.extend((1..=5).map(|s| format!("990102001001{s:03}")));
    scope.push("990102002001001".into());
    let a = summarise(&info(), &points, Some(&g), &scope, vec![]);
    points.reverse();
    points.swap(3, 200);
    let b = summarise(&info(), &points, Some(&g), &scope, vec![]);
    assert_eq!(a, b);
    assert_eq!(a.distance_m.to_bits(), b.distance_m.to_bits());
    assert_eq!(a.coverage(), 0.4);
}

#[test]
fn a_jump_across_the_world_costs_no_samples() {
    let g = layer();
    let mut points = walk(0, 0, ROW_1_LAT, 111.6825, 111.6900);
    let far = TrackPoint {
        seq: 1_000,
        lon: -70.0,
        lat: -40.0,
        time_ms: None,
        ..points[0]
    };
    points.iter_mut().for_each(|p| p.time_ms = None);
    points.push(far);
    let s = summarise(&info(), &points, Some(&g), &[], vec![]);
    // The jump is cut to the layer's box before it is sampled: no more
    // lookups than samples 10 m apart along the box's diagonal (unclipped,
    // the ~18,000 km would be 1.8 million).
    let mut coverage = Coverage::new(&g);
    coverage.step(&points[points.len() - 2], &far);
    let (lo, hi) = g.bounds().expect("the sample layer has a box");
    let diagonal = distance_m(lo[0], lo[1], hi[0], hi[1]);
    assert!(
        coverage.lookups as f64 <= diagonal / SAMPLE_STEP_M + 2.0,
        "{} lookups for a {diagonal:.0} m box",
        coverage.lookups
    );
    // The walk's cells, and the few the straight line to the far point
    // crosses on its way out of the layer.
    assert!(codes(&ROW_1[..3])
        .iter()
        .all(|c| s.visited_cells.contains(c)));
    assert!(s.visited_cells.len() <= 6, "{:?}", s.visited_cells);
}

#[test]
fn clipping() {
    let (lo, hi) = ([0.0, 0.0], [1.0, 1.0]);
    assert_eq!(clip([0.5, 0.5], [0.6, 0.6], lo, hi), Some((0.0, 1.0)));
    assert_eq!(
        clip([-1.0, 0.5], [2.0, 0.5], lo, hi),
        Some((1.0 / 3.0, 2.0 / 3.0))
    );
    assert_eq!(clip([-1.0, 2.0], [-2.0, 3.0], lo, hi), None);
    assert_eq!(clip([2.0, 0.5], [2.0, 0.7], lo, hi), None);
}

/// Zigzags 5,000 points over the sample layer (about 32 km of walking): a
/// day-sized track is summarised whole. Speed is measured by the benchmark
/// harness (`cargo run --release -p gridwarden-bench`), not asserted here.
#[test]
fn a_day_sized_zigzag_is_summarised_whole() {
    let g = layer();
    // Ten rows of 500 points (~5.9 m apart, 5 s apart), alternating
    // direction, five minutes to walk the 300 m to the next row.
    let mut points = Vec::with_capacity(5_000);
    for r in 0..10u32 {
        let lat = 40.8535 - (f64::from(r) + 0.5) * 0.0027;
        let (a, b) = if r % 2 == 0 {
            (111.6825, 111.7175)
        } else {
            (111.7175, 111.6825)
        };
        for i in 0..500u32 {
            let seq = r * 500 + i;
            points.push(TrackPoint {
                seq,
                time_ms: Some(i64::from(seq) * 5_000 + i64::from(r) * 300_000),
                lon: a + (b - a) * f64::from(i) / 499.0,
                lat,
                accuracy_m: None,
                speed_mps: None,
                segment: 0,
            });
        }
    }
    assert_eq!(points.len(), 5_000);
    let scope = codes(&ROW_1);
    let s = summarise(&info(), &points, Some(&g), &scope, vec![]);
    assert_eq!(s.points, 5_000);
    assert_eq!(s.flagged, 0, "a steady walk has no jumps");
    assert!(
        (30_000.0..34_000.0).contains(&s.distance_m),
        "ten 2.95 km rows and nine 300 m links: {}",
        s.distance_m
    );
    assert!(s.visited_cells.len() >= 50, "{}", s.visited_cells.len());
    assert_eq!(
        s.covered_cells.len(),
        scope.len(),
        "the walk crosses every cell of row 1"
    );
}
