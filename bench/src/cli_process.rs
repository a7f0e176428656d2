//! `gridwarden` (the field client's command line) in a fresh process: this
//! binary re-executes itself with [`CHILD_ENV`] set and runs the CLI's own
//! entry point (`gridwarden_cli::run`), nothing else, so a whole-process
//! figure needs no second binary built.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Set in the environment of a child that should be the CLI.
pub const CHILD_ENV: &str = "GRIDWARDEN_BENCH_RUN_CLI";

/// If this process was started as the CLI, runs it and exits.
pub fn run_if_child() {
    if std::env::var_os(CHILD_ENV).is_some() {
        std::process::exit(gridwarden_cli::run(std::env::args_os()));
    }
}

/// Runs `gridwarden --home HOME --json ARGS…` in a fresh process; returns
/// its stdout and the time from spawning it to its exit.
pub fn run(home: &Path, args: &[&str]) -> anyhow::Result<(String, Duration)> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let output = crate::malloc::as_shipped(&mut Command::new(exe))
        .env(CHILD_ENV, "1")
        .arg("--home")
        .arg(home)
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("starting the CLI process")?;
    let took = started.elapsed();
    if !output.status.success() {
        bail!(
            "gridwarden {} exited with {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok((String::from_utf8(output.stdout)?, took))
}
