//! A whole city's grid (issue 20), on a layer from the project's generator
//! (`gridwarden_grid::synth::StreetGrid`: street-following cells of 100
//! vertices): the import of the layer from its GeoJSON file, a warden's
//! first grid download over a bad link, the whole-city display view in
//! bytes, the server's memory with the layer loaded, and assignment
//! against the real-shaped layer.
//!
//! Each run imports into a fresh data directory and serves it from a
//! server process of its own (`server_process.rs`), so the memory figure is
//! the server's alone. The bad link is the e2e suite's UDP relay with 2 %
//! loss each way and 40 ms each way (a phone on a weak cellular signal).

use std::hint::black_box;
use std::time::{Duration, Instant};

use gridwarden_client_core::Client;
use gridwarden_e2e::relay::{Direction, Relay};
use gridwarden_grid::synth::StreetGrid;
use gridwarden_grid::GridIndex;
use gridwarden_protocol::{codec, FetchCells, Role, ServerMessage};
use gridwarden_server::service::Session;

use super::{count, progress};
use crate::context::Context;
use crate::server::Admin;
use crate::server_process::ServerProcess;
use crate::synthetic_grid::SplitMix64;
use crate::table::{Row, Target};

const LOSS: f64 = 0.02;
const ONE_WAY: Duration = Duration::from_millis(40);
/// The console's budget for the whole-city view.
const CITY_VIEW_BUDGET: f64 = 2.0 * 1024.0 * 1024.0;
/// Import and serve a 50,000-cell city at most this many times.
const MAX_RUNS: usize = 3;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let (cells, vertices) = (ctx.config.city_cells, ctx.config.city_vertices);
    let dir = ctx.dir("city")?;
    let city = StreetGrid::city(cells, vertices, 2026);
    let file = dir.join("city.geojson");
    let started = Instant::now();
    city.write_geojson(std::fs::File::create(&file)?)?;
    progress(
        "city",
        format!(
            "{} cells of {vertices} vertices written in {:.1} s, {:.0} MB of GeoJSON",
            count(cells),
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&file)?.len() as f64 / 1e6
        ),
    );
    // A warden covering a 3 × 4 block in the middle of the city.
    let (cols, rows) = (city.cols(), cells / city.cols());
    let own: Vec<String> = (0..3)
        .flat_map(|dc| (0..4).map(move |dr| (dc, dr)))
        .filter_map(|(dc, dr)| city.index_at(cols / 2 + dc, rows / 2 + dr))
        .map(StreetGrid::code)
        .collect();

    let (mut import_s, mut warden_s, mut warden_kb, mut view_mib, mut rss_mib) =
        (vec![], vec![], vec![], vec![], vec![]);
    let runs = ctx.config.runs.min(MAX_RUNS);
    for run in 1..=runs {
        let data_dir = dir.join(format!("server-{run}"));
        let admin = Admin::open(&data_dir)?;
        let started = Instant::now();
        let summary = gridwarden_server::admin::import_grid_from(
            admin.data(),
            std::fs::File::open(&file)?,
            "city",
            &gridwarden_grid::CodePattern::default_15(),
            false,
        )?;
        let imported = started.elapsed().as_secs_f64();
        anyhow::ensure!(summary.cells == cells, "imported {} cells", summary.cells);
        admin.add_user("wanda", Role::Warden, &own)?;
        let view = city_view_bytes(&admin)?;
        drop(admin);

        let server = ServerProcess::start(&data_dir)?;
        let relay = Relay::start(server.addr, run as u64);
        relay.set_loss(LOSS);
        relay.set_delay(ONE_WAY);
        let admin = Admin::open(&data_dir)?;
        let code = admin.enrolment_code("wanda", &relay.addr().to_string())?;
        let home = dir.join(format!("wanda-{run}"));
        let started = Instant::now();
        // Enrolment fetches the reference data and the warden's cells.
        crate::device::enrol(&home, &code)?;
        let downloaded = started.elapsed().as_secs_f64();
        let bytes = relay.stats(Direction::ToClient).forwarded_bytes;
        let wanda = Client::open(&home)?;
        let (held, _) = wanda.grid_cells_held()?;
        // A report, so the server builds its assignment index too.
        let [lon, lat] = city.inside(cells / 2);
        wanda.record_report(crate::reports::report(run, &[(lon, lat)]))?;
        wanda.sync()?;
        let rss = server.rss_bytes()?;
        progress(
            "city",
            format!(
                "run {run}: import {imported:.1} s; warden's first download {} cells, {:.0} KB in {downloaded:.2} s over the bad link; \
                 whole-city view {:.2} MiB; server RSS {:.0} MiB",
                held.len(),
                bytes as f64 / 1e3,
                mib(view),
                mib(rss)
            ),
        );
        drop(relay);
        server.stop()?;
        import_s.push(imported);
        warden_s.push(downloaded);
        warden_kb.push(bytes as f64 / 1e3);
        view_mib.push(mib(view));
        rss_mib.push(mib(rss));
    }

    let assign = assignment_rates(&city, ctx.config.grid_points, runs);
    let size = format!("{} cells × {vertices} vertices", count(cells));
    Ok(vec![
        Row::measured(
            format!("import of a {size} layer (GeoJSON file, streamed)"),
            "s",
            import_s,
        )
        .note("parse, check, simplify 3 display levels, store; published in one transaction"),
        Row::measured(
            "a warden's first grid download (12 cells + neighbours), bad link",
            "s",
            warden_s,
        )
        .note("enrolment included; relay with 2 % loss and 40 ms each way"),
        Row::measured("  its bytes towards the device", "KB", warden_kb)
            .note("UDP payload counted by the relay: handshake, category table and cells"),
        Row::measured(format!("whole-city display view ({size})"), "MiB", view_mib)
            .target(Target::at_most(
                CITY_VIEW_BUDGET / (1024.0 * 1024.0),
                "≤ 2 MB for the console",
            ))
            .note("every CellPage frame a city-wide device receives"),
        Row::measured("server RSS with the layer loaded", "MiB", rss_mib)
            .note("after the warden's download and a push: catalog and assignment index built"),
        Row::measured(
            format!("grid assignment against the {size} layer, one core"),
            "points/s",
            assign,
        )
        .target(Target::at_least(1_000_000.0, "≥ 1,000,000 per core")),
    ])
}

