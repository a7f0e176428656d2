//! Realistic test layers: a city of cells drawn along streets, for the
//! tests and the benchmark harness (`gridwarden-grid-synth` writes one as
//! GeoJSON).
//!
//! The city is a lattice of blocks whose corners are nudged (no street is
//! straight for long) and whose edges wander like kerbs and building lines:
//! each edge between two corners carries many vertices offset by a few
//! metres with a smooth wobble. An edge's vertices depend only on the edge
//! (and the seed), so the two cells on either side of a street share them
//! exactly: the layer has no gaps and no overlaps. Everything follows from
//! the seed: the same spec always gives the same bytes.

use std::io::{self, Write};

use geo::{LineString, MultiPolygon, Polygon};

use crate::Cell;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct StreetGrid {
    /// Number of cells; laid out row by row in a near-square block.
    pub cells: usize,
    /// Vertices per cell (the ring's distinct positions), at least 4,
    /// rounded up to a multiple of 4 (one share per side).
    pub vertices: usize,
    pub seed: u64,
    /// South-west corner, degrees.
    pub origin: [f64; 2],
    /// Side of a block in degrees of latitude (~111 m per 0.001).
    pub block_deg: f64,
    /// Cells (by index) whose content differs in this revision: their name
    /// carries the revision, so a re-import sees them as changed.
    pub changed: Vec<usize>,
    pub revision: u32,
}

impl StreetGrid {
    /// `cells` cells of `vertices` vertices each in the fictional district
    /// (region code 990102, near lon 111.6, lat 40.8).
    pub fn city(cells: usize, vertices: usize, seed: u64) -> Self {
        StreetGrid {
            cells,
            vertices: vertices.max(4),
            seed,
            origin: [111.55, 40.75],
            block_deg: 0.001,
            changed: Vec::new(),
            revision: 1,
        }
    }

    /// The same city with `changed` cells altered, as revision `revision`.
    pub fn revised(&self, revision: u32, changed: Vec<usize>) -> Self {
        StreetGrid {
            changed,
            revision,
            ..self.clone()
        }
    }

    /// Columns of the block (rows follow from the cell count).
    pub fn cols(&self) -> usize {
        ((self.cells as f64).sqrt().ceil() as usize).max(1)
    }

    /// Column and row (from the south-west) of cell `i`.
    pub fn position(&self, i: usize) -> (usize, usize) {
        (i % self.cols(), i / self.cols())
    }

    /// Cell `i`'s 15-digit code: 990102 + street + community + sequence, in
    /// row-major order, so codes sort as the cells lie.
    pub fn code(i: usize) -> String {
        let seq = i % 999 + 1;
        let community = (i / 999) % 999 + 1;
        let street = i / (999 * 999) + 1;
        format!("990102{street:03}{community:03}{seq:03}")
    }

    /// Index of the cell at a column and row, if there is one.
    pub fn index_at(&self, col: usize, row: usize) -> Option<usize> {
        let i = row.checked_mul(self.cols())?.checked_add(col)?;
        (col < self.cols() && i < self.cells).then_some(i)
    }

    /// A point well inside cell `i` (its block's centre): no wobble or nudge
    /// reaches it.
    pub fn inside(&self, i: usize) -> [f64; 2] {
        let (c, r) = self.position(i);
        let a = self.corner(c, r);
        let b = self.corner(c + 1, r + 1);
        [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
    }

    /// Every cell, in code order.
    pub fn iter(&self) -> impl Iterator<Item = Cell> + '_ {
        (0..self.cells).map(|i| self.cell(i))
    }

    pub fn cell(&self, i: usize) -> Cell {
        let name = if self.changed.contains(&i) {
            Some(format!("block {i} rev {}", self.revision))
        } else {
            None
        };
        Cell::new(
            Self::code(i),
            name,
            MultiPolygon(vec![Polygon::new(self.ring(i), vec![])]),
        )
    }

    /// Writes the layer as a GeoJSON FeatureCollection, one feature at a
    /// time (a 50,000-cell city is over 100 MB of text).
    pub fn write_geojson(&self, out: impl Write) -> io::Result<()> {
        let mut out = io::BufWriter::with_capacity(1 << 16, out);
        out.write_all(
            b"{\"type\":\"FeatureCollection\",\"name\":\"synthetic city\",\"features\":[\n",
        )?;
        for i in 0..self.cells {
            if i > 0 {
                out.write_all(b",\n")?;
            }
            let cell = self.cell(i);
            write!(
                out,
                "{{\"type\":\"Feature\",\"properties\":{{\"code\":\"{}\"",
                cell.code
            )?;
            if let Some(name) = &cell.name {
                write!(out, ",\"name\":\"{name}\"")?;
            }
            out.write_all(b"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[")?;
            for (k, c) in self.ring(i).0.iter().enumerate() {
                if k > 0 {
                    out.write_all(b",")?;
                }
                write!(out, "[{:.7},{:.7}]", c.x, c.y)?;
            }
            out.write_all(b"]]}}")?;
        }
        out.write_all(b"\n]}\n")?;
        out.flush()
    }

