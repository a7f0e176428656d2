//! Timestamps to and from ms since the epoch, without a date crate: the
//! city's local time (a fixed UTC offset, as the working calendar has one)
//! for people, and offset-aware input. `--json` prints ms since the epoch.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The city's offset from UTC, in minutes: the working calendar's (UTC+8 in
/// mainland China, the server's default calendar). The device is not sent
/// the calendar, so `--utc-offset` says it where the city is elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset(i32);

impl Default for Offset {
    fn default() -> Self {
        Offset(8 * 60)
    }
}

impl Offset {
    /// Parses `+08:00`, `-03:30` or `Z`.
    pub fn parse(text: &str) -> Result<Offset, String> {
        let text = text.trim();
        let bad = || format!("`{text}` is not a UTC offset; write it like +08:00 or -03:30");
        if text.eq_ignore_ascii_case("z") {
            return Ok(Offset(0));
        }
        let sign = match text.get(..1) {
            Some("+") => 1,
            Some("-") => -1,
            _ => return Err(bad()),
        };
        let (h, m) = match (text.get(1..3), text.get(3..4), text.get(4..)) {
            (Some(h), Some(":"), Some(m)) if m.len() == 2 => (number(h), number(m)),
            _ => return Err(bad()),
        };
        match (h, m) {
            (Some(h), Some(m)) if h <= 14 && m <= 59 => Ok(Offset(sign * (h * 60 + m) as i32)),
            _ => Err(bad()),
        }
    }

    /// `+08:00`.
    pub fn label(self) -> String {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let m = self.0.unsigned_abs();
        format!("{sign}{:02}:{:02}", m / 60, m % 60)
    }

    /// `(date, seconds into the day)` of `ms` in this offset.
    fn civil(self, ms: i64) -> ((i64, u32, u32), i64) {
        let secs = ms.div_euclid(1000) + i64::from(self.0) * 60;
        (
            civil_from_days(secs.div_euclid(86_400)),
            secs.rem_euclid(86_400),
        )
    }

    /// Local date and time to the minute, for table columns whose header
    /// names the offset once: `2024-05-01 09:30`.
    pub fn short(self, ms: i64) -> String {
        let ((y, m, d), rem) = self.civil(ms);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60
        )
    }

    /// Local date and time with the offset: `2024-05-01 09:30:00 +08:00`.
    pub fn full(self, ms: i64) -> String {
        let ((y, m, d), rem) = self.civil(ms);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} {}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            self.label()
        )
    }

    /// A date alone (`YYYY-MM-DD`) is the start of that day here; anything
    /// else is a time as `--observed-at` takes it.
    pub fn parse_day(self, text: &str) -> Result<i64, String> {
        let text = text.trim();
        if text.len() == 10 {
            return parse_observed_at(&format!("{text}T00:00:00{}", self.label()));
        }
        parse_observed_at(text)
    }
}

/// Parses `--observed-at`: ms since the epoch, or RFC 3339 with `Z` or an
/// offset (a space may stand for the `T`; fractional seconds are allowed).
pub fn parse_observed_at(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "`{text}` is not a time; use RFC 3339 like 2024-05-01T09:30:00+08:00 \
             or milliseconds since 1970"
        )
    })
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    if !s.is_ascii() || s.len() < 20 {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let sep = rest.as_bytes()[0];
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    let rest = &rest[1..];
    let mut d = date.split('-');
    let (y, m, day) = (number(d.next()?)?, number(d.next()?)?, number(d.next()?)?);
    if d.next().is_some() || date.as_bytes()[4] != b'-' || !(1..=12).contains(&m) {
        return None;
    }
    let y = i64::from(y);
    if day == 0 || day > days_in_month(y, m) {
        return None;
    }
    let (hh, mm, ss) = (
        number(&rest[0..2])?,
        number(&rest[3..5])?,
        number(&rest[6..8])?,
    );
    if &rest[2..3] != ":" || &rest[5..6] != ":" || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut tail = &rest[8..];
    let mut millis = 0i64;
    if let Some(frac) = tail.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = i64::from(number(&padded)?);
        tail = &frac[digits..];
    }
    let offset_s: i64 = match tail {
        "Z" | "z" => 0,
        _ if tail.len() == 6 && &tail[3..4] == ":" => {
            let sign = match &tail[0..1] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let (oh, om) = (number(&tail[1..3])?, number(&tail[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * i64::from(oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, m, day) * 86_400 + i64::from(hh * 3600 + mm * 60 + ss.min(59))
        - offset_s;
    Some(secs * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc() {
        let utc = Offset::parse("Z").unwrap();
        assert_eq!(utc.full(0), "1970-01-01 00:00:00 +00:00");
        assert_eq!(utc.full(1_700_000_000_000), "2023-11-14 22:13:20 +00:00");
        assert_eq!(
            parse_observed_at("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(parse_observed_at("1700000000000"), Ok(1_700_000_000_000));
    }

    #[test]
    fn honours_offsets_and_fractions() {
        assert_eq!(
            parse_observed_at("2023-11-15T06:13:20+08:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_observed_at("2023-11-14 20:13:20.5-02:00"),
            Ok(1_700_000_000_500)
        );
        assert_eq!(
            parse_observed_at("2024-02-29T00:00:00.123456z"),
            Ok(1_709_164_800_123)
        );
    }

    #[test]
    fn refuses_malformed_times() {
        for bad in [
            "",
            "yesterday",
            "2023-13-01T00:00:00Z",
            "2023-02-30T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14T25:00:00Z",
            "2023-11-14T22:13:20+0800",
        ] {
            let e = parse_observed_at(bad).unwrap_err();
            assert!(e.contains("RFC 3339"), "{bad}: {e}");
        }
    }

    #[test]
    fn local_time_is_the_citys_offset() {
        let cst = Offset::default();
        assert_eq!(cst.label(), "+08:00");
        // 2023-11-14T22:13:20Z is the next morning in Beijing.
        assert_eq!(cst.short(1_700_000_000_000), "2023-11-15 06:13");
        assert_eq!(cst.full(1_700_000_000_000), "2023-11-15 06:13:20 +08:00");
        let west = Offset::parse("-03:30").unwrap();
        assert_eq!(west.full(1_700_000_000_000), "2023-11-14 18:43:20 -03:30");
        assert_eq!(Offset::parse("Z").unwrap().short(0), "1970-01-01 00:00");
        assert_eq!(
            cst.parse_day("2023-11-15"),
            Ok(1_700_006_400_000 - 8 * 3_600_000)
        );
        assert_eq!(
            west.parse_day("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000),
            "a time keeps its own offset"
        );
        for bad in ["8", "+8:00", "+08", "+0800", "+15:00", "+08:60", "UTC+8"] {
            assert!(Offset::parse(bad).unwrap_err().contains("+08:00"), "{bad}");
        }
    }

    #[test]
    fn round_trips_days() {
        for days in [-800_000i64, -1, 0, 1, 19_000, 60_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
