//! Conversions between rows and the store's values.

use tokio_postgres::Row;
use uuid::Uuid;

use crate::store::{Device, StoreError, StoreResult};

pub(super) fn uuid(row: &Row, i: usize) -> StoreResult<Uuid> {
    let bytes: &[u8] = row.get(i);
    Uuid::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("bad uuid: {e}")))
}

pub(super) fn opt_uuid(row: &Row, i: usize) -> StoreResult<Option<Uuid>> {
    let bytes: Option<&[u8]> = row.get(i);
    bytes
        .map(|b| Uuid::from_slice(b).map_err(|e| StoreError::Corrupt(format!("bad uuid: {e}"))))
        .transpose()
}

pub(super) fn hash(row: &Row, i: usize) -> StoreResult<[u8; 32]> {
    let bytes: &[u8] = row.get(i);
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("bad hash".into()))
}

pub(super) const DEVICE_COLUMNS: &str =
    r#"id, "user", label, token_hash, enrolled_ms, revoked_ms, last_seen_ms"#;

pub(super) fn device(row: &Row) -> StoreResult<Device> {
    Ok(Device {
        id: uuid(row, 0)?,
        user: row.get(1),
        label: row.get(2),
        token_hash: hash(row, 3)?,
        enrolled_ms: row.get(4),
        revoked_ms: row.get(5),
        last_seen_ms: row.get(6),
    })
}
