//! Gaps a warden meets in sync (issue 21), over real QUIC with a real
//! server: an enrolment whose answer was lost; a user's cells changed by
//! IT, directly or by a layer that renumbers them.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use gridwarden_client_core::tls::Pins;
use gridwarden_client_core::transport;
use gridwarden_client_core::{CaseFilter, Client, Location};
use gridwarden_e2e::raw::Raw;
use gridwarden_e2e::relay::{Direction, Relay};
use gridwarden_e2e::{bins, report_at, TestServer};
use gridwarden_protocol::enrolment::EnrolmentCode;
use gridwarden_protocol::{ClientMessage, Enroll, Role, ServerMessage, PROTOCOL_VERSION};
use gridwarden_server::admin::{
    self,
    grids::{self, GridImport, ImportOutcome},
};
use gridwarden_server::store::Device;
use gridwarden_server::DataDir;
use uuid::Uuid;

/// Every device here gives up on a handshake after this long.
const CONNECT: Duration = Duration::from_secs(5);

/// The code IT issued, pointing at `relay` instead of the server.
fn code_via(server: &TestServer, relay: &Relay, user: &str) -> String {
    let code = server.enrolment_code(user);
    code.strip_suffix(&server.addr.to_string())
        .map(|rest| format!("{rest}{}", relay.addr()))
        .expect("an enrolment code ends with the server address")
}

fn devices_of(admin: &DataDir, user: &str) -> Vec<Device> {
    let devices = admin.store().devices().unwrap();
    devices.into_iter().filter(|d| d.user == user).collect()
}

fn phone(home: &Path) -> Client {
    Client::open(home).unwrap().with_connect_timeout(CONNECT)
}

#[test]
fn an_enrolment_whose_answer_was_lost_is_retried_with_the_same_code_and_gets_the_same_device() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let admin = server.admin();
    let relay = Relay::start(server.addr, 21);
    let code = code_via(&server, &relay, "ann");
    let parsed = EnrolmentCode::parse(&code).unwrap();
    let ann = phone(&tmp.path().join("ann"));

    // The first attempt: the request reaches the server, which enrols the
    // device and answers; the answer never reaches the phone, which gives up.
    let key = ann.enrolment_key_for_tests().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut session = transport::connect_with_key(
            &relay.addr().to_string(),
            Pins::only(parsed.fingerprint),
            CONNECT,
            Some(&key),
        )
        .await
        .unwrap();
        relay.set_cut_toward(Direction::ToClient, true);
        let attempt = ann.enroll_over(&mut session, &parsed, "phone in a basement");
        let enrolled_on_the_server = async {
            let deadline = Instant::now() + Duration::from_secs(60);
            while devices_of(&admin, "ann").is_empty() {
                assert!(Instant::now() < deadline, "the server never enrolled");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::select! {
            answer = attempt => panic!("the answer was dropped, yet: {answer:?}"),
            () = enrolled_on_the_server => {}
        }
    });
    drop(runtime);
    let first = devices_of(&admin, "ann");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(!ann.is_enrolled().unwrap(), "the phone never heard back");

    // The warden taps "enrol" again with the same code: the same device.
    relay.set_cut_toward(Direction::ToClient, false);
    let info = ann.enroll(&code, "phone in a basement").unwrap();
    assert_eq!(info.device_id, first[0].id);
    let after = devices_of(&admin, "ann");
    assert_eq!(after.len(), 1, "no orphan device: {after:?}");
    assert_ne!(
        after[0].token_hash, first[0].token_hash,
        "the lost answer's token is worth nothing now"
    );
    let enrolments: Vec<String> = admin
        .store()
        .audit_log(None)
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.record.action == "device.enrol" && e.record.subject == info.device_id.to_string()
        })
        .map(|e| e.record.detail)
        .collect();
    assert_eq!(enrolments.len(), 2, "{enrolments:?}");
    assert!(
        enrolments[1].contains("first answer was lost"),
        "{enrolments:?}"
    );
    // It works as the device it is.
    ann.sync().unwrap();
    assert_eq!(ann.status().unwrap().device_id, Some(info.device_id));

    // Someone else with the code (another key, or an app with none) gets
    // nothing: the code stays spent.
    let thief = phone(&tmp.path().join("thief"));
    let err = thief.enroll(&code, "not ann's phone").unwrap_err();
    assert!(err.to_string().contains("already used"), "{err}");
    let raw = Raw::connect(server.addr, server.fingerprint);
    let answer = raw
        .request(&ClientMessage::Enroll(Enroll {
            protocol_version: PROTOCOL_VERSION,
            secret: parsed.secret.clone(),
            device_label: "an app without a key".into(),
        }))
        .unwrap();
    match answer {
        ServerMessage::Error(e) => assert!(e.message.contains("already used"), "{e:?}"),
        other => panic!("enrolled without the key: {other:?}"),
    }
    assert_eq!(devices_of(&admin, "ann").len(), 1);
}

