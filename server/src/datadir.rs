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
use crate::store::Store;
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
        std::fs::create_dir_all(path)
            .with_context(|| format!("creating data directory {}", path.display()))?;
        let store = store.open(path)?;
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
    if store.categories_version()? == 0 {
        let table: CategoryTable =
            serde_json::from_str(DEFAULT_CATEGORIES).context("bundled category table")?;
        store.put_categories(&table, now)?;
    }
    if store.grid_version()? == 0 {
        let cells = gridwarden_grid::parse_geojson(
            SAMPLE_GRID,
            &gridwarden_grid::CodePattern::default_15(),
        )
        .context("bundled sample grid layer")?;
        crate::grid::add_layer(store.as_ref(), SAMPLE_GRID_NAME, &cells, now)?;
        tracing::info!(cells = cells.len(), "loaded the bundled sample grid layer");
    }
    store.set_meta(INITIALISED_KEY, &now.to_string())?;
    Ok(())
}
