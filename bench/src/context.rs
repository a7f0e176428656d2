//! What scenarios share: the sizes to run at, the working directory, the
//! PouchDB peer, and prepared starting states that are copied for each run
//! so every run starts equal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use gridwarden_client_core::Client;
use gridwarden_protocol::Role;

use crate::peer::Peer;
use crate::server;
use crate::{device, reports};

/// Sizes and repetitions.
#[derive(Clone, Debug)]
pub struct Config {
    pub runs: usize,
    pub push_reports: usize,
    pub pull_reports: usize,
    pub apply_stored: usize,
    pub apply_changes: usize,
    pub wire_reports: usize,
    pub fleet_devices: usize,
    pub fleet_reports: usize,
    pub grid_side: usize,
    pub grid_points: usize,
    /// The city layer of the `city` scenario: cells and vertices a cell.
    pub city_cells: usize,
    pub city_vertices: usize,
    pub record_reports: usize,
    pub peer_docs: usize,
    /// Reports of the whole-process sync (`gridwarden sync` against
    /// PouchDB's whole replication).
    pub process_reports: usize,
    /// Cases the console scenario stores (a city's year).
    pub console_cases: usize,
    /// The `field` scenario's day of work.
    pub field_day: crate::scenarios::field::Day,
    /// Devices of each fleet of the `postgres` scenario (three fleets).
    pub pg_fleet_devices: usize,
}

impl Config {
    /// The sizes the brief names.
    pub fn full() -> Self {
        Self {
            runs: 5,
            push_reports: 100_000,
            pull_reports: 100_000,
            apply_stored: 500_000,
            apply_changes: 100,
            wire_reports: 10_000,
            fleet_devices: 2_000,
            fleet_reports: 20,
            grid_side: 100,
            grid_points: 2_000_000,
            city_cells: 50_000,
            city_vertices: 100,
            record_reports: 2_000,
            peer_docs: 10_000,
            process_reports: 5_000,
            console_cases: 300_000,
            field_day: crate::scenarios::field::Day::FULL,
            pg_fleet_devices: 2_000,
        }
    }

    /// A tenth of the sizes and three runs: a minute, for trying changes.
    pub fn quick() -> Self {
        Self {
            runs: 3,
            push_reports: 10_000,
            pull_reports: 10_000,
            apply_stored: 50_000,
            apply_changes: 30,
            wire_reports: 2_000,
            fleet_devices: 200,
            fleet_reports: 20,
            grid_side: 100,
            grid_points: 200_000,
            city_cells: 5_000,
            city_vertices: 100,
            record_reports: 500,
            peer_docs: 1_000,
            process_reports: 1_000,
            console_cases: 30_000,
            field_day: crate::scenarios::field::Day::QUICK,
            pg_fleet_devices: 100,
        }
    }
}

/// The warden every single-device scenario records as.
pub const WARDEN: &str = "ann";
/// A supervisor: sees every report.
pub const SUPERVISOR: &str = "sam";

/// A server data directory and an enrolled device of the warden holding
/// recorded, not yet pushed, reports; both closed, ready to be copied.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub server_dir: PathBuf,
    pub device_home: PathBuf,
    pub reports: usize,
    /// Points inside the warden's two cells, where the reports were made.
    pub places: Vec<(f64, f64)>,
    /// The address the device was enrolled with: a server started on it is
    /// the one `gridwarden sync` dials.
    pub addr: std::net::SocketAddr,
}

pub struct Context {
    pub config: Config,
    pub work: PathBuf,
    pub peer: Option<Peer>,
    /// Why there is no peer, when there is none.
    pub peer_missing: String,
    prepared: HashMap<usize, Prepared>,
    dirs: usize,
}

impl Context {
    pub fn new(config: Config, work: PathBuf, peer: Result<Peer, String>) -> Self {
        let (peer, peer_missing) = match peer {
            Ok(p) => (Some(p), String::new()),
            Err(why) => (None, why),
        };
        Self {
            config,
            work,
            peer,
            peer_missing,
            prepared: HashMap::new(),
            dirs: 0,
        }
    }

    /// A new empty directory in the working directory.
    pub fn dir(&mut self, name: &str) -> anyhow::Result<PathBuf> {
        self.dirs += 1;
        let dir = self.work.join(format!("{:03}-{name}", self.dirs));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// A server with the warden's device that recorded `reports` reports,
    /// prepared once per size and copied for every use.
    pub fn prepared(&mut self, reports: usize) -> anyhow::Result<Prepared> {
        if let Some(p) = self.prepared.get(&reports) {
            return Ok(p.clone());
        }
        let dir = self.dir(&format!("prepared-{reports}"))?;
        let prepared = prepare(&dir, reports)?;
        self.prepared.insert(reports, prepared.clone());
        Ok(prepared)
    }

    /// A fresh copy of a prepared state.
    pub fn copy_of(&mut self, prepared: &Prepared, name: &str) -> anyhow::Result<Prepared> {
        let dir = self.dir(name)?;
        let copy = Prepared {
            server_dir: dir.join("server"),
            device_home: dir.join("device"),
            reports: prepared.reports,
            places: prepared.places.clone(),
            addr: prepared.addr,
        };
        copy_dir(&prepared.server_dir, &copy.server_dir)?;
        copy_dir(&prepared.device_home, &copy.device_home)?;
        Ok(copy)
    }
}

fn prepare(dir: &Path, count: usize) -> anyhow::Result<Prepared> {
    let started = Instant::now();
    let server_dir = dir.join("server");
    let device_home = dir.join("device");
    let mut server = server::start(&server_dir)?;
    let addr = server.addr;
    let admin = server::admin_of(&server)?;
    let cells = admin.cells_with_points(2)?;
    let codes: Vec<String> = cells.iter().map(|(code, _)| code.clone()).collect();
    let places: Vec<(f64, f64)> = cells.iter().map(|(_, p)| *p).collect();
    admin.add_user(WARDEN, Role::Warden, &codes)?;
    admin.add_user(SUPERVISOR, Role::Supervisor, &[])?;
    device::enrol(
        &device_home,
        &admin.enrolment_code(WARDEN, &server.addr.to_string())?,
    )?;
    drop(admin);
    server.stop();
    let client = Client::open(&device_home)?;
    for i in 0..count {
        client.record_report(reports::report(i, &places))?;
    }
    drop(client);
    eprintln!(
        "  prepared a device with {count} recorded reports in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Prepared {
        server_dir,
        device_home,
        reports: count,
        places,
        addr,
    })
}

/// Copies a closed server data directory or device home.
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
