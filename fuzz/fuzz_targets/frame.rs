//! The incremental frame decoder (`protocol/src/frame.rs`) fed a byte stream
//! in chunks whose sizes come from the input itself, as a slow or
//! fragmenting network would deliver it.
//!
//! Input layout (so seeds can be written by hand, see fuzz/seed):
//! - bytes 0–1: the decoder's maximum payload, u16 big-endian, so small
//!   limits (and so oversized headers) are common;
//! - byte 2: how many chunk sizes follow (taken modulo 17; 0 = one piece);
//! - that many bytes: chunk sizes, used in turn (0 = an empty `extend`
//!   followed by a one-byte chunk);
//! - the rest: the stream.
//!
//! Must hold: every frame is at most the maximum; after the frames are taken
//! less than one maximum frame plus its header stays buffered; feeding the
//! stream in one piece yields the same frames and the same end (an error or
//! the same bytes left over); and both agree with reading the stream by hand,
//! frame after frame, up to the first header above the maximum.
#![no_main]

use gridwarden_protocol::frame::{FrameDecoder, HEADER_LEN};
use gridwarden_protocol::ProtocolError;
use libfuzzer_sys::fuzz_target;

/// What decoding a stream produced: the frames, then how it stopped.
#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    end: Result<usize, ProtocolError>,
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let count = usize::from(data[2] % 17);
    let Some(sizes) = data.get(3..3 + count) else {
        return;
    };
    let stream = &data[3 + count..];

    let chunked = decode(max, chunks(stream, sizes));
    let whole = decode(max, std::iter::once(stream));
    assert_eq!(chunked, whole, "chunking changed what was decoded");
    assert_eq!(
        whole,
        by_hand(max, stream),
        "the decoder misread the stream"
    );
});

/// The stream read without the decoder: the reference the decoder must match.
fn by_hand(max: usize, mut rest: &[u8]) -> Outcome {
    let mut frames = Vec::new();
    while let Some((header, after)) = rest.split_first_chunk::<HEADER_LEN>() {
        let len = u32::from_be_bytes(*header) as usize;
        if len > max {
            let end = Err(ProtocolError::FrameTooLarge { len, max });
            return Outcome { frames, end };
        }
        let Some(frame) = after.get(..len) else {
            break;
        };
        frames.push(frame.to_vec());
        rest = &after[len..];
    }
    Outcome {
        frames,
        end: Ok(rest.len()),
    }
}

fn chunks<'a>(stream: &'a [u8], sizes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = stream;
    let mut turn = 0;
    let mut after_empty = false;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if std::mem::take(&mut after_empty) {
            1
        } else {
            let size = sizes.get(turn % sizes.len().max(1)).copied();
            turn += 1;
            match size {
                None => rest.len(),
                Some(0) => {
                    // Progress is still made: a one-byte chunk comes next.
                    after_empty = true;
                    return Some(&[][..]);
                }
                Some(n) => usize::from(n),
            }
        };
        let (chunk, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        Some(chunk)
    })
}

fn decode<'a>(max: usize, pieces: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut decoder = FrameDecoder::new(max);
    let mut frames = Vec::new();
    for piece in pieces {
        if let Err(e) = decoder.extend(piece) {
            return Outcome {
                frames,
                end: Err(e),
            };
        }
        loop {
            match decoder.next_payload() {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max, "a frame of {} > {max}", frame.len());
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        end: Err(e),
                    }
                }
            }
        }
        assert!(
            decoder.buffered() < HEADER_LEN + max,
            "{} bytes buffered with a limit of {max}",
            decoder.buffered()
        );
    }
    Outcome {
        frames,
        end: Ok(decoder.buffered()),
    }
}
