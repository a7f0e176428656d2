//! Every request a server reads from a phone on protocol 2: the payload
//! decoded with the frozen version-2 shapes and converted to the current
//! message (`protocol/src/versions.rs`, `v2/`), and the first-message peek
//! that picks the version.
//!
//! Must hold: nothing panics, and whatever converts goes back to the same
//! version-2 bytes (an old phone's request is understood whole).
#![no_main]

use gridwarden_protocol::versions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = versions::first_message_version(data);
    if let Ok(message) = versions::decode_client(2, data) {
        let again = versions::encode_client(2, &message)
            .unwrap_or_else(|e| panic!("{message:?} read as version 2 cannot be written back: {e}"));
        assert_eq!(again, data, "a version-2 request does not survive the conversion");
    }
});
