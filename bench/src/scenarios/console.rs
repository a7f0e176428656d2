//! The supervisor console's server time (issue 18): a city's year of cases
//! over a 100 × 100 synthetic grid, stored through the real `Service::push`
//! (reports from a warden's device, a third of them registered by a
//! supervisor's), then the console's own calls as its HTTP handlers make
//! them: the queue's first page under several filters (p99 of each run),
//! a year's KPI table, and the whole city's map data in bytes.

use std::time::Instant;

use gridwarden_protocol::case::CaseOp;
use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::{
    Enroll, Hlc, Location, NewReport, Op, OpBody, Push, ReportOp, Role, PROTOCOL_VERSION,
};
use gridwarden_server::config::ConsoleSection;
use gridwarden_server::console::kpi::KpiParams;
use gridwarden_server::console::queue::QueueParams;
use gridwarden_server::console::{auth, Console};
use gridwarden_server::service::Session;
use gridwarden_server::{admin, DataDir, Limits};
use uuid::Uuid;

use super::{count, progress};
use crate::context::Context;
use crate::stats::percentile;
use crate::synthetic_grid::SyntheticGrid;
use crate::table::{Row, Target};

const BATCH: usize = 5_000;
const PASSWORD: &str = "a bench passphrase";

fn device(data: &DataDir, user: &str, role: Role) -> anyhow::Result<Session> {
    admin::add_user(data, user, role, vec![])?;
    let secret = data.service.new_enrolment_secret(user)?;
    let enroll = Enroll {
        protocol_version: PROTOCOL_VERSION,
        secret,
        device_label: "bench".into(),
    };
    Ok(data.service.enroll(&enroll)?.0)
}

