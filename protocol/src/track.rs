//! Patrols (巡查) on the wire: the ops a device sends about a patrol, the
//! track points it carries and the summary a supervisor reads.
//!
//! A patrol belongs to the device that started it. Its points form a
//! grow-only set keyed by the device's sequence number, so a batch of points
//! sent twice, or two batches arriving in either order, leave the same track.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One GPS fix of a patrol's track (WGS84).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    /// The device's running number for this patrol's points: the point's
    /// identity in the grow-only set, and its order.
    pub seq: u32,
    /// When the fix was taken, ms since the epoch; `None` for tracks imported
    /// without timestamps.
    pub time_ms: Option<i64>,
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: Option<f32>,
    pub speed_mps: Option<f32>,
    /// Track segment: the track is not drawn, measured or walked between the
    /// last point of one segment and the first of the next (a GPX `trkseg`).
    pub segment: u32,
}

/// Start of a patrol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewPatrol {
    /// Device wall clock at the start, ms since the epoch.
    pub started_at_ms: i64,
    /// Free text, e.g. the roads planned or "imported from track.gpx".
    pub note: String,
}

/// What an operation does to one patrol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PatrolOp {
    Start(NewPatrol),
    /// Points thinned on the device, in sequence order.
    Points(Vec<TrackPoint>),
    Stop {
        ended_at_ms: i64,
    },
}

/// The merged facts of a patrol, without its points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatrolInfo {
    pub id: Uuid,
    /// User name of the warden.
    pub warden: String,
    pub device: Uuid,
    pub started_at_ms: i64,
    /// The latest stop seen; `None` while the patrol is under way.
    pub ended_at_ms: Option<i64>,
    pub note: String,
}

impl PatrolInfo {
    /// Joins a stop into the patrol: the latest end wins, so the merge does
    /// not depend on the order stops arrive in.
    pub fn stop(&mut self, ended_at_ms: i64) {
        self.ended_at_ms = self.ended_at_ms.max(Some(ended_at_ms));
    }
}

/// What a supervisor judges a patrol by. Computed by one function
/// (`gridwarden_grid::track::summarise`) from the points, the grid layer and
/// the warden's cells, on the server and on the device alike.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatrolSummary {
    pub info: PatrolInfo,
    pub points: u32,
    /// Points that jump faster than a person walks; not used for distance
    /// or coverage.
    pub flagged: u32,
    pub distance_m: f64,
    /// From the first to the last timed point (or start to stop).
    pub duration_ms: Option<i64>,
    /// How many grid cells the warden covers.
    pub scope_cells: u32,
    /// The warden's cells the track passed through, sorted.
    pub covered_cells: Vec<String>,
    /// Every cell the track passed through, the warden's or not, sorted.
    pub visited_cells: Vec<String>,
    /// Reports recorded on this patrol.
    pub reports: Vec<Uuid>,
}

impl PatrolSummary {
    /// Share of the warden's cells covered, 0.0..=1.0 (0 when the warden has
    /// no cells).
    pub fn coverage(&self) -> f64 {
        if self.scope_cells == 0 {
            0.0
        } else {
            self.covered_cells.len() as f64 / f64::from(self.scope_cells)
        }
    }
}

/// Most points one `Points` op may carry (keeps a push within a frame).
pub const MAX_POINTS_PER_OP: usize = 1_000;
/// Most points one patrol may hold on the server: a full day at one kept
/// point every two seconds, well within one answer frame.
pub const MAX_POINTS_PER_PATROL: u32 = 50_000;
/// Longest patrol note, in characters.
pub const MAX_PATROL_NOTE_CHARS: usize = 300;
