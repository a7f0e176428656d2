//! The mobile bindings' acceptance test: the generated Python bindings and
//! the built library, driven by `mobile-bindings/tests/python/test_bindings.py`
//! against a real server (a warden's and a supervisor's phone, offline
//! recording, sync, a supervisor's edit coming back, the case loop from
//! registering to closing, a supervisor's patrol review, errors,
//! cancellation).

use std::time::Duration;

use gridwarden_e2e::mobile::{generate_python_bindings, python_test_script, run_python};
use gridwarden_e2e::TestServer;
use gridwarden_protocol::Role;
use gridwarden_server::admin::workflow::{add_department, import_categories};
use gridwarden_server::datadir::DEFAULT_CATEGORIES;

/// The department the script's cases go to: the bundled category table's
/// default route for `0101` (a water-supply manhole cover).
const DEPARTMENT: &str = "water";

#[test]
fn the_python_bindings_record_offline_sync_and_see_a_supervisors_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let bindings = generate_python_bindings(&tmp.path().join("bindings"));

    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell, point), _] = server.two_cells();
    {
        // The case loop needs departments, and category routes for a
        // dispatch to the category's default department.
        let data = server.admin();
        add_department(&data, DEPARTMENT, "自来水公司 water company", true).unwrap();
        let mut table: serde_json::Value = serde_json::from_str(DEFAULT_CATEGORIES).unwrap();
        table["routes"] = serde_json::json!({ "0101": DEPARTMENT });
        let file = tmp.path().join("categories.json");
        std::fs::write(&file, table.to_string()).unwrap();
        import_categories(&data, &file).unwrap();
    }
    server.add_user("ann", Role::Warden, &[&cell]);
    server.add_user("sam", Role::Supervisor, &[]);
    let env = [
        ("GRIDWARDEN_BINDINGS", bindings.display().to_string()),
        ("GRIDWARDEN_WARDEN_CODE", server.enrolment_code("ann")),
        ("GRIDWARDEN_SUPERVISOR_CODE", server.enrolment_code("sam")),
        ("GRIDWARDEN_CELL", cell),
        ("GRIDWARDEN_DEPARTMENT", DEPARTMENT.to_owned()),
        ("GRIDWARDEN_CELL_LON", point.lon.to_string()),
        ("GRIDWARDEN_CELL_LAT", point.lat.to_string()),
    ];

    let run = run_python(
        &python_test_script(),
        &env,
        Duration::from_secs(300),
        |request| match request {
            "stop-server" => {
                server.stop();
                "stopped".to_owned()
            }
            other => format!("unknown request {other}"),
        },
    );
    // Shown with --nocapture: which Python tests ran, and how long each took.
    println!("{}", run.output);
    assert!(
        run.success,
        "the Python bindings test failed:\n{}",
        run.output
    );
    // unittest's closing line: every test ran, none was skipped.
    assert!(
        run.output.lines().any(|l| l.trim() == "OK"),
        "{}",
        run.output
    );
}
