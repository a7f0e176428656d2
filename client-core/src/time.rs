//! Time arithmetic of the client. The clock itself is injected
//! (`gridwarden_protocol::clock`), so simulations can move it by hand.

use gridwarden_protocol::clock::SinceBoot;

/// A device wall-clock reading corrected by the offset to the server's clock
/// measured at the last sync, so a phone whose date is wrong still stamps its
/// ops close to the server's time.
pub fn corrected(now_ms: u64, offset_ms: i64) -> u64 {
    (now_ms as i64).saturating_sub(offset_ms).max(0) as u64
}

/// The server's time at a hello, and this device's time since boot then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub server_ms: u64,
    pub at: SinceBoot,
}

/// How far the corrected wall clock may disagree with the time counted since
/// the last hello before the wall clock is taken to have been changed: well
/// inside the drift bound, well above what a phone's oscillator drifts in a
/// week (about 50 ppm, 30 s).
pub const WALL_CLOCK_TOLERANCE_MS: u64 = gridwarden_protocol::hlc::MAX_DRIFT_MS / 2;

/// The device's best estimate of the server's time now, which its ops are
/// stamped with. The wall clock corrected by the offset measured at the last
/// hello, unless it disagrees with the server's time at that hello plus the
/// time elapsed since (counted by the clock no one can set) by more than
/// [`WALL_CLOCK_TOLERANCE_MS`]: then the wall clock was changed after the
/// sync (set right, or jumped), and the elapsed count is believed. After a
/// reboot there is no elapsed count, and the corrected wall clock is all the
/// device has.
pub fn estimate_server_ms(
    now_ms: u64,
    since_boot: Option<SinceBoot>,
    offset_ms: i64,
    anchor: Option<Anchor>,
) -> u64 {
    let wall = corrected(now_ms, offset_ms);
    match (anchor, since_boot) {
        (Some(a), Some(now)) if a.at.boot == now.boot && now.ms >= a.at.ms => {
            let counted = a.server_ms.saturating_add(now.ms - a.at.ms);
            if wall.abs_diff(counted) > WALL_CLOCK_TOLERANCE_MS {
                counted
            } else {
                wall
            }
        }
        _ => wall,
    }
}

/// The system clock's reading, for tests.
#[cfg(test)]
pub fn now_ms() -> u64 {
    use gridwarden_protocol::clock::Clock;
    gridwarden_protocol::clock::SystemClock.now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_767_225_600_000;
    const DAY: u64 = 24 * 3600 * 1000;

    fn at(ms: u64) -> Option<SinceBoot> {
        Some(SinceBoot { boot: 1, ms })
    }

    #[test]
    fn a_wall_clock_set_right_after_a_sync_is_believed_over_the_stale_offset() {
        // Synced with the phone 3 days fast, then its clock was set right.
        let anchor = Some(Anchor {
            server_ms: T,
            at: at(1_000).unwrap(),
        });
        let offset = 3 * DAY as i64;
        let later = T + 60_000;
        assert_eq!(
            estimate_server_ms(later, at(61_000), offset, anchor),
            later,
            "counted from the sync, not the wall clock minus three days"
        );
        // The clock jumps an hour ahead after the sync: still counted.
        assert_eq!(
            estimate_server_ms(T + 3_600_000 + 3 * DAY, at(2_000), offset, anchor),
            T + 1_000
        );
        // Within the tolerance, the corrected wall clock (NTP-disciplined,
        // usually) is used.
        assert_eq!(
            estimate_server_ms(T + 3 * DAY + 5_000, at(1_000), offset, anchor),
            T + 5_000
        );
        // After a reboot only the corrected wall clock is known.
        let rebooted = Some(SinceBoot { boot: 2, ms: 10 });
        assert_eq!(
            estimate_server_ms(T + 3 * DAY + 9, rebooted, offset, anchor),
            T + 9
        );
    }
}
