//! Every answer a device reads: the payload of a server frame decoded as a
//! `ServerMessage` (`protocol/src/codec.rs`, `messages.rs`), including the
//! grid layer and category table a `Reference` carries.
//!
//! Must hold: decoding never panics, and whatever decodes survives encode →
//! decode unchanged with a stable encoding.
#![no_main]

use gridwarden_protocol::{codec, ServerMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = codec::decode::<ServerMessage>(data) {
        gridwarden_fuzz::assert_round_trip(&message);
    }
});
