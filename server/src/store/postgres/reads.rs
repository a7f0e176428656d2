//! What the PostgreSQL store answers, on a pooled connection outside any
//! unit of work.

use gridwarden_protocol::case::CaseState;
use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::grid::{GridCellWire, GridLayerWire};
use gridwarden_protocol::{codec, PhotoHash, ReportState, TrackPoint};
use uuid::Uuid;

use super::feed::{self, PATROL_COLUMNS};
use super::rows::{self, DEVICE_COLUMNS};
use super::tx::{self, KEY_COLUMNS, REQUEST_COLUMNS};
use super::PgStore;
use crate::store::*;

impl IdentityStore for PgStore {
    fn user(&self, name: &str) -> StoreResult<Option<User>> {
        self.read(|db| tx::load_user(db, name, false))
    }

    fn users(&self) -> StoreResult<Vec<User>> {
        self.read(|db| {
            let names: Vec<String> = db
                .query("SELECT name FROM users ORDER BY name", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            names
                .iter()
                .filter_map(|n| tx::load_user(db, n, false).transpose())
                .collect()
        })
    }

    fn device(&self, id: Uuid) -> StoreResult<Option<Device>> {
        self.read(|db| tx::load_device(db, id, false))
    }

    fn devices(&self) -> StoreResult<Vec<Device>> {
        self.read(|db| {
            db.query(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY enrolled_ms, id"),
                &[],
            )?
            .iter()
            .map(rows::device)
            .collect()
        })
    }

    fn auth_epoch(&self) -> StoreResult<u64> {
        self.read(tx::auth_epoch)
    }

    fn device_protocols(&self) -> StoreResult<Vec<DeviceProtocol>> {
        self.read(|db| {
            db.query(
                "SELECT id, protocol_version, client FROM devices ORDER BY enrolled_ms, id",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(DeviceProtocol {
                    device: rows::uuid(r, 0)?,
                    protocol_version: r
                        .get::<_, Option<i32>>(1)
                        .map(|v| {
                            u16::try_from(v)
                                .map_err(|_| StoreError::Corrupt(format!("protocol version {v}")))
                        })
                        .transpose()?,
                    client: r.get(2),
                })
            })
            .collect()
        })
    }
}

impl AuditStore for PgStore {
    fn audit_log(&self, since_ms: Option<i64>) -> StoreResult<Vec<AuditEntry>> {
        self.read(|db| {
            db.query(
                "SELECT seq, at_ms, actor, device, action, subject, detail FROM audit_log
                 WHERE at_ms >= $1 ORDER BY seq",
                &[&since_ms.unwrap_or(i64::MIN)],
            )?
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.get::<_, i64>(0) as u64,
                    record: AuditRecord {
                        at_ms: r.get(1),
                        actor: r.get(2),
                        device: rows::opt_uuid(r, 3)?,
                        action: r.get(4),
                        subject: r.get(5),
                        detail: r.get(6),
                    },
                })
            })
            .collect()
        })
    }
}

impl MetaStore for PgStore {
    fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.read(|db| tx::load_meta(db, key))
    }
}

impl GridStore for PgStore {
    fn grid_members(&self, version: u64) -> StoreResult<Vec<GridMember>> {
        self.read(|db| {
            db.query(
                "SELECT code, hash, min_lon, min_lat, max_lon, max_lat FROM grid_layer_cells
                 WHERE version = $1 ORDER BY code",
                &[&(version as i64)],
            )?
            .iter()
            .map(|r| {
                Ok(GridMember {
                    code: r.get(0),
                    hash: rows::hash(r, 1)?,
                    bbox: [r.get(2), r.get(3), r.get(4), r.get(5)],
                })
            })
            .collect()
        })
    }

    fn grid_cell_data(
        &self,
        version: u64,
        codes: &[String],
        shapes: bool,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let column = if shapes { "d.shapes" } else { "d.cell" };
        self.read(|db| {
            let found = db.query(
                &format!(
                    "SELECT m.code, {column} FROM grid_layer_cells m JOIN grid_cell_data d ON d.hash = m.hash
                     WHERE m.version = $1 AND m.code = ANY($2)"
                ),
                &[&(version as i64), &codes],
            )?;
            let mut by_code: std::collections::HashMap<String, Vec<u8>> =
                found.iter().map(|r| (r.get(0), r.get(1))).collect();
            Ok(codes
                .iter()
                .filter_map(|c| by_code.remove(c).map(|data| (c.clone(), data)))
                .collect())
        })
    }

    fn grid_layers(&self) -> StoreResult<Vec<LayerInfo>> {
        self.read(|db| {
            Ok(db
                .query(
                    "SELECT version, name, imported_ms, cell_count FROM grid_layers ORDER BY version",
                    &[],
                )?
                .iter()
                .map(|r| LayerInfo {
                    version: r.get::<_, i64>(0) as u64,
                    name: r.get(1),
                    imported_ms: r.get(2),
                    cell_count: r.get::<_, i64>(3) as u64,
                })
                .collect())
        })
    }

