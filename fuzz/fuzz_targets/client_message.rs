//! Every request a server reads: the payload of a client frame decoded as a
//! `ClientMessage` (`protocol/src/codec.rs`, `messages.rs`).
//!
//! Must hold: decoding never panics, and whatever decodes survives encode →
//! decode unchanged with a stable encoding.
#![no_main]

use gridwarden_protocol::{codec, ClientMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = codec::decode::<ClientMessage>(data) {
        gridwarden_fuzz::assert_round_trip(&message);
    }
});
