//! The patrol summary: distance, duration and the grid cells walked.

use gridwarden_protocol::track::{PatrolInfo, PatrolSummary, TrackPoint};
use uuid::Uuid;

use super::flag::{classify, Classified};
use super::{distance_m, sorted, step_m};
use crate::GridIndex;

/// Longest step between two positions sampled for coverage, metres: well
/// under a street's width, so a walk along a street cannot skip a cell it
/// crosses by more than a few metres.
const SAMPLE_STEP_M: f64 = 10.0;

/// Summarises a patrol from its points (any order; sorted by `seq` here).
///
/// - `points`: how many; `flagged`: how many [`flag_jumps`](super::flag_jumps)
///   flags.
/// - `distance_m`: great-circle metres between consecutive accepted points
///   of the same segment, never across a segment break or a recovered jump.
/// - `duration_ms`: last timed point − first timed point (in `seq` order)
///   when at least two are timed; else stop − start when stopped; else none.
/// - `visited_cells`: every cell that *contains* a position sampled along
///   the accepted track (each step cut into pieces of at most 10 m, plus a
///   run's lone point). The "nearest within 50 m" fallback of
///   [`GridIndex::assign`] is not used: walking past a cell is not
///   covering it. `covered_cells` is the part of it in `scope`. Both are
///   sorted and deduplicated. Without a layer both are empty.
/// - `scope_cells`: distinct codes in `scope`; `reports`: sorted.
///
/// Cost: O(n log n) for the sort, plus one R-tree lookup (O(log c) for c
/// cells) per sampled position. Steps are clipped to the layer's bounding
/// box before sampling, so the samples number about n + L / 10 m, with L
/// the length of track inside the layer's box; a jump across the world
/// costs nothing. 5,000 points of walking on the 101-cell sample layer:
/// the benchmark harness's `patrol` row (docs/benchmarks.md).
pub fn summarise(
    info: &PatrolInfo,
    points: &[TrackPoint],
    grid: Option<&GridIndex>,
    scope: &[String],
    mut reports: Vec<Uuid>,
) -> PatrolSummary {
    let points = sorted(points);
    let Classified { flagged, run_start } = classify(&points);

    let mut coverage = grid.map(Coverage::new);
    let mut distance = 0.0;
    let mut prev: Option<&TrackPoint> = None;
    for ((p, &f), &starts_run) in points.iter().zip(&flagged).zip(&run_start) {
        if f {
            continue;
        }
        match prev.filter(|_| !starts_run) {
            Some(a) => {
                distance += step_m(a, p);
                if let Some(c) = &mut coverage {
                    c.step(a, p);
                }
            }
            None => {
                if let Some(c) = &mut coverage {
                    c.point(p.lon, p.lat);
                }
            }
        }
        prev = Some(p);
    }

    let visited_cells = coverage.map(Coverage::codes).unwrap_or_default();
    let mut scope: Vec<&str> = scope.iter().map(String::as_str).collect();
    scope.sort_unstable();
    scope.dedup();
    let covered_cells = visited_cells
        .iter()
        .filter(|c| scope.binary_search(&c.as_str()).is_ok())
        .cloned()
        .collect();
    reports.sort_unstable();

    PatrolSummary {
        info: info.clone(),
        points: saturate(points.len()),
        flagged: saturate(flagged.iter().filter(|f| **f).count()),
        distance_m: distance,
        duration_ms: duration(info, &points),
        scope_cells: saturate(scope.len()),
        covered_cells,
        visited_cells,
        reports,
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn duration(info: &PatrolInfo, points: &[TrackPoint]) -> Option<i64> {
    let mut times = points.iter().filter_map(|p| p.time_ms);
    match (times.next(), times.next_back()) {
        (Some(first), Some(last)) => Some(last.saturating_sub(first)),
        _ => info
            .ended_at_ms
            .map(|end| end.saturating_sub(info.started_at_ms)),
    }
}

/// The cells a track passes through, one flag per cell of the layer.
struct Coverage<'g> {
    grid: &'g GridIndex,
    bounds: Option<([f64; 2], [f64; 2])>,
    seen: Vec<bool>,
    /// Positions looked up, the cost the box clipping bounds.
    lookups: usize,
}

impl<'g> Coverage<'g> {
    fn new(grid: &'g GridIndex) -> Self {
        Coverage {
            grid,
            bounds: grid.bounds(),
            seen: vec![false; grid.len()],
            lookups: 0,
        }
    }

    fn point(&mut self, lon: f64, lat: f64) {
        self.lookups += 1;
        if let Some(i) = self.grid.containing(lon, lat) {
            self.seen[i] = true;
        }
    }

    /// Samples the step `a`→`b` (excluding `a`, which the previous step or
    /// the run's start already sampled) at most [`SAMPLE_STEP_M`] apart,
    /// interpolating linearly in degrees (exact enough over a city step).
    fn step(&mut self, a: &TrackPoint, b: &TrackPoint) {
        let Some((lo, hi)) = self.bounds else {
            return;
        };
        let (from, to) = ([a.lon, a.lat], [b.lon, b.lat]);
        let Some((t0, t1)) = clip(from, to, lo, hi) else {
            return;
        };
        let at = |t: f64| {
            [
                from[0] + t * (to[0] - from[0]),
                from[1] + t * (to[1] - from[1]),
            ]
        };
        let (p0, p1) = (at(t0), at(t1));
        let metres = distance_m(p0[0], p0[1], p1[0], p1[1]);
        // Finite and bounded by the layer's box, so the cast cannot blow up.
        let pieces = (metres / SAMPLE_STEP_M).ceil().max(1.0) as usize;
        let first = usize::from(t0 == 0.0);
        for k in first..=pieces {
            let t = if k == pieces {
                t1
            } else {
                t0 + (t1 - t0) * k as f64 / pieces as f64
            };
            let p = at(t);
            self.point(p[0], p[1]);
        }
    }

    fn codes(self) -> Vec<String> {
        let mut codes: Vec<String> = self
            .seen
            .iter()
            .zip(self.grid.cells())
            .filter(|(seen, _)| **seen)
            .map(|(_, cell)| cell.code.clone())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }
}

/// The part `t0..=t1` of the segment `a + t (b − a)`, t in 0..=1, inside
/// the box `lo`..`hi` (Liang–Barsky), or `None` when it misses the box.
fn clip(a: [f64; 2], b: [f64; 2], lo: [f64; 2], hi: [f64; 2]) -> Option<(f64, f64)> {
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for axis in 0..2 {
        let d = b[axis] - a[axis];
        if d == 0.0 {
            if a[axis] < lo[axis] || a[axis] > hi[axis] {
                return None;
            }
            continue;
        }
        let (ta, tb) = ((lo[axis] - a[axis]) / d, (hi[axis] - a[axis]) / d);
        t0 = t0.max(ta.min(tb));
        t1 = t1.min(ta.max(tb));
        if t0 > t1 {
            return None;
        }
    }
    Some((t0, t1))
}

#[cfg(test)]
mod tests;
