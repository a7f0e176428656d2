//! Protocol version 2 (gridwarden 0.1.0): its frozen shapes and their
//! conversions to and from the current ones. The server speaks it to phones
//! not yet updated (docs/protocol.md, "Versions").

mod convert;
pub mod shapes;

pub use convert::{
    client_from_v2, client_to_v2, error_to_v2, server_from_v2, server_to_v2, Unrepresentable,
};

use crate::{codec, Op, ProtocolError, ReportState};

/// A report state stored by a release speaking version 2 (its stores keep
/// states and ops in the wire's encoding), as the current shape: for the
/// stores' forward migrations.
pub fn stored_report_state(bytes: &[u8]) -> Result<ReportState, ProtocolError> {
    convert::report_from_v2(codec::decode(bytes)?)
}

/// An op stored by a release speaking version 2 (a device's outbox), as the
/// current shape.
pub fn stored_op(bytes: &[u8]) -> Result<Op, ProtocolError> {
    convert::op_from_v2(codec::decode(bytes)?)
}

/// A current report state as a release speaking version 2 stored it (for
/// tests that fake an old store, and tools); `None` if it cannot be said
/// in version 2.
pub fn encode_stored_report_state(state: &ReportState) -> Option<Vec<u8>> {
    convert::report_to_v2(state).map(|s| codec::encode(&s))
}

/// A current op as a release speaking version 2 stored it in a device's
/// outbox (for tests that fake an old store); `None` if version 2 cannot
/// say it.
pub fn encode_stored_op(op: &Op) -> Option<Vec<u8>> {
    convert::op_to_v2(op).ok().map(|o| codec::encode(&o))
}
