//! Several server processes on one PostgreSQL database (docs/scale.md): two
//! real `gridwarden-server serve --store postgres://…` processes sharing a
//! throwaway cluster's database, the certificate and the photo directory;
//! devices reach them through one address (a UDP relay standing in for the
//! balancer, sending each new connection to the process it is set to).
//! Skipped with a notice where PostgreSQL is not installed; under `CI=true`
//! that is a failure.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gridwarden_client_core::{Client, ClientError};
use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use gridwarden_e2e::raw::Raw;
use gridwarden_e2e::relay::Relay;
use gridwarden_e2e::{bins, cells_with_points, report_at};
use gridwarden_protocol::clock;
use gridwarden_protocol::{ErrorCode, Role};
use gridwarden_server::datadir::{StoreLocation, PHOTOS_DIR};
use gridwarden_server::store::postgres::cluster;
use gridwarden_server::{admin, tls, DataDir, Limits};

/// Two processes on one database, each with its own data directory holding
/// the same certificate, and the photos on a directory both reach.
pub(crate) struct Pair {
    pub(crate) url: String,
    pub(crate) admin: DataDir,
    pub(crate) dirs: [std::path::PathBuf; 2],
    pub(crate) processes: [ServerProcess; 2],
    pub(crate) addrs: [std::net::SocketAddr; 2],
}

pub(crate) fn pair(root: &Path) -> Option<Pair> {
    Some(pair_on(root, cluster::fresh_database()?, ""))
}

/// [`pair`] on the database at `url`, each process with `config` as its
/// `server.toml` when it is not empty.
pub(crate) fn pair_on(root: &Path, url: String, config: &str) -> Pair {
    let store = StoreLocation::Postgres(url.clone());
    let dirs = [root.join("one"), root.join("two")];
    // The first opening migrates the database and loads the defaults; the
    // second directory gets the first's certificate (devices pin one) and
    // its photos through a link, as a shared mount would.
    let admin = DataDir::open_on(&dirs[0], &store, Limits::default(), clock::system()).unwrap();
    std::fs::create_dir_all(&dirs[1]).unwrap();
    for file in [tls::CERT_FILE, tls::KEY_FILE] {
        std::fs::copy(dirs[0].join(file), dirs[1].join(file)).unwrap();
    }
    std::os::unix::fs::symlink(dirs[0].join(PHOTOS_DIR), dirs[1].join(PHOTOS_DIR)).unwrap();
    if !config.is_empty() {
        for dir in &dirs {
            std::fs::write(dir.join(gridwarden_server::config::CONFIG_FILE), config).unwrap();
        }
    }
    let ports = [free_udp_port(), free_udp_port()];
    let processes =
        [0, 1].map(|i| ServerProcess::start_with_args(&dirs[i], ports[i], &["--store", &url]));
    let addrs = ports.map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)));
    Pair {
        url,
        admin,
        dirs,
        processes,
        addrs,
    }
}

pub(crate) fn enrol(pair: &Pair, relay: &Relay, home: &Path, user: &str) -> Client {
    let code = admin::enrol_device(&pair.admin, user, Some(&relay.addr().to_string()))
        .unwrap()
        .code;
    let client = Client::open(home)
        .unwrap()
        .with_connect_timeout(Duration::from_secs(5));
    client.enroll(&code, "e2e phone").unwrap();
    client
}

pub(crate) fn notes(client: &Client) -> BTreeSet<String> {
    client
        .list_reports()
        .unwrap()
        .into_iter()
        .map(|r| r.note)
        .collect()
}

#[test]
fn devices_alternating_between_two_processes_on_one_database_converge() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(pair) = pair(tmp.path()) else {
        return;
    };
    assert_ne!(pair.processes[0].pid(), pair.processes[1].pid());
    let cells = cells_with_points(&pair.admin, 2);
    let (cell, here) = cells[0].clone();
    admin::add_user(&pair.admin, "ann", Role::Warden, vec![cell.clone()]).unwrap();
    admin::add_user(&pair.admin, "bo", Role::Warden, vec![cell.clone()]).unwrap();
    admin::add_user(&pair.admin, "sam", Role::Supervisor, vec![]).unwrap();
    let relay = Relay::start(pair.addrs[0], 16);
    let ann = enrol(&pair, &relay, &tmp.path().join("ann"), "ann");
    relay.set_server(pair.addrs[1]);
    let bo = enrol(&pair, &relay, &tmp.path().join("bo"), "bo");
    let sam = enrol(&pair, &relay, &tmp.path().join("sam"), "sam");

    // Each round, every device syncs once, through whichever process the
    // balancer sends its connection to: pushes land on one process, the
    // pulls that carry them to others come from the other.
    let mut expected = BTreeSet::new();
    for round in 0..4 {
        for (i, (name, client)) in [("ann", &ann), ("bo", &bo), ("sam", &sam)]
            .into_iter()
            .enumerate()
        {
            relay.set_server(pair.addrs[(round + i) % 2]);
            let note = format!("{name} round {round}");
            client
                .record_report(report_at("0101", here, &note))
                .unwrap();
            expected.insert(note);
            let summary = client.sync().unwrap();
            assert_eq!(
                (summary.pushed, summary.rejected.len()),
                (1, 0),
                "{name} in round {round}"
            );
        }
    }
    // One more sync each, alternating, and every device holds every report
    // once: the same as the database.
    for (i, client) in [&ann, &bo, &sam].into_iter().enumerate() {
        relay.set_server(pair.addrs[i % 2]);
        client.sync().unwrap();
        assert_eq!(notes(client), expected);
        assert_eq!(client.list_reports().unwrap().len(), expected.len());
    }
    assert_eq!(
        pair.admin.store().reports(false).unwrap().len(),
        expected.len(),
        "each push stored once"
    );
}

