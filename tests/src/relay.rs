//! A UDP relay on loopback between QUIC clients and a server, whose faults can
//! be switched while traffic flows: random loss, a fixed one-way delay, a
//! bandwidth limit (a link's serialisation with a drop-tail queue), and a cut
//! that drops everything. It counts datagrams and bytes in each direction.
//!
//! Loss is seeded per flow and direction: the n-th datagram of the k-th
//! client address (in order of first appearance) going one way is lost or not
//! depending only on the seed, k and n, whatever other flows do meanwhile.
//!
//! Each client address gets its own upstream socket, like a NAT, so several
//! devices (or one device that migrated to a new port) can share a relay. The
//! relay runs on its own thread and runtime and stops when dropped (or after
//! [`MAX_LIFETIME`] at the latest); it only ever sends to loopback.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A relay forgotten by a test still stops after this long.
pub const MAX_LIFETIME: Duration = Duration::from_secs(600);
/// Most distinct client addresses served, so a runaway client cannot make
/// the relay open sockets without bound.
const MAX_CLIENTS: usize = 64;
const MAX_DATAGRAM: usize = 65_535;
/// Longest a datagram waits in a rate-limited link's queue before it is
/// dropped, like a modem's buffer: 1 s of the link (8 KB at 64 kbit/s, twice
/// the bytes in flight of a 500 ms round trip).
const MAX_QUEUE: Duration = Duration::from_secs(1);

/// Which way a datagram travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// What the relay did with one direction's datagrams so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams and bytes received from the sender.
    pub seen_datagrams: u64,
    pub seen_bytes: u64,
    /// Datagrams and bytes passed on to the receiver.
    pub forwarded_datagrams: u64,
    pub forwarded_bytes: u64,
    /// Datagrams dropped by loss or by the cut.
    pub dropped_datagrams: u64,
}

#[derive(Default)]
struct Counters {
    seen_datagrams: AtomicU64,
    seen_bytes: AtomicU64,
    forwarded_datagrams: AtomicU64,
    forwarded_bytes: AtomicU64,
    dropped_datagrams: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        Stats {
            seen_datagrams: self.seen_datagrams.load(Ordering::SeqCst),
            seen_bytes: self.seen_bytes.load(Ordering::SeqCst),
            forwarded_datagrams: self.forwarded_datagrams.load(Ordering::SeqCst),
            forwarded_bytes: self.forwarded_bytes.load(Ordering::SeqCst),
            dropped_datagrams: self.dropped_datagrams.load(Ordering::SeqCst),
        }
    }
}

/// Settings and counters, shared between the test and the relay thread.
struct Shared {
    /// Loss probability in parts per million.
    loss_ppm: AtomicU32,
    delay_us: AtomicU64,
    cut: AtomicBool,
    /// Per direction: drop everything going that way (a one-way outage).
    cut_toward: [AtomicBool; 2],
    /// Link rate each way in bits per second; 0: unlimited.
    rate_bps: AtomicU64,
    /// Per direction: when the link finishes sending what is queued.
    busy_until: std::sync::Mutex<[Option<Instant>; 2]>,
    /// Per direction: cut everything once this many bytes were forwarded
    /// that way (`u64::MAX`: no such trigger).
    cut_at_bytes: [AtomicU64; 2],
    counters: [Counters; 2],
    seed: u64,
    /// Where new flows go; a flow keeps the server it started with, as a
    /// load balancer keeps a connection on its process.
    server: std::sync::Mutex<SocketAddr>,
    /// While `Some`: every datagram a client sends, as it arrived (an
    /// eavesdropper's copy, for replaying it).
    recorded: std::sync::Mutex<Option<Vec<Vec<u8>>>>,
    /// QUIC-LB-style routing ([`Relay::route_server_id`]): the process of
    /// each server id. Empty: every flow stays on its first server.
    by_server_id: std::sync::Mutex<HashMap<u16, SocketAddr>>,
    /// Datagrams sent up to each server so far.
    sent_to: std::sync::Mutex<HashMap<SocketAddr, u64>>,
}

/// A tiny deterministic generator (SplitMix64): enough for loss decisions,
/// and the same on every platform and run.
struct SplitMix64(u64);

