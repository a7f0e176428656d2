//! A whole city's grid (issue 20): a layer of thousands of street-following
//! cells imported from a streamed file, each device holding the part its
//! user needs, paged and resumable, then only what changed.
//!
//! The default run uses a 2,500-cell city of 100-vertex cells, which keeps
//! the debug build's run short on two cores; `a_50000_cell_city` runs the
//! same checks on the full size (ignored by default, see
//! docs/benchmarks.md for its timings).

use std::collections::BTreeSet;

use gridwarden_client_core::{CellGuess, Client, Location};
use gridwarden_e2e::raw::hello_as;
use gridwarden_e2e::relay::Relay;
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_grid::synth::StreetGrid;
use gridwarden_grid::{CodePattern, GridIndex};
use gridwarden_protocol::grid::CellCoverage;
use gridwarden_protocol::{ClientMessage, FetchCells, Role, ServerMessage};

#[test]
fn a_city_of_thousands_of_cells_reaches_each_device_in_the_part_it_needs() {
    city_scenario(2_500);
}

#[test]
#[ignore = "the issue's full 50,000-cell city: minutes in a debug build; run with --ignored (release: see docs/benchmarks.md)"]
fn a_50000_cell_city() {
    city_scenario(50_000);
}

fn loc([lon, lat]: [f64; 2]) -> Location {
    Location {
        lon,
        lat,
        accuracy_m: Some(5.0),
    }
}

