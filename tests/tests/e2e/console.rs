//! The supervisor console in a real browser: Debian's headless Chromium
//! driven by playwright (`tests/console/console_test.py`, ADR 0018) against
//! a real server with its HTTP listener, fed by real devices. Phones record
//! reports (one with a photo, one whose note holds `<script>`, one in
//! another district) and a patrol with a GPS jump; the page signs in by
//! password and by one-time link (the real `gridwarden-server` commands),
//! finds the report, sees it in its cell, registers and dispatches it; a
//! second device pulls the new status; a new report appears without a
//! reload; the patrol's track is reviewed; the KPIs equal `gridwarden kpi`;
//! a district supervisor sees their district only. Screenshots of every
//! page land in `target/console-screenshots/`.
//!
//! Without Chromium or the venv's playwright (`.ci/install-chromium` sets
//! both up) the test prints a notice and passes; with `CI=true` it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gridwarden_client_core::{Location, NewReport, PointInput};
use gridwarden_e2e::mobile::run_python;
use gridwarden_e2e::{bins, cells_with_points, TestServer};
use gridwarden_protocol::Role;
use gridwarden_server::admin::workflow::{add_department, import_categories};
use gridwarden_server::config::ConsoleSection;
use gridwarden_server::datadir::DEFAULT_CATEGORIES;
use serde_json::Value;
use uuid::Uuid;

const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "青山 console pass 2026";
/// The bundled table routes nothing; the test routes `0101` (a
/// water-supply manhole cover) here, so a dispatch has a default.
const DEPARTMENT: &str = "water";
/// A note the page must show as text: were it parsed as HTML, the image's
/// handler would set `window.__gwXss`.
const SCRIPT_NOTE: &str =
    "<script>window.__gwXss = 1</script><img src='x' onerror='window.__gwXss = 2'> 路灯不亮";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The venv's Python that has playwright, if Chromium and it are installed.
