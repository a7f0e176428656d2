//! Dates as GeoReport v2 writes them: ISO 8601 with the city's UTC offset
//! (`2026-12-05T21:04:05+08:00`). Read: any RFC 3339 time, or a bare date
//! meaning its midnight in the city.

use gridwarden_protocol::time::{self, Leniency, Offset};

use super::doc::Oops;

pub const DAY_MS: i64 = 86_400_000;

/// `ms` as local time in the city, with its offset.
pub fn format(ms: i64, offset_min: i32) -> String {
    let offset = Offset::from_seconds(offset_min * 60).unwrap_or(Offset::UTC);
    let local = time::format_local(ms, offset, "%Y-%m-%dT%H:%M:%S");
    format!("{local}{}", time::offset_label(offset))
}

/// A date parameter: an ISO 8601 time (an offset, or `Z`), or `YYYY-MM-DD`.
pub fn parse(text: &str, offset_min: i32, name: &str) -> Result<i64, Oops> {
    let bad = || {
        Oops::bad(format!(
            "{name} `{text}` is not an ISO 8601 date; write it like 2026-12-05T08:00:00+08:00 or 2026-12-05"
        ))
    };
    if text.len() == 10 {
        let midnight = format!("{text}T00:00:00Z");
        let ms = time::parse_rfc3339(&midnight, Leniency::Lenient).ok_or_else(bad)?;
        return Ok(ms - i64::from(offset_min) * 60_000);
    }
    let ms = time::parse_rfc3339(text, Leniency::Lenient).ok_or_else(bad)?;
    // Without an offset the time is the city's, not UTC.
    let has_offset =
        text.ends_with(['Z', 'z']) || text.get(19..).is_some_and(|rest| rest.contains(['+', '-']));
    Ok(if has_offset {
        ms
    } else {
        ms - i64::from(offset_min) * 60_000
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_round_trip() {
        let ms = parse("2026-12-05T08:30:00+08:00", 480, "start_date").unwrap();
        assert_eq!(format(ms, 480), "2026-12-05T08:30:00+08:00");
        assert_eq!(format(ms, -300), "2026-12-04T19:30:00-05:00");
        assert_eq!(parse("2026-12-05T00:30:00Z", 480, "x").unwrap(), ms);
        assert_eq!(parse("2026-12-05T08:30:00", 480, "x").unwrap(), ms);
        assert_eq!(
            parse("2026-12-05", 480, "x").unwrap(),
            parse("2026-12-05T00:00:00+08:00", 480, "x").unwrap()
        );
        let err = parse("yesterday", 480, "end_date").unwrap_err();
        assert!(err.description.contains("end_date `yesterday`"), "{err:?}");
    }
}
