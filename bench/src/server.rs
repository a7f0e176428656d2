//! The real server in this process, started exactly as the end-to-end
//! suite starts it (`gridwarden_e2e::TestServer`: its own runtime of two
//! workers, a free loopback port), plus the admin actions IT would run on
//! its data directory.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use gridwarden_protocol::Role;
use gridwarden_server::config::{Config, RateSection, CONFIG_FILE};
use gridwarden_server::datadir::StoreLocation;
use gridwarden_server::{admin, DataDir, Limits};

pub use gridwarden_e2e::TestServer;

/// Starts a server on `data_dir` (created with the bundled defaults on
/// first use) on a free loopback port, configured as [`config`] says.
pub fn start(data_dir: &Path) -> anyhow::Result<TestServer> {
    start_on(data_dir, "127.0.0.1:0".parse()?)
}

/// As [`start`], on `listen` (the address a device was enrolled with).
pub fn start_on(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<TestServer> {
    TestServer::try_start_configured(data_dir, listen, &config()).map_err(anyhow::Error::msg)
}

/// The server every scenario runs: the shipped defaults, except the
/// per-device rate limits of the QUIC edge. Those are there to hold back a
/// misbehaving or hostile device; a benchmark device that syncs 500 times
/// in two minutes (apply) or pushes 100,000 ops at once (push) is neither,
/// and a figure taken while a bucket makes it wait measures the limit, not
/// the server. Connection caps and timeouts stay as shipped: the fleet
/// should meet them as a city's devices do.
pub fn config() -> Config {
    Config {
        rate: RateSection {
            connections_per_minute: 1_000_000,
            connection_burst: 1_000_000,
            requests_per_second: 1_000_000,
            request_burst: 1_000_000,
            ops_per_second: 10_000_000,
            op_burst: 10_000_000,
        },
        ..Config::default()
    }
}

/// Writes [`config`] as `DIR/server.toml`, the file `gridwarden-server
/// serve` reads from its data directory: how a server process of the
/// harness gets the same settings as the in-process ones.
pub fn write_config(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(data_dir.join(CONFIG_FILE), config().to_toml())
        .context("writing the server's config file")
}

/// What IT does to a data directory, served or not.
pub struct Admin {
    data: DataDir,
}

impl Admin {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            data: DataDir::open(data_dir, Limits::default())?,
        })
    }

    /// The same for a data directory whose records are in `store` (a
    /// PostgreSQL database).
    pub fn open_on(data_dir: &Path, store: &StoreLocation) -> anyhow::Result<Self> {
        Ok(Self {
            data: DataDir::open_on(
                data_dir,
                store,
                Limits::default(),
                gridwarden_protocol::clock::system(),
            )?,
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

    /// The data directory as the admin holds it (its own service).
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// The first `n` cells of the current layer with a point the assignment
    /// rules really put in each.
    pub fn cells_with_points(&self, n: usize) -> anyhow::Result<Vec<(String, (f64, f64))>> {
        let picked: Vec<_> = gridwarden_e2e::cells_with_points(&self.data, n)
            .into_iter()
            .map(|(code, at)| (code, (at.lon, at.lat)))
            .collect();
        anyhow::ensure!(picked.len() == n, "the grid layer has fewer than {n} cells");
        Ok(picked)
    }
}

/// The admin of a running server's data directory.
pub fn admin_of(server: &TestServer) -> anyhow::Result<Admin> {
    Admin::open(&server.data_dir).context("opening the server's data directory")
}
