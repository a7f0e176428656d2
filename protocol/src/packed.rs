//! Packed messages (protocol 4, ADR 0032): a large message's encoding
//! compressed with zstd and sent inside a small envelope. A page of pulled
//! reports repeats itself — the same clock in every register of a report,
//! the same user, device, categories and cell codes on every report, clocks
//! a few milliseconds apart — so it shrinks to about half; postcard alone
//! cannot see any of that.
//!
//! The receiver decompresses into exactly the length the envelope announces,
//! refused above its frame limit before anything is decompressed: a peer's
//! zip bomb costs at most one frame's memory and ends in an error.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::ProtocolError;

/// zstd's level 1: a page of 1 MiB packs in a few milliseconds on the
/// server, and level 3 saved under 2 % more on the harness's pages (ADR 0032).
const LEVEL: i32 = 1;

/// A message that encodes to fewer bytes goes as it is: zstd's frame header
/// and the envelope cost about 12 bytes, and a small answer (an `Ack` of a
/// few ops, a `Welcome`) has too little repetition to pay them back.
pub const MIN_PACKED_LEN: usize = 256;

thread_local! {
    /// One zstd context a thread for each direction, kept between messages:
    /// `zstd::bulk::compress` made and freed a context, its tables allocated
    /// and cleared, for every push a device packed and every page the
    /// server packed (a sixteenth of the device's time in the push
    /// benchmark, issue 22). Kept per thread, so no lock.
    static PACKER: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static UNPACKER: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `encoded` in one zstd frame, with this thread's context.
fn compress(encoded: &[u8]) -> Option<Vec<u8>> {
    PACKER.with(|packer| {
        let mut packer = packer.borrow_mut();
        if packer.is_none() {
            *packer = zstd::bulk::Compressor::new(LEVEL).ok();
        }
        packer.as_mut()?.compress(encoded).ok()
    })
}

/// One zstd frame unpacked into at most `len` bytes, with this thread's
/// context.
fn decompress(frame: &[u8], len: usize) -> std::io::Result<Vec<u8>> {
    UNPACKER.with(|unpacker| {
        let mut unpacker = unpacker.borrow_mut();
        if unpacker.is_none() {
            *unpacker = Some(zstd::bulk::Decompressor::new()?);
        }
        unpacker
            .as_mut()
            .expect("made above")
            .decompress(frame, len)
    })
}

/// A message's encoding, compressed. Never nested: what it unpacks to is
/// not itself a `Packed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packed {
    /// The length of the encoding once unpacked.
    pub len: u32,
    /// One zstd frame.
    #[serde(with = "serde_bytes")]
    pub zstd: Vec<u8>,
}

impl Packed {
    /// Packs an encoding when that makes it smaller; `None` for one shorter
    /// than [`MIN_PACKED_LEN`] or one that does not compress.
    pub fn pack(encoded: &[u8]) -> Option<Packed> {
        if encoded.len() < MIN_PACKED_LEN {
            return None;
        }
        let len = u32::try_from(encoded.len()).ok()?;
        let zstd = compress(encoded)?;
        // The envelope: a variant index, two varints (≤ 5 + 5 bytes).
        (zstd.len() + 11 < encoded.len()).then_some(Packed { len, zstd })
    }

    /// The encoding inside, at most `max` bytes long. An envelope announcing
    /// more is refused before any decompression; a zstd frame that inflates
    /// beyond the announced length, or stops short of it, is refused too.
    pub fn unpack(&self, max: usize) -> Result<Vec<u8>, ProtocolError> {
        let len = self.len as usize;
        if len > max {
            return Err(ProtocolError::FrameTooLarge { len, max });
        }
        // `bulk` decompresses into a buffer of exactly `len` bytes and fails
        // rather than grow it: the bound is the buffer, not the input. A
        // failed frame leaves the context to be reset by the next one.
        let bytes = decompress(&self.zstd, len).map_err(|e| {
            ProtocolError::Malformed(format!(
                "a packed message does not unpack to its announced {len} bytes: {e}"
            ))
        })?;
        if bytes.len() != len {
            return Err(ProtocolError::Malformed(format!(
                "a packed message unpacked to {} bytes, not its announced {len}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repetitive(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 7) as u8).collect()
    }

    #[test]
    fn packs_what_repeats_and_unpacks_it_whole() {
        let raw = repetitive(10_000);
        let packed = Packed::pack(&raw).expect("repetition packs");
        assert!(packed.zstd.len() < 200, "{}", packed.zstd.len());
        assert_eq!(packed.unpack(raw.len()).unwrap(), raw);
    }

    #[test]
    fn leaves_small_and_random_encodings_as_they_are() {
        assert_eq!(Packed::pack(&repetitive(MIN_PACKED_LEN - 1)), None);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(Packed::pack(&noise), None);
    }

    #[test]
    fn a_bomb_is_refused_before_it_is_inflated() {
        // 64 MiB of zeros compress to a few kilobytes.
        let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 3).unwrap();
        assert!(bomb.len() < 8 << 10, "{}", bomb.len());
        let claims_all = Packed {
            len: 64 << 20,
            zstd: bomb.clone(),
        };
        assert_eq!(
            claims_all.unpack(4 << 20),
            Err(ProtocolError::FrameTooLarge {
                len: 64 << 20,
                max: 4 << 20
            })
        );
        // Announcing a small length does not help: decompression stops at it.
        let lies = Packed {
            len: 1000,
            zstd: bomb,
        };
        let err = lies.unpack(4 << 20).unwrap_err();
        assert!(matches!(err, ProtocolError::Malformed(_)), "{err:?}");
    }

    #[test]
    fn an_envelope_that_says_more_than_it_holds_is_refused() {
        let raw = repetitive(1000);
        let mut packed = Packed::pack(&raw).unwrap();
        packed.len += 1;
        assert!(packed.unpack(1 << 20).is_err());
        packed.len -= 2;
        assert!(packed.unpack(1 << 20).is_err());
        let garbage = Packed {
            len: 100,
            zstd: vec![1, 2, 3, 4, 5],
        };
        assert!(matches!(
            garbage.unpack(1 << 20),
            Err(ProtocolError::Malformed(_))
        ));
    }

    /// The thread's kept contexts give the bytes a fresh context gives (the
    /// golden vectors depend on it), and a frame that failed leaves nothing
    /// behind for the next message.
    #[test]
    fn kept_contexts_pack_as_fresh_ones_and_survive_a_bad_frame() {
        let first = repetitive(5_000);
        let second: Vec<u8> = (0..7_000).map(|i| (i % 13) as u8).collect();
        for raw in [&first, &second, &first] {
            let packed = Packed::pack(raw).unwrap();
            assert_eq!(packed.zstd, zstd::bulk::compress(raw, LEVEL).unwrap());
        }
        let garbage = Packed {
            len: 100,
            zstd: vec![0x28, 0xb5, 0x2f, 0xfd, 9, 9, 9],
        };
        assert!(garbage.unpack(1 << 20).is_err());
        let packed = Packed::pack(&second).unwrap();
        assert_eq!(packed.unpack(1 << 20).unwrap(), second);
    }
}
