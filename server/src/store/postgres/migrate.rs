//! Schema migrations, numbered `.sql` files under `server/migrations/postgres/`,
//! applied at start-up in one transaction each, under a lock: the row of
//! `schema_lock`, held with `FOR UPDATE` (no advisory locks, so the same
//! SQL runs on CockroachDB). Several processes starting at once apply each
//! migration once; a database from a newer build is refused, unchanged.

use super::{Conn, Db, PgStore};
use crate::store::{StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[include_str!("../../../migrations/postgres/0001_schema.sql")];

impl PgStore {
    pub(super) fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client()?;
        self.block(client.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_lock (id integer PRIMARY KEY, version bigint NOT NULL);
             INSERT INTO schema_lock (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
        ))
        .map_err(|e| StoreError::Backend(format!("{}: {e}", self.shown)))?;
        let tx = self.block(client.transaction())?;
        let mut db = Db {
            rt: self,
            conn: Conn::Tx(&tx),
            failed: None,
        };
        let found: i64 = db
            .one(
                "SELECT version FROM schema_lock WHERE id = 1 FOR UPDATE",
                &[],
            )?
            .get(0);
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.shown.clone(),
                found,
                known,
            });
        }
        for sql in &MIGRATIONS[found as usize..] {
            db.batch(sql)?;
        }
        db.execute(
            "UPDATE schema_lock SET version = $1 WHERE id = 1",
            &[&known],
        )?;
        self.block(tx.commit())?;
        Ok(())
    }
}
