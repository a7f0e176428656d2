//! What a new layer changes against the current one, before it is
//! published: cells added, removed, reshaped and renamed; the users whose
//! cells vanish; the open reports whose cell would change. Removing a cell
//! that is in use (a user holds it, an open report lies in it) is what the
//! import asks `--apply` for.

use std::collections::{BTreeSet, HashMap, HashSet};

use gridwarden_grid::{cell_to_wire, Cell, GridIndex};
use gridwarden_protocol::case::CaseStatus;
use gridwarden_protocol::codec;
use gridwarden_protocol::grid::GridCellWire;
use serde::Serialize;
use uuid::Uuid;

use super::GridMember;
use crate::store::{Store, StoreError, StoreResult};

/// Codes read from the store at a time.
const CHUNK: usize = 512;

#[derive(Clone, Debug, Default, Serialize)]
pub struct LayerChanges {
    /// The layer compared against; 0 when there was none.
    pub current_version: u64,
    /// Cells in the new layer.
    pub cells: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Same code, other geometry.
    pub reshaped: Vec<String>,
    /// Same code, other name.
    pub renamed: Vec<Renamed>,
    pub unchanged: usize,
    /// Users who hold cells the new layer lacks.
    pub users_losing_cells: Vec<UserCells>,
    /// Open reports (no case yet, or a case not closed or rejected) whose
    /// cell on the new layer differs from their cell now.
    pub reports_moving: Vec<ReportMove>,
    /// Removed cells a user holds or an open report lies in.
    pub removed_in_use: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Renamed {
    pub code: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserCells {
    pub user: String,
    pub cells: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportMove {
    pub report: Uuid,
    /// `None`: the report has no cell now.
    pub from: Option<String>,
    /// `None`: outside every cell of the new layer.
    pub to: Option<String>,
}

impl LayerChanges {
    /// Open reports that have a cell now and would get another or none.
    pub fn moving_out(&self) -> impl Iterator<Item = &ReportMove> {
        self.reports_moving.iter().filter(|m| m.from.is_some())
    }

    /// Open reports without a cell now that the new layer places.
    pub fn newly_placed(&self) -> usize {
        self.reports_moving
            .iter()
            .filter(|m| m.from.is_none())
            .count()
    }
}

/// Compares the new layer (`members` and its `cells`, as staged) with the
/// current version in `store`, and places every open report on it.
pub fn compare(
    store: &dyn Store,
    members: &[GridMember],
    cells: Vec<Cell>,
) -> StoreResult<LayerChanges> {
    let current_version = store.grid_version()?;
    let old: HashMap<String, [u8; 32]> = if current_version == 0 {
        HashMap::new()
    } else {
        store
            .grid_members(current_version)?
            .into_iter()
            .map(|m| (m.code, m.hash))
            .collect()
    };
    let new: HashMap<&str, &[u8; 32]> =
        members.iter().map(|m| (m.code.as_str(), &m.hash)).collect();
    let mut changes = LayerChanges {
        current_version,
        cells: members.len(),
        ..LayerChanges::default()
    };
    let mut changed = Vec::new();
    for m in members {
        match old.get(&m.code) {
            None => changes.added.push(m.code.clone()),
            Some(hash) if *hash == m.hash => changes.unchanged += 1,
            Some(_) => changed.push(m.code.clone()),
        }
    }
    changes.removed = old
        .keys()
        .filter(|code| !new.contains_key(code.as_str()))
        .cloned()
        .collect();
    changes.added.sort();
    changes.removed.sort();
    changed.sort();

    // Same code, other content: the name, the rings, or both.
    let by_code: HashMap<&str, &Cell> = cells.iter().map(|c| (c.code.as_str(), c)).collect();
    for chunk in changed.chunks(CHUNK) {
        for (code, bytes) in store.grid_cell_data(current_version, chunk, false)? {
            let before: GridCellWire = codec::decode(&bytes).map_err(|e| {
                StoreError::Corrupt(format!("grid layer {current_version}, cell {code}: {e}"))
            })?;
            let Some(cell) = by_code.get(code.as_str()) else {
                continue;
            };
            let after = cell_to_wire(cell);
            if before.polygons != after.polygons {
                changes.reshaped.push(code.clone());
            }
            if before.name != after.name {
                changes.renamed.push(Renamed {
                    code,
                    from: before.name,
                    to: after.name,
                });
            }
        }
    }

    let removed: HashSet<&str> = changes.removed.iter().map(String::as_str).collect();
    let mut in_use: BTreeSet<String> = BTreeSet::new();
    for user in store.users()? {
        let lost: Vec<String> = user
            .cells
            .iter()
            .filter(|c| !new.contains_key(c.as_str()))
            .cloned()
            .collect();
        in_use.extend(
            lost.iter()
                .filter(|c| removed.contains(c.as_str()))
                .cloned(),
        );
        if !lost.is_empty() {
            changes.users_losing_cells.push(UserCells {
                user: user.name,
                cells: lost,
            });
        }
    }

    let closed: HashSet<Uuid> = store
        .cases()?
        .into_iter()
        .filter(|c| matches!(c.status, CaseStatus::Closed | CaseStatus::Rejected))
        .map(|c| c.report_id)
        .collect();
    let index = GridIndex::new(cells);
    for report in store.reports(false)? {
        if closed.contains(&report.id) {
            continue;
        }
        let Some(loc) = report.location() else {
            continue;
        };
        let from = report.grid_cell().map(str::to_owned);
        if let Some(cell) = from.as_deref().filter(|c| removed.contains(c)) {
            in_use.insert(cell.to_owned());
        }
        let to = index.assign(loc.lon, loc.lat).code().map(str::to_owned);
        if from != to {
            changes.reports_moving.push(ReportMove {
                report: report.id,
                from,
                to,
            });
        }
    }
    changes.removed_in_use = in_use.into_iter().collect();
    Ok(changes)
}
