//! What IT does at 3 a.m., through the real `gridwarden-server` binary: the
//! data directory's lock and the rules for finding it, the public address
//! enrolment codes carry.

mod backup;
mod gc;
mod give_back;
mod limits;
mod rotate;
mod watch;

use std::path::Path;
use std::process::Command;

use gridwarden_e2e::bins;
use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use serde_json::Value;

/// Runs `gridwarden-server ARGS` in `cwd` with `GRIDWARDEN_DATA` set to
/// `env` (or unset): (exit code, stdout, stderr).
fn admin_in(cwd: &Path, env: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(bins::path("gridwarden-server"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("GRIDWARDEN_DATA");
    if let Some(env) = env {
        cmd.env("GRIDWARDEN_DATA", env);
    }
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn admin(data: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--data", data.to_str().unwrap()];
    all.extend_from_slice(args);
    admin_in(data.parent().unwrap(), None, &all)
}

fn ok(data: &Path, args: &[&str]) -> String {
    let (code, out, err) = admin(data, args);
    assert_eq!(code, 0, "{args:?} failed: {err}");
    out
}

fn enrolment_addr(data: &Path) -> String {
    let out = ok(data, &["devices", "enroll", "--user", "ann", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["server_addr"].as_str().unwrap().to_owned()
}

#[test]
fn a_second_serve_is_refused_naming_the_pid_and_a_killed_server_leaves_no_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (first_port, other_port) = (free_udp_port(), free_udp_port());
    let first = format!("127.0.0.1:{first_port}");

    let mut server = ServerProcess::start(&data, first_port);
    ok(&data, &["users", "add", "ann", "--role", "warden"]);
    assert_eq!(enrolment_addr(&data), first);

    // A second server on the same directory, on another port, is refused
    // and names the process holding the directory.
    let (code, out, err) = admin(
        &data,
        &["serve", "--listen", &format!("127.0.0.1:{other_port}")],
    );
    assert_eq!(code, 1, "a second serve started: {out}");
    assert!(err.contains(&format!("pid {}", server.pid())), "{err}");
    assert!(!out.contains("listening"), "{out}");
    // … and enrolment codes still dial the first.
    assert_eq!(enrolment_addr(&data), first);

    // SIGKILL leaves no stale lock: a server starts at once, here on
    // another port; the public address stays what was set.
    server.kill();
    let mut server = ServerProcess::start(&data, other_port);
    assert_eq!(enrolment_addr(&data), first);

    // `status` sees the running server and the device-free fleet.
    let status: Value = serde_json::from_str(&ok(&data, &["status", "--json"])).unwrap();
    assert_eq!(status["server_pid"], server.pid().to_string(), "{status}");
    assert_eq!(status["database_check"], "ok", "{status}");
    assert!(status["disk_available_bytes"].as_u64().unwrap() > 0);
    assert_eq!(status["public_addr"], first.as_str());
    server.kill();
    let text = ok(&data, &["status"]);
    assert!(text.contains("server: not running"), "{text}");

    // Changed only on purpose, and the change is audited.
    let _server =
        ServerProcess::start_with_args(&data, other_port, &["--public-addr", "gw.example:4433"]);
    assert_eq!(enrolment_addr(&data), "gw.example:4433");
    let audit = ok(&data, &["audit", "--json"]);
    assert!(audit.contains("server.public_addr"), "{audit}");
}

#[test]
fn admin_commands_never_create_a_data_directory_and_say_which_they_used() {
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();

    // From a directory that is no data directory: refused, nothing created.
    let (code, _, err) = admin_in(
        &elsewhere,
        None,
        &["users", "add", "ann", "--role", "warden"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("gridwarden-server init"), "{err}");
    assert!(err.contains("gridwarden-data"), "{err}");
    let missing = tmp.path().join("missing");
    let (code, _, err) = admin_in(
        &elsewhere,
        None,
        &["--data", missing.to_str().unwrap(), "users", "list"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("from --data"), "{err}");
    assert!(!missing.exists());
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

    // `init` creates one; then each way of finding it is named.
    let data = tmp.path().join("data");
    let (code, out, err) = admin_in(
        &elsewhere,
        None,
        &["init", "--data", data.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created data directory"), "{out}");
    assert!(out.contains("fingerprint"), "{out}");

    let (code, _, err) = admin_in(&elsewhere, Some(&data), &["users", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("from GRIDWARDEN_DATA"), "{err}");
    let (code, _, err) = admin_in(&data, None, &["users", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("the current directory"), "{err}");
    // A supervisor without cells covers the whole city, and is told so.
    let (code, added, err) = admin_in(
        &data,
        None,
        &["users", "add", "sam", "--role", "supervisor"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(added.contains("covering the whole city"), "{added}");
    // --data wins over the environment.
    let (code, _, err) = admin_in(
        &elsewhere,
        Some(&missing),
        &["--data", data.to_str().unwrap(), "users", "list"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("from --data"), "{err}");
    assert!(!missing.exists());

    // A second `init` changes nothing: the certificate stays.
    let fingerprint = |out: &str| out.lines().last().unwrap().to_owned();
    let (_, again, _) = admin_in(
        &elsewhere,
        None,
        &["init", "--data", data.to_str().unwrap()],
    );
    assert!(again.contains("existing data directory"), "{again}");
    assert_eq!(fingerprint(&again), fingerprint(&out));
}

#[test]
fn logs_are_json_lines_or_plain_text_without_colour_off_a_terminal_and_usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let (json_dir, text_dir) = (tmp.path().join("a"), tmp.path().join("b"));

    let (code, _, err) = admin_in(
        tmp.path(),
        None,
        &[
            "init",
            "--data",
            json_dir.to_str().unwrap(),
            "--log-format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["fields"]["message"] == "loaded the bundled sample grid layer"),
        "{err}"
    );
    // An error is a JSON line too.
    let missing = tmp.path().join("missing");
    let (code, _, err) = admin_in(
        tmp.path(),
        None,
        &[
            "users",
            "list",
            "--data",
            missing.to_str().unwrap(),
            "--log-format",
            "json",
        ],
    );
    assert_eq!(code, 1);
    let last: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR", "{err}");

    // Stderr is a pipe here: plain text, no escape codes.
    let (code, _, err) = admin_in(
        tmp.path(),
        None,
        &["init", "--data", text_dir.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("loaded the bundled sample grid layer"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err:?}");

    // Usage errors exit 2, as docs/cli.md says.
    let (code, _, _) = admin_in(tmp.path(), None, &["no-such-command"]);
    assert_eq!(code, 2);
    let (code, _, _) = admin_in(tmp.path(), None, &["--log-format", "xml", "init"]);
    assert_eq!(code, 2);
}
