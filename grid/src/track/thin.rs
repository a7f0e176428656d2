//! Streaming thinning on the device: which fixes are worth storing and
//! sending. A phone reports a fix every second or so; standing at a report
//! for ten minutes should not cost 600 points of noise.

use gridwarden_protocol::track::TrackPoint;

use super::{step_m, MAX_GAP_MS, MIN_STEP_M};

/// Decides, fix by fix, whether to keep a point. Keeps a point when it is
/// the first, starts a new segment, is at least [`MIN_STEP_M`] from the last
/// kept point, or is at least [`MAX_GAP_MS`] after it (both times known).
///
/// A far jump is kept like any other move: thinning only drops what is
/// redundant, and judging jumps is [`flag_jumps`](super::flag_jumps)'s job,
/// which needs to see them.
#[derive(Debug, Clone, Default)]
pub struct Thinner {
    last_kept: Option<TrackPoint>,
}

impl Thinner {
    /// Starts after `last_kept`, the last point stored for the patrol (so a
    /// restarted app goes on where it stopped), or afresh with `None`.
    pub fn new(last_kept: Option<TrackPoint>) -> Self {
        Thinner { last_kept }
    }

    /// Whether to keep `point`; a kept point becomes the new last kept.
    pub fn keep(&mut self, point: &TrackPoint) -> bool {
        let keep = match &self.last_kept {
            None => true,
            Some(last) => {
                let heartbeat = match (last.time_ms, point.time_ms) {
                    (Some(a), Some(b)) => b.saturating_sub(a) >= MAX_GAP_MS,
                    _ => false,
                };
                point.segment != last.segment
                    || heartbeat
                    // NaN compares false: a broken fix is not a move.
                    || step_m(last, point) >= MIN_STEP_M
            }
        };
        if keep {
            self.last_kept = Some(*point);
        }
        keep
    }

    pub fn last_kept(&self) -> Option<&TrackPoint> {
        self.last_kept.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::at;
    use super::*;

    fn kept(thinner: &mut Thinner, points: &[TrackPoint]) -> Vec<u32> {
        points
            .iter()
            .filter(|p| thinner.keep(p))
            .map(|p| p.seq)
            .collect()
    }

    #[test]
    fn stationary_jitter_is_dropped() {
        // One fix a second for a minute, wandering within ±1.4 m each way
        // (never 5 m apart).
        let points: Vec<_> = (0..60)
            .map(|i| {
                let wobble = (f64::from(i % 5) - 2.0) * 0.7;
                at(i, i64::from(i), wobble, -wobble)
            })
            .collect();
        assert_eq!(kept(&mut Thinner::new(None), &points), vec![0]);
    }

    #[test]
    fn a_walk_keeps_a_point_every_five_metres_and_the_corner() {
        // 1.4 m/s east for 20 s, then north: a fix every second.
        let mut points = Vec::new();
        for i in 0..40u32 {
            let t = f64::from(i) * 1.4;
            let (e, n) = if i < 20 { (t, 0.0) } else { (28.0, t - 28.0) };
            points.push(at(i, i64::from(i), e, n));
        }
        let seqs = kept(&mut Thinner::new(None), &points);
        assert_eq!(seqs.first(), Some(&0));
        // Every 4th fix is 5.6 m on (3 × 1.4 = 4.2 m is too little).
        assert!(seqs.windows(2).all(|w| w[1] - w[0] <= 4), "{seqs:?}");
        // Around the corner (fix 20 at (28, 0)) a point within 4 fixes is kept.
        assert!(seqs.iter().any(|&s| (20..=23).contains(&s)), "{seqs:?}");
        assert!(seqs.len() >= 9 && seqs.len() <= 11, "{seqs:?}");
    }

    #[test]
    fn a_heartbeat_every_two_minutes_while_standing() {
        let points: Vec<_> = (0..=300).map(|i| at(i, i64::from(i), 1.0, 0.0)).collect();
        assert_eq!(kept(&mut Thinner::new(None), &points), vec![0, 120, 240]);
    }

    #[test]
    fn untimed_points_get_no_heartbeat() {
        let mut points: Vec<_> = (0..300).map(|i| at(i, i64::from(i), 1.0, 0.0)).collect();
        points.iter_mut().for_each(|p| p.time_ms = None);
        assert_eq!(kept(&mut Thinner::new(None), &points), vec![0]);
    }

    #[test]
    fn a_new_segment_is_kept_and_a_jump_is_kept() {
        let mut b = at(1, 1, 1.0, 0.0);
        b.segment = 1;
        let jump = at(2, 2, 500.0, 0.0);
        let mut t = Thinner::new(None);
        assert!(t.keep(&at(0, 0, 0.0, 0.0)));
        assert!(t.keep(&b));
        assert!(t.keep(&jump));
        assert_eq!(t.last_kept(), Some(&jump));
    }

    #[test]
    fn resumes_after_the_last_stored_point() {
        let mut t = Thinner::new(Some(at(7, 0, 0.0, 0.0)));
        assert!(!t.keep(&at(8, 1, 2.0, 0.0)));
        assert!(t.keep(&at(9, 2, 6.0, 0.0)));
        assert_eq!(t.last_kept().map(|p| p.seq), Some(9));
    }
}
