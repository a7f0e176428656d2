use proptest::prelude::*;

use super::*;

const HOUR: i64 = 3_600_000;

/// UTC ms of a local (UTC+8) time.
fn at(date: &str, hh: i64, mm: i64) -> i64 {
    let d = Date::parse(date).unwrap();
    d.days_since_epoch() * DAY_MS + hh * HOUR + mm * MINUTE_MS - 8 * HOUR
}

/// The fixture calendar: 2026 National Day week off (Thu 1 – Wed 7
/// October), Sunday 27 September and Saturday 10 October worked instead.
fn national_day() -> WorkingCalendar {
    WorkingCalendar::from_json(
        r#"{"utc_offset": "+08:00", "working_hours": ["08:30-12:00", "14:00-18:00"],
            "holidays": ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04",
                         "2026-10-05", "2026-10-06", "2026-10-07"],
            "working_weekends": ["2026-09-27", "2026-10-10"]}"#,
    )
    .unwrap()
}

#[test]
fn dates_know_their_weekday() {
    for (date, weekday) in [
        ("1970-01-01", 4),
        ("2000-01-01", 6),
        ("2026-10-01", 4),
        ("2026-11-22", 7),
    ] {
        let d = Date::parse(date).unwrap();
        assert_eq!(d.weekday(), weekday, "{date}");
        assert_eq!(Date::from_days(d.days_since_epoch()), d);
        assert_eq!(d.to_string(), date);
    }
    for bad in [
        "2026-02-29",
        "2026-13-01",
        "2026-1",
        "tomorrow",
        "2026-00-10",
    ] {
        assert!(Date::parse(bad).is_err(), "{bad}");
    }
    assert!(Date::parse("2028-02-29").is_ok());
}

#[test]
fn working_hours_skip_lunch_nights_and_weekends() {
    let cal = WorkingCalendar::default_china();
    assert_eq!(cal.day_minutes(), 450);
    let limit = TimeLimit::WorkingHours;
    // Monday 11:00 + 2 h: one hour before lunch, one after.
    assert_eq!(
        cal.deadline(at("2026-11-16", 11, 0), limit(2)),
        Some(at("2026-11-16", 15, 0))
    );
    // Reported on Saturday morning: the clock starts on Monday.
    assert_eq!(
        cal.deadline(at("2026-11-21", 10, 0), limit(1)),
        Some(at("2026-11-23", 9, 30))
    );
    // During lunch: the clock starts at 14:00.
    assert_eq!(
        cal.deadline(at("2026-11-16", 12, 30), limit(1)),
        Some(at("2026-11-16", 15, 0))
    );
    // Exactly at the end of the day: the next morning.
    assert_eq!(
        cal.deadline(at("2026-11-16", 17, 0), limit(1)),
        Some(at("2026-11-16", 18, 0))
    );
    assert_eq!(
        cal.deadline(at("2026-11-16", 17, 30), limit(1)),
        Some(at("2026-11-17", 9, 0))
    );
}

#[test]
fn a_working_day_is_a_days_working_time_from_the_start() {
    let cal = WorkingCalendar::default_china();
    // Friday 16:00 + 1 working day = Monday 16:00.
    assert_eq!(
        cal.deadline(at("2026-11-20", 16, 0), TimeLimit::WorkingDays(1)),
        Some(at("2026-11-23", 16, 0))
    );
    assert_eq!(
        cal.deadline(at("2026-11-16", 8, 30), TimeLimit::WorkingDays(5)),
        Some(at("2026-11-20", 18, 0)),
        "a working week"
    );
}

