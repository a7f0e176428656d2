//! The catalog of a layer version: its cells' codes, content hashes and
//! boxes, with an R-tree over the boxes. It answers which cells a user's
//! device should hold (their cells and the neighbours within a margin) and
//! which of those changed between two versions, without touching geometry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::GridMember;
use crate::store::{Store, StoreResult};

/// How far around a user's cells their device also holds cells: beyond
/// the 50 m within which a point outside every cell still goes to the
/// nearest one, so the device's guess near its edge matches the server's.
pub const SCOPE_MARGIN_M: f64 = 60.0;

/// Which part of a layer a device receives, in which detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// The user's cells and their neighbours, full geometry.
    Scope,
    /// Every cell as a display shape.
    WholeDisplay,
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

pub struct Catalog {
    pub version: u64,
    pub name: String,
    /// In code order.
    members: Vec<GridMember>,
    by_code: HashMap<String, usize>,
    tree: RTree<Entry>,
}

impl Catalog {
    pub fn new(version: u64, name: String, mut members: Vec<GridMember>) -> Self {
        members.sort_by(|a, b| a.code.cmp(&b.code));
        let by_code = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.code.clone(), i))
            .collect();
        let entries = members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let [x0, y0, x1, y1] = m.bbox;
                GeomWithData::new(Rectangle::from_corners([x0, y0], [x1, y1]), i)
            })
            .collect();
        Catalog {
            version,
            name,
            members,
            by_code,
            tree: RTree::bulk_load(entries),
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn member(&self, i: usize) -> &GridMember {
        &self.members[i]
    }

    pub fn get(&self, code: &str) -> Option<&GridMember> {
        self.by_code.get(code).map(|&i| &self.members[i])
    }

    /// Indices (in code order) of the cells a device covering `cells` holds.
    pub fn scope(&self, coverage: Coverage, cells: &[String]) -> Vec<usize> {
        if coverage == Coverage::WholeDisplay {
            return (0..self.members.len()).collect();
        }
        let mut picked = vec![false; self.members.len()];
        for code in cells {
            let Some(&i) = self.by_code.get(code) else {
                continue;
            };
            let [x0, y0, x1, y1] = self.members[i].bbox;
            let (dlon, dlat) = margin_deg((y0 + y1) / 2.0);
            let query = AABB::from_corners([x0 - dlon, y0 - dlat], [x1 + dlon, y1 + dlat]);
            for hit in self.tree.locate_in_envelope_intersecting(&query) {
                picked[hit.data] = true;
            }
        }
        (0..picked.len()).filter(|&i| picked[i]).collect()
    }
}

/// [`SCOPE_MARGIN_M`] in degrees of longitude and latitude at `lat`
/// (a spherical scale, generous by the 2 % it may be off).
fn margin_deg(lat: f64) -> (f64, f64) {
    let m = SCOPE_MARGIN_M * 1.02;
    let dlat = m / 111_132.0;
    let cos = lat.to_radians().cos().max(0.01);
    (dlat / cos, dlat)
}

/// Catalogs of recent versions, built on first use: the current one is
/// asked for by every device's grid sync, the one before by their deltas.
#[derive(Default)]
pub struct CatalogCache {
    kept: Mutex<Vec<Arc<Catalog>>>,
}

/// Versions kept in memory (current and previous, and one more for a
/// download that straddles an import).
const KEPT: usize = 3;

impl CatalogCache {
    /// The catalog of `version`, `None` when no such version is stored.
    pub fn get(&self, store: &dyn Store, version: u64) -> StoreResult<Option<Arc<Catalog>>> {
        if let Some(c) = self
            .kept
            .lock()
            .expect("catalog lock")
            .iter()
            .find(|c| c.version == version)
        {
            return Ok(Some(c.clone()));
        }
        let Some(info) = store
            .grid_layers()?
            .into_iter()
            .find(|l| l.version == version)
        else {
            return Ok(None);
        };
        let members = store.grid_members(version)?;
        let catalog = Arc::new(Catalog::new(version, info.name, members));
        let mut kept = self.kept.lock().expect("catalog lock");
        kept.retain(|c| c.version != version);
        kept.push(catalog.clone());
        if kept.len() > KEPT {
            kept.sort_by_key(|c| std::cmp::Reverse(c.version));
            kept.truncate(KEPT);
        }
        Ok(Some(catalog))
    }
}
