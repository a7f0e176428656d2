//! The real `gridwarden-server serve` in a process of its own, so its memory
//! can be read apart from the clients': this binary re-executes itself with
//! [`CHILD_ENV`] set and runs the server's own command line
//! (`gridwarden_server::cli::main`), nothing else.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

/// Set in the environment of a child that should be the server.
pub const CHILD_ENV: &str = "GRIDWARDEN_BENCH_RUN_SERVER";
/// A command the server process is started under, split at spaces, for
/// profiling the server alone, e.g.
/// `GRIDWARDEN_BENCH_SERVER_PREFIX="valgrind --tool=callgrind --callgrind-out-file=/tmp/server.cg"`.
pub const PREFIX_ENV: &str = "GRIDWARDEN_BENCH_SERVER_PREFIX";

/// If this process was started as the server, runs it and exits.
pub fn run_if_child() {
    if std::env::var_os(CHILD_ENV).is_some() {
        std::process::exit(gridwarden_server::cli::main());
    }
}

pub struct ServerProcess {
    child: Child,
    /// The process that runs the server: `child`, or under a profiler
    /// ([`PREFIX_ENV`]) the one the profiler started. Memory and CPU are
    /// read from it, not from the profiler's.
    server_pid: u32,
    pub addr: SocketAddr,
    /// The HTTP listener's origin (`http://127.0.0.1:PORT`), when started
    /// with one ([`ServerProcess::start_with_http`]): `/metrics` is there.
    pub http: Option<String>,
    /// How long `stop` waits for the process to end before killing it.
    patience: Duration,
}

impl ServerProcess {
    /// Starts `gridwarden-server --data DIR serve` on a free loopback port,
    /// with the harness's config written as `DIR/server.toml`
    /// ([`crate::server::config`]), and waits until it accepts connections.
    /// Its log goes to `DIR/server.log`.
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        Self::spawn(data_dir, false, &[])
    }

    /// The same with the HTTP listener on a free loopback port (the fleet
    /// scrapes `/metrics`).
    pub fn start_with_http(data_dir: &Path) -> anyhow::Result<Self> {
        Self::spawn(data_dir, true, &[])
    }

    /// [`ServerProcess::start`] with more arguments to `serve`
    /// (`--store URL`, `--server-id N`).
    pub fn start_with_args(data_dir: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::spawn(data_dir, false, extra)
    }

    fn spawn(data_dir: &Path, http: bool, extra: &[&str]) -> anyhow::Result<Self> {
        crate::server::write_config(data_dir)?;
        let log = std::fs::File::create(data_dir.join("server.log"))?;
        let exe = std::env::current_exe()?;
        let prefix = std::env::var(PREFIX_ENV).unwrap_or_default();
        let mut words = prefix.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let mut child = crate::malloc::as_shipped(&mut command)
            .env(CHILD_ENV, "1")
            .arg("--data")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--http"])
            .arg(if http { "127.0.0.1:0" } else { "off" })
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting the server process")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().context("the server printed nothing")??;
        // "gridwarden-server listening on 127.0.0.1:PORT (udp/quic)"
        let Some(addr) = first
            .split_whitespace()
            .find_map(|word| word.parse::<SocketAddr>().ok())
        else {
            let _ = child.kill();
            bail!("unexpected first line from the server: {first}");
        };
        // "supervisor console at http://127.0.0.1:PORT/console/"
        let second = lines.next().context("the server printed one line")??;
        let http = second
            .strip_prefix("supervisor console at ")
            .map(|url| url.trim_end_matches("/console/").to_owned());
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        // A profiler writes its output after the server stopped: give it time.
        let patience = if prefix.trim().is_empty() {
            Duration::from_secs(5)
        } else {
            Duration::from_secs(120)
        };
        // The server answered: under a profiler it has been started by now.
        let server_pid = server_under(child.id());
        Ok(Self {
            child,
            server_pid,
            addr,
            http,
            patience,
        })
    }

    /// The server's own process (not a profiler's it runs under).
    pub fn pid(&self) -> u32 {
        self.server_pid
    }

    /// Starts a new peak: the kernel's high-water mark of resident memory
    /// (VmHWM) is reset to the current resident set.
    pub fn reset_peak_rss(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .context("resetting the server's peak RSS")
    }

    /// Peak resident memory since start or the last reset, in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmHWM in /proc/PID/status")?;
        Ok(kib * 1024)
    }

    /// Resident memory now, in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmRSS in /proc/PID/status")?;
        Ok(kib * 1024)
    }

    /// CPU time the server process has used so far (user + system).
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let (user, system) = self.cpu_times()?;
        Ok(user + system)
    }

    /// The server process's user and system CPU time so far, in seconds.
    pub fn cpu_times(&self) -> anyhow::Result<(f64, f64)> {
        cpu_times_of(&format!("/proc/{}/stat", self.pid()))
    }

    /// SIGTERM, as an operator's service manager stops it, then waits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        // The started process: a profiler passes the signal on and then
        // writes its output.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let until = std::time::Instant::now() + self.patience;
        while std::time::Instant::now() < until {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time this process (the harness and its in-process devices) has used.
pub fn own_cpu_seconds() -> anyhow::Result<f64> {
    let (user, system) = cpu_times_of("/proc/self/stat")?;
    Ok(user + system)
}

/// The deepest process under `pid` (itself included) with [`CHILD_ENV`] in
/// its environment: the server itself, when `pid` is a profiler that started
/// it (which carries the variable too); `pid` when nothing is under it.
fn server_under(pid: u32) -> u32 {
    let carries = |p: u32| {
        std::fs::read(format!("/proc/{p}/environ")).is_ok_and(|env| {
            env.split(|&b| b == 0).any(|kv| {
                kv.starts_with(CHILD_ENV.as_bytes()) && kv.get(CHILD_ENV.len()) == Some(&b'=')
            })
        })
    };
    let children = |p: u32| -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{p}/task/{p}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .collect()
    };
    let mut found = pid;
    let mut level = vec![pid];
    while !level.is_empty() {
        level = level
            .into_iter()
            .flat_map(children)
            .filter(|&c| carries(c))
            .collect();
        if let Some(&deeper) = level.first() {
            found = deeper;
        }
    }
    found
}

/// utime and stime of a `/proc/PID/stat` file, in seconds.
fn cpu_times_of(stat: &str) -> anyhow::Result<(f64, f64)> {
    let text = std::fs::read_to_string(stat)?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14 and stime 15.
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unreadable /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i - 3)
            .context("short /proc stat")?
            .parse::<f64>()?)
    };
    let hz = clock_ticks_per_second();
    Ok((ticks(14)? / hz, ticks(15)? / hz))
}

/// The kernel's clock tick (`getconf CLK_TCK`), 100 on every common Linux.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}
