//! Push ingest: one device pushes N recorded reports to the server over
//! QUIC; records per second from dialling the server to the last ack
//! committed on the device. Baselines: the same rows inserted by plain
//! SQLite into the server's schema (the physical limit of this store), and
//! PouchDB replicating the same reports to a PouchDB server.

use gridwarden_client_core::sync::engine::MAX_PUSH_OPS;
use gridwarden_server::datadir::DB_FILE;

use super::{count, progress};
use crate::context::Context;
use crate::device::{Device, Until};
use crate::peer::{Batch, Peer};
use crate::raw_sqlite;
use crate::server;
use crate::table::{Row, Target};

/// Transactions of the plain-SQLite baseline: a push's worth (the client
/// pushes `MAX_PUSH_OPS` ops per request, each committed before its ack),
/// and all rows at once. The faster one is the baseline.
const BASELINE_BATCHES: [usize; 2] = [MAX_PUSH_OPS, usize::MAX];

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let n = ctx.config.push_reports;
    let prepared = ctx.prepared(n)?;
    let mut ours = Vec::new();
    let mut raw = Vec::new();
    for run in 1..=ctx.config.runs {
        let copy = ctx.copy_of(&prepared, &format!("push-{run}"))?;
        let mut server = server::start(&copy.server_dir)?;
        let mut device = Device::open(&copy.device_home)?;
        let trace = device.sync(&server.addr.to_string(), server.fingerprint, Until::Pushed)?;
        server.stop();
        anyhow::ensure!(
            trace.pushed == n as u64,
            "pushed {} of {n} reports",
            trace.pushed
        );
        let rate = n as f64 / trace.push_time.as_secs_f64();
        ours.push(rate);

        let raw_dir = ctx.dir(&format!("push-raw-{run}"))?;
        let fastest = BASELINE_BATCHES
            .iter()
            .enumerate()
            .map(|(i, &batch)| {
                raw_sqlite::server_ingest(
                    &copy.server_dir.join(DB_FILE),
                    &raw_dir.join(format!("raw-{i}.db")),
                    batch,
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .min()
            .expect("two batch sizes");
        let raw_rate = n as f64 / fastest.as_secs_f64();
        raw.push(raw_rate);
        progress(
            "push",
            format!(
                "run {run}: {:.0} records/s in {:.2} s; plain SQLite {:.0} rows/s",
                rate,
                trace.push_time.as_secs_f64(),
                raw_rate
            ),
        );
    }
    let mut row = Row::measured(
        format!("push ingest: one device pushes {} reports", count(n)),
        "records/s",
        ours,
    )
    .baseline(
        "plain SQLite: the same rows into the server schema, batched",
        raw,
    )
    .target(Target::at_least(100_000.0, "≥ 100,000 and ≥ 50 % of plain SQLite").with_min_ratio(0.5))
    .note(format!(
        "from dialling the server to the last ack committed on the device, {MAX_PUSH_OPS} ops per push; \
         the baseline inserts the server's own stored rows (reports and applied op ids, \
         WAL, synchronous=FULL) in transactions of {MAX_PUSH_OPS} rows or all at once, the faster"
    ));
    for batch in Batch::BOTH {
        let peer_runs = peer_push(ctx, &prepared.places, batch)?;
        row = row.baseline(
            format!(
                "PouchDB peer: {} docs replicated to express-pouchdb, {}",
                count(ctx.config.peer_docs),
                batch.label()
            ),
            peer_runs,
        );
    }
    Ok(vec![row, super::process::run(ctx)?])
}

/// PouchDB push rates (docs/s), one per run; none without a peer.
fn peer_push(ctx: &mut Context, places: &[(f64, f64)], batch: Batch) -> anyhow::Result<Vec<f64>> {
    if ctx.peer.is_none() {
        progress("push", format!("no PouchDB peer: {}", ctx.peer_missing));
        return Ok(Vec::new());
    }
    let file = ctx.dir("peer-push")?.join("reports.jsonl");
    Peer::write_reports(&file, ctx.config.peer_docs, places)?;
    let runs = ctx.config.runs;
    let peer = ctx.peer.as_mut().expect("checked");
    let mut rates = Vec::new();
    for run in 1..=runs {
        let (_, replication) = peer.push(&file, false, batch)?;
        progress(
            "push",
            format!(
                "PouchDB ({batch:?}) run {run}: {:.0} docs/s",
                replication.docs_per_second()
            ),
        );
        rates.push(replication.docs_per_second());
    }
    Ok(rates)
}
