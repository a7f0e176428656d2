//! Patrol tracks (巡查轨迹): thinning on the device, flagging GPS jumps, and
//! the summary a supervisor judges a patrol by.
//!
//! Pure and deterministic: the server and the phone call [`summarise`] with
//! the same points, layer and scope and must get the same summary, so every
//! step runs in sequence order, sums floating point in one fixed order and
//! never iterates a hash map.

use gridwarden_protocol::track::TrackPoint;

mod flag;
mod geojson;
mod summary;
mod tally;
mod thin;

pub use flag::flag_jumps;
pub use geojson::to_geojson;
pub use summary::{assemble, summarise, TrackFacts};
pub use tally::Tally;
pub use thin::Thinner;

/// Fastest a warden on foot is believed to move, m/s (10.8 km/h). Brisk
/// walking is ~1.5–2 m/s, so 3 m/s leaves room for a short jog and for GPS
/// error between two fixes, yet a car, a bus or a bad fix goes faster.
pub const MAX_WALKING_SPEED_MPS: f64 = 3.0;

/// Smallest move the device records, metres. A phone standing still wanders
/// by a few metres between fixes; below 5 m a new fix is mostly noise, and
/// a sharp turn at a street corner still moves more than that.
pub const MIN_STEP_M: f64 = 5.0;

/// Longest the device goes without keeping a point, ms, even standing still:
/// a heartbeat every 2 minutes shows the warden was there (at a report, a
/// talk with a shopkeeper) without storing the noise of every fix.
pub const MAX_GAP_MS: i64 = 120_000;

/// Moves up to this far are never called jumps, metres: ordinary phone GPS
/// error in a street canyon, so two fixes a second apart may disagree by
/// this much without the warden having run.
pub const JITTER_M: f64 = 25.0;

/// Great-circle (haversine) distance in metres between two WGS84 positions
/// given as longitude and latitude in degrees.
pub fn distance_m(a_lon: f64, a_lat: f64, b_lon: f64, b_lat: f64) -> f64 {
    crate::metric::haversine_m(a_lon, a_lat, b_lon, b_lat)
}

/// Metres between two track points.
fn step_m(a: &TrackPoint, b: &TrackPoint) -> f64 {
    distance_m(a.lon, a.lat, b.lon, b.lat)
}

/// The order every function here works in: by `seq`, and for the duplicates
/// a careless caller might pass, by every other field, so the result does
/// not depend on the order points arrived in.
pub(crate) fn sorted(points: &[TrackPoint]) -> Vec<TrackPoint> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| {
        a.seq
            .cmp(&b.seq)
            .then(a.segment.cmp(&b.segment))
            .then(a.time_ms.cmp(&b.time_ms))
            .then(a.lon.total_cmp(&b.lon))
            .then(a.lat.total_cmp(&b.lat))
            .then(
                a.accuracy_m
                    .map(f32::to_bits)
                    .cmp(&b.accuracy_m.map(f32::to_bits)),
            )
            .then(
                a.speed_mps
                    .map(f32::to_bits)
                    .cmp(&b.speed_mps.map(f32::to_bits)),
            )
    });
    sorted
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_of_a_hundred_metres_east() {
        // 0.001 19° of longitude at 40.84 N is ~100 m.
        let d = distance_m(111.7, 40.84, 111.701_19, 40.84);
        assert!((d - 100.3).abs() < 0.5, "{d}");
        assert_eq!(distance_m(111.7, 40.84, 111.7, 40.84), 0.0);
    }
}
