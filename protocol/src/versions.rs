//! Which protocol versions this build speaks, and the bytes of each: the
//! current version through `codec`, older ones through their frozen shapes
//! (`v2/`) converted at the edge. The window is the current version and the
//! two before it (docs/protocol.md, "Versions").
//!
//! Version 4 differs from 3 only by the appended `Packed` variants (ADR
//! 0032): every other shape is the same, so version 3 needs no frozen copy —
//! it is the current shapes, never sent nor accepted packed.

use serde::{Deserialize, Serialize};

use crate::frame::DEFAULT_MAX_FRAME;
use crate::packed::Packed;
use crate::{codec, v2, ClientMessage, ProtocolError, ServerMessage, PROTOCOL_VERSION};

/// The oldest version this build speaks.
pub const OLDEST_SUPPORTED: u16 = 2;

/// The first version that packs large messages (`packed.rs`).
pub const PACKED_SINCE: u16 = 4;

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
    decode_client_within(version, payload, DEFAULT_MAX_FRAME)
}

/// As [`decode_client`], a packed request unpacking to at most `max` bytes.
pub fn decode_client_within(
    version: u16,
    payload: &[u8],
    max: usize,
) -> Result<ClientMessage, ProtocolError> {
    match version {
        2 => v2::client_from_v2(codec::decode(payload)?),
        _ => match codec::decode(payload)? {
            ClientMessage::Packed(packed) if version >= PACKED_SINCE => {
                match codec::decode(&packed.unpack(max)?)? {
                    ClientMessage::Packed(_)
                    | ClientMessage::Hello(_)
                    | ClientMessage::Enroll(_) => Err(ProtocolError::Malformed(
                        "a packed request holds another packed request, a Hello or an Enroll"
                            .into(),
                    )),
                    inner => Ok(inner),
                }
            }
            ClientMessage::Packed(_) => Err(not_packed(version)),
            message => Ok(message),
        },
    }
}

fn not_packed(version: u16) -> ProtocolError {
    ProtocolError::Malformed(format!(
        "protocol version {version} has no packed messages (since {PACKED_SINCE})"
    ))
}

/// Whether an answer is packed for a device that reads packed answers: not
/// photo bytes (a JPEG does not shrink, and the server would spend a
/// compression on every chunk for nothing).
fn packable_answer(message: &ServerMessage) -> bool {
    !matches!(
        message,
        ServerMessage::PhotoData(_) | ServerMessage::Packed(_)
    )
}

/// Whether a request is packed: not the first message (the server reads
/// its version from its first bytes), not photo bytes, not a packed one.
fn packable_request(message: &ClientMessage) -> bool {
    !matches!(
        message,
        ClientMessage::Hello(_)
            | ClientMessage::Enroll(_)
            | ClientMessage::PhotoChunk(_)
            | ClientMessage::Packed(_)
    )
}

/// The encoding of `message`, packed when `packable` and packing makes it
/// smaller.
fn packed_or_plain<T: Serialize>(message: &T, packable: bool, wrap: fn(Packed) -> T) -> Vec<u8> {
    let plain = codec::encode(message);
    if !packable {
        return plain;
    }
    match Packed::pack(&plain) {
        Some(packed) => codec::encode(&wrap(packed)),
        None => plain,
    }
}

/// Encodes a server message in `version`'s shapes. An answer that version
/// cannot express (none is sent to a request it can make) becomes an error
/// saying so. From version 4 on a large answer is packed.
pub fn encode_server(version: u16, message: &ServerMessage) -> Vec<u8> {
    match version {
        2 => codec::encode(&v2::server_to_v2(message).unwrap_or_else(|e| {
            v2::error_to_v2(&crate::ErrorMessage {
                code: crate::ErrorCode::UnexpectedMessage,
                message: format!("{e}; update the app"),
            })
        })),
        v if v >= PACKED_SINCE => {
            packed_or_plain(message, packable_answer(message), ServerMessage::Packed)
        }
        _ => codec::encode(message),
    }
}

/// Encodes a client message in `version`'s shapes (what a phone on that
/// version sends). From version 4 on a large request is packed.
pub fn encode_client(version: u16, message: &ClientMessage) -> Result<Vec<u8>, ProtocolError> {
    match version {
        2 => v2::client_to_v2(message)
            .map(|m| codec::encode(&m))
            .map_err(|e| ProtocolError::Invalid(e.to_string())),
        v if v >= PACKED_SINCE => Ok(packed_or_plain(
            message,
            packable_request(message),
            ClientMessage::Packed,
        )),
        _ => Ok(codec::encode(message)),
    }
}

/// Decodes a server message sent in `version`'s shapes as a current one.
pub fn decode_server(version: u16, payload: &[u8]) -> Result<ServerMessage, ProtocolError> {
    decode_server_within(version, payload, DEFAULT_MAX_FRAME)
}

