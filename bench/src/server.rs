//! The real server in this process, on its own runtime and threads, as
//! `tests/src/lib.rs` runs it; plus the admin actions IT would run on its
//! data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use geo::InteriorPoint;
use gridwarden_protocol::Role;
use gridwarden_server::{admin, DataDir, Limits, RunningServer};

/// Worker threads of the server's runtime: the machine's two cores, as
/// `gridwarden-server serve` gets them from tokio's default.
const SERVER_WORKERS: usize = 2;

pub struct LocalServer {
    pub data_dir: PathBuf,
    pub addr: SocketAddr,
    pub fingerprint: [u8; 32],
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<RunningServer>,
}

impl LocalServer {
    /// Starts a server on `data_dir` (created with the bundled defaults on
    /// first use) on a free loopback port.
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SERVER_WORKERS)
            .thread_name("server")
            .enable_all()
            .build()?;
        let data = DataDir::open(data_dir, Limits::default())?;
        let listen: SocketAddr = "127.0.0.1:0".parse()?;
        let running = runtime
            .block_on(async { RunningServer::start(data.service.clone(), &data.identity, listen) })
            .context("starting the server")?;
        Ok(Self {
            data_dir: data_dir.to_owned(),
            addr: running.local_addr,
            fingerprint: running.fingerprint,
            runtime: Some(runtime),
            running: Some(running),
        })
    }

    /// Stops the server and waits until its connections and files are closed.
    pub fn stop(&mut self) {
        if let (Some(rt), Some(running)) = (self.runtime.take(), self.running.take()) {
            rt.block_on(running.shutdown());
            rt.shutdown_timeout(std::time::Duration::from_secs(10));
        }
    }

    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    pub fn admin(&self) -> anyhow::Result<Admin> {
        Admin::open(&self.data_dir)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What IT does to a data directory, running or not.
pub struct Admin {
    data: DataDir,
}

impl Admin {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            data: DataDir::open(data_dir, Limits::default())?,
        })
    }

    pub fn add_user(&self, name: &str, role: Role, cells: &[String]) -> anyhow::Result<()> {
        admin::add_user(&self.data, name, role, cells.to_vec())?;
        Ok(())
    }

    /// A one-time code telling a device to dial `addr`.
    pub fn enrolment_code(&self, user: &str, addr: &str) -> anyhow::Result<String> {
        Ok(admin::enrol_device(&self.data, user, Some(addr))?.code)
    }

    pub fn import_grid(&self, geojson: &str, name: &str) -> anyhow::Result<()> {
        let pattern = gridwarden_grid::CodePattern::default_15();
        admin::import_grid(&self.data, geojson, name, &pattern, false)?;
        Ok(())
    }

    /// The first `n` cells of the current layer with a point the assignment
    /// rules really put in each.
    pub fn cells_with_points(&self, n: usize) -> anyhow::Result<Vec<(String, (f64, f64))>> {
        let grid = self
            .data
            .service
            .grid()?
            .context("the server has no grid layer")?;
        let picked: Vec<_> = grid
            .cells()
            .iter()
            .filter_map(|cell| {
                let p = cell.geometry.interior_point()?;
                (grid.assign(p.x(), p.y()).code() == Some(cell.code.as_str()))
                    .then(|| (cell.code.clone(), (p.x(), p.y())))
            })
            .take(n)
            .collect();
        anyhow::ensure!(picked.len() == n, "the grid layer has fewer than {n} cells");
        Ok(picked)
    }
}
