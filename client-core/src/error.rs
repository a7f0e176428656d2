//! The one error type of the client core. Each variant is something a caller
//! (the CLI, a phone UI) can branch on; each message is a sentence a warden can
//! act on without reading code.

use gridwarden_protocol::{ErrorCode, ProtocolError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("this device is not enrolled yet; run `gridwarden enroll CODE` first with the code IT gave you")]
    NotEnrolled,

    #[error("this device is already enrolled as {user} with {server}; to enrol it again keeping its unsent work (after IT revoked it), add --again; or use another home directory")]
    AlreadyEnrolled { user: String, server: String },

    /// A field value the user typed is not acceptable.
    #[error("{0}")]
    InvalidInput(String),

    /// Beyond what the server accepts (it told this device its limits, or
    /// the defaults hold until it does): refused when recorded, so nothing
    /// is kept that the server would refuse at sync. `limit` is the bound
    /// (characters of a note, bytes of a photo).
    #[error("{message}")]
    OverLimit { message: String, limit: u64 },

    /// The category code is not in the cached category table. The message
    /// lists a few known codes so the user can correct it.
    #[error("unknown category `{code}`; {hint}")]
    UnknownCategory { code: String, hint: String },

    #[error("no report with id {0} on this device")]
    NotFound(String),

    /// The server could not be reached; nothing recorded locally is lost.
    #[error("{0}")]
    Offline(String),

    /// The server answered the request with a refusal, or (a retryable
    /// code) could not take it now.
    #[error("{}", refusal(*code, message))]
    Refused { code: ErrorCode, message: String },

    #[error(
        "the server at {server} presented a certificate that is not the one this device was \
         enrolled with (expected SHA-256 {expected}, got {actual}); do not sync, contact IT"
    )]
    CertificateMismatch {
        server: String,
        expected: String,
        actual: String,
    },

    #[error("local storage failed: {0}")]
    Storage(#[from] rusqlite::Error),

    /// The device's database was written by a newer gridwarden. Nothing the
    /// user types fixes it and nothing was changed: the app needs updating.
    #[error("this device's database was written by a newer gridwarden (schema {found}, this version knows {known}); update the app or the gridwarden command, nothing was changed")]
    DatabaseTooNew { found: u32, known: u32 },

    #[error("cannot use the client home directory: {0}")]
    Io(#[from] std::io::Error),

    /// The sync was cancelled by the app or the user.
    #[error("the sync was cancelled; everything acknowledged so far is kept on the server and on this device")]
    Cancelled,

    /// The server sent something this client does not understand, or sent
    /// messages out of order.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<ProtocolError> for ClientError {
    fn from(e: ProtocolError) -> Self {
        match e {
            // Validation failures are the user's input, not a wire problem.
            ProtocolError::Invalid(msg) => ClientError::InvalidInput(msg),
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

impl ClientError {
    /// Whether the failure was that the server could not be reached, which a
    /// caller reports differently (exit code 2 in the CLI).
    /// Whether the same sync may succeed if tried again later: the server was
    /// unreachable, or it failed internally.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Offline(_) => true,
            ClientError::Refused { code, .. } => code.is_retryable(),
            _ => false,
        }
    }

    pub fn is_offline(&self) -> bool {
        matches!(self, ClientError::Offline(_))
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The stable snake_case name of an error code, as stored locally and printed
/// in JSON (the wire enum itself carries CamelCase names).
pub fn code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadFrame => "bad_frame",
        ErrorCode::FrameTooLarge => "frame_too_large",
        ErrorCode::UnsupportedVersion => "unsupported_version",
        ErrorCode::Unauthenticated => "unauthenticated",
        ErrorCode::EnrolmentRefused => "enrolment_refused",
        ErrorCode::InvalidInput => "invalid_input",
        ErrorCode::UnknownCategory => "unknown_category",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::NotFound => "not_found",
        ErrorCode::Conflict => "conflict",
        ErrorCode::UnexpectedMessage => "unexpected_message",
        ErrorCode::Internal => "internal",
        ErrorCode::ClockSkew => "clock_skew",
        ErrorCode::PhotoTooLarge => "photo_too_large",
        ErrorCode::CorruptChunk => "corrupt_chunk",
        ErrorCode::RateLimited => "rate_limited",
    }
}

/// A refusal as the user reads it: a passing failure (the server's database
/// restarting, a rate limit) is not a "no" to what they asked.
fn refusal(code: ErrorCode, message: &str) -> String {
    if code.is_retryable() {
        format!("the server could not take the request now: {message}")
    } else {
        format!("the server refused the request: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_failure_is_not_called_a_refusal() {
        let busy = ClientError::Refused {
            code: ErrorCode::Internal,
            message: "try again".into(),
        };
        assert_eq!(
            busy.to_string(),
            "the server could not take the request now: try again"
        );
        let no = ClientError::Refused {
            code: ErrorCode::Forbidden,
            message: "not yours".into(),
        };
        assert_eq!(no.to_string(), "the server refused the request: not yours");
    }
}
