//! The one error an app sees, and the one place client-core's errors are
//! mapped to it.
//!
//! Apps branch on what they can do about a failure, not on why the core
//! failed, so the core's dozen variants collapse into seven: wait for the
//! network, enrol, show the reason to the user, storage trouble, update the
//! app, the sync was cancelled, or something to report. Every variant carries the core's
//! sentence, written for a warden to read.
//!
//! It crosses as a *flat* error: each variant arrives as its class and its
//! sentence only, the exception's own message (Kotlin `e.message`, Swift
//! `.Offline(message:)`, Python `str(e)`). A field of its own would clash
//! with Kotlin's `Throwable.message` (a field named `message` does not
//! compile) or leave `e.message` as uniffi's `reason=…` rendering, and
//! Android code logs and shows `e.message`.

use gridwarden_client_core::ClientError;

#[derive(Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum GridwardenError {
    /// The server could not be reached. Nothing recorded is lost; sync again
    /// later (a background job's retry).
    #[error("{message}")]
    Offline { message: String },

    /// This home has no enrolment yet: ask IT for a code and call `enroll`.
    #[error("{message}")]
    NotEnrolled { message: String },

    /// The input or the request was refused, by this device's checks or by
    /// the server; the sentence is for the user, who can correct the input.
    #[error("{reason}")]
    Rejected { reason: String },

    /// The device's store (SQLite, the photo files) failed: full disk,
    /// revoked storage permission, a home directory that cannot be created.
    #[error("{message}")]
    Storage { message: String },

    /// This home's database was written by a newer version of the app (a
    /// downgrade, or a backup restored into an older install). Nothing was
    /// changed; only updating the app fixes it, so it is not `Rejected`.
    #[error("{message}")]
    UpdateRequired { message: String },

    /// The sync was cancelled through its `CancelToken` (or its task was
    /// cancelled). What was acknowledged before is kept on both sides.
    #[error("{message}")]
    Cancelled { message: String },

    /// Anything else: a server that answers nonsense, a certificate that is
    /// not the enrolled one, a failure inside the server, a `SyncListener`
    /// that threw. Show it and let the user contact IT.
    #[error("{message}")]
    Other { message: String },
}

impl GridwardenError {
    /// For the few failures of the binding layer itself (an id that is not
    /// a UUID, a path that is not UTF-8): the user's input was wrong.
    pub(crate) fn rejected(reason: impl Into<String>) -> Self {
        GridwardenError::Rejected {
            reason: reason.into(),
        }
    }
}

impl From<ClientError> for GridwardenError {
    fn from(e: ClientError) -> Self {
        let message = e.to_string();
        match e {
            ClientError::Offline(_) => GridwardenError::Offline { message },
            ClientError::NotEnrolled => GridwardenError::NotEnrolled { message },
            ClientError::InvalidInput(_)
            | ClientError::UnknownCategory { .. }
            | ClientError::NotFound(_)
            // Beyond the server's limits: the user shortens the note or
            // retakes the photo.
            | ClientError::OverLimit { .. }
            | ClientError::AlreadyEnrolled { .. } => GridwardenError::Rejected { reason: message },
            // A refusal the server may not repeat (its own failure) is not
            // the user's to correct.
            ClientError::Refused { code, .. } if code.is_retryable() => {
                GridwardenError::Other { message }
            }
            ClientError::Refused { .. } => GridwardenError::Rejected { reason: message },
            ClientError::Storage(_) | ClientError::Io(_) => GridwardenError::Storage { message },
            ClientError::DatabaseTooNew { .. } => GridwardenError::UpdateRequired { message },
            ClientError::Cancelled => GridwardenError::Cancelled { message },
            ClientError::CertificateMismatch { .. } | ClientError::Protocol(_) => {
                GridwardenError::Other { message }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwarden_protocol::ErrorCode;

    #[test]
    fn each_core_error_lands_in_the_variant_an_app_acts_on() {
        let cases = [
            (ClientError::Offline("down".into()), "Offline"),
            (ClientError::NotEnrolled, "NotEnrolled"),
            (ClientError::InvalidInput("bad".into()), "Rejected"),
            (
                ClientError::UnknownCategory {
                    code: "9999".into(),
                    hint: "try 0101".into(),
                },
                "Rejected",
            ),
            (ClientError::NotFound("x".into()), "Rejected"),
            (
                ClientError::OverLimit {
                    message: "the note is too long".into(),
                    limit: 10,
                },
                "Rejected",
            ),
            (
                ClientError::Refused {
                    code: ErrorCode::Forbidden,
                    message: "not yours".into(),
                },
                "Rejected",
            ),
            (
                ClientError::Refused {
                    code: ErrorCode::Internal,
                    message: "boom".into(),
                },
                "Other",
            ),
            (
                ClientError::Io(std::io::Error::other("disk full")),
                "Storage",
            ),
            (
                ClientError::DatabaseTooNew {
                    found: 99,
                    known: 6,
                },
                "UpdateRequired",
            ),
            (ClientError::Cancelled, "Cancelled"),
            (ClientError::Protocol("garbage".into()), "Other"),
        ];
        for (core, expected) in cases {
            let text = core.to_string();
            let mapped = GridwardenError::from(core);
            let name = format!("{mapped:?}");
            assert!(name.starts_with(expected), "{text} became {name}");
            assert_eq!(mapped.to_string(), text, "the core's sentence is kept");
        }
    }
}
