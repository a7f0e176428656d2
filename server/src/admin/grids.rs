//! Grid layers in and out: an import says what it changes against the
//! current layer and holds back a layer that removes cells in use unless
//! told to apply it; an export writes a stored version out again in a form
//! the import reads back.

use std::collections::HashSet;
use std::io::{Read, Write};

use anyhow::{bail, Context};
use gridwarden_grid::{cell_from_wire, CodePattern, Fields, LayerWriter};
use gridwarden_protocol::case::CaseStatus;
use gridwarden_protocol::codec;
use gridwarden_protocol::grid::GridCellWire;
use serde::Serialize;
use uuid::Uuid;

use super::access;
use crate::datadir::DataDir;
use crate::grid::{diff, LayerChanges};

/// Cells read from the store at a time while exporting.
const CHUNK: usize = 512;

/// How to import a layer.
#[derive(Clone, Debug)]
pub struct GridImport<'a> {
    pub name: &'a str,
    pub pattern: &'a CodePattern,
    pub fields: &'a Fields,
    /// Publish even when the layer removes cells in use.
    pub apply: bool,
    /// Re-place every open report on the new layer (not only those without
    /// a cell).
    pub reassign: bool,
    /// Only say what would change.
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct ImportSummary {
    pub version: u64,
    pub name: String,
    pub cells: usize,
    /// Reports that received a cell (or, with `reassign`, another one).
    pub reports_assigned: usize,
    /// Reports still outside every cell.
    pub reports_unassigned: usize,
    /// What the layer changed against the one before.
    pub changes: LayerChanges,
}

/// Why a layer was not published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    DryRun,
    /// It removes cells users hold or open reports lie in; `apply` says go.
    CellsInUse,
}

#[derive(Debug)]
pub enum ImportOutcome {
    Imported(ImportSummary),
    /// Nothing changed: the content staged while the layer was read is
    /// removed again.
    Held {
        why: Held,
        changes: LayerChanges,
    },
}

/// Imports a layer read from `reader` (streamed: a city's file is never
/// held whole) as the new current version, unless it is held back.
pub fn import(
    data: &DataDir,
    reader: impl Read,
    how: &GridImport,
) -> anyhow::Result<ImportOutcome> {
    let store = data.store();
    // Devices receive cells in pages of at most a frame; one cell must fit
    // in a page with room to spare. No limit applies to the layer.
    let max_cell_bytes = data.service.limits().max_frame / 4;
    let staged = crate::grid::stage_layer(
        store.as_ref(),
        reader,
        how.pattern,
        how.fields,
        max_cell_bytes,
    )?;
    let crate::grid::Staged { members, cells } = staged;
    let changes = diff::compare(store.as_ref(), &members, cells);
    let held = match &changes {
        Err(_) => None,
        Ok(_) if how.dry_run => Some(Held::DryRun),
        Ok(c) if !how.apply && !c.removed_in_use.is_empty() => Some(Held::CellsInUse),
        Ok(_) => None,
    };
    if changes.is_err() || held.is_some() {
        // Nothing of a layer that is not published stays behind.
        crate::grid::discard(store.as_ref(), &members)?;
    }
    let changes = changes?;
    if let Some(why) = held {
        return Ok(ImportOutcome::Held { why, changes });
    }
    if store.grid_version()? != changes.current_version {
        crate::grid::discard(store.as_ref(), &members)?;
        bail!("another layer was imported while this one was read; run the import again to compare with it");
    }
    // The layer and its audit line are published together; re-placing the
    // reports is its own change, with its own line in its own transaction.
    let version = crate::store::write(store.as_ref(), |tx| {
        let version = tx.commit_grid_layer(how.name, &members, data.service.now())?;
        tx.append_audit(&access::record(
            data,
            "grid.import",
            &format!("layer v{version}"),
            format!(
                "{:?}: {} cells ({} added, {} removed, {} reshaped, {} renamed){}{}",
                how.name,
                members.len(),
                changes.added.len(),
                changes.removed.len(),
                changes.reshaped.len(),
                changes.renamed.len(),
                if how.reassign { "; --reassign" } else { "" },
                if changes.removed_in_use.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; --apply removed cells in use: {}",
                        changes.removed_in_use.join(",")
                    )
                },
            ),
        ))?;
        Ok(version)
    })?;
    let line = |assigned: usize| {
        access::record(
            data,
            "grid.reassign",
            &format!("layer v{version}"),
            format!(
                "{assigned} reports assigned{}",
                if how.reassign { " (--reassign)" } else { "" }
            ),
        )
    };
    let reports_assigned = if how.reassign {
        let closed = closed_reports(data)?;
        data.service
            .reassign_audited(false, &|r| !closed.contains(&r.id), Some(&line))?
    } else {
        data.service
            .reassign_audited(true, &|_| true, Some(&line))?
    };
    let reports_unassigned = store.reports(true)?.len();
    Ok(ImportOutcome::Imported(ImportSummary {
        version,
        name: how.name.to_owned(),
        cells: members.len(),
        reports_assigned,
        reports_unassigned,
        changes,
    }))
}

