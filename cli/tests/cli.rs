//! The CLI run in-process against the real server on loopback: exit codes,
//! text and the documented JSON shapes.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is the report

use std::path::Path;

use gridwarden_client_core::Location;
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_protocol::Role;
use serde_json::Value;

/// An ordinary cell of the bundled sample layer, and a point inside it.
const CELL: &str = "990102001001007";
const LON: &str = "111.6874";
const LAT: &str = "40.84945";

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.out)
            .unwrap_or_else(|e| panic!("{e}: {} / {}", self.out, self.err))
    }
}

fn gw(home: &Path, args: &[&str]) -> Run {
    let mut argv = vec![
        "gridwarden".to_string(),
        "--home".into(),
        home.display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv.extend(["--connect-timeout".to_string(), "2".into()]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gridwarden_cli::run_with(argv, &mut out, &mut err);
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// A sync summary's (pushed, duplicates, rejected, pulled, pending).
fn counts(s: &Value) -> (u64, u64, usize, u64, u64) {
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("no `{k}` in {s}"));
    let rejected = s["rejected"]
        .as_array()
        .map(Vec::len)
        .expect("rejected is a list");
    (
        n("pushed"),
        n("duplicates"),
        rejected,
        n("pulled"),
        n("pending"),
    )
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let home = tempfile::tempdir().unwrap();
    let help = gw(home.path(), &["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.out.contains("enroll"), "{}", help.out);
    let bogus = gw(home.path(), &["frobnicate"]);
    assert_eq!(bogus.code, 1, "{}", bogus.err);
    let missing = gw(home.path(), &["report", "--lon", "1"]);
    assert_eq!(missing.code, 1);
    assert!(missing.err.contains("--category"), "{}", missing.err);
}

#[test]
fn an_unenrolled_device_is_told_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let r = gw(
        home.path(),
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            "111.6",
            "--lat",
            "40.8",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.out.is_empty());
    assert!(
        r.err.starts_with("error: ") && r.err.contains("gridwarden enroll CODE"),
        "{}",
        r.err
    );

    let status = gw(home.path(), &["status", "--json"]).json();
    assert_eq!(status["enrolled"], false);
    assert_eq!(status["outbox"], 0);
    let categories = gw(home.path(), &["categories", "--json"]).json();
    assert_eq!(
        categories,
        serde_json::json!({"version": null, "categories": []})
    );
    let sync = gw(home.path(), &["sync"]);
    assert_eq!(sync.code, 1, "not enrolled is not offline");
}

#[test]
fn the_whole_field_workflow() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[CELL]);
    server.add_user("bo", Role::Warden, &[]);
    let home = tmp.path().join("ann");
    let h = home.as_path();

    let enrolled = gw(
        h,
        &[
            "enroll",
            &server.enrolment_code("ann"),
            "--label",
            "ci",
            "--json",
        ],
    );
    assert_eq!(enrolled.code, 0, "{}", enrolled.err);
    let e = enrolled.json();
    assert_eq!(
        keys(&e),
        [
            "categories_version",
            "device_id",
            "fingerprint",
            "grid_version",
            "role",
            "server",
            "user"
        ]
    );
    assert_eq!(
        (e["user"].as_str(), e["role"].as_str()),
        (Some("ann"), Some("warden"))
    );

    let categories = gw(h, &["categories"]);
    assert!(categories.out.contains("上水井盖"), "{}", categories.out);
    let table = gw(h, &["categories", "--json"]).json();
    assert_eq!(table["version"], 1);
    assert_eq!(table["categories"][0]["code"], "0101");
    assert_eq!(table["categories"][0]["family"], "component");

    let unknown = gw(
        h,
        &["report", "--category", "9999", "--lon", LON, "--lat", LAT],
    );
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.err.contains("unknown category `9999`"),
        "{}",
        unknown.err
    );
    let off_planet = gw(
        h,
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            "111.6",
            "--lat",
            "91",
        ],
    );
    assert_eq!(off_planet.code, 1);
    assert!(off_planet.err.contains("latitude 91"), "{}", off_planet.err);

    let plain = gw(
        h,
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            LON,
            "--lat",
            LAT,
            "--note",
            "井盖缺失",
            "--observed-at",
            "2024-05-01T09:30:00+08:00",
            "--accuracy",
            "4",
        ],
    );
    assert_eq!(plain.code, 0, "{}", plain.err);
    let id = plain.out.trim().to_string();
    assert_eq!(id.len(), 36, "plain output is just the id: {}", plain.out);
    let rec = gw(
        h,
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            "-0.5",
            "--lat",
            "-0.5",
            "--json",
        ],
    )
    .json();
    assert_eq!(keys(&rec), ["id", "local_cell"]);
    assert_eq!(rec["local_cell"], Value::Null, "outside the cached layer");
    let unassigned_id = rec["id"].as_str().unwrap().to_string();

    let list = gw(h, &["list"]);
    assert!(
        list.out.contains(&format!("(guess {CELL} 青山新区")),
        "{}",
        list.out
    );
    assert!(
        list.out.contains("unassigned") && list.out.contains("pending"),
        "{}",
        list.out
    );
    let listed = gw(h, &["list", "--json"]).json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let shown = gw(h, &["show", &id[..24], "--json"]).json();
    assert_eq!(
        keys(&shown),
        [
            "accuracy_m",
            "address",
            "asset",
            "category",
            "category_name",
            "deleted",
            "device",
            "grid_cell",
            "id",
            "lat",
            "local_cell",
            "lon",
            "note",
            "observed_at_ms",
            "overwritten",
            "patrol",
            "photos",
            "reporter",
            "status",
        ]
    );
    assert_eq!(shown["overwritten"], serde_json::json!([]));
    assert_eq!(shown["observed_at_ms"], 1_714_527_000_000i64);
    assert_eq!(shown["category_name"], "上水井盖");
    assert_eq!(shown["status"], "pending");

    let cell = gw(h, &["cell", "--lon", LON, "--lat", LAT]);
    assert_eq!(cell.out.trim(), CELL);
    // Ann's device holds her cells and their neighbours, not the city.
    let far = gw(h, &["cell", "--lon", "10", "--lat", "10"]);
    assert_eq!(far.code, 0, "{}", far.err);
    assert!(
        far.out.contains("outside the cells on this device"),
        "{}",
        far.out
    );

    // A second warden records inside ann's cell; ann's next sync pulls it.
    let bo = server.enrol(&tmp.path().join("bo"), "bo");
    let in_cell = Location {
        lon: LON.parse().unwrap(),
        lat: LAT.parse().unwrap(),
        accuracy_m: None,
    };
    let bo_id = bo
        .record_report(report_at("0101", in_cell, "bo saw it"))
        .unwrap()
        .to_string();
    bo.sync().unwrap();

    let sync = gw(h, &["sync", "--json"]);
    assert_eq!(sync.code, 0, "{}", sync.err);
    let s = sync.json();
    assert_eq!(counts(&s), (2, 0, 0, 3, 0), "{s}");

    let shown = gw(h, &["show", &id]);
    assert!(
        shown.out.contains(CELL) && shown.out.contains("synced"),
        "{}",
        shown.out
    );
    let unassigned = gw(h, &["show", &unassigned_id, "--json"]).json();
    assert_eq!(
        (&unassigned["grid_cell"], unassigned["status"].as_str()),
        (&Value::Null, Some("synced")),
        "the server leaves a point in no cell unassigned"
    );
    let theirs = gw(h, &["show", &bo_id, "--json"]).json();
    assert_eq!(
        (
            theirs["reporter"].as_str(),
            theirs["grid_cell"].as_str(),
            &theirs["local_cell"],
            theirs["note"].as_str(),
            theirs["status"].as_str()
        ),
        (
            Some("bo"),
            Some(CELL),
            &Value::Null,
            Some("bo saw it"),
            Some("synced")
        )
    );

    // ann may not change bo's report: the server refuses, the device rolls back.
    let meddled = gw(h, &["edit", &bo_id, "--note", "ann was here", "--json"]).json();
    assert_eq!(
        (meddled["note"].as_str(), meddled["status"].as_str()),
        (Some("ann was here"), Some("pending"))
    );
    let sync = gw(h, &["sync", "--json"]);
    assert_eq!(sync.code, 0, "rejections do not fail a sync: {}", sync.err);
    let s = sync.json();
    assert_eq!(counts(&s), (0, 0, 1, 0, 0), "{s}");
    assert_eq!(s["rejected"][0]["report_id"], bo_id.as_str());
    assert_eq!(s["rejected"][0]["code"], "forbidden");
    let reason = s["rejected"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("only bo"), "{reason}");
    assert_eq!(
        keys(&s["rejected"][0]),
        ["at_ms", "code", "op_id", "reason", "report_id"]
    );

    let refused = gw(h, &["show", &bo_id, "--json"]).json();
    assert_eq!(refused["status"], format!("rejected: {reason}"));
    assert_eq!(
        refused["note"], "bo saw it",
        "rolled back to the server's state"
    );

    let edited = gw(h, &["edit", &id, "--note", "fixed?", "--json"]).json();
    assert_eq!(
        (edited["note"].as_str(), edited["status"].as_str()),
        (Some("fixed?"), Some("pending"))
    );
    let nothing = gw(h, &["edit", &id]);
    assert_eq!(nothing.code, 1);
    let deleted = gw(h, &["delete", &id, "--json"]).json();
    assert_eq!(deleted, serde_json::json!({"id": id, "deleted": true}));
    let twice = gw(h, &["delete", &id]);
    assert_eq!(twice.code, 1);
    assert!(twice.err.contains("was deleted"), "{}", twice.err);

    let status = gw(h, &["status", "--json"]).json();
    assert_eq!(status["outbox"], 2);
    assert_eq!(status["rejections"], 1);
    assert_eq!(status["cells"], serde_json::json!([CELL]));
    let rejections = gw(h, &["rejections", "--json"]).json();
    assert_eq!(rejections.as_array().unwrap().len(), 1);

    let again = gw(h, &["sync"]);
    assert_eq!(again.code, 0, "{}", again.err);
    assert!(
        again
            .out
            .starts_with("Pushed 2, duplicates 0, rejected 0, pulled 1."),
        "{}",
        again.out
    );

    server.stop();
    let offline_report = gw(
        h,
        &["report", "--category", "0101", "--lon", LON, "--lat", LAT],
    );
    assert_eq!(offline_report.code, 0, "{}", offline_report.err);
    let offline = gw(h, &["sync"]);
    assert_eq!(offline.code, 2, "{}", offline.err);
    assert!(
        offline.err.contains("cannot reach the server"),
        "{}",
        offline.err
    );
    assert_eq!(gw(h, &["status", "--json"]).json()["outbox"], 1);
}

