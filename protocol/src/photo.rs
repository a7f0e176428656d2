//! Photos: content-addressed by BLAKE3, attached to reports by reference and
//! carried apart from records, in chunks, on their own streams.

use serde::{Deserialize, Serialize};

/// BLAKE3 hash of a photo's bytes: its name everywhere.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PhotoHash(pub [u8; 32]);

impl PhotoHash {
    pub fn of(bytes: &[u8]) -> Self {
        PhotoHash(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        crate::enrolment::hex(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, crate::ProtocolError> {
        let text = text.trim();
        let bad = || {
            crate::ProtocolError::Invalid(format!(
                "`{text}` is not a photo hash (64 hex digits, as `gridwarden show` prints)"
            ))
        };
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(PhotoHash(out))
    }
}

impl std::fmt::Display for PhotoHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for PhotoHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhotoHash({})", &self.to_hex()[..12])
    }
}

/// A photo as a report refers to it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PhotoRef {
    pub hash: PhotoHash,
    pub size: u64,
    /// `image/jpeg`, `image/png`, `image/heic`, as sniffed on the device.
    pub mime: String,
}

/// Bytes of photo per chunk message: large enough to keep a fast link busy,
/// small enough that a cut loses little and a frame holds it easily.
pub const CHUNK_SIZE: usize = 512 * 1024;
/// Most photos one report may carry.
pub const MAX_PHOTOS_PER_REPORT: usize = 20;

/// The image type of `bytes` from its first bytes, or `None` when it is not a
/// JPEG, PNG or HEIC/HEIF image.
pub fn sniff_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    // ISO base media file: `....ftyp` then a HEIF brand.
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if [
            b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1",
        ]
        .iter()
        .any(|b| brand == *b)
        {
            return Some("image/heic");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_hex() {
        let h = PhotoHash::of(b"photo");
        assert_eq!(PhotoHash::from_hex(&h.to_hex()).unwrap(), h);
        assert!(PhotoHash::from_hex("abc").is_err());
        assert!(PhotoHash::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn sniffs_the_three_image_types_and_nothing_else() {
        assert_eq!(sniff_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_mime(b"\0\0\0\x18ftypheic...."), Some("image/heic"));
        assert_eq!(sniff_mime(b"GIF89a"), None);
        assert_eq!(sniff_mime(b""), None);
    }
}
