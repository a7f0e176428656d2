//! Gaps a warden meets in sync (issue 21), over real QUIC with a real
//! server: an enrolment whose answer was lost.

use std::path::Path;
use std::time::{Duration, Instant};

use gridwarden_client_core::tls::Pins;
use gridwarden_client_core::transport;
use gridwarden_client_core::Client;
use gridwarden_e2e::raw::Raw;
use gridwarden_e2e::relay::{Direction, Relay};
use gridwarden_e2e::TestServer;
use gridwarden_protocol::enrolment::EnrolmentCode;
use gridwarden_protocol::{ClientMessage, Enroll, Role, ServerMessage, PROTOCOL_VERSION};
use gridwarden_server::store::Device;
use gridwarden_server::DataDir;

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
