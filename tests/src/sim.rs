//! A deterministic in-process network: real client cores (real SQLite stores,
//! the real sync engine) talk to the real server [`Service`] through
//! [`SimLink`], an [`Exchange`] with no sockets and no runtime. Every message
//! goes through the real framing and codec on both sides.
//!
//! A link follows a [`FaultPlan`]: per exchange it may deliver the request,
//! lose it before the server sees it, lose the server's answer after the
//! server applied the request (the lost ack), deliver it twice, or hold it
//! back and deliver it later, during another device's connection (a stale
//! push arriving after newer ones). A lost or held request ends the
//! connection with [`ClientError::Offline`], as a dropped QUIC connection
//! does. The same plan gives the same faults on every run.
//!
//! One [`SimLink`] is one connection: its first message must be `Hello` or
//! `Enroll`, and what the server answers to it authenticates the rest.
//!
//! Clocks: no op stamp, skew check or expiry reads the machine's clock. The
//! server reads a [`ManualClock`] that starts at [`SIM_START_MS`]; every device
//! reads its own [`ManualClock`], set to the server's time plus an offset the
//! test chooses at enrolment ([`Sim::enrol_with_offset`]: a phone whose date
//! is wrong). Time moves only when the test calls [`Sim::advance`], which
//! moves every clock by the same amount, so the offsets stay what the test
//! chose and nothing waits for real time. A test that advances time by at
//! least a millisecond between two local changes makes "later in the test"
//! mean "later clock" for devices whose clock is right or whose offset a
//! Welcome has measured (the HLC never runs behind the time it is fed).

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use geo::InteriorPoint;
use gridwarden_client_core::{Client, ClientError, Connect, Exchange, Location, SyncSummary};
use gridwarden_protocol::clock::{Clock, ManualClock};
use gridwarden_protocol::enrolment::EnrolmentCode;
use gridwarden_protocol::frame::{frame_payload, FrameDecoder};
use gridwarden_protocol::{versions, PROTOCOL_VERSION};
use gridwarden_protocol::{
    ClientMessage, ErrorCode, ErrorMessage, Outcome, ProtocolError, Role, ServerMessage,
};
use gridwarden_server::service::Session;
use gridwarden_server::store::Store;
use gridwarden_server::{admin, DataDir, Limits, Service};

/// What happens to one request of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The server handles it and the client gets the answer.
    Deliver,
    /// Lost on the way: the server never sees it; the connection dies.
    DropRequest,
    /// The server handles it (and commits), the answer is lost; the
    /// connection dies. The classic lost ack.
    DropAnswer,
    /// The server handles it twice; the client gets the second answer.
    Duplicate,
    /// Held back: the connection dies now, and the server handles the request
    /// later, while another device talks to it (or at
    /// [`Sim::deliver_delayed`]). Its answer goes nowhere. The first message
    /// of a connection cannot be held (there is no session yet); it is lost.
    Delay,
}

/// Default chance, in percent, of each of the four faults in a
/// [`FaultPlan::seeded`] plan.
pub const SEEDED_FAULT_PERCENT: u64 = 10;
/// Chance, in percent, that a request held back from another device is
/// delivered at an exchange of a [`FaultPlan::Seeded`] link.
pub const SEEDED_RELEASE_PERCENT: u64 = 50;

/// The faults of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultPlan {
    /// Every request delivered once.
    Perfect,
    /// Faults drawn per exchange from a PRNG seeded with `seed`: each of
    /// `DropRequest`, `DropAnswer`, `Duplicate` and `Delay` with `percent`
    /// chance (at most 25). At each exchange, every request held back from
    /// *another* device is first delivered with [`SEEDED_RELEASE_PERCENT`]
    /// chance.
    Seeded { seed: u64, percent: u64 },
    /// The n-th request of the connection gets the n-th fault; requests past
    /// the end are delivered. Held requests are released only by
    /// [`Sim::deliver_delayed`].
    Script(Vec<Fault>),
}