/// Bytes of every page a city-wide device receives, framed as on the wire.
fn city_view_bytes(admin: &Admin) -> anyhow::Result<u64> {
    let session = Session {
        device_id: uuid::Uuid::nil(),
        user: "sam".into(),
        role: Role::Supervisor,
        cells: vec![],
        remote: None,
        seen_noted_ms: None,
    };
    let service = &admin.data().service;
    let mut fetch = FetchCells {
        layer_version: 0,
        scope_tag: 0,
        since_version: None,
        after: None,
        max_bytes: 1024 * 1024,
    };
    let mut bytes = 0u64;
    loop {
        let page = service.fetch_cells(&session, fetch.clone())?;
        let (version, tag, next) = (page.layer_version, page.scope_tag, page.next.clone());
        bytes += 4 + codec::encode(&ServerMessage::CellPage(page)).len() as u64;
        let Some(next) = next else {
            return Ok(bytes);
        };
        fetch.layer_version = version;
        fetch.scope_tag = tag;
        fetch.after = Some(next);
    }
}

/// Points per second of `GridIndex::assign` over the city, pseudo-random
/// points in its box (a tenth outside it).
fn assignment_rates(city: &StreetGrid, points: usize, runs: usize) -> Vec<f64> {
    let index = GridIndex::new(city.iter().collect());
    let (lo, hi) = (city.inside(0), city.inside(city.cells - 1));
    let mut random = SplitMix64(0x5EED);
    let pts: Vec<(f64, f64)> = (0..points)
        .map(|_| {
            (
                lo[0] + (hi[0] - lo[0]) * (random.unit() * 1.1 - 0.05),
                lo[1] + (hi[1] - lo[1]) * (random.unit() * 1.1 - 0.05),
            )
        })
        .collect();
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            let found = pts
                .iter()
                .filter(|&&(x, y)| black_box(index.assign(x, y)).code().is_some())
                .count();
            black_box(found);
            pts.len() as f64 / started.elapsed().as_secs_f64()
        })
        .collect()
}
