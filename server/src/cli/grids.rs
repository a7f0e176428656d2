//! `gridwarden-server grids import|export` as IT reads them: what a new
//! layer changes, and why it was held back.

use std::path::{Path, PathBuf};

use anyhow::Context;
use gridwarden_grid::{CodePattern, Fields};
use serde_json::json;

use super::{print_json, Exit};
use crate::admin::grids::{self, ExportFormat, GridImport, Held, ImportOutcome};
use crate::datadir::DataDir;
use crate::grid::LayerChanges;

/// Exit code of an import held back because it removes cells in use.
pub const HELD_EXIT: i32 = 3;

/// Codes listed per line of the text output; the rest are counted.
const SHOWN: usize = 10;

pub struct ImportArgs {
    pub file: PathBuf,
    pub name: Option<String>,
    pub code_pattern: String,
    pub code_property: String,
    pub name_property: String,
    pub apply: bool,
    pub reassign: bool,
    pub dry_run: bool,
    pub json: bool,
}

pub fn import(data: &DataDir, args: ImportArgs) -> anyhow::Result<()> {
    let pattern = CodePattern::parse(&args.code_pattern)?;
    let fields = Fields {
        code: args.code_property,
        name: args.name_property,
    };
    let file = &args.file;
    let reader =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let name = args.name.unwrap_or_else(|| {
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let how = GridImport {
        name: &name,
        pattern: &pattern,
        fields: &fields,
        apply: args.apply,
        reassign: args.reassign,
        dry_run: args.dry_run,
    };
    let outcome = grids::import(data, reader, &how)
        .map_err(|e| with_hint(e, &fields))
        .with_context(|| format!("importing {}; nothing was changed", file.display()))?;
    match outcome {
        ImportOutcome::Imported(summary) => {
            if args.json {
                let mut value = serde_json::to_value(&summary)?;
                value["applied"] = json!(true);
                print_json(value);
            } else {
                print_changes(&name, &summary.changes, args.reassign);
                outln!(
                    "imported layer version {} `{}`: {} cells; {} reports assigned, {} outside every cell",
                    summary.version, summary.name, summary.cells, summary.reports_assigned, summary.reports_unassigned
                );
            }
            Ok(())
        }
        ImportOutcome::Held { why, changes } => {
            if args.json {
                print_json(json!({"applied": false, "held": why, "changes": changes}));
            } else {
                print_changes(&name, &changes, args.reassign);
            }
            match why {
                Held::DryRun => {
                    eprintln!("dry run: nothing was changed");
                    Ok(())
                }
                Held::CellsInUse => Err(Exit {
                    code: HELD_EXIT,
                    message: format!(
                        "not imported: the layer removes cells in use ({}); nothing was changed. Run it again with --apply to import it anyway{}",
                        in_use(&changes),
                        if changes.moving_out().next().is_some() && !args.reassign {
                            ", and --reassign to move the open reports to their new cells"
                        } else {
                            ""
                        }
                    ),
                }
                .into()),
            }
        }
    }
}

/// A feature without the code property usually means a file that keeps its
/// codes elsewhere: say which option reads them.
fn with_hint(e: anyhow::Error, fields: &Fields) -> anyhow::Error {
    let missing = format!("has no properties.{}", fields.code);
    match e.downcast_ref::<crate::grid::LayerImportError>() {
        Some(crate::grid::LayerImportError::Grid(gridwarden_grid::GridError::Feature {
            problem,
            ..
        })) if problem.starts_with(&missing) => {
            anyhow::anyhow!("{e:#}; `--code-property NAME` reads the code from another property")
        }
        _ => e,
    }
}

/// The removed cells in use and who uses them, for the refusal.
fn in_use(changes: &LayerChanges) -> String {
    changes
        .removed_in_use
        .iter()
        .take(SHOWN)
        .map(|code| {
            let users: Vec<&str> = changes
                .users_losing_cells
                .iter()
                .filter(|u| u.cells.contains(code))
                .map(|u| u.user.as_str())
                .collect();
            let reports = changes
                .reports_moving
                .iter()
                .filter(|m| m.from.as_deref() == Some(code.as_str()))
                .count();
            let mut uses = Vec::new();
            if !users.is_empty() {
                uses.push(format!("held by {}", users.join(", ")));
            }
            if reports > 0 {
                uses.push(format!("{reports} open reports"));
            }
            format!("{code}: {}", uses.join("; "))
        })
        .chain(more(changes.removed_in_use.len()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn more(total: usize) -> Option<String> {
    (total > SHOWN).then(|| format!("and {} more", total - SHOWN))
}

fn codes(list: &[String]) -> String {
    list.iter()
        .take(SHOWN)
        .cloned()
        .chain(more(list.len()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_changes(name: &str, c: &LayerChanges, reassign: bool) {
    let against = match c.current_version {
        0 => "no layer before".to_owned(),
        v => format!("against layer v{v}"),
    };
    outln!(
        "layer `{name}` {against}: {} cells — {} added, {} removed, {} reshaped, {} renamed, {} unchanged",
        c.cells,
        c.added.len(),
        c.removed.len(),
        c.reshaped.len(),
        c.renamed.len(),
        c.unchanged
    );
    for (what, list) in [
        ("added", &c.added),
        ("removed", &c.removed),
        ("reshaped", &c.reshaped),
    ] {
        if !list.is_empty() {
            outln!("  {what}: {}", codes(list));
        }
    }
    for r in c.renamed.iter().take(SHOWN) {
        outln!(
            "  renamed: {} `{}` → `{}`",
            r.code,
            r.from.as_deref().unwrap_or(""),
            r.to.as_deref().unwrap_or("")
        );
    }
    if let Some(more) = more(c.renamed.len()) {
        outln!("  renamed: {more}");
    }
    for u in &c.users_losing_cells {
        outln!(
            "user `{}` holds cells the new layer lacks: {}",
            u.user,
            codes(&u.cells)
        );
    }
    let moving: Vec<_> = c.moving_out().collect();
    let (to_cell, out): (Vec<&&_>, Vec<&&_>) = moving.iter().partition(|m| m.to.is_some());
    if !moving.is_empty() {
        outln!(
            "open reports whose cell changes: {} to another cell, {} out of every cell{}",
            to_cell.len(),
            out.len(),
            if reassign {
                " (re-placed: --reassign)"
            } else {
                " (they keep their cells; --reassign re-places them)"
            }
        );
        for m in moving.iter().take(SHOWN) {
            outln!(
                "  report {}: {} → {}",
                m.report,
                m.from.as_deref().unwrap_or("(no cell)"),
                m.to.as_deref().unwrap_or("(outside every cell)")
            );
        }
        if let Some(more) = more(moving.len()) {
            outln!("  {more}");
        }
    }
    let placed = c.newly_placed();
    if placed > 0 {
        outln!("reports without a cell the new layer places: {placed}");
    }
}

pub struct ExportArgs {
    pub version: Option<u64>,
    pub geojson: bool,
    pub out: Option<PathBuf>,
}

pub fn export(data: &DataDir, args: ExportArgs) -> anyhow::Result<()> {
    let format = if args.geojson {
        ExportFormat::GeoJson
    } else {
        ExportFormat::Csv
    };
    let summary = match &args.out {
        Some(path) => export_to_file(data, &args, format, path)?,
        None => match grids::export(data, args.version, format, std::io::stdout().lock()) {
            Ok(summary) => summary,
            // A reader that went away (`| head`) is no failure.
            Err(e) if broken_pipe(&e) => std::process::exit(0),
            Err(e) => return Err(e),
        },
    };
    // Data goes to stdout; the note to stderr, so `> file` stays clean.
    eprintln!(
        "exported layer v{} `{}`: {} cells{}",
        summary.version,
        summary.name,
        summary.cells,
        args.out
            .as_ref()
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// Writes next to `path` and renames, so a failed export never leaves a
/// half-written file where a whole one was.
fn export_to_file(
    data: &DataDir,
    args: &ExportArgs,
    format: ExportFormat,
    path: &Path,
) -> anyhow::Result<grids::ExportSummary> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = (|| {
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let summary = grids::export(data, args.version, format, std::io::BufWriter::new(&file))?;
        file.sync_all()?;
        std::fs::rename(&partial, path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(summary)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .map(|e| e.kind())
            .or_else(|| {
                cause
                    .downcast_ref::<csv::Error>()
                    .and_then(|e| match e.kind() {
                        csv::ErrorKind::Io(io) => Some(io.kind()),
                        _ => None,
                    })
            });
        io == Some(std::io::ErrorKind::BrokenPipe)
    })
}
