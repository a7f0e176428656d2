//! Wall-clock time as a value the caller owns, so client and server logic can
//! run against a controlled clock in tests (the deterministic simulation
//! moves time by hand) and against the system clock in production.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A source of wall-clock milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> u64;

    /// Time elapsed since the machine booted, counting sleep, which no one
    /// can set: the wall clock may be changed by hand or jump, this may not.
    /// `None` where the platform does not tell.
    fn since_boot(&self) -> Option<SinceBoot> {
        None
    }
}

/// A reading of the clock that only moves forward while the machine is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinceBoot {
    /// Identifies the boot: readings of different boots do not compare.
    pub boot: u64,
    pub ms: u64,
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// The machine's clock. A clock set before 1970 reads 0; the hybrid logical
/// clock then carries time forward from its last value.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    /// Linux and Android: `/proc/uptime` counts from boot including suspend
    /// (CLOCK_BOOTTIME), and the kernel's random boot id names the boot.
    fn since_boot(&self) -> Option<SinceBoot> {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
        let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
        let boot = boot_id
            .trim()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        Some(SinceBoot {
            boot,
            ms: (secs * 1000.0) as u64,
        })
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock moved by hand, for tests: a wall clock, and a time since boot
/// that moves only as time passes ([`ManualClock::advance`], or
/// [`ManualClock::set`] forward), never when the wall clock is changed by
/// hand ([`ManualClock::jump`]).
#[derive(Debug, Default)]
pub struct ManualClock {
    wall: AtomicU64,
    since_boot: AtomicU64,
    boot: AtomicU64,
}

impl ManualClock {
    pub fn new(now_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            wall: AtomicU64::new(now_ms),
            since_boot: AtomicU64::new(0),
            boot: AtomicU64::new(1),
        })
    }

    /// Sets the wall clock; moving it forward counts as time passing.
    pub fn set(&self, now_ms: u64) {
        let before = self.wall.swap(now_ms, Ordering::SeqCst);
        self.since_boot
            .fetch_add(now_ms.saturating_sub(before), Ordering::SeqCst);
    }

    /// Time passes.
    pub fn advance(&self, by_ms: u64) {
        self.wall.fetch_add(by_ms, Ordering::SeqCst);
        self.since_boot.fetch_add(by_ms, Ordering::SeqCst);
    }

    /// Someone changes the wall clock by `by_ms` (negative: back); no time
    /// passes.
    pub fn jump(&self, by_ms: i64) {
        let now = self.wall.load(Ordering::SeqCst) as i64;
        self.wall
            .store(now.saturating_add(by_ms).max(0) as u64, Ordering::SeqCst);
    }

    /// The machine restarts: the time since boot starts again.
    pub fn reboot(&self) {
        self.boot.fetch_add(1, Ordering::SeqCst);
        self.since_boot.store(0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.wall.load(Ordering::SeqCst)
    }

    fn since_boot(&self) -> Option<SinceBoot> {
        Some(SinceBoot {
            boot: self.boot.load(Ordering::SeqCst),
            ms: self.since_boot.load(Ordering::SeqCst),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(500);
        assert_eq!(c.now_ms(), 1_500);
        c.set(10);
        assert_eq!(c.now_ms(), 10);
        assert!(SystemClock.now_ms() > 1_700_000_000_000);
    }

    #[test]
    fn changing_a_manual_wall_clock_by_hand_does_not_move_its_time_since_boot() {
        let c = ManualClock::new(1_000);
        c.advance(500);
        c.jump(-10_000);
        c.jump(3_000_000);
        assert_eq!(c.since_boot().unwrap().ms, 500);
        c.reboot();
        assert_eq!(c.since_boot().unwrap(), SinceBoot { boot: 2, ms: 0 });
    }

    #[test]
    fn the_system_clock_counts_time_since_boot_where_the_platform_tells() {
        if let Some(a) = SystemClock.since_boot() {
            let b = SystemClock.since_boot().unwrap();
            assert_eq!(a.boot, b.boot);
            assert!(b.ms >= a.ms);
        }
    }
}