fn push(data: &DataDir, session: &Session, ops: Vec<Op>) -> anyhow::Result<()> {
    let ack = data.service.push(session, Push { ops })?;
    if let Some(r) = ack
        .results
        .iter()
        .find(|r| !matches!(r.outcome, gridwarden_protocol::Outcome::Applied))
    {
        anyhow::bail!("a seeding op was not applied: {:?}", r.outcome);
    }
    Ok(())
}

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let cases = ctx.config.console_cases;
    let side = ctx.config.grid_side;
    let dir = ctx.dir("console")?;
    let data = DataDir::open(&dir, Limits::default())?;
    let grid = SyntheticGrid::new(side, side);
    let cells = grid.cells();
    gridwarden_server::grid::add_layer(
        data.store().as_ref(),
        "synthetic",
        &cells,
        data.service.now(),
    )?;
    let ann = device(&data, "ann", Role::Warden)?;
    let sam = device(&data, "sam", Role::Supervisor)?;
    let started = Instant::now();
    let categories = ["0101", "0102", "1102", "1101"];
    let mut ids = Vec::with_capacity(cases);
    for chunk in (0..cases).collect::<Vec<_>>().chunks(BATCH) {
        let now = data.service.now() as u64;
        let ops = chunk
            .iter()
            .map(|&i| {
                let (lon, lat) = grid.centre_of(i % grid.len());
                let id = Uuid::now_v7();
                ids.push(id);
                Op {
                    op_id: Uuid::now_v7(),
                    hlc: Hlc::new(now, 0, node_id(ann.device_id)),
                    body: OpBody::Report {
                        report_id: id,
                        op: ReportOp::Create(NewReport {
                            category: categories[i % categories.len()].into(),
                            location: Location {
                                lon,
                                lat,
                                accuracy_m: None,
                            },
                            address: None,
                            asset: None,
                            note: format!("bench report {i}"),
                            observed_at_ms: now as i64,
                            patrol: None,
                        }),
                    },
                }
            })
            .collect();
        push(&data, &ann, ops)?;
    }
    for chunk in ids.iter().step_by(3).collect::<Vec<_>>().chunks(BATCH) {
        let now = data.service.now() as u64;
        let ops = chunk
            .iter()
            .map(|&&report_id| Op {
                op_id: Uuid::now_v7(),
                hlc: Hlc::new(now, 0, node_id(sam.device_id)),
                body: OpBody::Case {
                    report_id,
                    op: CaseOp::Register {
                        note: "立案".into(),
                    },
                },
            })
            .collect();
        push(&data, &sam, ops)?;
    }
    progress(
        "console",
        format!(
            "{} cases over {} cells stored in {:.1} s",
            count(cases),
            count(grid.len()),
            started.elapsed().as_secs_f64()
        ),
    );

    auth::set_password(&data.service, "sam", PASSWORD, "bench")?;
    let console = Console::new(data.service.clone(), ConsoleSection::default(), false);
    let (_, user) = console.sign_in("sam", PASSWORD, "bench")?;
    let started = Instant::now();
    console.queue(&user, &QueueParams::default())?;
    progress(
        "console",
        format!(
            "queue index filled in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
    );
    let cell = SyntheticGrid::code(side / 2, side / 2);
    let filters: Vec<QueueParams> = vec![
        QueueParams::default(),
        QueueParams {
            status: Some("registered".into()),
            sort: Some("deadline".into()),
            ..QueueParams::default()
        },
        QueueParams {
            cell: Some(cell.clone()),
            ..QueueParams::default()
        },
        QueueParams {
            street: Some(cell[..9].to_owned()),
            subclass: Some("1102".into()),
            ..QueueParams::default()
        },
        QueueParams {
            q: Some("report 12".into()),
            ..QueueParams::default()
        },
        QueueParams {
            overdue: Some("1".into()),
            sort: Some("cell".into()),
            ..QueueParams::default()
        },
    ];
    let (mut page_p99, mut kpi_ms) = (Vec::new(), Vec::new());
    for run in 1..=ctx.config.runs {
        let mut times = Vec::new();
        for _ in 0..5 {
            for f in &filters {
                let t = Instant::now();
                console.queue(&user, f)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let p99 = percentile(&times, 99.0);
        let t = Instant::now();
        let year = KpiParams {
            by: Some("grid".into()),
            ..KpiParams::default()
        };
        let mut year = year;
        let today = gridwarden_server::console::time::local_day(data.service.now(), 480);
        let tomorrow =
            gridwarden_workflow::Date::from_days(today.days_since_epoch() + 1).to_string();
        let last_year =
            gridwarden_workflow::Date::from_days(today.days_since_epoch() - 364).to_string();
        year.from = Some(last_year);
        year.to = Some(tomorrow);
        console.kpi_table(&user, &year)?;
        let k = t.elapsed().as_secs_f64() * 1e3;
        progress(
            "console",
            format!("run {run}: first page p99 {p99:.1} ms, KPI for a year {k:.1} ms"),
        );
        page_p99.push(p99);
        kpi_ms.push(k);
    }
    let map = serde_json::to_vec(&console.grid_geojson(&user)?)?;
    // On the wire: gzip, as the listener sends it to a browser.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &map)?;
    let map_bytes = gz.finish()?.len() as f64;
    let markers = serde_json::to_vec(&console.markers(&user, &QueueParams::default())?)?.len();
    Ok(vec![
        Row::measured(
            format!(
                "console: the queue's first page, {} cases, any filter (p99)",
                count(cases)
            ),
            "ms",
            page_p99,
        )
        .target(Target::at_most(100.0, "≤ 100 ms p99"))
        .note("server time of Console::queue, 6 filters × 5 per run"),
        Row::measured(
            format!("console: KPI table for a year, {} cases", count(cases)),
            "ms",
            kpi_ms,
        )
        .target(Target::at_most(300.0, "≤ 300 ms")),
        Row::measured(
            format!(
                "console: the whole city's map data, {} cells",
                count(grid.len())
            ),
            "bytes",
            vec![map_bytes],
        )
        .target(Target::at_most(2_000_000.0, "≤ 2 MB"))
        .note(format!(
            "GeoJSON gzipped ({} bytes before); the markers of every case are {} bytes more before gzip",
            crate::table::grouped(map.len() as i64),
            crate::table::grouped(markers as i64)
        )),
    ])
}