#[test]
fn a_device_revoked_by_a_command_on_one_directory_is_cut_off_by_the_other_process() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(pair) = pair(tmp.path()) else {
        return;
    };
    let (cell, here) = cells_with_points(&pair.admin, 1).remove(0);
    admin::add_user(&pair.admin, "ann", Role::Warden, vec![cell]).unwrap();
    let relay = Relay::start(pair.addrs[0], 17);
    let ann = enrol(&pair, &relay, &tmp.path().join("ann"), "ann");
    ann.record_report(report_at("0101", here, "before"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);

    // The phone holds a connection open to the second process.
    let device = ann.status().unwrap().device_id.unwrap();
    let token = ann.device_token_for_tests().unwrap();
    let raw = Raw::hello(
        pair.addrs[1],
        pair.admin.identity.fingerprint(),
        device,
        token,
    );

    // IT revokes it with the real command on the first directory.
    let out = Command::new(bins::path("gridwarden-server"))
        .args(["--data", pair.dirs[0].to_str().unwrap()])
        .args(["--store", &pair.url])
        .args(["devices", "revoke", &device.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The second process closes the open connection (it polls the shared
    // auth epoch), and the first refuses the next sync.
    let closed = raw
        .runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), raw.conn.closed()).await })
        .expect("the other process did not cut the revoked device off");
    let reason = match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            String::from_utf8_lossy(&close.reason).into_owned()
        }
        other => panic!("closed for another reason: {other}"),
    };
    assert!(reason.contains("revoked by IT"), "{reason}");
    relay.set_server(pair.addrs[0]);
    ann.record_report(report_at("0101", here, "after")).unwrap();
    match ann.sync().unwrap_err() {
        ClientError::Refused { code, message } => {
            assert_eq!(code, ErrorCode::Unauthenticated);
            assert!(message.contains("revoked by IT"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(pair.admin.store().reports(false).unwrap().len(), 1);
}

#[test]
fn migrate_copies_an_embedded_store_and_a_new_device_pulls_the_same_from_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(url) = cluster::fresh_database() else {
        return;
    };
    let data = tmp.path().join("city");
    let mut server = gridwarden_e2e::TestServer::start(&data);
    let [(cell, here), (_, there)] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    server.add_user("sam", Role::Supervisor, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    for i in 0..6 {
        let at = if i % 2 == 0 { here } else { there };
        ann.record_report(report_at("0101", at, &format!("before the move {i}")))
            .unwrap();
    }
    assert_eq!(ann.sync().unwrap().pushed, 6);
    let sam = server.enrol(&tmp.path().join("sam"), "sam");
    sam.sync().unwrap();
    let before = notes(&sam);
    let port = server.addr.port();
    server.stop();

    let migrate = |extra: &[&str]| {
        Command::new(bins::path("gridwarden-server"))
            .args(["--data", data.to_str().unwrap(), "migrate", "--to", &url])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = migrate(&["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copied: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = |table: &str| {
        copied["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t[0] == table)
            .unwrap()[1]
            .as_u64()
            .unwrap()
    };
    assert_eq!(rows("reports"), 6);
    assert_eq!(rows("users"), 2);
    assert_eq!(copied["feed_checksum"].as_str().unwrap().len(), 64);

    // A second copy into the same database is refused, and changes nothing.
    let again = migrate(&[]);
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("not empty"), "{said}");

    // The same directory served from PostgreSQL: the devices go on, and a
    // new one pulls what the old server had.
    let _serving = ServerProcess::start_with_args(&data, port, &["--store", &url]);
    let admin = DataDir::open_on(
        &data,
        &StoreLocation::Postgres(url.clone()),
        Limits::default(),
        clock::system(),
    )
    .unwrap();
    assert_eq!(admin.store().reports(false).unwrap().len(), 6);
    let code = admin::enrol_device(&admin, "sam", Some(&format!("127.0.0.1:{port}")))
        .unwrap()
        .code;
    let fresh = Client::open(tmp.path().join("sam2"))
        .unwrap()
        .with_connect_timeout(Duration::from_secs(5));
    fresh.enroll(&code, "new phone").unwrap();
    assert_eq!(fresh.sync().unwrap().pulled, 6);
    assert_eq!(notes(&fresh), before);
    ann.record_report(report_at("0101", here, "after the move"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);
    sam.sync().unwrap();
    assert_eq!(notes(&sam).len(), 7);
}
