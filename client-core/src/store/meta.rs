//! Key-value facts about this device: its enrolment, where its pull stopped,
//! its clock, and which reference data versions it holds.

use gridwarden_protocol::enrolment::hex;
use gridwarden_protocol::{codec, Cursor, DeviceLimits, Hlc, Role};
use rusqlite::{Connection, OptionalExtension, Transaction};
use uuid::Uuid;

use crate::error::{ClientError, Result};
use crate::tls::{Pins, Presented};

const DEVICE_ID: &str = "device_id";
const TOKEN: &str = "token";
const SERVER_ADDR: &str = "server_addr";
const FINGERPRINT: &str = "fingerprint";
const NEXT_FINGERPRINT: &str = "next_fingerprint";
const USER: &str = "user";
const ROLE: &str = "role";
const CELLS: &str = "cells";
const PULL_CURSOR: &str = "pull_cursor";
const LAST_HLC: &str = "last_hlc";
const LAST_SYNC_MS: &str = "last_sync_ms";
const CATEGORIES_VERSION: &str = "categories_version";
const GRID_VERSION: &str = "grid_version";
const CLOCK_OFFSET_MS: &str = "clock_offset_ms";
const CLOCK_ANCHOR: &str = "clock_anchor";
const UPDATE_REQUIRED_BY_MS: &str = "update_required_by_ms";
const STORE_EPOCH: &str = "store_epoch";
const LIMITS: &str = "limits";

// Cached statements: recording a report reads six keys (the enrolment) and
// writes one (the clock), and preparing each anew cost more than running it.
fn get<T: rusqlite::types::FromSql>(conn: &Connection, key: &str) -> Result<Option<T>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

fn set<T: rusqlite::ToSql>(tx: &Transaction, key: &str, value: T) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(rusqlite::params![key, value])?;
    Ok(())
}

fn corrupt(key: &str) -> ClientError {
    ClientError::Protocol(format!("the stored `{key}` of this device is unreadable"))
}

/// Who this device is and whom it trusts; written once at enrolment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolment {
    pub device_id: Uuid,
    pub token: Vec<u8>,
    pub server_addr: String,
    /// SHA-256 of the server certificate pinned at enrolment (or promoted
    /// since by a certificate rotation).
    pub fingerprint: [u8; 32],
    pub user: String,
    pub role: Role,
}

impl Enrolment {
    pub fn fingerprint_hex(&self) -> String {
        hex(&self.fingerprint)
    }
}

/// The certificates this device trusts now: its pin and, while the server
/// rotates its certificate, the next one it announced.
pub fn pins(conn: &Connection, enrolment: &Enrolment) -> Result<Pins> {
    let next = get::<Vec<u8>>(conn, NEXT_FINGERPRINT)?
        .map(|f| <[u8; 32]>::try_from(f).map_err(|_| corrupt(NEXT_FINGERPRINT)))
        .transpose()?;
    Ok(Pins {
        current: enrolment.fingerprint,
        next,
    })
}

/// Keeps the pins in step with what the server proved in a handshake: a
/// handshake made with the announced next certificate promotes it to the
/// pin; the next certificate the server announces now is trusted as well.
/// Returns whether anything changed.
pub fn remember_presented(tx: &Transaction, pins: Pins, presented: Presented) -> Result<bool> {
    let next = presented.announced_next;
    if presented.certificate == pins.current && next == pins.next {
        return Ok(false);
    }
    set(tx, FINGERPRINT, presented.certificate.as_slice())?;
    match next {
        Some(next) => set(tx, NEXT_FINGERPRINT, next.as_slice())?,
        None => {
            tx.execute("DELETE FROM meta WHERE key = ?1", [NEXT_FINGERPRINT])?;
        }
    }
    Ok(true)
}

pub fn enrolment(conn: &Connection) -> Result<Option<Enrolment>> {
    let Some(device) = get::<Vec<u8>>(conn, DEVICE_ID)? else {
        return Ok(None);
    };
    let device_id = Uuid::from_slice(&device).map_err(|_| corrupt(DEVICE_ID))?;
    let token = get::<Vec<u8>>(conn, TOKEN)?.ok_or_else(|| corrupt(TOKEN))?;
    let server_addr = get::<String>(conn, SERVER_ADDR)?.ok_or_else(|| corrupt(SERVER_ADDR))?;
    let fingerprint = get::<Vec<u8>>(conn, FINGERPRINT)?
        .and_then(|f| <[u8; 32]>::try_from(f).ok())
        .ok_or_else(|| corrupt(FINGERPRINT))?;
    let user = get::<String>(conn, USER)?.ok_or_else(|| corrupt(USER))?;
    let role = get::<String>(conn, ROLE)?
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| corrupt(ROLE))?;
    Ok(Some(Enrolment {
        device_id,
        token,
        server_addr,
        fingerprint,
        user,
        role,
    }))
}

