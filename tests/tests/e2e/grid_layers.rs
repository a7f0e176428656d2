//! Grid layers as IT replaces them, through the real binaries: what a new
//! layer changes, the refusal of one that removes cells in use, `--apply`
//! and `--reassign` (an open report moves, and a warden of its new cell
//! pulls it), DataV's boundary files, a byte-order mark, export → import.

use std::path::Path;
use std::process::Command;

use gridwarden_e2e::bins;
use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use serde_json::{json, Value};

/// The sample layer the server ships (and loads into a new directory).
const SAMPLE: &str = include_str!("../../../server/data/sample-grid.geojson");
/// Cell 1 of the sample layer and a point inside it.
const CELL_A: &str = "990102001001001";
const IN_A: (&str, &str) = ("111.6838", "40.8521");
/// The code the replacement layer gives cell A's ground.
const CELL_N: &str = "990102009009001";

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bins::path(bin))
        .args(args)
        .env_remove("GRIDWARDEN_DATA")
        .env("GRIDWARDEN_CONNECT_TIMEOUT", "2")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// `gridwarden-server --data DATA ARGS`.
/// Stored cell content that no layer version lists: what an import that
/// was not published must not leave behind.
fn unlisted_cells(data: &Path) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        data.join(gridwarden_server::datadir::DB_FILE),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row(
        "SELECT count(*) FROM grid_cell_data WHERE hash NOT IN (SELECT hash FROM grid_layer_cells)",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn admin(data: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--data", data.to_str().unwrap()];
    all.extend_from_slice(args);
    run("gridwarden-server", &all)
}

fn admin_json(data: &Path, args: &[&str]) -> Value {
    let (code, out, err) = admin(data, args);
    assert_eq!(code, 0, "{args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// `gridwarden --home HOME ARGS --json`.
fn device(home: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--json", "--home", home.to_str().unwrap()]);
    let (code, out, err) = run("gridwarden", &all);
    assert_eq!(code, 0, "gridwarden {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

fn enrol(data: &Path, home: &Path, user: &str) {
    let code = admin_json(data, &["devices", "enroll", "--user", user, "--json"]);
    let (status, _, err) = run(
        "gridwarden",
        &[
            "enroll",
            code["code"].as_str().unwrap(),
            "--home",
            home.to_str().unwrap(),
        ],
    );
    assert_eq!(status, 0, "{err}");
}

fn init(data: &Path) {
    let (code, _, err) = run(
        "gridwarden-server",
        &["init", "--data", data.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// The sample layer with cell A renumbered N (same ground), cell 2
/// renamed and cell 3 reshaped.
fn replacement_layer() -> String {
    let mut layer: Value = serde_json::from_str(SAMPLE).unwrap();
    let features = layer["features"].as_array_mut().unwrap();
    let a = features
        .iter_mut()
        .find(|f| f["properties"]["code"] == CELL_A)
        .unwrap();
    a["properties"]["code"] = json!(CELL_N);
    a["properties"]["name"] = json!("青山新区 renumbered");
    features[1]["properties"]["name"] = json!("青山新区 Street 1 Community 1 cell 2 (renamed)");
    // Move one vertex of cell 3 inward a little: a new shape.
    let vertex = &mut features[2]["geometry"]["coordinates"][0][1];
    vertex[0] = json!(vertex[0].as_f64().unwrap() - 0.0002);
    layer.to_string()
}

#[test]
fn a_layer_removing_cells_in_use_is_held_until_applied_and_reassign_moves_the_open_report_to_the_warden_of_its_new_cell(
) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data);
    let _server = ServerProcess::start(&data, free_udp_port());
    admin_json(
        &data,
        &[
            "users", "add", "ann", "--role", "warden", "--grids", CELL_A, "--json",
        ],
    );
    let ann = tmp.path().join("ann");
    enrol(&data, &ann, "ann");
    let report = device(
        &ann,
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            IN_A.0,
            "--lat",
            IN_A.1,
            "--note",
            "井盖缺失",
        ],
    );
    let id = report["id"].as_str().unwrap().to_owned();
    assert_eq!(device(&ann, &["sync"])["pushed"], 1);

    let file = tmp.path().join("district-v2.geojson");
    std::fs::write(&file, replacement_layer()).unwrap();
    let f = file.to_str().unwrap();

    // Without --apply: the changes, the refusal (exit 3), nothing changed.
    let (code, out, err) = admin(&data, &["grids", "import", f]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        out.contains("101 cells — 1 added, 1 removed, 1 reshaped, 1 renamed, 98 unchanged"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "user `ann` holds cells the new layer lacks: {CELL_A}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("report {id}: {CELL_A} → {CELL_N}")),
        "{out}"
    );
    assert!(err.contains("not imported"), "{err}");
    assert!(
        err.contains(&format!("{CELL_A}: held by ann; 1 open reports")),
        "{err}"
    );
    assert!(
        err.contains("--apply") && err.contains("--reassign"),
        "{err}"
    );
    let (code, out, _) = admin(&data, &["grids", "import", f, "--json"]);
    assert_eq!(code, 3);
    let held: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(held["applied"], false);
    assert_eq!(held["held"], "cells_in_use");
    let changes = &held["changes"];
    assert_eq!(changes["current_version"], 1);
    assert_eq!(strings(&changes["added"]), [CELL_N]);
    assert_eq!(strings(&changes["removed"]), [CELL_A]);
    assert_eq!(strings(&changes["removed_in_use"]), [CELL_A]);
    assert_eq!(strings(&changes["reshaped"]), ["990102001001003"]);
    assert_eq!(changes["renamed"][0]["code"], "990102001001002");
    assert_eq!(
        changes["users_losing_cells"],
        json!([{"user": "ann", "cells": [CELL_A]}])
    );
    assert_eq!(
        changes["reports_moving"],
        json!([{"report": id, "from": CELL_A, "to": CELL_N}])
    );
    let layers = admin_json(&data, &["grids", "list", "--json"]);
    assert_eq!(layers["current_version"], 1, "a held layer was published");
    // Nothing of the held layer stays behind, nor of a dry run of it.
    assert_eq!(unlisted_cells(&data), 0, "a held layer left cell content");
    let dry = admin_json(&data, &["grids", "import", f, "--dry-run", "--json"]);
    assert_eq!(dry["held"], "dry_run");
    assert_eq!(unlisted_cells(&data), 0, "a dry run left cell content");

    // --apply --reassign: published, and the open report moves with it.
    let imported = admin_json(
        &data,
        &["grids", "import", f, "--apply", "--reassign", "--json"],
    );
    assert_eq!(imported["applied"], true);
    assert_eq!(imported["version"], 2);
    assert_eq!(imported["reports_assigned"], 1, "{imported}");
    let listed = admin_json(&data, &["reports", "list", "--json"]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(row["grid_cell"], CELL_N, "{row}");

    // A warden of the new cell pulls it through the running server.
    admin_json(
        &data,
        &[
            "users", "add", "bob", "--role", "warden", "--grids", CELL_N, "--json",
        ],
    );
    let bob = tmp.path().join("bob");
    enrol(&data, &bob, "bob");
    let synced = device(&bob, &["sync"]);
    assert_eq!(synced["pulled"], 1, "{synced}");
    let shown = device(&bob, &["show", &id]);
    assert_eq!(shown["grid_cell"], CELL_N, "{shown}");
    assert_eq!(shown["note"], "井盖缺失");
    // … and the reporter's device learns the new cell too.
    device(&ann, &["sync"]);
    let shown = device(&ann, &["show", &id]);
    assert_eq!(shown["grid_cell"], CELL_N, "{shown}");

    let audit = admin_json(&data, &["audit", "--json"]);
    let line = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|l| l["action"] == "grid.import")
        .unwrap_or_else(|| panic!("{audit}"));
    let detail = line.to_string();
    assert!(detail.contains("--reassign"), "{detail}");
    assert!(detail.contains(CELL_A), "{detail}");
}

#[test]
fn an_export_imports_back_unchanged_and_bom_and_datav_files_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data);

    // Export → import: the same cells, byte for byte (same content hashes).
    let exported = tmp.path().join("out").join("sample.geojson");
    std::fs::create_dir(exported.parent().unwrap()).unwrap();
    let (code, out, err) = admin(
        &data,
        &[
            "grids",
            "export",
            "--geojson",
            "--out",
            exported.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("exported layer v1"), "{err}");
    let again = admin_json(
        &data,
        &["grids", "import", exported.to_str().unwrap(), "--json"],
    );
    assert_eq!(again["version"], 2);
    let changes = &again["changes"];
    assert_eq!(changes["unchanged"], 101, "{changes}");
    for list in ["added", "removed", "reshaped", "renamed", "reports_moving"] {
        assert_eq!(changes[list], json!([]), "{list}: {changes}");
    }
    // The CSV listing of a given version.
    let (code, csv, err) = admin(&data, &["grids", "export", "--version", "1"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("code,name,area_m2,min_lon,min_lat,max_lon,max_lat")
    );
    assert_eq!(lines.count(), 101);
    let (code, _, err) = admin(&data, &["grids", "export", "--version", "9"]);
    assert_eq!(code, 1);
    assert!(err.contains("no grid layer version 9"), "{err}");

    // A byte-order mark before the JSON (Windows tools write one).
    let bom = tmp.path().join("bom.geojson");
    std::fs::write(&bom, format!("\u{feff}{SAMPLE}")).unwrap();
    let dry = admin_json(
        &data,
        &[
            "grids",
            "import",
            bom.to_str().unwrap(),
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(dry["applied"], false);
    assert_eq!(dry["held"], "dry_run");
    assert_eq!(dry["changes"]["unchanged"], 101, "{dry}");

    // DataV GeoAtlas's district file: the code in `adcode`, a number.
    let datav = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"adcode": 150102, "name": "新城区",
            "center": [111.685964, 40.826225], "childrenNum": 9, "level": "district",
            "parent": {"adcode": 150100}, "subFeatureIndex": 0, "acroutes": [100000, 150000, 150100]},
         "geometry": {"type": "MultiPolygon", "coordinates": [[[[111.60, 40.80], [111.70, 40.80], [111.70, 40.90], [111.60, 40.90], [111.60, 40.80]]]]}},
        {"type": "Feature", "properties": {"adcode": 150103, "name": "回民区",
            "level": "district", "parent": {"adcode": 150100}},
         "geometry": {"type": "MultiPolygon", "coordinates": [[[[111.50, 40.80], [111.60, 40.80], [111.60, 40.90], [111.50, 40.90], [111.50, 40.80]]]]}}
    ]});
    let file = tmp.path().join("150100_full.json");
    std::fs::write(&file, format!("\u{feff}{datav}")).unwrap();
    let f = file.to_str().unwrap();
    let (code, _, err) = admin(&data, &["grids", "import", f, "--code-pattern", "digits:6"]);
    assert_eq!(code, 1);
    assert!(err.contains("has no properties.code"), "{err}");
    assert!(err.contains("adcode"), "{err}");
    assert!(err.contains("`--code-property NAME`"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    let imported = admin_json(
        &data,
        &[
            "grids",
            "import",
            f,
            "--code-pattern",
            "digits:6",
            "--code-property",
            "adcode",
            "--name-property",
            "name",
            "--json",
        ],
    );
    assert_eq!(imported["cells"], 2);
    assert_eq!(
        imported["changes"]["removed"].as_array().unwrap().len(),
        101
    );
    let listed = admin_json(&data, &["grids", "list", "--json"]);
    let cells: Vec<(&str, &str)> = listed["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["code"].as_str().unwrap(), c["name"].as_str().unwrap()))
        .collect();
    assert_eq!(cells, [("150102", "新城区"), ("150103", "回民区")]);
}

/// `--reassign` moves open reports only: a rejected (or closed) case keeps
/// the cell it was handled in. Real client cores over QUIC, the server in
/// process.
#[test]
fn reassign_leaves_a_rejected_case_in_the_cell_it_was_handled_in() {
    use gridwarden_client_core::case::CaseOp;
    use gridwarden_client_core::Location;
    use gridwarden_e2e::{report_at, TestServer};
    use gridwarden_protocol::Role;
    use gridwarden_server::admin::grids::{self, GridImport, ImportOutcome};

    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[CELL_A]);
    server.add_user("sam", Role::Supervisor, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let sam = server.enrol(&tmp.path().join("sam"), "sam");
    let here = Location {
        lon: IN_A.0.parse().unwrap(),
        lat: IN_A.1.parse().unwrap(),
        accuracy_m: Some(5.0),
    };
    let open = ann.record_report(report_at("0101", here, "open")).unwrap();
    let rejected = ann
        .record_report(report_at("0101", here, "a duplicate"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 2);
    sam.sync().unwrap();
    sam.case_step(
        rejected,
        CaseOp::Reject {
            reason: "duplicate".into(),
        },
    )
    .unwrap();
    assert!(sam.sync().unwrap().rejected.is_empty());

    let layer = replacement_layer();
    let how = GridImport {
        name: "district v2",
        pattern: &gridwarden_grid::CodePattern::default_15(),
        fields: &gridwarden_grid::Fields::default(),
        apply: true,
        reassign: true,
        dry_run: false,
    };
    let admin = server.admin();
    let ImportOutcome::Imported(summary) = grids::import(&admin, layer.as_bytes(), &how).unwrap()
    else {
        panic!("an applied import was held back");
    };
    let moving: Vec<_> = summary
        .changes
        .reports_moving
        .iter()
        .map(|m| (m.report, m.from.as_deref(), m.to.as_deref()))
        .collect();
    assert_eq!(moving, [(open, Some(CELL_A), Some(CELL_N))]);
    assert_eq!(summary.reports_assigned, 1);
    let cell_of = |id| {
        admin
            .store()
            .report(id)
            .unwrap()
            .unwrap()
            .grid_cell()
            .map(str::to_owned)
    };
    assert_eq!(cell_of(open).as_deref(), Some(CELL_N));
    assert_eq!(cell_of(rejected).as_deref(), Some(CELL_A));
    // The supervisor's device follows the server.
    sam.sync().unwrap();
    let on_sam = |id| sam.show_report(id).unwrap().grid_cell;
    assert_eq!(on_sam(open).as_deref(), Some(CELL_N));
    assert_eq!(on_sam(rejected).as_deref(), Some(CELL_A));
}
