//! Every answer the server sends a phone on protocol 2: any current
//! `ServerMessage` converted to the frozen version-2 shapes
//! (`versions::encode_server`), which drops what version 2 cannot say.
//!
//! Must hold: nothing panics, and the bytes always decode as a version-2
//! message (an old phone can read every answer, if only as an error).
#![no_main]

use gridwarden_protocol::v2::shapes;
use gridwarden_protocol::{codec, versions, ServerMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = codec::decode::<ServerMessage>(data) {
        let bytes = versions::encode_server(2, &message);
        if let Err(e) = codec::decode::<shapes::ServerMessage>(&bytes) {
            panic!("{message:?} was sent to a version-2 phone as bytes it cannot read: {e}");
        }
    }
});
