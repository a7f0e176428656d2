//! Ring orientation for cells: exteriors counter-clockwise, holes clockwise,
//! decided so that orienting an oriented polygon changes nothing.
//!
//! geo's `Orient` reads the turn at the ring's westmost vertex. A ring that
//! passes through that vertex twice (two lobes touching there) can turn one
//! way at one visit and the other way at the other; geo looks at the first
//! visit only, so it can orient such a ring against its area (a cell the
//! size of the planet) and flip it again on every call (a layer that changes
//! across `to_wire` → `from_wire`). Those rings are decided by the sign of
//! their area instead, summed exactly so that the reversed ring gets exactly
//! the opposite sign. Every other ring keeps geo's exact vertex test.

use geo::winding_order::{Winding, WindingOrder};
use geo::{Coord, LineString, MultiPolygon, Polygon};

/// Orients every polygon: exterior counter-clockwise, holes clockwise.
pub(crate) fn orient(geometry: MultiPolygon<f64>) -> MultiPolygon<f64> {
    geometry
        .into_iter()
        .map(|polygon| {
            let (exterior, holes) = polygon.into_inner();
            Polygon::new(
                wind(exterior, WindingOrder::CounterClockwise),
                holes
                    .into_iter()
                    .map(|h| wind(h, WindingOrder::Clockwise))
                    .collect(),
            )
        })
        .collect()
}

/// The ring, reversed when it runs against `want`. A ring with no
/// orientation (no area at its decisive point) is left as it is.
fn wind(mut ring: LineString<f64>, want: WindingOrder) -> LineString<f64> {
    let found = if westmost_visited_twice(&ring) {
        area_winding(&ring)
    } else {
        ring.winding_order()
    };
    if found.is_some_and(|found| found != want) {
        ring.0.reverse();
    }
    ring
}

/// Whether the westmost (then southmost) position occurs more than once,
/// the closing repetition of the first position aside. Reversing a closed
/// ring keeps its positions, so the answer does not depend on direction.
fn westmost_visited_twice(ring: &LineString<f64>) -> bool {
    let open = match ring.0.split_last() {
        Some((last, rest)) if rest.first() == Some(last) => rest,
        _ => &ring.0[..],
    };
    let key = |c: &Coord<f64>| (c.x, c.y);
    let Some(least) = open.iter().min_by(|a, b| {
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    }) else {
        return false;
    };
    open.iter().filter(|c| *c == least).count() > 1
}

/// The winding given by the sign of the ring's area (shoelace, relative to
/// its first position, which reversal keeps). Each product is one term of
/// an exact sum, so reversal, which negates every term exactly, negates the
/// sum exactly and the answer flips with it, whatever the rounding.
fn area_winding(ring: &LineString<f64>) -> Option<WindingOrder> {
    let origin = *ring.0.first()?;
    let mut sum = ExactSum::default();
    for edge in ring.0.windows(2) {
        let (a, b) = (edge[0] - origin, edge[1] - origin);
        sum.add(a.x * b.y);
        sum.add(-(b.x * a.y));
    }
    match sum.sign() {
        s if s > 0.0 => Some(WindingOrder::CounterClockwise),
        s if s < 0.0 => Some(WindingOrder::Clockwise),
        _ => None,
    }
}

/// Shewchuk's exact summation: the sum is held as non-overlapping partials
/// in increasing magnitude, so nothing is lost to rounding.
#[derive(Default)]
struct ExactSum {
    partials: Vec<f64>,
}

impl ExactSum {
    fn add(&mut self, mut x: f64) {
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        self.partials.push(x);
    }

    /// The largest non-zero partial outweighs all the smaller ones, so it
    /// carries the sign of the exact sum (0.0 when the sum is exactly 0).
    fn sign(&self) -> f64 {
        self.partials
            .iter()
            .rev()
            .copied()
            .find(|p| *p != 0.0)
            .unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sum_keeps_what_rounding_would_lose() {
        let mut sum = ExactSum::default();
        for x in [1e16, 1.0, -1e16] {
            sum.add(x);
        }
        assert_eq!(sum.sign(), 1.0);
        let mut zero = ExactSum::default();
        for x in [0.1, 0.2, -0.1, -0.2] {
            zero.add(x);
        }
        assert_eq!(zero.sign(), 0.0);
    }

    #[test]
    fn a_simple_ring_is_oriented_as_geo_does() {
        let square: LineString<f64> =
            vec![(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0)].into();
        let ccw = wind(square.clone(), WindingOrder::CounterClockwise);
        assert!(ccw.is_ccw());
        assert_eq!(wind(ccw.clone(), WindingOrder::Clockwise), square);
        assert!(!westmost_visited_twice(&square));
    }
}
