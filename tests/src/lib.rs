//! Shared harness for the end-to-end suite: a real server on loopback that
//! can be stopped and restarted on the same port and data directory, admin
//! actions on that directory, and enrolled client devices.
// Test support: a failed unwrap is the failure report.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use geo::InteriorPoint;
use gridwarden_client_core::{Client, Location, NewReport};
use gridwarden_protocol::Role;
use gridwarden_server::config::ConsoleSection;
use gridwarden_server::http::HttpServer;
use gridwarden_server::{admin, Config, DataDir, EdgeConfig, Limits, RunningServer};
pub mod kotlin;
pub mod metrics;
pub mod mobile;
pub mod relay;
pub mod sim;

/// A server whose process-like lifetime the test controls.
pub struct TestServer {
    pub data_dir: PathBuf,
    pub addr: SocketAddr,
    pub fingerprint: [u8; 32],
    /// The console's HTTP listener, when started with one.
    pub http_addr: Option<SocketAddr>,
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<RunningServer>,
    http: Option<HttpServer>,
    console: Option<ConsoleSection>,
    service: std::sync::Arc<gridwarden_server::Service>,
}

impl TestServer {
    /// Starts a server on a free loopback port.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_on(data_dir, "127.0.0.1:0".parse().unwrap())
    }

    pub fn start_on(data_dir: &Path, listen: SocketAddr) -> Self {
        Self::start_with(data_dir, listen, Limits::default())
    }

    /// Starts with other limits than the defaults (a smaller photo limit).
    pub fn start_with(data_dir: &Path, listen: SocketAddr, limits: Limits) -> Self {
        Self::try_start_with(data_dir, listen, limits).unwrap()
    }

    /// Starts with the limits and edge settings of a config file.
    pub fn start_configured(data_dir: &Path, config: &Config) -> Self {
        let listen = "127.0.0.1:0".parse().unwrap();
        Self::try_start_configured(data_dir, listen, config).unwrap()
    }

    /// The same on `listen` (a restart with another config keeps the port
    /// enrolled devices dial).
    pub fn start_configured_on(data_dir: &Path, listen: SocketAddr, config: &Config) -> Self {
        Self::try_start_configured(data_dir, listen, config).unwrap()
    }

    /// As [`Self::start_configured`] on `listen`, or says why not (the
    /// benchmark harness reports a failure in its table instead of panicking).
    pub fn try_start_configured(
        data_dir: &Path,
        listen: SocketAddr,
        config: &Config,
    ) -> Result<Self, String> {
        let edge = EdgeConfig {
            connections: config.connections.clone(),
            rate: config.rate.clone(),
            server_id: config.server.server_id,
        };
        Self::try_start_with_edge(data_dir, listen, config.service_limits(), edge)
    }

    /// Starts with the supervisor console's HTTP listener on a free
    /// loopback port (its other settings from `console`).
    pub fn start_console(data_dir: &Path, console: ConsoleSection) -> Self {
        let mut server = Self::start(data_dir);
        server.open_console(console);
        server
    }

    fn open_console(&mut self, console: ConsoleSection) {
        let (Some(rt), Some(data)) = (
            &self.runtime,
            DataDir::open(&self.data_dir, Limits::default()).ok(),
        ) else {
            panic!("the server is not running");
        };
        let app = std::sync::Arc::new(gridwarden_server::console::Console::new(
            data.service.clone(),
            console.clone(),
            console.tls_cert.is_some(),
        ));
        let listen = console
            .http_addr()
            .unwrap()
            .unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        let http = rt
            .block_on(async { gridwarden_server::http::start(app, listen) })
            .unwrap();
        self.http_addr = Some(http.local_addr);
        self.http = Some(http);
        self.console = Some(console);
    }

    /// `http://ADDR/PATH` of the console listener.
    pub fn console_url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.http_addr.expect("started with a console")
        )
    }

    /// Starts on a free loopback port, or says why not: the benchmark
    /// harness (`bench/`) runs its servers with this too and reports a
    /// failure in its table instead of panicking.
    pub fn try_start(data_dir: &Path) -> Result<Self, String> {
        let listen = "127.0.0.1:0".parse().expect("a socket address");
        Self::try_start_with(data_dir, listen, Limits::default())
    }

    pub fn try_start_with(
        data_dir: &Path,
        listen: SocketAddr,
        limits: Limits,
    ) -> Result<Self, String> {
        Self::try_start_with_edge(data_dir, listen, limits, EdgeConfig::default())
    }

    fn try_start_with_edge(
        data_dir: &Path,
        listen: SocketAddr,
        limits: Limits,
        edge: EdgeConfig,
    ) -> Result<Self, String> {
        // Two workers: the machine's cores, as `gridwarden-server serve`
        // gets them from tokio's default there. Named, for profiles.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("server")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the server runtime: {e}"))?;
        let data = DataDir::open(data_dir, limits)
            .map_err(|e| format!("opening {}: {e}", data_dir.display()))?;
        let running = runtime
            .block_on(async {
                RunningServer::start_with(data.service.clone(), &data.identity, listen, edge)
            })
            .map_err(|e| format!("starting the server on {listen}: {e}"))?;
        Ok(Self {
            data_dir: data_dir.to_owned(),
            addr: running.local_addr,
            fingerprint: running.fingerprint,
            http_addr: None,
            runtime: Some(runtime),
            running: Some(running),
            http: None,
            console: None,
            service: data.service.clone(),
        })
    }

    /// Stops the server: every connection closes, the port is released.
    pub fn stop(&mut self) {
        if let (Some(rt), Some(running)) = (self.runtime.take(), self.running.take()) {
            if let Some(http) = self.http.take() {
                rt.block_on(http.shutdown());
            }
            rt.block_on(running.shutdown());
            // Wait until every task, and with it the endpoint's socket, is
            // dropped: a restart binds the same port next.
            rt.shutdown_timeout(std::time::Duration::from_secs(10));
        }
    }

    /// The HTTP listener (console and Open311) on a free loopback port, on
    /// this server's runtime and `Service`, as `serve` runs it.
    pub fn start_http(
        &self,
        open311: gridwarden_server::config::Open311Section,
    ) -> gridwarden_server::http::HttpServer {
        let console = std::sync::Arc::new(gridwarden_server::console::Console::new(
            self.service.clone(),
            gridwarden_server::config::ConsoleSection::default(),
            false,
        ));
        let runtime = self.runtime.as_ref().expect("a running server");
        let _entered = runtime.enter();
        gridwarden_server::http::start_with(console, open311, "127.0.0.1:0".parse().unwrap())
            .unwrap()
    }

    /// Connections authenticated since this server started (each cost a
    /// handshake): a sync on a kept connection adds none.
    pub fn connections_opened(&self) -> u64 {
        self.running
            .as_ref()
            .map_or(0, RunningServer::connections_opened)
    }

    /// Reads the certificates again, as `serve` does on SIGHUP.
    pub fn reload_certificates(&self) {
        let identity =
            gridwarden_server::tls::load_existing(&self.data_dir, self.service.now()).unwrap();
        let _in = self.runtime.as_ref().expect("running").enter();
        self.running
            .as_ref()
            .expect("running")
            .reload_identity(&identity)
            .unwrap();
    }

    /// Starts again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        let console = self.console.take();
        let http_addr = self.http_addr;
        *self = Self::start_on(&self.data_dir.clone(), self.addr);
        if let Some(mut console) = console {
            // The same port again, so a test's URLs stay good.
            if let Some(addr) = http_addr {
                console.http = addr.to_string();
            }
            self.open_console(console);
        }
    }

    /// The data directory as an admin command sees it (its own connections,
    /// like a second process).
    pub fn admin(&self) -> DataDir {
        DataDir::open(&self.data_dir, Limits::default()).unwrap()
    }

    pub fn add_user(&self, name: &str, role: Role, cells: &[&str]) {
        admin::add_user(
            &self.admin(),
            name,
            role,
            cells.iter().map(|c| c.to_string()).collect(),
        )
        .unwrap();
    }

    pub fn enrolment_code(&self, user: &str) -> String {
        admin::enrol_device(&self.admin(), user, Some(&self.addr.to_string()))
            .unwrap()
            .code
    }

    /// A client device in `home`, enrolled for `user` (server must be up).
    pub fn enrol(&self, home: &Path, user: &str) -> Client {
        // A stopped server is noticed by timeout (QUIC ignores ICMP); keep it short.
        let client = Client::open(home)
            .unwrap()
            .with_connect_timeout(std::time::Duration::from_secs(2));
        client
            .enroll(&self.enrolment_code(user), "e2e test phone")
            .unwrap();
        client
    }

    /// Two cells of the current layer and a point inside each.
    pub fn two_cells(&self) -> [(String, Location); 2] {
        let mut picked = cells_with_points(&self.admin(), 2).into_iter();
        let (a, b) = (picked.next().unwrap(), picked.next().unwrap());
        [a, b]
    }
}