pub fn set_enrolment(tx: &Transaction, e: &Enrolment) -> Result<()> {
    set(tx, DEVICE_ID, e.device_id.as_bytes().as_slice())?;
    set(tx, TOKEN, e.token.as_slice())?;
    set(tx, SERVER_ADDR, e.server_addr.as_str())?;
    set(tx, FINGERPRINT, e.fingerprint.as_slice())?;
    set_identity(tx, &e.user, e.role)
}

/// Updates who the device belongs to, as the server's Welcome says.
pub fn set_identity(tx: &Transaction, user: &str, role: Role) -> Result<()> {
    set(tx, USER, user)?;
    set(tx, ROLE, role.as_str())
}

/// Grid cells the user covers, as of the last Welcome.
pub fn cells(conn: &Connection) -> Result<Vec<String>> {
    match get::<Vec<u8>>(conn, CELLS)? {
        Some(bytes) => codec::decode(&bytes).map_err(|_| corrupt(CELLS)),
        None => Ok(Vec::new()),
    }
}

pub fn set_cells(tx: &Transaction, cells: &[String]) -> Result<()> {
    set(tx, CELLS, codec::encode(&cells))
}

/// Where the next pull starts; the start of the feed if never pulled.
pub fn pull_cursor(conn: &Connection) -> Result<Cursor> {
    Ok(Cursor(
        get::<Vec<u8>>(conn, PULL_CURSOR)?.unwrap_or_default(),
    ))
}

pub fn set_pull_cursor(tx: &Transaction, cursor: &Cursor) -> Result<()> {
    set(tx, PULL_CURSOR, cursor.0.as_slice())
}

/// The last clock value this device issued or observed.
pub fn last_hlc(conn: &Connection) -> Result<Hlc> {
    match get::<Vec<u8>>(conn, LAST_HLC)? {
        Some(bytes) => codec::decode(&bytes).map_err(|_| corrupt(LAST_HLC)),
        None => Ok(Hlc::ZERO),
    }
}

pub fn set_last_hlc(tx: &Transaction, hlc: Hlc) -> Result<()> {
    set(tx, LAST_HLC, codec::encode(&hlc))
}

/// How far this device's wall clock runs ahead of the server's (negative:
/// behind), as measured at the last hello. Ops are stamped with corrected time.
pub fn clock_offset_ms(conn: &Connection) -> Result<i64> {
    Ok(get(conn, CLOCK_OFFSET_MS)?.unwrap_or(0))
}

pub fn set_clock_offset_ms(tx: &Transaction, offset: i64) -> Result<()> {
    set(tx, CLOCK_OFFSET_MS, offset)
}

/// The server's time at the last hello and this device's time since boot
/// then: from these, the server's time now, whatever the wall clock did since.
pub fn clock_anchor(conn: &Connection) -> Result<Option<crate::time::Anchor>> {
    let Some(text) = get::<String>(conn, CLOCK_ANCHOR)? else {
        return Ok(None);
    };
    let mut parts = text.split(' ').map(str::parse::<u64>);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(server_ms)), Some(Ok(boot)), Some(Ok(ms))) => Ok(Some(crate::time::Anchor {
            server_ms,
            at: gridwarden_protocol::clock::SinceBoot { boot, ms },
        })),
        _ => Err(corrupt(CLOCK_ANCHOR)),
    }
}

pub fn set_clock_anchor(tx: &Transaction, anchor: Option<crate::time::Anchor>) -> Result<()> {
    match anchor {
        Some(a) => set(
            tx,
            CLOCK_ANCHOR,
            format!("{} {} {}", a.server_ms, a.at.boot, a.at.ms),
        ),
        None => {
            tx.prepare_cached("DELETE FROM meta WHERE key = ?1")?
                .execute([CLOCK_ANCHOR])?;
            Ok(())
        }
    }
}

/// The server's data as this device last saw it (`Welcome::store_epoch`);
/// `None` before the first answer of a server that names it.
pub fn store_epoch(conn: &Connection) -> Result<Option<Uuid>> {
    match get::<Vec<u8>>(conn, STORE_EPOCH)? {
        Some(bytes) => Uuid::from_slice(&bytes)
            .map(Some)
            .map_err(|_| corrupt(STORE_EPOCH)),
        None => Ok(None),
    }
}

pub fn set_store_epoch(tx: &Transaction, epoch: Uuid) -> Result<()> {
    set(tx, STORE_EPOCH, epoch.as_bytes().as_slice())
}

/// What the server refuses, as it last said (`Welcome::limits`); `None`
/// before the first enrolment or sync with a server that says.
pub fn limits(conn: &Connection) -> Result<Option<DeviceLimits>> {
    match get::<Vec<u8>>(conn, LIMITS)? {
        Some(bytes) => codec::decode(&bytes).map(Some).map_err(|_| corrupt(LIMITS)),
        None => Ok(None),
    }
}

pub fn set_limits(tx: &Transaction, limits: &DeviceLimits) -> Result<()> {
    set(tx, LIMITS, codec::encode(limits))
}

/// When the server stops accepting this app's protocol version, as its last
/// `Welcome` said (`None`: no date set).
pub fn update_required_by_ms(conn: &Connection) -> Result<Option<i64>> {
    get(conn, UPDATE_REQUIRED_BY_MS)
}

