//! Pushes pipelined over real QUIC: several batches on the wire at once,
//! applied by the server in the order sent, and a connection cut with
//! pushes in flight ending with every op on the server exactly once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwarden_client_core::transport::{self, Session};
use gridwarden_client_core::{ClientError, Exchange, Location};
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_protocol::{ClientMessage, Role, ServerMessage};
use gridwarden_server::DataDir;
use uuid::Uuid;

/// Most ops the client puts in one push.
const PUSH_BATCH: usize = gridwarden_client_core::sync::engine::MAX_PUSH_OPS;
/// A point inside a cell of the bundled sample layer.
const IN_CELL: Location = Location {
    lon: 111.6874,
    lat: 40.84945,
    accuracy_m: Some(5.0),
};

/// A connection that is cut before the first answer to a push is read,
/// once the server has applied `landed` reports: every push sent by then
/// was in flight, applied, and its ack lost.
struct CutWithPushesInFlight {
    session: Option<Session>,
    server: DataDir,
    landed: usize,
    /// Pushes sent before the cut.
    pushes: Arc<AtomicUsize>,
}

impl CutWithPushesInFlight {
    fn session(&mut self) -> Result<&mut Session, ClientError> {
        self.session
            .as_mut()
            .ok_or_else(|| ClientError::Offline("cut".into()))
    }
}

impl Exchange for CutWithPushesInFlight {
    async fn exchange(&mut self, message: &ClientMessage) -> Result<ServerMessage, ClientError> {
        self.session()?.request(message).await
    }

    fn window(&self) -> usize {
        self.session.as_ref().map_or(1, Exchange::window)
    }

    async fn send(&mut self, message: &ClientMessage) -> Result<(), ClientError> {
        if matches!(message, ClientMessage::Push(_)) {
            self.pushes.fetch_add(1, Ordering::SeqCst);
        }
        self.session()?.send(message).await
    }

    async fn receive(&mut self) -> Result<ServerMessage, ClientError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.server.store().reports(false).unwrap().len() < self.landed {
            assert!(
                Instant::now() < deadline,
                "the pushes in flight never landed"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some(session) = self.session.take() {
            session.close().await;
        }
        Err(ClientError::Offline("the connection was cut".into()))
    }
}

#[test]
fn a_cut_with_several_pushes_in_flight_ends_with_every_op_on_the_server_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let total = 5 * PUSH_BATCH;
    let ids: Vec<Uuid> = (0..total)
        .map(|i| {
            ann.record_report(report_at("0101", IN_CELL, &format!("ann {i}")))
                .unwrap()
        })
        .collect();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pushes = Arc::new(AtomicUsize::new(0));
    let cut = runtime.block_on(async {
        let session = transport::connect(
            &server.addr.to_string(),
            server.fingerprint,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let window = Exchange::window(&session);
        let mut link = CutWithPushesInFlight {
            session: Some(session),
            server: server.admin(),
            landed: 3 * PUSH_BATCH,
            pushes: pushes.clone(),
        };
        assert!(window >= 3, "the QUIC link pipelines ({window})");
        ann.sync_over(&mut link).await
    });
    let err = cut.expect_err("the sync was cut");
    assert!(err.is_offline(), "{err:?}");
    assert_eq!(
        pushes.load(Ordering::SeqCst),
        3,
        "three pushes were in flight when the connection was cut"
    );
    assert_eq!(
        ann.outbox_len().unwrap(),
        total as u64,
        "no ack was committed"
    );
    let admin = server.admin();
    assert_eq!(admin.store().reports(false).unwrap().len(), 3 * PUSH_BATCH);

    // The next sync sends them again: the server answers Duplicate for the
    // ones it applied, and applies the rest once.
    let summary = ann.sync().unwrap();
    assert_eq!(
        (
            summary.pushed,
            summary.duplicates,
            summary.pending,
            summary.rejected.len()
        ),
        (2 * PUSH_BATCH as u64, 3 * PUSH_BATCH as u64, 0, 0)
    );
    let stored = admin.store().reports(false).unwrap();
    let held: HashSet<Uuid> = stored.iter().map(|r| r.id).collect();
    assert_eq!(held.len(), stored.len(), "a report twice on the server");
    assert_eq!(held, ids.iter().copied().collect::<HashSet<_>>());
    assert_eq!(ann.outbox_len().unwrap(), 0);
    let clean = ann.sync().unwrap();
    assert_eq!((clean.pushed, clean.duplicates), (0, 0));
    let shown = ann.list_reports().unwrap();
    assert_eq!(shown.len(), total);
    assert!(
        shown
            .iter()
            .all(|r| r.status == gridwarden_client_core::ReportStatus::Synced),
        "every report in step with the server"
    );
}
