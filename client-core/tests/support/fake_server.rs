//! A minimal in-process gridwarden server speaking the wire model the client
//! expects: one request frame per bidirectional stream, one answer frame back,
//! Hello or Enroll first. It keeps reports in memory and applies the shared
//! merge, which is enough to test the client's transport, pinning and sync
//! end to end without the real server crate.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use gridwarden_protocol::category::{Category, CategoryTable, Family};
use gridwarden_protocol::enrolment::EnrolmentCode;
use gridwarden_protocol::frame::{encode_frame, FrameDecoder, DEFAULT_MAX_FRAME, HEADER_LEN};
use gridwarden_protocol::grid::{GridCellWire, GridLayerWire, PolygonWire};
use gridwarden_protocol::{
    Ack, ClientMessage, Cursor, Enrolled, ErrorCode, Hlc, OpBody, OpResult, Outcome, PullPage,
    Record, Reference, ReportOp, ReportState, Role, ServerMessage, Welcome, PROTOCOL_VERSION,
};
use uuid::Uuid;

pub const SECRET: &str = "goodsecret";
/// Reports with this category are refused, to exercise rejections.
pub const REFUSED_CATEGORY: &str = "0102";
pub const ASSIGNED_CELL: &str = "150102001001001";

#[derive(Default)]
struct State {
    devices: HashMap<Uuid, (Vec<u8>, String)>,
    seen_ops: HashSet<Uuid>,
    reports: HashMap<Uuid, ReportState>,
    /// Every change in order (a report appears once per change); the cursor
    /// is a big-endian u32 index into it.
    feed: Vec<Uuid>,
    clock: u64,
}

pub struct FakeServer {
    pub addr: SocketAddr,
    pub fingerprint: [u8; 32],
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

pub fn categories() -> CategoryTable {
    let category = |code: &str, name: &str| Category {
        code: code.into(),
        family: Family::Component,
        class_code: "01".into(),
        class_name: "公用设施".into(),
        name: name.into(),
        name_en: format!("{code} en"),
        register_limit: None,
        dispose_limit: None,
    };
    CategoryTable {
        version: 1,
        categories: vec![category("0101", "上水井盖"), category("0102", "污水井盖")],
    }
}

pub fn grid() -> GridLayerWire {
    let ring = vec![
        [111.60, 40.80],
        [111.61, 40.80],
        [111.61, 40.81],
        [111.60, 40.81],
        [111.60, 40.80],
    ];
    GridLayerWire {
        version: 1,
        name: "test".into(),
        cells: vec![GridCellWire {
            code: ASSIGNED_CELL.into(),
            name: None,
            polygons: vec![PolygonWire {
                exterior: ring,
                holes: vec![],
            }],
        }],
    }
}

impl FakeServer {
    pub fn start() -> FakeServer {
        let generated =
            rcgen::generate_simple_self_signed(vec![gridwarden_protocol::SERVER_NAME.to_string()])
                .unwrap();
        let cert = generated.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der()),
        );
        let fingerprint = gridwarden_client_core::tls::fingerprint(&cert);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        tls.alpn_protocols = vec![gridwarden_protocol::ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
        let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let endpoint = runtime
            .block_on(async { quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()) })
            .unwrap();
        let addr = endpoint.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        runtime.spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    if let Ok(conn) = incoming.await {
                        serve(conn, state).await;
                    }
                });
            }
        });
        FakeServer {
            addr,
            fingerprint,
            state,
            runtime: Some(runtime),
        }
    }

    pub fn code(&self, secret: &str) -> String {
        EnrolmentCode {
            secret: secret.into(),
            fingerprint: self.fingerprint,
            server_addr: self.addr.to_string(),
        }
        .encode()
    }

    pub fn report(&self, id: Uuid) -> Option<ReportState> {
        self.state.lock().unwrap().reports.get(&id).cloned()
    }

    pub fn ops_seen(&self) -> usize {
        self.state.lock().unwrap().seen_ops.len()
    }
}

