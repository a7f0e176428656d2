//! PostgreSQL beside SQLite, in the same run (docs/benchmarks.md,
//! "PostgreSQL"; docs/scale.md sizes a province from these rows): push
//! ingest, initial pull and the fleet with the records in PostgreSQL, each
//! beside the same measurement on the embedded SQLite store and beside plain
//! batched inserts into the same PostgreSQL; then the fleet served by two
//! server processes on one database.
//!
//! The database is a throwaway cluster (`gridwarden_server::store::postgres::
//! cluster`, as the tests start it) with its durability turned back on
//! (fsync, synchronous commit), as SQLite runs with synchronous=FULL. Every server, on either store, is `gridwarden-server
//! serve` in a process of its own, so both stores meet the same set-up; a
//! PostgreSQL server's data directory is a copy of the SQLite one moved with
//! `migrate`. Without PostgreSQL the scenario prints a notice and its row
//! says skipped; under `CI=true` that is a failure.

use gridwarden_client_core::sync::engine::MAX_PUSH_OPS;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gridwarden_protocol::Role;
use gridwarden_server::datadir::StoreLocation;
use gridwarden_server::store::postgres::cluster::{Cluster, ClusterError};
use gridwarden_server::tls;

use super::fleet::{enrol_all, sync_all, user, CLIENT_WORKERS, GRID_COLUMNS, RUN_BUDGET};
use super::{count, progress};
use crate::context::{Context, Prepared, WARDEN};
use crate::device::{self, Device, Until};
use crate::raw_postgres::Plain;
use crate::server::Admin;
use crate::server_process::ServerProcess;
use crate::synthetic_grid::SyntheticGrid;
use crate::table::{Row, Target};

const NAME: &str = "postgres";
/// Transactions of the plain-insert baseline of a push: a push's worth
/// (`MAX_PUSH_OPS` ops per request) and all rows at once; the faster one is
/// the baseline.
const BASELINE_BATCHES: [usize; 2] = [MAX_PUSH_OPS, usize::MAX];

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let cluster = match Cluster::start() {
        Ok(cluster) => cluster,
        Err(e @ ClusterError::Missing) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("notice: skipping the PostgreSQL benchmark: {e}");
            return Ok(vec![Row::missing(
                "PostgreSQL beside SQLite",
                "",
                format!("skipped: {e}"),
            )]);
        }
        Err(e) => return Err(anyhow::anyhow!("no PostgreSQL cluster: {e}")),
    };
    let settings = Plain::connect(&cluster.url("postgres"))?.make_durable()?;
    anyhow::ensure!(
        settings.contains("fsync=on") && settings.contains("synchronous_commit=on"),
        "the cluster stayed without durability: {settings}"
    );
    progress(NAME, format!("a throwaway cluster with {settings}"));
    let mut rows = ingest(ctx, &cluster)?;
    rows.extend(fleet(ctx, &cluster)?);
    Ok(rows)
}

