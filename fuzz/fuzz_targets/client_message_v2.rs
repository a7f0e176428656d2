//! Every request a server reads from a phone on protocol 2: the payload
//! decoded with the frozen version-2 shapes and converted to the current
//! message (`protocol/src/versions.rs`, `v2/`), and the first-message peek
//! that picks the version.
//!
//! Must hold: nothing panics, and whatever converts goes back to the same
//! version-2 message (an old phone's request is understood whole). Compared
//! as frozen version-2 values, not bytes: postcard reads an over-long varint
//! (`0xff 0x00` for 127) and writes it short, so the bytes may shrink while
//! saying the same thing.
#![no_main]

use gridwarden_protocol::v2::shapes;
use gridwarden_protocol::{codec, versions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = versions::first_message_version(data);
    if let Ok(message) = versions::decode_client(2, data) {
        let again = versions::encode_client(2, &message)
            .unwrap_or_else(|e| panic!("{message:?} read as version 2 cannot be written back: {e}"));
        let sent: shapes::ClientMessage =
            codec::decode(data).expect("decode_client(2) read these bytes as version 2");
        let understood: shapes::ClientMessage = codec::decode(&again)
            .unwrap_or_else(|e| panic!("{message:?} written as version 2 does not read back: {e}"));
        // NaN never equals itself; Debug prints the same NaN the same way.
        if understood != sent {
            assert_eq!(
                format!("{understood:?}"),
                format!("{sent:?}"),
                "a version-2 request does not survive the conversion"
            );
        }
    }
});
