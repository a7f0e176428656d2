//! A unit of work on PostgreSQL: every concern's writes, on one
//! transaction. Rows read to decide a write are locked (`FOR UPDATE`), so
//! two processes deciding on the same row take turns.

use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::{Op, Outcome};
use uuid::Uuid;

use super::rows::{self, DEVICE_COLUMNS};
use super::{feed, push, Db};
use crate::store::console::ConsoleLink;
use crate::store::identity::Enrolment;
use crate::store::*;

pub(super) struct PgTx<'t, 'c> {
    pub(super) db: &'t mut Db<'c>,
}

pub(super) fn load_user(db: &mut Db, name: &str, lock: bool) -> StoreResult<Option<User>> {
    let sql = if lock {
        "SELECT name, role, disabled_ms FROM users WHERE name = $1 FOR UPDATE"
    } else {
        "SELECT name, role, disabled_ms FROM users WHERE name = $1"
    };
    let Some(row) = db.opt(sql, &[&name])? else {
        return Ok(None);
    };
    let cells = db
        .query(
            r#"SELECT cell FROM user_cells WHERE "user" = $1 ORDER BY cell"#,
            &[&name],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let role: String = row.get(1);
    Ok(Some(User {
        name: row.get(0),
        role: role.parse().map_err(StoreError::Corrupt)?,
        cells,
        disabled: row.get::<_, Option<i64>>(2).is_some(),
    }))
}

pub(super) fn load_device(db: &mut Db, id: Uuid, lock: bool) -> StoreResult<Option<Device>> {
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    db.opt(&sql, &[&id.as_bytes().as_slice()])?
        .map(|r| rows::device(&r))
        .transpose()
}

pub(super) fn load_meta(db: &mut Db, key: &str) -> StoreResult<Option<String>> {
    Ok(db
        .opt("SELECT value FROM meta WHERE key = $1", &[&key])?
        .map(|r| r.get(0)))
}

pub(super) fn set_meta(db: &mut Db, key: &str, value: &str) -> StoreResult<()> {
    db.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )?;
    Ok(())
}

/// Takes the next number of a counter; the row stays locked until the
/// transaction ends, so numbers are handed out in commit order.
pub(super) fn next(db: &mut Db, counter: &str) -> StoreResult<i64> {
    Ok(db
        .one(
            "UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value",
            &[&counter],
        )?
        .get(0))
}

const AUTH_EPOCH_KEY: &str = "auth_epoch";

fn bump_auth_epoch(db: &mut Db) -> StoreResult<()> {
    db.execute(
        "INSERT INTO meta (key, value) VALUES ($1, '1')
         ON CONFLICT (key) DO UPDATE SET value = (CAST(meta.value AS bigint) + 1)::text",
        &[&AUTH_EPOCH_KEY],
    )?;
    Ok(())
}

