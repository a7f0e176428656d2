//! The working calendar: which days are worked, the working hours of a day,
//! and deadlines counted in working hours or working days.
//!
//! A limit of N working days is N times the length of a working day, counted
//! in working time from the moment the clock starts: a case dispatched at
//! 16:00 on a Friday with a limit of one working day is due at 16:00 on the
//! next working day. Working hours count the same way, so the two units
//! never disagree. Public holidays and the weekend days worked in exchange
//! (调休) are data, loaded by each city.

use std::collections::BTreeSet;

use gridwarden_protocol::category::TimeLimit;
use gridwarden_protocol::time::{self, CivilDate, Offset};
use serde::{Deserialize, Serialize};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = time::DAY_MS;
/// How far a deadline is looked for: a limit that cannot be met within ten
/// years of working days is a calendar with no working time.
const MAX_DAYS_SEARCHED: i64 = 3_660;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("{0}")]
    Invalid(String),
}

/// A calendar date, local to the city.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        time::epoch_day(self.civil())
    }

    /// The date `days` after 1970-01-01, held within the years
    /// -9999..=9999 the calendar spans.
    pub fn from_days(days: i64) -> Self {
        let civil = time::date_of_epoch_day(days).unwrap_or(if days < 0 {
            CivilDate::MIN
        } else {
            CivilDate::MAX
        });
        Self::of(civil)
    }

    /// ISO weekday: 1 = Monday … 7 = Sunday.
    pub fn weekday(self) -> u8 {
        self.civil().weekday().to_monday_one_offset() as u8
    }

    /// The ISO 8601 week: its year (the year of its Thursday) and number.
    pub fn iso_week(self) -> (i32, u8) {
        let week = self.civil().iso_week_date();
        (i32::from(week.year()), week.week() as u8)
    }

    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        let bad = || CalendarError::Invalid(format!("`{text}` is not a date; write YYYY-MM-DD"));
        let mut parts = text.trim().split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let (year, month, day) = (
            y.parse().map_err(|_| bad())?,
            m.parse().map_err(|_| bad())?,
            d.parse().map_err(|_| bad())?,
        );
        CivilDate::new(year, month, day)
            .map(Self::of)
            .map_err(|_| bad())
    }

    fn of(civil: CivilDate) -> Self {
        Date {
            year: i32::from(civil.year()),
            month: civil.month() as u8,
            day: civil.day() as u8,
        }
    }

    /// The same date in jiff. A day past its month's end (a `Date` written
    /// as a literal) runs on into the next month.
    fn civil(self) -> CivilDate {
        let year = self.year.clamp(-9999, 9999) as i16;
        let month = self.month.clamp(1, 12) as i8;
        let first = CivilDate::new(year, month, 1).unwrap_or(CivilDate::MAX);
        time::date_of_epoch_day(time::epoch_day(first) + i64::from(self.day) - 1)
            .unwrap_or(CivilDate::MAX)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A city's working calendar. Built from [`CalendarFile`] (JSON), checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkingCalendar {
    /// Local time minus UTC (China: +08:00).
    utc_offset: Offset,
    /// Working periods of a working day, minutes from local midnight,
    /// sorted and disjoint.
    periods: Vec<(u32, u32)>,
    /// ISO weekdays not worked.
    weekend: BTreeSet<u8>,
    holidays: BTreeSet<Date>,
    /// Weekend days worked in exchange for a holiday (调休).
    working_weekends: BTreeSet<Date>,
}

/// The calendar as a city writes it (`gridwarden-server calendar import`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFile {
    /// `+08:00`.
    pub utc_offset: String,
    /// `["08:30-12:00", "14:00-18:00"]`.
    pub working_hours: Vec<String>,
    /// `["sat", "sun"]`.
    #[serde(default = "default_weekend")]
    pub weekend: Vec<String>,
    /// Public holidays, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Weekend days worked (调休), `YYYY-MM-DD`.
    #[serde(default)]
    pub working_weekends: Vec<String>,
}

fn default_weekend() -> Vec<String> {
    vec!["sat".into(), "sun".into()]
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    // `then`, not `then_some`: the product must not be computed for an
    // hour like 1777777774 (found by fuzzing: an overflow panic).
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then(|| h * 60 + m)
}

impl WorkingCalendar {
    /// Mainland China's usual office calendar without holidays: UTC+8,
    /// 08:30–12:00 and 14:00–18:00, Monday to Friday. Cities load their
    /// holidays on top (`calendar import`).
    pub fn default_china() -> Self {
        Self::from_file(&CalendarFile {
            utc_offset: "+08:00".into(),
            working_hours: vec!["08:30-12:00".into(), "14:00-18:00".into()],
            weekend: default_weekend(),
            holidays: vec![],
            working_weekends: vec![],
        })
        .expect("the default calendar is valid")
    }

    pub fn from_json(text: &str) -> Result<Self, CalendarError> {
        let file: CalendarFile = serde_json::from_str(text)
            .map_err(|e| CalendarError::Invalid(format!("the calendar is not valid JSON: {e}")))?;
        Self::from_file(&file)
    }