fn city_scenario(cells: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let city = StreetGrid::city(cells, 100, 20);
    let file = tmp.path().join("city.geojson");
    city.write_geojson(std::fs::File::create(&file).unwrap())
        .unwrap();
    let summary = gridwarden_server::admin::import_grid_from(
        &server.admin(),
        std::fs::File::open(&file).unwrap(),
        "city",
        &CodePattern::default_15(),
        false,
    )
    .unwrap();
    assert_eq!(summary.cells, cells);

    // A warden covering a 3 × 4 block of cells in the middle of the city.
    let cols = city.cols();
    let rows = cells / cols;
    let (c0, r0) = (cols / 2, rows / 2);
    let own: Vec<usize> = (0..3)
        .flat_map(|dc| (0..4).map(move |dr| (c0 + dc, r0 + dr)))
        .map(|(c, r)| city.index_at(c, r).unwrap())
        .collect();
    let own_codes: Vec<String> = own.iter().map(|&i| StreetGrid::code(i)).collect();
    let own_refs: Vec<&str> = own_codes.iter().map(String::as_str).collect();
    server.add_user("wanda", Role::Warden, &own_refs);
    server.add_user("sam", Role::Supervisor, &[]);

    let wanda = server.enrol(&tmp.path().join("wanda"), "wanda");
    let first = wanda.sync().unwrap();
    let (held, whole) = wanda.grid_cells_held().unwrap();
    assert!(!whole);
    let held: BTreeSet<String> = held.into_iter().collect();
    // Her cells and every neighbour (the ring around the block)…
    for dc in -1..=3i64 {
        for dr in -1..=4i64 {
            let i = city
                .index_at((c0 as i64 + dc) as usize, (r0 as i64 + dr) as usize)
                .unwrap();
            assert!(held.contains(&StreetGrid::code(i)), "cell {i} missing");
        }
    }
    // …and nothing beyond the next ring: not the city.
    for code in &held {
        let i = (0..cells).find(|&i| &StreetGrid::code(i) == code).unwrap();
        let (c, r) = city.position(i);
        assert!(
            c + 2 >= c0 && c <= c0 + 4 && r + 2 >= r0 && r <= r0 + 5,
            "{code} is far from her cells"
        );
    }
    assert!(held.len() <= 7 * 8, "{} cells", held.len());
    eprintln!(
        "warden's first sync: {} cells held, {} bytes received",
        held.len(),
        first.bytes_received
    );

    // Offline, she places a report in her cell and one beyond her cells.
    let mine = own[5];
    let id_mine = wanda
        .record_report(report_at("0101", loc(city.inside(mine)), "mine"))
        .unwrap();
    assert_eq!(
        wanda.show_report(id_mine).unwrap().local_cell.as_deref(),
        Some(StreetGrid::code(mine).as_str())
    );
    let far = city.index_at(1, 1).unwrap();
    let [fx, fy] = city.inside(far);
    assert_eq!(wanda.grid_guess(fx, fy).unwrap(), CellGuess::OutsideHeld);
    assert_eq!(
        CellGuess::OutsideHeld.to_string(),
        "outside the cells on this device"
    );
    let id_far = wanda
        .record_report(report_at("0101", loc([fx, fy]), "far"))
        .unwrap();
    assert_eq!(wanda.show_report(id_far).unwrap().local_cell, None);

    // A supervisor's device holds the whole city, as display shapes.
    let sam = server.enrol(&tmp.path().join("sam"), "sam");
    let sam_first = sam.sync().unwrap();
    let (sam_held, sam_whole) = sam.grid_cells_held().unwrap();
    assert!(sam_whole);
    assert_eq!(sam_held.len(), cells);
    eprintln!(
        "supervisor's first sync: {cells} display shapes, {} bytes received",
        sam_first.bytes_received
    );
    assert_eq!(
        sam.grid_guess(fx, fy).unwrap(),
        CellGuess::Cell(StreetGrid::code(far))
    );

    // Re-import with 100 cells changed: 10 of them in her part.
    let mut changed: Vec<usize> = own[..4].to_vec();
    let ring = [
        city.index_at(c0 - 1, r0).unwrap(),
        city.index_at(c0 + 3, r0 + 3).unwrap(),
    ];
    changed.extend(ring);
    let neighbourly: BTreeSet<usize> = changed.iter().copied().collect();
    let mut k = 0;
    while changed.len() < 100 {
        let i = (k * 7919) % cells;
        k += 1;
        if !changed.contains(&i) && !held.contains(&StreetGrid::code(i)) {
            changed.push(i);
        }
    }
    let revised = city.revised(2, changed.clone());
    gridwarden_server::admin::import_grid(
        &server.admin(),
        &revised.geojson(),
        "city r2",
        &CodePattern::default_15(),
        false,
    )
    .unwrap();
    let second = wanda.sync().unwrap();
    assert_eq!(second.grid_cells, neighbourly.len() as u64);
    let sam_second = sam.sync().unwrap();
    assert_eq!(sam_second.grid_cells, 100);
    // Nothing more at the sync after.
    assert_eq!(wanda.sync().unwrap().grid_cells, 0);
    assert_eq!(sam.sync().unwrap().grid_cells, 0);
    eprintln!(
        "after 100 changed cells: warden {} bytes, supervisor {} bytes",
        second.bytes_received, sam_second.bytes_received
    );

    // Every report lands in the cell the full geometry says, on the server:
    // points at block centres and points a few metres from the streets.
    let full = GridIndex::new(revised.iter().collect());
    let mut expected = vec![
        (id_mine, Some(StreetGrid::code(mine))),
        (id_far, Some(StreetGrid::code(far))),
    ];
    for n in 0..60usize {
        let i = (n * 104_729) % cells;
        let [x, y] = city.inside(i);
        // Towards the cell's south-west corner, near two streets.
        let p = if n % 2 == 0 {
            [x, y]
        } else {
            let corner = revised.cell(i);
            let sw = corner.geometry.0[0].exterior().0[1];
            [sw.x + (x - sw.x) * 0.06, sw.y + (y - sw.y) * 0.06]
        };
        let id = sam
            .record_report(report_at("0101", loc(p), &format!("r{n}")))
            .unwrap();
        expected.push((id, full.assign(p[0], p[1]).code().map(str::to_owned)));
    }
    wanda.sync().unwrap();
    sam.sync().unwrap();
    let data = server.admin();
    for (id, cell) in expected {
        let state = data.store().report(id).unwrap().unwrap();
        assert_eq!(state.grid_cell().map(str::to_owned), cell, "report {id}");
    }
}

