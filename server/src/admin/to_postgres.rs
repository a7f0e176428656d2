//! `gridwarden-server migrate --to postgres://…`: the data directory's
//! embedded store copied into an empty PostgreSQL database (docs/scale.md).
//! The server must be stopped (the copy takes the serving lock); the
//! certificate and the photos stay in the directory, and the embedded store
//! is left as it was.

use std::path::Path;

use anyhow::Context;

use crate::datadir::{ServeLock, DB_FILE};
use crate::store::postgres::copy::Copied;
use crate::store::postgres::shown_url;
use crate::store::{PgStore, SqliteStore};

pub fn to_postgres(data_dir: &Path, url: &str) -> anyhow::Result<Copied> {
    let _serving = ServeLock::acquire(data_dir)
        .context("migrate copies a stopped server's store; stop `serve` first")?;
    let db = data_dir.join(DB_FILE);
    // Brought to this build's schema first, as `serve` would.
    drop(SqliteStore::open(&db).with_context(|| format!("opening database {}", db.display()))?);
    let target = PgStore::open(url)
        .with_context(|| format!("opening the PostgreSQL store {}", shown_url(url)))?;
    target
        .copy_from_sqlite(&db)
        .with_context(|| format!("copying {} into {}", db.display(), shown_url(url)))
}