    /// The GeoJSON as a string (small layers, tests).
    pub fn geojson(&self) -> String {
        let mut buf = Vec::new();
        self.write_geojson(&mut buf).expect("writing to memory");
        String::from_utf8(buf).expect("the generator writes UTF-8")
    }

    /// Cell `i`'s closed ring, counter-clockwise: south edge west→east, east
    /// edge south→north, north edge east→west, west edge north→south.
    fn ring(&self, i: usize) -> LineString<f64> {
        let (c, r) = self.position(i);
        let n = self.vertices.div_ceil(4);
        let mut ring = Vec::with_capacity(self.vertices + 1);
        ring.extend(self.edge((c, r), (c + 1, r), n));
        ring.extend(self.edge((c + 1, r), (c + 1, r + 1), n));
        ring.extend(self.edge((c + 1, r + 1), (c, r + 1), n));
        ring.extend(self.edge((c, r + 1), (c, r), n));
        ring.push(ring[0]);
        LineString::from(ring.into_iter().map(|p| (p[0], p[1])).collect::<Vec<_>>())
    }

    /// The corner `from` and the `n - 1` vertices after it along the street
    /// to `to` (not `to` itself). Computed in the edge's canonical direction
    /// and reversed when walked the other way, so both neighbours agree to
    /// the last bit.
    fn edge(&self, from: (usize, usize), to: (usize, usize), n: usize) -> Vec<[f64; 2]> {
        let (a, b, reversed) = if from <= to {
            (from, to, false)
        } else {
            (to, from, true)
        };
        let (pa, pb) = (self.corner(a.0, a.1), self.corner(b.0, b.1));
        let key = mix(self.seed
            ^ mix((a.0 as u64) << 32 | a.1 as u64)
            ^ mix(b.0 as u64 ^ (b.1 as u64) << 20));
        let phase = unit(key) * std::f64::consts::TAU;
        let freq = 1.0 + (key >> 60) as f64;
        // A few metres of wobble on a ~100 m block.
        let amp = self.block_deg * 0.03;
        let (dx, dy) = (pb[0] - pa[0], pb[1] - pa[1]);
        let len = dx.hypot(dy);
        let (nx, ny) = (-dy / len, dx / len);
        let mut pts: Vec<[f64; 2]> = (0..=n)
            .map(|k| {
                let t = k as f64 / n as f64;
                // Zero at both corners, so edges meet where the corners are.
                let w = amp
                    * (std::f64::consts::PI * t).sin()
                    * (0.6 * (freq * std::f64::consts::TAU * t + phase).sin()
                        + 0.4 * unit(mix(key ^ k as u64)));
                round7([pa[0] + dx * t + nx * w, pa[1] + dy * t + ny * w])
            })
            .collect();
        if reversed {
            pts.reverse();
        }
        pts.pop();
        pts
    }

    /// Lattice corner (`col`, `row`), nudged by up to 12 % of a block.
    fn corner(&self, col: usize, row: usize) -> [f64; 2] {
        let k = mix(self.seed ^ mix((col as u64) << 32 | row as u64));
        let jx = (unit(k) - 0.5) * 0.24 * self.block_deg;
        let jy = (unit(mix(k)) - 0.5) * 0.24 * self.block_deg;
        // Degrees of longitude are shorter: keep blocks roughly square.
        let kx = 1.0 / (self.origin[1].to_radians().cos());
        round7([
            self.origin[0] + (col as f64 * self.block_deg + jx) * kx,
            self.origin[1] + row as f64 * self.block_deg + jy,
        ])
    }
}

/// splitmix64's finaliser: a well-spread hash of a counter.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash mapped to [0, 1).
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Rounded to 1e-7° (~1 cm), as the GeoJSON is written, so cells built in
/// memory and cells read back from the file are equal.
fn round7(p: [f64; 2]) -> [f64; 2] {
    [(p[0] * 1e7).round() / 1e7, (p[1] * 1e7).round() / 1e7]
}

#[cfg(test)]
mod tests;
