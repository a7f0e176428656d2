//! A city's fleet at once: N devices, each a real `Client` with its own home
//! and its own QUIC connection, record 20 reports each and then all sync at
//! the same moment (push and pull) against the real server running as a
//! process of its own. Completion time, each device's sync round (from the
//! call to `Client::sync_async` to its return: connect, hello, push, pull,
//! close), and the server process's peak resident memory (VmHWM, reset
//! before each run), which is the server alone.
//!
//! Each device is a warden of one cell of its own in a synthetic layer of N
//! cells and records in it, so each pulls back what it pushed, as a warden's
//! phone does.
//!
//! A run has a time budget: a device still syncing when it runs out counts
//! as failed and the run ends, so a server that cannot keep up shows as
//! failures in the table instead of a harness that never finishes. A failed
//! device's round counts in the percentiles with the time it took to fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use gridwarden_client_core::Client;
use gridwarden_protocol::Role;

use super::{count, progress};
use crate::context::Context;
use crate::server::Admin;
use crate::server_process::{own_cpu_seconds, ServerProcess};
use crate::stats::{millis, percentile};
use crate::synthetic_grid::SyntheticGrid;
use crate::table::{Row, Target};

/// Columns of the fleet's layer; rows follow from the device count.
pub(crate) const GRID_COLUMNS: usize = 50;
/// Devices enrolling at the same time while setting up.
const ENROLMENT_THREADS: usize = 8;
/// A device under a burst of 2,000 handshakes must not give up early.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Client runtime threads: the machine's two cores.
pub(crate) const CLIENT_WORKERS: usize = 2;
/// Every device's sync of one run must end within this.
pub(crate) const RUN_BUDGET: Duration = Duration::from_secs(180);
/// Distinct failure messages kept for the table's note.
const FAILURE_KINDS_SHOWN: usize = 3;

pub(crate) struct FleetDevice {
    pub(crate) client: Client,
    /// Where this device's warden records: the centre of their cell.
    pub(crate) place: (f64, f64),
}

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let n = ctx.config.fleet_devices;
    let per_device = ctx.config.fleet_reports;
    let dir = ctx.dir("fleet")?;
    let started = Instant::now();
    let server_dir = dir.join("server");
    let grid = SyntheticGrid::new(GRID_COLUMNS, n.div_ceil(GRID_COLUMNS));
    let admin = Admin::open(&server_dir)?;
    admin.import_grid(&grid.geojson(), "fleet layer")?;
    for i in 0..n {
        admin.add_user(&user(i), Role::Warden, &[grid.code_of(i)])?;
    }
    let server = ServerProcess::start_with_http(&server_dir)?;
    let addr = server.addr.to_string();
    let codes = (0..n)
        .map(|i| admin.enrolment_code(&user(i), &addr))
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(admin);
    let devices = enrol_all(&dir, &codes, &grid)?;
    progress(
        "fleet",
        format!(
            "{} devices enrolled in {:.1} s (server pid {}, peak RSS so far {:.0} MiB)",
            count(n),
            started.elapsed().as_secs_f64(),
            server.pid(),
            mib(server.peak_rss_bytes()?)
        ),
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLIENT_WORKERS)
        .thread_name("fleet")
        .enable_all()
        .build()?;
    let (mut completion, mut p50, mut p99, mut rss, mut failures) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut server_cpu, mut devices_cpu) = (vec![], vec![]);
    let mut failure_kinds: BTreeMap<String, usize> = BTreeMap::new();
    for run in 1..=ctx.config.runs {
        for (i, device) in devices.iter().enumerate() {
            for k in 0..per_device {
                let report = crate::reports::report(run * per_device + k, &[device.place]);
                device
                    .client
                    .record_report(report)
                    .map_err(|e| anyhow::anyhow!("device {i} could not record: {e}"))?;
            }
        }
        server.reset_peak_rss()?;
        let cpu_before = (server.cpu_seconds()?, own_cpu_seconds()?);
        let scrape = || {
            let origin = server.http.as_deref().context("no HTTP listener")?;
            gridwarden_e2e::metrics::scrape(origin).map_err(|e| anyhow::anyhow!("/metrics: {e}"))
        };
        let metrics_before = scrape()?;
        let t0 = Instant::now();
        let results = runtime.block_on(sync_all(&devices, RUN_BUDGET));
        let all_done = t0.elapsed();
        // What the server's own counters saw of the run (docs/operations.md).
        let moved = gridwarden_e2e::metrics::deltas(&metrics_before, &scrape()?);
        let moved: Vec<String> = moved.iter().map(|(k, v)| format!("{k} +{v}")).collect();
        progress(
            "fleet",
            format!("run {run}: /metrics moved: {}", moved.join(", ")),
        );
        let peak = server.peak_rss_bytes()?;
        server_cpu.push(server.cpu_seconds()? - cpu_before.0);
        devices_cpu.push(own_cpu_seconds()? - cpu_before.1);
        let mut rounds = Vec::new();
        let mut failed = 0;
        for (took, result) in results {
            rounds.push(took);
            // A sync cut by the previous run's budget may push that run's
            // ops again (as duplicates): at least this run's must go.
            let why = match result {
                Ok(pushed) if pushed >= per_device as u64 => continue,
                Ok(pushed) => format!("pushed {pushed} of {per_device}"),
                Err(e) => e,
            };
            failed += 1;
            *failure_kinds.entry(why).or_default() += 1;
        }
        let rounds = millis(&rounds);
        completion.push(all_done.as_secs_f64());
        p50.push(percentile(&rounds, 50.0));
        p99.push(percentile(&rounds, 99.0));
        rss.push(mib(peak));
        failures.push(failed as f64);
        progress(
            "fleet",
            format!(
                "run {run}: all done in {:.2} s, round p50 {:.0} ms p99 {:.0} ms, server peak RSS {:.0} MiB, {failed} failed; CPU: server {:.1} s, devices {:.1} s",
                all_done.as_secs_f64(),
                p50[run - 1],
                p99[run - 1],
                mib(peak),
                server_cpu[run - 1],
                devices_cpu[run - 1]
            ),
        );
    }
    drop(devices);
    server.stop()?;

    let what = format!(
        "fleet: {} devices sync at once, {per_device} reports each",
        count(n)
    );
    let per_sync: Vec<f64> = server_cpu.iter().map(|s| s * 1000.0 / n as f64).collect();
    let herd = herd_ratios(&completion, &server_cpu, &devices_cpu);
    let mut failed_row = Row::measured(
        format!("{what}: devices whose sync failed"),
        "devices",
        failures,
    )
    .target(Target::at_most(0.0, "all done"));
    if !failure_kinds.is_empty() {
        let mut kinds: Vec<_> = failure_kinds.into_iter().collect();
        kinds.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let shown: Vec<String> = kinds
            .iter()
            .take(FAILURE_KINDS_SHOWN)
            .map(|(why, n)| format!("{n}× {why}"))
            .collect();
        failed_row = failed_row.note(format!("over all runs: {}", shown.join("; ")));
    }
    Ok(vec![
        Row::measured(format!("{what}: all done in"), "s", completion).note(format!(
            "every device is a `Client` with its own home and QUIC connection, all in this \
             process on 2 runtime threads (their CPU competes with the server's on the 2 cores); \
             the server is `gridwarden-server serve` in its own process; a run's budget is {} s, \
             a device not done by then counts as failed",
            RUN_BUDGET.as_secs()
        )),
        Row::measured(format!("{what}: sync round p50"), "ms", p50),
        Row::measured(format!("{what}: sync round p99"), "ms", p99)
            .target(Target::at_most(1000.0, "≤ 1 s")),
        Row::measured(format!("{what}: server peak RSS"), "MiB", rss)
            .target(Target::at_most(512.0, "≤ 512 MiB"))
            .note("VmHWM of the server process, reset before each run's syncs"),
        failed_row,
        Row::measured(format!("{what}: server CPU time"), "s", server_cpu).note(
            "user + system time of the server process during the run's syncs; with the \
             devices' row below, against 2 cores × the completion time, it shows whether \
             the run was short of CPU or waiting",
        ),
        Row::measured(format!("{what}: devices' CPU time"), "s", devices_cpu),
        Row::measured(
            format!("{what}: server CPU per device sync"),
            "ms",
            per_sync,
        )
        .target(Target::at_most(0.5, "≤ 0.5 ms"))
        .note(
            "the server's CPU time over the run ÷ the devices: every sync of this row opens \
             a connection (a TLS handshake each); the steady row is the same on kept connections",
        ),
        Row::measured(
            format!("{what}: all done in, ÷ the two cores' bound"),
            "×",
            herd,
        )
        .target(Target::at_most(1.2, "≤ 1.2× (server + devices' CPU ÷ 2)"))
        .note(
            "the time the run took ÷ the shortest it could take on two cores, all the CPU \
             both sides used divided by two: near 1 the run is short of CPU, above it it waits",
        ),
    ])
}