/// Pages resume after a cut: a download stopped after its first page and
/// taken up on a new connection from the last code applied gives the same
/// cells as one made in a single go.
#[test]
fn a_download_cut_after_a_page_resumes_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let city = StreetGrid::city(400, 100, 3);
    gridwarden_server::admin::import_grid(
        &server.admin(),
        &city.geojson(),
        "city",
        &CodePattern::default_15(),
        false,
    )
    .unwrap();
    server.add_user("sam", Role::Supervisor, &[]);
    let fetch = |raw: &gridwarden_e2e::raw::Raw, req: &FetchCells| match raw
        .request(&ClientMessage::FetchCells(req.clone()))
        .unwrap()
    {
        ServerMessage::CellPage(p) => p,
        other => panic!("{other:?}"),
    };
    let (raw, _) = hello_as(&server, "sam", &tmp.path().join("sam"));
    let mut req = FetchCells {
        layer_version: 0,
        scope_tag: 0,
        since_version: None,
        after: None,
        max_bytes: 8 * 1024,
    };
    let first = fetch(&raw, &req);
    assert!(first.reset);
    assert_eq!(first.coverage, CellCoverage::WholeDisplay);
    assert!(first.next.is_some() && !first.shapes.is_empty());
    let mut codes: Vec<String> = first.shapes.iter().map(|s| s.code.clone()).collect();
    drop(raw);

    // A new connection (the phone came out of the underpass).
    let (raw, _) = hello_as(&server, "sam", &tmp.path().join("sam2"));
    req.layer_version = first.layer_version;
    req.scope_tag = first.scope_tag;
    req.after = first.next.clone();
    loop {
        let page = fetch(&raw, &req);
        assert!(!page.reset, "a resumed download does not start over");
        codes.extend(page.shapes.iter().map(|s| s.code.clone()));
        match page.next {
            Some(next) => req.after = Some(next),
            None => break,
        }
    }
    let all: Vec<String> = (0..400).map(StreetGrid::code).collect();
    assert_eq!(codes, all);
}

/// The device's own resume: a district supervisor's delta of ~1,000 cells
/// (two pages) cut in its second page; the next sync receives only the
/// cells after the last page applied.
#[test]
fn a_device_cut_in_its_grid_download_receives_only_the_rest_next_time() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let city = StreetGrid::city(1_600, 100, 9);
    let import = |layer: &StreetGrid, name: &str| {
        gridwarden_server::admin::import_grid(
            &server.admin(),
            &layer.geojson(),
            name,
            &CodePattern::default_15(),
            false,
        )
        .unwrap()
    };
    import(&city, "city");
    // Her district: a 30 × 30 block.
    let district: Vec<String> = (0..30)
        .flat_map(|c| (0..30).map(move |r| (c, r)))
        .map(|(c, r)| StreetGrid::code(city.index_at(c, r).unwrap()))
        .collect();
    let refs: Vec<&str> = district.iter().map(String::as_str).collect();
    server.add_user("dora", Role::Supervisor, &refs);
    let relay = Relay::start(server.addr, 5);
    let dora = enrol_via(&server, &relay, &tmp.path().join("dora"), "dora");
    let (held, whole) = dora.grid_cells_held().unwrap();
    assert!(!whole);
    let scope = held.len();
    assert!(scope > 900 && scope < 1_100, "{scope}");

    // Every cell changes; the delta is her whole district again.
    let revised = city.revised(2, (0..1_600).collect());
    import(&revised, "city r2");
    // Cut the link as soon as the device has applied its first page of the
    // new layer. A cut by byte count was fragile: on a loaded machine QUIC
    // retransmits, and the count passed before the first page was whole. The
    // device's grid revision moves with every page it applies; a delay on the
    // link leaves the watcher a round trip or more before the next page lands.
    let db = tmp.path().join("dora").join("client.db");
    let revision = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT revision FROM grid_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let watcher =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let start = revision(&watcher);
    relay.set_delay(std::time::Duration::from_millis(150));
    let done = std::sync::atomic::AtomicBool::new(false);
    let err = std::thread::scope(|s| {
        let (done, relay) = (&done, &relay);
        s.spawn(move || {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if revision(&watcher) != start {
                    relay.set_cut(true);
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        let result = dora.sync();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        result
    })
    .expect_err("the relay cut the connection after the first page");
    assert!(err.is_offline(), "{err:?}");
    relay.set_delay(std::time::Duration::ZERO);
    relay.set_cut(false);
    let rest = dora.sync().unwrap();
    assert!(
        rest.grid_cells > 0 && (rest.grid_cells as usize) < scope,
        "{} of {scope} cells received after the cut",
        rest.grid_cells
    );
    assert_eq!(dora.grid_cells_held().unwrap().0, held);
    assert_eq!(dora.sync().unwrap().grid_cells, 0);
}

/// Enrols a device whose code names the relay instead of the server.
fn enrol_via(server: &TestServer, relay: &Relay, home: &std::path::Path, user: &str) -> Client {
    let code = server.enrolment_code(user);
    let code = code
        .strip_suffix(&server.addr.to_string())
        .map(|rest| format!("{rest}{}", relay.addr()))
        .expect("an enrolment code ends with the server address");
    let client = Client::open(home)
        .unwrap()
        .with_connect_timeout(std::time::Duration::from_secs(2));
    client.enroll(&code, "phone behind a relay").unwrap();
    client
}