/// As [`decode_server`], a packed answer unpacking to at most `max` bytes.
pub fn decode_server_within(
    version: u16,
    payload: &[u8],
    max: usize,
) -> Result<ServerMessage, ProtocolError> {
    match version {
        2 => v2::server_from_v2(codec::decode(payload)?),
        _ => match codec::decode(payload)? {
            ServerMessage::Packed(packed) if version >= PACKED_SINCE => {
                match codec::decode(&packed.unpack(max)?)? {
                    ServerMessage::Packed(_) => Err(ProtocolError::Malformed(
                        "a packed answer holds another packed answer".into(),
                    )),
                    inner => Ok(inner),
                }
            }
            ServerMessage::Packed(_) => Err(not_packed(version)),
            message => Ok(message),
        },
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
        for v in [1, 2, 3, 4, 300] {
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
    fn the_window_is_this_version_and_the_two_before() {
        assert!(supported(PROTOCOL_VERSION));
        assert!(supported(PROTOCOL_VERSION - 1));
        assert!(supported(PROTOCOL_VERSION - 2));
        assert!(!supported(PROTOCOL_VERSION - 3));
        assert!(!supported(PROTOCOL_VERSION + 1));
    }

    fn page(n: usize) -> ServerMessage {
        let records = (0..n)
            .map(|i| crate::Record::OutOfScope {
                report_id: uuid::Uuid::from_u128(i as u128),
            })
            .collect();
        ServerMessage::PullPage(crate::PullPage {
            records,
            cursor: crate::Cursor(vec![7; 40]),
            more: true,
        })
    }

    #[test]
    fn version_4_packs_a_large_answer_and_3_never_does() {
        let large = page(200);
        let plain = codec::encode(&large);
        let packed = encode_server(4, &large);
        assert!(
            packed.len() * 3 < plain.len(),
            "{} of {}",
            packed.len(),
            plain.len()
        );
        assert!(matches!(
            codec::decode(&packed),
            Ok(ServerMessage::Packed(_))
        ));
        assert_eq!(decode_server(4, &packed).unwrap(), large);
        assert_eq!(encode_server(3, &large), plain);
        assert_eq!(decode_server(3, &plain).unwrap(), large);
        // A version-3 reader refuses a packed answer by name.
        let err = decode_server(3, &packed).unwrap_err();
        assert!(err.to_string().contains("no packed messages"), "{err}");
        // A small answer goes as it is.
        let small = page(1);
        assert_eq!(encode_server(4, &small), codec::encode(&small));
    }

    #[test]
    fn version_4_packs_a_large_push_and_never_a_hello() {
        let op = |i: u128| crate::Op {
            op_id: uuid::Uuid::from_u128(i),
            hlc: crate::Hlc::new(1_763_800_000_000 + i as u64, 0, 42),
            body: crate::OpBody::Report {
                report_id: uuid::Uuid::from_u128(i << 64),
                op: crate::ReportOp::Delete,
            },
        };
        let push = ClientMessage::Push(crate::Push {
            ops: (0..100).map(op).collect(),
        });
        let bytes = encode_client(4, &push).unwrap();
        assert!(bytes.len() < codec::encode(&push).len());
        assert_eq!(decode_client(4, &bytes).unwrap(), push);
        assert!(decode_client(3, &bytes).is_err());
        let hello = ClientMessage::Hello(Hello {
            protocol_version: 4,
            device_id: uuid::Uuid::from_u128(7),
            token: vec![0; 512],
            client: "t".into(),
        });
        assert_eq!(encode_client(4, &hello).unwrap(), codec::encode(&hello));
    }

    /// Packs `encoded` whatever its size (`Packed::pack` leaves small ones).
    fn force_pack(encoded: &[u8]) -> Packed {
        Packed {
            len: encoded.len() as u32,
            zstd: zstd::bulk::compress(encoded, 1).unwrap(),
        }
    }

    #[test]
    fn a_packed_message_may_not_hold_another_or_a_first_message() {
        let once = codec::encode(&ServerMessage::Packed(force_pack(&codec::encode(&page(
            200,
        )))));
        let twice = ServerMessage::Packed(force_pack(&once));
        let err = decode_server(4, &codec::encode(&twice)).unwrap_err();
        assert!(err.to_string().contains("another packed"), "{err}");
        let hello = codec::encode(&ClientMessage::Hello(Hello {
            protocol_version: 4,
            device_id: uuid::Uuid::from_u128(7),
            token: vec![0; 32],
            client: "t".into(),
        }));
        let smuggled = ClientMessage::Packed(force_pack(&hello));
        let err = decode_client(4, &codec::encode(&smuggled)).unwrap_err();
        assert!(err.to_string().contains("Hello"), "{err}");
    }

    #[test]
    fn a_packed_answer_larger_than_the_limit_is_refused_unopened() {
        let bytes = encode_server(4, &page(200));
        let err = decode_server_within(4, &bytes, 1000).unwrap_err();
        assert!(
            matches!(err, ProtocolError::FrameTooLarge { max: 1000, .. }),
            "{err:?}"
        );
    }
}
