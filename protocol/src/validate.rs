//! Field checks shared by the device (refuse at the keyboard) and the server
//! (refuse at the door). Each failure says what a person can change.

use crate::photo::{PhotoRef, MAX_PHOTOS_PER_REPORT};
use crate::track::{PatrolOp, TrackPoint, MAX_PATROL_NOTE_CHARS, MAX_POINTS_PER_OP};
use crate::{Location, NewReport, ProtocolError, ReportEdit};

/// 2020-01-01T00:00:00Z: the earliest observed time (of a report, a patrol,
/// a track point) the server accepts: older than any observation this system
/// can hold (it went into service in 2026), newer than every clock reset to
/// 1970. Observed times are also refused beyond the drift bound ahead.
pub const OBSERVED_FLOOR_MS: i64 = 1_577_836_800_000;

/// Longest note a report may carry, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// Longest address text, in characters.
pub const MAX_ADDRESS_CHARS: usize = 300;
/// Longest asset code (since protocol 3), in characters.
pub const MAX_ASSET_CHARS: usize = 64;
/// Longest category code.
pub const MAX_CATEGORY_CHARS: usize = 32;
/// Accuracy worse than this is not a location a warden can act on.
pub const MAX_ACCURACY_M: f32 = 10_000.0;

fn invalid(msg: String) -> Result<(), ProtocolError> {
    Err(ProtocolError::Invalid(msg))
}

pub fn location(loc: &Location) -> Result<(), ProtocolError> {
    if !loc.lon.is_finite() || !loc.lat.is_finite() {
        return invalid(format!(
            "coordinates must be numbers, got lon={} lat={}",
            loc.lon, loc.lat
        ));
    }
    if !(-180.0..=180.0).contains(&loc.lon) {
        return invalid(format!("longitude {} is outside -180..180", loc.lon));
    }
    if !(-90.0..=90.0).contains(&loc.lat) {
        return invalid(format!("latitude {} is outside -90..90", loc.lat));
    }
    if let Some(acc) = loc.accuracy_m {
        if !acc.is_finite() || !(0.0..=MAX_ACCURACY_M).contains(&acc) {
            return invalid(format!(
                "accuracy {acc} m must be between 0 and {MAX_ACCURACY_M} m"
            ));
        }
    }
    Ok(())
}