/// The first `n` cells of the current layer (fewer if it has fewer), each
/// with a point the assignment rules really put in it.
pub fn cells_with_points(data: &DataDir, n: usize) -> Vec<(String, Location)> {
    let grid = data
        .service
        .grid()
        .unwrap()
        .expect("a grid layer is loaded");
    grid.cells()
        .iter()
        .filter_map(|cell| {
            let p = cell.geometry.interior_point()?;
            (grid.assign(p.x(), p.y()).code() == Some(cell.code.as_str())).then(|| {
                (
                    cell.code.clone(),
                    Location {
                        lon: p.x(),
                        lat: p.y(),
                        accuracy_m: Some(5.0),
                    },
                )
            })
        })
        .take(n)
        .collect()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// JPEG-looking bytes (the magic number, then noise from `seed`): `len` of
/// them, for photo tests.
pub fn jpeg(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The runtime an app's client keeps running (the bindings own one): one
/// worker, as on a phone.
pub fn app_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

pub fn report_at(category: &str, location: Location, note: &str) -> NewReport {
    NewReport {
        category: category.into(),
        location,
        address: None,
        note: note.into(),
        observed_at_ms: 1_763_800_000_000,
        patrol: None,
        asset: None,
    }
}

/// A location far from every cell of the sample layer.
pub fn nowhere() -> Location {
    Location {
        lon: 2.35,
        lat: 48.85,
        accuracy_m: None,
    }
}

/// A hand-driven QUIC connection for sending what no well-behaved client
/// sends: garbage, oversized frames, forged credentials.
pub mod raw {
    use std::net::SocketAddr;

    use gridwarden_protocol::frame::{encode_frame, FrameDecoder, DEFAULT_MAX_FRAME};
    use gridwarden_protocol::{ClientMessage, ServerMessage};

    pub struct Raw {
        pub runtime: tokio::runtime::Runtime,
        pub conn: quinn::Connection,
        _endpoint: quinn::Endpoint,
    }

    impl Raw {
        pub fn connect(addr: SocketAddr, fingerprint: [u8; 32]) -> Self {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let (endpoint, conn) = runtime.block_on(async {
                gridwarden_client_core::transport::connect_quic(&addr.to_string(), fingerprint)
                    .await
                    .unwrap()
            });
            Self {
                runtime,
                conn,
                _endpoint: endpoint,
            }
        }

        /// Sends `bytes` on a new stream and returns the server's answer.
        pub fn exchange(&self, bytes: &[u8]) -> Result<ServerMessage, String> {
            self.runtime.block_on(async {
                let (mut send, mut recv) = self.conn.open_bi().await.map_err(|e| e.to_string())?;
                // The server may stop reading an oversized request early.
                let _ = send.write_all(bytes).await;
                let _ = send.finish();
                let answer = recv
                    .read_to_end(DEFAULT_MAX_FRAME + 4)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME);
                dec.extend(&answer).map_err(|e| e.to_string())?;
                // Read as this build's version: a large answer comes packed.
                let payload = dec
                    .next_payload()
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| "no answer".to_string())?;
                gridwarden_protocol::versions::decode_server(
                    gridwarden_protocol::PROTOCOL_VERSION,
                    &payload,
                )
                .map_err(|e| e.to_string())
            })
        }

        pub fn request(&self, message: &ClientMessage) -> Result<ServerMessage, String> {
            self.exchange(&encode_frame(message))
        }

        /// A connection that said hello as the enrolled device `device_id`.
        pub fn hello(
            addr: SocketAddr,
            fingerprint: [u8; 32],
            device_id: uuid::Uuid,
            token: Vec<u8>,
        ) -> Self {
            let raw = Self::connect(addr, fingerprint);
            let hello = ClientMessage::Hello(gridwarden_protocol::Hello {
                protocol_version: gridwarden_protocol::PROTOCOL_VERSION,
                device_id,
                token,
                client: "raw".into(),
            });
            let answer = raw.request(&hello);
            assert!(
                matches!(answer, Ok(ServerMessage::Welcome(_))),
                "{answer:?}"
            );
            raw
        }
    }

    /// A connection that said hello as a real device, freshly enrolled for
    /// `user` in `home`, for pushing ops the client core would never send.
    pub fn hello_as(
        server: &crate::TestServer,
        user: &str,
        home: &std::path::Path,
    ) -> (Raw, uuid::Uuid) {
        let client = server.enrol(home, user);
        let device_id = client.status().unwrap().device_id.unwrap();
        let token = client.device_token_for_tests().unwrap();
        let raw = Raw::hello(server.addr, server.fingerprint, device_id, token);
        (raw, device_id)
    }
}

