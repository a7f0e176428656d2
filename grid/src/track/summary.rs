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
    reports: Vec<Uuid>,
) -> PatrolSummary {
    let points = sorted(points);
    let walk = walk(&points);
    let visited_cells = grid
        .map(|grid| {
            let mut coverage = Coverage::new(grid);
            for piece in &walk.pieces {
                coverage.piece(&points, *piece);
            }
            coverage.codes()
        })
        .unwrap_or_default();
    assemble(info, &walk.facts, visited_cells, scope, reports)
}

/// What a summary says about the track itself, apart from the cells: the
/// part [`super::Tally`] users store next to the tally.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackFacts {
    pub points: u32,
    pub flagged: u32,
    pub distance_m: f64,
    /// Last timed point − first timed point, in `seq` order, when at least
    /// two are timed.
    pub timed_span_ms: Option<i64>,
}

impl TrackFacts {
    /// The facts of a whole track (any order). Linear, no cell lookups.
    pub fn of(points: &[TrackPoint]) -> Self {
        walk(&sorted(points)).facts
    }
}

/// A summary from its parts: the track's facts, the cells it visited (sorted,
/// deduplicated), and what is looked up when it is shown (the warden's scope
/// now, the reports made on the patrol).
pub fn assemble(
    info: &PatrolInfo,
    facts: &TrackFacts,
    visited_cells: Vec<String>,
    scope: &[String],
    mut reports: Vec<Uuid>,
) -> PatrolSummary {
    let mut scope: Vec<&str> = scope.iter().map(String::as_str).collect();
    scope.sort_unstable();
    scope.dedup();
    let covered_cells = visited_cells
        .iter()
        .filter(|c| scope.binary_search(&c.as_str()).is_ok())
        .cloned()
        .collect();
    reports.sort_unstable();
    let duration_ms = facts.timed_span_ms.or_else(|| {
        info.ended_at_ms
            .map(|end| end.saturating_sub(info.started_at_ms))
    });
    PatrolSummary {
        info: info.clone(),
        points: facts.points,
        flagged: facts.flagged,
        distance_m: facts.distance_m,
        duration_ms,
        scope_cells: saturate(scope.len()),
        covered_cells,
        visited_cells,
        reports,
    }
}

/// A piece of the accepted track that coverage samples, by index into the
/// sorted points: a run's first point alone (`from` none), or the step from
/// the previous accepted point of the run to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub from: Option<usize>,
    pub to: usize,
}

/// The accepted track of sorted points: its facts and its pieces in order.
pub(crate) struct Walk {
    pub facts: TrackFacts,
    pub pieces: Vec<Piece>,
}

pub(crate) fn walk(points: &[TrackPoint]) -> Walk {
    let Classified { flagged, run_start } = classify(points);
    let mut distance = 0.0;
    let mut pieces = Vec::with_capacity(points.len());
    let mut prev: Option<usize> = None;
    for (i, (&f, &starts_run)) in flagged.iter().zip(&run_start).enumerate() {
        if f {
            continue;
        }
        match prev.filter(|_| !starts_run) {
            Some(a) => {
                distance += step_m(&points[a], &points[i]);
                pieces.push(Piece {
                    from: Some(a),
                    to: i,
                });
            }
            None => pieces.push(Piece { from: None, to: i }),
        }
        prev = Some(i);
    }
    Walk {
        facts: TrackFacts {
            points: saturate(points.len()),
            flagged: saturate(flagged.iter().filter(|f| **f).count()),
            distance_m: distance,
            timed_span_ms: timed_span(points),
        },
        pieces,
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn timed_span(points: &[TrackPoint]) -> Option<i64> {
    let mut times = points.iter().filter_map(|p| p.time_ms);
    match (times.next(), times.next_back()) {
        (Some(first), Some(last)) => Some(last.saturating_sub(first)),
        _ => None,
    }
}

/// The cells a track passes through, one flag per cell of the layer.
pub(crate) struct Coverage<'g> {
    grid: &'g GridIndex,
    bounds: Option<([f64; 2], [f64; 2])>,
    seen: Vec<bool>,
    /// Cells marked since [`Coverage::take_marked`] last ran.
    marked: Vec<usize>,
    /// Cell lookups made, for tests that count work rather than time it.
    pub lookups: u64,
}

impl<'g> Coverage<'g> {
    pub fn new(grid: &'g GridIndex) -> Self {
        Coverage {
            grid,
            bounds: grid.bounds(),
            seen: vec![false; grid.len()],
            marked: Vec::new(),
            lookups: 0,
        }
    }

    /// Samples one piece of the track (`points` sorted, as [`walk`] saw them).
    pub fn piece(&mut self, points: &[TrackPoint], piece: Piece) {
        let to = &points[piece.to];
        match piece.from {
            Some(from) => self.step(&points[from], to),
            None => self.point(to.lon, to.lat),
        }
    }

    /// The cells marked since the last call, each once, and forgets them,
    /// so one `Coverage` tells apart the cells of one piece after another.
    pub fn take_marked(&mut self) -> Vec<&'g str> {
        let grid = self.grid;
        let cells = grid.cells();
        let marked: Vec<&'g str> = self
            .marked
            .iter()
            .map(|&i| cells[i].code.as_str())
            .collect();
        for &i in &self.marked {
            self.seen[i] = false;
        }
        self.marked.clear();
        marked
    }

    fn point(&mut self, lon: f64, lat: f64) {
        self.lookups += 1;
        if let Some(i) = self.grid.containing(lon, lat) {
            if !self.seen[i] {
                self.seen[i] = true;
                self.marked.push(i);
            }
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

    pub fn codes(self) -> Vec<String> {
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