async fn serve(conn: quinn::Connection, state: Arc<Mutex<State>>) {
    // The device this connection authenticated as, once Hello or Enroll passed.
    let mut device: Option<Uuid> = None;
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let Ok(bytes) = recv.read_to_end(DEFAULT_MAX_FRAME + HEADER_LEN).await else {
            return;
        };
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME);
        let message = decoder
            .extend(&bytes)
            .and_then(|()| decoder.next_message::<ClientMessage>())
            .ok()
            .flatten();
        let answer = match message {
            Some(m) => answer(&state, &mut device, m),
            None => ServerMessage::error(ErrorCode::BadFrame, "bad frame"),
        };
        let _ = send.write_all(&encode_frame(&answer)).await;
        let _ = send.finish();
    }
}

fn answer(
    state: &Mutex<State>,
    device: &mut Option<Uuid>,
    message: ClientMessage,
) -> ServerMessage {
    let mut s = state.lock().unwrap();
    s.clock += 1;
    let hlc = Hlc::new(s.clock.max(1_700_000_000_000), 0, 0);
    match (message, *device) {
        (ClientMessage::Enroll(e), None) => {
            if e.secret != SECRET {
                return ServerMessage::error(
                    ErrorCode::EnrolmentRefused,
                    "this enrolment code is unknown or already used; ask IT for a new one",
                );
            }
            let id = Uuid::now_v7();
            s.devices.insert(id, (vec![5; 32], "ann".into()));
            *device = Some(id);
            ServerMessage::Enrolled(Enrolled {
                device_id: id,
                token: vec![5; 32],
                user: "ann".into(),
                role: Role::Warden,
            })
        }
        (ClientMessage::Hello(h), None) => match s.devices.get(&h.device_id) {
            Some((token, user)) if *token == h.token => {
                let user = user.clone();
                *device = Some(h.device_id);
                ServerMessage::Welcome(Welcome {
                    protocol_version: PROTOCOL_VERSION,
                    server_time_ms: 0,
                    user,
                    role: Role::Warden,
                    cells: vec![ASSIGNED_CELL.into()],
                    categories_version: 1,
                    grid_version: 1,
                })
            }
            _ => ServerMessage::error(ErrorCode::Unauthenticated, "unknown device"),
        },
        (_, None) => ServerMessage::error(ErrorCode::UnexpectedMessage, "say hello first"),
        (ClientMessage::FetchReference(f), Some(_)) => ServerMessage::Reference(Reference {
            categories: (f.categories_version != Some(1)).then(categories),
            grid: (f.grid_version != Some(1)).then(grid),
        }),
        (ClientMessage::Push(p), Some(dev)) => {
            let user = s.devices[&dev].1.clone();
            let mut results = Vec::new();
            for op in p.ops {
                let OpBody::Report {
                    report_id,
                    op: report_op,
                } = &op.body;
                let outcome = if s.seen_ops.contains(&op.op_id) {
                    Outcome::Duplicate
                } else if matches!(report_op, ReportOp::Create(n) if n.category == REFUSED_CATEGORY)
                {
                    s.seen_ops.insert(op.op_id);
                    Outcome::Rejected {
                        code: ErrorCode::Forbidden,
                        reason: "this category is not reported by wardens".into(),
                    }
                } else {
                    s.seen_ops.insert(op.op_id);
                    let state = s
                        .reports
                        .entry(*report_id)
                        .or_insert_with(|| ReportState::empty(*report_id));
                    state.apply(report_op, op.hlc, &user, dev);
                    state.set_grid_cell(Some(ASSIGNED_CELL.into()), hlc);
                    s.feed.push(*report_id);
                    Outcome::Applied
                };
                results.push(OpResult {
                    op_id: op.op_id,
                    outcome,
                });
            }
            ServerMessage::Ack(Ack {
                results,
                server_hlc: hlc,
            })
        }
        (ClientMessage::Pull(p), Some(_)) => {
            let from = <[u8; 4]>::try_from(p.cursor.0.as_slice())
                .map(u32::from_be_bytes)
                .unwrap_or(0);
            let mut ids: Vec<Uuid> = s.feed.iter().skip(from as usize).copied().collect();
            ids.sort_unstable();
            ids.dedup();
            let records = ids
                .iter()
                .map(|id| Record::Report(s.reports[id].clone()))
                .collect();
            let cursor = Cursor((s.feed.len() as u32).to_be_bytes().to_vec());
            ServerMessage::PullPage(PullPage {
                records,
                cursor,
                more: false,
            })
        }
        (ClientMessage::Hello(_) | ClientMessage::Enroll(_), Some(_)) => {
            ServerMessage::error(ErrorCode::UnexpectedMessage, "already authenticated")
        }
    }
}
