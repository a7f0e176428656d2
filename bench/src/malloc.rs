//! The harness's own heap: thousands of in-process devices, opened and
//! dropped scenario after scenario, in one process on glibc.
//!
//! glibc serves an allocation above its mmap threshold with a mapping of
//! its own, returned to the system when freed, but raises that threshold to
//! the size of each such block freed (up to 32 MiB). After the first
//! device's connection closes, every later device's megabyte-sized buffers
//! come from the heap instead: written over, kept resident, and kept by the
//! allocator after the devices are dropped. The fleet's 2,000 devices left
//! 8 GiB resident, and the whole harness was killed for memory (24 GiB).
//! Measured on `--quick --only fleet --only steady`: 835 MiB peak with the
//! threshold moving, 136 MiB with it fixed at 1 MiB.
//!
//! Setting it needs `mallopt` (unsafe, forbidden here) or glibc's
//! environment variable before the process starts, so the harness starts
//! itself again with the variable set. Its children (the server, the CLI)
//! run without it, as shipped.

use std::process::Command;

/// glibc's variable for a fixed mmap threshold, in bytes.
const THRESHOLD_ENV: &str = "MALLOC_MMAP_THRESHOLD_";
/// Large enough that a pull page's buffers stay in the heap as before.
const THRESHOLD_BYTES: &str = "1048576";

/// On glibc, unless the threshold is already fixed: runs this same command
/// again with it fixed, and exits with that run's status.
pub fn fix_threshold_or_rerun() {
    if !cfg!(all(target_os = "linux", target_env = "gnu"))
        || std::env::var_os(THRESHOLD_ENV).is_some()
    {
        return;
    }
    let status = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(THRESHOLD_ENV, THRESHOLD_BYTES)
            .status()
    });
    match status {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => eprintln!("could not start again with {THRESHOLD_ENV} set ({e}); going on"),
    }
}

/// Removes the setting from a child's environment: the server and the
/// CLI run with the allocator as shipped.
pub fn as_shipped(command: &mut Command) -> &mut Command {
    command.env_remove(THRESHOLD_ENV)
}

/// This process's resident memory now, in MiB (`None` off Linux).
pub fn own_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
