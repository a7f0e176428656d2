//! Summarise a day's patrol: `gridwarden_grid::summarise` (what the server
//! and the phone run for a supervisor's review) over 5,000 track points on
//! the bundled sample layer — ten 3 km sweeps, one point every ~6 m, the
//! zigzag the grid crate's own test checks for correctness. Baseline: the
//! same 5,000 points located one by one in the same index, the lookups alone.

use std::hint::black_box;
use std::time::Instant;

use gridwarden_grid::{summarise, CodePattern, GridIndex};
use gridwarden_protocol::track::{PatrolInfo, TrackPoint};
use uuid::Uuid;

use super::progress;
use crate::context::Context;
use crate::table::Row;

const POINTS: u32 = 5_000;
/// Calls per run; a run's figure is their mean.
const CALLS: u32 = 20;

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let cells = gridwarden_grid::parse_geojson(
        gridwarden_server::datadir::SAMPLE_GRID,
        &CodePattern::default_15(),
    )?;
    let index = GridIndex::new(cells);
    let points = zigzag();
    let info = PatrolInfo {
        id: Uuid::from_u128(1),
        warden: "ann".into(),
        device: Uuid::from_u128(2),
        started_at_ms: 0,
        ended_at_ms: None,
        note: String::new(),
    };
    let scope: Vec<String> = Vec::new();
    let check = summarise(&info, &points, Some(&index), &scope, vec![]);
    anyhow::ensure!(
        check.points == POINTS && check.visited_cells.len() >= 50,
        "the zigzag should cross most of the layer: {check:?}"
    );
    let (mut ours, mut lookups) = (Vec::new(), Vec::new());
    for run in 1..=ctx.config.runs {
        let started = Instant::now();
        for _ in 0..CALLS {
            black_box(summarise(&info, &points, Some(&index), &scope, vec![]));
        }
        let each = started.elapsed().as_secs_f64() * 1e3 / f64::from(CALLS);
        let started = Instant::now();
        for _ in 0..CALLS {
            for p in &points {
                black_box(index.locate(p.lon, p.lat));
            }
        }
        let lookup = started.elapsed().as_secs_f64() * 1e3 / f64::from(CALLS);
        progress(
            "patrol",
            format!("run {run}: summarise {each:.2} ms, the lookups alone {lookup:.2} ms"),
        );
        ours.push(each);
        lookups.push(lookup);
    }
    Ok(vec![Row::measured(
        "summarise a 5,000-point patrol",
        "ms",
        ours,
    )
    .baseline("the 5,000 points located one by one, nothing else", lookups)
    .note(format!(
        "sample layer of {} cells, {:.1} km walked, {} cells visited; mean of {CALLS} calls per run",
        index.len(),
        check.distance_m / 1e3,
        check.visited_cells.len()
    ))])
}

/// Ten rows of 500 points across the sample layer (~5.9 m and 5 s apart),
/// alternating direction, five minutes between rows.
fn zigzag() -> Vec<TrackPoint> {
    let per_row = POINTS / 10;
    let mut points = Vec::with_capacity(POINTS as usize);
    for r in 0..10u32 {
        let lat = 40.8535 - (f64::from(r) + 0.5) * 0.0027;
        let (a, b) = if r % 2 == 0 {
            (111.6825, 111.7175)
        } else {
            (111.7175, 111.6825)
        };
        for i in 0..per_row {
            let seq = r * per_row + i;
            points.push(TrackPoint {
                seq,
                time_ms: Some(i64::from(seq) * 5_000 + i64::from(r) * 300_000),
                lon: a + (b - a) * f64::from(i) / f64::from(per_row - 1),
                lat,
                accuracy_m: None,
                speed_mps: None,
                segment: 0,
            });
        }
    }
    points
}
