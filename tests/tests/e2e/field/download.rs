//! A supervisor fetches a photo over the bad link (64 kbit/s, 10 % loss each
//! way, 500 ms round trip): the download asks for chunks sized to the
//! measured link, as uploads send them, and arrives whole.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridwarden_client_core::tls::Pins;
use gridwarden_client_core::transport::{QuicConnect, Session};
use gridwarden_client_core::{Connect, Exchange};
use gridwarden_e2e::relay::Relay;
use gridwarden_e2e::{jpeg, report_at, TestServer};
use gridwarden_protocol::{ClientMessage, Role, ServerMessage};

use super::{enrol_via, write_photo, SLOW_LINK_BPS};

/// The chunk sizes a download asked for, in order.
#[derive(Clone, Default)]
struct Asked(Arc<Mutex<Vec<u32>>>);

struct Watched {
    inner: QuicConnect,
    asked: Asked,
}

struct WatchedLink {
    session: Session,
    asked: Asked,
}

impl Connect for Watched {
    type Link = WatchedLink;

    async fn connect(&self) -> gridwarden_client_core::Result<WatchedLink> {
        Ok(WatchedLink {
            session: self.inner.connect().await?,
            asked: self.asked.clone(),
        })
    }
}

impl Exchange for WatchedLink {
    async fn exchange(
        &mut self,
        message: &ClientMessage,
    ) -> gridwarden_client_core::Result<ServerMessage> {
        if let ClientMessage::FetchPhoto(f) = message {
            self.asked.0.lock().unwrap().push(f.max_len);
        }
        self.session.request(message).await
    }

    fn bytes(&self) -> (u64, u64) {
        (self.session.bytes_sent, self.session.bytes_received)
    }

    async fn close(self) {
        self.session.close().await
    }
}

#[test]
fn a_supervisor_fetches_a_photo_over_the_bad_link_in_chunks_paced_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    server.add_user("sam", Role::Supervisor, &[]);
    let relay = Relay::start(server.addr, 0x21_d0);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let sam = enrol_via(&server, &relay, &tmp.path().join("sam"), "sam");

    // Issue 21's photo size, uploaded by the warden over a good link.
    let bytes = jpeg(0xd0, 300_000);
    let file = write_photo(tmp.path(), "p.jpg", &bytes);
    let [(_, here), _] = server.two_cells();
    let id = ann
        .record_report_with_photos(report_at("0101", here, "seen from the office"), &[file])
        .unwrap();
    assert_eq!(ann.sync().unwrap().photos_uploaded, 1);
    sam.sync().unwrap();
    let view = sam.show_report(id).unwrap();
    let photo = sam.resolve_photo(&view.photos[0].hash).unwrap();

    relay.set_rate(SLOW_LINK_BPS);
    relay.set_loss(0.10);
    relay.set_delay(Duration::from_millis(250));
    let asked = Asked::default();
    let connect = Watched {
        inner: QuicConnect {
            server: relay.addr().to_string(),
            pins: Pins::only(server.fingerprint),
            timeout: Duration::from_secs(10),
        },
        asked: asked.clone(),
    };
    let out = tmp.path().join("fetched.jpg");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let len = runtime
        .block_on(sam.fetch_photo_with(&connect, &photo, &out))
        .unwrap();
    assert_eq!(len, bytes.len() as u64);
    assert!(
        std::fs::read(&out).unwrap() == bytes,
        "the photo arrived whole"
    );

    // Paced: the first chunk is the pace's first (16 KiB) and none grows
    // beyond what 2.5 s of a 64 kbit/s link carries, with room for a lucky
    // sample (the protocol's 512 KiB would take over a minute here).
    let asked = asked.0.lock().unwrap().clone();
    eprintln!("chunk sizes asked: {asked:?}");
    assert_eq!(asked[0], 16 * 1024);
    assert!(asked.len() >= 8, "{asked:?}");
    assert!(asked.iter().all(|&n| n <= 64 * 1024), "{asked:?}");
}