#[test]
fn holidays_and_worked_weekends_come_from_the_city() {
    let cal = national_day();
    assert!(
        cal.is_working_day(Date::parse("2026-09-27").unwrap()),
        "a worked Sunday"
    );
    assert!(
        !cal.is_working_day(Date::parse("2026-10-05").unwrap()),
        "a holiday Monday"
    );
    // Wednesday 30 September 17:00 + 5 working hours: one hour that evening,
    // then nothing until Thursday 8 October.
    assert_eq!(
        cal.deadline(at("2026-09-30", 17, 0), TimeLimit::WorkingHours(5)),
        Some(at("2026-10-08", 14, 30))
    );
    // Friday 9 October 16:00 + 1 working day: Saturday 10 October is worked.
    assert_eq!(
        cal.deadline(at("2026-10-09", 16, 0), TimeLimit::WorkingDays(1)),
        Some(at("2026-10-10", 16, 0))
    );
    assert_eq!(WorkingCalendar::from_file(&cal.to_file()).unwrap(), cal);
}

#[test]
fn a_bad_calendar_is_refused_with_what_is_wrong() {
    let cases = [
        (
            r#"{"utc_offset": "8", "working_hours": ["08:30-12:00"]}"#,
            "utc_offset",
        ),
        (
            r#"{"utc_offset": "+08:00", "working_hours": []}"#,
            "needs working hours",
        ),
        (
            r#"{"utc_offset": "+08:00", "working_hours": ["12:00-08:30"]}"#,
            "12:00-08:30",
        ),
        (
            r#"{"utc_offset": "+08:00", "working_hours": ["08:00-12:00", "11:00-13:00"]}"#,
            "overlap",
        ),
        (
            r#"{"utc_offset": "+08:00", "working_hours": ["08:00-12:00"], "weekend": ["caturday"]}"#,
            "caturday",
        ),
        (
            r#"{"utc_offset": "+08:00", "working_hours": ["08:00-12:00"], "holidays": ["2026-02-30"]}"#,
            "2026-02-30",
        ),
        (
            r#"{"utc_offset": "+08:00", "working_hours": ["08:00-12:00"], "holidays": ["2026-10-10"], "working_weekends": ["2026-10-10"]}"#,
            "both",
        ),
        (
            r#"{"utc_offset": "+08:00", "working_hours": ["08:00-12:00"], "holiday": []}"#,
            "holiday",
        ),
        ("not json", "JSON"),
        // Found by fuzzing: an hour this large overflowed instead of being refused.
        (
            r#"{"utc_offset": "+08:00", "working_hours": ["1777777774:00-18:00"]}"#,
            "1777777774",
        ),
        (
            r#"{"utc_offset": "+4294967295:00", "working_hours": ["08:00-12:00"]}"#,
            "utc_offset",
        ),
    ];
    for (text, expected) in cases {
        let err = WorkingCalendar::from_json(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}

#[test]
fn a_calendar_without_working_time_finds_no_deadline() {
    let cal = WorkingCalendar::from_json(
        r#"{"utc_offset": "+00:00", "working_hours": ["09:00-10:00"], "weekend": ["mon","tue","wed","thu","fri","sat"]}"#,
    )
    .unwrap();
    assert!(
        cal.deadline(0, TimeLimit::WorkingHours(1)).is_some(),
        "Sundays remain"
    );
    assert!(WorkingCalendar::from_json(
        r#"{"utc_offset": "+00:00", "working_hours": ["09:00-10:00"], "weekend": ["mon","tue","wed","thu","fri","sat","sun"]}"#
    )
    .is_err());
}

proptest! {
    /// A deadline is exactly its limit of working time after the start, and
    /// a later start never gives an earlier deadline.
    #[test]
    fn deadlines_are_the_limit_in_working_time_and_monotonic(
        start in 1_700_000_000_000i64..1_900_000_000_000,
        later in 0i64..(30 * 86_400_000),
        hours in 0u32..200,
    ) {
        let cal = national_day();
        let due = cal.deadline(start, TimeLimit::WorkingHours(hours)).unwrap();
        prop_assert_eq!(cal.working_time_between(start, due), i64::from(hours) * HOUR);
        let due_later = cal.deadline(start + later, TimeLimit::WorkingHours(hours)).unwrap();
        prop_assert!(due_later >= due);
    }
}