fn browser_python() -> Result<PathBuf, String> {
    if !Path::new(CHROMIUM).is_file() {
        return Err(format!("{CHROMIUM} is missing"));
    }
    let venv = std::env::var_os("GRIDWARDEN_CONSOLE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/console-venv"));
    let python = venv.join("bin/python3");
    let probe = Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match probe {
        Ok(status) if status.success() => Ok(python),
        _ => Err(format!("no playwright in the venv {}", venv.display())),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn report(note: &str, location: Location, patrol: Option<Uuid>) -> NewReport {
    NewReport {
        category: "0101".into(),
        location,
        address: None,
        note: note.into(),
        // Now, so the KPI period around today counts it.
        observed_at_ms: now_ms(),
        patrol,
        asset: None,
    }
}

/// The street of a sample-layer cell code (region 6 digits, street 3).
fn street(code: &str) -> &str {
    &code[6..9]
}

/// Runs a real binary of the workspace; its stdout, or a panic with stderr.
fn run(bin: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(bins::path(bin))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A short walk north-east from `from` at walking pace, one fix a second,
/// with one fix 500 m off the path (a GPS jump) in the middle; all in the
/// past.
fn walk(from: &Location) -> Vec<PointInput> {
    const M_PER_DEG_LON: f64 = 84_300.0;
    const M_PER_DEG_LAT: f64 = 111_000.0;
    let start = now_ms() - 120_000;
    (0..80)
        .map(|i| {
            let east = i as f64 * 1.2 + if i == 40 { 500.0 } else { 0.0 };
            let north = i as f64 * 0.7;
            PointInput {
                time_ms: Some(start + i * 1000),
                lon: from.lon + east / M_PER_DEG_LON,
                lat: from.lat + north / M_PER_DEG_LAT,
                accuracy_m: Some(4.0),
                speed_mps: Some(1.4),
            }
        })
        .collect()
}

#[test]
fn the_console_in_headless_chromium_against_a_real_server_and_devices() {
    let python = match browser_python() {
        Ok(python) => python,
        Err(why) => {
            let notice = format!(
                "the console's browser test needs Debian's Chromium and playwright in a venv \
                 ({why}); run .ci/install-chromium"
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{notice}");
            eprintln!("notice: skipped: {notice}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("server");
    let server = TestServer::start_console(
        &data_dir,
        ConsoleSection {
            http: "127.0.0.1:0".into(),
            ..ConsoleSection::default()
        },
    );
    {
        let data = server.admin();
        add_department(&data, DEPARTMENT, "自来水公司 water company", true).unwrap();
        let mut table: Value = serde_json::from_str(DEFAULT_CATEGORIES).unwrap();
        table["routes"] = serde_json::json!({ "0101": DEPARTMENT });
        let file = tmp.path().join("categories.json");
        std::fs::write(&file, table.to_string()).unwrap();
        import_categories(&data, &file).unwrap();
    }

    // Cell A in the north-west street, whose cells are dan's district; the
    // outside cell in the south-east street, far from A on the map.
    let cells = cells_with_points(&server.admin(), 500);
    let (cell, here) = cells
        .iter()
        .find(|(c, _)| street(c) == "001")
        .cloned()
        .unwrap();
    let (outside_cell, outside) = cells
        .iter()
        .rev()
        .find(|(c, _)| street(c) == "004")
        .cloned()
        .unwrap();
    let grid = server.admin().service.grid().unwrap().unwrap();
    let district_codes: Vec<String> = grid
        .cells()
        .iter()
        .filter(|c| street(&c.code) == "001")
        .map(|c| c.code.clone())
        .collect();
    let district_refs: Vec<&str> = district_codes.iter().map(String::as_str).collect();
    let district_cells = district_codes.len();

    server.add_user("ann", Role::Warden, &[&cell, &outside_cell]);
    server.add_user("wu", Role::Warden, &[&cell]);
    gridwarden_server::admin::workflow::set_user_department(
        &server.admin(),
        "wu",
        Some(DEPARTMENT),
    )
    .unwrap();
    server.add_user("sam", Role::Supervisor, &[]);
    server.add_user("dan", Role::Supervisor, &district_refs);

    let home = |name: &str| tmp.path().join(name);
    let ann = server.enrol(&home("ann"), "ann");
    let wu = server.enrol(&home("wu"), "wu");
    let sam_phone = server.enrol(&home("sam-phone"), "sam");
    for device in [&ann, &wu, &sam_phone] {
        device.sync().unwrap(); // categories and the grid layer
    }

    // Ann's round: a patrol with a jump, a report with a photo made on it,
    // a note holding markup, and a report in the other street.
    let patrol = ann.patrol_start("晨间巡查 morning round").unwrap();
    for point in walk(&here) {
        ann.patrol_point(point).unwrap();
    }
    let note = "井盖破损 青山路北口 north gate".to_owned();
    let photo = workspace().join("tests/console/photo.png");
    let report_id = ann
        .record_report_with_photos(report(&note, here, Some(patrol)), &[photo])
        .unwrap();
    ann.patrol_stop().unwrap();
    ann.record_report(report(SCRIPT_NOTE, here, None)).unwrap();
    let outside_note = "东南街道 路面塌陷 sinkhole south-east".to_owned();
    let outside_id = ann
        .record_report(report(&outside_note, outside, None))
        .unwrap();
    ann.sync().unwrap();
    let patrol_start = ann
        .patrols()
        .unwrap()
        .into_iter()
        .find(|p| p.info.id == patrol)
        .unwrap()
        .info
        .started_at_ms;

    // IT sets sam's password and prints dan's link with the real binary.
    let data_arg = data_dir.to_str().unwrap().to_owned();
    run(
        "gridwarden-server",
        &["users", "passwd", "sam", "--data", &data_arg],
        Some(&format!("{PASSWORD}\n")),
    );
    let console_url = server.console_url("/console/");

    let screenshots = bins::profile_dir()
        .parent()
        .unwrap()
        .join("console-screenshots");
    // PATH first names the venv, so the harness's `python3` is the one with playwright.
    let path = format!(
        "{}:{}",
        python.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PATH", path),
        ("GW_URL", server.console_url("")),
        ("GW_CHROMIUM", CHROMIUM.to_owned()),
        ("GW_SCREENSHOTS", screenshots.display().to_string()),
        ("GW_SAM_PASSWORD", PASSWORD.to_owned()),
        ("GW_NOTE", note.clone()),
        ("GW_REPORT", report_id.to_string()),
        ("GW_CELL", cell.clone()),
        ("GW_DEPARTMENT", DEPARTMENT.to_owned()),
        ("GW_SCRIPT_NOTE", SCRIPT_NOTE.to_owned()),
        ("GW_OUTSIDE_REPORT", outside_id.to_string()),
        ("GW_OUTSIDE_NOTE", outside_note.clone()),
        ("GW_DISTRICT_CELLS", district_cells.to_string()),
        ("GW_PATROL_START_MS", patrol_start.to_string()),
    ];

    let script = workspace().join("tests/console/console_test.py");
    let outcome = run_python(&script, &env, Duration::from_secs(600), |request| {
        let (verb, rest) = request.split_once(' ').unwrap_or((request, ""));
        match verb {
            // The department's phone pulls what the console did.
            "pull-case" => {
                wu.sync().unwrap();
                let case = wu.case(rest.parse().unwrap()).unwrap();
                serde_json::json!({"status": case.status, "department": case.department})
                    .to_string()
            }
            // A report arrives while the page is open.
            "record-report" => {
                let id = ann.record_report(report(rest, here, None)).unwrap();
                ann.sync().unwrap();
                id.to_string()
            }
            // `gridwarden kpi` on the supervisor's phone, over what it pulled.
            "kpi" => {
                let (from, to) = rest.split_once(' ').unwrap();
                sam_phone.sync().unwrap();
                let home = home("sam-phone");
                let out = run(
                    "gridwarden",
                    &[
                        "--home",
                        home.to_str().unwrap(),
                        "--json",
                        "kpi",
                        "--by",
                        "grid",
                        "--from",
                        from,
                        "--to",
                        to,
                    ],
                    None,
                );
                let rows: Value = serde_json::from_str(&out).unwrap();
                rows.to_string()
            }
            // IT prints a one-time link for the district supervisor.
            "link" => run(
                "gridwarden-server",
                &[
                    "console",
                    "link",
                    "--user",
                    rest,
                    "--data",
                    &data_arg,
                    "--url",
                    &console_url,
                ],
                None,
            )
            .trim()
            .to_owned(),
            other => format!("unknown request {other}"),
        }
    });
    // Shown with --nocapture: each step the browser passed.
    println!("{}", outcome.output);
    assert!(
        outcome.success,
        "the console's browser test failed:\n{}",
        outcome.output
    );
    assert!(
        outcome
            .output
            .lines()
            .any(|l| l == "console test: all steps passed"),
        "{}",
        outcome.output
    );
    for page in [
        "01-sign-in",
        "02-cases",
        "03-case",
        "04-patrols",
        "05-kpi",
        "06-alerts",
        "07-cases-en",
        "08-district",
    ] {
        let file = screenshots.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&file).is_ok_and(|m| m.len() > 10_000),
            "no screenshot {}",
            file.display()
        );
    }
}