pub(crate) fn user(i: usize) -> String {
    format!("warden-{i:05}")
}

/// Each run's completion ÷ the CPU both sides used over two cores.
fn herd_ratios(completion: &[f64], server: &[f64], devices: &[f64]) -> Vec<f64> {
    completion
        .iter()
        .zip(server.iter().zip(devices))
        .map(|(took, (s, d))| took / ((s + d) / 2.0).max(f64::EPSILON))
        .collect()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Enrols one device per code, a few at a time, and opens them all.
pub(crate) fn enrol_all(
    dir: &Path,
    codes: &[String],
    grid: &SyntheticGrid,
) -> anyhow::Result<Vec<Arc<FleetDevice>>> {
    let homes: Vec<PathBuf> = (0..codes.len())
        .map(|i| dir.join("devices").join(format!("{i:05}")))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..ENROLMENT_THREADS)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= codes.len() {
                            return Ok(());
                        }
                        crate::device::enrol(&homes[i], &codes[i])?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("an enrolment thread panicked"))
            .collect::<anyhow::Result<Vec<()>>>()
    })?;
    homes
        .iter()
        .enumerate()
        .map(|(i, home)| {
            Ok(Arc::new(FleetDevice {
                client: Client::open(home)?.with_connect_timeout(CONNECT_TIMEOUT),
                place: grid.centre_of(i),
            }))
        })
        .collect()
}

/// Starts every device's sync at once; for each, how long its round took
/// and how many ops it pushed, or what went wrong. Syncs still running when
/// `budget` has passed are dropped (their connections close) and fail.
pub(crate) async fn sync_all(
    devices: &[Arc<FleetDevice>],
    budget: Duration,
) -> Vec<(Duration, Result<u64, String>)> {
    let deadline = tokio::time::Instant::now() + budget;
    let mut syncs = tokio::task::JoinSet::new();
    for device in devices {
        let device = device.clone();
        syncs.spawn(async move {
            let started = Instant::now();
            let result = match tokio::time::timeout_at(deadline, device.client.sync_async()).await {
                Ok(Ok(summary)) => Ok(summary.pushed + summary.duplicates),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("not done within the {} s budget", budget.as_secs())),
            };
            (started.elapsed(), result)
        });
    }
    let mut results = Vec::with_capacity(devices.len());
    while let Some(joined) = syncs.join_next().await {
        results
            .push(joined.unwrap_or_else(|e| (budget, Err(format!("the sync task failed: {e}")))));
    }
    results
}
