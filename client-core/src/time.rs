//! Wall-clock access in one place.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 for a clock set before 1970, which
/// the HLC then carries forward from its last value.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The device's time corrected by the offset to the server's clock measured
/// at the last sync, so a phone whose date is wrong still stamps its ops
/// close to the server's time.
pub fn corrected_now_ms(offset_ms: i64) -> u64 {
    (now_ms() as i64).saturating_sub(offset_ms).max(0) as u64
}
