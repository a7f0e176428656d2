//! Which devices the server speaks to, by protocol version, and what it tells
//! them about the window (docs/protocol.md, "Versions"): the current version
//! and the one before; IT may set a date after which a version is refused
//! (`[protocol] refuse_after`), announced in `Welcome` to devices whose
//! version has the field (3 and later; a version-2 phone cannot be told).

use gridwarden_protocol::{versions, DeviceLimits, ErrorCode, PROTOCOL_VERSION};
use uuid::Uuid;

use super::{Service, ServiceError, ServiceResult};
use crate::store::Store;

/// Names the server's data; a new one after every restore (`store_epoch` in
/// `Welcome`).
pub const STORE_EPOCH_KEY: &str = "store_epoch";

/// The store's epoch, made when a store that has none is first opened (a new
/// data directory, or one migrated from a release before 0.2.0).
pub(super) fn load_or_create_epoch(store: &dyn Store) -> ServiceResult<Uuid> {
    if let Some(epoch) = store
        .meta(STORE_EPOCH_KEY)?
        .and_then(|v| Uuid::parse_str(&v).ok())
    {
        return Ok(epoch);
    }
    renew_epoch(store)
}

/// A new random epoch: the data is no longer what devices last saw (a
/// restore from a backup).
pub fn renew_epoch(store: &dyn Store) -> ServiceResult<Uuid> {
    let epoch = Uuid::new_v4();
    store.set_meta(STORE_EPOCH_KEY, &epoch.to_string())?;
    Ok(epoch)
}

impl Service {
    /// Refuses a device whose protocol version this server does not speak,
    /// or no longer accepts, with what to do about it.
    pub(super) fn check_version(&self, version: u16) -> ServiceResult<()> {
        let refuse = |message: String| {
            Err(ServiceError::refused(
                ErrorCode::UnsupportedVersion,
                message,
            ))
        };
        if version > PROTOCOL_VERSION {
            return refuse(format!(
                "this app speaks protocol version {version}, newer than this server's {PROTOCOL_VERSION}; ask IT to upgrade the server"
            ));
        }
        if !versions::supported(version) {
            return refuse(format!(
                "this app speaks protocol version {version}; the server speaks {} to {PROTOCOL_VERSION}; update the app",
                versions::OLDEST_SUPPORTED
            ));
        }
        if let Some(after) = self.update_required_by(version) {
            if self.now() >= after {
                return refuse(format!(
                    "protocol version {version} is no longer accepted since {}; update the app",
                    day(after)
                ));
            }
        }
        Ok(())
    }

    /// When this server stops accepting `version`, if IT set a date.
    pub fn update_required_by(&self, version: u16) -> Option<i64> {
        self.limits().refuse_versions_after.get(&version).copied()
    }

    /// The limits a device learns in `Welcome` and `Enrolled`.
    pub(super) fn device_limits(&self) -> DeviceLimits {
        let l = self.limits();
        DeviceLimits {
            max_photo_bytes: l.max_photo_bytes,
            max_note_chars: u32::try_from(l.max_note_chars).unwrap_or(u32::MAX),
            max_clock_skew_ms: l.max_clock_skew_ms,
        }
    }
}

/// `2027-03-01` (UTC) for messages.
pub fn day(ms: i64) -> String {
    gridwarden_protocol::time::format_rfc3339(ms)
        .map(|t| t.chars().take(10).collect())
        .unwrap_or_else(|| ms.to_string())
}
