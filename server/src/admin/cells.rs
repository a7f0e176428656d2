//! A user's cells changed by IT (`users cells NAME --add … --remove …`):
//! the cells added must be in the current layer, the change and its audit
//! line are one unit of work. Their devices catch up at their next sync,
//! which a device connected to a serving process of a shared store makes at
//! once (it is told):
//! the older reports and cases of added cells arrive, the copies of removed
//! cells' reports leave (`service/scope.rs`).

use anyhow::bail;

use super::access;
use crate::datadir::DataDir;
use crate::store::{StoreError, User};

/// Adds `add` to and removes `remove` from `name`'s cells; returns the user
/// as changed. A cell added that the layer lacks, one added that the user
/// holds, or one removed that they do not hold is refused, changing nothing.
pub fn set_user_cells(
    data: &DataDir,
    name: &str,
    add: &[String],
    remove: &[String],
) -> anyhow::Result<User> {
    if add.is_empty() && remove.is_empty() {
        bail!("name cells to --add or --remove");
    }
    if let Some(both) = add.iter().find(|c| remove.contains(c)) {
        bail!("cell {both} is both added and removed");
    }
    if let Some(grid) = data.service.grid()? {
        let unknown: Vec<&str> = add
            .iter()
            .filter(|c| grid.cell(c).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            bail!(
                "no cell with code {} in the current grid layer; see `gridwarden-server grids list`",
                unknown.join(", ")
            );
        }
    }
    let at_ms = data.service.now();
    let outcome = crate::store::write(data.store().as_ref(), |tx| {
        let Some(user) = tx.user(name)? else {
            return Ok(Err(anyhow::anyhow!("no user `{name}`")));
        };
        if let Some(held) = add.iter().find(|c| user.cells.contains(c)) {
            return Ok(Err(anyhow::anyhow!("`{name}` already covers cell {held}")));
        }
        if let Some(missing) = remove.iter().find(|c| !user.cells.contains(c)) {
            return Ok(Err(anyhow::anyhow!(
                "`{name}` does not cover cell {missing}"
            )));
        }
        let mut cells: Vec<String> = user
            .cells
            .iter()
            .filter(|c| !remove.contains(c))
            .chain(add)
            .cloned()
            .collect();
        cells.sort();
        cells.dedup();
        let changed = tx.set_user_cells(name, &cells)?;
        let mut audit = access::record(
            data,
            "user.cells",
            name,
            format!(
                "added {}; removed {}; now {}",
                list(add),
                list(remove),
                list(&changed.cells)
            ),
        );
        audit.at_ms = at_ms;
        tx.append_audit(&audit)?;
        Ok::<_, StoreError>(Ok(changed))
    })??;
    // Their devices connected to a serving process pull at once (on a
    // store several processes share; ADR 0033).
    data.service.tell_scope_changed(name);
    Ok(outcome)
}

fn list(cells: &[String]) -> String {
    if cells.is_empty() {
        "none".to_owned()
    } else {
        cells.join(",")
    }
}
