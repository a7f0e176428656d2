//! Patrol commands: recording on the device, review by supervisors.

use gridwarden_client_core::{
    Client, ListPatrols, PatrolSummary, PatrolTrack, PointInput, ShortIds,
};
use serde_json::json;

use crate::args::PatrolCommand;
use crate::commands::Output;
use crate::render::{excerpt, table};
use crate::time::{parse_observed_at, Offset};
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
            let offset = out.offset;
            out.emit(&summary, || summary_text(&summary, offset))
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
            let track = find_patrol(client, &id, out.offset)?;
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
            let offset = out.offset;
            out.emit(&track, || summary_text(&track.summary, offset))
        }
    }
}

/// This device's patrol if it has one whose id starts so, else the
/// server's (a supervisor reviewing wardens' patrols).
fn find_patrol(client: &Client, text: &str, offset: Offset) -> Result<PatrolTrack, Failure> {
    if let Some(id) = crate::ids::local_patrol(client, text, offset)? {
        return Ok(client.patrol(id)?);
    }
    let role = client.status()?.role;
    let whole = crate::ids::whole_id(text);
    if !is_supervisor(role.as_deref()) && whole.is_none() {
        return Err(Failure::Usage(format!(
            "no patrol on this device has an id starting `{}`; `gridwarden patrols` lists them",
            text.trim()
        )));
    }
    let id = match whole {
        Some(id) => id,
        None => crate::ids::server_patrol(client, text, offset)?,
    };
    Ok(client.remote_patrol_blocking(id)?)
}

fn is_supervisor(role: Option<&str>) -> bool {
    matches!(role, Some("supervisor" | "admin"))
}

pub fn patrols(
    client: &Client,
    warden: Option<String>,
    since: Option<String>,
    until: Option<String>,
    out: &mut Output<'_>,
) -> Result<(), Failure> {
    let day = |text: &str| out.offset.parse_day(text).map_err(Failure::Usage);
    let since_ms = since.as_deref().map(day).transpose()?;
    let until_ms = until.as_deref().map(day).transpose()?;
    let role = client.status()?.role;
    let list = if is_supervisor(role.as_deref()) || warden.is_some() {
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
    let short = client
        .patrol_short_ids()?
        .with(list.iter().map(|p| p.info.id));
    let offset = out.offset;
    out.emit(&list, || list_text(&list, &short, offset))
}

fn duration(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
        None => "-".into(),
    }
}

fn list_text(list: &[PatrolSummary], short: &ShortIds, offset: Offset) -> String {
    if list.is_empty() {
        return "No patrols.\n".into();
    }
    let mut rows = vec![vec![
        "ID".into(),
        "WARDEN".into(),
        format!("STARTED ({})", offset.label()),
        "DURATION".into(),
        "DISTANCE".into(),
        "COVERAGE".into(),
        "REPORTS".into(),
        "FLAGGED".into(),
        "NOTE".into(),
    ]];
    rows.extend(list.iter().map(|p| {
        vec![
            short.of(&p.info.id),
            p.info.warden.clone(),
            offset.short(p.info.started_at_ms),
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

fn summary_text(p: &PatrolSummary, offset: Offset) -> String {
    let rows = [
        ("patrol", p.info.id.to_string()),
        ("warden", p.info.warden.clone()),
        ("started", offset.full(p.info.started_at_ms)),
        (
            "ended",
            p.info
                .ended_at_ms
                .map(|ms| offset.full(ms))
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