/// Reports whose case is closed or rejected: they keep the cell they were
/// handled in, so the record and the KPIs by grid stay as they were.
fn closed_reports(data: &DataDir) -> anyhow::Result<HashSet<Uuid>> {
    Ok(data
        .store()
        .cases()?
        .into_iter()
        .filter(|c| matches!(c.status, CaseStatus::Closed | CaseStatus::Rejected))
        .map(|c| c.report_id)
        .collect())
}

/// What `grids export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// A FeatureCollection the import reads back to the same cells.
    GeoJson,
    /// One line a cell: code, name, area, bounding box.
    Csv,
}

#[derive(Debug, Serialize)]
pub struct ExportSummary {
    pub version: u64,
    pub name: String,
    pub cells: usize,
}

/// Writes layer `version` (default: the current one) to `out`, a cell at a
/// time.
pub fn export(
    data: &DataDir,
    version: Option<u64>,
    format: ExportFormat,
    out: impl Write,
) -> anyhow::Result<ExportSummary> {
    let store = data.store();
    let layers = store.grid_layers()?;
    let current = store.grid_version()?;
    let version = version.unwrap_or(current);
    let Some(layer) = layers.iter().find(|l| l.version == version) else {
        if current == 0 {
            bail!("there is no grid layer yet; import one with `gridwarden-server grids import`");
        }
        bail!("there is no grid layer version {version}; `gridwarden-server grids list` shows versions 1 to {current}");
    };
    let codes: Vec<String> = store
        .grid_members(version)?
        .into_iter()
        .map(|m| m.code)
        .collect();
    let cells = |each: &mut dyn FnMut(GridCellWire) -> anyhow::Result<()>| -> anyhow::Result<()> {
        for chunk in codes.chunks(CHUNK) {
            for (code, bytes) in store.grid_cell_data(version, chunk, false)? {
                let wire: GridCellWire = codec::decode(&bytes)
                    .with_context(|| format!("grid layer {version}, cell {code} is damaged"))?;
                each(wire)?;
            }
        }
        Ok(())
    };
    match format {
        ExportFormat::GeoJson => {
            let mut writer = LayerWriter::begin(out, &layer.name)?;
            cells(&mut |wire| Ok(writer.cell(&wire)?))?;
            writer.finish()?;
        }
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record([
                "code", "name", "area_m2", "min_lon", "min_lat", "max_lon", "max_lat",
            ])?;
            cells(&mut |wire| {
                let cell = cell_from_wire(&wire).map_err(anyhow::Error::msg)?;
                let rect = geo::BoundingRect::bounding_rect(&cell.geometry);
                let [x0, y0, x1, y1] =
                    rect.map_or([0.0; 4], |r| [r.min().x, r.min().y, r.max().x, r.max().y]);
                writer.write_record([
                    cell.code,
                    cell.name.unwrap_or_default(),
                    format!("{:.0}", cell.area_m2),
                    x0.to_string(),
                    y0.to_string(),
                    x1.to_string(),
                    y1.to_string(),
                ])?;
                Ok(())
            })?;
            writer.flush()?;
        }
    }
    Ok(ExportSummary {
        version,
        name: layer.name.clone(),
        cells: codes.len(),
    })
}
