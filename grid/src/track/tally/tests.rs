//! The tally against `summarise` on the shipped sample layer: however the
//! points arrive, the cells counted are the cells `summarise` finds, and an
//! update looks up only what changed.

use gridwarden_protocol::track::{PatrolInfo, TrackPoint};
use uuid::Uuid;

use super::*;
use crate::track::summarise;
use crate::{parse_geojson, CodePattern};

const SAMPLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../server/data/sample-grid.geojson"
));
/// The sample layer's corner and cell size (tools/make_sample_grid.py).
const WEST: f64 = 111.682;
const NORTH: f64 = 40.8535;
const CELL_LON: f64 = 0.0036;
const CELL_LAT: f64 = 0.0027;

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

fn point(seq: u32, t_s: Option<i64>, lon: f64, lat: f64) -> TrackPoint {
    TrackPoint {
        seq,
        time_ms: t_s.map(|t| 1_715_905_800_000 + t * 1_000),
        lon,
        lat,
        accuracy_m: None,
        speed_mps: None,
        segment: 0,
    }
}

/// Untimed points zig-zagging from the west edge to the east edge of the
/// layer, a row further south each time: every step crosses the district.
fn zigzag(n: u32) -> Vec<TrackPoint> {
    (0..n)
        .map(|i| {
            let lon = if i % 2 == 0 {
                WEST + 0.0005
            } else {
                WEST + 10.0 * CELL_LON - 0.0005
            };
            let lat = NORTH - (0.5 + f64::from(i % 10)) * CELL_LAT;
            point(i, None, lon, lat)
        })
        .collect()
}

/// A timed walk with the jumps the filter handles: a spike, a bus ride
/// (recovered after three plausible points) and a bad first fix of a new
/// segment.
fn eventful_walk() -> Vec<TrackPoint> {
    let lat = NORTH - 1.5 * CELL_LAT;
    let mut points: Vec<TrackPoint> = (0..60)
        .map(|i| {
            point(
                i,
                Some(i64::from(i) * 5),
                WEST + 0.001 + f64::from(i) * 0.00008,
                lat,
            )
        })
        .collect();
    points[20].lat += 0.005; // a spike
    let far = NORTH - 8.5 * CELL_LAT;
    for k in 0..20u32 {
        let t = 60 * 5 + 300 + i64::from(k) * 5;
        points.push(point(
            60 + k,
            Some(t),
            WEST + 0.001 + f64::from(k) * 0.00008,
            far,
        ));
    }
    // Segment 1 opens with a fix 2 km off, then walks where the warden is.
    let mut bad = point(80, Some(800), WEST + 0.03, NORTH - 5.5 * CELL_LAT);
    bad.segment = 1;
    points.push(bad);
    for k in 0..10u32 {
        let mut p = point(
            81 + k,
            Some(805 + i64::from(k) * 5),
            WEST + 0.002 + f64::from(k) * 0.00008,
            NORTH - 4.5 * CELL_LAT,
        );
        p.segment = 1;
        points.push(p);
    }
    points
}

/// Feeds `points` to a tally in the given batches (indexes into `points`)
/// and checks it against `summarise` after every batch.
fn fed_in(points: &[TrackPoint], batches: &[Vec<usize>]) -> Tally {
    let grid = layer();
    let mut tally = Tally::default();
    let mut held: Vec<TrackPoint> = Vec::new();
    for batch in batches {
        let before = held.clone();
        held.extend(batch.iter().map(|&i| points[i]));
        tally.update(&before, &held, &grid);
        let whole = summarise(&info(), &held, Some(&grid), &[], vec![]);
        assert_eq!(
            tally.visited(),
            whole.visited_cells,
            "after {} points",
            held.len()
        );
    }
    tally
}

fn in_order(n: usize, size: usize) -> Vec<Vec<usize>> {
    (0..n)
        .collect::<Vec<_>>()
        .chunks(size)
        .map(<[usize]>::to_vec)
        .collect()
}

#[test]
fn points_in_order_batches_count_what_summarise_finds() {
    let walk = eventful_walk();
    for size in [1, 2, 3, 7, 1_000] {
        fed_in(&walk, &in_order(walk.len(), size));
    }
    let zig = zigzag(40);
    fed_in(&zig, &in_order(zig.len(), 3));
}

#[test]
fn points_out_of_order_split_steps_and_the_tally_follows() {
    let walk = eventful_walk();
    // Every third point first, then the rest backwards: steps split, runs
    // recover and un-recover, a segment's first fix turns out to be bad.
    let mut order: Vec<usize> = (0..walk.len()).step_by(3).collect();
    order.extend((0..walk.len()).rev().filter(|i| i % 3 != 0));
    let batches: Vec<Vec<usize>> = order.chunks(5).map(<[usize]>::to_vec).collect();
    let tally = fed_in(&walk, &batches);
    assert!(tally.visited().len() >= 4, "{:?}", tally.visited());
}

#[test]
fn a_new_point_costs_its_own_lookups_not_the_tracks() {
    let grid = layer();
    let track = zigzag(2_000);
    let mut tally = Tally::default();
    let first = tally.update(&[], &track[..1_999], &grid);
    let one_more = tally.update(&track[..1_999], &track, &grid);
    // Each step crosses the district (~3 km): ~300 samples; the whole track
    // is ~2,000 of them.
    assert!(first > 500_000, "{first}");
    assert!(one_more < 1_000, "{one_more}");
    let whole = summarise(&info(), &track, Some(&grid), &[], vec![]);
    assert_eq!(tally.visited(), whole.visited_cells);
}
