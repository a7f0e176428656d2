//! The mobile bindings' acceptance test: the generated Python bindings and
//! the built library, driven by `mobile-bindings/tests/python/test_bindings.py`
//! against a real server (a warden's and a supervisor's phone, offline
//! recording, sync, a supervisor's edit coming back, errors, cancellation).

use std::time::Duration;

use gridwarden_e2e::mobile::{generate_python_bindings, python_test_script, run_python};
use gridwarden_e2e::TestServer;
use gridwarden_protocol::Role;

#[test]
fn the_python_bindings_record_offline_sync_and_see_a_supervisors_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let bindings = generate_python_bindings(&tmp.path().join("bindings"));

    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell, point), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    server.add_user("sam", Role::Supervisor, &[]);
    let env = [
        ("GRIDWARDEN_BINDINGS", bindings.display().to_string()),
        ("GRIDWARDEN_WARDEN_CODE", server.enrolment_code("ann")),
        ("GRIDWARDEN_SUPERVISOR_CODE", server.enrolment_code("sam")),
        ("GRIDWARDEN_CELL", cell),
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
