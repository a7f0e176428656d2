//! Checks shared by the fuzz targets. Each target says what it feeds a
//! decoder and what must hold afterwards; these helpers only compare.

use std::fmt::Debug;

use gridwarden_grid::Cell;
use gridwarden_protocol::codec;
use serde::{de::DeserializeOwned, Serialize};

/// A decoded value must survive encode → decode unchanged, and its encoding
/// must be stable, or two replicas could disagree about the same bytes.
pub fn assert_round_trip<T>(value: &T)
where
    T: Serialize + DeserializeOwned + Debug + PartialEq,
{
    let bytes = codec::encode(value);
    let again: T = codec::decode(&bytes)
        .unwrap_or_else(|e| panic!("the encoding of {value:?} does not decode: {e}"));
    assert_eq!(codec::encode(&again), bytes, "encoding is not stable");
    // A float field may hold NaN, which is never equal to itself; the bytes
    // compared above already pin it, and Debug prints it the same.
    if again != *value {
        assert_eq!(format!("{again:?}"), format!("{value:?}"));
    }
}

/// Cells equal field by field; the area is compared by its bits because a
/// degenerate polygon may have a NaN area and NaN never equals itself.
pub fn assert_same_cells(before: &[Cell], after: &[Cell], what: &str) {
    assert_eq!(before.len(), after.len(), "{what}: cell count changed");
    for (a, b) in before.iter().zip(after) {
        assert_eq!(a.code, b.code, "{what}: code changed");
        assert_eq!(a.name, b.name, "{what}: name of {} changed", a.code);
        assert_eq!(
            a.geometry, b.geometry,
            "{what}: geometry of {} changed",
            a.code
        );
        assert!(
            a.area_m2.to_bits() == b.area_m2.to_bits(),
            "{what}: area of {} changed from {} to {}",
            a.code,
            a.area_m2,
            b.area_m2
        );
    }
}

/// Two values that must be the same message: their encodings are equal
/// (so a NaN in both is the same NaN, which `==` would deny).
pub fn assert_same_encoding<T: Serialize + Debug>(a: &T, b: &T) {
    assert_eq!(
        codec::encode(a),
        codec::encode(b),
        "{a:?} is not {b:?}"
    );
}
