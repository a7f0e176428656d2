//! Timestamps to and from ms since the epoch for people: the city's local
//! time (a fixed UTC offset, as the working calendar has one) and
//! offset-aware input, over `gridwarden_protocol::time` (ADR 0022). `--json`
//! prints ms since the epoch.

use gridwarden_protocol::time::{self as t, Leniency};

/// The city's offset from UTC: the working calendar's (UTC+8 in mainland
/// China, the server's default calendar). The device is not sent the
/// calendar, so `--utc-offset` says it where the city is elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset(t::Offset);

impl Default for Offset {
    fn default() -> Self {
        Offset(t::Offset::constant(8))
    }
}

impl Offset {
    /// Parses `+08:00`, `-03:30` or `Z`.
    pub fn parse(text: &str) -> Result<Offset, String> {
        t::parse_offset(text).map(Offset).ok_or_else(|| {
            format!(
                "`{}` is not a UTC offset; write it like +08:00 or -03:30",
                text.trim()
            )
        })
    }

    /// `+08:00`.
    pub fn label(self) -> String {
        t::offset_label(self.0)
    }

    /// Local date and time to the minute, for table columns whose header
    /// names the offset once: `2024-05-01 09:30`.
    pub fn short(self, ms: i64) -> String {
        t::format_local(ms, self.0, "%Y-%m-%d %H:%M")
    }

    /// Local date and time with the offset: `2024-05-01 09:30:00 +08:00`.
    pub fn full(self, ms: i64) -> String {
        format!(
            "{} {}",
            t::format_local(ms, self.0, "%Y-%m-%d %H:%M:%S"),
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
    t::parse_rfc3339(text, Leniency::Strict).ok_or_else(|| {
        format!(
            "`{text}` is not a time; use RFC 3339 like 2024-05-01T09:30:00+08:00 \
             or milliseconds since 1970"
        )
    })
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
}
