//! Patrol and photo commands: recording on the device, review by supervisors.

use gridwarden_client_core::{Client, ListPatrols, PatrolSummary, PatrolTrack, PointInput};
use serde_json::json;

use crate::args::{PatrolCommand, PhotoCommand};
use crate::commands::Output;
use crate::render::{excerpt, table};
use crate::time::{format_utc, parse_observed_at};
use crate::Failure;

pub fn patrol(
    client: &Client,
    command: PatrolCommand,
    out: &mut Output<'_>,
) -> Result<(), Failure> {
    match command {
        PatrolCommand::Start { note } => {
            let id = client.patrol_start(&note)?;
            out.emit(&json!({ "patrol": id }), || format!("{id}\n"))
        }
        PatrolCommand::Point {
            lon,
            lat,
            time,
            accuracy,
            speed,
        } => {
            let time_ms = time
                .as_deref()
                .map(parse_observed_at)
                .transpose()
                .map_err(Failure::Usage)?;
            let kept = client.patrol_point(PointInput {
                time_ms,
                lon,
                lat,
                accuracy_m: accuracy,
                speed_mps: speed,
            })?;
            out.emit(&json!({ "kept": kept }), || {
                if kept {
                    "kept\n"
                } else {
                    "thinned (within a few metres of the last point)\n"
                }
                .into()
            })
        }
        PatrolCommand::Stop => {
            let id = client.patrol_stop()?;
            let summary = client.patrol(id)?.summary;
            out.emit(&summary, || summary_text(&summary))
        }
        PatrolCommand::Import { file, note } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
            let imported = client.patrol_import_gpx(&bytes, note.as_deref())?;
            out.emit(&imported, || {
                format!(
                    "{}\nImported {} points in {} segments; kept {} after thinning.\n",
                    imported.patrol,
                    imported.points_in_file,
                    imported.segments,
                    imported.points_kept
                )
            })
        }
        PatrolCommand::Show { id, geojson, gpx } => {
            let track = find_patrol(client, &id)?;
            if geojson {
                let text = gridwarden_grid::track::to_geojson(&track.summary, &track.points);
                writeln!(out.out, "{text}")?;
                return Ok(());
            }
            if gpx {
                let text = gridwarden_grid::gpx::to_gpx(&track.summary.info, &track.points);
                write!(out.out, "{text}")?;
                return Ok(());
            }
            out.emit(&track, || summary_text(&track.summary))
        }
    }
}

/// This device's patrol if it has it, else the server's copy.
fn find_patrol(client: &Client, text: &str) -> Result<PatrolTrack, Failure> {
    match client.resolve_patrol_id(text) {
        Ok(id) => match client.patrol(id) {
            Ok(track) => Ok(track),
            Err(_) => Ok(client.remote_patrol_blocking(id)?),
        },
        Err(e) => match uuid::Uuid::parse_str(text.trim()) {
            Ok(id) => Ok(client.remote_patrol_blocking(id)?),
            Err(_) => Err(e.into()),
        },
    }
}

/// A date alone is the city's day (China Standard Time, UTC+8).
pub(crate) fn parse_day(text: &str) -> Result<i64, Failure> {
    let text = text.trim();
    let full = if text.len() == 10 {
        format!("{text}T00:00:00+08:00")
    } else {
        text.to_owned()
    };
    parse_observed_at(&full).map_err(Failure::Usage)
}

pub fn patrols(
    client: &Client,
    warden: Option<String>,
    since: Option<String>,
    until: Option<String>,
    out: &mut Output<'_>,
) -> Result<(), Failure> {
    let since_ms = since.as_deref().map(parse_day).transpose()?;
    let until_ms = until.as_deref().map(parse_day).transpose()?;
    let role = client.status()?.role;
    let supervisor = matches!(role.as_deref(), Some("supervisor" | "admin"));
    let list = if supervisor || warden.is_some() {
        client.remote_patrols_blocking(ListPatrols {
            warden,
            since_ms,
            until_ms,
            max_patrols: 500,
        })?
    } else {
        client
            .patrols()?
            .into_iter()
            .filter(|p| since_ms.is_none_or(|s| p.info.started_at_ms >= s))
            .filter(|p| until_ms.is_none_or(|u| p.info.started_at_ms < u))
            .collect()
    };
    out.emit(&list, || list_text(&list))
}

fn duration(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
        None => "-".into(),
    }
}

fn list_text(list: &[PatrolSummary]) -> String {
    if list.is_empty() {
        return "No patrols.\n".into();
    }
    let mut rows = vec![vec![
        "ID".into(),
        "WARDEN".into(),
        "STARTED".into(),
        "DURATION".into(),
        "DISTANCE".into(),
        "COVERAGE".into(),
        "REPORTS".into(),
        "FLAGGED".into(),
        "NOTE".into(),
    ]];
    rows.extend(list.iter().map(|p| {
        vec![
            p.info.id.to_string(),
            p.info.warden.clone(),
            format_utc(p.info.started_at_ms),
            duration(p.duration_ms),
            format!("{:.0} m", p.distance_m),
            format!(
                "{}/{} ({:.0}%)",
                p.covered_cells.len(),
                p.scope_cells,
                p.coverage() * 100.0
            ),
            p.reports.len().to_string(),
            p.flagged.to_string(),
            excerpt(&p.info.note, 30),
        ]
    }));
    table(&rows)
}

fn summary_text(p: &PatrolSummary) -> String {
    let rows = [
        ("patrol", p.info.id.to_string()),
        ("warden", p.info.warden.clone()),
        ("started", format_utc(p.info.started_at_ms)),
        (
            "ended",
            p.info
                .ended_at_ms
                .map(format_utc)
                .unwrap_or_else(|| "under way".into()),
        ),
        ("duration", duration(p.duration_ms)),
        ("distance", format!("{:.0} m", p.distance_m)),
        (
            "points",
            format!("{} ({} flagged as jumps)", p.points, p.flagged),
        ),
        (
            "coverage",
            format!(
                "{} of {} cells ({:.0}%): {}",
                p.covered_cells.len(),
                p.scope_cells,
                p.coverage() * 100.0,
                p.covered_cells.join(", ")
            ),
        ),
        ("cells passed", p.visited_cells.len().to_string()),
        ("reports", p.reports.len().to_string()),
        ("note", p.info.note.clone()),
    ];
    rows.iter().map(|(k, v)| format!("{k:<13} {v}\n")).collect()
}

pub fn photo(client: &Client, command: PhotoCommand, out: &mut Output<'_>) -> Result<(), Failure> {
    match command {
        PhotoCommand::Get { hash, output } => {
            let photo = client.resolve_photo(&hash)?;
            let size = client.fetch_photo_blocking(&photo, &output)?;
            out.emit(
                &json!({ "hash": photo.hash.to_hex(), "bytes": size, "file": output }),
                || format!("Wrote {size} bytes to {}.\n", output.display()),
            )
        }
        PhotoCommand::Add { id, files } => {
            let id = client.resolve_report_id(&id)?;
            client.attach_photos(id, &files)?;
            out.emit(&json!({ "id": id, "photos": files.len() }), || {
                format!(
                    "Attached {} photos to {id}; `gridwarden sync` sends them.\n",
                    files.len()
                )
            })
        }
    }
}