/// Push ingest and initial pull, on each store, run by run.
fn ingest(ctx: &mut Context, cluster: &Cluster) -> anyhow::Result<Vec<Row>> {
    let n = ctx.config.push_reports;
    let prepared = ctx.prepared(n)?;
    let page = gridwarden_client_core::sync::engine::PULL_MAX_RECORDS as usize;
    let (mut push_sqlite, mut push_pg, mut push_plain) = (vec![], vec![], vec![]);
    let (mut pull_sqlite, mut pull_pg, mut pull_plain) = (vec![], vec![], vec![]);
    let mut stored_bytes = vec![];
    for run in 1..=ctx.config.runs {
        let copy = ctx.copy_of(&prepared, &format!("pg-sqlite-{run}"))?;
        let (push, pull) = push_then_pull(ctx, &copy, None)?;
        push_sqlite.push(push);
        pull_sqlite.push(pull);

        let copy = ctx.copy_of(&prepared, &format!("pg-postgres-{run}"))?;
        let url = cluster.database();
        gridwarden_server::admin::to_postgres::to_postgres(&copy.server_dir, &url)?;
        let (push, pull) = push_then_pull(ctx, &copy, Some(&url))?;
        push_pg.push(push);
        pull_pg.push(pull);

        let plain = Plain::connect(&url)?;
        anyhow::ensure!(plain.count_reports()? == n as u64, "the push stored {n}");
        stored_bytes.push(plain.bytes_per_report()?);
        let mut fastest = Duration::MAX;
        for batch in BASELINE_BATCHES {
            let (rows, took) = plain.ingest(batch)?;
            anyhow::ensure!(rows == n, "the baseline copied {rows} of {n} rows");
            fastest = fastest.min(took);
        }
        push_plain.push(n as f64 / fastest.as_secs_f64());
        let (read, took) = plain.read_pages(page)?;
        anyhow::ensure!(read == n, "the baseline read {read} of {n} rows");
        pull_plain.push(n as f64 / took.as_secs_f64());
        progress(
            NAME,
            format!(
                "run {run}: push {:.0} records/s on PostgreSQL, {:.0} on SQLite, plain inserts \
                 {:.0} rows/s; pull {:.0} records/s on PostgreSQL, {:.0} on SQLite, plain reads \
                 {:.0} rows/s",
                push_pg[run - 1],
                push_sqlite[run - 1],
                push_plain[run - 1],
                pull_pg[run - 1],
                pull_sqlite[run - 1],
                pull_plain[run - 1]
            ),
        );
    }
    let same_run = "the same device and reports against a server on the embedded SQLite store, \
                    same run";
    Ok(vec![
        Row::measured(
            format!(
                "PostgreSQL push ingest: one device pushes {} reports",
                count(n)
            ),
            "records/s",
            push_pg,
        )
        .baseline(format!("SQLite: {same_run}"), push_sqlite)
        .baseline(
            "plain PostgreSQL: the same rows into tables of the same definition, batched",
            push_plain.clone(),
        )
        .note(format!(
            "from dialling the server to the last ack committed on the device, {MAX_PUSH_OPS} ops \
             per push; the server is `serve --store postgres://…` in its own process on a durable \
             throwaway cluster (fsync and synchronous commit on); the plain baseline sends the \
             stored report and applied-op rows as one INSERT per transaction of {MAX_PUSH_OPS} \
             reports or all at once (the faster), into `LIKE … INCLUDING ALL` copies of the tables",
        )),
        Row::measured(
            format!(
                "PostgreSQL initial pull: a new device pulls {} reports",
                count(n)
            ),
            "records/s",
            pull_pg,
        )
        .baseline(format!("SQLite: {same_run}"), pull_sqlite)
        .baseline(
            format!("plain PostgreSQL: the same rows read in pages of {page}, feed order"),
            pull_plain,
        )
        .baseline(
            "plain PostgreSQL: batched inserts of those rows (the push's baseline)",
            push_plain,
        )
        .note(
            "from dialling the server to the last page committed on the device; most of a \
             pull is the device's SQLite writing the pages, the same on either server store",
        ),
        Row::measured(
            "PostgreSQL storage per report (after the push)",
            "bytes",
            stored_bytes,
        )
        .note(
            "the `reports` and `applied_ops` tables with their indexes and TOAST, divided by \
             the reports; these reports carry no photos",
        ),
    ])
}

/// One device pushes the prepared reports to a server on `url` (or on the
/// embedded store), then a new device of the warden pulls them all: the
/// push rate and the pull rate, in records per second.
fn push_then_pull(
    ctx: &mut Context,
    copy: &Prepared,
    url: Option<&str>,
) -> anyhow::Result<(f64, f64)> {
    let n = copy.reports;
    let store = url.map_or(StoreLocation::Embedded, |u| {
        StoreLocation::Postgres(u.to_owned())
    });
    let args: Vec<&str> = url.map_or(vec![], |u| vec!["--store", u]);
    let server = ServerProcess::start_with_args(&copy.server_dir, &args)?;
    let fingerprint = tls::load_or_create(&copy.server_dir)?.fingerprint();
    let addr = server.addr.to_string();
    let trace = Device::open(&copy.device_home)?.sync(&addr, fingerprint, Until::Pushed)?;
    anyhow::ensure!(
        trace.pushed == n as u64,
        "pushed {} of {n} reports",
        trace.pushed
    );
    let push = n as f64 / trace.push_time.as_secs_f64();
    let home = ctx.dir("pg-pull-device")?;
    let admin = Admin::open_on(&copy.server_dir, &store)?;
    device::enrol(&home, &admin.enrolment_code(WARDEN, &addr)?)?;
    drop(admin);
    let trace = Device::open(&home)?.sync(&addr, fingerprint, Until::Done)?;
    anyhow::ensure!(
        trace.pulled == n as u64,
        "pulled {} of {n} reports",
        trace.pulled
    );
    server.stop()?;
    Ok((push, n as f64 / trace.total_time.as_secs_f64()))
}

