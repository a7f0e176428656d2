//! Record a report on the device, offline: `Client::record_report` on an
//! enrolled device with its reference data cached and the server stopped —
//! validation, category check, the offline grid-cell guess, one transaction
//! writing the report and its outbox op. Baseline: one plain SQLite
//! transaction inserting the same report row and outbox row.

use std::time::Instant;

use gridwarden_client_core::Client;
use gridwarden_protocol::Role;

use super::{count, progress};
use crate::context::{Context, WARDEN};
use crate::device;
use crate::raw_sqlite;
use crate::server;
use crate::stats::{millis, percentile};
use crate::table::{Row, Target};

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let per_run = ctx.config.record_reports;
    let dir = ctx.dir("record")?;
    let home = dir.join("device");
    let places = {
        let mut server = server::start(&dir.join("server"))?;
        let admin = server::admin_of(&server)?;
        let cells = admin.cells_with_points(2)?;
        let codes: Vec<String> = cells.iter().map(|(c, _)| c.clone()).collect();
        admin.add_user(WARDEN, Role::Warden, &codes)?;
        device::enrol(
            &home,
            &admin.enrolment_code(WARDEN, &server.addr.to_string())?,
        )?;
        server.stop();
        cells.into_iter().map(|(_, p)| p).collect::<Vec<_>>()
    };
    let client = Client::open(&home)?;
    let (mut p50, mut p99, mut raw_p50, mut raw_p99) = (vec![], vec![], vec![], vec![]);
    let (mut full_p50, mut full_p99, mut stored_p50, mut stored_p99) =
        (vec![], vec![], vec![], vec![]);
    // Each of these waits for a flash sync: fewer of them.
    let synced_per_run = per_run.clamp(1, 200);
    for run in 1..=ctx.config.runs {
        let mut times = Vec::with_capacity(per_run);
        for i in 0..per_run {
            let report = crate::reports::report(run * per_run + i, &places);
            let started = Instant::now();
            client.record_report(report)?;
            times.push(started.elapsed());
        }
        // Until the report is on the storage: the window a power cut can
        // lose (the background log sync after each commit).
        let mut stored = Vec::with_capacity(synced_per_run);
        for i in 0..synced_per_run {
            let report = crate::reports::report((run + ctx.config.runs) * per_run + i, &places);
            let started = Instant::now();
            client.record_report(report)?;
            client.flush_to_storage();
            stored.push(started.elapsed());
        }
        let raw = raw_sqlite::device_record(
            &home,
            &ctx.dir(&format!("record-raw-{run}"))?,
            per_run,
            "NORMAL",
        )?;
        let full = raw_sqlite::device_record(
            &home,
            &ctx.dir(&format!("record-full-{run}"))?,
            synced_per_run,
            "FULL",
        )?;
        let (full, stored) = (millis(&full), millis(&stored));
        full_p50.push(percentile(&full, 50.0));
        full_p99.push(percentile(&full, 99.0));
        stored_p50.push(percentile(&stored, 50.0));
        stored_p99.push(percentile(&stored, 99.0));
        let (ours, raw) = (millis(&times), millis(&raw));
        p50.push(percentile(&ours, 50.0));
        p99.push(percentile(&ours, 99.0));
        raw_p50.push(percentile(&raw, 50.0));
        raw_p99.push(percentile(&raw, 99.0));
        progress(
            "record",
            format!(
                "run {run}: p50 {:.3} ms, p99 {:.3} ms; plain SQLite p50 {:.3} ms, p99 {:.3} ms",
                p50[run - 1],
                p99[run - 1],
                raw_p50[run - 1],
                raw_p99[run - 1]
            ),
        );
    }
    let raw_p50_again = raw_p50.clone();
    let raw_label =
        |q: &str| format!("plain SQLite: report row + outbox row in one transaction, {q}");
    Ok(vec![
        Row::measured("record a report on the device: p50", "ms", p50)
            .baseline(raw_label("p50"), raw_p50.clone())
            .note(format!(
                "{} reports per run into a device that keeps them (the store grows by as many \
                 each run), server stopped",
                count(per_run)
            )),
        Row::measured("record a report on the device: p99", "ms", p99)
            .baseline(raw_label("p99"), raw_p99.clone())
            .target(Target::at_most(1.0, "≤ 1 ms")),
        Row::measured(
            "power cuts: the same plain transaction with synchronous=FULL (not chosen): p50",
            "ms",
            full_p50,
        )
        .baseline(raw_label("p50, synchronous=NORMAL"), raw_p50_again)
        .note(format!(
            "an fsync inside every commit, on the warden's time ({} per run)",
            count(synced_per_run)
        )),
        Row::measured(
            "power cuts: the same plain transaction with synchronous=FULL (not chosen): p99",
            "ms",
            full_p99,
        )
        .baseline(raw_label("p99, synchronous=NORMAL"), raw_p99),
        Row::measured(
            "power cuts: a recorded report on the storage (NORMAL + background log sync): p50",
            "ms",
            stored_p50,
        )
        .note(
            "record_report, then flush_to_storage: what a power cut can lose is the reports of \
             this window (ADR 0026)",
        ),
        Row::measured(
            "power cuts: a recorded report on the storage (NORMAL + background log sync): p99",
            "ms",
            stored_p99,
        ),
    ])
}