impl SplitMix64 {
    /// The generator of one flow and direction.
    fn for_flow(seed: u64, flow: u64, dir: Direction) -> Self {
        let mut mixer =
            SplitMix64(seed ^ flow.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ (dir.index() as u64));
        SplitMix64(mixer.next())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `ppm` / 1,000,000.
    fn chance(&mut self, ppm: u32) -> bool {
        (self.next() % 1_000_000) < u64::from(ppm)
    }
}

impl Shared {
    /// Decides on arrival whether a datagram is passed on, counting it.
    /// `rng` is its flow's generator for this direction, drawn once per
    /// datagram whatever the settings, so losses stay aligned with `n`.
    fn admit(&self, dir: Direction, len: usize, rng: &mut SplitMix64) -> bool {
        let c = &self.counters[dir.index()];
        c.seen_datagrams.fetch_add(1, Ordering::SeqCst);
        c.seen_bytes.fetch_add(len as u64, Ordering::SeqCst);
        let ppm = self.loss_ppm.load(Ordering::SeqCst);
        let lost = rng.chance(ppm);
        if lost || self.is_cut(dir) {
            c.dropped_datagrams.fetch_add(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Called just before sending: a cut that came while the datagram was
    /// delayed drops it too.
    fn still_open(&self, dir: Direction) -> bool {
        if self.is_cut(dir) {
            self.counters[dir.index()]
                .dropped_datagrams
                .fetch_add(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn is_cut(&self, dir: Direction) -> bool {
        self.cut.load(Ordering::SeqCst) || self.cut_toward[dir.index()].load(Ordering::SeqCst)
    }

    fn forwarded(&self, dir: Direction, len: usize) {
        let c = &self.counters[dir.index()];
        c.forwarded_datagrams.fetch_add(1, Ordering::SeqCst);
        let total = c.forwarded_bytes.fetch_add(len as u64, Ordering::SeqCst) + len as u64;
        let trigger = &self.cut_at_bytes[dir.index()];
        if total >= trigger.load(Ordering::SeqCst) {
            trigger.store(u64::MAX, Ordering::SeqCst);
            self.cut.store(true, Ordering::SeqCst);
        }
    }

    fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_us.load(Ordering::SeqCst))
    }

    /// When a datagram of `len` bytes arriving now is delivered: after the
    /// queue ahead of it and its own time on the link (at the rate, if one
    /// is set), plus the delay. `None`: the queue is full and it is dropped.
    fn due(&self, dir: Direction, len: usize) -> Option<Instant> {
        let now = Instant::now();
        let rate = self.rate_bps.load(Ordering::SeqCst);
        if rate == 0 {
            return Some(now + self.delay());
        }
        let mut busy = self.busy_until.lock().unwrap();
        let start = busy[dir.index()].map_or(now, |b| b.max(now));
        if start - now > MAX_QUEUE {
            self.counters[dir.index()]
                .dropped_datagrams
                .fetch_add(1, Ordering::SeqCst);
            return None;
        }
        let on_link = Duration::from_secs_f64(len as f64 * 8.0 / rate as f64);
        busy[dir.index()] = Some(start + on_link);
        Some(start + on_link + self.delay())
    }
}

impl Shared {
    /// The server for a datagram from a client whose flow goes to `home`:
    /// the process its connection id names, when routing by id and the id
    /// names a process in the table; else `home` (or, when routing and
    /// `home` has left the table, the current default server).
    fn route(&self, datagram: &[u8], home: SocketAddr) -> SocketAddr {
        let routes = self.by_server_id.lock().expect("relay lock");
        if routes.is_empty() {
            return home;
        }
        if let Some(server) = server_id_in(datagram).and_then(|id| routes.get(&id)) {
            return *server;
        }
        if routes.values().any(|s| *s == home) {
            home
        } else {
            *self.server.lock().expect("relay lock")
        }
    }
}

/// The server id in a QUIC datagram's destination connection id, read as a
/// balancer that knows only the documented layout does (docs/scale.md): the
/// id's first octet holds the config rotation (top 3 bits, 0) and the id's
/// length minus one (low 5 bits); the server id is the next two octets.
/// `None` for a client's Initial or 0-RTT packet (it chose that id itself)
/// and for anything not in the layout.
fn server_id_in(datagram: &[u8]) -> Option<u16> {
    const LONG_HEADER: u8 = 0x80;
    let first = *datagram.first()?;
    let cid = if first & LONG_HEADER != 0 {
        // Long header: type in bits 4-5 (0 Initial, 1 0-RTT, 2 Handshake),
        // version (4 octets), then the id's length and the id.
        let packet_type = (first >> 4) & 0b11;
        if packet_type != 2 {
            return None;
        }
        let len = usize::from(*datagram.get(5)?);
        datagram.get(6..6 + len)?
    } else {
        // Short header: the id follows the first octet, its length known
        // only from the id's own first octet.
        let octet = *datagram.get(1)?;
        let len = usize::from(octet & 0x1f) + 1;
        datagram.get(1..1 + len)?
    };
    if cid[0] >> 5 != 0 || cid.len() < 3 || usize::from(cid[0] & 0x1f) + 1 != cid.len() {
        return None;
    }
    Some(u16::from_be_bytes([cid[1], cid[2]]))
}

/// Where a delayed datagram goes.
enum Target {
    /// To the server, from the client's own upstream socket (connected).
    Upstream(Arc<UdpSocket>),
    /// To a client, from the relay's public socket.
    Client(Arc<UdpSocket>, SocketAddr),
}

struct Datagram {
    due: Instant,
    bytes: Vec<u8>,
    target: Target,
}

/// A running relay; stops when dropped.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("addr", &self.addr)
            .field("server", &self.server())
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Starts a clean relay (no loss, no delay) in front of `server`, which
    /// must be on loopback. `seed` fixes the loss pattern of every flow.
    pub fn start(server: SocketAddr, seed: u64) -> Self {
        Self::start_for(server, seed, MAX_LIFETIME)
    }

    /// [`Relay::start`] for a run longer than [`MAX_LIFETIME`] (a day of
    /// work over a 64 kbit/s link takes a quarter of an hour).
    pub fn start_for(server: SocketAddr, seed: u64, lifetime: Duration) -> Self {
        assert!(
            server.ip().is_loopback(),
            "the relay only forwards to loopback, not {server}"
        );
        let shared = Arc::new(Shared {
            loss_ppm: AtomicU32::new(0),
            delay_us: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            cut_toward: Default::default(),
            rate_bps: AtomicU64::new(0),
            busy_until: std::sync::Mutex::new([None, None]),
            cut_at_bytes: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
            counters: Default::default(),
            seed,
            server: std::sync::Mutex::new(server),
            recorded: std::sync::Mutex::new(None),
            by_server_id: Default::default(),
            sent_to: Default::default(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let front = runtime
            .block_on(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)))
            .expect("binding the relay socket");
        let addr = front.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("relay {addr}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        tokio::select! {
                            _ = run(front, shared) => {}
                            _ = stopped => {}
                            _ = tokio::time::sleep(lifetime) => {}
                        }
                    });
                    // Dropping the runtime cancels every task and closes
                    // every socket.
                    drop(runtime);
                })
                .unwrap()
        };
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address clients dial instead of the server's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn server(&self) -> SocketAddr {
        *self.shared.server.lock().expect("relay lock")
    }

