//! Flagging GPS jumps: fixes that would have the warden moving faster than
//! a person walks. Flagged points are kept (they are evidence) but count
//! for neither distance nor coverage.

use gridwarden_protocol::track::TrackPoint;

use super::{step_m, JITTER_M, MAX_WALKING_SPEED_MPS};

/// How many consecutive, mutually plausible flagged points make the filter
/// believe the warden really is elsewhere now.
const RECOVERY_RUN: usize = 3;

/// Flags GPS jumps in a track whose points are in `seq` order; one `bool`
/// per point, `true` for a jump.
///
/// The rule, applied point by point:
/// - Within a segment, each point is compared with the last *accepted*
///   (unflagged) point of that segment. It is flagged when it is more than
///   [`JITTER_M`] away and faster than [`MAX_WALKING_SPEED_MPS`] from it; a
///   move over [`JITTER_M`] with no time passing (or time going backwards)
///   is flagged too. Otherwise it is accepted.
/// - Only points with both times known can be judged: an untimed point is
///   never flagged (it is accepted), so an untimed track flags nothing.
/// - The first point of a segment is accepted (there is nothing to compare
///   it with), but see recovery below.
/// - Recovery: when [`RECOVERY_RUN`] (3) consecutive points are flagged and
///   each is plausible from the previous one (within [`JITTER_M`] or walking
///   speed), the warden really is there (a bus ride, or the fixes before
///   were wrong): those 3 are unflagged and the last becomes the accepted
///   point. The jump to the first of them is a break: no distance and no
///   coverage is counted across it, as between two segments. An accepted
///   point between flagged ones, a new segment, or an implausible step
///   between two flagged points starts the count again.
/// - A bad first fix: if the only point accepted before such a recovery was
///   the first of its segment, it is the one that was wrong, and it is
///   flagged instead, so one bad fix at switch-on does not add a cell.
/// - A point that is not a position on Earth (NaN, out of range) is always
///   flagged and otherwise ignored; validated tracks have none.
///
/// Linear in the number of points and deterministic.
pub fn flag_jumps(points: &[TrackPoint]) -> Vec<bool> {
    classify(points).flagged
}

/// The filter's decisions about each point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Classified {
    pub flagged: Vec<bool>,
    /// Accepted points that begin a run: the first accepted point of a
    /// segment, and the first point after a recovered jump. Distance and
    /// coverage are counted only between consecutive accepted points of
    /// one run.
    pub run_start: Vec<bool>,
}

/// [`flag_jumps`] with the run breaks [`super::summarise`] needs.
pub(crate) fn classify(points: &[TrackPoint]) -> Classified {
    let n = points.len();
    let mut flagged = vec![false; n];
    let mut run_start = vec![false; n];
    // Last accepted point, the accepted points in its run so far, and
    // whether that run is the one that opened its segment.
    let mut accepted: Option<usize> = None;
    let mut run_len = 0usize;
    let mut run_opens_segment = false;
    // Consecutive flagged points that are plausible from one another.
    let mut pending: Vec<usize> = Vec::with_capacity(RECOVERY_RUN);

    for (i, p) in points.iter().enumerate() {
        if !on_earth(p) {
            flagged[i] = true;
            continue;
        }
        let last = match accepted {
            Some(a) if points[a].segment == p.segment => a,
            _ => {
                accepted = Some(i);
                run_start[i] = true;
                run_len = 1;
                run_opens_segment = true;
                pending.clear();
                continue;
            }
        };
        if !is_jump(&points[last], p) {
            accepted = Some(i);
            run_len += 1;
            pending.clear();
            continue;
        }
        flagged[i] = true;
        if pending.last().is_some_and(|&q| is_jump(&points[q], p)) {
            pending.clear();
        }
        pending.push(i);
        if pending.len() == RECOVERY_RUN {
            for &q in &pending {
                flagged[q] = false;
            }
            run_start[pending[0]] = true;
            if run_len == 1 && run_opens_segment {
                flagged[last] = true;
                run_start[last] = false;
            }
            accepted = Some(i);
            run_len = RECOVERY_RUN;
            run_opens_segment = false;
            pending.clear();
        }
    }
    Classified { flagged, run_start }
}

fn on_earth(p: &TrackPoint) -> bool {
    (-180.0..=180.0).contains(&p.lon) && (-90.0..=90.0).contains(&p.lat)
}

