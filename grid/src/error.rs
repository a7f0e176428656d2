//! The one error type of the crate.
//!
//! Every message is written for the IT operator who imported the layer: it
//! says where the problem is (feature or cell index, and the code when one is
//! known) and what is wrong, so the file can be fixed without reading code.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// The text is not JSON at all. `detail` is serde_json's message, which
    /// already ends with "at line L column C"; the numbers are kept apart too
    /// so a caller can point an editor at them.
    #[error("the grid layer is not valid JSON: {detail}")]
    Json {
        detail: String,
        line: usize,
        column: usize,
    },

    /// Valid JSON, but not a GeoJSON FeatureCollection.
    #[error("the grid layer must be a GeoJSON FeatureCollection, but {found}")]
    NotFeatureCollection { found: String },

    /// A FeatureCollection without features: importing it would wipe the grid.
    #[error("the FeatureCollection has no features; a grid layer needs at least one cell")]
    Empty,

    /// One feature of a GeoJSON layer is refused.
    #[error("feature {index}{}: {problem}", CodeSuffix(code.as_deref()))]
    Feature {
        index: usize,
        code: Option<String>,
        problem: String,
    },

    /// One cell of a wire layer (`GridLayerWire`) is refused.
    #[error("cell {index}{}: {problem}", CodeSuffix(code.as_deref()))]
    WireCell {
        index: usize,
        code: Option<String>,
        problem: String,
    },

    /// Two features (or wire cells) carry the same code; `first` is the
    /// index of the one that used it first.
    #[error("feature {index} (code {code:?}): duplicate code, feature {first} already uses it")]
    DuplicateCode {
        index: usize,
        code: String,
        first: usize,
    },

    /// A code pattern specification that cannot be understood.
    #[error("invalid code pattern {spec:?}: {reason}")]
    BadPattern { spec: String, reason: String },

    /// A code that does not match the configured pattern.
    #[error("code {code:?} {reason}")]
    BadCode { code: String, reason: String },
}

/// Renders ` (code "…")` after an index when the code is known.
struct CodeSuffix<'a>(Option<&'a str>);

impl fmt::Display for CodeSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(code) => write!(f, " (code {code:?})"),
            None => Ok(()),
        }
    }
}
