//! What the server refuses, learnt from it (`Welcome::limits` at every sync,
//! `Enrolled::limits` at enrolment, kept in the store) and checked when the
//! user records, so a phone never keeps a note or a photo the server would
//! refuse only at sync. Before any server has said, the limits a server has
//! by default.

use gridwarden_protocol::{hlc, validate, DeviceLimits};
use rusqlite::Connection;

use crate::error::{ClientError, Result};
use crate::store::meta;

/// The server's default photo limit (`[limits] max_photo_bytes`).
pub const DEFAULT_MAX_PHOTO_BYTES: u64 = 25 * 1024 * 1024;

/// What a device holds to until a server tells it otherwise: the defaults a
/// server ships with.
pub const DEFAULTS: DeviceLimits = DeviceLimits {
    max_photo_bytes: DEFAULT_MAX_PHOTO_BYTES,
    max_note_chars: validate::MAX_NOTE_CHARS as u32,
    max_clock_skew_ms: hlc::MAX_DRIFT_MS,
};

/// The limits in force on this device: the server's last word, a default
/// for anything it left unsaid (0).
pub fn current(conn: &Connection) -> Result<DeviceLimits> {
    let said = meta::limits(conn)?.unwrap_or(DEFAULTS);
    let or = |v: u64, default: u64| if v == 0 { default } else { v };
    Ok(DeviceLimits {
        max_photo_bytes: or(said.max_photo_bytes, DEFAULTS.max_photo_bytes),
        max_note_chars: or(said.max_note_chars.into(), DEFAULTS.max_note_chars.into()) as u32,
        max_clock_skew_ms: or(said.max_clock_skew_ms, DEFAULTS.max_clock_skew_ms),
    })
}

/// A report's note, refused here when the server would refuse it.
pub fn check_note(limits: &DeviceLimits, note: &str) -> Result<()> {
    let chars = note.chars().count() as u64;
    let limit = u64::from(limits.max_note_chars);
    if chars > limit {
        return Err(ClientError::OverLimit {
            message: format!(
                "the note is {chars} characters long; the server takes notes of at most {limit}: shorten it (nothing was recorded)"
            ),
            limit,
        });
    }
    Ok(())
}

/// A photo of `size` bytes (`shown`: how the user knows it), refused here
/// when the server would refuse it.
pub fn check_photo(limits: &DeviceLimits, size: u64, shown: &str) -> Result<()> {
    let limit = limits.max_photo_bytes;
    if size > limit {
        let mb = |b: u64| b as f64 / 1_048_576.0;
        return Err(ClientError::OverLimit {
            message: format!(
                "photo {shown} is {:.1} MB; the server takes photos of at most {:.1} MB: take it again at a lower resolution (nothing was recorded)",
                mb(size),
                mb(limit)
            ),
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn the_servers_word_wins_over_the_defaults_and_unsaid_limits_stay_default() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(current(store.conn()).unwrap(), DEFAULTS);
        let tx = store.transaction().unwrap();
        let said = DeviceLimits {
            max_photo_bytes: 1000,
            max_note_chars: 10,
            max_clock_skew_ms: 0,
        };
        meta::set_limits(&tx, &said).unwrap();
        tx.commit().unwrap();
        let now = current(store.conn()).unwrap();
        assert_eq!(now.max_photo_bytes, 1000);
        assert_eq!(now.max_note_chars, 10);
        assert_eq!(now.max_clock_skew_ms, DEFAULTS.max_clock_skew_ms);

        assert!(check_note(&now, "ten chars!").is_ok());
        let e = check_note(&now, "eleven 字符!!").unwrap_err();
        assert!(
            matches!(e, ClientError::OverLimit { limit: 10, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("at most 10"), "{e}");
        assert!(check_photo(&now, 1000, "a.jpg").is_ok());
        let e = check_photo(&now, 1001, "a.jpg").unwrap_err();
        assert!(e.to_string().starts_with("photo a.jpg is"), "{e}");
    }
}
