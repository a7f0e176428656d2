//! Cases, departments and category routes in the SQLite backend. A case
//! change is written in the push's transaction together with its audit line
//! and a new feed position for its report, so devices pull both together.

use gridwarden_protocol::case::CaseState;
use gridwarden_protocol::codec;
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::security;
use gridwarden_protocol::PhotoHash;

use crate::store::{CasePhotoUse, Clash, Department, Missing, StoreError, StoreResult};

fn decode(bytes: &[u8]) -> StoreResult<CaseState> {
    codec::decode(bytes).map_err(|e| StoreError::Corrupt(format!("case state: {e}")))
}

pub(super) fn load(conn: &Connection, report: Uuid) -> StoreResult<Option<CaseState>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT state FROM cases WHERE report_id = ?1")?
        .query_row([report.as_bytes().as_slice()], |r| r.get(0))
        .optional()?;
    bytes.map(|b| decode(&b)).transpose()
}

pub(super) fn save(tx: &Connection, case: &CaseState, now_ms: i64) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO cases (report_id, status, department, deadline_ms, updated_ms, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (report_id) DO UPDATE SET status = excluded.status,
           department = excluded.department, deadline_ms = excluded.deadline_ms,
           updated_ms = excluded.updated_ms, state = excluded.state",
    )?
    .execute(params![
        case.report_id.as_bytes().as_slice(),
        case.status.as_str(),
        case.department,
        case.deadline_ms,
        now_ms,
        codec::encode(case),
    ])?;
    if let Some(t) = case.history.last() {
        for photo in t.op.photos() {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO case_photos (hash, report_id, taken_by, size) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                photo.hash.0.as_slice(),
                case.report_id.as_bytes().as_slice(),
                t.by,
                photo.size as i64
            ])?;
        }
    }
    if let Some(audit) = crate::store::cases::step_audit(case) {
        security::append(tx, &audit)?;
    }
    Ok(())
}

pub(super) fn photo_uses(conn: &Connection, hash: PhotoHash) -> StoreResult<Vec<CasePhotoUse>> {
    let mut stmt =
        conn.prepare_cached("SELECT report_id, taken_by, size FROM case_photos WHERE hash = ?1")?;
    let rows = stmt
        .query_map([hash.0.as_slice()], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(report, taken_by, size)| {
            Ok(CasePhotoUse {
                report_id: super::uuid_from(report)?,
                taken_by,
                size: size as u64,
            })
        })
        .collect()
}

pub(super) fn cases_of(conn: &Connection, reports: &[Uuid]) -> StoreResult<Vec<CaseState>> {
    let mut out = Vec::new();
    for id in reports {
        if let Some(case) = load(conn, *id)? {
            out.push(case);
        }
    }
    Ok(out)
}

pub(super) fn all(conn: &Connection) -> StoreResult<Vec<CaseState>> {
    let mut stmt = conn.prepare("SELECT state FROM cases ORDER BY updated_ms")?;
    let rows = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.iter().map(|b| decode(b)).collect()
}

pub(super) fn add_department(tx: &Connection, d: &Department, now_ms: i64) -> StoreResult<()> {
    let exists = tx
        .prepare_cached("SELECT 1 FROM departments WHERE code = ?1")?
        .exists([&d.code])?;
    if exists {
        return Err(StoreError::Conflict(Clash::Department(d.code.clone())));
    }
    tx.execute(
        "INSERT INTO departments (code, name, kind, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![
            d.code,
            d.name,
            if d.utility { "utility" } else { "department" },
            now_ms
        ],
    )?;
    Ok(())
}

pub(super) fn departments(conn: &Connection) -> StoreResult<Vec<Department>> {
    let mut stmt = conn.prepare("SELECT code, name, kind FROM departments ORDER BY code")?;
    let rows = stmt.query_map([], |r| {
        Ok(Department {
            code: r.get(0)?,
            name: r.get(1)?,
            utility: r.get::<_, String>(2)? == "utility",
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn set_routes(tx: &Connection, routes: &[(String, String)]) -> StoreResult<()> {
    tx.execute("DELETE FROM category_routes", [])?;
    for (category, department) in routes {
        tx.execute(
            "INSERT INTO category_routes (category, department) VALUES (?1, ?2)",
            params![category, department],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::NotFound(Missing::RouteTarget {
                    category: category.clone(),
                    department: department.clone(),
                })
            }
            other => other.into(),
        })?;
    }
    Ok(())
}

pub(super) fn routes(conn: &Connection) -> StoreResult<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare("SELECT category, department FROM category_routes ORDER BY category")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn set_member(tx: &Connection, user: &str, department: Option<&str>) -> StoreResult<()> {
    if super::load_user(tx, user)?.is_none() {
        return Err(StoreError::NotFound(Missing::User(user.into())));
    }
    match department {
        Some(d) => {
            let known = tx
                .prepare_cached("SELECT 1 FROM departments WHERE code = ?1")?
                .exists([d])?;
            if !known {
                return Err(StoreError::NotFound(Missing::Department(d.into())));
            }
            tx.execute(
                "INSERT INTO department_members (user, department) VALUES (?1, ?2)
                 ON CONFLICT (user) DO UPDATE SET department = excluded.department",
                params![user, d],
            )?;
        }
        None => {
            tx.execute("DELETE FROM department_members WHERE user = ?1", [user])?;
        }
    }
    Ok(())
}

pub(super) fn member_of(conn: &Connection, user: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT department FROM department_members WHERE user = ?1")?
        .query_row([user], |r| r.get(0))
        .optional()?)
}
