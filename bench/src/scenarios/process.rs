//! The whole process, as a user runs it (part of the `push` scenario):
//! `gridwarden sync` of N recorded reports from a fresh process — start-up,
//! opening the device's store, dialling the server, the push, the pull of
//! what the device lacks (the server's cells and the cases), closing —
//! timed from spawning it to its exit. The CLI is this binary re-executed
//! (`cli_process`), which adds its larger start-up to ours, not PouchDB's.
//! Baseline: PouchDB's whole replication of the same docs to its server by
//! a fresh node process (node's start-up, loading PouchDB, the
//! replication), with `batch_size` 1,000 as its users set it.

use super::{count, progress};
use crate::cli_process;
use crate::context::Context;
use crate::peer::{Batch, Peer};
use crate::server;
use crate::table::{Row, Target};

/// How much faster than the tuned peer the issue asks the whole sync to be.
const TARGET_RATIO: f64 = 20.0;

pub fn run(ctx: &mut Context) -> anyhow::Result<Row> {
    let n = ctx.config.process_reports;
    let prepared = ctx.prepared(n)?;
    let mut ours = Vec::new();
    for run in 1..=ctx.config.runs {
        let copy = ctx.copy_of(&prepared, &format!("process-{run}"))?;
        // On the address the device was enrolled with: the CLI dials it.
        let mut server = server::start_on(&copy.server_dir, copy.addr)?;
        let (out, took) = cli_process::run(&copy.device_home, &["sync"])?;
        server.stop();
        let summary: serde_json::Value = serde_json::from_str(out.trim())
            .map_err(|e| anyhow::anyhow!("`gridwarden --json sync` printed {out:?}: {e}"))?;
        anyhow::ensure!(
            summary["pushed"].as_u64() == Some(n as u64),
            "`gridwarden sync` pushed {} of {n}",
            summary["pushed"]
        );
        progress(
            "push",
            format!(
                "whole process run {run}: `gridwarden sync` of {n} in {:.3} s",
                took.as_secs_f64()
            ),
        );
        ours.push(took.as_secs_f64());
    }
    let peer = peer_whole(ctx, &prepared.places, n)?;
    Ok(Row::measured(
        format!(
            "whole process: `gridwarden sync` of {} reports from a fresh process",
            count(n)
        ),
        "s",
        ours,
    )
    .baseline(
        format!(
            "PouchDB peer: a fresh node process replicates the same {} docs, {}",
            count(n),
            Batch::Tuned.label()
        ),
        peer,
    )
    .target(Target::ratio_at_most(
        1.0 / TARGET_RATIO,
        "≥ 20× faster than tuned PouchDB",
    ))
    .note(
        "spawn to exit of each process; ours pushes and then pulls what the device lacks, \
         PouchDB's only pushes",
    ))
}

/// Seconds of PouchDB's whole-process replication, one per run; none
/// without a peer.
fn peer_whole(ctx: &mut Context, places: &[(f64, f64)], n: usize) -> anyhow::Result<Vec<f64>> {
    if ctx.peer.is_none() {
        progress("push", format!("no PouchDB peer: {}", ctx.peer_missing));
        return Ok(Vec::new());
    }
    let file = ctx.dir("peer-process")?.join("reports.jsonl");
    Peer::write_reports(&file, n, places)?;
    let runs = ctx.config.runs;
    let peer = ctx.peer.as_mut().expect("checked");
    let mut seconds = Vec::new();
    for run in 1..=runs {
        let took = peer.whole_push(&file, Batch::Tuned)?;
        progress(
            "push",
            format!("PouchDB whole process run {run}: {took:.3} s"),
        );
        seconds.push(took);
    }
    Ok(seconds)
}