#[test]
fn a_patrol_with_a_photo_from_the_command_line_to_the_supervisors_review() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[CELL]);
    server.add_user("sam", Role::Supervisor, &[]);
    let (ann, sam) = (tmp.path().join("ann"), tmp.path().join("sam"));
    for (home, user) in [(&ann, "ann"), (&sam, "sam")] {
        let code = server.enrolment_code(user);
        assert_eq!(gw(home, &["enroll", &code]).code, 0);
        assert_eq!(gw(home, &["sync"]).code, 0);
    }

    let patrol = gw(&ann, &["patrol", "start", "--note", "lake loop", "--json"]).json()["patrol"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = gw(&ann, &["patrol", "start"]);
    assert_eq!(again.code, 1);
    assert!(again.err.contains("under way"), "{}", again.err);
    for (i, dlon) in [0.0, 0.0002, 0.00021, 0.0006].iter().enumerate() {
        let lon = format!("{}", 111.6874 + dlon);
        let time = format!("{}", 1_763_780_000_000i64 + i as i64 * 20_000);
        let r = gw(
            &ann,
            &[
                "patrol", "point", "--lon", &lon, "--lat", LAT, "--time", &time, "--json",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.err);
    }
    let photo = tmp.path().join("cover.jpg");
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..50_000u32).map(|i| (i % 251) as u8));
    std::fs::write(&photo, &bytes).unwrap();
    let report = gw(
        &ann,
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            LON,
            "--lat",
            LAT,
            "--photo",
            photo.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(report.code, 0, "{}", report.err);
    let report_id = report.json()["id"].as_str().unwrap().to_owned();
    let not_a_photo = tmp.path().join("notes.txt");
    std::fs::write(&not_a_photo, "hello").unwrap();
    let refused = gw(
        &ann,
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            LON,
            "--lat",
            LAT,
            "--photo",
            not_a_photo.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.code, 1);
    assert!(
        refused.err.contains("not a JPEG, PNG or HEIC"),
        "{}",
        refused.err
    );
    let stopped = gw(&ann, &["patrol", "stop", "--json"]).json();
    assert_eq!(stopped["reports"].as_array().unwrap().len(), 1, "{stopped}");
    assert_eq!(
        stopped["points"], 3,
        "one fix within 5 m was thinned: {stopped}"
    );

    let synced = gw(&ann, &["sync", "--json"]).json();
    assert_eq!(synced["photos_uploaded"], 1, "{synced}");

    let listed = gw(
        &sam,
        &[
            "patrols",
            "--warden",
            "ann",
            "--since",
            "2025-11-22",
            "--json",
        ],
    )
    .json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["info"]["id"], patrol.as_str());
    assert_eq!(
        listed[0], stopped,
        "the supervisor sees what the phone computed"
    );
    let text = gw(&sam, &["patrols"]).out;
    assert!(text.contains("ann") && text.contains("lake loop"), "{text}");
    let geojson: Value =
        serde_json::from_str(&gw(&sam, &["patrol", "show", &patrol, "--geojson"]).out).unwrap();
    assert_eq!(geojson["type"], "FeatureCollection");
    let gpx = gw(&sam, &["patrol", "show", &patrol, "--gpx"]).out;
    assert!(gpx.contains("<trkpt"), "{gpx}");

    assert_eq!(gw(&sam, &["sync"]).code, 0);
    let shown = gw(&sam, &["show", &report_id, "--json"]).json();
    let hash = shown["photos"][0]["hash"].as_str().unwrap().to_owned();
    assert_eq!(shown["photos"][0]["state"], "remote");
    let out = tmp.path().join("fetched.jpg");
    let got = gw(
        &sam,
        &["photo", "get", &hash[..12], "-o", out.to_str().unwrap()],
    );
    assert_eq!(got.code, 0, "{}", got.err);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

