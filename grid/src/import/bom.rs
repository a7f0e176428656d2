//! A UTF-8 byte-order mark before the JSON: Windows tools (Notepad, some
//! GIS exports) write one, and serde_json, following RFC 8259, refuses it.

use std::io::{self, Cursor, Read};

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// `reader` without a leading UTF-8 byte-order mark, still streamed: only
/// the first three bytes are looked at.
pub(super) fn skip<R: Read>(mut reader: R) -> io::Result<impl Read> {
    let mut head = [0u8; 3];
    let mut got = 0;
    // A reader may hand out fewer bytes than asked; read until three or
    // the end.
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let start = if head[..got] == BOM { got } else { 0 };
    let mut kept = Cursor::new(head);
    kept.set_position(start as u64);
    Ok(kept.take((got - start) as u64).chain(reader))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        skip(bytes).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_mark_is_dropped_and_anything_else_is_kept_whole() {
        assert_eq!(through(b"\xEF\xBB\xBF{}"), b"{}");
        assert_eq!(through(b"{\"a\": 1}"), b"{\"a\": 1}");
        assert_eq!(through(b"\xEF\xBB"), b"\xEF\xBB");
        assert_eq!(through(b"{"), b"{");
        assert_eq!(through(b""), b"");
        assert_eq!(through(b"\xEF\xBB\xBF"), b"");
    }
}