/// What the runs of one fleet set-up measured.
struct FleetRuns {
    completion: Vec<f64>,
    /// Reports pushed per second of the whole fleet's round.
    throughput: Vec<f64>,
    failed: Vec<f64>,
    /// Reports recorded on the devices that the store does not hold.
    lost: f64,
}

fn fleet(ctx: &mut Context, cluster: &Cluster) -> anyhow::Result<Vec<Row>> {
    let n = ctx.config.pg_fleet_devices;
    let per_device = ctx.config.fleet_reports;
    let sqlite = fleet_on(ctx, "sqlite", None, 1)?;
    let one_url = cluster.database();
    let one = fleet_on(ctx, "postgres-1", Some(&one_url), 1)?;
    // Plain inserts of the rows the one-process fleet stored, a device's
    // push (one transaction) at a time.
    let plain = Plain::connect(&one_url)?;
    let mut plain_rates = Vec::new();
    for _ in 0..ctx.config.runs {
        let (rows, took) = plain.ingest(per_device)?;
        plain_rates.push(rows as f64 / took.as_secs_f64());
    }
    drop(plain);
    let two = fleet_on(ctx, "postgres-2", Some(&cluster.database()), 2)?;

    let what = format!(
        "PostgreSQL fleet: {} devices sync at once, {per_device} reports each",
        count(n)
    );
    let same_run = "the same fleet against one server process on the embedded SQLite store, \
                    same run";
    let failed = |label: &str, runs: &FleetRuns| {
        Row::measured(
            format!("{what}, {label}: devices whose sync failed"),
            "devices",
            runs.failed.clone(),
        )
        .target(Target::at_most(0.0, "all done"))
    };
    let lost = |label: &str, runs: &FleetRuns| {
        Row::measured(
            format!("{what}, {label}: reports lost over all runs"),
            "reports",
            vec![runs.lost],
        )
        .target(Target::at_most(0.0, "none lost"))
    };
    Ok(vec![
        Row::measured(
            format!("{what}, one process: all done in"),
            "s",
            one.completion.clone(),
        )
        .baseline(format!("SQLite: {same_run}"), sqlite.completion.clone())
        .note(format!(
            "every device a `Client` with its own home and QUIC connection, in this process on \
             {CLIENT_WORKERS} runtime threads; servers are `serve` processes; a run's budget is \
             {} s",
            RUN_BUDGET.as_secs()
        )),
        Row::measured(
            format!("{what}, one process: throughput"),
            "reports/s",
            one.throughput.clone(),
        )
        .baseline(format!("SQLite: {same_run}"), sqlite.throughput.clone())
        .baseline(
            format!(
                "plain PostgreSQL: the fleet's stored rows into tables of the same definition, \
                 {per_device} reports a transaction"
            ),
            plain_rates,
        )
        .note("reports pushed by the whole fleet divided by the time until every device was done (each also pulls back its own)"),
        failed("one process", &one),
        lost("one process", &one),
        Row::measured(
            format!("{what}, two processes on one database: all done in"),
            "s",
            two.completion.clone(),
        )
        .baseline("one process on PostgreSQL, same run", one.completion.clone()),
        Row::measured(
            format!("{what}, two processes on one database: aggregate throughput"),
            "reports/s",
            two.throughput.clone(),
        )
        .baseline("one process on PostgreSQL, same run", one.throughput)
        .note(
            "half the devices enrolled through each process (`serve --store … --server-id 1|2`, \
             the same certificate); both processes, the devices and PostgreSQL share the \
             machine's cores",
        ),
        failed("two processes", &two),
        lost("two processes", &two),
        failed("SQLite, one process", &sqlite),
    ])
}