impl FaultPlan {
    /// A seeded plan with [`SEEDED_FAULT_PERCENT`] chance of each fault.
    pub fn seeded(seed: u64) -> Self {
        FaultPlan::Seeded {
            seed,
            percent: SEEDED_FAULT_PERCENT,
        }
    }
}

/// SplitMix64: tiny, seedable, and the same on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with `percent` chance.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

#[derive(Debug)]
enum PlanState {
    Perfect,
    Seeded { rng: SplitMix64, percent: u64 },
    Script(VecDeque<Fault>),
}

impl PlanState {
    fn new(plan: FaultPlan) -> Self {
        match plan {
            FaultPlan::Perfect => PlanState::Perfect,
            FaultPlan::Seeded { seed, percent } => PlanState::Seeded {
                rng: SplitMix64::new(seed),
                percent: percent.min(25),
            },
            FaultPlan::Script(faults) => PlanState::Script(faults.into()),
        }
    }

    fn next_fault(&mut self) -> Fault {
        match self {
            PlanState::Perfect => Fault::Deliver,
            PlanState::Script(faults) => faults.pop_front().unwrap_or(Fault::Deliver),
            PlanState::Seeded { rng, percent } => {
                let p = *percent;
                match rng.next_u64() % 100 {
                    r if r < p => Fault::DropRequest,
                    r if r < 2 * p => Fault::DropAnswer,
                    r if r < 3 * p => Fault::Duplicate,
                    r if r < 4 * p => Fault::Delay,
                    _ => Fault::Deliver,
                }
            }
        }
    }

    fn release_one(&mut self) -> bool {
        match self {
            PlanState::Seeded { rng, .. } => rng.chance(SEEDED_RELEASE_PERCENT),
            PlanState::Perfect | PlanState::Script(_) => false,
        }
    }
}

/// Counts of what the links did, over the life of a [`Sim`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Requests the server handled (a duplicate counts twice, a late one once).
    pub handled: u64,
    pub dropped_requests: u64,
    pub dropped_answers: u64,
    pub duplicated: u64,
    pub delayed: u64,
    pub delivered_late: u64,
}

/// A request held back by [`Fault::Delay`].
struct Held {
    device: usize,
    session: Session,
    message: ClientMessage,
    what: String,
}

#[derive(Default)]
struct SimState {
    held: VecDeque<Held>,
    stats: SimStats,
    log: Vec<String>,
}

/// One enrolled device of a [`Sim`].
pub struct SimDevice {
    /// Position in enrolment order; names the device in the log.
    pub index: usize,
    pub user: String,
    pub role: Role,
    pub cells: Vec<String>,
    pub client: Client,
    /// How far this device's clock is ahead of the server's (negative:
    /// behind). [`Sim::advance`] keeps it so.
    pub clock_offset_ms: i64,
    /// The clock the client core reads.
    pub clock: Arc<ManualClock>,
}

impl SimDevice {
    /// Whether the server's pull scope gives this device's user a report of
    /// `reporter` in server-assigned `cell`.
    pub fn may_see(&self, reporter: &str, cell: Option<&str>) -> bool {
        self.role.sees_everything()
            || reporter == self.user
            || cell.is_some_and(|c| self.cells.iter().any(|mine| mine == c))
    }
}

/// Where the clocks of a [`Sim`] start: 2026-01-01T00:00:00Z on the server.
pub const SIM_START_MS: u64 = 1_767_225_600_000;

/// The server, its data directory and the homes of the devices, in one
/// temporary directory, and every clock they read.
pub struct Sim {
    pub data: DataDir,
    root: PathBuf,
    state: Mutex<SimState>,
    devices: AtomicUsize,
    /// The server's clock, then one per enrolled device in enrolment order;
    /// moved together, under this lock, by [`Sim::advance`].
    clocks: Mutex<Vec<Arc<ManualClock>>>,
    _tmp: tempfile::TempDir,
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

impl Sim {
    /// A fresh server (bundled categories and sample grid layer) in a new
    /// temporary directory.
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// The same with other server limits (small pull pages, say).
    pub fn with_limits(limits: Limits) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_owned();
        let server_clock = ManualClock::new(SIM_START_MS);
        let data =
            DataDir::open_with_clock(&root.join("server"), limits, server_clock.clone()).unwrap();
        Self {
            data,
            root,
            state: Mutex::new(SimState::default()),
            devices: AtomicUsize::new(0),
            clocks: Mutex::new(vec![server_clock]),
            _tmp: tmp,
        }
    }

