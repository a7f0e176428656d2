//! The golden vectors of protocol version 2 exactly as gridwarden 0.1.0
//! released them (`golden/v2/`, copied from tag `v0.1.0`, never
//! regenerated): every build decodes each with the frozen shapes, converts
//! it to the current message and back, and must get the same bytes — what
//! a phone on version 2 sends is understood whole, and what the server
//! answers it is what that phone can read.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is the report

use std::path::PathBuf;

use gridwarden_protocol::v2::{self, shapes};
use gridwarden_protocol::{codec, frame, versions, ClientMessage, ServerMessage};

fn vectors() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/v2");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, hex(text.trim()))
        })
        .collect();
    out.sort();
    out
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn payload(name: &str, frame_bytes: &[u8]) -> Vec<u8> {
    let mut dec = frame::FrameDecoder::new(frame::DEFAULT_MAX_FRAME);
    dec.extend(frame_bytes).unwrap();
    let p = dec.next_payload().unwrap().unwrap();
    assert_eq!(dec.buffered(), 0, "{name}: one frame");
    p
}

#[test]
fn every_v2_vector_is_read_converted_and_answered_in_the_same_bytes() {
    let all = vectors();
    assert_eq!(all.len(), 25, "the 25 vectors of v0.1.0");
    for (name, bytes) in all {
        let p = payload(&name, &bytes);
        if name.starts_with("client_") {
            let old: shapes::ClientMessage = codec::decode(&p).unwrap();
            let current = v2::client_from_v2(old.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            // The server's own entry point reads it the same way.
            assert_eq!(versions::decode_client(2, &p).unwrap(), current, "{name}");
            let back = v2::client_to_v2(&current).unwrap();
            assert_eq!(back, old, "{name}");
            assert_eq!(versions::encode_client(2, &current).unwrap(), p, "{name}");
            if let ClientMessage::Hello(h) = &current {
                assert_eq!(h.protocol_version, 2);
                assert_eq!(versions::first_message_version(&p), Some(2));
            }
        } else {
            let old: shapes::ServerMessage = codec::decode(&p).unwrap();
            let current: ServerMessage =
                v2::server_from_v2(old.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(versions::decode_server(2, &p).unwrap(), current, "{name}");
            assert_eq!(v2::server_to_v2(&current).unwrap(), old, "{name}");
            assert_eq!(versions::encode_server(2, &current), p, "{name}");
        }
    }
}

#[test]
fn current_bytes_are_not_read_as_v2_by_accident_of_shape() {
    // A v3 Welcome carries fields a v2 phone cannot read: the server must
    // convert, and the frozen decoder refuses the current bytes.
    let golden = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/v3/server_welcome.hex"),
    )
    .unwrap();
    let p = payload("v3 welcome", &hex(golden.trim()));
    assert!(codec::decode::<shapes::ServerMessage>(&p).is_err());
    let welcome = codec::decode::<ServerMessage>(&p).unwrap();
    let for_v2 = versions::encode_server(2, &welcome);
    assert!(matches!(
        codec::decode::<shapes::ServerMessage>(&for_v2).unwrap(),
        shapes::ServerMessage::Welcome(_)
    ));
}