fn held(phone: &Client) -> BTreeSet<Uuid> {
    phone
        .list_reports()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

fn cases_held(phone: &Client) -> BTreeSet<Uuid> {
    phone
        .cases(&CaseFilter::default())
        .unwrap()
        .into_iter()
        .map(|c| c.report_id)
        .collect()
}

fn ids<const N: usize>(ids: [Uuid; N]) -> BTreeSet<Uuid> {
    ids.into_iter().collect()
}

#[test]
fn cells_added_to_a_warden_bring_their_older_reports_and_cases_and_cells_removed_take_the_copies_away(
) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(a, in_a), (b, in_b)] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&a]);
    server.add_user("bob", Role::Warden, &[&b]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let bob = server.enrol(&tmp.path().join("bob"), "bob");
    let bob_in_a = bob
        .record_report(report_at("0101", in_a, "bob in A"))
        .unwrap();
    let bob_in_b = bob
        .record_report(report_at("0101", in_b, "bob in B"))
        .unwrap();
    let ann_in_a = ann
        .record_report(report_at("0101", in_a, "ann in A"))
        .unwrap();
    let ann_in_b = ann
        .record_report(report_at("0101", in_b, "ann in B"))
        .unwrap();
    bob.sync().unwrap();
    ann.sync().unwrap();
    assert_eq!(held(&ann), ids([bob_in_a, ann_in_a, ann_in_b]));
    // Cell B moves on after ann's cursor too: the catch-up covers what is
    // older than it, the feed what is newer.
    let bob_later = bob.record_report(report_at("0101", in_b, "later")).unwrap();
    bob.sync().unwrap();

    let admin = server.admin();
    admin::set_user_cells(&admin, "ann", std::slice::from_ref(&b), &[]).unwrap();
    ann.sync().unwrap();
    let everything = ids([bob_in_a, bob_in_b, bob_later, ann_in_a, ann_in_b]);
    assert_eq!(held(&ann), everything, "cell B's older reports arrived");
    assert!(
        cases_held(&ann).is_superset(&ids([bob_in_b, bob_later])),
        "with their cases"
    );
    assert_eq!(ann.sync().unwrap().pulled, 0, "and nothing twice");

    admin::set_user_cells(&admin, "ann", &[], std::slice::from_ref(&a)).unwrap();
    ann.sync().unwrap();
    let kept = ids([bob_in_b, bob_later, ann_in_a, ann_in_b]);
    assert_eq!(held(&ann), kept, "bob's report in A left; ann's own stays");
    assert!(!cases_held(&ann).contains(&bob_in_a), "its case too");

    // From here the feed goes on under the new scope.
    let bob_in_a_again = bob
        .record_report(report_at("0101", in_a, "A again"))
        .unwrap();
    let bob_in_b_again = bob
        .record_report(report_at("0101", in_b, "B again"))
        .unwrap();
    bob.sync().unwrap();
    ann.sync().unwrap();
    assert!(held(&ann).contains(&bob_in_b_again));
    assert!(!held(&ann).contains(&bob_in_a_again));

    let changes: Vec<String> = admin
        .store()
        .audit_log(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == "user.cells")
        .map(|e| e.record.detail)
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes[0].starts_with(&format!("added {b}; removed none")),
        "{changes:?}"
    );
    assert!(
        changes[1].starts_with(&format!("added none; removed {a}")),
        "{changes:?}"
    );
    // Refused changes change nothing and write no line.
    let err = admin::set_user_cells(&admin, "ann", &[], std::slice::from_ref(&a)).unwrap_err();
    assert!(err.to_string().contains("does not cover"), "{err}");
    let err = admin::set_user_cells(&admin, "ann", &["no-such-cell".into()], &[]).unwrap_err();
    assert!(err.to_string().contains("no cell with code"), "{err}");
    assert_eq!(admin.store().user("ann").unwrap().unwrap().cells, [b]);
}

