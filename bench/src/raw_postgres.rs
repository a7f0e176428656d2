//! Baselines on PostgreSQL: the rows the server stored, written again by
//! plain batched inserts into tables of the same definition (columns,
//! defaults, indexes: `LIKE … INCLUDING ALL`) in the same database, with
//! nothing else in the way; and the same rows read back. The physical limit
//! of that database on this machine, as `raw_sqlite` is SQLite's.

use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_postgres::{Client, NoTls};

/// The server's tables a push writes to, with the rows it stored there.
const TABLES: [&str; 2] = ["reports", "applied_ops"];

/// A connection of its own, on a runtime of its own.
pub struct Plain {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Plain {
    pub fn connect(url: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, NoTls)
                .await
                .context("connecting to the benchmark's PostgreSQL")?;
            tokio::spawn(connection);
            anyhow::Ok(client)
        })?;
        Ok(Self { runtime, client })
    }

    /// Turns the cluster's durability back on (the throwaway cluster of the
    /// tests starts with fsync, synchronous commit and full-page writes
    /// off): what SQLite's synchronous=FULL is compared with. All three are
    /// reloaded without a restart; returns what the server now reports.
    pub fn make_durable(&self) -> anyhow::Result<String> {
        self.runtime.block_on(async {
            let c = &self.client;
            for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
                c.batch_execute(&format!("ALTER SYSTEM SET {setting} = on"))
                    .await?;
            }
            c.query_one("SELECT pg_reload_conf()", &[]).await?;
            // The postmaster passes the reload on to this session's backend
            // by a signal, which it reads between statements: on a loaded
            // machine that can take a moment, so look again until it shows.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let mut shown = Vec::new();
                for setting in [
                    "fsync",
                    "synchronous_commit",
                    "full_page_writes",
                    "shared_buffers",
                ] {
                    let row = c.query_one(&format!("SHOW {setting}"), &[]).await?;
                    shown.push(format!("{setting}={}", row.get::<_, String>(0)));
                }
                let shown = shown.join(" ");
                let durable = ["fsync=on", "synchronous_commit=on", "full_page_writes=on"]
                    .iter()
                    .all(|on| shown.contains(on));
                if durable || std::time::Instant::now() > deadline {
                    return Ok(shown);
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
    }

    /// Rows of `reports` the server stored.
    pub fn count_reports(&self) -> anyhow::Result<u64> {
        self.runtime.block_on(async {
            let row = self
                .client
                .query_one("SELECT count(*) FROM reports", &[])
                .await?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    /// Bytes the database holds per stored report: the report rows, their
    /// applied op ids and every index of both tables (TOAST included),
    /// divided by the reports.
    pub fn bytes_per_report(&self) -> anyhow::Result<f64> {
        self.runtime.block_on(async {
            let row = self
                .client
                .query_one(
                    "SELECT (pg_total_relation_size('reports') \
                     + pg_total_relation_size('applied_ops'))::float8 \
                     / greatest(count(*), 1) FROM reports",
                    &[],
                )
                .await?;
            Ok(row.get::<_, f64>(0))
        })
    }

    /// Copies the server's stored report and applied-op rows into fresh
    /// tables of the same definition, in transactions of `batch` reports
    /// (and as many applied ops), each one `INSERT` of the batch's rows sent
    /// from here. Returns the reports copied and the time of the inserts
    /// alone.
    pub fn ingest(&self, batch: usize) -> anyhow::Result<(usize, Duration)> {
        self.runtime.block_on(async {
            let c = &self.client;
            let mut rows: Vec<Vec<String>> = Vec::new();
            for table in TABLES {
                let plain = format!("plain_{table}");
                c.batch_execute(&format!(
                    "DROP TABLE IF EXISTS {plain}; \
                     CREATE TABLE {plain} (LIKE {table} INCLUDING ALL)"
                ))
                .await?;
                let json = c
                    .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
                    .await?
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect();
                rows.push(json);
            }
            let inserts: Vec<_> = {
                let mut prepared = Vec::new();
                for table in TABLES {
                    let plain = format!("plain_{table}");
                    prepared.push(
                        c.prepare(&format!(
                            "INSERT INTO {plain} SELECT * FROM \
                             json_populate_recordset(NULL::{plain}, $1::text::json)"
                        ))
                        .await?,
                    );
                }
                prepared
            };
            let reports = rows[0].len();
            let batch = batch.max(1);
            let chunks = reports.div_ceil(batch).max(1);
            let started = Instant::now();
            for k in 0..chunks {
                c.batch_execute("BEGIN").await?;
                for (table_rows, insert) in rows.iter().zip(&inserts) {
                    let range =
                        (k * batch).min(table_rows.len())..((k + 1) * batch).min(table_rows.len());
                    if range.is_empty() {
                        continue;
                    }
                    let array = format!("[{}]", table_rows[range].join(","));
                    c.execute(insert, &[&array]).await?;
                }
                c.batch_execute("COMMIT").await?;
            }
            let took = started.elapsed();
            for table in TABLES {
                c.batch_execute(&format!("DROP TABLE plain_{table}"))
                    .await?;
            }
            Ok((reports, took))
        })
    }

    /// Reads every report row the server stored, in feed order, in pages
    /// of `page` rows (keyset on the feed position, as a pull pages): the
    /// floor of what serving an initial pull costs the database.
    pub fn read_pages(&self, page: usize) -> anyhow::Result<(usize, Duration)> {
        self.runtime.block_on(async {
            let c = &self.client;
            let query = c
                .prepare("SELECT seq, id, state FROM reports WHERE seq > $1 ORDER BY seq LIMIT $2")
                .await?;
            let started = Instant::now();
            let (mut after, mut read) = (i64::MIN, 0usize);
            loop {
                let rows = c.query(&query, &[&after, &(page as i64)]).await?;
                let Some(last) = rows.last() else { break };
                after = last.get(0);
                read += rows.len();
            }
            Ok((read, started.elapsed()))
        })
    }
}
