//! The enrolment rules: which code enrols, and when a code already used is
//! the same device asking again because the first answer was lost.
//!
//! Why a retry needs the device's key. The code is the only secret the
//! device brings, and whoever holds it could also be an attacker who read
//! it over the warden's shoulder; "the code again" alone must therefore
//! never hand out the device it enrolled. A device that can, presents a
//! key of its own in the TLS handshake (a self-signed client certificate,
//! generated once per enrolment and kept on the device until it succeeds;
//! the handshake signature proves it holds the private key). The device's
//! id is derived from the code and that key, so the server recognises a
//! retry without storing anything new: the code's recorded device is the
//! id this code and this key make. Someone with only the code makes
//! another id and is refused as before ("already used"). A retry gets the
//! same device with a new token (the first token never arrived; its hash
//! is replaced), so an old answer replayed from a capture is worth nothing.
//!
//! An app without a key (protocol 2 and 0.2.0 apps send no certificate)
//! enrols as before: a random id, one attempt per code.

use uuid::Uuid;

use gridwarden_protocol::ErrorCode;

use super::ServiceError;
use crate::store::identity::Enrolment;

/// What an enrolment request does with its code.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// A fresh code: enrol a new device for this user.
    New { user: String },
    /// The code enrolled this very device (same key) and is not expired:
    /// answer again with a new token.
    Again { user: String },
}

/// The id of the device a code and a device key enrol: the same pair
/// always makes the same id, a different key another one.
pub(super) fn device_id(secret_hash: &[u8; 32], device_key: &[u8; 32]) -> Uuid {
    let mut hasher = blake3::Hasher::new_derive_key("gridwarden 2026 enrolment device id");
    hasher.update(secret_hash);
    hasher.update(device_key);
    let bytes: [u8; 16] = hasher.finalize().as_bytes()[..16]
        .try_into()
        .expect("16 of 32 bytes");
    // Shaped as a version-4 id, like every other device id.
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Decides on a code as stored (`None`: unknown) for the device `device`
/// (`keyed`: its id was derived from a key it proved it holds).
pub(super) fn decide(
    enrolment: Option<Enrolment>,
    device: Uuid,
    keyed: bool,
    now_ms: i64,
) -> Result<Decision, ServiceError> {
    let refused = |m: &str| Err(ServiceError::refused(ErrorCode::EnrolmentRefused, m));
    let Some(enrolment) = enrolment else {
        return refused("this enrolment code is not known to the server; ask IT for a new one");
    };
    if now_ms > enrolment.expires_ms {
        return refused("this enrolment code has expired; ask IT for a new one");
    }
    if enrolment.used_ms.is_some() {
        if keyed && enrolment.device == Some(device) {
            return Ok(Decision::Again {
                user: enrolment.user,
            });
        }
        return refused(
            "this enrolment code was already used; each code enrols one device — ask IT for a new one",
        );
    }
    Ok(Decision::New {
        user: enrolment.user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(used_by: Option<Uuid>) -> Enrolment {
        Enrolment {
            user: "ann".into(),
            created_ms: 0,
            expires_ms: 100,
            used_ms: used_by.map(|_| 10),
            device: used_by,
        }
    }

    #[test]
    fn a_device_id_is_the_code_and_the_key() {
        let a = device_id(&[1; 32], &[2; 32]);
        assert_eq!(a, device_id(&[1; 32], &[2; 32]));
        assert_ne!(a, device_id(&[1; 32], &[3; 32]), "another key");
        assert_ne!(a, device_id(&[4; 32], &[2; 32]), "another code");
    }

    #[test]
    fn only_the_same_key_gets_a_used_code_again() {
        let me = device_id(&[1; 32], &[2; 32]);
        let new = |e| decide(e, me, true, 50);
        assert_eq!(
            new(Some(code(None))).unwrap(),
            Decision::New { user: "ann".into() }
        );
        assert_eq!(
            new(Some(code(Some(me)))).unwrap(),
            Decision::Again { user: "ann".into() }
        );
        let thief = device_id(&[1; 32], &[9; 32]);
        let err = decide(Some(code(Some(me))), thief, true, 50).unwrap_err();
        assert!(err.to_string().contains("already used"), "{err}");
        // A device without a key gets a random id: never a retry.
        let err = decide(Some(code(Some(me))), me, false, 50).unwrap_err();
        assert!(err.to_string().contains("already used"), "{err}");
        let err = decide(Some(code(Some(me))), me, true, 101).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        let err = decide(None, me, true, 50).unwrap_err();
        assert!(err.to_string().contains("not known"), "{err}");
    }
}