    /// Sends the flows that start from now on (a client's new connection
    /// comes from a new port) to `server`, which must be on loopback:
    /// a balancer in front of several server processes.
    pub fn set_server(&self, server: SocketAddr) {
        assert!(server.ip().is_loopback(), "{server} is not on loopback");
        *self.shared.server.lock().expect("relay lock") = server;
    }

    /// Routes by connection id from now on, as a QUIC-aware balancer does
    /// (docs/scale.md): a packet whose destination connection id carries
    /// `server_id` (the server's layout, `gridwarden_server::net::cid`) goes
    /// to `server` whatever address it comes from, so a device that changed
    /// address reaches the process holding its connection. A client's first
    /// packets (Initial, 0-RTT: ids the client chose) and ids naming no
    /// known server go where the flow would go without routing.
    pub fn route_server_id(&self, server_id: u16, server: SocketAddr) {
        assert!(server.ip().is_loopback(), "{server} is not on loopback");
        self.lock_routes().insert(server_id, server);
    }

    /// Takes `server_id` out of the routing table, as a balancer's health
    /// check does with a dead process: its connections' packets then go to
    /// the flow's other choice (the current [`Relay::set_server`] when the
    /// flow's first server is out of the table too).
    pub fn forget_server_id(&self, server_id: u16) {
        self.lock_routes().remove(&server_id);
    }

    /// Datagrams the relay sent (or queued) up to `server` so far.
    pub fn sent_to(&self, server: SocketAddr) -> u64 {
        let sent = self.shared.sent_to.lock().expect("relay lock");
        sent.get(&server).copied().unwrap_or(0)
    }

