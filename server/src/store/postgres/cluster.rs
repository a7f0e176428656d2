//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary
//! directory as an unprivileged user, `postgres` on a Unix socket in that
//! directory only (no TCP port, so clusters of parallel test binaries never
//! collide), stopped and removed when the test binary exits.
//!
//! One cluster serves a whole test binary ([`shared`]); each test takes a
//! fresh database of its own ([`Cluster::database`]). A static is never
//! dropped, so the stop does not hang on `Drop`: a guard process started
//! with the cluster waits for the test binary's end of a pipe to close (on
//! exit, a panic or a kill alike), then stops the cluster and removes the
//! directory.
//!
//! PostgreSQL refuses to run as root. As root (CI), the cluster belongs to
//! the `postgres` system user the distribution's package creates (else
//! `nobody`), and `initdb`, `pg_ctl` and the guard run as that user through
//! `runuser`; the test binary, a client, connects as root over the socket.
//!
//! Public (hidden from the docs) like the store suite, so the end-to-end
//! tests in another crate use the same cluster code.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The port named in the socket's file name; nothing listens on TCP.
const PORT: u16 = 5432;
/// The cluster's superuser; the socket trusts every local connection.
const SUPERUSER: &str = "gridwarden";

/// A running throwaway cluster.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    /// Runs the cluster's programs as its owner when we are root.
    owner: Option<String>,
    /// Its stdin is our end of the pipe: closing it (our exit) stops the
    /// cluster.
    guard: Option<Child>,
    databases: AtomicU32,
}

/// Why no cluster could be started.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH); .ci/install-postgres installs it")]
    Missing,
    #[error("{0}")]
    Failed(String),
}

/// The binary's one cluster, started on first use; `None` (with a notice
/// printed) when PostgreSQL is not installed. Panics when it is missing or
/// fails to start under `CI=true`, and when it fails to start elsewhere:
/// a missing PostgreSQL is a skip only on a developer's machine.
pub fn shared() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| match Cluster::start() {
            Ok(cluster) => Some(cluster),
            Err(ClusterError::Missing) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!(
                    "notice: skipping the PostgreSQL tests: {}",
                    ClusterError::Missing
                );
                None
            }
            Err(e) => panic!("no PostgreSQL cluster for the tests: {e}"),
        })
        .as_ref()
}

/// A cluster of the caller's own, for a test that stops or restarts it
/// (the shared one serves other tests at the same time); `None` (with a
/// notice) when PostgreSQL is not installed, as for [`shared`]. Stopped and
/// removed when dropped.
pub fn private() -> Option<Cluster> {
    match Cluster::start() {
        Ok(cluster) => Some(cluster),
        Err(ClusterError::Missing) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!(
                "notice: skipping a PostgreSQL test: {}",
                ClusterError::Missing
            );
            None
        }
        Err(e) => panic!("no PostgreSQL cluster for the test: {e}"),
    }
}

/// A fresh database on the shared cluster, as a `postgres://` URL; `None`
/// (with a notice) when PostgreSQL is not installed.
pub fn fresh_database() -> Option<String> {
    Some(shared()?.database())
}

fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    // Elsewhere (a developer's machine with PostgreSQL from another source)
    // the server binaries are on PATH.
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

fn is_root() -> Result<bool, ClusterError> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| ClusterError::Failed(format!("running id -u: {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The user (name, uid, gid) a cluster runs as when we are root.
fn system_user() -> Result<(String, u32, u32), ClusterError> {
    for name in ["postgres", "nobody"] {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, name]).output().ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())?
        };
        if let (Some(uid), Some(gid)) = (id("-u"), id("-g")) {
            return Ok((name.to_owned(), uid, gid));
        }
    }
    Err(ClusterError::Failed(
        "running as root, and neither a postgres nor a nobody user exists to own the cluster"
            .into(),
    ))
}

/// The start of a command line that runs the rest as `user` (we are root):
/// util-linux's `runuser`, looked for where distributions put it, as a
/// root shell's PATH has it but a test runner's may not.
fn as_user(user: &str) -> Command {
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("runuser");
    let mut c = Command::new(runuser);
    c.args(["-u", user, "--"]);
    c
}

