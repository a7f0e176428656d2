//! The PostgreSQL backend (docs/adr/0021-postgresql-backend-and-the-feed-cursor.md):
//! tokio-postgres connections in a deadpool pool, driven by a small runtime
//! of the store's own, behind the same blocking traits as SQLite. Several
//! server processes may share one database.
//!
//! Units of work run at READ COMMITTED with the rows they read and then
//! write locked (`FOR UPDATE`); feed positions come from a counter row each
//! writer holds until it commits, so positions are handed out in commit
//! order and a cursor never skips (the ADR says why). A unit that meets a
//! serialization failure or a deadlock (SQLSTATE 40001, 40P01) or a
//! concurrent insert of the same key (23505) is run again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::*;

#[doc(hidden)]
pub mod cluster;
pub mod copy;
mod fanout;
mod feed;
mod migrate;
mod push;
mod reads;
mod rows;
mod tx;

/// Connections a process keeps by default (`[server] store_pool_size`).
pub const DEFAULT_POOL_SIZE: usize = 16;
/// The most `store_pool_size` may say: a database's own default
/// `max_connections` is 100, shared by every process.
pub const MAX_POOL_SIZE: usize = 1_000;
/// Times a unit of work is run before its conflict is reported.
const ATTEMPTS: u32 = 30;

pub struct PgStore {
    /// Taken only by `Drop`.
    rt: Option<Runtime>,
    pool: Pool,
    /// The URL without its password, for messages.
    shown: String,
    /// Changes told to and heard from the other processes (ADR 0033).
    fanout: Arc<fanout::PgFanout>,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => StoreError::Backend(format!("{} ({})", db.message(), db.code().code())),
            None => StoreError::Backend(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Backend(format!("no database connection: {e}"))
    }
}

/// `url` without a password (in its user part or as a `password=`
/// parameter), for messages and logs.
pub fn shown_url(url: &str) -> String {
    without_password(url, None)
}

/// `url` with its password replaced by `***`, for printing a configuration:
/// it shows that a password is set, and only that.
pub fn redacted_url(url: &str) -> String {
    without_password(url, Some("***"))
}

fn without_password(url: &str, mask: Option<&str>) -> String {
    let (main, query) = match url.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (url, None),
    };
    let mut out = match (main.find("://"), main.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &main[scheme + 3..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((user, _)) => (user, mask),
                None => (userinfo, None),
            };
            let password = password.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}{user}{password}{}", &main[..scheme + 3], &main[at..])
        }
        _ => main.to_owned(),
    };
    if let Some(query) = query {
        let kept: Vec<String> = query
            .split('&')
            .filter_map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    mask.map(|m| format!("{key}={m}"))
                }
                _ => Some(pair.to_owned()),
            })
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

/// Whether running a unit of work again may succeed.
fn retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    })
}

impl PgStore {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or a
    /// Unix socket directory with `?host=/path`) and applies the schema
    /// migrations under a lock, keeping up to [`DEFAULT_POOL_SIZE`]
    /// connections.
    pub fn open(url: &str) -> StoreResult<Self> {
        Self::open_pooled(url, DEFAULT_POOL_SIZE)
    }

    /// [`PgStore::open`], keeping up to `pool_size` connections.
    pub fn open_pooled(url: &str, pool_size: usize) -> StoreResult<Self> {
        let shown = shown_url(url);
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("{shown} is not a PostgreSQL URL: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gridwarden-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("starting the database runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _entered = rt.enter();
            Pool::builder(manager)
                .max_size(pool_size.clamp(1, MAX_POOL_SIZE))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(30)))
                .create_timeout(Some(Duration::from_secs(10)))
                .build()
                .map_err(|e| StoreError::Backend(format!("{shown}: {e}")))?
        };
        let fanout =
            fanout::PgFanout::start(config, pool.clone(), rt.handle().clone(), shown.clone());
        let store = Self {
            rt: Some(rt),
            pool,
            shown,
            fanout,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The URL this store reaches, without its password.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Runs `f` to completion on the store's runtime, from any thread: a
    /// plain one, a `spawn_blocking` one, or (at start-up) a worker of the
    /// server's own runtime.
    fn block<F: Future>(&self, f: F) -> F::Output {
        let rt = self
            .rt
            .as_ref()
            .expect("the runtime lives as long as the store");
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| rt.block_on(f))
            }
            _ => rt.block_on(f),
        }
    }

    fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.block(self.pool.get()).map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => {
                StoreError::Backend(format!("cannot reach the database at {}: {e}", self.shown))
            }
            other => other.into(),
        })
    }

    /// Runs `f` on a pooled connection, outside any unit of work.
    fn read<T>(&self, f: impl FnOnce(&mut Db<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let client = self.client()?;
        let mut db = Db {
            rt: self,
            conn: Conn::Client(&client),
            failed: None,
        };
        f(&mut db)
    }
}

impl FanoutStore for PgStore {
    fn fanout(&self) -> Option<Arc<dyn crate::store::fanout::Fanout>> {
        Some(self.fanout.clone())
    }
}