    fn lock_routes(&self) -> std::sync::MutexGuard<'_, HashMap<u16, SocketAddr>> {
        self.shared.by_server_id.lock().expect("relay lock")
    }

    /// Probability (0.0..=1.0) that a datagram is dropped, in each direction.
    pub fn set_loss(&self, probability: f64) {
        assert!((0.0..=1.0).contains(&probability), "{probability}");
        let ppm = (probability * 1_000_000.0).round() as u32;
        self.shared.loss_ppm.store(ppm, Ordering::SeqCst);
    }

    /// Fixed delay added to every datagram, each way. Order is kept.
    pub fn set_delay(&self, one_way: Duration) {
        let us = u64::try_from(one_way.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay_us.store(us, Ordering::SeqCst);
    }

    /// Limits each direction to `bits_per_s` (0: unlimited), as a slow
    /// link does: datagrams queue behind each other (up to 1 s of the link,
    /// then they are dropped) and take their size's time to cross.
    pub fn set_rate(&self, bits_per_s: u64) {
        self.shared.rate_bps.store(bits_per_s, Ordering::SeqCst);
    }

    /// Drops everything (`true`) or nothing more than loss says (`false`).
    pub fn set_cut(&self, cut: bool) {
        self.shared.cut.store(cut, Ordering::SeqCst);
    }

    /// Drops everything going `dir` (`true`), or stops doing so: an answer
    /// lost while the request got through.
    pub fn set_cut_toward(&self, dir: Direction, cut: bool) {
        self.shared.cut_toward[dir.index()].store(cut, Ordering::SeqCst);
    }

    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }

    /// Arms a one-shot trigger: the relay cuts itself as soon as `bytes` in
    /// total have been forwarded in `dir` (counting from the relay's start).
    /// More exact than watching [`Relay::stats`] from another thread.
    pub fn cut_when_forwarded(&self, dir: Direction, bytes: u64) {
        self.shared.cut_at_bytes[dir.index()].store(bytes, Ordering::SeqCst);
    }

    pub fn stats(&self, dir: Direction) -> Stats {
        self.shared.counters[dir.index()].snapshot()
    }

    /// Starts keeping a copy of every datagram clients send from now on,
    /// as an eavesdropper on the link would (before loss or a cut).
    pub fn record(&self) {
        *self.shared.recorded.lock().expect("relay lock") = Some(Vec::new());
    }

    /// The datagrams kept since [`Relay::record`], in order; stops keeping.
    pub fn take_recorded(&self) -> Vec<Vec<u8>> {
        let taken = self.shared.recorded.lock().expect("relay lock").take();
        taken.unwrap_or_default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves the public socket: datagrams from clients go up through each
/// client's own upstream socket; answers come back through the public one.
async fn run(front: UdpSocket, shared: Arc<Shared>) {
    let front = Arc::new(front);
    let to_server = spawn_delayer(shared.clone(), Direction::ToServer);
    let to_client = spawn_delayer(shared.clone(), Direction::ToClient);
    // Per client address: the server its first datagram went to.
    let mut homes: HashMap<SocketAddr, SocketAddr> = HashMap::new();
    // Per client address and server: the upstream socket and the up-going
    // loss draws (without routing by id, one server per client address).
    let mut flows: HashMap<(SocketAddr, SocketAddr), (Arc<UdpSocket>, SplitMix64)> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((len, client)) = front.recv_from(&mut buf).await else {
            // ICMP errors surface as failed receives on some platforms; they
            // are one-off, but never spin on a socket that keeps failing.
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        // Empty datagrams are a device's reachability probe (from a socket
        // of its own): the relay is up, so the probe hears no refusal, and
        // it must not take a flow (and its loss draws) from the real ones.
        if len == 0 || !client.ip().is_loopback() {
            continue;
        }
        let server = match homes.get(&client) {
            Some(home) => *home,
            None if homes.len() >= MAX_CLIENTS => continue,
            None => {
                let home = *shared.server.lock().expect("relay lock");
                homes.insert(client, home);
                home
            }
        };
        let server = shared.route(&buf[..len], server);
        let key = (client, server);
        if !flows.contains_key(&key) {
            if flows.len() >= MAX_CLIENTS {
                continue;
            }
            let flow = flows.len() as u64;
            let Ok(socket) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await else {
                continue;
            };
            if socket.connect(server).await.is_err() {
                continue;
            }
            let socket = Arc::new(socket);
            tokio::spawn(pump_down(
                socket.clone(),
                front.clone(),
                client,
                shared.clone(),
                SplitMix64::for_flow(shared.seed, flow, Direction::ToClient),
                to_client.clone(),
            ));
            let up = SplitMix64::for_flow(shared.seed, flow, Direction::ToServer);
            flows.insert(key, (socket, up));
        }
        if let Some(kept) = shared.recorded.lock().expect("relay lock").as_mut() {
            kept.push(buf[..len].to_vec());
        }
        let (upstream, rng) = flows.get_mut(&key).expect("inserted above");
        if !shared.admit(Direction::ToServer, len, rng) {
            continue;
        }
        *shared
            .sent_to
            .lock()
            .expect("relay lock")
            .entry(server)
            .or_default() += 1;
        if let Some(due) = shared.due(Direction::ToServer, len) {
            let _ = to_server.send(Datagram {
                due,
                bytes: buf[..len].to_vec(),
                target: Target::Upstream(upstream.clone()),
            });
        }
    }
}

/// Carries the server's datagrams for one client back down.
async fn pump_down(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    shared: Arc<Shared>,
    mut rng: SplitMix64,
    to_client: mpsc::UnboundedSender<Datagram>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok(len) = upstream.recv(&mut buf).await else {
            // A connected socket reports the server's ICMP "port unreachable"
            // (server down) once as an error.
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        if !shared.admit(Direction::ToClient, len, &mut rng) {
            continue;
        }
        if let Some(due) = shared.due(Direction::ToClient, len) {
            let sent = to_client.send(Datagram {
                due,
                bytes: buf[..len].to_vec(),
                target: Target::Client(front.clone(), client),
            });
            if sent.is_err() {
                return;
            }
        }
    }
}

/// One queue per direction, sent in arrival order once each datagram's delay
/// has passed: a fixed delay never reorders.
fn spawn_delayer(shared: Arc<Shared>, dir: Direction) -> mpsc::UnboundedSender<Datagram> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Datagram>();
    tokio::spawn(async move {
        while let Some(d) = rx.recv().await {
            tokio::time::sleep_until(d.due).await;
            if !shared.still_open(dir) {
                continue;
            }
            let sent = match &d.target {
                Target::Upstream(socket) => socket.send(&d.bytes).await,
                Target::Client(front, client) => front.send_to(&d.bytes, *client).await,
            };
            if sent.is_ok() {
                shared.forwarded(dir, d.bytes.len());
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::{server_id_in, Direction, SplitMix64};
    use gridwarden_server::net::cid::ServerIdGenerator;
    use quinn::ConnectionIdGenerator;

    #[test]
    fn the_server_id_is_read_from_short_and_handshake_packets_only() {
        let cid = ServerIdGenerator::new(0x0203, 9).generate_cid();
        let short: Vec<u8> = [&[0x41][..], &cid[..], &[0xAA; 30][..]].concat();
        assert_eq!(server_id_in(&short), Some(0x0203));
        let long = |first: u8| -> Vec<u8> {
            let head = [first, 0, 0, 0, 1, cid.len() as u8];
            [&head[..], &cid[..], &[8], &[0xBB; 8], &[0xCC; 30]].concat()
        };
        assert_eq!(server_id_in(&long(0xE0)), Some(0x0203), "handshake");
        assert_eq!(server_id_in(&long(0xC0)), None, "initial: the client's id");
        assert_eq!(server_id_in(&long(0xD0)), None, "0-rtt: the client's id");
        // Ids of another layout, and truncated datagrams, name no server.
        assert_eq!(server_id_in(&[0x41, 0xE7, 1, 2, 3, 4, 5, 6, 7]), None);
        assert_eq!(server_id_in(&short[..5]), None);
        assert_eq!(server_id_in(&[]), None);
    }

    #[test]
    fn loss_is_seeded_and_near_its_probability() {
        let draw = |seed| {
            let mut rng = SplitMix64::for_flow(seed, 0, Direction::ToServer);
            (0..100_000)
                .map(|_| rng.chance(100_000))
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7), "same seed, same losses");
        assert_ne!(a, draw(8));
        let other_flow = {
            let mut rng = SplitMix64::for_flow(7, 1, Direction::ToServer);
            (0..100_000)
                .map(|_| rng.chance(100_000))
                .collect::<Vec<_>>()
        };
        assert_ne!(a, other_flow);
        let lost = a.iter().filter(|l| **l).count();
        assert!((9_000..11_000).contains(&lost), "{lost}");
    }
}