/// Cell 1 of the sample layer, a point inside it, and the code a
/// replacement layer gives the same ground.
const CELL_A: &str = "990102001001001";
const IN_A: Location = Location {
    lon: 111.6838,
    lat: 40.8521,
    accuracy_m: Some(5.0),
};
const CELL_N: &str = "990102009009001";

fn renumbered_layer() -> String {
    let sample = include_str!("../../../server/data/sample-grid.geojson");
    let mut layer: serde_json::Value = serde_json::from_str(sample).unwrap();
    let features = layer["features"].as_array_mut().unwrap();
    let a = features
        .iter_mut()
        .find(|f| f["properties"]["code"] == CELL_A)
        .unwrap();
    a["properties"]["code"] = serde_json::json!(CELL_N);
    layer.to_string()
}

#[test]
fn a_layer_that_renumbers_a_wardens_cell_takes_her_reports_along_once_it_moves_her() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[CELL_A]);
    server.add_user("bob", Role::Warden, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let bob = server.enrol(&tmp.path().join("bob"), "bob");
    let report = bob
        .record_report(report_at("0101", IN_A, "井盖缺失"))
        .unwrap();
    bob.sync().unwrap();
    ann.sync().unwrap();
    assert_eq!(held(&ann), ids([report]));

    // IT replaces the layer; the open report is placed in the new code.
    let admin = server.admin();
    let how = GridImport {
        name: "district v2",
        pattern: &gridwarden_grid::CodePattern::default_15(),
        fields: &gridwarden_grid::Fields::default(),
        apply: true,
        reassign: true,
        dry_run: false,
    };
    let ImportOutcome::Imported(summary) =
        grids::import(&admin, renumbered_layer().as_bytes(), &how).unwrap()
    else {
        panic!("an applied import was held back");
    };
    assert_eq!(summary.reports_assigned, 1);
    // ann still covers the old code, which no longer holds the report.
    ann.sync().unwrap();
    assert!(held(&ann).is_empty(), "it left the cell she covers");

    // IT moves ann to the new code with the command: the report comes back.
    let (code, out, err) = run_admin(
        &server,
        &[
            "users", "cells", "ann", "--remove", CELL_A, "--add", CELL_N, "--json",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let user: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(user["grids"], serde_json::json!([CELL_N]), "{user}");
    ann.sync().unwrap();
    assert_eq!(held(&ann), ids([report]));
    assert_eq!(
        ann.show_report(report).unwrap().grid_cell.as_deref(),
        Some(CELL_N)
    );
    assert!(cases_held(&ann).contains(&report));
    // A bad change through the command: a clear error, nothing changed.
    let (code, _, err) = run_admin(&server, &["users", "cells", "ann", "--add", CELL_N]);
    assert_ne!(code, 0);
    assert!(err.contains("already covers cell"), "{err}");
    assert_eq!(admin.store().user("ann").unwrap().unwrap().cells, [CELL_N]);
}

/// `gridwarden-server --data DIR ARGS` of the real binary, beside the
/// running server.
fn run_admin(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(bins::path("gridwarden-server"))
        .arg("--data")
        .arg(&server.data_dir)
        .args(args)
        .env_remove("GRIDWARDEN_DATA")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}