    fn clocks(&self) -> MutexGuard<'_, Vec<Arc<ManualClock>>> {
        self.clocks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server's clock, to change it by hand ([`ManualClock::jump`]).
    pub fn server_clock(&self) -> Arc<ManualClock> {
        self.clocks()[0].clone()
    }

    /// The server's time, in milliseconds since the epoch.
    pub fn now_ms(&self) -> u64 {
        self.clocks()[0].now_ms()
    }

    /// Moves time forward by `ms` on the server and on every device alike.
    pub fn advance(&self, ms: u64) {
        for clock in self.clocks().iter() {
            clock.advance(ms);
        }
    }

    pub fn service(&self) -> &Service {
        &self.data.service
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.data.store()
    }

    fn state(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_user(&self, name: &str, role: Role, cells: &[&str]) {
        admin::add_user(
            &self.data,
            name,
            role,
            cells.iter().map(|c| c.to_string()).collect(),
        )
        .unwrap();
    }

    /// Up to `n` cells of the current layer, each with a point that the
    /// assignment rules really put in it.
    pub fn cells(&self, n: usize) -> Vec<(String, Location)> {
        let grid = self.service().grid().unwrap().expect("a grid layer");
        grid.cells()
            .iter()
            .filter_map(|cell| {
                let p = cell.geometry.interior_point()?;
                (grid.assign(p.x(), p.y()).code() == Some(cell.code.as_str())).then(|| {
                    let location = Location {
                        lon: p.x(),
                        lat: p.y(),
                        accuracy_m: Some(5.0),
                    };
                    (cell.code.clone(), location)
                })
            })
            .take(n)
            .collect()
    }

    /// A new device for `user` (who must exist) whose clock is right,
    /// enrolled through a perfect link: one-time secret → code →
    /// `Client::enroll_over`.
    pub fn enrol(&self, user: &str) -> SimDevice {
        self.enrol_with_offset(user, 0)
    }

    /// The same with a device clock `offset_ms` ahead of the server's
    /// (negative: behind). Enrolment does not measure the offset; the
    /// device's first Welcome does.
    pub fn enrol_with_offset(&self, user: &str, offset_ms: i64) -> SimDevice {
        let index = self.devices.fetch_add(1, Ordering::Relaxed);
        let home = self.home(index);
        let clock = {
            let mut clocks = self.clocks();
            let device_ms = (clocks[0].now_ms() as i64)
                .checked_add(offset_ms)
                .filter(|ms| *ms >= 0)
                .expect("a device clock after 1970");
            let clock = ManualClock::new(device_ms as u64);
            clocks.push(clock.clone());
            clock
        };
        let client = Client::open(&home).unwrap().with_clock(clock.clone());
        let code = EnrolmentCode {
            secret: self.service().new_enrolment_secret(user).unwrap(),
            fingerprint: [0; 32],
            server_addr: "sim".into(),
        };
        let mut link = self.link(index, FaultPlan::Perfect);
        let info = block_on(client.enroll_over(&mut link, &code, "sim")).unwrap();
        let stored = self.store().user(user).unwrap().expect("enrolled user");
        assert_eq!(info.user, user);
        SimDevice {
            index,
            user: user.to_owned(),
            role: stored.role,
            cells: stored.cells,
            client,
            clock_offset_ms: offset_ms,
            clock,
        }
    }

    /// Where device `index` keeps its store.
    pub fn home(&self, index: usize) -> PathBuf {
        self.root.join(format!("device-{index}"))
    }

    /// One connection for device `index`.
    pub fn link(&self, device: usize, plan: FaultPlan) -> SimLink<'_> {
        SimLink {
            sim: self,
            device,
            plan: PlanState::new(plan),
            session: None,
            requests: 0,
            sent: 0,
            received: 0,
        }
    }