/// Whether going from `a` to `b` is faster than walking (see
/// [`flag_jumps`]). Untimed points are never jumps.
fn is_jump(a: &TrackPoint, b: &TrackPoint) -> bool {
    let (Some(ta), Some(tb)) = (a.time_ms, b.time_ms) else {
        return false;
    };
    let d = step_m(a, b);
    if d <= JITTER_M {
        return false;
    }
    let dt_s = tb.saturating_sub(ta) as f64 / 1_000.0;
    dt_s <= 0.0 || d / dt_s > MAX_WALKING_SPEED_MPS
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, walk_east};
    use super::*;

    fn flagged_seqs(points: &[TrackPoint]) -> Vec<u32> {
        let flags = flag_jumps(points);
        points
            .iter()
            .zip(flags)
            .filter(|(_, f)| *f)
            .map(|(p, _)| p.seq)
            .collect()
    }

    #[test]
    fn a_steady_walk_flags_nothing() {
        let walk = walk_east(100, 5, 1.4);
        assert!(flagged_seqs(&walk).is_empty());
        let c = classify(&walk);
        assert_eq!(c.run_start.iter().filter(|s| **s).count(), 1);
    }

    #[test]
    fn a_single_500_m_spike_is_flagged() {
        let mut walk = walk_east(20, 5, 1.4);
        walk[10].lat += 500.0 / 111_050.0;
        assert_eq!(flagged_seqs(&walk), vec![10]);
    }

    #[test]
    fn jitter_within_25_m_is_never_a_jump_even_in_a_second() {
        let points = vec![at(0, 0, 0.0, 0.0), at(1, 1, 20.0, 0.0), at(2, 2, 0.0, 10.0)];
        assert!(flagged_seqs(&points).is_empty());
    }

    #[test]
    fn a_move_with_no_time_passing_is_a_jump() {
        let points = vec![at(0, 0, 0.0, 0.0), at(1, 0, 30.0, 0.0), at(2, 5, 5.0, 0.0)];
        assert_eq!(flagged_seqs(&points), vec![1]);
    }

    #[test]
    fn an_untimed_track_flags_nothing() {
        let mut points = walk_east(10, 5, 1.4);
        points[5].lon += 0.1;
        points.iter_mut().for_each(|p| p.time_ms = None);
        assert!(flagged_seqs(&points).is_empty());
    }

    #[test]
    fn a_bus_ride_recovers_after_three_plausible_points() {
        // Walk 10 points, ride 2 km in 3 minutes, walk on from there.
        let mut points = walk_east(10, 5, 1.4);
        let t0 = 45 + 180;
        for k in 0..10u32 {
            let t = i64::from(k) * 5;
            points.push(at(10 + k, t0 + t, 2_063.0 + t as f64 * 1.4, 0.0));
        }
        assert!(flagged_seqs(&points).is_empty());
        let c = classify(&points);
        let starts: Vec<usize> = (0..points.len()).filter(|&i| c.run_start[i]).collect();
        assert_eq!(starts, vec![0, 10]);
    }

    #[test]
    fn the_ride_itself_stays_flagged() {
        // Fixes taken on the bus at 10 m/s: 3 plausible ones in a row only
        // if they are within walking speed of each other, which they are not.
        let mut points = walk_east(5, 5, 1.4);
        for k in 0..6u32 {
            let t = 20 + 5 * i64::from(k + 1);
            points.push(at(5 + k, t, 28.0 + 50.0 * f64::from(k + 1), 0.0));
        }
        assert_eq!(flagged_seqs(&points), vec![5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn a_bad_first_fix_is_flagged_and_the_walk_accepted() {
        let mut points = walk_east(10, 5, 1.4);
        points[0].lon += 0.02; // ~1.7 km east
        assert_eq!(flagged_seqs(&points), vec![0]);
        let c = classify(&points);
        assert!(c.run_start[1]);
    }

    #[test]
    fn recovery_needs_three_consecutive_flags() {
        // Two spikes at the same far place, an ordinary fix between them:
        // neither pair is three in a row.
        let mut walk = walk_east(12, 5, 1.4);
        for i in [3, 4, 6, 7] {
            walk[i].lat += 500.0 / 111_050.0;
        }
        assert_eq!(flagged_seqs(&walk), vec![3, 4, 6, 7]);
    }

    #[test]
    fn each_segment_starts_afresh() {
        let mut points = walk_east(10, 5, 1.4);
        for p in &mut points[5..] {
            p.segment = 1;
            p.lon += 0.05;
        }
        assert!(flagged_seqs(&points).is_empty());
    }

    #[test]
    fn points_off_the_planet_are_flagged_and_ignored() {
        let mut points = walk_east(6, 5, 1.4);
        points[2].lat = f64::NAN;
        points[3].lon = 200.0;
        assert_eq!(flagged_seqs(&points), vec![2, 3]);
    }
}
