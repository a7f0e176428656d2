//! Assignment throughput against a 10,000-cell layer.
//!
//! Run with `cargo run --release -p gridwarden-grid --example assign_bench`.
//! Builds a 100 × 100 grid of ~250 m × 333 m cells, draws 2,000,000
//! pseudo-random points over a box about 5 % wider on every side (so ~10 %
//! fall outside the grid and exercise the 50 m search), assigns them on one
//! thread five times and prints the median rate.

use std::hint::black_box;
use std::time::Instant;

use geo::{LineString, MultiPolygon, Polygon};
use gridwarden_grid::{Assignment, AssignmentRef, Cell, GridIndex};

const SIDE: usize = 100;
const D: f64 = 0.003;
const X0: f64 = 111.55;
const Y0: f64 = 40.69;
const POINTS: usize = 2_000_000;
const RUNS: usize = 5;

fn main() {
    let started = Instant::now();
    let index = GridIndex::new(grid());
    println!(
        "built index of {} cells in {:.1} ms",
        index.len(),
        started.elapsed().as_secs_f64() * 1e3
    );

    let points = points();
    let (mut inside, mut near, mut none) = (0, 0, 0);
    for &(lon, lat) in &points {
        match index.locate(lon, lat) {
            AssignmentRef::Inside(_) => inside += 1,
            AssignmentRef::Near(..) => near += 1,
            AssignmentRef::Unassigned => none += 1,
        }
    }
    println!("{POINTS} points: {inside} inside, {near} near, {none} unassigned");

    let assign = median_rate(|| {
        points
            .iter()
            .filter(|&&(lon, lat)| {
                !matches!(black_box(index.assign(lon, lat)), Assignment::Unassigned)
            })
            .count()
    });
    let locate = median_rate(|| {
        points
            .iter()
            .filter(|&&(lon, lat)| black_box(index.locate(lon, lat)).cell().is_some())
            .count()
    });
    println!("assign (owned code): median {:.2} M points/s", assign / 1e6);
    println!("locate (borrowed):   median {:.2} M points/s", locate / 1e6);
}

/// Median points per second over `RUNS` passes of `pass`.
fn median_rate(mut pass: impl FnMut() -> usize) -> f64 {
    let mut rates: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            black_box(pass());
            POINTS as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[RUNS / 2]
}

fn grid() -> Vec<Cell> {
    let mut cells = Vec::with_capacity(SIDE * SIDE);
    for r in 0..SIDE {
        for c in 0..SIDE {
            let (x0, y0) = (X0 + c as f64 * D, Y0 + r as f64 * D);
            let (x1, y1) = (X0 + (c + 1) as f64 * D, Y0 + (r + 1) as f64 * D);
            let ring = LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]);
            let geometry = MultiPolygon(vec![Polygon::new(ring, vec![])]);
            cells.push(Cell::new(format!("990102{r:03}{c:03}001"), None, geometry));
        }
    }
    cells
}

/// Uniform points over the grid widened by 1/√0.9 so ~90 % land inside.
fn points() -> Vec<(f64, f64)> {
    let half = SIDE as f64 * D / 2.0;
    let (cx, cy) = (X0 + half, Y0 + half);
    let spread = half / 0.9f64.sqrt();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut unit = move || {
        // splitmix64: deterministic and dependency-free.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..POINTS)
        .map(|_| {
            (
                cx + (2.0 * unit() - 1.0) * spread,
                cy + (2.0 * unit() - 1.0) * spread,
            )
        })
        .collect()
}