fn text(field: &str, value: &str, max: usize) -> Result<(), ProtocolError> {
    let n = value.chars().count();
    if n > max {
        return invalid(format!("{field} has {n} characters; the limit is {max}"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return invalid(format!("{field} contains control characters"));
    }
    Ok(())
}

pub fn category(code: &str) -> Result<(), ProtocolError> {
    if code.is_empty() {
        return invalid("category code is empty".into());
    }
    text("category code", code, MAX_CATEGORY_CHARS)
}

/// Checks the shape of a new report. Whether the category exists is for the
/// holder of the category table to decide.
pub fn new_report(r: &NewReport) -> Result<(), ProtocolError> {
    category(&r.category)?;
    location(&r.location)?;
    text("note", &r.note, MAX_NOTE_CHARS)?;
    if let Some(a) = &r.address {
        text("address", a, MAX_ADDRESS_CHARS)?;
    }
    if let Some(a) = &r.asset {
        text("asset", a, MAX_ASSET_CHARS)?;
    }
    Ok(())
}

pub fn report_edit(e: &ReportEdit) -> Result<(), ProtocolError> {
    if e.is_empty() {
        return invalid("an edit must change at least one field".into());
    }
    if let Some(c) = &e.category {
        category(c)?;
    }
    if let Some(l) = &e.location {
        location(l)?;
    }
    if let Some(n) = &e.note {
        text("note", n, MAX_NOTE_CHARS)?;
    }
    if let Some(Some(a)) = &e.address {
        text("address", a, MAX_ADDRESS_CHARS)?;
    }
    if let Some(Some(a)) = &e.asset {
        text("asset", a, MAX_ASSET_CHARS)?;
    }
    Ok(())
}

/// Checks a track point: a real position and plausible accuracy and speed.
pub fn track_point(p: &TrackPoint) -> Result<(), ProtocolError> {
    location(&Location {
        lon: p.lon,
        lat: p.lat,
        accuracy_m: p.accuracy_m,
    })
    .map_err(|e| ProtocolError::Invalid(format!("track point {}: {e}", p.seq)))?;
    if let Some(speed) = p.speed_mps {
        if !speed.is_finite() || speed < 0.0 {
            return invalid(format!(
                "track point {}: speed {speed} m/s is not a speed",
                p.seq
            ));
        }
    }
    Ok(())
}

pub fn patrol_op(op: &PatrolOp) -> Result<(), ProtocolError> {
    match op {
        PatrolOp::Start(start) => text("patrol note", &start.note, MAX_PATROL_NOTE_CHARS),
        PatrolOp::Points(points) => {
            if points.is_empty() {
                return invalid("a batch of track points is empty".into());
            }
            if points.len() > MAX_POINTS_PER_OP {
                return invalid(format!(
                    "a batch carries {} track points; the limit is {MAX_POINTS_PER_OP}",
                    points.len()
                ));
            }
            points.iter().try_for_each(track_point)
        }
        PatrolOp::Stop { .. } => Ok(()),
    }
}

/// Checks photo references: a known image type, a size, not too many.
pub fn photo_refs(photos: &[PhotoRef]) -> Result<(), ProtocolError> {
    if photos.is_empty() {
        return invalid("no photos to attach".into());
    }
    if photos.len() > MAX_PHOTOS_PER_REPORT {
        return invalid(format!(
            "{} photos at once; a report takes at most {MAX_PHOTOS_PER_REPORT}",
            photos.len()
        ));
    }
    for p in photos {
        if p.size == 0 {
            return invalid(format!("photo {} is empty", p.hash));
        }
        if !["image/jpeg", "image/png", "image/heic"].contains(&p.mime.as_str()) {
            return invalid(format!(
                "photo {} is `{}`; only JPEG, PNG and HEIC photos are taken",
                p.hash,
                p.mime.chars().take(40).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// Longest department code.
pub const MAX_DEPARTMENT_CHARS: usize = 32;

/// The free text, names and photos of a case op.
pub fn case_op(op: &crate::case::CaseOp) -> Result<(), ProtocolError> {
    use crate::case::CaseOp;
    text("note", op.text(), MAX_NOTE_CHARS)?;
    match op {
        CaseOp::Dispatch { department, .. } => {
            text("department", department, MAX_DEPARTMENT_CHARS)?;
        }
        CaseOp::SendForVerification {
            verifier: Some(user),
        } => {
            if user.trim().is_empty() {
                return Err(ProtocolError::Invalid(
                    "the verifier's user name is empty".into(),
                ));
            }
            text("verifier", user, 64)?;
        }
        CaseOp::Amend { .. } => {
            return Err(ProtocolError::Invalid(
                "a case's category and location change by editing its report; \
                 the server writes the amendment into the case's history"
                    .into(),
            ));
        }
        CaseOp::Reject { reason } | CaseOp::Reopen { reason } | CaseOp::Postpone { reason, .. }
            if reason.trim().is_empty() =>
        {
            return Err(ProtocolError::Invalid(format!(
                "a {} needs a reason",
                op.name()
            )));
        }
        _ => {}
    }
    if op.photos().is_empty() {
        return Ok(());
    }
    photo_refs(op.photos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(lon: f64, lat: f64) -> Location {
        Location {
            lon,
            lat,
            accuracy_m: None,
        }
    }

    #[test]
    fn refuses_nan_and_off_planet_coordinates() {
        assert!(location(&loc(f64::NAN, 0.0)).is_err());
        assert!(location(&loc(0.0, f64::INFINITY)).is_err());
        assert!(location(&loc(181.0, 0.0)).is_err());
        assert!(location(&loc(0.0, -90.5)).is_err());
        assert!(location(&loc(180.0, -90.0)).is_ok());
        let msg = location(&loc(0.0, 91.0)).unwrap_err().to_string();
        assert!(msg.contains("latitude 91"), "{msg}");
    }

    #[test]
    fn refuses_bad_accuracy_and_long_text() {
        let mut l = loc(1.0, 1.0);
        l.accuracy_m = Some(-1.0);
        assert!(location(&l).is_err());
        assert!(text("note", &"x".repeat(MAX_NOTE_CHARS + 1), MAX_NOTE_CHARS).is_err());
        assert!(text("note", "a\u{0}b", 10).is_err());
        assert!(text("note", "多行\n文本", 10).is_ok());
    }
}
