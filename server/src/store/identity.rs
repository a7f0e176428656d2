//! Identity and devices: users and their scope, enrolment codes, enrolled
//! devices, revocation and the auth epoch that tells every process about it.

use uuid::Uuid;

use super::{write, AuditRecord, Device, DeviceProtocol, StoreResult, Transact, User};

/// An enrolment code as stored (only its secret's hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolment {
    pub user: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub used_ms: Option<i64>,
    /// The device the code enrolled, once used: a retry of that enrolment
    /// (its answer lost) is recognised by it (`Service::enroll`).
    pub device: Option<Uuid>,
}

pub trait IdentityStore: Transact {
    fn user(&self, name: &str) -> StoreResult<Option<User>>;
    fn users(&self) -> StoreResult<Vec<User>>;
    fn device(&self, id: Uuid) -> StoreResult<Option<Device>>;
    fn devices(&self) -> StoreResult<Vec<Device>>;
    /// Every device's last protocol version and app, in enrolment order.
    fn device_protocols(&self) -> StoreResult<Vec<DeviceProtocol>>;
    /// A number that changes whenever a device is revoked, a user disabled
    /// or enabled, or a user's cells changed, by this process or another:
    /// cheap, polled by the server to cut off open connections at once and
    /// to rescope the others (ADR 0041).
    fn auth_epoch(&self) -> StoreResult<u64>;

    /// [`IdentityTx::add_user`] alone (no audit line: tests and tools; the
    /// admin command writes its line in the same unit of work).
    fn add_user(&self, user: &User, now_ms: i64) -> StoreResult<()> {
        write(self, |tx| tx.add_user(user, now_ms))
    }

    /// [`IdentityTx::create_enrolment`] alone.
    fn create_enrolment(
        &self,
        user: &str,
        secret_hash: [u8; 32],
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()> {
        write(self, |tx| {
            tx.create_enrolment(user, secret_hash, now_ms, expires_ms)
        })
    }

    fn touch_device(&self, id: Uuid, now_ms: i64) -> StoreResult<()> {
        write(self, |tx| tx.touch_device(id, now_ms))
    }

    /// [`IdentityTx::note_device_protocol`] alone.
    fn note_device_protocol(
        &self,
        id: Uuid,
        seen_ms: Option<i64>,
        protocol_version: u16,
        client: Option<&str>,
    ) -> StoreResult<()> {
        write(self, |tx| {
            tx.note_device_protocol(id, seen_ms, protocol_version, client)
        })
    }

    /// Revokes a device, appending `audit` in the same transaction if it
    /// changed anything; a revoked device is returned as it is.
    fn revoke_device(&self, id: Uuid, audit: &AuditRecord) -> StoreResult<Device> {
        write(self, |tx| {
            let (device, changed) = tx.revoke_device(id, audit.at_ms)?;
            if changed {
                tx.append_audit(audit)?;
            }
            Ok(device)
        })
    }

    /// Disables (or enables again) a user, appending `audit` in the same
    /// transaction if it changed anything. Disabling ends the user's
    /// console sessions with their devices' connections.
    fn set_user_disabled(
        &self,
        name: &str,
        disabled: bool,
        audit: &AuditRecord,
    ) -> StoreResult<User> {
        write(self, |tx| {
            let (user, changed) = tx.set_user_disabled(name, disabled, audit.at_ms)?;
            if changed {
                if disabled {
                    tx.end_sessions_of(name)?;
                }
                tx.append_audit(audit)?;
            }
            Ok(user)
        })
    }
}

pub trait IdentityTx {
    fn user(&mut self, name: &str) -> StoreResult<Option<User>>;
    /// Refused with [`super::Clash::User`] if the name is taken.
    fn add_user(&mut self, user: &User, now_ms: i64) -> StoreResult<()>;
    /// Replaces a user's cells; returns the user as changed. Refused with
    /// [`super::Missing::User`] for an unknown user.
    fn set_user_cells(&mut self, name: &str, cells: &[String]) -> StoreResult<User>;
    /// Refused with [`super::Missing::User`] for an unknown user.
    fn create_enrolment(
        &mut self,
        user: &str,
        secret_hash: [u8; 32],
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()>;
    fn enrolment(&mut self, secret_hash: [u8; 32]) -> StoreResult<Option<Enrolment>>;
    /// Marks the code used by `device` and registers the device (for the
    /// code's user). Only the first of two units of work using one code
    /// commits.
    fn use_enrolment(
        &mut self,
        secret_hash: [u8; 32],
        device: &Device,
        now_ms: i64,
    ) -> StoreResult<()>;
    fn touch_device(&mut self, id: Uuid, now_ms: i64) -> StoreResult<()>;
    /// Replaces a device's token hash: the token issued by an enrolment
    /// whose answer was lost is replaced by the one the retry carries.
    fn set_device_token(&mut self, id: Uuid, token_hash: [u8; 32]) -> StoreResult<()>;
    /// Records the protocol version (and app, when known) a device speaks;
    /// with `seen_ms`, also that it was seen then. One write per hello.
    fn note_device_protocol(
        &mut self,
        id: Uuid,
        seen_ms: Option<i64>,
        protocol_version: u16,
        client: Option<&str>,
    ) -> StoreResult<()>;
    /// Revokes a device at `at_ms` and bumps the auth epoch; returns it and
    /// whether it changed (a revoked device is left as it is).
    fn revoke_device(&mut self, id: Uuid, at_ms: i64) -> StoreResult<(Device, bool)>;
    /// Disables (or enables again) a user and bumps the auth epoch; returns
    /// the user and whether it changed.
    fn set_user_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        at_ms: i64,
    ) -> StoreResult<(User, bool)>;
}
