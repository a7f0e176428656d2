//! Packed messages (protocol 4, ADR 0032): a frame's payload read as a
//! version-4 server reads a request and a version-4 device reads an answer
//! (`versions::decode_client_within`, `decode_server_within`), unpacking
//! included; and a zstd frame announced with a wrong length
//! (`packed::Packed::unpack`).
//!
//! The first byte picks the mode. Must hold: nothing panics; unpacking never
//! produces more than the bound (libFuzzer's -rss_limit_mb would catch a
//! bomb that got through); what unpacks is never itself packed, nor a first
//! message; whatever decodes survives a version-4 encode → decode
//! unchanged; a frame announced with a length other than its own is refused.
#![no_main]

use gridwarden_protocol::packed::Packed;
use gridwarden_protocol::{versions, ClientMessage, ServerMessage};
use libfuzzer_sys::fuzz_target;

/// The unpacked bound: a quarter of the real frame limit keeps runs fast.
const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => answer(rest),
        1 => request(rest),
        _ => announced(rest),
    }
});

fn answer(payload: &[u8]) {
    let Ok(message) = versions::decode_server_within(4, payload, MAX) else {
        return;
    };
    assert!(!matches!(message, ServerMessage::Packed(_)), "unpacked to a packed answer");
    let again = versions::encode_server(4, &message);
    let back = versions::decode_server(4, &again)
        .unwrap_or_else(|e| panic!("{message:?} written as version 4 does not read back: {e}"));
    gridwarden_fuzz::assert_round_trip(&back);
    gridwarden_fuzz::assert_same_encoding(&back, &message);
}

fn request(payload: &[u8]) {
    let Ok(message) = versions::decode_client_within(4, payload, MAX) else {
        return;
    };
    let was_packed = matches!(
        gridwarden_protocol::codec::decode::<ClientMessage>(payload),
        Ok(ClientMessage::Packed(_))
    );
    assert!(!matches!(message, ClientMessage::Packed(_)), "unpacked to a packed request");
    if was_packed {
        assert!(
            !matches!(message, ClientMessage::Hello(_) | ClientMessage::Enroll(_)),
            "a first message came packed"
        );
    }
    let again = versions::encode_client(4, &message).expect("version 4 writes every request");
    let back = versions::decode_client(4, &again)
        .unwrap_or_else(|e| panic!("{message:?} written as version 4 does not read back: {e}"));
    gridwarden_fuzz::assert_same_encoding(&back, &message);
}

/// `rest` = one byte of length error (as i8), then the bytes to pack.
fn announced(rest: &[u8]) {
    let Some((&off, bytes)) = rest.split_first() else {
        return;
    };
    let zstd = zstd::bulk::compress(bytes, 1).expect("zstd compresses any input");
    let len = (bytes.len() as i64 + i64::from(off as i8)).max(0);
    let exact = len as usize == bytes.len();
    let packed = Packed {
        len: len as u32,
        zstd,
    };
    match packed.unpack(MAX) {
        Ok(out) => {
            assert!(exact, "{} bytes unpacked, announced as {len}", bytes.len());
            assert_eq!(out, bytes);
        }
        Err(_) => assert!(!exact || bytes.len() > MAX, "a true length was refused"),
    }
}
