//! Field conditions over real QUIC through the lossy relay (issue 21): a
//! photo chunk on a link slower than the server's request timeout, a stream
//! that stalls, an unreachable server, and a day offline synced over a
//! 64 kbit/s link with 10 % loss each way, cuts and a change of address.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gridwarden_client_core::{
    CancelToken, Client, ClientError, Controls, RetryPolicy, SyncProgress,
};
use gridwarden_e2e::raw::Raw;
use gridwarden_e2e::relay::Relay;
use gridwarden_e2e::{jpeg, report_at, TestServer};
use gridwarden_protocol::frame::encode_frame;
use gridwarden_protocol::{
    ClientMessage, ErrorCode, PhotoChunk, PhotoHash, PhotoOffer, PhotoRef, Role, ServerMessage,
};
use gridwarden_server::Config;

mod day;
mod download;

/// A slow link: 64 kbit/s each way.
pub(crate) const SLOW_LINK_BPS: u64 = 64_000;

/// The hand-sent chunk: larger than the window carries at the link's rate.
const CHUNK: usize = 96 * 1024;

pub(crate) fn write_photo(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A client enrolled through `relay` (its enrolment code names the relay).
pub(crate) fn enrol_via(server: &TestServer, relay: &Relay, home: &Path, user: &str) -> Client {
    let code = server.enrolment_code(user);
    let code = code
        .strip_suffix(&server.addr.to_string())
        .map(|rest| format!("{rest}{}", relay.addr()))
        .expect("an enrolment code ends with the server address");
    let client = Client::open(home)
        .unwrap()
        .with_connect_timeout(Duration::from_secs(5));
    client.enroll(&code, "phone behind a relay").unwrap();
    client
}

#[test]
fn a_photo_chunk_slower_than_the_request_timeout_arrives_while_its_bytes_move() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    // A 4 s window: the 96 KiB chunk below takes about 12 s on the link.
    config.connections.request_timeout_s = 4;
    let server = TestServer::start_configured(&tmp.path().join("server"), &config);
    server.add_user("ann", Role::Warden, &[]);
    let relay = Relay::start(server.addr, 21);
    let ann = enrol_via(&server, &relay, &tmp.path().join("ann"), "ann");
    let bytes = jpeg(21, 200_000);
    let file = write_photo(tmp.path(), "p.jpg", &bytes);
    let [(_, here), _] = server.two_cells();
    ann.record_report_with_photos(report_at("0101", here, "slow link"), &[file])
        .unwrap();

    // The report reaches the server and the upload starts; it is stopped
    // after its first chunk so that the rest can be sent by hand.
    let cancel = CancelToken::new();
    let stop = |p: SyncProgress| {
        if matches!(p, SyncProgress::Photo { .. }) {
            cancel.cancel();
        }
    };
    let err = ann
        .sync_retrying_blocking(
            &RetryPolicy::once(),
            Controls {
                cancel: Some(&cancel),
                progress: Some(&stop),
            },
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::Cancelled), "{err:?}");

    relay.set_rate(SLOW_LINK_BPS);
    relay.set_delay(Duration::from_millis(50));
    let device_id = ann.status().unwrap().device_id.unwrap();
    let token = ann.device_token_for_tests().unwrap();
    let raw = Raw::hello(relay.addr(), server.fingerprint, device_id, token);
    let photo = PhotoRef {
        hash: PhotoHash::of(&bytes),
        size: bytes.len() as u64,
        mime: "image/jpeg".into(),
    };
    let offer = ClientMessage::PhotoOffer(PhotoOffer {
        photo: photo.clone(),
    });
    let received = match raw.request(&offer).unwrap() {
        ServerMessage::PhotoStatus(s) => s.received,
        other => panic!("{other:?}"),
    };
    assert!(received > 0 && received < photo.size, "{received}");
    let data = bytes[received as usize..received as usize + CHUNK].to_vec();
    let chunk = ClientMessage::PhotoChunk(PhotoChunk {
        hash: photo.hash,
        total: photo.size,
        offset: received,
        chunk_hash: PhotoHash::of(&data).0,
        data,
    });
    let started = std::time::Instant::now();
    match raw.request(&chunk).unwrap() {
        ServerMessage::PhotoStatus(s) => assert_eq!(s.received, received + CHUNK as u64),
        other => panic!("a moving chunk is taken whatever it takes: {other:?}"),
    }
    let took = started.elapsed();
    eprintln!("a {CHUNK}-byte chunk took {took:?} on a 64 kbit/s link with a 4 s window");
    assert!(
        took > Duration::from_secs(4),
        "the chunk outlasted the window ({took:?}), so the window measured progress"
    );

    // A stream that stops sending mid-request is dropped after a window.
    let framed = encode_frame(&offer);
    let answer = raw.runtime.block_on(async {
        let (mut send, mut recv) = raw.conn.open_bi().await.unwrap();
        send.write_all(&framed[..framed.len() / 2]).await.unwrap();
        // Never finished: the server must give up on its own.
        let answer = recv.read_to_end(1 << 16).await.unwrap();
        drop(send);
        answer
    });
    let mut dec = gridwarden_protocol::frame::FrameDecoder::new(1 << 16);
    dec.extend(&answer).unwrap();
    match dec.next_message::<ServerMessage>().unwrap() {
        Some(ServerMessage::Error(e)) => {
            assert_eq!(e.code, ErrorCode::BadFrame);
            assert!(e.message.contains("stopped arriving"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }

    // The device finishes the upload on its own.
    relay.set_rate(0);
    let summary = ann.sync().unwrap();
    assert_eq!(summary.photos_uploaded, 1);
    assert_eq!(
        summary.photo_bytes_sent,
        photo.size - received - CHUNK as u64,
        "only what the server did not hold is sent"
    );
}

#[test]
fn a_refused_port_ends_the_sync_at_once_with_the_kept_on_this_device_message() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    // A connect timeout far beyond any wait the test allows: only the
    // network's refusal can end the attempt before it.
    let ann = Client::open(tmp.path().join("ann"))
        .unwrap()
        .with_connect_timeout(Duration::from_secs(600));
    ann.enroll(&server.enrolment_code("ann"), "phone").unwrap();
    let [(_, here), _] = server.two_cells();
    ann.record_report(report_at("0101", here, "kept")).unwrap();
    // The server stops: its port is closed and the kernel refuses it.
    server.stop();
    let err = ann.sync().unwrap_err();
    assert!(err.is_offline(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("nothing answers at that address"), "{msg}");
    assert!(msg.contains("kept on this device"), "{msg}");
    assert_eq!(ann.status().unwrap().outbox, 1, "nothing left the device");
}
