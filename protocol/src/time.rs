//! Dates and times as text and as calendar days, over `jiff` (ADR 0022).
//! Everything date-shaped in gridwarden goes through here: RFC 3339 in and
//! out, civil dates and their day numbers, a city's fixed UTC offset. The
//! calendar arithmetic is jiff's; this module only says which written forms
//! gridwarden accepts.
//!
//! Times are `i64` milliseconds since the Unix epoch, as on the wire.

use jiff::civil::{Date, DateTime, Time};
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::SignedDuration;

pub use jiff::civil::Date as CivilDate;
pub use jiff::tz::Offset;

pub const DAY_MS: i64 = 86_400_000;

const EPOCH: DateTime = Date::constant(1970, 1, 1).to_datetime(Time::midnight());

/// Milliseconds since the epoch of a civil date and time read as UTC.
pub fn utc_ms(datetime: DateTime) -> i64 {
    // Civil date-times span years -9999..=9999: far inside i64 milliseconds.
    datetime.duration_since(EPOCH).as_millis() as i64
}

/// The civil date and time in UTC of `ms`; `None` outside years
/// -9999..=9999.
pub fn utc_datetime(ms: i64) -> Option<DateTime> {
    EPOCH.checked_add(SignedDuration::from_millis(ms)).ok()
}

/// The local civil date and time of `ms` at `offset`.
pub fn local_datetime(ms: i64, offset: Offset) -> Option<DateTime> {
    utc_datetime(ms.checked_add(offset_ms(offset))?)
}

/// Days since 1970-01-01 of a date.
pub fn epoch_day(date: Date) -> i64 {
    date.duration_since(EPOCH.date()).as_secs() / 86_400
}

/// The date `days` after 1970-01-01; `None` outside years -9999..=9999.
pub fn date_of_epoch_day(days: i64) -> Option<Date> {
    let hours = days.checked_mul(24)?;
    EPOCH
        .date()
        .checked_add(SignedDuration::from_hours(hours))
        .ok()
}

/// The offset in milliseconds, to add to a UTC time for the local one.
pub fn offset_ms(offset: Offset) -> i64 {
    i64::from(offset.seconds()) * 1000
}

/// `+08:00`, `-03:30`, `+00:00`: how gridwarden writes an offset.
pub fn offset_label(offset: Offset) -> String {
    let sign = if offset.is_negative() { '-' } else { '+' };
    let minutes = offset.seconds().unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Formats ms since the epoch as `YYYY-MM-DDTHH:MM:SS.fffZ` (UTC), or
/// `None` for a time outside the years 0000–9999 that RFC 3339 can write.
pub fn format_rfc3339(ms: i64) -> Option<String> {
    let datetime = utc_datetime(ms).filter(|dt| dt.year() >= 0)?;
    Some(datetime.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// `ms` in local time at `offset` with `pattern` (jiff's `strftime`), or
/// the plain number where the time is beyond the calendar.
pub fn format_local(ms: i64, offset: Offset, pattern: &str) -> String {
    match local_datetime(ms, offset) {
        Some(local) => local.strftime(pattern).to_string(),
        None => ms.to_string(),
    }
}

/// Which written forms a time may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leniency {
    /// RFC 3339 as written: `YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM)` (`T` may
    /// be `t` or a space, `Z` may be `z`). What people type.
    Strict,
    /// Also what files in the wild hold (GPX): no offset meaning UTC,
    /// `±HHMM` and `±HH`, a comma before the fraction, white space around.
    Lenient,
}

/// Parses a time into ms since the epoch. Fractions finer than a millisecond
/// are truncated; the leap second `:60` is the first instant of the next
/// minute. `None` for anything else, or a form `leniency` does not allow.
pub fn parse_rfc3339(text: &str, leniency: Leniency) -> Option<i64> {
    let text = match leniency {
        Leniency::Strict => text,
        Leniency::Lenient => text.trim(),
    };
    let bytes = text.as_bytes();
    // jiff reads more of ISO 8601 than gridwarden accepts (the basic form,
    // no seconds, bracketed annotations): the shape is checked first.
    if bytes.len() < 19 || bytes.len() > 64 || !extended_shape(&bytes[..19]) {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction = "";
    if let Some(after) = rest.strip_prefix('.').or_else(|| {
        rest.strip_prefix(',')
            .filter(|_| leniency == Leniency::Lenient)
    }) {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // jiff keeps nanoseconds; finer digits only need dropping.
        fraction = &after[..digits.min(9)];
        rest = &after[digits..];
    }
    if !offset_allowed(rest, leniency) {
        return None;
    }
    // jiff reads `:60` as `:59`; RFC 3339 means one second later.
    let leap = &text[17..19] == "60";
    let seconds = if leap { "59" } else { &text[17..19] };
    let offset = if rest.is_empty() { "Z" } else { rest };
    let normal = format!("{}{seconds}.{fraction:0<1}{offset}", &text[..17]);
    let pieces = Pieces::parse(&normal).ok()?;
    let datetime = pieces.date().to_datetime(pieces.time()?);
    let offset = match pieces.offset()? {
        PiecesOffset::Zulu => Offset::UTC,
        PiecesOffset::Numeric(n) => signed(n),
        // The shape check lets through no other kind (`-00:00` is numeric).
        _ => return None,
    };
    if offset.seconds().abs() >= 24 * 3600 {
        return None;
    }
    Some(utc_ms(datetime) - offset_ms(offset) + if leap { 1000 } else { 0 })
}

/// A parsed numeric offset with its sign, whichever way jiff carries it.
fn signed(n: jiff::fmt::temporal::PiecesNumericOffset) -> Offset {
    let offset = n.offset();
    if n.is_negative() && offset.is_positive() {
        offset.negate()
    } else {
        offset
    }
}

/// `YYYY-MM-DD?HH:MM:SS` with `T`, `t` or a space as `?`, ASCII digits.
fn extended_shape(head: &[u8]) -> bool {
    head.iter().enumerate().all(|(i, &b)| match i {
        4 | 7 => b == b'-',
        10 => matches!(b, b'T' | b't' | b' '),
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    })
}

/// The offset's written form: `Z`, `z`, `±HH:MM`; leniently also nothing,
/// `±HHMM` and `±HH`.
fn offset_allowed(offset: &str, leniency: Leniency) -> bool {
    let b = offset.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    let numeric = |form: &[u8]| match form {
        [h1, h2, b':', m1, m2] => digits(&[*h1, *h2, *m1, *m2]),
        [h1, h2, m1, m2] => leniency == Leniency::Lenient && digits(&[*h1, *h2, *m1, *m2]),
        [h1, h2] => leniency == Leniency::Lenient && digits(&[*h1, *h2]),
        _ => false,
    };
    match b {
        [] => leniency == Leniency::Lenient,
        [b'Z' | b'z'] => true,
        [b'+' | b'-', form @ ..] => numeric(form),
        _ => false,
    }
}

/// A city's offset written `+08:00`, `-03:30` or `Z`, within ±14 hours.
pub fn parse_offset(text: &str) -> Option<Offset> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("z") {
        return Some(Offset::UTC);
    }
    if !matches!(text.as_bytes(), [b'+' | b'-', _, _, b':', _, _]) {
        return None;
    }
    let text = format!("1970-01-01T00:00:00{text}");
    let pieces = Pieces::parse(&text).ok()?;
    let PiecesOffset::Numeric(n) = pieces.offset()? else {
        return None;
    };
    let offset = signed(n);
    (offset.seconds().abs() <= 14 * 3600).then_some(offset)
}

#[cfg(test)]
mod tests;
