//! The working calendar a city loads (`gridwarden-server calendar import`,
//! `workflow/src/calendar.rs`), then deadlines computed in it.
//!
//! Must hold: nothing panics; an accepted calendar reads back the same from
//! its own file form; a deadline is never before its start and is exactly
//! its limit of working time after it.
#![no_main]

use gridwarden_protocol::category::TimeLimit;
use gridwarden_workflow::WorkingCalendar;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first 10 bytes choose a start and a limit; the rest is the file.
    if data.len() < 10 {
        return;
    }
    let (head, rest) = data.split_at(10);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(calendar) = WorkingCalendar::from_json(text) else {
        return;
    };
    let file = calendar.to_file();
    assert_eq!(
        WorkingCalendar::from_file(&file).expect("a calendar's own file is refused"),
        calendar
    );
    // Starts from 1970 to about 2100; limits up to 255 hours or days.
    let start = i64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]])) * 1_000;
    let n = u32::from(head[4]);
    let limit = if head[5] % 2 == 0 {
        TimeLimit::WorkingHours(n)
    } else {
        TimeLimit::WorkingDays(n)
    };
    if let Some(due) = calendar.deadline(start, limit) {
        assert!(due >= start, "a deadline before its start");
        let work_ms = match limit {
            TimeLimit::WorkingHours(h) => i64::from(h) * 3_600_000,
            TimeLimit::WorkingDays(d) => i64::from(d) * calendar.day_minutes() * 60_000,
        };
        assert_eq!(calendar.working_time_between(start, due), work_ms);
    }
});
