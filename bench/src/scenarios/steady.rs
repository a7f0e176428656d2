//! A city's phones through a working day (ADR 0028): N devices with their
//! app open, each keeping its QUIC connection and syncing once a period
//! (60 s; shorter under `--quick`) with a report recorded since, spread
//! evenly over the period, against the real server in its own process. The
//! round of each sync after the first (on the kept connection: no
//! handshake), the handshakes the server counted meanwhile, and its peak
//! resident memory; and, on top of that load, how long after a supervisor's
//! case step a liaison's open app has pulled it (the server's notice, no
//! polling).
//!
//! One run (a day is long): every figure is over every round of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gridwarden_client_core::case::CaseOp;
use gridwarden_client_core::{CancelToken, Client, Controls, LinkTiming, LiveEvent};
use gridwarden_protocol::Role;
use tokio::sync::mpsc;

use super::{count, progress};
use crate::context::Context;
use crate::server::Admin;
use crate::server_process::ServerProcess;
use crate::stats::{millis, percentile};
use crate::synthetic_grid::SyntheticGrid;
use crate::table::{Row, Target};

const GRID_COLUMNS: usize = 50;
const ENROLMENT_THREADS: usize = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
const CLIENT_WORKERS: usize = 2;
/// Periods each device syncs in after its first (which connects).
const PERIODS: usize = 2;
/// A supervisor's steps whose notice latency is measured.
const STEPS: usize = 20;
const QUICK_STEPS: usize = 5;
/// The longest a step's notice may take before it counts as never.
const NOTICE_BOUND: Duration = Duration::from_secs(30);
const SUPERVISOR: &str = "sam";
const LIAISON: &str = "lee";

