//! Which store a data directory's server uses: the embedded SQLite file in
//! the directory (the default), or a PostgreSQL database several server
//! processes may share (docs/scale.md). Chosen by `--store`, else
//! `GRIDWARDEN_STORE`, else `store` in the `[server]` section of
//! `server.toml`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::store::{postgres::shown_url, PgStore, SqliteStore, Store};

/// Where the records live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreLocation {
    /// `server.db` in the data directory.
    #[default]
    Embedded,
    /// A `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

impl StoreLocation {
    /// Reads a `--store` value: `sqlite` (or empty) for the embedded store,
    /// or a PostgreSQL URL.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        if text.is_empty() || text == "sqlite" {
            return Ok(Self::Embedded);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(text.to_owned()));
        }
        bail!(
            "the store {:?} is neither `sqlite` (the embedded default) nor a postgres:// URL",
            shown_url(text)
        )
    }

    /// The store as messages name it (a URL without its password).
    pub fn shown(&self, data_dir: &Path) -> String {
        match self {
            Self::Embedded => data_dir.join(super::DB_FILE).display().to_string(),
            Self::Postgres(url) => shown_url(url),
        }
    }

    /// Opens (creating and migrating if needed) the store.
    pub fn open(&self, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
        self.open_pooled(data_dir, crate::store::postgres::DEFAULT_POOL_SIZE)
    }

    /// [`StoreLocation::open`], keeping up to `pool_size` connections to a
    /// PostgreSQL store (`[server] store_pool_size`).
    pub fn open_pooled(&self, data_dir: &Path, pool_size: usize) -> anyhow::Result<Arc<dyn Store>> {
        Ok(match self {
            Self::Embedded => {
                let db = data_dir.join(super::DB_FILE);
                Arc::new(
                    SqliteStore::open(&db)
                        .with_context(|| format!("opening database {}", db.display()))?,
                )
            }
            Self::Postgres(url) => Arc::new(
                PgStore::open_pooled(url, pool_size)
                    .with_context(|| format!("opening the PostgreSQL store {}", shown_url(url)))?,
            ),
        })
    }
}
