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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwarden_client_core::Client;
use gridwarden_protocol::Role;

use super::{count, progress};
use crate::context::Context;
use crate::server::Admin;
use crate::server_process::ServerProcess;
use crate::stats::{millis, percentile};
use crate::synthetic_grid::SyntheticGrid;
use crate::table::{Row, Target};

/// Columns of the fleet's layer; rows follow from the device count.
const GRID_COLUMNS: usize = 50;
/// Devices enrolling at the same time while setting up.
const ENROLMENT_THREADS: usize = 8;
/// A device under a burst of 2,000 handshakes must not give up early.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Client runtime threads: the machine's two cores.
const CLIENT_WORKERS: usize = 2;

struct FleetDevice {
    client: Client,
    /// Where this device's warden records: the centre of their cell.
    place: (f64, f64),
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
    let server = ServerProcess::start(&server_dir)?;
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
    let mut failure_example = None;
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
        let t0 = Instant::now();
        let results = runtime.block_on(sync_all(&devices));
        let all_done = t0.elapsed();
        let peak = server.peak_rss_bytes()?;
        let mut rounds = Vec::new();
        let mut failed = 0;
        for result in results {
            match result {
                Ok((took, pushed)) if pushed == per_device as u64 => rounds.push(took),
                Ok((_, pushed)) => {
                    failed += 1;
                    failure_example.get_or_insert(format!("pushed {pushed} of {per_device}"));
                }
                Err(e) => {
                    failed += 1;
                    failure_example.get_or_insert(e);
                }
            }
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
                "run {run}: all done in {:.2} s, round p50 {:.0} ms p99 {:.0} ms, server peak RSS {:.0} MiB, {failed} failed",
                all_done.as_secs_f64(),
                p50[run - 1],
                p99[run - 1],
                mib(peak)
            ),
        );
    }
    drop(devices);
    server.stop()?;

    let what = format!(
        "fleet: {} devices sync at once, {per_device} reports each",
        count(n)
    );
    let mut failed_row = Row::measured(
        format!("{what}: devices whose sync failed"),
        "devices",
        failures,
    )
    .target(Target::at_most(0.0, "all done"));
    if let Some(example) = failure_example {
        failed_row = failed_row.note(format!("first failure: {example}"));
    }
    Ok(vec![
        Row::measured(format!("{what}: all done in"), "s", completion).note(
            "every device is a `Client` with its own home and QUIC connection, all in this \
             process on 2 runtime threads (their CPU competes with the server's on the 2 cores); \
             the server is `gridwarden-server serve` in its own process",
        ),
        Row::measured(format!("{what}: sync round p50"), "ms", p50),
        Row::measured(format!("{what}: sync round p99"), "ms", p99)
            .target(Target::at_most(1000.0, "≤ 1 s")),
        Row::measured(format!("{what}: server peak RSS"), "MiB", rss)
            .target(Target::at_most(512.0, "≤ 512 MiB"))
            .note("VmHWM of the server process, reset before each run's syncs"),
        failed_row,
    ])
}

fn user(i: usize) -> String {
    format!("warden-{i:05}")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Enrols one device per code, a few at a time, and opens them all.
fn enrol_all(
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

/// Starts every device's sync at once; each result is its round time and
/// how many ops it pushed, or what went wrong.
async fn sync_all(devices: &[Arc<FleetDevice>]) -> Vec<Result<(Duration, u64), String>> {
    let mut syncs = tokio::task::JoinSet::new();
    for device in devices {
        let device = device.clone();
        syncs.spawn(async move {
            let started = Instant::now();
            let summary = device
                .client
                .sync_async()
                .await
                .map_err(|e| e.to_string())?;
            Ok((started.elapsed(), summary.pushed + summary.duplicates))
        });
    }
    let mut results = Vec::with_capacity(devices.len());
    while let Some(joined) = syncs.join_next().await {
        results.push(joined.unwrap_or_else(|e| Err(format!("the sync task failed: {e}"))));
    }
    results
}
