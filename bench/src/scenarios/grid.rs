//! Grid assignment throughput on one core against a 100 × 100 layer of
//! ~250 m × 333 m cells: uniform points over a box about 5 % wider on every
//! side, so ~10 % fall outside the grid and exercise the 50 m search. Each
//! run assigns every point once with `GridIndex::assign`, the call the
//! server makes for every report (it returns the owned cell code).

use std::hint::black_box;
use std::time::Instant;

use gridwarden_grid::{Assignment, AssignmentRef, GridIndex};

use super::{count, progress};
use crate::context::Context;
use crate::synthetic_grid::SyntheticGrid;
use crate::table::{Row, Target};

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let side = ctx.config.grid_side;
    let grid = SyntheticGrid::new(side, side);
    let started = Instant::now();
    let index = GridIndex::new(grid.cells());
    let built = started.elapsed();
    let points = grid.points(ctx.config.grid_points);
    let (mut inside, mut near, mut none) = (0, 0, 0);
    for &(lon, lat) in &points {
        match index.locate(lon, lat) {
            AssignmentRef::Inside(_) => inside += 1,
            AssignmentRef::Near(..) => near += 1,
            AssignmentRef::Unassigned => none += 1,
        }
    }
    progress(
        "grid",
        format!(
            "index of {} cells built in {:.1} ms; {} points: {inside} inside, {near} near, {none} unassigned",
            index.len(),
            built.as_secs_f64() * 1e3,
            count(points.len())
        ),
    );
    let (mut assign, mut locate) = (Vec::new(), Vec::new());
    for run in 1..=ctx.config.runs {
        let rate = points_per_second(&points, || {
            points
                .iter()
                .filter(|&&(lon, lat)| {
                    !matches!(black_box(index.assign(lon, lat)), Assignment::Unassigned)
                })
                .count()
        });
        // The same without allocating the code: what the R-tree and the
        // geometry alone cost.
        let borrowed = points_per_second(&points, || {
            points
                .iter()
                .filter(|&&(lon, lat)| black_box(index.locate(lon, lat)).cell().is_some())
                .count()
        });
        progress(
            "grid",
            format!("run {run}: assign {rate:.0} points/s, locate {borrowed:.0} points/s"),
        );
        assign.push(rate);
        locate.push(borrowed);
    }
    Ok(vec![Row::measured(
        format!(
            "grid assignment against {} cells, one core",
            count(index.len())
        ),
        "points/s",
        assign,
    )
    .baseline(
        "the same points located without allocating the code",
        locate,
    )
    .target(Target::at_least(1_000_000.0, "≥ 1,000,000 per core"))
    .note(format!(
        "{} pseudo-random points, ~10 % outside the grid",
        count(points.len())
    ))])
}

/// Points per second of one pass of `pass` over `points`.
fn points_per_second(points: &[(f64, f64)], pass: impl FnOnce() -> usize) -> f64 {
    let started = Instant::now();
    black_box(pass());
    points.len() as f64 / started.elapsed().as_secs_f64()
}
