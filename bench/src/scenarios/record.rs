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
    for run in 1..=ctx.config.runs {
        let mut times = Vec::with_capacity(per_run);
        for i in 0..per_run {
            let report = crate::reports::report(run * per_run + i, &places);
            let started = Instant::now();
            client.record_report(report)?;
            times.push(started.elapsed());
        }
        let raw =
            raw_sqlite::device_record(&home, &ctx.dir(&format!("record-raw-{run}"))?, per_run)?;
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
    let raw_label =
        |q: &str| format!("plain SQLite: report row + outbox row in one transaction, {q}");
    Ok(vec![
        Row::measured("record a report on the device: p50", "ms", p50)
            .baseline(raw_label("p50"), raw_p50)
            .note(format!(
                "{} reports per run into a device that keeps them (the store grows by as many \
                 each run), server stopped",
                count(per_run)
            )),
        Row::measured("record a report on the device: p99", "ms", p99)
            .baseline(raw_label("p99"), raw_p99)
            .target(Target::at_most(1.0, "≤ 1 ms")),
    ])
}
