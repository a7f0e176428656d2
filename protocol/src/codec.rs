//! The one place that knows the serialisation format (postcard 1.x; see
//! docs/adr/0002-wire-format-postcard.md). Everything else calls these two
//! functions, so the format can change in one file.

use serde::{de::DeserializeOwned, Serialize};

use crate::ProtocolError;

/// Encodes a value. Encoding our own types into a Vec cannot fail short of
/// allocation failure, so this returns the bytes directly.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("postcard encoding of protocol types is infallible")
}

/// How many bytes [`encode`] would give for `value`, counted without
/// writing them (a page's size checked against the frame before it is
/// encoded for the wire).
pub fn encoded_len<T: Serialize>(value: &T) -> usize {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .expect("postcard encoding of protocol types is infallible")
}

/// Decodes a value that must span the whole input: trailing bytes are an
/// error, not something to ignore. Allocation is bounded by the input length,
/// because every collection length is checked against the bytes remaining.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(ProtocolError::Malformed(format!(
            "{} trailing bytes after message",
            rest.len()
        )));
    }
    Ok(value)
}

/// Decodes a value from the start of the input, ignoring what follows: for
/// reading the fields every version of a message begins with.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    postcard::take_from_bytes(bytes)
        .map(|(value, _)| value)
        .map_err(|e| ProtocolError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMessage, Cursor, Pull};

    #[test]
    fn encoded_len_counts_what_encode_writes() {
        let pull = ClientMessage::Pull(Pull {
            cursor: Cursor(vec![7; 300]),
            max_records: 1000,
            max_bytes: 1 << 20,
        });
        let empty = ClientMessage::Pull(Pull {
            cursor: Cursor::default(),
            max_records: 0,
            max_bytes: u32::MAX,
        });
        for value in [pull, empty] {
            assert_eq!(encoded_len(&value), encode(&value).len());
        }
    }
}
