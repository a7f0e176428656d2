//! Times a device observed (a report's observation, a patrol's start, end
//! and points) are the warden's word, not the op's clock; they sort every
//! list and start nothing, but a phone with a wrong date would put its
//! reports at the top or bottom of every list for good. So they are checked:
//! not further ahead of the server's time than the drift bound, and not
//! before a floor no real observation of this system precedes.

use gridwarden_protocol::ErrorCode;

use crate::store::Rejection;

pub use gridwarden_protocol::validate::OBSERVED_FLOOR_MS;

/// Refuses `ms` (the time of `what`) beyond `max_ahead_ms` after `now_ms`
/// or before [`OBSERVED_FLOOR_MS`], with a sentence the warden can act on.
pub fn check(what: &str, ms: i64, now_ms: i64, max_ahead_ms: u64) -> Result<(), Rejection> {
    let ahead = ms.saturating_sub(now_ms);
    if ahead > max_ahead_ms as i64 {
        let minutes = (ahead + 30_000) / 60_000;
        let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
        return Err(Rejection::new(
            ErrorCode::InvalidInput,
            format!(
                "the {what} time is {days} d {hours} h {mins} min after the server's time; \
                 check the phone's date and time and give the time it really was"
            ),
        ));
    }
    if ms < OBSERVED_FLOOR_MS {
        return Err(Rejection::new(
            ErrorCode::InvalidInput,
            format!(
                "the {what} time is before 2020; the phone's date is wrong: \
                 give the time it really was"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000;

    #[test]
    fn times_ahead_of_the_server_or_before_the_floor_are_refused_with_a_reason() {
        assert!(check("observed", NOW, NOW, 60_000).is_ok());
        assert!(check("observed", NOW + 59_000, NOW, 60_000).is_ok());
        assert!(check("observed", NOW - 400 * 86_400_000, NOW, 60_000).is_ok());
        let ahead = check("observed", NOW + 3 * 86_400_000, NOW, 60_000).unwrap_err();
        assert!(
            ahead.reason.contains("3 d 0 h 0 min after"),
            "{}",
            ahead.reason
        );
        let old = check("patrol point", 0, NOW, 60_000).unwrap_err();
        assert!(
            old.reason.contains("patrol point time is before 2020"),
            "{}",
            old.reason
        );
        assert_eq!(old.code, ErrorCode::InvalidInput);
    }
}
