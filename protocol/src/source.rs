//! Where a report came from: a device in the field, or a hotline (an
//! Open311 client of the server). No wire message carries this as a field;
//! it is read off the report's origin device, whose id the server mints for
//! a hotline in a reserved shape (docs/adr/0016-hotline-source-and-api-keys.md).
//! Device ids minted at enrolment are random (version 4), so the two never
//! meet, and a device that knows this module can tell a hotline's report
//! without any change to the messages it already decodes.

use uuid::{Builder, Uuid};

use crate::report::Origin;

/// The first bytes of every hotline's device id.
const HOTLINE_MARK: [u8; 6] = *b"GW311\0";

/// Who recorded a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// An enrolled device (a phone, the CLI, the console).
    Device,
    /// A hotline or citizen app through the server's Open311 interface; the
    /// report's reporter is the API client's name.
    Hotline,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Device => "device",
            Source::Hotline => "hotline",
        }
    }
}

/// The device id the server records a hotline's reports under: fixed per
/// API client name, version 8 (custom) with the hotline mark.
pub fn hotline_device(client: &str) -> Uuid {
    let digest = blake3::hash(client.as_bytes());
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&HOTLINE_MARK);
    bytes[6..].copy_from_slice(&digest.as_bytes()[..10]);
    Builder::from_custom_bytes(bytes).into_uuid()
}

/// The source a report's origin device id says.
pub fn source_of(device: Uuid) -> Source {
    let bytes = device.as_bytes();
    if device.get_version_num() == 8 && bytes[..6] == HOTLINE_MARK {
        Source::Hotline
    } else {
        Source::Device
    }
}

impl Origin {
    /// Whether a device or a hotline recorded the report.
    pub fn source(&self) -> Source {
        source_of(self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotline_ids_are_recognised_and_enrolled_ids_are_not() {
        let id = hotline_device("12345");
        assert_eq!(source_of(id), Source::Hotline);
        assert_eq!(id, hotline_device("12345"), "fixed per client");
        assert_ne!(id, hotline_device("12319"));
        for _ in 0..100 {
            assert_eq!(source_of(Uuid::new_v4()), Source::Device);
        }
        assert_eq!(source_of(Uuid::nil()), Source::Device);
    }
}
