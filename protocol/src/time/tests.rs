use super::*;
use proptest::prelude::*;

fn parse(text: &str) -> Option<i64> {
    parse_rfc3339(text, Leniency::Lenient)
}

fn strict(text: &str) -> Option<i64> {
    parse_rfc3339(text, Leniency::Strict)
}

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
    assert_eq!(parse("2024-05-17T00:30:00,5Z"), Some(1_715_905_800_500));
    assert_eq!(
        parse("2024-05-17T00:30:00.123456789Z"),
        Some(1_715_905_800_123)
    );
    assert_eq!(
        parse("2024-05-17T00:30:00.1234567891234Z"),
        Some(1_715_905_800_123)
    );
    assert_eq!(parse("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
    assert_eq!(parse("1969-12-31T23:59:59.999Z"), Some(-1));
    assert_eq!(parse("2016-12-31T23:59:60Z"), parse("2017-01-01T00:00:00Z"));
    assert_eq!(parse("9999-12-31T23:59:59.999Z"), Some(253_402_300_799_999));
}

#[test]
fn refuses_what_is_not_a_time() {
    for bad in [
        "",
        "yesterday",
        "2024-05-17",
        "2024-05-17T08:30Z",
        "20240517T083000Z",
        "2024-05-17T08:30:00Z[UTC]",
        "2024-05-17T08:30:00+08:00:30",
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-05-17T24:00:00Z",
        "2024-05-17T08:30:00.Z",
        "2024-05-17T08:30:00+8:00",
        "2024-05-17T08:30:00+08:60",
        "2024-05-17T08:30:00+24:00",
        "2024-05-17T08:30:00 UTC",
        "２０２４-05-17T08:30:00Z",
        "+2024-05-17T08:30:00Z",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
        assert_eq!(strict(bad), None, "{bad:?}");
    }
}

#[test]
fn strict_wants_the_offset_written_out() {
    assert_eq!(strict("2023-11-15T06:13:20+08:00"), Some(1_700_000_000_000));
    assert_eq!(
        strict("2023-11-14 20:13:20.5-02:00"),
        Some(1_700_000_000_500)
    );
    for lenient_only in [
        "2023-11-14T22:13:20",
        "2023-11-14T22:13:20+0800",
        "2023-11-14T22:13:20+08",
        "2023-11-14T22:13:20,5Z",
        " 2023-11-14T22:13:20Z",
    ] {
        assert_eq!(strict(lenient_only), None, "{lenient_only}");
        assert!(parse(lenient_only).is_some(), "{lenient_only}");
    }
}

#[test]
fn formats_utc_with_milliseconds() {
    assert_eq!(
        format_rfc3339(0).as_deref(),
        Some("1970-01-01T00:00:00.000Z")
    );
    assert_eq!(
        format_rfc3339(1_715_905_800_123).as_deref(),
        Some("2024-05-17T00:30:00.123Z")
    );
    assert_eq!(
        format_rfc3339(-1).as_deref(),
        Some("1969-12-31T23:59:59.999Z")
    );
    assert_eq!(format_rfc3339(-62_167_219_200_001), None);
    assert_eq!(format_rfc3339(i64::MAX), None);
    assert_eq!(format_rfc3339(i64::MIN), None);
}

#[test]
fn days_and_offsets() {
    for days in [-800_000i64, -1, 0, 1, 19_000, 60_000, 2_000_000] {
        let date = date_of_epoch_day(days).expect("inside the calendar");
        assert_eq!(epoch_day(date), days);
    }
    assert_eq!(
        date_of_epoch_day(20_427).map(|d| d.to_string()).as_deref(),
        Some("2025-12-05")
    );
    let cst = parse_offset("+08:00").expect("an offset");
    assert_eq!(offset_label(cst), "+08:00");
    assert_eq!(offset_ms(cst), 8 * 3_600_000);
    let west = parse_offset("-03:30").expect("an offset");
    assert_eq!(offset_label(west), "-03:30");
    assert_eq!(offset_ms(west), -(3 * 3_600_000 + 1_800_000));
    assert_eq!(parse_offset("Z"), Some(Offset::UTC));
    for bad in ["8", "+8:00", "+08", "+0800", "+15:00", "+08:60", "UTC+8"] {
        assert_eq!(parse_offset(bad), None, "{bad}");
    }
    assert_eq!(
        format_local(1_700_000_000_000, cst, "%Y-%m-%d %H:%M"),
        "2023-11-15 06:13"
    );
}

proptest! {
    #[test]
    fn format_then_parse_is_identity(ms in -62_167_219_200_000i64..253_402_300_800_000) {
        let text = format_rfc3339(ms).expect("inside 0000-9999");
        prop_assert_eq!(parse(&text), Some(ms), "{}", text);
        prop_assert_eq!(strict(&text), Some(ms), "{}", text);
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,40}") {
        let _ = parse(&s);
        let _ = strict(&s);
    }
}