pub fn set_update_required_by_ms(tx: &Transaction, ms: Option<i64>) -> Result<()> {
    match ms {
        Some(ms) => set(tx, UPDATE_REQUIRED_BY_MS, ms),
        None => {
            tx.execute("DELETE FROM meta WHERE key = ?1", [UPDATE_REQUIRED_BY_MS])?;
            Ok(())
        }
    }
}

pub fn last_sync_ms(conn: &Connection) -> Result<Option<i64>> {
    get(conn, LAST_SYNC_MS)
}

pub fn set_last_sync_ms(tx: &Transaction, ms: i64) -> Result<()> {
    set(tx, LAST_SYNC_MS, ms)
}

/// Reference data versions the device considers current. They follow the
/// cached tables, and also record "the server has none" so an empty answer is
/// not asked for again at every sync.
pub fn categories_version(conn: &Connection) -> Result<Option<u64>> {
    Ok(get::<i64>(conn, CATEGORIES_VERSION)?.map(|v| v as u64))
}

pub fn set_categories_version(tx: &Transaction, v: u64) -> Result<()> {
    set(tx, CATEGORIES_VERSION, v as i64)
}

pub fn grid_version(conn: &Connection) -> Result<Option<u64>> {
    Ok(get::<i64>(conn, GRID_VERSION)?.map(|v| v as u64))
}

pub fn set_grid_version(tx: &Transaction, v: u64) -> Result<()> {
    set(tx, GRID_VERSION, v as i64)
}

/// The patrol a GPX file (by the hex BLAKE3 hash of its bytes) was imported as.
pub fn gpx_import(conn: &Connection, hash_hex: &str) -> Result<Option<Vec<u8>>> {
    get(conn, &format!("gpx_import:{hash_hex}"))
}

pub fn set_gpx_import(tx: &Transaction, hash_hex: &str, patrol: uuid::Uuid) -> Result<()> {
    set(
        tx,
        &format!("gpx_import:{hash_hex}"),
        patrol.as_bytes().to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn enrolment_round_trips_and_defaults_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(enrolment(store.conn()).unwrap(), None);
        assert_eq!(last_hlc(store.conn()).unwrap(), Hlc::ZERO);
        assert_eq!(pull_cursor(store.conn()).unwrap(), Cursor::start());
        let e = Enrolment {
            device_id: Uuid::from_u128(42),
            token: vec![1; 32],
            server_addr: "127.0.0.1:4433".into(),
            fingerprint: [9; 32],
            user: "ann".into(),
            role: Role::Warden,
        };
        let tx = store.transaction().unwrap();
        set_enrolment(&tx, &e).unwrap();
        set_last_hlc(&tx, Hlc::new(5, 1, 2)).unwrap();
        set_cells(&tx, &["150102001001001".to_string()]).unwrap();
        tx.commit().unwrap();
        assert_eq!(enrolment(store.conn()).unwrap(), Some(e));
        assert_eq!(last_hlc(store.conn()).unwrap(), Hlc::new(5, 1, 2));
        assert_eq!(
            cells(store.conn()).unwrap(),
            vec!["150102001001001".to_string()]
        );
    }

    #[test]
    fn pins_follow_a_rotation_announced_then_activated() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let (old, next, later) = ([1; 32], [2; 32], [3; 32]);
        let pins_now = |store: &Store| {
            let e = enrolment(store.conn()).unwrap().unwrap();
            pins(store.conn(), &e).unwrap()
        };
        let remember = |store: &mut Store, certificate, announced_next| {
            let pins = pins_now(store);
            let tx = store.transaction().unwrap();
            let changed = remember_presented(
                &tx,
                pins,
                Presented {
                    certificate,
                    announced_next,
                },
            )
            .unwrap();
            tx.commit().unwrap();
            changed
        };
        let tx = store.transaction().unwrap();
        set_enrolment(&tx, &enrolment_for(old)).unwrap();
        tx.commit().unwrap();

        assert!(!remember(&mut store, old, None), "nothing new");
        assert!(
            remember(&mut store, old, Some(next)),
            "a rotation is announced"
        );
        assert_eq!(
            pins_now(&store),
            Pins {
                current: old,
                next: Some(next)
            }
        );
        assert!(!remember(&mut store, old, Some(next)));
        assert!(
            remember(&mut store, next, None),
            "the switch promotes the next"
        );
        assert_eq!(pins_now(&store), Pins::only(next));
        assert!(remember(&mut store, next, Some(later)));
        assert!(
            remember(&mut store, next, None),
            "a cancelled rotation is forgotten"
        );
        assert_eq!(pins_now(&store), Pins::only(next));
    }

    fn enrolment_for(fingerprint: [u8; 32]) -> Enrolment {
        Enrolment {
            device_id: Uuid::from_u128(1),
            token: vec![1; 32],
            server_addr: "a:1".into(),
            fingerprint,
            user: "ann".into(),
            role: Role::Warden,
        }
    }
}
