//! A synthetic grid layer: `cols × rows` square-ish cells of ~250 m × 333 m
//! near Hohhot, with 15-digit codes, and pseudo-random points over it. The
//! grid-assignment figure runs against 100 × 100 of them; the fleet imports
//! one cell per device.

use geo::{LineString, MultiPolygon, Polygon};
use gridwarden_grid::Cell;

/// Cell side in degrees.
const D: f64 = 0.003;
const X0: f64 = 111.55;
const Y0: f64 = 40.69;

#[derive(Clone, Copy, Debug)]
pub struct SyntheticGrid {
    pub cols: usize,
    pub rows: usize,
}

impl SyntheticGrid {
    pub fn new(cols: usize, rows: usize) -> Self {
        assert!(cols <= 999 && rows <= 999, "codes hold three digits each");
        Self { cols, rows }
    }

    pub fn len(&self) -> usize {
        self.cols * self.rows
    }

    /// Code of the cell at row `r`, column `c`: region 990102, then the row
    /// as "street", the column as "community", and sequence 001.
    pub fn code(r: usize, c: usize) -> String {
        format!("990102{r:03}{c:03}001")
    }

    /// The code of cell number `i` (row-major).
    pub fn code_of(&self, i: usize) -> String {
        Self::code(i / self.cols, i % self.cols)
    }

    /// The centre of cell number `i` (row-major).
    pub fn centre_of(&self, i: usize) -> (f64, f64) {
        let (r, c) = (i / self.cols, i % self.cols);
        (X0 + (c as f64 + 0.5) * D, Y0 + (r as f64 + 0.5) * D)
    }

    fn ring(r: usize, c: usize) -> Vec<(f64, f64)> {
        let (x0, y0) = (X0 + c as f64 * D, Y0 + r as f64 * D);
        let (x1, y1) = (X0 + (c + 1) as f64 * D, Y0 + (r + 1) as f64 * D);
        vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    }

    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::with_capacity(self.len());
        for r in 0..self.rows {
            for c in 0..self.cols {
                let ring = LineString::from(Self::ring(r, c));
                let geometry = MultiPolygon(vec![Polygon::new(ring, vec![])]);
                cells.push(Cell::new(Self::code(r, c), None, geometry));
            }
        }
        cells
    }

    /// The layer as the GeoJSON FeatureCollection IT would import.
    pub fn geojson(&self) -> String {
        let mut features = Vec::with_capacity(self.len());
        for r in 0..self.rows {
            for c in 0..self.cols {
                let ring: Vec<[f64; 2]> =
                    Self::ring(r, c).into_iter().map(|(x, y)| [x, y]).collect();
                features.push(serde_json::json!({
                    "type": "Feature",
                    "properties": { "code": Self::code(r, c) },
                    "geometry": { "type": "Polygon", "coordinates": [ring] },
                }));
            }
        }
        serde_json::json!({ "type": "FeatureCollection", "features": features }).to_string()
    }

    /// `n` uniform points over the grid widened by 1/√0.9 on every side, so
    /// ~90 % fall inside and ~10 % exercise the nearest-cell search.
    pub fn points(&self, n: usize) -> Vec<(f64, f64)> {
        let (half_x, half_y) = (self.cols as f64 * D / 2.0, self.rows as f64 * D / 2.0);
        let (cx, cy) = (X0 + half_x, Y0 + half_y);
        let widen = 1.0 / 0.9f64.sqrt();
        let mut random = SplitMix64(0x9E37_79B9_7F4A_7C15);
        (0..n)
            .map(|_| {
                (
                    cx + (2.0 * random.unit() - 1.0) * half_x * widen,
                    cy + (2.0 * random.unit() - 1.0) * half_y * widen,
                )
            })
            .collect()
    }
}

/// splitmix64: deterministic and dependency-free, the same points every run.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