/// The workspace's real binaries, built once per test run.
pub mod bins {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;

    static BUILT: OnceLock<PathBuf> = OnceLock::new();

    /// Path to a binary of this workspace (`gridwarden`, `gridwarden-server`),
    /// building both with the same profile as the tests if needed.
    pub fn path(name: &str) -> PathBuf {
        let dir = BUILT.get_or_init(|| {
            let mut cmd = nested(Command::new(
                std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
            ));
            cmd.args([
                "build",
                "--quiet",
                "-p",
                "gridwarden-server",
                "-p",
                "gridwarden-cli",
            ]);
            if profile() == "release" {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("running cargo build for the binaries");
            assert!(status.success(), "building the binaries failed");
            profile_dir()
        });
        dir.join(name)
    }

    /// The directory the tests were built into: `target/<profile>`.
    pub fn profile_dir() -> PathBuf {
        // target/<profile>/deps/e2e-HASH -> target/<profile>
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().to_owned()
    }

    /// `debug` or `release`, as the tests were built.
    pub fn profile() -> String {
        profile_dir()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// Prepares `cmd` to run a cargo build inside this test run.
    pub fn nested(mut cmd: Command) -> Command {
        // `cargo test` sets CARGO_PKG_*, CARGO_MANIFEST_DIR and friends for
        // this process; build scripts that watch them would rebuild the
        // world, so the nested build gets only what selects the toolchain
        // and how it builds (CARGO_INCREMENTAL too: CI turns it off, and a
        // nested build with it on would rebuild the workspace's crates).
        const KEEP: [&str; 4] = [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "CARGO_INCREMENTAL",
        ];
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let keep = KEEP.contains(&key.as_ref());
            if (key.starts_with("CARGO_") || key.starts_with("RUSTC") || key == "OUT_DIR") && !keep
            {
                cmd.env_remove(key.as_ref());
            }
        }
        cmd
    }
}

/// The real `gridwarden-server serve` as a child process.
pub mod process {
    use std::io::{BufRead, BufReader};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};

