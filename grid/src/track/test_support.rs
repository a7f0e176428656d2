//! Track builders shared by the track tests.

use gridwarden_protocol::track::TrackPoint;

/// Metres per degree near the sample district (lat 40.84), close enough for
/// building test tracks.
pub const M_PER_DEG_LAT: f64 = 111_050.0;
pub const M_PER_DEG_LON: f64 = 84_100.0;

/// A timed point `east_m`/`north_m` metres from (111.70, 40.84) at `t_s`
/// seconds after a fixed morning.
pub fn at(seq: u32, t_s: i64, east_m: f64, north_m: f64) -> TrackPoint {
    TrackPoint {
        seq,
        time_ms: Some(1_715_905_800_000 + t_s * 1_000),
        lon: 111.70 + east_m / M_PER_DEG_LON,
        lat: 40.84 + north_m / M_PER_DEG_LAT,
        accuracy_m: Some(5.0),
        speed_mps: None,
        segment: 0,
    }
}

/// A walk east at `speed` m/s, one point every `every_s` seconds.
pub fn walk_east(n: u32, every_s: i64, speed: f64) -> Vec<TrackPoint> {
    (0..n)
        .map(|i| {
            let t = i64::from(i) * every_s;
            at(i, t, t as f64 * speed, 0.0)
        })
        .collect()
}
