//! Time arithmetic of the client. The clock itself is injected
//! (`gridwarden_protocol::clock`), so simulations can move it by hand.

/// A device wall-clock reading corrected by the offset to the server's clock
/// measured at the last sync, so a phone whose date is wrong still stamps its
/// ops close to the server's time.
pub fn corrected(now_ms: u64, offset_ms: i64) -> u64 {
    (now_ms as i64).saturating_sub(offset_ms).max(0) as u64
}

/// The system clock's reading, for tests.
#[cfg(test)]
pub fn now_ms() -> u64 {
    use gridwarden_protocol::clock::Clock;
    gridwarden_protocol::clock::SystemClock.now_ms()
}