#[test]
fn a_case_from_register_to_close_and_the_kpis_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    gridwarden_server::admin::workflow::add_department(
        &server.admin(),
        "water",
        "自来水公司",
        true,
    )
    .unwrap();
    server.add_user("ann", Role::Warden, &[CELL]);
    server.add_user("lee", Role::Liaison, &[CELL]);
    server.add_user("sam", Role::Supervisor, &[]);
    let home = |n: &str| tmp.path().join(n);
    for user in ["ann", "lee", "sam"] {
        let code = server.enrolment_code(user);
        assert_eq!(gw(&home(user), &["enroll", &code]).code, 0);
    }
    let id = gw(
        &home("ann"),
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            LON,
            "--lat",
            LAT,
            "--note",
            "cover gone",
            "--json",
        ],
    )
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(gw(&home("ann"), &["sync"]).code, 0);
    let sam = home("sam");
    assert_eq!(gw(&sam, &["sync"]).code, 0);

    // A refusal made on the device: a rejection needs a reason.
    let empty = gw(&sam, &["case", "reject", &id, "--reason", " "]);
    assert_eq!(empty.code, 1);
    assert!(empty.err.contains("needs a reason"), "{}", empty.err);
    let queued = gw(&sam, &["case", "register", &id[..8], "--json"]).json();
    assert_eq!(queued["step"], "register");
    let dispatch = gw(
        &sam,
        &["case", "dispatch", &id[..8], "--department", "water"],
    );
    assert_eq!(dispatch.code, 0, "{}", dispatch.err);
    assert!(dispatch.out.contains("queued"), "{}", dispatch.out);
    let pending = gw(&sam, &["cases", "--json"]).json();
    assert_eq!(
        pending[0]["pending"],
        serde_json::json!(["register", "dispatch"])
    );
    assert_eq!(gw(&sam, &["sync"]).code, 0);
    let shown = gw(&sam, &["case", "show", &id[..8]]);
    assert!(
        shown.out.contains("status:     dispatched"),
        "{}",
        shown.out
    );
    assert!(
        shown.out.contains("register") && shown.out.contains("by sam"),
        "{}",
        shown.out
    );
    let dispatched = gw(&sam, &["cases", "--status", "dispatched", "--json"]).json();
    assert_eq!(dispatched.as_array().unwrap().len(), 1);
    assert!(dispatched[0]["deadline_ms"].is_i64());
    assert_eq!(
        gw(&sam, &["cases", "--status", "closed", "--json"]).json(),
        serde_json::json!([])
    );
    let bad = gw(&sam, &["cases", "--status", "done"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.err.contains("unknown case status `done`"),
        "{}",
        bad.err
    );

    for step in [
        vec!["case", "dispose", &id[..8], "--note", "replaced"],
        vec![
            "case",
            "send-for-verification",
            &id[..8],
            "--verifier",
            "lee",
        ],
    ] {
        assert_eq!(gw(&sam, &step).code, 0);
    }
    assert_eq!(gw(&sam, &["sync"]).code, 0);
    let lee = home("lee");
    assert_eq!(gw(&lee, &["sync"]).code, 0);
    let tasks = gw(&lee, &["tasks", "--json"]).json();
    assert_eq!(tasks.as_array().unwrap().len(), 1, "{tasks}");
    let photo = tmp.path().join("ok.jpg");
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..5_000u32).map(|i| (i % 251) as u8));
    std::fs::write(&photo, &bytes).unwrap();
    let verify = gw(
        &lee,
        &[
            "case",
            "verify",
            &id[..8],
            "--passed",
            "--note",
            "fixed",
            "--photo",
            photo.to_str().unwrap(),
        ],
    );
    assert_eq!(verify.code, 0, "{}", verify.err);
    assert!(gw(&lee, &["tasks"]).out.contains("no verification tasks"));
    assert_eq!(gw(&lee, &["sync"]).code, 0);
    assert_eq!(gw(&sam, &["sync"]).code, 0);
    assert_eq!(gw(&sam, &["case", "close", &id[..8]]).code, 0);
    assert_eq!(gw(&sam, &["sync"]).code, 0);
    let closed = gw(&sam, &["case", "show", &id[..8], "--json"]).json();
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["history"].as_array().unwrap().len(), 6);
    assert_eq!(closed["history"][4]["photos"].as_array().unwrap().len(), 1);

    let kpi = gw(&sam, &["kpi", "--by", "department", "--json"]).json();
    let water = kpi
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "water")
        .unwrap();
    assert_eq!(
        (
            water["closed_in_period"].as_u64(),
            water["registered"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let csv = gw(&sam, &["kpi", "--by", "warden", "--csv"]);
    assert!(
        csv.out.starts_with("key,reported,registered"),
        "{}",
        csv.out
    );
    assert!(csv.out.contains("\nann,1,1,"), "{}", csv.out);
    let wrong = gw(&sam, &["kpi", "--by", "district"]);
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.err.contains("grid, street, department or warden"),
        "{}",
        wrong.err
    );
}

/// The hex digits two ids share at their start.
fn shared_digits(a: &str, b: &str) -> usize {
    let (a, b) = (a.replace('-', ""), b.replace('-', ""));
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The first `n` hex digits of an id, dashed as the id is.
fn dashed(id: &str, n: usize) -> String {
    let mut seen = 0;
    id.chars()
        .take_while(|c| {
            let take = seen < n;
            if *c != '-' {
                seen += 1;
            }
            take
        })
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

#[test]
fn short_ids_prefixes_local_times_and_names() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[CELL]);
    server.add_user("sam", Role::Supervisor, &[]);
    let (ann, sam) = (tmp.path().join("ann"), tmp.path().join("sam"));
    for (home, user) in [(&ann, "ann"), (&sam, "sam")] {
        let code = server.enrolment_code(user);
        assert_eq!(gw(home, &["enroll", &code]).code, 0);
    }

    // Reports made within a few seconds: their UUIDv7 ids start with the
    // same timestamp, so 8-digit ids would collide.
    let mut ids = Vec::new();
    for i in 0..12 {
        let note = format!("cover {i} missing");
        let mut args = vec![
            "report",
            "--category",
            "0101",
            "--lon",
            LON,
            "--lat",
            LAT,
            "--note",
            &note,
        ];
        if i == 0 {
            args.extend(["--observed-at", "2024-05-01T09:30:00+08:00"]);
        }
        let r = gw(&ann, &args);
        assert_eq!(r.code, 0, "{}", r.err);
        ids.push(r.out.trim().to_owned());
    }
    assert_eq!(gw(&ann, &["sync"]).code, 0);
    assert_eq!(gw(&sam, &["sync"]).code, 0);
    let (a, b) = ids
        .iter()
        .flat_map(|a| ids.iter().filter(move |b| *b != a).map(move |b| (a, b)))
        .max_by_key(|(a, b)| shared_digits(a, b))
        .unwrap();
    let shared = shared_digits(a, b);
    assert!(shared >= 8, "ids made together share 8 digits: {ids:?}");

    // The list's ids are unique and each names its report alone.
    let list = gw(&sam, &["list"]);
    assert_eq!(list.code, 0, "{}", list.err);
    let shorts: Vec<&str> = list
        .out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(shorts.len(), 12, "{}", list.out);
    for short in &shorts {
        assert!(short.replace('-', "").len() >= 8, "{short}");
        let whole: Vec<&String> = ids.iter().filter(|id| id.starts_with(short)).collect();
        assert_eq!(whole.len(), 1, "{short} names one report: {}", list.out);
        let shown = gw(&sam, &["case", "show", short, "--json"]);
        assert_eq!(shown.code, 0, "{short}: {}", shown.err);
        assert_eq!(shown.json()["report_id"], whole[0].as_str());
    }
    assert!(
        shorts.iter().any(|s| s.replace('-', "").len() > 8),
        "{}",
        list.out
    );

    // A prefix two reports share is refused with both listed, whatever
    // its case and dashes; nothing is queued.
    let prefix = dashed(a, shared).to_uppercase().replace('-', "");
    for command in [
        vec!["case", "show", &prefix],
        vec!["case", "register", &prefix],
    ] {
        let r = gw(&sam, &command);
        assert_eq!(r.code, 1, "{command:?}: {}", r.out);
        assert!(r.out.is_empty(), "{}", r.out);
        assert!(r.err.contains("give more of the id"), "{}", r.err);
        for id in [a, b] {
            let short = shorts.iter().find(|s| id.starts_with(*s)).unwrap();
            assert!(r.err.contains(short), "{short} listed: {}", r.err);
        }
        assert!(
            r.err.contains("0101 上水井盖") && r.err.contains("missing"),
            "{}",
            r.err
        );
    }
    assert_eq!(gw(&sam, &["status", "--json"]).json()["outbox"], 0);
    let eight = gw(&sam, &["show", &a[..8]]);
    assert_eq!(eight.code, 1);
    assert!(eight.err.contains("give more of the id"), "{}", eight.err);
    let unknown = gw(&sam, &["show", "ffff-ffff"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .err
            .contains("no report on this device has an id starting `ffff-ffff`"),
        "{}",
        unknown.err
    );
    let garbage = gw(&sam, &["case", "show", "cover"]);
    assert_eq!(garbage.code, 1);
    assert!(garbage.err.contains("is not an id"), "{}", garbage.err);

    // Times: the city's (UTC+8 unless told) for people, UTC in JSON.
    let first = shorts.iter().find(|s| ids[0].starts_with(*s)).unwrap();
    let shown = gw(&sam, &["show", first]);
    assert!(
        shown
            .out
            .contains("observed     2024-05-01 09:30:00 +08:00"),
        "{}",
        shown.out
    );
    assert!(
        list.out.contains("OBSERVED (+08:00)") && list.out.contains("2024-05-01 09:30"),
        "{}",
        list.out
    );
    let utc = gw(&sam, &["show", first, "--utc-offset", "+00:00"]);
    assert!(
        utc.out.contains("2024-05-01 01:30:00 +00:00"),
        "{}",
        utc.out
    );
    let json = gw(&sam, &["show", first, "--json"]).json();
    assert_eq!(json["observed_at_ms"], 1_714_527_000_000i64);
    let bad = gw(&sam, &["list", "--utc-offset", "8"]);
    assert_eq!(bad.code, 1);
    assert!(bad.err.contains("not a UTC offset"), "{}", bad.err);

    // Names next to codes: categories and cells from the cached data.
    let cell_name = "青山新区 Street 1 Community 1 cell 7";
    let cases = gw(&sam, &["cases"]);
    assert!(
        cases.out.contains("0101 上水井盖") && cases.out.contains(&format!("{CELL} 青山新区")),
        "{}",
        cases.out
    );
    assert!(cases.out.contains("DEADLINE (+08:00)"), "{}", cases.out);
    let listed = gw(&sam, &["cases", "--json"]).json();
    assert_eq!(listed[0]["category_name"], "上水井盖");
    assert_eq!(listed[0]["cell_name"], cell_name);
    let case = gw(&sam, &["case", "show", first]);
    assert!(
        case.out.contains("category:   0101 上水井盖")
            && case
                .out
                .contains(&format!("cell:       {CELL} {cell_name}")),
        "{}",
        case.out
    );
    let kpi = gw(&sam, &["kpi", "--by", "grid", "--from", "2024-01-01"]);
    assert!(
        kpi.out.contains(&format!("{CELL}  {cell_name}")),
        "{}",
        kpi.out
    );
    let rows = gw(
        &sam,
        &["kpi", "--by", "grid", "--from", "2024-01-01", "--json"],
    )
    .json();
    assert_eq!(rows[0]["key"], CELL);
    assert_eq!(rows[0]["name"], cell_name);
    assert_eq!(rows[0]["reported"], 12);
    let csv = gw(
        &sam,
        &["kpi", "--by", "grid", "--from", "2024-01-01", "--csv"],
    );
    assert!(
        csv.out.lines().next().unwrap().ends_with(",name"),
        "{}",
        csv.out
    );
    assert!(csv.out.contains(&format!(",{cell_name}\n")), "{}", csv.out);

    // Patrols: two made back to back share their start on the phone; the
    // supervisor finds one by its short id among the server's.
    let mut patrols = Vec::new();
    for note in ["east loop", "west loop"] {
        let started = gw(&ann, &["patrol", "start", "--note", note]);
        assert_eq!(started.code, 0, "{}", started.err);
        patrols.push(started.out.trim().to_owned());
        assert_eq!(gw(&ann, &["patrol", "stop"]).code, 0);
    }
    let both = shared_digits(&patrols[0], &patrols[1]);
    if both >= 8 {
        let r = gw(&ann, &["patrol", "show", &patrols[0][..8]]);
        assert_eq!(r.code, 1);
        assert!(
            r.err.contains("east loop") && r.err.contains("west loop"),
            "{}",
            r.err
        );
    }
    let mine = gw(&ann, &["patrols"]);
    assert!(mine.out.contains("STARTED (+08:00)"), "{}", mine.out);
    let short = mine
        .out
        .lines()
        .find(|l| l.contains("west loop"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(patrols[1].starts_with(&short), "{short}: {}", mine.out);
    let shown = gw(&ann, &["patrol", "show", &short, "--json"]).json();
    assert_eq!(shown["summary"]["info"]["id"], patrols[1].as_str());
    assert_eq!(gw(&ann, &["sync"]).code, 0);
    let theirs = gw(&sam, &["patrols"]);
    let short = theirs
        .out
        .lines()
        .find(|l| l.contains("east loop"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let shown = gw(&sam, &["patrol", "show", &short]);
    assert_eq!(shown.code, 0, "{}", shown.err);
    assert!(
        shown.out.contains(&patrols[0]) && shown.out.contains("+08:00"),
        "{}",
        shown.out
    );
    let nothing = gw(&sam, &["patrol", "show", "ffffffff"]);
    assert_eq!(nothing.code, 1);
    assert!(
        nothing.err.contains("no patrol has an id starting"),
        "{}",
        nothing.err
    );
}