fn run(mut command: Command, what: &str) -> Result<(), ClusterError> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ClusterError::Failed(format!("{what}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ClusterError::Failed(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

impl Cluster {
    /// Starts a new cluster in a new temporary directory.
    pub fn start() -> Result<Self, ClusterError> {
        let bin = bin_dir().ok_or(ClusterError::Missing)?;
        let dir = std::env::temp_dir().join(format!(
            "gridwarden-pg-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&dir)
            .map_err(|e| ClusterError::Failed(format!("creating {}: {e}", dir.display())))?;
        let mut cluster = Self {
            dir,
            bin,
            owner: None,
            guard: None,
            databases: AtomicU32::new(0),
        };
        if is_root()? {
            let (name, uid, gid) = system_user()?;
            std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid))
                .map_err(|e| ClusterError::Failed(format!("chown of the cluster: {e}")))?;
            cluster.owner = Some(name);
        }
        std::fs::set_permissions(&cluster.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| ClusterError::Failed(format!("chmod of the cluster: {e}")))?;
        // The guard first: from here on the directory goes when we do.
        match cluster.spawn_guard() {
            Ok(guard) => cluster.guard = Some(guard),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&cluster.dir);
                return Err(e);
            }
        }
        cluster.init()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command running `program` of the cluster's binaries as its owner.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.owner {
            Some(user) => {
                let mut c = as_user(user);
                c.arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn spawn_guard(&self) -> Result<Child, ClusterError> {
        let script = r#"cat >/dev/null
"$0" -D "$1/data" -m immediate -w stop >/dev/null 2>&1
rm -rf "$1""#;
        let mut command = match &self.owner {
            Some(user) => {
                let mut c = as_user(user);
                c.args(["sh", "-c", script]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", script]);
                c
            }
        };
        command
            .arg(self.bin.join("pg_ctl"))
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ClusterError::Failed(format!("starting the cluster's guard: {e}")))
    }

    fn init(&self) -> Result<(), ClusterError> {
        let data = self.data();
        let mut initdb = self.command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb")?;
        // Throwaway data: durability off, for speed; enough connections for
        // a test binary's parallel tests, each with its pool.
        let settings = format!(
            "\n# gridwarden test cluster\nlisten_addresses = ''\nunix_socket_directories = '{}'\n\
             port = {PORT}\nmax_connections = 300\nshared_buffers = 32MB\nfsync = off\n\
             synchronous_commit = off\nfull_page_writes = off\n",
            self.dir.display()
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)
            .map_err(|e| ClusterError::Failed(format!("reading {}: {e}", conf.display())))?;
        text.push_str(&settings);
        std::fs::write(&conf, text)
            .map_err(|e| ClusterError::Failed(format!("writing {}: {e}", conf.display())))?;
        self.start_server()
    }

    /// Starts the cluster's server and waits until it accepts connections.
    fn start_server(&self) -> Result<(), ClusterError> {
        let data = self.data();
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(data.join("server.log"))
            .args(["-w", "-t", "120", "start"]);
        run(start, "pg_ctl start").map_err(|e| {
            let log = std::fs::read_to_string(data.join("server.log")).unwrap_or_default();
            ClusterError::Failed(format!("{e}\nserver log:\n{log}"))
        })
    }

    /// Stops the server as an operator's restart does (`pg_ctl stop -m
    /// fast`: open transactions are rolled back, every connection is
    /// closed, and a checkpoint keeps what was committed) and waits until it
    /// is down. The data and the socket directory stay for [`Cluster::resume`].
    pub fn stop(&self) -> Result<(), ClusterError> {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "120", "stop"]);
        run(stop, "pg_ctl stop")
    }

    /// Starts a stopped cluster again, on the same socket: the same URLs
    /// reach it.
    pub fn resume(&self) -> Result<(), ClusterError> {
        self.start_server()
    }

    /// [`Cluster::stop`], then [`Cluster::resume`].
    pub fn restart(&self) -> Result<(), ClusterError> {
        self.stop()?;
        self.resume()
    }

    /// The directory holding the cluster's socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        let host = self.dir.display().to_string().replace('/', "%2F");
        format!("postgres://{SUPERUSER}@{host}:{PORT}/{name}")
    }

    /// Runs `sql` with `psql` on the database at `url` (one of this
    /// cluster's) and returns what it printed, unaligned, one row a line:
    /// for a test to look at or set up a database behind the store's back.
    pub fn sql(&self, url: &str, sql: &str) -> Result<String, ClusterError> {
        let name = url.rsplit('/').next().unwrap_or_default();
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &PORT.to_string(), "-U", SUPERUSER, "-d", name])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ClusterError::Failed(format!("running psql: {e}")))?;
        if !out.status.success() {
            return Err(ClusterError::Failed(format!(
                "psql failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The whole database at `url` (one of this cluster's), schema and rows,
    /// as `pg_dump` prints it: two dumps are equal when nothing changed.
    pub fn dump(&self, url: &str) -> Result<String, ClusterError> {
        let name = url.rsplit('/').next().unwrap_or_default();
        let out = Command::new(self.bin.join("pg_dump"))
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &PORT.to_string(), "-U", SUPERUSER, "--no-owner", name])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ClusterError::Failed(format!("running pg_dump: {e}")))?;
        if !out.status.success() {
            return Err(ClusterError::Failed(format!(
                "pg_dump failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        // Recent pg_dump releases fence the script with a random key
        // (`\restrict KEY`), different at every run.
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// Creates a new, empty database and returns its URL.
    pub fn database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{n}");
        let mut createdb = Command::new(self.bin.join("createdb"));
        createdb
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &PORT.to_string(), "-U", SUPERUSER, &name]);
        if let Err(e) = run(createdb, "createdb") {
            panic!("creating a test database: {e}");
        }
        self.url(&name)
    }
}

impl Drop for Cluster {
    /// A cluster that is not the shared one is stopped and removed here:
    /// closing the guard's pipe makes it stop and remove the cluster, and
    /// waiting for it makes that done when `drop` returns.
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            drop(guard.stdin.take());
            let _ = guard.wait();
        }
    }
}