    /// Connections for `device`, the n-th with the n-th plan (then
    /// perfect ones): what the client's remote calls (photo fetch, patrol
    /// review) and `Client::sync_with` take, like the QUIC connector.
    pub fn connector(&self, device: &SimDevice, plans: Vec<FaultPlan>) -> SimConnect<'_> {
        SimConnect {
            sim: self,
            device: device.index,
            plans: Mutex::new(plans.into()),
            opened: AtomicUsize::new(0),
        }
    }

    /// One `Client::sync_over` of `device` over a new connection.
    pub fn sync(&self, device: &SimDevice, plan: FaultPlan) -> Result<SyncSummary, ClientError> {
        let mut link = self.link(device.index, plan);
        let result = block_on(device.client.sync_over(&mut link));
        let line = match &result {
            Ok(s) => format!(
                "dev{}: sync ok: pushed {} dup {} rejected {} pulled {}",
                device.index,
                s.pushed,
                s.duplicates,
                s.rejected.len(),
                s.pulled
            ),
            Err(e) => format!("dev{}: sync failed: {e}", device.index),
        };
        self.log(line);
        result
    }

    /// Delivers every held request now, oldest first. Returns how many.
    pub fn deliver_delayed(&self) -> usize {
        let held: Vec<Held> = self.state().held.drain(..).collect();
        let n = held.len();
        for h in held {
            self.deliver_late(h, "at deliver_delayed");
        }
        n
    }

    /// Requests held back and not yet delivered.
    pub fn delayed_len(&self) -> usize {
        self.state().held.len()
    }

    pub fn stats(&self) -> SimStats {
        self.state().stats
    }

    /// What happened, one line per event, oldest first.
    pub fn log_lines(&self) -> Vec<String> {
        self.state().log.clone()
    }

    pub fn log(&self, line: String) {
        self.state().log.push(line);
    }

    fn deliver_late(&self, h: Held, when: &str) {
        let answer = self.service().handle(&h.session, h.message);
        let mut state = self.state();
        state.stats.handled += 1;
        state.stats.delivered_late += 1;
        state.log.push(format!(
            "dev{}: held {} delivered late ({when}) → {}",
            h.device,
            h.what,
            describe_answer(&answer)
        ));
    }
}

/// One simulated connection of one device. Create it with [`Sim::link`].
pub struct SimLink<'a> {
    sim: &'a Sim,
    device: usize,
    plan: PlanState,
    session: Option<Session>,
    requests: u64,
    sent: u64,
    received: u64,
}