    use crate::bins;

    /// A running `gridwarden-server serve`; killed (SIGKILL) when dropped.
    pub struct ServerProcess {
        child: Child,
        /// What `serve` printed before it started serving: the address
        /// line, the console's URL, the data directory and the certificate
        /// fingerprint.
        pub banner: Vec<String>,
        /// Its log lines (stderr), when started with [`ServerProcess::start_logged`].
        log: Option<std::sync::mpsc::Receiver<String>>,
    }

    impl ServerProcess {
        /// Starts the binary on `127.0.0.1:port` and waits until it says it
        /// accepts connections.
        pub fn start(data: &Path, port: u16) -> Self {
            Self::start_with_args(data, port, &[])
        }

        /// The same with more arguments to `serve` (`--public-addr …`).
        pub fn start_with_args(data: &Path, port: u16, extra: &[&str]) -> Self {
            Self::spawn(data, port, extra, false)
        }

        /// [`ServerProcess::start_with_args`], keeping its log lines for
        /// [`ServerProcess::wait_for_log`].
        pub fn start_logged(data: &Path, port: u16, extra: &[&str]) -> Self {
            Self::spawn(data, port, extra, true)
        }

        /// Waits for a log line containing `needle` (lines before it are
        /// consumed) and returns it.
        pub fn wait_for_log(&self, needle: &str, limit: std::time::Duration) -> String {
            let log = self.log.as_ref().expect("started with start_logged");
            let deadline = std::time::Instant::now() + limit;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match log.recv_timeout(left) {
                    Ok(line) if line.contains(needle) => return line,
                    Ok(_) => {}
                    Err(e) => panic!("no log line with `{needle}`: {e}"),
                }
            }
        }

        fn spawn(data: &Path, port: u16, extra: &[&str], logged: bool) -> Self {
            let mut child = Command::new(bins::path("gridwarden-server"))
                .args(["serve", "--data"])
                .arg(data)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                // The console on a free port: tests run side by side.
                .args(["--http", "127.0.0.1:0"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(if logged {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .spawn()
                .unwrap();
            let log = child.stderr.take().map(|stderr| {
                let (send, receive) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                        if send.send(line).is_err() {
                            break;
                        }
                    }
                });
                receive
            });
            let stdout = child.stdout.take().unwrap();
            let mut lines = BufReader::new(stdout).lines();
            let banner: Vec<String> = lines.by_ref().take(4).map(|l| l.unwrap()).collect();
            let first = banner.first().expect("serve printed nothing");
            assert!(
                first.contains(&format!("listening on 127.0.0.1:{port}")),
                "{banner:?}"
            );
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            Self { child, banner, log }
        }

        /// The server's process id.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// SIGKILL: no shutdown code runs, nothing is flushed.
        pub fn kill(&mut self) {
            self.child.kill().unwrap();
            self.child.wait().unwrap();
        }
    }

    impl Drop for ServerProcess {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A UDP port free on loopback right now.
    pub fn free_udp_port() -> u16 {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}