    pub fn from_file(file: &CalendarFile) -> Result<Self, CalendarError> {
        let invalid = |m: String| CalendarError::Invalid(m);
        let offset = &file.utc_offset;
        // Offsets in use run from -12:00 to +14:00.
        let utc_offset = time::parse_offset(offset)
            .filter(|o| o.seconds() >= -12 * 3600)
            .ok_or_else(|| invalid(format!("utc_offset `{offset}` is not like +08:00")))?;
        let mut periods = Vec::new();
        for p in &file.working_hours {
            let period = p
                .split_once('-')
                .and_then(|(a, b)| Some((minutes(a)?, minutes(b)?)))
                .filter(|(a, b)| a < b)
                .ok_or_else(|| invalid(format!("working hours `{p}` are not like 08:30-12:00")))?;
            periods.push(period);
        }
        periods.sort();
        if periods.is_empty() {
            return Err(invalid("a calendar needs working hours".into()));
        }
        if periods.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err(invalid("working hours overlap".into()));
        }
        let mut weekend = BTreeSet::new();
        for d in &file.weekend {
            let index = WEEKDAYS
                .iter()
                .position(|w| w.eq_ignore_ascii_case(d.trim()))
                .ok_or_else(|| invalid(format!("weekend day `{d}` is not one of mon … sun")))?;
            weekend.insert(index as u8 + 1);
        }
        if weekend.len() == 7 {
            return Err(invalid("a week with no working day".into()));
        }
        let dates = |list: &[String]| -> Result<BTreeSet<Date>, CalendarError> {
            list.iter().map(|d| Date::parse(d)).collect()
        };
        let holidays = dates(&file.holidays)?;
        let working_weekends = dates(&file.working_weekends)?;
        if let Some(both) = holidays.intersection(&working_weekends).next() {
            return Err(invalid(format!(
                "{both} is listed both as a holiday and as a working day"
            )));
        }
        Ok(Self {
            utc_offset,
            periods,
            weekend,
            holidays,
            working_weekends,
        })
    }

    pub fn to_file(&self) -> CalendarFile {
        let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        CalendarFile {
            utc_offset: time::offset_label(self.utc_offset),
            working_hours: self
                .periods
                .iter()
                .map(|(a, b)| format!("{}-{}", hm(*a), hm(*b)))
                .collect(),
            weekend: self
                .weekend
                .iter()
                .map(|d| WEEKDAYS[usize::from(*d) - 1].to_owned())
                .collect(),
            holidays: self.holidays.iter().map(Date::to_string).collect(),
            working_weekends: self.working_weekends.iter().map(Date::to_string).collect(),
        }
    }

    pub fn is_working_day(&self, date: Date) -> bool {
        if self.holidays.contains(&date) {
            return false;
        }
        self.working_weekends.contains(&date) || !self.weekend.contains(&date.weekday())
    }

    /// Minutes of work in a working day.
    pub fn day_minutes(&self) -> i64 {
        self.periods.iter().map(|(a, b)| i64::from(b - a)).sum()
    }

    /// The city's offset from UTC.
    pub fn utc_offset(&self) -> Offset {
        self.utc_offset
    }

    fn local(&self, utc_ms: i64) -> i64 {
        utc_ms + time::offset_ms(self.utc_offset)
    }

    fn utc(&self, local_ms: i64) -> i64 {
        local_ms - time::offset_ms(self.utc_offset)
    }

    /// The moment `work_ms` of working time after `start_ms` (UTC ms).
    /// `None` if the calendar has no such working time within ten years.
    pub fn add_working_time(&self, start_ms: i64, work_ms: i64) -> Option<i64> {
        if work_ms <= 0 {
            return Some(start_ms);
        }
        let local = self.local(start_ms);
        let mut day = local.div_euclid(DAY_MS);
        let mut remaining = work_ms;
        let mut cursor = local;
        for _ in 0..MAX_DAYS_SEARCHED {
            let date = Date::from_days(day);
            if self.is_working_day(date) {
                let midnight = day * DAY_MS;
                for (a, b) in &self.periods {
                    let (from, to) = (
                        midnight + i64::from(*a) * MINUTE_MS,
                        midnight + i64::from(*b) * MINUTE_MS,
                    );
                    let begin = cursor.max(from);
                    if begin >= to {
                        continue;
                    }
                    let available = to - begin;
                    if remaining <= available {
                        return Some(self.utc(begin + remaining));
                    }
                    remaining -= available;
                    cursor = to;
                }
            }
            day += 1;
            cursor = cursor.max(day * DAY_MS);
        }
        None
    }

    /// When a step started at `start_ms` with `limit` is due.
    pub fn deadline(&self, start_ms: i64, limit: TimeLimit) -> Option<i64> {
        let work_min = match limit {
            TimeLimit::WorkingHours(h) => i64::from(h) * 60,
            TimeLimit::WorkingDays(d) => i64::from(d) * self.day_minutes(),
        };
        self.add_working_time(start_ms, work_min * MINUTE_MS)
    }

    /// Working time between two moments (0 if `to` is not after `from`).
    pub fn working_time_between(&self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        let (from, to) = (self.local(from_ms), self.local(to_ms));
        let mut total = 0;
        for day in from.div_euclid(DAY_MS)..=to.div_euclid(DAY_MS) {
            if !self.is_working_day(Date::from_days(day)) {
                continue;
            }
            for (a, b) in &self.periods {
                let start = (day * DAY_MS + i64::from(*a) * MINUTE_MS).max(from);
                let end = (day * DAY_MS + i64::from(*b) * MINUTE_MS).min(to);
                total += (end - start).max(0);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests;