impl SimLink<'_> {
    /// The session the server granted this connection, once it did.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    fn lost(&self, what: &str) -> ClientError {
        ClientError::Offline(format!(
            "connection lost: {what} (simulated fault on device {})",
            self.device
        ))
    }

    /// What the server does with one request of this connection. `first`:
    /// the request is the connection's first stream (a duplicate of it is a
    /// first stream again, as a retried handshake is).
    fn serve(&mut self, message: ClientMessage, first: bool) -> ServerMessage {
        self.sim.state().stats.handled += 1;
        let service = self.sim.service();
        if let (false, Some(session)) = (first, &self.session) {
            return service.handle(session, message);
        }
        // The first stream: hello or enrol; a refusal leaves the connection
        // unauthenticated.
        let first = service.open_session(message);
        match first {
            Ok((session, answer)) => {
                self.session = Some(session);
                answer
            }
            Err(e) => ServerMessage::Error(e.to_wire()),
        }
    }

    /// Delivers held requests of other devices, as the plan decides.
    fn release_others(&mut self) {
        let held: Vec<Held> = {
            let mut state = self.sim.state();
            let mut keep = VecDeque::new();
            let mut go = Vec::new();
            for h in state.held.drain(..) {
                if h.device != self.device && self.plan.release_one() {
                    go.push(h);
                } else {
                    keep.push_back(h);
                }
            }
            state.held = keep;
            go
        };
        for h in held {
            let when = format!("during dev{}'s request {}", self.device, self.requests);
            self.sim.deliver_late(h, &when);
        }
    }

    fn exchange_now(&mut self, message: &ClientMessage) -> Result<ServerMessage, ClientError> {
        self.requests += 1;
        let max = self.sim.service().limits().max_frame;
        // Client → wire → server, in this build's version (a large push
        // packed, as over QUIC).
        let frame = frame_payload(
            &versions::encode_client(PROTOCOL_VERSION, message).expect("the current version"),
        );
        self.sent += frame.len() as u64;
        let decoded = decode_frame(&frame, max, |d| {
            d.next_payload()?
                .map(|p| versions::decode_client_within(PROTOCOL_VERSION, &p, max))
                .transpose()
        });
        self.release_others();
        let what = format!("#{} {}", self.requests, describe_request(message));
        let fault = self.plan.next_fault();
        let opening = self.session.is_none();
        let answer = match decoded {
            // The server answers a frame it cannot read with BadFrame.
            Err(e) => {
                self.sim.state().stats.handled += 1;
                ServerMessage::Error(ErrorMessage {
                    code: ErrorCode::BadFrame,
                    message: e,
                })
            }
            Ok(request) => match fault {
                Fault::Deliver | Fault::DropAnswer => self.serve(request, opening),
                Fault::Duplicate => {
                    let first = self.serve(request.clone(), opening);
                    let second = self.serve(request, opening);
                    self.sim.state().stats.duplicated += 1;
                    self.sim.log(format!(
                        "dev{}: {what} handled twice → {} then {}",
                        self.device,
                        describe_answer(&first),
                        describe_answer(&second)
                    ));
                    second
                }
                Fault::DropRequest => {
                    self.sim.state().stats.dropped_requests += 1;
                    self.sim
                        .log(format!("dev{}: {what} lost before the server", self.device));
                    return Err(self.lost("the request never reached the server"));
                }
                Fault::Delay => {
                    let mut state = self.sim.state();
                    let Some(session) = self.session.clone() else {
                        state.stats.dropped_requests += 1;
                        state.log.push(format!(
                            "dev{}: {what} lost before the server (first message, not held)",
                            self.device
                        ));
                        drop(state);
                        return Err(self.lost("the request never reached the server"));
                    };
                    state.stats.delayed += 1;
                    state
                        .log
                        .push(format!("dev{}: {what} held back", self.device));
                    state.held.push_back(Held {
                        device: self.device,
                        session,
                        message: request,
                        what: what.clone(),
                    });
                    drop(state);
                    return Err(self.lost("the request is stuck in the network"));
                }
            },
        };
        if fault == Fault::DropAnswer {
            self.sim.state().stats.dropped_answers += 1;
            self.sim.log(format!(
                "dev{}: {what} handled → {}, answer lost",
                self.device,
                describe_answer(&answer)
            ));
            return Err(self.lost("the server's answer never arrived"));
        }
        if fault == Fault::Deliver {
            self.sim.log(format!(
                "dev{}: {what} → {}",
                self.device,
                describe_answer(&answer)
            ));
        }
        // Server → wire → client.
        let frame = frame_payload(&versions::encode_server(PROTOCOL_VERSION, &answer));
        self.received += frame.len() as u64;
        decode_frame(&frame, max, |d| {
            d.next_payload()?
                .map(|p| versions::decode_server_within(PROTOCOL_VERSION, &p, max))
                .transpose()
        })
        .map_err(ClientError::Protocol)
    }
}

impl Exchange for SimLink<'_> {
    fn exchange(
        &mut self,
        message: &ClientMessage,
    ) -> impl Future<Output = Result<ServerMessage, ClientError>> + Send {
        std::future::ready(self.exchange_now(message))
    }

    fn bytes(&self) -> (u64, u64) {
        (self.sent, self.received)
    }
}