pub(super) fn auth_epoch(db: &mut Db) -> StoreResult<u64> {
    Ok(load_meta(db, AUTH_EPOCH_KEY)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

fn end_sessions_of(db: &mut Db, user: &str) -> StoreResult<()> {
    db.execute(
        r#"DELETE FROM console_sessions WHERE "user" = $1"#,
        &[&user],
    )?;
    Ok(())
}

impl IdentityTx for PgTx<'_, '_> {
    fn user(&mut self, name: &str) -> StoreResult<Option<User>> {
        load_user(self.db, name, true)
    }

    fn add_user(&mut self, user: &User, now_ms: i64) -> StoreResult<()> {
        let inserted = self.db.execute(
            "INSERT INTO users (name, role, created_ms) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            &[&user.name, &user.role.as_str(), &now_ms],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(Clash::User(user.name.clone())));
        }
        for cell in &user.cells {
            self.db.execute(
                r#"INSERT INTO user_cells ("user", cell) VALUES ($1, $2) ON CONFLICT DO NOTHING"#,
                &[&user.name, cell],
            )?;
        }
        Ok(())
    }

    fn create_enrolment(
        &mut self,
        user: &str,
        secret_hash: [u8; 32],
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()> {
        if load_user(self.db, user, false)?.is_none() {
            return Err(StoreError::NotFound(Missing::User(user.into())));
        }
        self.db.execute(
            r#"INSERT INTO enrolments (secret_hash, "user", created_ms, expires_ms) VALUES ($1, $2, $3, $4)"#,
            &[&secret_hash.as_slice(), &user, &now_ms, &expires_ms],
        )?;
        Ok(())
    }

    fn enrolment(&mut self, secret_hash: [u8; 32]) -> StoreResult<Option<Enrolment>> {
        self
            .db
            .opt(
                r#"SELECT "user", created_ms, expires_ms, used_ms, device_id FROM enrolments WHERE secret_hash = $1 FOR UPDATE"#,
                &[&secret_hash.as_slice()],
            )?
            .map(|r| {
                let device = r
                    .get::<_, Option<Vec<u8>>>(4)
                    .map(|b| {
                        Uuid::from_slice(&b)
                            .map_err(|e| StoreError::Corrupt(format!("bad uuid: {e}")))
                    })
                    .transpose()?;
                Ok::<_, StoreError>(Enrolment {
                    user: r.get(0),
                    created_ms: r.get(1),
                    expires_ms: r.get(2),
                    used_ms: r.get(3),
                    device,
                })
            })
            .transpose()
    }

    fn set_user_cells(&mut self, name: &str, cells: &[String]) -> StoreResult<User> {
        let user = load_user(self.db, name, true)?
            .ok_or_else(|| StoreError::NotFound(Missing::User(name.into())))?;
        self.db
            .execute(r#"DELETE FROM user_cells WHERE "user" = $1"#, &[&name])?;
        for cell in cells {
            self.db.execute(
                r#"INSERT INTO user_cells ("user", cell) VALUES ($1, $2) ON CONFLICT DO NOTHING"#,
                &[&name, cell],
            )?;
        }
        bump_auth_epoch(self.db)?;
        let mut cells = cells.to_vec();
        cells.sort();
        cells.dedup();
        Ok(User { cells, ..user })
    }

    fn set_device_token(&mut self, id: Uuid, token_hash: [u8; 32]) -> StoreResult<()> {
        self.db.execute(
            "UPDATE devices SET token_hash = $1 WHERE id = $2",
            &[&token_hash.as_slice(), &id.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    fn use_enrolment(
        &mut self,
        secret_hash: [u8; 32],
        device: &Device,
        now_ms: i64,
    ) -> StoreResult<()> {
        let user: String = self
            .db
            .one(
                r#"UPDATE enrolments SET used_ms = $1, device_id = $2 WHERE secret_hash = $3 RETURNING "user""#,
                &[&now_ms, &device.id.as_bytes().as_slice(), &secret_hash.as_slice()],
            )?
            .get(0);
        self.db.execute(
            r#"INSERT INTO devices (id, "user", label, token_hash, enrolled_ms) VALUES ($1, $2, $3, $4, $5)"#,
            &[
                &device.id.as_bytes().as_slice(),
                &user,
                &device.label,
                &device.token_hash.as_slice(),
                &now_ms,
            ],
        )?;
        Ok(())
    }

    fn touch_device(&mut self, id: Uuid, now_ms: i64) -> StoreResult<()> {
        self.db.execute(
            "UPDATE devices SET last_seen_ms = $1 WHERE id = $2",
            &[&now_ms, &id.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    fn note_device_protocol(
        &mut self,
        id: Uuid,
        seen_ms: Option<i64>,
        protocol_version: u16,
        client: Option<&str>,
    ) -> StoreResult<()> {
        self.db.execute(
            "UPDATE devices SET last_seen_ms = COALESCE($1, last_seen_ms),
                 protocol_version = $2, client = COALESCE($3, client)
             WHERE id = $4",
            &[
                &seen_ms,
                &i32::from(protocol_version),
                &client,
                &id.as_bytes().as_slice(),
            ],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, id: Uuid, at_ms: i64) -> StoreResult<(Device, bool)> {
        let device =
            load_device(self.db, id, true)?.ok_or(StoreError::NotFound(Missing::Device(id)))?;
        if device.revoked_ms.is_some() {
            return Ok((device, false));
        }
        self.db.execute(
            "UPDATE devices SET revoked_ms = $1 WHERE id = $2",
            &[&at_ms, &id.as_bytes().as_slice()],
        )?;
        bump_auth_epoch(self.db)?;
        Ok((
            Device {
                revoked_ms: Some(at_ms),
                ..device
            },
            true,
        ))
    }

    fn set_user_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        at_ms: i64,
    ) -> StoreResult<(User, bool)> {
        let user = load_user(self.db, name, true)?
            .ok_or_else(|| StoreError::NotFound(Missing::User(name.into())))?;
        if user.disabled == disabled {
            return Ok((user, false));
        }
        self.db.execute(
            "UPDATE users SET disabled_ms = $1 WHERE name = $2",
            &[&disabled.then_some(at_ms), &name],
        )?;
        bump_auth_epoch(self.db)?;
        Ok((User { disabled, ..user }, true))
    }
}

pub(super) fn append_audit(db: &mut Db, audit: &AuditRecord) -> StoreResult<u64> {
    let seq = next(db, "audit")?;
    db.execute(
        "INSERT INTO audit_log (seq, at_ms, actor, device, action, subject, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &seq,
            &audit.at_ms,
            &audit.actor,
            &audit.device.map(|d| d.as_bytes().to_vec()),
            &audit.action,
            &audit.subject,
            &audit.detail,
        ],
    )?;
    Ok(seq as u64)
}

impl AuditTx for PgTx<'_, '_> {
    fn append_audit(&mut self, audit: &AuditRecord) -> StoreResult<u64> {
        append_audit(self.db, audit)
    }
}

impl MetaTx for PgTx<'_, '_> {
    /// Locked, as a unit of work reads an entry to write it again (the
    /// server clock): two processes doing that take turns.
    fn meta(&mut self, key: &str) -> StoreResult<Option<String>> {
        Ok(self
            .db
            .opt("SELECT value FROM meta WHERE key = $1 FOR UPDATE", &[&key])?
            .map(|r| r.get(0)))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> StoreResult<()> {
        set_meta(self.db, key, value)
    }
}

impl FeedTx for PgTx<'_, '_> {
    fn apply_ops(
        &mut self,
        device: Uuid,
        ops: &[Op],
        rules: &Rules,
        now_ms: i64,
    ) -> StoreResult<Vec<Outcome>> {
        push::apply_ops(self.db, device, ops, rules, now_ms)
    }

    fn reassign(
        &mut self,
        only_unassigned: bool,
        reassign: &Reassign,
        now_ms: i64,
    ) -> StoreResult<usize> {
        feed::reassign(self.db, only_unassigned, reassign, now_ms)
    }

    fn forget_photos_of_deleted_reports(&mut self) -> StoreResult<u64> {
        self.db.execute(
            "DELETE FROM report_photos WHERE report IN (SELECT id FROM reports WHERE deleted)",
            &[],
        )
    }
}

impl CaseTx for PgTx<'_, '_> {
    fn add_department(&mut self, d: &Department, now_ms: i64) -> StoreResult<()> {
        let inserted = self.db.execute(
            "INSERT INTO departments (code, name, kind, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (code) DO NOTHING",
            &[
                &d.code,
                &d.name,
                &if d.utility { "utility" } else { "department" },
                &now_ms,
            ],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(Clash::Department(d.code.clone())));
        }
        Ok(())
    }

    fn set_category_routes(&mut self, routes: &[(String, String)]) -> StoreResult<()> {
        let known: Vec<String> = self
            .db
            .query("SELECT code FROM departments", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if let Some((category, department)) = routes.iter().find(|(_, d)| !known.contains(d)) {
            return Err(StoreError::NotFound(Missing::RouteTarget {
                category: category.clone(),
                department: department.clone(),
            }));
        }
        self.db.execute("DELETE FROM category_routes", &[])?;
        for (category, department) in routes {
            self.db.execute(
                "INSERT INTO category_routes (category, department) VALUES ($1, $2)",
                &[category, department],
            )?;
        }
        Ok(())
    }

    fn set_user_department(&mut self, user: &str, department: Option<&str>) -> StoreResult<()> {
        if load_user(self.db, user, false)?.is_none() {
            return Err(StoreError::NotFound(Missing::User(user.into())));
        }
        match department {
            Some(d) => {
                if self
                    .db
                    .opt("SELECT 1 FROM departments WHERE code = $1", &[&d])?
                    .is_none()
                {
                    return Err(StoreError::NotFound(Missing::Department(d.into())));
                }
                self.db.execute(
                    r#"INSERT INTO department_members ("user", department) VALUES ($1, $2)
                       ON CONFLICT ("user") DO UPDATE SET department = excluded.department"#,
                    &[&user, &d],
                )?;
            }
            None => {
                self.db.execute(
                    r#"DELETE FROM department_members WHERE "user" = $1"#,
                    &[&user],
                )?;
            }
        }
        Ok(())
    }
}

impl ConsoleTx for PgTx<'_, '_> {
    fn set_password_hash(&mut self, user: &str, hash: &str) -> StoreResult<()> {
        let changed = self.db.execute(
            "UPDATE users SET password_hash = $1 WHERE name = $2",
            &[&hash, &user],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(Missing::User(user.into())));
        }
        Ok(())
    }

    fn end_sessions_of(&mut self, user: &str) -> StoreResult<()> {
        end_sessions_of(self.db, user)
    }

    fn create_console_link(
        &mut self,
        token_hash: [u8; 32],
        user: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()> {
        if load_user(self.db, user, false)?.is_none() {
            return Err(StoreError::NotFound(Missing::User(user.into())));
        }
        self.db.execute(
            r#"INSERT INTO console_links (token_hash, "user", created_ms, expires_ms) VALUES ($1, $2, $3, $4)"#,
            &[&token_hash.as_slice(), &user, &now_ms, &expires_ms],
        )?;
        Ok(())
    }

    fn console_link(&mut self, token_hash: [u8; 32]) -> StoreResult<Option<ConsoleLink>> {
        Ok(self
            .db
            .opt(
                r#"SELECT "user", created_ms, expires_ms, used_ms FROM console_links WHERE token_hash = $1 FOR UPDATE"#,
                &[&token_hash.as_slice()],
            )?
            .map(|r| ConsoleLink {
                user: r.get(0),
                created_ms: r.get(1),
                expires_ms: r.get(2),
                used_ms: r.get(3),
            }))
    }

    fn use_console_link(&mut self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<()> {
        self.db.execute(
            "UPDATE console_links SET used_ms = $1 WHERE token_hash = $2 AND used_ms IS NULL",
            &[&now_ms, &token_hash.as_slice()],
        )?;
        Ok(())
    }

    fn console_device(&mut self, user: &str, now_ms: i64) -> StoreResult<Uuid> {
        // The user's row is locked first: two first uses at once make one
        // device, not two.
        if load_user(self.db, user, true)?.is_none() {
            return Err(StoreError::NotFound(Missing::User(user.into())));
        }
        let existing = self.db.opt(
            r#"SELECT id FROM devices WHERE "user" = $1 AND label = $2 AND revoked_ms IS NULL
               ORDER BY enrolled_ms DESC LIMIT 1"#,
            &[&user, &CONSOLE_DEVICE_LABEL],
        )?;
        if let Some(row) = existing {
            return rows::uuid(&row, 0);
        }
        let id = Uuid::new_v4();
        // A token nobody knows: the console device never says hello over QUIC.
        let token_hash: [u8; 32] = rand::random();
        self.db.execute(
            r#"INSERT INTO devices (id, "user", label, token_hash, enrolled_ms) VALUES ($1, $2, $3, $4, $5)"#,
            &[
                &id.as_bytes().as_slice(),
                &user,
                &CONSOLE_DEVICE_LABEL,
                &token_hash.as_slice(),
                &now_ms,
            ],
        )?;
        Ok(id)
    }

    fn create_console_session(&mut self, s: &ConsoleSession) -> StoreResult<()> {
        self.db.execute(
            r#"INSERT INTO console_sessions (token_hash, "user", csrf, device, created_ms, expires_ms)
               VALUES ($1, $2, $3, $4, $5, $6)"#,
            &[
                &s.token_hash.as_slice(),
                &s.user,
                &s.csrf,
                &s.device.as_bytes().as_slice(),
                &s.created_ms,
                &s.expires_ms,
            ],
        )?;
        Ok(())
    }

    fn end_console_session(&mut self, token_hash: [u8; 32]) -> StoreResult<bool> {
        Ok(self.db.execute(
            "DELETE FROM console_sessions WHERE token_hash = $1",
            &[&token_hash.as_slice()],
        )? > 0)
    }
}

pub(super) const KEY_COLUMNS: &str = "name, key_hash, created_ms, revoked_ms";

pub(super) fn key(row: &tokio_postgres::Row) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        name: row.get(0),
        key_hash: rows::hash(row, 1)?,
        created_ms: row.get(2),
        revoked_ms: row.get(3),
    })
}

pub(super) const REQUEST_COLUMNS: &str =
    "report_id, token, client, external_id, service_code, requested_ms, \
                                          media_url, attributes, contact, description";

pub(super) fn request(row: &tokio_postgres::Row) -> StoreResult<HotlineRequest> {
    let pairs = |i: usize| -> StoreResult<Vec<(String, String)>> {
        serde_json::from_str(row.get(i))
            .map_err(|e| StoreError::Corrupt(format!("open311 fields: {e}")))
    };
    Ok(HotlineRequest {
        report_id: rows::uuid(row, 0)?,
        token: row.get(1),
        client: row.get(2),
        external_id: row.get(3),
        service_code: row.get(4),
        requested_ms: row.get(5),
        media_url: row.get(6),
        attributes: pairs(7)?,
        contact: pairs(8)?,
        description: row.get(9),
    })
}

pub(super) fn request_where(
    db: &mut Db,
    condition: &str,
    args: &super::Params,
) -> StoreResult<Option<HotlineRequest>> {
    db.opt(
        &format!("SELECT {REQUEST_COLUMNS} FROM open311_requests WHERE {condition}"),
        args,
    )?
    .map(|r| request(&r))
    .transpose()
}

impl Open311Tx for PgTx<'_, '_> {
    fn api_key(&mut self, name: &str) -> StoreResult<Option<ApiKey>> {
        self.db
            .opt(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE name = $1 FOR UPDATE"),
                &[&name],
            )?
            .map(|r| key(&r))
            .transpose()
    }

    fn add_api_key(&mut self, k: &ApiKey) -> StoreResult<()> {
        let inserted = self.db.execute(
            "INSERT INTO api_keys (name, key_hash, created_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&k.name, &k.key_hash.as_slice(), &k.created_ms],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(Clash::ApiKey(k.name.clone())));
        }
        Ok(())
    }

    fn revoke_api_key(&mut self, name: &str, now_ms: i64) -> StoreResult<(ApiKey, bool)> {
        let k = self
            .api_key(name)?
            .ok_or_else(|| StoreError::NotFound(Missing::ApiKey(name.into())))?;
        if k.revoked_ms.is_some() {
            return Ok((k, false));
        }
        self.db.execute(
            "UPDATE api_keys SET revoked_ms = $2 WHERE name = $1",
            &[&name, &now_ms],
        )?;
        Ok((
            ApiKey {
                revoked_ms: Some(now_ms),
                ..k
            },
            true,
        ))
    }

    fn add_hotline_request(&mut self, q: &HotlineRequest) -> StoreResult<HotlineRequest> {
        let id = q.report_id.as_bytes().as_slice();
        if let Some(existing) = request_where(self.db, "report_id = $1", &[&id])? {
            return Ok(existing);
        }
        if let Some(ext) = &q.external_id {
            if let Some(existing) = request_where(
                self.db,
                "client = $1 AND external_id = $2",
                &[&q.client, ext],
            )? {
                return Ok(existing);
            }
        }
        let json = |v: &Vec<(String, String)>| serde_json::to_string(v).expect("pairs serialise");
        self.db.execute(
            &format!(
                "INSERT INTO open311_requests ({REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &id,
                &q.token,
                &q.client,
                &q.external_id,
                &q.service_code,
                &q.requested_ms,
                &q.media_url,
                &json(&q.attributes),
                &json(&q.contact),
                &q.description,
            ],
        )?;
        Ok(q.clone())
    }

    fn add_feedback(&mut self, fb: &Feedback) -> StoreResult<()> {
        let inserted = self.db.execute(
            "INSERT INTO open311_feedback (report_id, rating, comment, at_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (report_id) DO NOTHING",
            &[
                &fb.report_id.as_bytes().as_slice(),
                &i32::from(fb.rating),
                &fb.comment,
                &fb.at_ms,
            ],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(Clash::Feedback(fb.report_id)));
        }
        Ok(())
    }
}

impl GridTx for PgTx<'_, '_> {
    fn put_grid_cells(&mut self, cells: &[StoredCell]) -> StoreResult<()> {
        for c in cells {
            self.db.execute(
                "INSERT INTO grid_cell_data (hash, cell, shapes) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
                &[&&c.member.hash[..], &c.wire, &c.shapes],
            )?;
        }
        Ok(())
    }

    fn forget_unlisted_grid_cells(&mut self, hashes: &[[u8; 32]]) -> StoreResult<u64> {
        let hashes: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        self.db.execute(
            "DELETE FROM grid_cell_data WHERE hash = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM grid_layer_cells m WHERE m.hash = grid_cell_data.hash)",
            &[&hashes],
        )
    }

    fn commit_grid_layer(
        &mut self,
        name: &str,
        members: &[GridMember],
        now_ms: i64,
    ) -> StoreResult<u64> {
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = members.iter().find(|m| !seen.insert(m.code.as_str())) {
            return Err(StoreError::Conflict(Clash::GridCode(twice.code.clone())));
        }
        let version = next(self.db, "grid")?;
        self.db.execute(
            "INSERT INTO grid_layers (version, name, imported_ms, cell_count) VALUES ($1, $2, $3, $4)",
            &[&version, &name, &now_ms, &(members.len() as i64)],
        )?;
        for m in members {
            let [x0, y0, x1, y1] = m.bbox;
            let known = self
                .db
                .opt(
                    "SELECT 1 FROM grid_cell_data WHERE hash = $1",
                    &[&&m.hash[..]],
                )?
                .is_some();
            if !known {
                return Err(StoreError::Conflict(Clash::GridCode(m.code.clone())));
            }
            self.db.execute(
                "INSERT INTO grid_layer_cells (version, code, hash, min_lon, min_lat, max_lon, max_lat)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&version, &m.code, &&m.hash[..], &x0, &y0, &x1, &y1],
            )?;
        }
        Ok(version as u64)
    }

    fn put_categories(&mut self, categories: &CategoryTable, now_ms: i64) -> StoreResult<u64> {
        let version = next(self.db, "categories")?;
        let table = CategoryTable {
            version: version as u64,
            categories: categories.categories.clone(),
        };
        let body = serde_json::to_string(&table).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.db.execute(
            "INSERT INTO category_tables (version, imported_ms, body) VALUES ($1, $2, $3)",
            &[&version, &now_ms, &body],
        )?;
        Ok(version as u64)
    }
}
