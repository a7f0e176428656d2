//! The server's data directory: the database, the certificate, and on first
//! use the bundled defaults (category table, sample grid layer). The server
//! and the admin commands open it the same way, so either may come first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::clock::{self, SharedClock};

use crate::photos::PhotoStore;
use crate::service::{Limits, Service};
use crate::store::prelude::*;
use crate::store::{GridMember, StoredCell};
use crate::tls::{self, Identity};

pub mod live;
mod locate;
mod lock;
mod store;

pub use locate::{is_data_dir, Located, Source, DATA_ENV, DEFAULT_DIR};
pub use lock::{holder, ServeLock, LOCK_FILE};
pub use store::StoreLocation;

pub const DB_FILE: &str = "server.db";
pub const DEFAULT_CATEGORIES: &str = include_str!("../data/categories.json");
pub const SAMPLE_GRID: &str = include_str!("../data/sample-grid.geojson");
pub const SAMPLE_GRID_NAME: &str = "Qingshan New District (fictional) sample layer";
pub const PHOTOS_DIR: &str = "photos";
const INITIALISED_KEY: &str = "initialised_ms";
/// Written first by the unit of work that loads the defaults: the lock that
/// makes processes starting together on one database load them once.
const INITIALISING_KEY: &str = "initialising_ms";

pub struct DataDir {
    pub path: PathBuf,
    pub service: Arc<Service>,
    pub identity: Identity,
}

impl DataDir {
    /// Opens `path`, creating the directory, database, certificate and
    /// defaults if this is the first use.
    pub fn open(path: &Path, limits: Limits) -> anyhow::Result<Self> {
        Self::open_with_clock(path, limits, clock::system())
    }

    /// The same with a service reading time from `clock` (a manual clock in
    /// simulations); first-use defaults are stamped with it too.
    pub fn open_with_clock(
        path: &Path,
        limits: Limits,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        Self::open_on(path, &StoreLocation::Embedded, limits, clock)
    }

    /// The same with the records in `store` (the certificate and the photos
    /// stay in the directory).
    pub fn open_on(
        path: &Path,
        store: &StoreLocation,
        limits: Limits,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        Self::open_pooled(
            path,
            store,
            crate::store::postgres::DEFAULT_POOL_SIZE,
            limits,
            clock,
        )
    }

    /// [`DataDir::open_on`], keeping up to `pool_size` connections to a
    /// PostgreSQL store (`[server] store_pool_size`).
    pub fn open_pooled(
        path: &Path,
        store: &StoreLocation,
        pool_size: usize,
        limits: Limits,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path)
            .with_context(|| format!("creating data directory {}", path.display()))?;
        let store = store.open_pooled(path, pool_size)?;
        let identity = tls::load_or_create(path)?;
        let photos = PhotoStore::open(&path.join(PHOTOS_DIR))
            .with_context(|| format!("opening the photo store in {}", path.display()))?;
        let service = Arc::new(Service::with_clock(store, limits, clock)?.with_photos(photos));
        initialise(&service)?;
        Ok(Self {
            path: path.to_owned(),
            service,
            identity,
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.service.store()
    }
}

fn initialise(service: &Service) -> anyhow::Result<()> {
    let store = service.store();
    let now = service.now();
    if store.meta(INITIALISED_KEY)?.is_some() {
        return Ok(());
    }
    // Read before the unit of work: a directory from before the key existed
    // holds a table or a layer already. Checked again under the lock below.
    let table: Option<CategoryTable> = if store.categories_version()? == 0 {
        Some(serde_json::from_str(DEFAULT_CATEGORIES).context("bundled category table")?)
    } else {
        None
    };
    let cells: Option<Vec<StoredCell>> = if store.grid_version()? == 0 {
        let cells = gridwarden_grid::parse_geojson(
            SAMPLE_GRID,
            &gridwarden_grid::CodePattern::default_15(),
        )
        .context("bundled sample grid layer")?;
        Some(cells.iter().map(crate::grid::stored_cell).collect())
    } else {
        None
    };
    // Several processes may start together on one empty PostgreSQL
    // database. The unit's first write takes the `initialising` row, so the
    // others wait for the first to commit, then find it initialised and load
    // nothing: the defaults are loaded once.
    let loaded = write(store.as_ref(), |tx| {
        tx.set_meta(INITIALISING_KEY, &now.to_string())?;
        if tx.meta(INITIALISED_KEY)?.is_some() {
            return Ok(None);
        }
        if let Some(table) = &table {
            tx.put_categories(table, now)?;
        }
        if let Some(cells) = &cells {
            for chunk in cells.chunks(512) {
                tx.put_grid_cells(chunk)?;
            }
            let members: Vec<GridMember> = cells.iter().map(|c| c.member.clone()).collect();
            tx.commit_grid_layer(SAMPLE_GRID_NAME, &members, now)?;
        }
        tx.set_meta(INITIALISED_KEY, &now.to_string())?;
        Ok(Some(cells.as_ref().map_or(0, Vec::len)))
    })?;
    if let Some(cells) = loaded.filter(|n| *n > 0) {
        tracing::info!(cells, "loaded the bundled sample grid layer");
    }
    Ok(())
}

#[cfg(test)]
mod first_start {
    use super::*;
    use crate::store::postgres::cluster;

    /// Four processes' first start on one empty PostgreSQL database, at
    /// once: the category table and the sample layer are loaded once.
    #[test]
    fn directories_opened_together_on_one_empty_database_load_the_defaults_once() {
        let Some(c) = cluster::shared() else {
            return;
        };
        let store = StoreLocation::Postgres(c.database());
        let tmp = tempfile::tempdir().unwrap();
        let opened: Vec<DataDir> = std::thread::scope(|s| {
            let opening: Vec<_> = (0..4)
                .map(|i| {
                    let (dir, store) = (tmp.path().join(format!("p{i}")), &store);
                    s.spawn(move || {
                        DataDir::open_on(&dir, store, Limits::default(), clock::system())
                    })
                })
                .collect();
            opening
                .into_iter()
                .map(|o| o.join().unwrap().unwrap())
                .collect()
        });
        let s = opened[3].store();
        assert_eq!(s.categories_version().unwrap(), 1);
        assert_eq!(s.grid_version().unwrap(), 1);
        assert_eq!(s.grid_layers().unwrap().len(), 1);
    }
}
