use serde::{Deserialize, Serialize};

/// Machine-readable reason carried by every refusal on the wire. The human
/// message travels beside it; the code is what a client branches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The bytes on a stream are not a valid frame or message.
    BadFrame,
    /// A frame announced a length above the maximum.
    FrameTooLarge,
    /// The peer speaks a protocol version this side does not.
    UnsupportedVersion,
    /// Unknown device, wrong token, or a revoked device.
    Unauthenticated,
    /// An enrolment code that does not exist, has expired, or was used.
    EnrolmentRefused,
    /// A field value is outside what the server accepts (coordinates, sizes).
    InvalidInput,
    /// The category code is not in the server's table.
    UnknownCategory,
    /// The device's user may not do this.
    Forbidden,
    /// The request named something that does not exist.
    NotFound,
    /// The operation conflicts with stored state (for example a report id
    /// already used by another device).
    Conflict,
    /// A message arrived out of order (for example a push before hello).
    UnexpectedMessage,
    /// The server failed; the request may be retried.
    Internal,
    /// The op's clock is further ahead of the server's than it allows: the
    /// device's date and time are wrong.
    ClockSkew,
    /// A photo is larger than the server accepts.
    PhotoTooLarge,
    /// A photo chunk did not match its hash (damaged on the way): send it
    /// again.
    CorruptChunk,
    /// The device sent more requests, ops or connections than the server
    /// allows in the time: wait and try again.
    RateLimited,
}

impl ErrorCode {
    /// Whether repeating the same request later can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Internal | ErrorCode::RateLimited)
    }
}

/// Errors raised by decoding and validating protocol data.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtocolError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(String),
}

impl ProtocolError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            ProtocolError::Malformed(_) => ErrorCode::BadFrame,
            ProtocolError::Invalid(_) => ErrorCode::InvalidInput,
        }
    }
}
