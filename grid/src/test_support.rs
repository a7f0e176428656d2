//! Cell builders shared by the unit tests.

use crate::cell::build_geometry;
use crate::Cell;

/// A closed counter-clockwise square ring with its south-west corner at
/// (`x0`, `y0`) and side `d` degrees.
pub fn square(x0: f64, y0: f64, d: f64) -> Vec<[f64; 2]> {
    rect(x0, y0, x0 + d, y0 + d)
}

pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
}

pub fn square_cell(code: &str, x0: f64, y0: f64, d: f64) -> Cell {
    Cell::new(
        code,
        None,
        build_geometry(vec![vec![square(x0, y0, d)]]).unwrap(),
    )
}

/// Origin of the test grids: south-west corner, near the sample district.
pub const X0: f64 = 111.682;
pub const Y0: f64 = 40.8265;

/// `cols` × `rows` square cells of side `d` degrees from (`X0`, `Y0`); the
/// cell in column `c`, row `r` (counted from the south) has code
/// [`grid_code`]`(c, r)`. Neighbours share their edge coordinates exactly.
pub fn grid_cells(cols: usize, rows: usize, d: f64) -> Vec<Cell> {
    let mut cells = Vec::with_capacity(cols * rows);
    for r in 0..rows {
        for c in 0..cols {
            let ring = rect(
                X0 + c as f64 * d,
                Y0 + r as f64 * d,
                X0 + (c + 1) as f64 * d,
                Y0 + (r + 1) as f64 * d,
            );
            let geometry = build_geometry(vec![vec![ring]]).unwrap();
            cells.push(Cell::new(grid_code(c, r), None, geometry));
        }
    }
    cells
}

pub fn grid_code(c: usize, r: usize) -> String {
    format!("990102001{r:03}{c:03}")
}