/// Sets up `processes` server processes on one store (`url`, or a data
/// directory's embedded store when `None`), enrols the fleet spread over
/// them, and runs the fleet's rounds.
fn fleet_on(
    ctx: &mut Context,
    name: &str,
    url: Option<&str>,
    processes: usize,
) -> anyhow::Result<FleetRuns> {
    let n = ctx.config.pg_fleet_devices;
    let per_device = ctx.config.fleet_reports;
    let dir = ctx.dir(&format!("pg-fleet-{name}"))?;
    let started = Instant::now();
    let dirs: Vec<PathBuf> = (1..=processes)
        .map(|p| dir.join(format!("server-{p}")))
        .collect();
    let store = url.map_or(StoreLocation::Embedded, |u| {
        StoreLocation::Postgres(u.to_owned())
    });
    let grid = SyntheticGrid::new(GRID_COLUMNS, n.div_ceil(GRID_COLUMNS));
    let admin = Admin::open_on(&dirs[0], &store)?;
    admin.import_grid(&grid.geojson(), "fleet layer")?;
    for i in 0..n {
        admin.add_user(&user(i), Role::Warden, &[grid.code_of(i)])?;
    }
    for other in &dirs[1..] {
        share_certificate(&dirs[0], other)?;
    }
    let servers = dirs
        .iter()
        .enumerate()
        .map(|(p, d)| {
            let id = (p + 1).to_string();
            let mut args = vec!["--server-id", &id];
            if let Some(url) = url {
                args.extend(["--store", url]);
            }
            ServerProcess::start_with_args(d, &args)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let codes = (0..n)
        .map(|i| admin.enrolment_code(&user(i), &servers[i % processes].addr.to_string()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let devices = enrol_all(&dir, &codes, &grid)?;
    progress(
        NAME,
        format!(
            "fleet {name}: {} devices enrolled over {processes} process(es) in {:.1} s",
            count(n),
            started.elapsed().as_secs_f64()
        ),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLIENT_WORKERS)
        .thread_name("pg-fleet")
        .enable_all()
        .build()?;
    let mut runs = FleetRuns {
        completion: vec![],
        throughput: vec![],
        failed: vec![],
        lost: 0.0,
    };
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
        let t0 = Instant::now();
        let results = runtime.block_on(sync_all(&devices, RUN_BUDGET));
        let all_done = t0.elapsed().as_secs_f64();
        let failed = results
            .iter()
            .filter(|(_, r)| !matches!(r, Ok(pushed) if *pushed >= per_device as u64))
            .count();
        runs.completion.push(all_done);
        runs.throughput.push((n * per_device) as f64 / all_done);
        runs.failed.push(failed as f64);
        progress(
            NAME,
            format!(
                "fleet {name} run {run}: all done in {all_done:.2} s, {:.0} reports/s, {failed} failed",
                runs.throughput[run - 1]
            ),
        );
    }
    // Whatever a failed round left in an outbox is sent now, so "lost"
    // counts only what the servers dropped.
    let last = runtime.block_on(sync_all(&devices, RUN_BUDGET));
    let unsynced = last.iter().filter(|(_, r)| r.is_err()).count();
    let expected = n * per_device * ctx.config.runs;
    let stored = admin.data().store().reports(false)?.len();
    runs.lost = expected.saturating_sub(stored) as f64;
    progress(
        NAME,
        format!(
            "fleet {name}: {stored} of {expected} reports stored after one more sync each \
             ({unsynced} of those failed)"
        ),
    );
    drop(devices);
    drop(runtime);
    drop(admin);
    for server in servers {
        server.stop()?;
    }
    remove_devices(&dir);
    Ok(runs)
}

/// Gives `other` the certificate of `first`: phones pin one certificate
/// whichever process answers (docs/scale.md).
fn share_certificate(first: &Path, other: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(other)?;
    for file in [tls::CERT_FILE, tls::KEY_FILE] {
        std::fs::copy(first.join(file), other.join(file))?;
    }
    Ok(())
}

/// The fleet's device homes take most of its disk; they are not needed
/// once the runs are measured.
fn remove_devices(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join("devices"));
}
