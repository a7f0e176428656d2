//! Metres around a point, for the "near a cell" search, and between two
//! track points.
//!
//! Within the 50 m search radius a local equirectangular projection is
//! exact to far better than 0.1 %, provided its scale comes from the WGS84
//! ellipsoid rather than a sphere (a sphere is off by up to ~0.5 % in
//! latitude). It costs a multiply per coordinate, which keeps the search
//! cheap enough for millions of points per second.

/// WGS84 semi-major axis, metres.
const WGS84_A: f64 = 6_378_137.0;
/// WGS84 first eccentricity squared.
const WGS84_E2: f64 = 6.694_379_990_141_316e-3;

/// Metres per degree of longitude (`kx`) and latitude (`ky`) at one latitude.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalScale {
    pub kx: f64,
    pub ky: f64,
}

impl LocalScale {
    pub fn at(lat_deg: f64) -> Self {
        let (sin, cos) = lat_deg.to_radians().sin_cos();
        let w = 1.0 - WGS84_E2 * sin * sin;
        // Radii of curvature in the meridian (M) and the prime vertical (N).
        let m = WGS84_A * (1.0 - WGS84_E2) / (w * w.sqrt());
        let n = WGS84_A / w.sqrt();
        let per_rad = std::f64::consts::PI / 180.0;
        LocalScale {
            kx: n * cos * per_rad,
            ky: m * per_rad,
        }
    }

    /// Half-sizes in degrees of a box holding every point within `metres`,
    /// with a margin for the scale changing across the box. Near the poles
    /// the longitude span is capped at the whole circle.
    pub fn degrees_for(&self, metres: f64) -> (f64, f64) {
        let margin = 1.01;
        let dlon = if self.kx * 360.0 > metres {
            (metres * margin / self.kx).min(360.0)
        } else {
            360.0
        };
        (dlon, metres * margin / self.ky)
    }
}

/// Mean Earth radius (IUGG R1), metres: the sphere that best fits WGS84
/// for great-circle distances.
const MEAN_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres (haversine on the mean sphere). Off from
/// the ellipsoid by at most ~0.5 %, the same for every patrol, which is
/// what comparing walked distances needs; and a few trig calls per pair.
pub(crate) fn haversine_m(a_lon: f64, a_lat: f64, b_lon: f64, b_lat: f64) -> f64 {
    let (phi1, phi2) = (a_lat.to_radians(), b_lat.to_radians());
    let dphi = (b_lat - a_lat).to_radians();
    let dlambda = (b_lon - a_lon).to_radians();
    let h = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    // `min` keeps rounding from pushing the argument of asin past 1.
    2.0 * MEAN_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Distance in metres from the origin of a local projection to the segment
/// `a`–`b` (both already in local metres).
#[inline]
pub(crate) fn origin_to_segment(a: [f64; 2], b: [f64; 2]) -> f64 {
    let d = [b[0] - a[0], b[1] - a[1]];
    let len2 = d[0] * d[0] + d[1] * d[1];
    // Parameter of the foot of the perpendicular from the origin, clamped to
    // the segment; a zero-length segment is its start point.
    let t = if len2 > 0.0 {
        (-(a[0] * d[0] + a[1] * d[1]) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let p = [a[0] + t * d[0], a[1] + t * d[1]];
    p[0].hypot(p[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Distance, Geodesic, Point};

    #[test]
    fn local_scale_matches_geodesic_distances() {
        for lat in [0.0, 22.5, 40.84, 60.0, 80.0] {
            let s = LocalScale::at(lat);
            let p = Point::new(111.7, lat);
            let east = Geodesic.distance(p, Point::new(111.7 + 0.001, lat));
            let north = Geodesic.distance(p, Point::new(111.7, lat + 0.001));
            assert!(
                (s.kx * 0.001 - east).abs() / east < 1e-4,
                "{lat}: {} vs {east}",
                s.kx * 0.001
            );
            assert!(
                (s.ky * 0.001 - north).abs() / north < 1e-4,
                "{lat}: {} vs {north}",
                s.ky * 0.001
            );
        }
    }

    #[test]
    fn search_box_never_degenerates_at_the_pole() {
        let (dlon, dlat) = LocalScale::at(90.0).degrees_for(50.0);
        assert_eq!(dlon, 360.0);
        assert!(dlat > 0.0 && dlat < 0.001);
    }

    #[test]
    fn haversine_matches_geodesic_within_half_a_percent() {
        for (a, b) in [
            ((111.7, 40.84), (111.701, 40.84)),
            ((111.7, 40.84), (111.7, 40.85)),
            ((0.0, 0.0), (1.0, 1.0)),
            ((-73.99, 40.73), (2.35, 48.86)),
        ] {
            let h = haversine_m(a.0, a.1, b.0, b.1);
            let g = Geodesic.distance(Point::new(a.0, a.1), Point::new(b.0, b.1));
            assert!((h - g).abs() / g < 5e-3, "{a:?}->{b:?}: {h} vs {g}");
        }
        assert_eq!(haversine_m(111.7, 40.84, 111.7, 40.84), 0.0);
        // Antipodes: half the circumference, no NaN from asin(1 + ε).
        let half = haversine_m(0.0, 0.0, 180.0, 0.0);
        assert!((half - MEAN_RADIUS_M * std::f64::consts::PI).abs() < 1e-6);
    }

    #[test]
    fn segment_distance() {
        assert_eq!(origin_to_segment([3.0, -1.0], [3.0, 1.0]), 3.0);
        assert_eq!(origin_to_segment([3.0, 4.0], [6.0, 8.0]), 5.0);
        assert_eq!(origin_to_segment([3.0, 4.0], [3.0, 4.0]), 5.0);
    }
}
