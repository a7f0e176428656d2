//! Dates and times at the console's edge: RFC 3339 UTC out, local calendar
//! dates (in the working calendar's UTC offset) in.

use gridwarden_protocol::ErrorCode;
use gridwarden_workflow::calendar::Date;
use gridwarden_workflow::WorkingCalendar;

use crate::service::ServiceError;

use gridwarden_protocol::time::DAY_MS;

/// The city's offset from UTC in minutes (the calendar's).
pub fn offset_minutes(calendar: &WorkingCalendar) -> i32 {
    calendar.utc_offset().seconds() / 60
}

/// Midnight of a local date `YYYY-MM-DD`, as UTC milliseconds; `what` names
/// the parameter in the refusal.
pub fn parse_day(text: &str, offset_min: i32, what: &str) -> Result<i64, ServiceError> {
    let date = Date::parse(text).map_err(|_| ServiceError::Refused {
        code: ErrorCode::InvalidInput,
        message: format!("{what} `{text}` is not a date; write YYYY-MM-DD"),
    })?;
    Ok(date.days_since_epoch() * DAY_MS - i64::from(offset_min) * 60_000)
}

/// The local date a UTC moment falls on.
pub fn local_day(ms: i64, offset_min: i32) -> Date {
    Date::from_days((ms + i64::from(offset_min) * 60_000).div_euclid(DAY_MS))
}

/// `2026-12-05T13:04:05.123Z`; the plain number for a time beyond the
/// years RFC 3339 writes.
pub fn rfc3339(ms: i64) -> String {
    gridwarden_protocol::time::format_rfc3339(ms).unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_and_utc_text() {
        let cal = WorkingCalendar::default_china();
        assert_eq!(offset_minutes(&cal), 480);
        let ms = parse_day("2026-12-05", 480, "from").unwrap();
        assert_eq!(rfc3339(ms), "2026-12-04T16:00:00.000Z");
        assert_eq!(local_day(ms, 480).to_string(), "2026-12-05");
        let err = parse_day("2026-13-05", 480, "from")
            .unwrap_err()
            .to_string();
        assert!(err.contains("from `2026-13-05`"), "{err}");
    }
}
