//! Length-prefixed framing: a 4-byte big-endian payload length, then the
//! payload. The decoder is a state machine fed with whatever bytes arrived;
//! it never buffers more than one maximum frame plus its header.

use serde::{de::DeserializeOwned, Serialize};

use crate::{codec, ProtocolError};

/// Size of the length prefix.
pub const HEADER_LEN: usize = 4;

/// Default upper bound on a frame's payload. Large enough for a pull page or a
/// push batch of a few thousand reports; photos travel in their own chunks.
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;

/// Encodes a message as one frame (header and payload).
pub fn encode_frame<T: Serialize>(message: &T) -> Vec<u8> {
    frame_payload(&codec::encode(message))
}

/// Frames an already encoded payload (one encoded in an older version's
/// shapes, `versions`).
pub fn frame_payload(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    let len = u32::try_from(payload.len()).expect("a frame payload fits in u32");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads the payload length from a frame header, refusing one above `max`
/// before a single payload byte is buffered.
pub fn payload_len(header: [u8; HEADER_LEN], max: usize) -> Result<usize, ProtocolError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(ProtocolError::FrameTooLarge { len, max });
    }
    Ok(len)
}

/// Incremental frame decoder. Feed bytes with [`FrameDecoder::extend`], take
/// complete payloads with [`FrameDecoder::next_payload`].
#[derive(Debug)]
pub struct FrameDecoder {
    max: usize,
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            buf: Vec::new(),
        }
    }

    /// Appends received bytes. Fails as soon as the buffered header announces
    /// a frame above the limit, so a hostile peer cannot make us buffer it.
    pub fn extend(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.buf.extend_from_slice(bytes);
        self.check_header()
    }

    fn check_header(&self) -> Result<(), ProtocolError> {
        if self.buf.len() >= HEADER_LEN {
            let header = self.buf[..HEADER_LEN]
                .try_into()
                .expect("slice of header length");
            payload_len(header, self.max)?;
        }
        Ok(())
    }

    /// Removes and returns the next complete payload, if one has arrived.
    pub fn next_payload(&mut self) -> Result<Option<Vec<u8>>, ProtocolError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = self.buf[..HEADER_LEN]
            .try_into()
            .expect("slice of header length");
        let len = payload_len(header, self.max)?;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        // An oversized header behind this frame is refused by the next call
        // (and by `extend`), not here: failing now would lose a good frame.
        Ok(Some(payload))
    }

    /// Removes and decodes the next complete message, if one has arrived.
    pub fn next_message<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ProtocolError> {
        match self.next_payload()? {
            Some(payload) => codec::decode(&payload).map(Some),
            None => Ok(None),
        }
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_arbitrary_splits() {
        let a = encode_frame(&("hello".to_string(), 7u32));
        let b = encode_frame(&("world".to_string(), 9u32));
        let all: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        for split in 0..all.len() {
            let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME);
            dec.extend(&all[..split]).unwrap();
            let mut got: Vec<(String, u32)> = Vec::new();
            while let Some(m) = dec.next_message().unwrap() {
                got.push(m);
            }
            dec.extend(&all[split..]).unwrap();
            while let Some(m) = dec.next_message().unwrap() {
                got.push(m);
            }
            assert_eq!(got, vec![("hello".into(), 7), ("world".into(), 9)]);
            assert_eq!(dec.buffered(), 0);
        }
    }

    #[test]
    fn refuses_oversized_header_before_buffering_payload() {
        let mut dec = FrameDecoder::new(16);
        let err = dec.extend(&1000u32.to_be_bytes()).unwrap_err();
        assert_eq!(err, ProtocolError::FrameTooLarge { len: 1000, max: 16 });
    }

    #[test]
    fn a_frame_followed_by_an_oversized_header_is_returned_before_the_refusal() {
        let mut dec = FrameDecoder::new(16);
        let mut bytes = encode_frame(&7u32);
        bytes.extend_from_slice(&1000u32.to_be_bytes());
        dec.extend(&bytes).unwrap();
        assert_eq!(dec.next_message::<u32>().unwrap(), Some(7));
        let err = dec.next_payload().unwrap_err();
        assert_eq!(err, ProtocolError::FrameTooLarge { len: 1000, max: 16 });
    }

    #[test]
    fn garbage_payload_is_a_malformed_error_not_a_panic() {
        let mut dec = FrameDecoder::new(64);
        dec.extend(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
        let err = dec.next_message::<crate::ClientMessage>().unwrap_err();
        assert!(matches!(err, ProtocolError::Malformed(_)), "{err:?}");
    }
}
