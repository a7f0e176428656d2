//! Nothing silently undone (issue 23, items 4–9), through the real
//! `gridwarden-server` and `gridwarden` binaries as separate processes.

use std::path::{Path, PathBuf};
use std::process::Command;

use gridwarden_e2e::bins;
use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use serde_json::Value;

/// A server process, its data directory and the homes of the users' phones.
struct Field {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    _server: ServerProcess,
}

struct Out {
    code: i32,
    out: String,
    err: String,
}

fn run(bin: &str, args: &[&str]) -> Out {
    let out = Command::new(bins::path(bin))
        .args(args)
        .env("GRIDWARDEN_CONNECT_TIMEOUT", "5")
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Field {
    fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_owned();
        let data = root.join("data");
        // The data directory exists before the server starts serving it.
        let init = run(
            "gridwarden-server",
            &["init", "--data", data.to_str().unwrap()],
        );
        assert_eq!(init.code, 0, "{}", init.err);
        let server = ServerProcess::start(&data, free_udp_port());
        Self {
            _tmp: tmp,
            root,
            data,
            _server: server,
        }
    }

    fn admin(&self, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--json", "--data", self.data.to_str().unwrap()]);
        let out = run("gridwarden-server", &all);
        assert_eq!(out.code, 0, "gridwarden-server {args:?}: {}", out.err);
        serde_json::from_str(&out.out).unwrap_or(Value::Null)
    }

    fn home(&self, user: &str) -> PathBuf {
        self.root.join(user)
    }

    /// Adds `user` and enrols a phone for them with the CLI.
    fn phone(&self, user: &str, role: &str) -> PathBuf {
        self.admin(&["users", "add", user, "--role", role]);
        let code = self.admin(&["devices", "enroll", "--user", user])["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let home = self.home(user);
        let out = run(
            "gridwarden",
            &["enroll", &code, "--home", home.to_str().unwrap()],
        );
        assert_eq!(out.code, 0, "{}", out.err);
        home
    }
}

fn gw(home: &Path, args: &[&str]) -> Out {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--home", home.to_str().unwrap()]);
    run("gridwarden", &all)
}

fn report_args(observed_at: &str) -> Vec<&str> {
    vec![
        "report",
        "--category",
        "0101",
        "--lon",
        "111.6874",
        "--lat",
        "40.84945",
        "--note",
        "井盖缺失",
        "--observed-at",
        observed_at,
    ]
}

/// Item 7: an observed time far in the future or before 2020 is refused
/// with the reason, and nothing is recorded; a real one is accepted.
#[test]
fn observed_times_in_the_future_or_before_2020_are_refused_with_the_reason() {
    let field = Field::start();
    let ann = field.phone("ann", "warden");
    let future = (gridwarden_e2e::sim::SIM_START_MS as i64 + 20 * 365 * 86_400_000).to_string();
    for (when, why) in [
        (future.as_str(), "in the future"),
        ("1970-01-01T00:00:05Z", "before 2020"),
        ("0", "before 2020"),
    ] {
        let out = gw(&ann, &report_args(when));
        assert_ne!(out.code, 0, "{when} was accepted: {}", out.out);
        assert!(out.err.contains(why), "{when}: {}", out.err);
    }
    let list = gw(&ann, &["list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.err);
    let listed: Value = serde_json::from_str(&list.out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 0, "nothing was recorded");
    let ok = gw(&ann, &report_args("2026-05-01T09:30:00+08:00"));
    assert_eq!(ok.code, 0, "{}", ok.err);
    let sync = gw(&ann, &["sync"]);
    assert_eq!(sync.code, 0, "{}", sync.err);
    assert!(sync.out.contains("rejected 0"), "{}", sync.out);
}

impl Field {
    fn phone_in(&self, user: &str, role: &str, cell: &str) -> PathBuf {
        self.admin(&["users", "add", user, "--role", role, "--grids", cell]);
        let code = self.admin(&["devices", "enroll", "--user", user])["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let home = self.home(user);
        let out = run(
            "gridwarden",
            &["enroll", &code, "--home", home.to_str().unwrap()],
        );
        assert_eq!(out.code, 0, "{}", out.err);
        home
    }

    fn audit(&self) -> Vec<Value> {
        match self.admin(&["audit"]) {
            Value::Array(lines) => lines,
            other => panic!("audit --json: {other}"),
        }
    }
}

/// The grid cell the server gave report `id`, as `home` shows it.
fn cell_of(home: &Path, id: &str) -> String {
    let out = gw(home, &["show", id, "--json"]);
    assert_eq!(out.code, 0, "{}", out.err);
    serde_json::from_str::<Value>(&out.out).unwrap()["grid_cell"]
        .as_str()
        .expect("the server assigned a cell")
        .to_owned()
}

/// Records a report on `home` and syncs it; returns its id.
fn recorded(home: &Path) -> String {
    let mut args = report_args("2026-05-01T09:30:00+08:00");
    args.push("--json");
    let out = gw(home, &args);
    assert_eq!(out.code, 0, "{}", out.err);
    let id = serde_json::from_str::<Value>(&out.out).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sync = gw(home, &["sync"]);
    assert_eq!(sync.code, 0, "{}", sync.err);
    id
}

/// Item 9: twenty refused edits of another warden's report are each in
/// the audit log as a security event, with who, device, address, what and
/// why; enrolments carry the address they came from.
#[test]
fn refused_ops_are_audited_as_security_events_and_enrolments_carry_their_address() {
    let field = Field::start();
    let ann = field.phone("ann", "warden");
    let id = recorded(&ann);
    let cell = cell_of(&ann, &id);
    let bo = field.phone_in("bo", "warden", &cell);
    assert_eq!(gw(&bo, &["sync"]).code, 0);
    for i in 0..20 {
        let out = gw(&bo, &["edit", &id, "--note", &format!("not mine {i}")]);
        assert_eq!(out.code, 0, "{}", out.err);
    }
    let sync = gw(&bo, &["sync"]);
    assert_eq!(sync.code, 0, "{}", sync.err);
    assert!(sync.out.contains("rejected 20"), "{}", sync.out);
    let log = field.audit();
    let refused: Vec<&Value> = log
        .iter()
        .filter(|l| l["action"] == "security.refused")
        .collect();
    assert_eq!(refused.len(), 20, "{log:#?}");
    for l in &refused {
        assert_eq!(l["actor"], "bo");
        assert_eq!(l["subject"], id.as_str());
        assert!(l["device"].is_string(), "{l}");
        let detail = l["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("report.edit from 127.0.0.1:") && detail.contains("Forbidden"),
            "{detail}"
        );
    }
    let enrolments: Vec<&Value> = log
        .iter()
        .filter(|l| l["action"] == "device.enrol")
        .collect();
    assert_eq!(enrolments.len(), 2);
    for l in enrolments {
        let detail = l["detail"].as_str().unwrap();
        assert!(detail.contains("from 127.0.0.1:"), "{detail}");
    }
}

/// Item 6: a report nobody registers is overdue once its registration
/// deadline passes, in `cases --overdue` and the KPIs, without any step
/// taken. In process (`sim`), because the deadline is days of server time.
#[test]
fn an_untouched_report_turns_overdue_when_its_registration_deadline_passes() {
    use gridwarden_client_core::workflow::{GroupBy, Period};
    use gridwarden_client_core::CaseFilter;
    use gridwarden_e2e::report_at;
    use gridwarden_e2e::sim::{FaultPlan, Sim};
    use gridwarden_protocol::Role;

    let sim = Sim::new();
    let (_, location) = sim.cells(1).remove(0);
    sim.add_user("ann", Role::Warden, &[]);
    sim.add_user("sam", Role::Supervisor, &[]);
    let ann = sim.enrol("ann");
    let sam = sim.enrol("sam");
    let mut input = report_at("0101", location, "井盖缺失");
    input.observed_at_ms = sim.now_ms() as i64;
    let id = ann.client.record_report(input).unwrap();
    sim.sync(&ann, FaultPlan::Perfect).unwrap();
    sim.sync(&sam, FaultPlan::Perfect).unwrap();
    let overdue = CaseFilter {
        overdue_only: true,
        ..CaseFilter::default()
    };
    let case = sam.client.case(id).unwrap();
    assert!(
        case.deadline_ms.is_some(),
        "the deadline runs from the start"
    );
    assert!(sam.client.cases(&overdue).unwrap().is_empty());
    sim.advance(7 * 24 * 3600 * 1000);
    let late = sam.client.cases(&overdue).unwrap();
    assert_eq!(late.iter().map(|c| c.report_id).collect::<Vec<_>>(), [id]);
    let period = Period {
        from_ms: 0,
        to_ms: sim.now_ms() as i64,
    };
    let kpi = sam.client.kpi(GroupBy::Grid, period).unwrap();
    assert_eq!(kpi.iter().map(|r| r.overdue).sum::<u32>(), 1, "{kpi:?}");
}

impl Field {
    /// An admin command that prints text.
    fn admin_text(&self, args: &[&str]) -> String {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--data", self.data.to_str().unwrap()]);
        let out = run("gridwarden-server", &all);
        assert_eq!(out.code, 0, "gridwarden-server {args:?}: {}", out.err);
        out.out
    }
}

/// Syncs `home` and returns what it printed, which must say `rejected n`.
fn sync_rejecting(home: &Path, n: usize) -> String {
    let out = gw(home, &["sync"]);
    assert_eq!(out.code, 0, "{}", out.err);
    assert!(
        out.out.contains(&format!("rejected {n},")),
        "expected {n} rejected: {}",
        out.out
    );
    out.out
}

fn ok(out: Out) -> String {
    assert_eq!(out.code, 0, "{}", out.err);
    out.out
}

/// Items 4 and 8: once a report is a registered case, its warden can no
/// longer delete or edit it, its district supervisor cannot move it out of
/// the district, a verifier must hold its cell, and a change queued while
/// its user was disabled is refused after the re-enable.
#[test]
fn live_cases_are_protected_and_every_refusal_says_why() {
    let field = Field::start();
    let ann = field.phone("ann", "warden");
    let id = recorded(&ann);
    let other = recorded(&ann);
    let cell = cell_of(&ann, &id);
    let sam = field.phone_in("sam", "supervisor", &cell);
    let bo = field.phone_in("bo", "warden", &cell);
    let elsewhere = field.admin(&["grids", "list"])["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .find(|c| *c != cell)
        .unwrap();
    let zed = field.phone_in("zed", "warden", &elsewhere);
    field.admin_text(&["departments", "add", "water", "Water company"]);

    ok(gw(&sam, &["sync"]));
    ok(gw(&sam, &["case", "register", &id, "--note", "立案"]));
    sync_rejecting(&sam, 0);

    // Item 4: the warden's delete is refused with the reason; the case stays.
    ok(gw(&ann, &["sync"]));
    ok(gw(&ann, &["delete", &id]));
    let out = sync_rejecting(&ann, 1);
    assert!(out.contains("cannot be deleted"), "{out}");
    // Item 8: so is her edit of the note.
    ok(gw(&ann, &["edit", &id, "--note", "changed my mind"]));
    let out = sync_rejecting(&ann, 1);
    assert!(out.contains("only a supervisor of its district"), "{out}");
    ok(gw(&sam, &["sync"]));
    let cases = ok(gw(&sam, &["cases", "--status", "registered"]));
    assert!(cases.contains(&id[..8]), "{cases}");

    // The district supervisor may not move it out of his district.
    ok(gw(&sam, &["edit", &id, "--lon", "2.35", "--lat", "48.85"]));
    let out = sync_rejecting(&sam, 1);
    assert!(out.contains("stays in your district"), "{out}");

    // A verifier must hold the case's cell.
    ok(gw(
        &sam,
        &["case", "dispatch", &id, "--department", "water"],
    ));
    ok(gw(&sam, &["case", "dispose", &id, "--note", "fixed"]));
    sync_rejecting(&sam, 0);
    ok(gw(
        &sam,
        &["case", "send-for-verification", &id, "--verifier", "zed"],
    ));
    let out = sync_rejecting(&sam, 1);
    assert!(
        out.contains("zed does not hold this case's grid cell"),
        "{out}"
    );
    ok(gw(
        &sam,
        &["case", "send-for-verification", &id, "--verifier", "bo"],
    ));
    sync_rejecting(&sam, 0);
    ok(gw(&bo, &["sync"]));
    let tasks = ok(gw(&bo, &["tasks"]));
    assert!(tasks.contains(&id[..8]), "{tasks}");
    let _ = zed;

    // A change made while its user was disabled is refused once she is
    // enabled again.
    // The phone stamps its edit with its estimate of the server's time,
    // good to a few tens of milliseconds (ADR 0013); the guarantee is for a
    // change made well inside the disabled period, so the edit is made a
    // second after the disable and a second before the enable.
    field.admin_text(&["users", "disable", "ann"]);
    std::thread::sleep(std::time::Duration::from_secs(1));
    ok(gw(&ann, &["edit", &other, "--note", "while disabled"]));
    std::thread::sleep(std::time::Duration::from_secs(1));
    field.admin_text(&["users", "enable", "ann"]);
    let out = sync_rejecting(&ann, 1);
    assert!(out.contains("while user `ann` was disabled"), "{out}");
}

/// Item 5: a revoked phone's unsent reports come home. They can be
/// exported for IT; the same home enrolled again with a new code keeps
/// them and the next sync sends them, audited as recovered from the old
/// device; without the new code nothing syncs.
#[test]
fn a_revoked_phones_unsent_reports_come_home_with_a_new_code() {
    let field = Field::start();
    let ann = field.phone("ann", "warden");
    let sam = field.phone("sam", "supervisor");
    let status: Value = serde_json::from_str(&ok(gw(&ann, &["status", "--json"]))).unwrap();
    let old_device = status["device_id"].as_str().unwrap().to_owned();
    for i in 0..20 {
        let mut args = report_args("2026-05-01T09:30:00+08:00");
        let note = format!("offline {i}");
        args[8] = &note;
        ok(gw(&ann, &args));
    }
    field.admin(&["devices", "revoke", &old_device]);
    let refused = gw(&ann, &["sync"]);
    assert_ne!(refused.code, 0);
    assert!(refused.err.contains("enrol it again"), "{}", refused.err);

    // What the phone holds unsent, for IT.
    let export: Value = serde_json::from_str(&ok(gw(&ann, &["export", "--json"]))).unwrap();
    assert_eq!(export["ops"].as_array().unwrap().len(), 20);
    assert_eq!(export["reports"].as_array().unwrap().len(), 20);
    assert_eq!(export["user"], "ann");

    // A plain enrol of the same home is refused and says how.
    let code = field.admin(&["devices", "enroll", "--user", "ann"])["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = gw(&ann, &["enroll", &code]);
    assert_ne!(again.code, 0);
    assert!(again.err.contains("--again"), "{}", again.err);
    ok(gw(&ann, &["enroll", &code, "--again"]));
    let sync = ok(gw(&ann, &["sync"]));
    assert!(
        sync.contains("Pushed 20,") && sync.contains("rejected 0"),
        "{sync}"
    );
    ok(gw(&sam, &["sync"]));
    let listed: Value = serde_json::from_str(&ok(gw(&sam, &["list", "--json"]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 20);
    let recovered = field
        .audit()
        .into_iter()
        .filter(|l| l["action"] == "device.enrol")
        .filter(|l| {
            l["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("re-enrolled, was {old_device}"))
        })
        .count();
    assert_eq!(recovered, 1);
}

/// Item 8, the record: once a report is a registered case, its district
/// supervisor's change of its category and of its location (within the
/// district) is written into the case's history, who, when, old → new, and
/// the warden's phone pulls that history with the case.
#[test]
fn a_supervisors_change_of_a_live_cases_category_and_location_is_in_its_history() {
    let field = Field::start();
    let ann = field.phone("ann", "warden");
    let id = recorded(&ann);
    let cell = cell_of(&ann, &id);
    let sam = field.phone_in("sam", "supervisor", &cell);
    ok(gw(&sam, &["sync"]));
    ok(gw(&sam, &["case", "register", &id, "--note", "立案"]));
    sync_rejecting(&sam, 0);

    // A few metres along the street: the same cell, inside his district.
    ok(gw(
        &sam,
        &[
            "edit",
            &id,
            "--category",
            "0102",
            "--lon",
            "111.68742",
            "--lat",
            "40.84947",
        ],
    ));
    sync_rejecting(&sam, 0);

    ok(gw(&ann, &["sync"]));
    assert_eq!(cell_of(&ann, &id), cell, "the move stays in the cell");
    let case: Value =
        serde_json::from_str(&ok(gw(&ann, &["case", "show", &id, "--json"]))).unwrap();
    assert_eq!(case["status"], "registered", "{case:#}");
    let steps = case["history"].as_array().unwrap();
    let ops: Vec<&str> = steps.iter().map(|s| s["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["register", "amend"], "{case:#}");
    let amend = &steps[1];
    assert_eq!(amend["by"], "sam");
    assert_eq!(amend["role"], "supervisor");
    assert_eq!(amend["from"], "registered");
    assert_eq!(amend["to"], "registered");
    assert!(amend["server_ms"].as_i64().unwrap() >= steps[0]["server_ms"].as_i64().unwrap());
    let text = amend["text"].as_str().unwrap();
    assert!(text.contains("category 0101 → 0102"), "{text}");
    assert!(
        text.contains("location 111.687400,40.849450 → 111.687420,40.849470"),
        "{text}"
    );
    // And the plain `case show` a warden reads.
    let shown = ok(gw(&ann, &["case", "show", &id]));
    assert!(
        shown.contains("amend")
            && shown.contains("category 0101 → 0102")
            && shown.contains("by sam"),
        "{shown}"
    );
    // The change is in the audit log as the case's, too.
    let amended = field
        .audit()
        .into_iter()
        .filter(|l| l["action"] == "case.amend" && l["subject"] == id.as_str())
        .count();
    assert_eq!(amended, 1);

    // A note edit is not a change of the record's place or kind: no entry.
    ok(gw(&sam, &["edit", &id, "--note", "补充说明"]));
    sync_rejecting(&sam, 0);
    ok(gw(&ann, &["sync"]));
    let case: Value =
        serde_json::from_str(&ok(gw(&ann, &["case", "show", &id, "--json"]))).unwrap();
    assert_eq!(case["history"].as_array().unwrap().len(), 2, "{case:#}");
}

/// Item 5, through IT: what a revoked phone exported is imported on the
/// server as a push from its user's device, audited as recovered; a second
/// import adds nothing, and a file named for another user is refused.
#[test]
fn it_imports_a_revoked_phones_export_once_and_audits_it() {
    let field = Field::start();
    let ann = field.phone("ann", "warden");
    let sam = field.phone("sam", "supervisor");
    let status: Value = serde_json::from_str(&ok(gw(&ann, &["status", "--json"]))).unwrap();
    let device = status["device_id"].as_str().unwrap().to_owned();
    for i in 0..5 {
        let mut args = report_args("2026-05-01T09:30:00+08:00");
        let note = format!("offline {i}");
        args[8] = &note;
        ok(gw(&ann, &args));
    }
    field.admin(&["devices", "revoke", &device]);
    let file = field.root.join("ann-unsent.json");
    std::fs::write(&file, ok(gw(&ann, &["export", "--json"]))).unwrap();
    let file = file.to_str().unwrap();

    let wrong = run(
        "gridwarden-server",
        &[
            "devices",
            "import-unsent",
            file,
            "--user",
            "sam",
            "--data",
            field.data.to_str().unwrap(),
        ],
    );
    assert_ne!(wrong.code, 0);
    assert!(wrong.err.contains("not `sam`"), "{}", wrong.err);

    let first = field.admin(&["devices", "import-unsent", file, "--user", "ann"]);
    assert_eq!(first["applied"], 5, "{first:#}");
    assert_eq!(first["duplicate"], 0, "{first:#}");
    assert_eq!(first["refused"].as_array().unwrap().len(), 0, "{first:#}");
    let again = field.admin(&["devices", "import-unsent", file, "--user", "ann"]);
    assert_eq!(again["applied"], 0, "{again:#}");
    assert_eq!(again["duplicate"], 5, "{again:#}");

    ok(gw(&sam, &["sync"]));
    let listed: Value = serde_json::from_str(&ok(gw(&sam, &["list", "--json"]))).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|r| r["reporter"] == "ann"), "{listed:#?}");
    let imports: Vec<Value> = field
        .audit()
        .into_iter()
        .filter(|l| l["action"] == "device.import" && l["subject"] == device.as_str())
        .collect();
    assert_eq!(imports.len(), 2, "{imports:#?}");
    let detail = imports[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("recovered unsent work of `ann`") && detail.contains("applied 5"),
        "{detail}"
    );
}
