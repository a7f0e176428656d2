//! The gridwarden protocol: wire types, framing, versioning, the hybrid logical
//! clock and the merge rules shared by every replica.
//!
//! This crate performs no IO and never touches an async runtime: bytes and
//! values in, bytes and values out. Client and server both link it, so the
//! merge that runs on a phone is the very code that runs on the server.

pub mod case;
pub mod category;
pub mod clock;
pub mod codec;
pub mod enrolment;
pub mod error;
pub mod frame;
pub mod grid;
pub mod hlc;
pub mod messages;
pub mod packed;
pub mod photo;
pub mod report;
pub mod source;
pub mod time;
pub mod track;
pub mod v2;
pub mod validate;
pub mod versions;

pub use error::{ErrorCode, ProtocolError};
pub use hlc::{Hlc, HlcClock};
pub use messages::*;
pub use photo::{PhotoHash, PhotoRef};
pub use report::{Location, NewReport, Op, OpBody, ReportEdit, ReportOp, ReportState};
pub use track::{NewPatrol, PatrolInfo, PatrolOp, PatrolSummary, TrackPoint};

/// Version of the message set. Sent in the first message of every connection.
/// The server also speaks the versions before it (`versions`, `v2`); what
/// changed in each is in CHANGELOG.md and docs/protocol.md.
pub const PROTOCOL_VERSION: u16 = 4;

/// ALPN identifier negotiated in the TLS handshake.
pub const ALPN: &[u8] = b"gridwarden/1";

/// TLS server name clients present; certificates are pinned by fingerprint,
/// not by name, so this is a fixed label rather than a DNS name.
pub const SERVER_NAME: &str = "gridwarden.server";