impl Drop for PgStore {
    /// The pool's connections are tasks on the store's runtime; it is shut
    /// down without waiting, as dropping it inside another runtime (the
    /// server's, at exit) would panic.
    fn drop(&mut self) {
        self.pool.close();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Transact for PgStore {
    fn transact(
        &self,
        work: &mut dyn FnMut(&mut dyn StoreTx) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut client = self.client()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tx = self.block(client.transaction())?;
            let mut db = Db {
                rt: self,
                conn: Conn::Tx(&tx),
                failed: None,
            };
            let result = work(&mut tx::PgTx { db: &mut db });
            let failed = db.failed.take();
            let outcome = match result {
                Ok(()) => self.block(tx.commit()).map_err(Failure::from),
                Err(e) => {
                    // Dropping the transaction rolls it back.
                    drop(tx);
                    Err(failed.map_or(Failure::Store(e), Failure::Db))
                }
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(Failure::Db(e)) if retryable(&e) && attempt < ATTEMPTS => {
                    // Jittered back-off, so writers that collided do not
                    // collide again in step.
                    let ms = rand::random::<u64>() % (1 + 2 * u64::from(attempt));
                    std::thread::sleep(Duration::from_millis(ms));
                }
                Err(Failure::Db(e)) => return Err(e.into()),
                Err(Failure::Store(e)) => return Err(e),
            }
        }
    }
}

/// Why a unit of work ended without a commit.
enum Failure {
    /// The database refused a statement or the commit.
    Db(tokio_postgres::Error),
    /// The work returned an error of its own.
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

enum Conn<'a> {
    Client(&'a deadpool_postgres::Object),
    Tx(&'a deadpool_postgres::Transaction<'a>),
}

/// A connection or a transaction, used synchronously.
pub(super) struct Db<'a> {
    rt: &'a PgStore,
    conn: Conn<'a>,
    /// The first database error inside a unit of work, kept so the unit is
    /// retried when it is a conflict.
    failed: Option<tokio_postgres::Error>,
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

impl Db<'_> {
    fn note(&mut self, e: tokio_postgres::Error) -> StoreError {
        let err = StoreError::from(&e);
        if self.failed.is_none() {
            self.failed = Some(e);
        }
        err
    }

    pub(super) fn query(&mut self, sql: &str, params: &Params) -> StoreResult<Vec<Row>> {
        let result = match &self.conn {
            Conn::Client(c) => self.rt.block(async {
                let stmt = c.prepare_cached(sql).await?;
                c.query(&stmt, params).await
            }),
            Conn::Tx(t) => self.rt.block(async {
                let stmt = t.prepare_cached(sql).await?;
                t.query(&stmt, params).await
            }),
        };
        result.map_err(|e| self.note(e))
    }

    pub(super) fn opt(&mut self, sql: &str, params: &Params) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    pub(super) fn one(&mut self, sql: &str, params: &Params) -> StoreResult<Row> {
        self.opt(sql, params)?
            .ok_or_else(|| StoreError::Corrupt(format!("no row for {sql}")))
    }

    pub(super) fn execute(&mut self, sql: &str, params: &Params) -> StoreResult<u64> {
        let result = match &self.conn {
            Conn::Client(c) => self.rt.block(async {
                let stmt = c.prepare_cached(sql).await?;
                c.execute(&stmt, params).await
            }),
            Conn::Tx(t) => self.rt.block(async {
                let stmt = t.prepare_cached(sql).await?;
                t.execute(&stmt, params).await
            }),
        };
        result.map_err(|e| self.note(e))
    }

    pub(super) fn batch(&mut self, sql: &str) -> StoreResult<()> {
        let result = match &self.conn {
            Conn::Client(c) => self.rt.block(c.batch_execute(sql)),
            Conn::Tx(t) => self.rt.block(t.batch_execute(sql)),
        };
        result.map_err(|e| self.note(e))
    }
}

impl From<&tokio_postgres::Error> for StoreError {
    fn from(e: &tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => StoreError::Backend(format!("{} ({})", db.message(), db.code().code())),
            None => StoreError::Backend(e.to_string()),
        }
    }
}

#[cfg(test)]
mod urls {
    use super::{redacted_url, shown_url};

    #[test]
    fn a_password_is_never_shown() {
        let cases = [
            (
                "postgres://gw:s3cret@db.example.org:5432/city",
                "postgres://gw@db.example.org:5432/city",
                "postgres://gw:***@db.example.org:5432/city",
            ),
            (
                "postgresql://gw:p%40ss:word@db/city?sslmode=disable&password=s3cret",
                "postgresql://gw@db/city?sslmode=disable",
                "postgresql://gw:***@db/city?sslmode=disable&password=***",
            ),
            (
                "postgres://gw@%2Fvar%2Frun%2Fpostgresql/city?Password=s3cret",
                "postgres://gw@%2Fvar%2Frun%2Fpostgresql/city",
                "postgres://gw@%2Fvar%2Frun%2Fpostgresql/city?Password=***",
            ),
            (
                "postgres://db/city",
                "postgres://db/city",
                "postgres://db/city",
            ),
        ];
        for (url, shown, redacted) in cases {
            assert_eq!(shown_url(url), shown);
            assert_eq!(redacted_url(url), redacted);
            assert!(!shown_url(url).contains("s3cret") && !redacted_url(url).contains("s3cret"));
        }
    }
}

/// The shared store suite on a fresh database of the test binary's
/// throwaway cluster (skipped with a notice where PostgreSQL is missing).
#[cfg(test)]
mod suite {
    crate::store_suite!(|_dir: &std::path::Path| {
        let url = super::cluster::fresh_database()?;
        Some(Box::new(super::PgStore::open(&url).expect("opening the test database")) as Box<_>)
    });
}