/// Opens [`SimLink`]s for one device, each with the next [`FaultPlan`] of
/// its list (perfect ones after the end). Create it with [`Sim::connector`].
pub struct SimConnect<'a> {
    sim: &'a Sim,
    device: usize,
    plans: Mutex<VecDeque<FaultPlan>>,
    opened: AtomicUsize,
}

impl SimConnect<'_> {
    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }
}

impl<'a> Connect for SimConnect<'a> {
    type Link = SimLink<'a>;

    fn connect(&self) -> impl Future<Output = Result<SimLink<'a>, ClientError>> + Send {
        let plan = self
            .plans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or(FaultPlan::Perfect);
        self.opened.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok(self.sim.link(self.device, plan)))
    }
}

/// Reads one whole frame as the receiving side does.
fn decode_frame<T>(
    frame: &[u8],
    max: usize,
    take: impl FnOnce(&mut FrameDecoder) -> Result<Option<T>, ProtocolError>,
) -> Result<T, String> {
    let mut decoder = FrameDecoder::new(max);
    decoder.extend(frame).map_err(|e| e.to_string())?;
    let message = take(&mut decoder)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "an incomplete frame".to_string())?;
    if decoder.buffered() != 0 {
        return Err("bytes after the frame".into());
    }
    Ok(message)
}

fn describe_request(m: &ClientMessage) -> String {
    match m {
        ClientMessage::Hello(_) => "Hello".into(),
        ClientMessage::Enroll(_) => "Enroll".into(),
        ClientMessage::Push(p) => format!("Push[{} ops]", p.ops.len()),
        ClientMessage::Pull(_) => "Pull".into(),
        ClientMessage::FetchReference(_) => "FetchReference".into(),
        ClientMessage::PhotoOffer(_) => "PhotoOffer".into(),
        ClientMessage::PhotoChunk(c) => format!("PhotoChunk[@{}]", c.offset),
        ClientMessage::FetchPhoto(_) => "FetchPhoto".into(),
        ClientMessage::ListPatrols(_) => "ListPatrols".into(),
        ClientMessage::FetchPatrol(_) => "FetchPatrol".into(),
        ClientMessage::FetchCells(f) => format!("FetchCells[v{}]", f.layer_version),
        ClientMessage::Packed(p) => format!("Packed[{} B]", p.len),
    }
}

fn describe_answer(m: &ServerMessage) -> String {
    match m {
        ServerMessage::Welcome(_) => "Welcome".into(),
        ServerMessage::Enrolled(_) => "Enrolled".into(),
        ServerMessage::Notice(_) => "Notice".into(),
        ServerMessage::Packed(p) => format!("Packed[{} B]", p.len),
        ServerMessage::Ack(a) => {
            let outcomes: Vec<&str> = a
                .results
                .iter()
                .map(|r| match r.outcome {
                    Outcome::Applied => "applied",
                    Outcome::Duplicate => "duplicate",
                    Outcome::Rejected { .. } => "rejected",
                })
                .collect();
            format!("Ack[{}]", outcomes.join(","))
        }
        ServerMessage::PullPage(p) => format!("PullPage[{} records]", p.records.len()),
        ServerMessage::PhotoStatus(s) => format!("PhotoStatus[{}]", s.received),
        ServerMessage::PhotoData(d) => format!("PhotoData[{} bytes]", d.data.len()),
        ServerMessage::Patrols(p) => format!("Patrols[{}]", p.len()),
        ServerMessage::PatrolTrack(t) => format!("PatrolTrack[{} points]", t.points.len()),
        ServerMessage::Reference(_) => "Reference".into(),
        ServerMessage::CellPage(p) => format!(
            "CellPage[{} cells, {} shapes]",
            p.cells.len(),
            p.shapes.len()
        ),
        ServerMessage::Error(e) => format!("Error({:?}: {})", e.code, e.message),
    }
}

/// Runs a future that never waits: everything a [`SimLink`] does is ready at
/// once, so one poll finishes a sync. Panics if the future waits for
/// anything, which would make the simulation depend on a scheduler.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an in-process sync waited for something other than its SimLink"),
    }
}