    fn current_grid_layer(&self) -> StoreResult<Option<GridLayerWire>> {
        self.read(|db| {
            let Some(row) = db.opt(
                "SELECT version, name FROM grid_layers ORDER BY version DESC LIMIT 1",
                &[],
            )?
            else {
                return Ok(None);
            };
            let version: i64 = row.get(0);
            let cells = db
                .query(
                    "SELECT d.cell FROM grid_layer_cells m JOIN grid_cell_data d ON d.hash = m.hash
                     WHERE m.version = $1 ORDER BY m.code",
                    &[&version],
                )?
                .iter()
                .map(|r| {
                    codec::decode::<GridCellWire>(r.get(0)).map_err(|e| {
                        StoreError::Corrupt(format!("grid cell of layer {version}: {e}"))
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Some(GridLayerWire {
                version: version as u64,
                name: row.get(1),
                cells,
            }))
        })
    }

    fn grid_version(&self) -> StoreResult<u64> {
        self.read(|db| {
            Ok(db
                .one("SELECT COALESCE(MAX(version), 0) FROM grid_layers", &[])?
                .get::<_, i64>(0) as u64)
        })
    }

    fn categories(&self) -> StoreResult<Option<CategoryTable>> {
        self.read(|db| {
            db.opt(
                "SELECT body FROM category_tables ORDER BY version DESC LIMIT 1",
                &[],
            )?
            .map(|r| {
                serde_json::from_str(r.get(0))
                    .map_err(|e| StoreError::Corrupt(format!("category table: {e}")))
            })
            .transpose()
        })
    }

    fn categories_version(&self) -> StoreResult<u64> {
        self.read(|db| {
            Ok(db
                .one("SELECT COALESCE(MAX(version), 0) FROM category_tables", &[])?
                .get::<_, i64>(0) as u64)
        })
    }
}

impl FeedStore for PgStore {
    fn pull(&self, query: &PullQuery) -> StoreResult<Page> {
        self.read(|db| feed::pull(db, query))
    }

    fn report(&self, id: Uuid) -> StoreResult<Option<ReportState>> {
        self.read(|db| feed::load_report(db, id, false))
    }

    fn reports(&self, unassigned_only: bool) -> StoreResult<Vec<ReportState>> {
        let sql = if unassigned_only {
            "SELECT state FROM reports WHERE NOT deleted AND grid_cell IS NULL ORDER BY seq"
        } else {
            "SELECT state FROM reports WHERE NOT deleted ORDER BY seq"
        };
        self.read(|db| feed::decode_states(&db.query(sql, &[])?))
    }

    fn feed_position(&self) -> StoreResult<u64> {
        self.read(|db| {
            Ok(db
                .one("SELECT COALESCE(MAX(seq), 0) FROM reports", &[])?
                .get::<_, i64>(0) as u64)
        })
    }
}

impl PatrolStore for PgStore {
    fn patrol(&self, id: Uuid) -> StoreResult<Option<StoredPatrol>> {
        self.read(|db| feed::load_patrol(db, id, false))
    }

    fn patrols(&self, f: &PatrolFilter) -> StoreResult<Vec<StoredPatrol>> {
        self.read(|db| {
            db.query(
                &format!(
                    "SELECT {PATROL_COLUMNS} FROM patrols
                     WHERE ($1::text IS NULL OR warden = $1) AND ($2::bigint IS NULL OR started_ms >= $2)
                       AND ($3::bigint IS NULL OR started_ms < $3)
                     ORDER BY started_ms DESC, id LIMIT $4"
                ),
                &[&f.warden, &f.since_ms, &f.until_ms, &(f.limit as i64)],
            )?
            .iter()
            .map(feed::patrol)
            .collect()
        })
    }

    fn track(&self, patrol: Uuid) -> StoreResult<Vec<TrackPoint>> {
        self.read(|db| feed::track(db, patrol))
    }

    fn patrol_reports(&self, patrol: Uuid) -> StoreResult<Vec<Uuid>> {
        self.read(|db| {
            db.query(
                "SELECT id FROM reports WHERE patrol = $1 AND NOT deleted ORDER BY id",
                &[&patrol.as_bytes().as_slice()],
            )?
            .iter()
            .map(|r| rows::uuid(r, 0))
            .collect()
        })
    }
}

impl PhotoStore for PgStore {
    fn photo_reports(&self, hash: PhotoHash) -> StoreResult<Vec<ReportState>> {
        self.read(|db| {
            feed::decode_states(&db.query(
                "SELECT r.state FROM report_photos p JOIN reports r ON r.id = p.report
                 WHERE p.hash = $1 AND NOT r.deleted",
                &[&hash.0.as_slice()],
            )?)
        })
    }

    fn photo_rows_of_deleted_reports(&self) -> StoreResult<u64> {
        self.read(|db| {
            Ok(db
                .one(
                    "SELECT count(*) FROM report_photos
                     WHERE report IN (SELECT id FROM reports WHERE deleted)",
                    &[],
                )?
                .get::<_, i64>(0) as u64)
        })
    }

    fn case_photo_uses(&self, hash: PhotoHash) -> StoreResult<Vec<CasePhotoUse>> {
        self.read(|db| {
            db.query(
                "SELECT report_id, taken_by, size FROM case_photos WHERE hash = $1",
                &[&hash.0.as_slice()],
            )?
            .iter()
            .map(|r| {
                Ok(CasePhotoUse {
                    report_id: rows::uuid(r, 0)?,
                    taken_by: r.get(1),
                    size: r.get::<_, i64>(2) as u64,
                })
            })
            .collect()
        })
    }
}

impl CaseStore for PgStore {
    fn cases_of(&self, reports: &[Uuid]) -> StoreResult<Vec<CaseState>> {
        let ids: Vec<&[u8]> = reports.iter().map(|id| id.as_bytes().as_slice()).collect();
        self.read(|db| {
            feed::decode_cases(
                &db.query("SELECT state FROM cases WHERE report_id = ANY($1)", &[&ids])?,
            )
        })
    }

    fn cases(&self) -> StoreResult<Vec<CaseState>> {
        self.read(|db| {
            feed::decode_cases(&db.query(
                "SELECT state FROM cases ORDER BY updated_ms, report_id",
                &[],
            )?)
        })
    }

    fn departments(&self) -> StoreResult<Vec<Department>> {
        self.read(|db| {
            Ok(db
                .query(
                    "SELECT code, name, kind FROM departments ORDER BY code",
                    &[],
                )?
                .iter()
                .map(|r| Department {
                    code: r.get(0),
                    name: r.get(1),
                    utility: r.get::<_, &str>(2) == "utility",
                })
                .collect())
        })
    }

    fn category_routes(&self) -> StoreResult<Vec<(String, String)>> {
        self.read(|db| {
            Ok(db
                .query(
                    "SELECT category, department FROM category_routes ORDER BY category",
                    &[],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn user_department(&self, user: &str) -> StoreResult<Option<String>> {
        self.read(|db| {
            Ok(db
                .opt(
                    r#"SELECT department FROM department_members WHERE "user" = $1"#,
                    &[&user],
                )?
                .map(|r| r.get(0)))
        })
    }
}

impl ConsoleStore for PgStore {
    fn password_hash(&self, user: &str) -> StoreResult<Option<String>> {
        self.read(|db| {
            Ok(db
                .opt("SELECT password_hash FROM users WHERE name = $1", &[&user])?
                .and_then(|r| r.get(0)))
        })
    }

    fn console_session(&self, token_hash: [u8; 32]) -> StoreResult<Option<ConsoleSession>> {
        self.read(|db| {
            db.opt(
                r#"SELECT "user", csrf, device, created_ms, expires_ms FROM console_sessions WHERE token_hash = $1"#,
                &[&token_hash.as_slice()],
            )?
            .map(|r| {
                Ok(ConsoleSession {
                    token_hash,
                    user: r.get(0),
                    csrf: r.get(1),
                    device: rows::uuid(&r, 2)?,
                    created_ms: r.get(3),
                    expires_ms: r.get(4),
                })
            })
            .transpose()
        })
    }
}

impl Open311Store for PgStore {
    fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read(|db| {
            db.query(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY name"),
                &[],
            )?
            .iter()
            .map(tx::key)
            .collect()
        })
    }

    fn api_key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<ApiKey>> {
        self.read(|db| {
            db.opt(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"),
                &[&key_hash.as_slice()],
            )?
            .map(|r| tx::key(&r))
            .transpose()
        })
    }

    fn hotline_request(&self, report_id: Uuid) -> StoreResult<Option<HotlineRequest>> {
        self.read(|db| tx::request_where(db, "report_id = $1", &[&report_id.as_bytes().as_slice()]))
    }

    fn hotline_request_by_token(&self, token: &str) -> StoreResult<Option<HotlineRequest>> {
        self.read(|db| tx::request_where(db, "token = $1", &[&token]))
    }

    fn hotline_request_by_external_id(
        &self,
        client: &str,
        external_id: &str,
    ) -> StoreResult<Option<HotlineRequest>> {
        self.read(|db| {
            tx::request_where(
                db,
                "client = $1 AND external_id = $2",
                &[&client, &external_id],
            )
        })
    }

    fn hotline_requests(&self, f: &HotlineFilter) -> StoreResult<Vec<HotlineRequest>> {
        self.read(|db| {
            db.query(
                &format!(
                    "SELECT {REQUEST_COLUMNS} FROM open311_requests
                     WHERE requested_ms >= $1 AND requested_ms <= $2 AND ($3::text IS NULL OR service_code = $3)
                     ORDER BY requested_ms DESC, report_id DESC LIMIT $4"
                ),
                &[&f.since_ms, &f.until_ms, &f.service_code, &(f.limit as i64)],
            )?
            .iter()
            .map(tx::request)
            .collect()
        })
    }

    fn feedback(&self) -> StoreResult<Vec<Feedback>> {
        self.read(|db| {
            db.query(
                "SELECT report_id, rating, comment, at_ms FROM open311_feedback ORDER BY at_ms",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(Feedback {
                    report_id: rows::uuid(r, 0)?,
                    rating: r.get::<_, i32>(1) as u8,
                    comment: r.get(2),
                    at_ms: r.get(3),
                })
            })
            .collect()
        })
    }
}
