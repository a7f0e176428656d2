//! Which protocol versions this build speaks, and the bytes of each: the
//! current version through `codec`, older ones through their frozen shapes
//! (`v2/`) converted at the edge. The window is the current version and the
//! one before it (docs/protocol.md, "Versions").

use serde::Deserialize;

use crate::{codec, v2, ClientMessage, ProtocolError, ServerMessage, PROTOCOL_VERSION};

/// The oldest version this build speaks (N−1).
pub const OLDEST_SUPPORTED: u16 = 2;

/// Whether this build speaks `version`.
pub fn supported(version: u16) -> bool {
    (OLDEST_SUPPORTED..=PROTOCOL_VERSION).contains(&version)
}

/// The start every version's `Hello` and `Enroll` share: the variant index
/// (0 or 1) and then `protocol_version`. Kept in this place by every
/// version, so the server can tell which shapes to read the rest with.
#[derive(Deserialize)]
struct Lead {
    variant: u32,
    protocol_version: u16,
}

/// The protocol version a connection's first message (a `Hello` or an
/// `Enroll` of any version) announces; `None` for any other message.
pub fn first_message_version(payload: &[u8]) -> Option<u16> {
    let lead: Lead = codec::decode_prefix(payload).ok()?;
    (lead.variant <= 1).then_some(lead.protocol_version)
}

/// Decodes a client message sent in `version`'s shapes as a current one.
/// A version outside the window is read with the current shapes (its
/// `Hello` is still readable, and the server then refuses it by name).
pub fn decode_client(version: u16, payload: &[u8]) -> Result<ClientMessage, ProtocolError> {
    match version {
        2 => v2::client_from_v2(codec::decode(payload)?),
        _ => codec::decode(payload),
    }
}

/// Encodes a server message in `version`'s shapes. An answer that version
/// cannot express (none is sent to a request it can make) becomes an error
/// saying so.
pub fn encode_server(version: u16, message: &ServerMessage) -> Vec<u8> {
    match version {
        2 => codec::encode(&v2::server_to_v2(message).unwrap_or_else(|e| {
            v2::error_to_v2(&crate::ErrorMessage {
                code: crate::ErrorCode::UnexpectedMessage,
                message: format!("{e}; update the app"),
            })
        })),
        _ => codec::encode(message),
    }
}

/// Encodes a client message in `version`'s shapes (what a phone on that
/// version sends; for tests and tools).
pub fn encode_client(version: u16, message: &ClientMessage) -> Result<Vec<u8>, ProtocolError> {
    match version {
        2 => v2::client_to_v2(message)
            .map(|m| codec::encode(&m))
            .map_err(|e| ProtocolError::Invalid(e.to_string())),
        _ => Ok(codec::encode(message)),
    }
}

/// Decodes a server message sent in `version`'s shapes as a current one.
pub fn decode_server(version: u16, payload: &[u8]) -> Result<ServerMessage, ProtocolError> {
    match version {
        2 => v2::server_from_v2(codec::decode(payload)?),
        _ => codec::decode(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Enroll, Hello};

    #[test]
    fn the_first_message_tells_its_version_in_every_version() {
        let hello = |v| {
            codec::encode(&ClientMessage::Hello(Hello {
                protocol_version: v,
                device_id: uuid::Uuid::from_u128(7),
                token: vec![1; 32],
                client: "t".into(),
            }))
        };
        for v in [1, 2, 3, 300] {
            assert_eq!(first_message_version(&hello(v)), Some(v));
        }
        let enroll = codec::encode(&ClientMessage::Enroll(Enroll {
            protocol_version: 2,
            secret: "s".into(),
            device_label: "l".into(),
        }));
        assert_eq!(first_message_version(&enroll), Some(2));
        let pull = codec::encode(&ClientMessage::Pull(crate::Pull {
            cursor: crate::Cursor::start(),
            max_records: 1,
            max_bytes: 1,
        }));
        assert_eq!(first_message_version(&pull), None);
        assert_eq!(first_message_version(&[]), None);
        assert_eq!(first_message_version(&[0, 0xff]), None);
    }

    #[test]
    fn the_window_is_this_version_and_the_one_before() {
        assert!(supported(PROTOCOL_VERSION));
        assert!(supported(PROTOCOL_VERSION - 1));
        assert!(!supported(PROTOCOL_VERSION - 2));
        assert!(!supported(PROTOCOL_VERSION + 1));
    }
}
