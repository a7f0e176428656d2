//! The line `gridwarden sync` prints while a long photo upload runs: which
//! photo, how much of it, the measured rate and the time left for all.

use gridwarden_client_core::SyncProgress;

/// Uploads expected to end sooner than this print nothing: on a good link a
/// sync stays quiet.
const LONG_UPLOAD_MS: u64 = 5_000;

fn kilobytes(bytes: u64) -> String {
    format!("{:.0} KB", bytes as f64 / 1000.0)
}

fn duration(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3_600, (s % 3_600) / 60),
    }
}

/// The progress line of a photo upload, or `None` when it is not worth one.
pub(crate) fn photo_line(progress: &SyncProgress) -> Option<String> {
    let SyncProgress::Photo {
        sent,
        total,
        photo,
        photos,
        rate_bytes_per_s,
        left_ms,
        ..
    } = progress
    else {
        return None;
    };
    let left = (*left_ms)?;
    if left < LONG_UPLOAD_MS {
        return None;
    }
    Some(format!(
        "photo {photo} of {photos}: {} of {} at {}/s, about {} left",
        kilobytes(*sent),
        kilobytes(*total),
        kilobytes(*rate_bytes_per_s),
        duration(left)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(left_ms: Option<u64>) -> SyncProgress {
        SyncProgress::Photo {
            hash: "ab".repeat(32),
            sent: 120_000,
            total: 300_000,
            photo: 3,
            photos: 20,
            rate_bytes_per_s: 7_800,
            left_ms,
        }
    }

    #[test]
    fn a_long_upload_shows_bytes_rate_and_time_left() {
        assert_eq!(
            photo_line(&photo(Some(754_000))).unwrap(),
            "photo 3 of 20: 120 KB of 300 KB at 8 KB/s, about 12 min 34 s left"
        );
    }

    #[test]
    fn a_short_or_unmeasured_upload_prints_nothing() {
        assert_eq!(photo_line(&photo(Some(900))), None);
        assert_eq!(photo_line(&photo(None)), None);
        assert_eq!(photo_line(&SyncProgress::Connecting { attempt: 1 }), None);
    }
}
