//! GPX tracks in and out: importing a walk recorded by another app, and
//! exporting a patrol for tools that speak GPX.
//!
//! Pure: bytes in, points out, and text out. The import reads the file as a
//! stream of XML events (quick-xml), so memory is bounded by the points
//! kept (at most [`MAX_POINTS_PER_PATROL`]) whatever the file holds, and it
//! never panics on any input.

use gridwarden_protocol::track::{TrackPoint, MAX_POINTS_PER_PATROL};

mod error;
mod read;
mod write;

pub use error::GpxError;
pub use read::parse_gpx;
pub use write::to_gpx;

/// A track read from a GPX file.
#[derive(Debug, Clone, PartialEq)]
pub struct GpxTrack {
    /// The first track's `<name>`, else the file's `<metadata><name>`, else
    /// (for a route-only file) the first route's; at most
    /// [`MAX_PATROL_NOTE_CHARS`](gridwarden_protocol::track::MAX_PATROL_NOTE_CHARS)
    /// characters, trimmed, without the characters a patrol note may not
    /// hold (control characters other than newline and tab) or GPX cannot
    /// (U+FFFE, U+FFFF); `None` when absent or blank.
    pub name: Option<String>,
    /// Every point in file order: `seq` 0, 1, 2…; `segment` counts the
    /// non-empty `<trkseg>`s across all `<trk>`s (0, 1, 2…). Accuracy and
    /// speed are unknown.
    pub points: Vec<TrackPoint>,
}

/// The most points an import may hold (a patrol's limit).
const MAX_POINTS: usize = MAX_POINTS_PER_PATROL as usize;

#[cfg(test)]
mod tests;
