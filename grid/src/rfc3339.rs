//! RFC 3339 times to and from milliseconds since the epoch, written by hand
//! because it is small: the `time` crate would be the only reason for the
//! grid crate (which the phone builds too) to need Rust 1.88, and GPX files
//! in the wild need leniencies (no offset, `+0800`) that are easier to state
//! here than to bolt onto a strict parser.

const MS_PER_DAY: i64 = 86_400_000;

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff…][Z|±HH:MM|±HHMM|±HH]` (`T` may be `t`
/// or a space, `Z` may be `z`) into ms since the epoch. Without an offset
/// the time is taken as UTC, which is what GPX prescribes and what the tools
/// that leave it out mean. Fractions finer than a millisecond are truncated.
/// Leap second `:60` is read as the first instant of the next minute.
pub fn parse(text: &str) -> Option<i64> {
    let s = text.trim().as_bytes();
    if s.len() < 19 || s.len() > 64 {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let minute = digits(&s[14..16])?;
    let second = digits(&s[17..19])?;
    if s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b'T' | b't' | b' ') {
        return None;
    }
    if s[13] != b':' || s[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut rest = &s[19..];
    let mut millis = 0;
    if let Some((b'.' | b',', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, &b) in frac[..n.min(3)].iter().enumerate() {
            millis += i64::from(b - b'0') * [100, 10, 1][i];
        }
        rest = &frac[n..];
    }
    let offset_min = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                }
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_min * 60;
    Some(seconds * 1_000 + millis)
}

/// Formats ms since the epoch as `YYYY-MM-DDTHH:MM:SS.fffZ` (UTC), or
/// `None` for a time outside the years 0000–9999 that RFC 3339 can write.
pub fn format(ms: i64) -> Option<String> {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (secs, millis) = (in_day / 1_000, in_day % 1_000);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    ))
}

/// ASCII digits as a number; `None` for anything else.
fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, exact for every year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        // 2024-05-17T00:30:00Z, checked with `date -u -d @1715905800`.
        assert_eq!(parse("2024-05-17T00:30:00Z"), Some(1_715_905_800_000));
        assert_eq!(parse("2024-05-17T08:30:00+08:00"), Some(1_715_905_800_000));
        assert_eq!(parse("2024-05-17T08:30:00+0800"), Some(1_715_905_800_000));
        assert_eq!(parse("2024-05-17T08:30:00+08"), Some(1_715_905_800_000));
        assert_eq!(parse("2024-05-16T19:30:00-05:00"), Some(1_715_905_800_000));
        assert_eq!(parse(" 2024-05-17t00:30:00z\n"), Some(1_715_905_800_000));
        assert_eq!(parse("2024-05-17 00:30:00"), Some(1_715_905_800_000));
        assert_eq!(parse("2024-05-17T00:30:00.5Z"), Some(1_715_905_800_500));
        assert_eq!(
            parse("2024-05-17T00:30:00.123456789Z"),
            Some(1_715_905_800_123)
        );
        assert_eq!(parse("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(parse("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(parse("2016-12-31T23:59:60Z"), parse("2017-01-01T00:00:00Z"));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "yesterday",
            "2024-05-17",
            "2024-05-17T08:30Z",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-05-17T24:00:00Z",
            "2024-05-17T08:30:00.Z",
            "2024-05-17T08:30:00+8:00",
            "2024-05-17T08:30:00+08:60",
            "2024-05-17T08:30:00 UTC",
            "２０２４-05-17T08:30:00Z",
            "+2024-05-17T08:30:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(format(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            format(1_715_905_800_123).as_deref(),
            Some("2024-05-17T00:30:00.123Z")
        );
        assert_eq!(format(-1).as_deref(), Some("1969-12-31T23:59:59.999Z"));
        assert_eq!(format(i64::MAX), None);
        assert_eq!(format(i64::MIN), None);
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(ms in -62_167_219_200_000i64..253_402_300_800_000) {
            let text = format(ms).unwrap();
            prop_assert_eq!(parse(&text), Some(ms), "{}", text);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }
    }
}
