//! Schema migrations, numbered `.sql` files under `server/migrations/postgres/`,
//! applied at start-up in one transaction each, under a lock: the row of
//! `schema_lock`, held with `FOR UPDATE` (no advisory locks, so the same
//! SQL runs on CockroachDB). Several processes starting at once apply each
//! migration once; a database from a newer build is refused, unchanged.

use tokio_postgres::error::SqlState;

use super::{Conn, Db, PgStore};
use crate::store::{StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[include_str!("../../../migrations/postgres/0001_schema.sql")];

impl PgStore {
    pub(super) fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client()?;
        // Two processes creating the lock table at once: one of them meets
        // a duplicate (in PostgreSQL's catalog: 23505, 42P07, 42710) and finds
        // the table there when it tries again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let made = self.block(client.batch_execute(
                // Quiet: "relation already exists, skipping" at every start.
                "SET client_min_messages = warning;
                 CREATE TABLE IF NOT EXISTS schema_lock (id integer PRIMARY KEY, version bigint NOT NULL);
                 INSERT INTO schema_lock (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
            ));
            match made {
                Ok(()) => break,
                Err(e)
                    if attempt < 5
                        && e.code().is_some_and(|c| {
                            *c == SqlState::UNIQUE_VIOLATION
                                || *c == SqlState::DUPLICATE_TABLE
                                || *c == SqlState::DUPLICATE_OBJECT
                        }) => {}
                Err(e) => {
                    let why = e.as_db_error().map_or_else(
                        || e.to_string(),
                        |db| format!("{} ({})", db.message(), db.code().code()),
                    );
                    return Err(StoreError::Backend(format!("{}: {why}", self.shown)));
                }
            }
        }
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

/// Against the test binary's throwaway cluster (skipped with a notice where
/// PostgreSQL is missing): a migration run again, by one process or by
/// several at once, and a database from a newer build.
#[cfg(test)]
mod tests {
    use super::super::{cluster, PgStore};
    use super::MIGRATIONS;
    use crate::store::prelude::*;
    use crate::store::StoreError;

    #[test]
    fn a_second_run_of_the_migrations_changes_nothing() {
        let Some(c) = cluster::shared() else {
            return;
        };
        let url = c.database();
        let first = PgStore::open(&url).unwrap();
        first.set_meta("written", "before the second run").unwrap();
        drop(first);
        let before = c.dump(&url).unwrap();
        let again = PgStore::open(&url).unwrap();
        assert_eq!(
            again.meta("written").unwrap().as_deref(),
            Some("before the second run")
        );
        drop(again);
        assert_eq!(
            c.dump(&url).unwrap(),
            before,
            "the second run changed the database"
        );
        assert_eq!(
            c.sql(&url, "SELECT version FROM schema_lock").unwrap(),
            MIGRATIONS.len().to_string()
        );
    }

    #[test]
    fn processes_starting_together_on_an_empty_database_migrate_it_once() {
        let Some(c) = cluster::shared() else {
            return;
        };
        let url = c.database();
        let stores: Vec<PgStore> = std::thread::scope(|s| {
            let opening: Vec<_> = (0..4).map(|_| s.spawn(|| PgStore::open(&url))).collect();
            opening
                .into_iter()
                .map(|o| o.join().unwrap().unwrap())
                .collect()
        });
        drop(stores);
        assert_eq!(
            c.sql(&url, "SELECT version FROM schema_lock").unwrap(),
            MIGRATIONS.len().to_string()
        );
        let once = c.dump(&url).unwrap();
        drop(PgStore::open(&url).unwrap());
        assert_eq!(c.dump(&url).unwrap(), once);
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused_and_left_as_it_was() {
        let Some(c) = cluster::shared() else {
            return;
        };
        let url = c.database();
        let store = PgStore::open(&url).unwrap();
        store.set_meta("written", "by a newer build").unwrap();
        drop(store);
        let newer = MIGRATIONS.len() as i64 + 3;
        c.sql(
            &url,
            &format!("UPDATE schema_lock SET version = {newer} WHERE id = 1"),
        )
        .unwrap();
        let before = c.dump(&url).unwrap();
        let err = match PgStore::open(&url) {
            Ok(_) => panic!("a database of schema {newer} was opened"),
            Err(e) => e,
        };
        match &err {
            StoreError::TooNew { found, known, .. } => {
                assert_eq!((*found, *known), (newer, MIGRATIONS.len() as i64));
            }
            other => panic!("refused for another reason: {other}"),
        }
        let said = err.to_string();
        assert!(said.contains(&format!("schema {newer}")), "{said}");
        assert!(said.contains("newer gridwarden"), "{said}");
        assert_eq!(
            c.dump(&url).unwrap(),
            before,
            "the refusal changed the database"
        );
    }
}
