//! Certificates read again on SIGHUP by the real binary (a bad one refused,
//! the old kept), and `status` showing the running server's connected
//! devices and the certificate's days left.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use gridwarden_e2e::raw::Raw;
use serde_json::Value;

use super::ok;
use super::watch::enrol;

const WAIT: Duration = Duration::from_secs(20);

fn hup(server: &ServerProcess) {
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Whether a QUIC handshake pinned to `fingerprint` succeeds.
fn handshake(addr: SocketAddr, fingerprint: [u8; 32]) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        gridwarden_client_core::transport::connect_quic(&addr.to_string(), fingerprint)
            .await
            .is_ok()
    })
}

fn fingerprint(data: &Path) -> [u8; 32] {
    let status: Value = serde_json::from_str(&ok(data, &["cert", "status", "--json"])).unwrap();
    let hex = status["fingerprint"].as_str().unwrap();
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

fn status(data: &Path) -> Value {
    serde_json::from_str(&ok(data, &["status", "--json"])).unwrap()
}

/// Polls `status` until `cond` holds (the live file is rewritten every 2 s).
fn status_until(data: &Path, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = status(data);
        if cond(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "status never showed {what}: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sighup_reloads_the_certificate_refusing_a_bad_one_and_status_shows_the_live_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init"]);
    ok(&data, &["users", "add", "ann", "--role", "warden"]);
    let port = free_udp_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = ServerProcess::start_logged(&data, port, &[]);
    let old = fingerprint(&data);
    assert!(handshake(addr, old));

    // `status`: the pinned certificate's days left, no warning (the
    // generated one outlives us all), and the devices connected now.
    let s = status_until(&data, "the live server", |s| s["connected_devices"] == 0);
    let quic = &s["certificates"][0];
    assert_eq!(quic["which"], "quic", "{s}");
    assert!(quic["days_left"].as_i64().unwrap() > 30, "{s}");
    assert!(quic["warning"].is_null(), "{s}");
    assert!(
        s["http"].as_str().unwrap().starts_with("http://127.0.0.1:"),
        "{s}"
    );
    let ann = enrol(&data, &tmp.path().join("ann"), "ann");
    let device = ann.status().unwrap().device_id.unwrap();
    let held = Raw::hello(addr, old, device, ann.device_token_for_tests().unwrap());
    status_until(&data, "one device connected", |s| {
        s["connected_devices"] == 1
    });
    let text = ok(&data, &["status"]);
    assert!(text.contains("1 devices connected now"), "{text}");
    assert!(text.contains("certificate (quic):"), "{text}");

    // A damaged certificate is refused with a log line; the old one serves on.
    let cert = data.join("server-cert.der");
    let good = std::fs::read(&cert).unwrap();
    std::fs::write(&cert, b"not a certificate").unwrap();
    hup(&server);
    let line = server.wait_for_log("certificate reload refused", WAIT);
    assert!(line.contains("server-cert.der"), "{line}");
    assert!(handshake(addr, old));
    // `status` says the file is unreadable.
    let s = status(&data);
    assert!(
        s["certificates"][0]["warning"]
            .as_str()
            .unwrap()
            .contains("unreadable"),
        "{s}"
    );
    std::fs::write(&cert, &good).unwrap();

    // A rotation without a restart: the next certificate is announced on
    // the first SIGHUP, served on the second. The announcing reload closes
    // the connections open before it (their devices learn the next
    // certificate only in a new handshake, ADR 0040); the one opened
    // after it goes on through the switch.
    let fetch =
        gridwarden_protocol::ClientMessage::FetchReference(gridwarden_protocol::FetchReference {
            categories_version: None,
            grid_version: None,
        });
    ok(&data, &["cert", "rotate"]);
    hup(&server);
    // Logged in that order: the close is part of the reload.
    server.wait_for_log("a next certificate is announced", WAIT);
    server.wait_for_log("certificate reloaded", WAIT);
    assert!(held.request(&fetch).is_err(), "closed by the announcement");
    let held = Raw::hello(addr, old, device, ann.device_token_for_tests().unwrap());
    let rotation: Value = serde_json::from_str(&ok(&data, &["cert", "status", "--json"])).unwrap();
    assert!(rotation["announced_ms"].is_i64(), "{rotation}");
    ok(&data, &["cert", "activate"]);
    hup(&server);
    server.wait_for_log("certificate reloaded", WAIT);
    let new = fingerprint(&data);
    assert_ne!(new, old);
    assert!(handshake(addr, new), "the new certificate is served");
    assert!(!handshake(addr, old), "the old one is not");
    // The connection opened during the rollover still answers.
    assert!(held.request(&fetch).is_ok());
    drop(server);
}