/// The scenario's sizes: the brief's, or small for `--quick`.
fn sizes(ctx: &Context) -> (usize, Duration, usize) {
    if ctx.config.fleet_devices >= 2_000 {
        (2_000, Duration::from_secs(60), STEPS)
    } else {
        (100, Duration::from_secs(2), QUICK_STEPS)
    }
}

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let (n, period, steps) = sizes(ctx);
    let dir = ctx.dir("steady")?;
    let server_dir = dir.join("server");
    // Cell 0 is the liaison's and the supervisor's steps'; devices have 1..=n.
    let grid = SyntheticGrid::new(GRID_COLUMNS, (n + 1).div_ceil(GRID_COLUMNS));
    let admin = Admin::open(&server_dir)?;
    admin.import_grid(&grid.geojson(), "steady layer")?;
    for i in 1..=n {
        admin.add_user(&user(i), Role::Warden, &[grid.code_of(i)])?;
    }
    admin.add_user(SUPERVISOR, Role::Supervisor, &[])?;
    admin.add_user(LIAISON, Role::Liaison, &[grid.code_of(0)])?;
    let server = ServerProcess::start_with_http(&server_dir)?;
    let addr = server.addr.to_string();
    let mut names: Vec<String> = (1..=n).map(user).collect();
    names.push(SUPERVISOR.into());
    names.push(LIAISON.into());
    let codes = names
        .iter()
        .map(|name| admin.enrolment_code(name, &addr))
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(admin);
    let homes = enrol_all(&dir, &codes)?;
    let open = |home: &PathBuf| -> anyhow::Result<Client> {
        Ok(Client::open(home)?
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_kept_connection(LinkTiming::default()))
    };
    let devices: Vec<Arc<Client>> = homes[..n]
        .iter()
        .map(|h| open(h).map(Arc::new))
        .collect::<anyhow::Result<_>>()?;
    let sam = Arc::new(open(&homes[n])?);
    let lee = Arc::new(open(&homes[n + 1])?);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLIENT_WORKERS)
        .thread_name("steady")
        .enable_all()
        .build()?;
    // The supervisor's reports to step on, in the liaison's cell.
    let step_on: Vec<_> = (0..steps)
        .map(|k| sam.record_report(crate::reports::report(k, &[grid.centre_of(0)])))
        .collect::<Result<_, _>>()?;
    runtime.block_on(sam.sync_async())?;

    // The liaison's app is open: it watches its kept connection.
    let (tx, mut events) = mpsc::unbounded_channel();
    let cancel = CancelToken::new();
    let watch = runtime.spawn({
        let (lee, cancel) = (lee.clone(), cancel.clone());
        async move {
            let on_event = move |event| {
                let _ = tx.send((Instant::now(), event));
            };
            let controls = Controls {
                cancel: Some(&cancel),
                progress: None,
            };
            lee.watch_async(controls, &on_event).await
        }
    });
    match runtime.block_on(events.recv()) {
        Some((_, LiveEvent::Connected(_))) => {}
        other => anyhow::bail!("the liaison's live connection did not open: {other:?}"),
    }

    let scrape = || {
        let origin = server.http.as_deref().context("no HTTP listener")?;
        gridwarden_e2e::metrics::scrape(origin).map_err(|e| anyhow::anyhow!("/metrics: {e}"))
    };
    server.reset_peak_rss()?;
    let started = Instant::now();
    let (connected, mut connecting) = mpsc::unbounded_channel();
    let day = runtime.spawn(day(devices.clone(), grid, period, connected));
    // The first period connects everyone; the steps come after it.
    runtime.block_on(async {
        for _ in 0..n {
            connecting.recv().await;
        }
    });
    let before = scrape()?;
    let cpu_before = server.cpu_times()?;
    let mut latencies = Vec::new();
    let mut missed = 0usize;
    for (k, report) in step_on.iter().enumerate() {
        let registered = CaseOp::Register {
            note: format!("step {k}"),
        };
        sam.case_step(*report, registered)?;
        let stepped = Instant::now();
        runtime.block_on(sam.sync_async())?;
        let heard = runtime.block_on(async {
            tokio::time::timeout(NOTICE_BOUND, async {
                while let Some((at, event)) = events.recv().await {
                    if let LiveEvent::Pulled { notice, result } = event {
                        if notice.ids.contains(report) && result.is_ok() {
                            return Some(at);
                        }
                    }
                }
                None
            })
            .await
        });
        match heard {
            Ok(Some(at)) => latencies.push(at - stepped),
            _ => missed += 1,
        }
        // Spread over the steady period rather than back to back.
        runtime.block_on(async { tokio::time::sleep(period / steps as u32).await });
    }
    let rounds = runtime.block_on(day)??;
    let cpu_after = server.cpu_times()?;
    let server_system = cpu_after.1 - cpu_before.1;
    let server_cpu = cpu_after.0 - cpu_before.0 + server_system;
    let moved = gridwarden_e2e::metrics::deltas(&before, &scrape()?);
    let handshakes = ["gridwarden_connections_total", "gridwarden_connections"]
        .iter()
        .find_map(|name| moved.get(*name).copied())
        .unwrap_or(0.0);
    let peak = server.peak_rss_bytes()?;
    cancel.cancel();
    let _ = runtime.block_on(watch);
    let failed = rounds.iter().filter(|r| r.is_err()).count();
    let rounds: Vec<Duration> = rounds.into_iter().filter_map(Result::ok).collect();
    let rounds = millis(&rounds);
    let latencies = millis(&latencies);
    progress(
        "steady",
        format!(
            "{} devices, a sync each per {} s for {:.0} s: round p50 {:.1} ms p99 {:.1} ms, {failed} failed, \
             {handshakes} handshakes after the first period, peak RSS {:.0} MiB; notice p50 {:.0} ms p99 {:.0} ms, {missed} missed",
            count(n),
            period.as_secs_f64(),
            started.elapsed().as_secs_f64(),
            percentile(&rounds, 50.0),
            percentile(&rounds, 99.0),
            peak as f64 / (1024.0 * 1024.0),
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
        ),
    );
    drop(devices);
    server.stop()?;

    let syncs = (rounds.len() + failed + 2 * steps).max(1) as f64;
    let what = format!(
        "steady: {} devices on kept connections, a sync each per {} s",
        count(n),
        period.as_secs()
    );
    let one = |v: f64| vec![v];
    Ok(vec![
        Row::measured(
            format!("{what}: sync round p50"),
            "ms",
            one(percentile(&rounds, 50.0)),
        )
        .note(format!(
            "one run of {PERIODS} periods after the connecting one, each device's syncs spread \
             evenly over the period, one report recorded before each; rounds are the syncs on \
             the kept connection; all devices are in this process on {CLIENT_WORKERS} runtime threads"
        )),
        Row::measured(
            format!("{what}: sync round p99"),
            "ms",
            one(percentile(&rounds, 99.0)),
        )
        .target(Target::at_most(100.0, "≤ 100 ms")),
        Row::measured(format!("{what}: server peak RSS"), "MiB", one(peak as f64 / (1024.0 * 1024.0)))
            .target(Target::at_most(512.0, "≤ 512 MiB")),
        Row::measured(
            format!("{what}: handshakes after the first period"),
            "connections",
            one(handshakes),
        )
        .target(Target::at_most(0.0, "none: every sync on its kept connection")),
        Row::measured(
            format!("{what}: server CPU per sync"),
            "ms",
            one(server_cpu * 1000.0 / syncs),
        )
        .target(Target::at_most(0.5, "≤ 0.5 ms"))
        .note(
            "the server's user + system time from the end of the connecting period to the \
             last round, ÷ the syncs in it (the devices' rounds and the supervisor's and \
             liaison's syncs); keep-alives and notices are in the numerator",
        ),
        Row::measured(
            format!("{what}: server CPU per sync, the kernel's part"),
            "ms",
            one(server_system * 1000.0 / syncs),
        )
        .note(
            "the system time alone (datagrams sent and received, the database's writes); \
             the rest of the row above is the server's own code",
        ),
        Row::measured(format!("{what}: failed syncs"), "syncs", one(failed as f64))
            .target(Target::at_most(0.0, "none")),
        Row::measured(
            "notice: supervisor's step synced → liaison's open app pulled it, p50",
            "ms",
            one(percentile(&latencies, 50.0)),
        )
        .note(format!(
            "{} steps during the steady load; from the supervisor's sync call to the liaison's \
             pull returning, no polling; {missed} not heard within {} s",
            latencies.len() + missed,
            NOTICE_BOUND.as_secs()
        )),
        Row::measured(
            "notice: supervisor's step synced → liaison's open app pulled it, p99",
            "ms",
            one(percentile(&latencies, 99.0)),
        )
        .target(Target::at_most(2000.0, "≤ 2 s")),
    ])
}

/// Every device syncs once to connect (spread over the first period), then
/// once a period for [`PERIODS`] periods, recording a report before each;
/// the rounds after the first, or what went wrong.
async fn day(
    devices: Vec<Arc<Client>>,
    grid: SyntheticGrid,
    period: Duration,
    connected: mpsc::UnboundedSender<()>,
) -> anyhow::Result<Vec<Result<Duration, String>>> {
    let n = devices.len();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, device) in devices.into_iter().enumerate() {
        let place = grid.centre_of(i + 1);
        let offset = period.mul_f64(i as f64 / n as f64);
        let connected = connected.clone();
        tasks.spawn(async move {
            tokio::time::sleep(offset).await;
            let mut rounds = Vec::with_capacity(PERIODS);
            let start = tokio::time::Instant::now();
            for p in 0..=PERIODS {
                tokio::time::sleep_until(start + period * p as u32).await;
                let recorded = device.record_report(crate::reports::report(i + p, &[place]));
                let began = Instant::now();
                let synced = match recorded {
                    Ok(_) => device.sync_async().await.map(drop),
                    Err(e) => Err(e),
                };
                if p == 0 {
                    // The connecting sync is not a steady round.
                    let _ = connected.send(());
                    continue;
                }
                rounds.push(synced.map(|_| began.elapsed()).map_err(|e| e.to_string()));
            }
            rounds
        });
    }
    let mut all = Vec::with_capacity(n * PERIODS);
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined?);
    }
    Ok(all)
}

fn user(i: usize) -> String {
    format!("warden-{i:05}")
}

/// Enrols one device per code, a few at a time.
fn enrol_all(dir: &Path, codes: &[String]) -> anyhow::Result<Vec<PathBuf>> {
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
    Ok(homes)
}
