//! One function per command: call the client core, then print text or JSON.

use std::io::Write;

use gridwarden_client_core::{
    CellGuess, Client, ClientStatus, Controls, Location, NewReport, Overwrite, ReferenceNames,
    ReportEdit, ReportView, RetryPolicy, SyncProgress, SyncSummary,
};
use gridwarden_protocol::clock::SharedClock;
use serde::Serialize;
use serde_json::json;

use crate::args::{Command, EditArgs, ReportArgs};
use crate::names::named;
use crate::render::{excerpt, table};
use crate::time::{parse_observed_at, Offset};
use crate::Failure;

/// Where a command writes its result.
pub struct Output<'a> {
    pub out: &'a mut dyn Write,
    pub json: bool,
    /// The city's offset, for times in text output.
    pub offset: Offset,
    /// The clock the client reads too: "now" for a report and a KPI period.
    pub clock: SharedClock,
}

impl Output<'_> {
    /// Writes either the JSON document or the text, whichever was asked for.
    pub(crate) fn emit<T: Serialize>(
        &mut self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<(), Failure> {
        if self.json {
            serde_json::to_writer_pretty(&mut *self.out, value)
                .map_err(|e| Failure::Io(e.to_string()))?;
            writeln!(self.out)?;
        } else {
            write!(self.out, "{}", text())?;
        }
        Ok(())
    }
}

pub fn run(client: &Client, command: Command, out: &mut Output<'_>) -> Result<(), Failure> {
    match command {
        Command::Enroll { code, label, again } => enroll(client, &code, label, again, out),
        Command::Export => {
            let unsent = client.export_unsent()?;
            out.emit(&unsent, || {
                serde_json::to_string_pretty(&unsent).unwrap_or_default() + "\n"
            })
        }
        Command::Report(args) => report(client, args, out),
        Command::Categories => categories(client, out),
        Command::Sync { retry } => sync(client, retry, out),
        Command::List => list(client, out),
        Command::Show { id } => show(client, &id, out),
        Command::Edit(args) => edit(client, args, out),
        Command::Delete { id } => delete(client, &id, out),
        Command::Resend { id } => resend(client, &id, out),
        Command::Cell { lon, lat } => cell(client, lon, lat, out),
        Command::Status => status(client, out),
        Command::Rejections => rejections(client, out),
        Command::Patrol(command) => crate::patrols::patrol(client, command, out),
        Command::Patrols {
            warden,
            since,
            until,
        } => crate::patrols::patrols(client, warden, since, until, out),
        Command::Photo(command) => crate::photos::photo(client, command, out),
        Command::Cases {
            status,
            grid,
            overdue,
        } => crate::cases::cases(client, status, grid, overdue, out),
        Command::Case(command) => crate::cases::case(client, command, out),
        Command::Tasks => crate::cases::tasks(client, out),
        Command::Kpi { by, from, to, csv } => crate::kpi::kpi(client, &by, from, to, csv, out),
    }
}

fn default_label() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    match host {
        Some(h) => format!("gridwarden cli on {h}"),
        None => "gridwarden cli".into(),
    }
}

fn enroll(
    client: &Client,
    code: &str,
    label: Option<String>,
    again: bool,
    out: &mut Output<'_>,
) -> Result<(), Failure> {
    let label = label.unwrap_or_else(default_label);
    let info = if again {
        client.reenroll(code, &label)?
    } else {
        client.enroll(code, &label)?
    };
    out.emit(&info, || {
        let reference = match (info.categories_version, info.grid_version) {
            (Some(c), Some(g)) => format!("Cached category table v{c} and grid layer v{g}.\n"),
            (Some(c), None) => {
                format!("Cached category table v{c}; the server has no grid layer yet.\n")
            }
            _ => "Reference data not cached yet; run `gridwarden sync`.\n".into(),
        };
        format!(
            "Enrolled as {} ({}) with {}.\nDevice id: {}\n{reference}",
            info.user, info.role, info.server, info.device_id
        )
    })
}

fn report(client: &Client, args: ReportArgs, out: &mut Output<'_>) -> Result<(), Failure> {
    let observed_at_ms = match &args.observed_at {
        Some(text) => parse_observed_at(text).map_err(Failure::Usage)?,
        None => out.clock.now_ms() as i64,
    };
    let input = NewReport {
        category: args.category,
        location: Location {
            lon: args.lon,
            lat: args.lat,
            accuracy_m: args.accuracy,
        },
        address: args.address.filter(|a| !a.is_empty()),
        asset: args.asset.filter(|a| !a.is_empty()),
        note: args.note,
        observed_at_ms,
        patrol: match &args.patrol {
            Some(text) => Some(
                crate::ids::local_patrol(client, text, out.offset)?.ok_or_else(|| {
                    Failure::Usage(format!(
                        "no patrol on this device has an id starting `{text}`"
                    ))
                })?,
            ),
            None => None,
        },
    };
    let id = client.record_report_with_photos(input, &args.photos)?;
    let local_cell = client.show_report(id)?.local_cell;
    out.emit(&json!({ "id": id, "local_cell": local_cell }), || {
        format!("{id}\n")
    })
}

fn categories(client: &Client, out: &mut Output<'_>) -> Result<(), Failure> {
    let cached = client.categories()?;
    let doc = match &cached {
        Some(t) => serde_json::to_value(t).map_err(|e| Failure::Io(e.to_string()))?,
        None => json!({ "version": null, "categories": [] }),
    };
    out.emit(&doc, || match &cached {
        None => "No category table cached yet; run `gridwarden sync`.\n".into(),
        Some(t) => {
            let mut rows = vec![vec![
                "CODE".into(),
                "FAMILY".into(),
                "CLASS".into(),
                "NAME".into(),
                "NAME_EN".into(),
            ]];
            rows.extend(t.categories.iter().map(|c| {
                vec![
                    c.code.clone(),
                    c.family.as_str().into(),
                    c.class_name.clone(),
                    c.name.clone(),
                    c.name_en.clone(),
                ]
            }));
            format!(
                "Category table v{} ({} codes)\n{}",
                t.version,
                t.categories.len(),
                table(&rows)
            )
        }
    })
}

fn sync(client: &Client, attempts: u32, out: &mut Output<'_>) -> Result<(), Failure> {
    let policy = RetryPolicy {
        max_attempts: Some(attempts),
        ..RetryPolicy::default()
    };
    let progress = |p: SyncProgress| match p {
        SyncProgress::Waiting {
            attempt,
            delay_ms,
            reason,
        } => eprintln!(
            "attempt {attempt} failed: {reason}; trying again in {:.1} s",
            delay_ms as f64 / 1000.0
        ),
        photo @ SyncProgress::Photo { .. } => {
            if let Some(line) = crate::progress::photo_line(&photo) {
                eprintln!("{line}");
            }
        }
        _ => {}
    };
    let controls = Controls {
        cancel: None,
        progress: Some(&progress),
    };
    let summary = client.sync_retrying_blocking(&policy, controls)?;
    let offset = out.offset;
    out.emit(&summary, || sync_text(&summary, offset))
}

fn sync_text(s: &SyncSummary, offset: Offset) -> String {
    let mut text = format!(
        "Pushed {}, duplicates {}, rejected {}, pulled {}.\n",
        s.pushed,
        s.duplicates,
        s.rejected.len(),
        s.pulled
    );
    if s.given_back > 0 {
        text.push_str(&format!(
            "The server was restored from a backup: gave back {} changes recorded here; it kept the ones it lacked.\n",
            s.given_back
        ));
    }
    for r in &s.rejected {
        text.push_str(&format!(
            "Rejected: report {} ({}): {}\n",
            r.report_id, r.code, r.reason
        ));
    }
    text.push_str(&overwrites_text(&s.overwritten, offset));
    if let Some(ms) = s.update_required_by_ms {
        text.push_str(&update_required(ms, offset));
    }
    if s.categories_updated || s.grid_updated {
        text.push_str("Reference data updated.\n");
    }
    for error in &s.reference_errors {
        text.push_str(&format!(
            "Reference data: {error}; the cached copy stays in use until the next sync.\n"
        ));
    }
    if s.photos_uploaded > 0 || s.photo_bytes_sent > 0 {
        text.push_str(&format!(
            "Photos uploaded {} ({} bytes sent",
            s.photos_uploaded, s.photo_bytes_sent
        ));
        if s.photo_chunks_resent > 0 {
            text.push_str(&format!(
                ", {} damaged chunks sent again",
                s.photo_chunks_resent
            ));
        }
        text.push_str(").\n");
    }
    for reason in &s.photos_refused {
        text.push_str(&format!("Photo refused: {reason}\n"));
    }
    if s.photos_waiting > 0 {
        text.push_str(&format!(
            "{} photos wait for the next sync.\n",
            s.photos_waiting
        ));
    }
    if s.photos_dropped > 0 {
        text.push_str(&format!(
            "{} full photo files the server holds were dropped under the storage budget; their thumbnails stay (`gridwarden photo fetch` brings one back).\n",
            s.photos_dropped
        ));
    }
    if s.pending > 0 {
        text.push_str(&format!(
            "{} not answered by the server; they will be sent at the next sync.\n",
            ops(s.pending)
        ));
    }
    text
}

/// The grid column of a list: the server's cell, else the device's guess,
/// with the cell's name where the cached layer has one.
fn grid_label(r: &ReportView, names: &ReferenceNames) -> String {
    match (&r.grid_cell, &r.local_cell) {
        (Some(cell), _) => crate::names::cell(names, Some(cell), CELL_NAME_COLS),
        (None, Some(guess)) => format!(
            "(guess {})",
            crate::names::cell(names, Some(guess), CELL_NAME_COLS)
        ),
        (None, None) => "unassigned".into(),
    }
}

/// Columns a cell's name takes in a table.
pub(crate) const CELL_NAME_COLS: usize = 40;

fn list(client: &Client, out: &mut Output<'_>) -> Result<(), Failure> {
    let reports = client.list_reports()?;
    let short = client.report_short_ids()?;
    let names = client.reference_names()?;
    let offset = out.offset;
    out.emit(&reports, || {
        if reports.is_empty() {
            return "No reports on this device.\n".into();
        }
        let mut rows = vec![vec![
            "ID".into(),
            "CATEGORY".into(),
            format!("OBSERVED ({})", offset.label()),
            "GRID CELL".into(),
            "STATUS".into(),
            "NOTE".into(),
        ]];
        rows.extend(reports.iter().map(|r| {
            vec![
                short.of(&r.id),
                named(&r.category, r.category_name.as_deref()),
                offset.short(r.observed_at_ms),
                grid_label(r, &names),
                excerpt(&r.status.to_string(), 40),
                excerpt(&r.note, 40),
            ]
        }));
        table(&rows)
    })
}

fn show(client: &Client, id: &str, out: &mut Output<'_>) -> Result<(), Failure> {
    let id = crate::ids::report(client, id, out.offset)?;
    let r = client.show_report(id)?;
    let names = client.reference_names()?;
    let offset = out.offset;
    let overwritten = client.overwrites_of(id)?;
    #[derive(Serialize)]
    struct Shown<'a> {
        #[serde(flatten)]
        report: &'a ReportView,
        overwritten: &'a [Overwrite],
    }
    let shown = Shown {
        report: &r,
        overwritten: &overwritten,
    };
    out.emit(&shown, || {
        show_text(&r, &names, offset) + &overwrites_text(&overwritten, offset)
    })
}

/// One line per edit of this user that another user's replaced.
fn overwrites_text(list: &[Overwrite], offset: Offset) -> String {
    list.iter()
        .map(|o| {
            let by = o.winner_by.as_deref().unwrap_or("another user");
            format!(
                "Overwritten: your {} {:?} (edited {}) was replaced by {by}'s {:?} (edited {}) on report {}\n",
                o.field,
                o.mine,
                offset.full(o.lost_at_ms),
                o.winner,
                offset.full(o.winner_at_ms),
                o.report_id
            )
        })
        .collect()
}

fn show_text(r: &ReportView, names: &ReferenceNames, offset: Offset) -> String {
    let none = || "-".to_string();
    let category = match &r.category_name {
        Some(name) => format!("{} {name}", r.category),
        None => r.category.clone(),
    };
    let accuracy = r.accuracy_m.map(|a| format!(" ±{a} m")).unwrap_or_default();
    let rows = [
        ("id", r.id.to_string()),
        ("category", category),
        ("note", r.note.clone()),
        ("location", format!("{}, {}{accuracy}", r.lon, r.lat)),
        ("address", r.address.clone().unwrap_or_else(none)),
        ("asset", r.asset.clone().unwrap_or_else(none)),
        ("observed", offset.full(r.observed_at_ms)),
        ("reporter", r.reporter.clone()),
        ("device", r.device.to_string()),
        (
            "grid cell",
            match &r.grid_cell {
                Some(code) => named(code, names.cell(code)),
                None => "unassigned".into(),
            },
        ),
        (
            "local guess",
            match &r.local_cell {
                Some(code) => named(code, names.cell(code)),
                None => none(),
            },
        ),
        (
            "patrol",
            r.patrol.map(|p| p.to_string()).unwrap_or_else(none),
        ),
        (
            "photos",
            if r.photos.is_empty() {
                none()
            } else {
                r.photos
                    .iter()
                    .map(|p| {
                        let reason = p
                            .reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default();
                        let here = match p.here.as_str() {
                            "thumbnail" => ", thumbnail only here",
                            "none" if p.state != "remote" => ", not on this device",
                            _ => "",
                        };
                        format!(
                            "{} {} {} bytes, {}{here}{reason}",
                            &p.hash[..16],
                            p.mime,
                            p.size,
                            p.state
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n             ")
            },
        ),
        (
            "status",
            if r.deleted {
                format!("deleted, {}", r.status)
            } else {
                r.status.to_string()
            },
        ),
    ];
    rows.iter().map(|(k, v)| format!("{k:<12} {v}\n")).collect()
}

fn edit(client: &Client, args: EditArgs, out: &mut Output<'_>) -> Result<(), Failure> {
    let id = crate::ids::report(client, &args.id, out.offset)?;
    let location = match (args.lon, args.lat) {
        (Some(lon), Some(lat)) => Some(Location {
            lon,
            lat,
            accuracy_m: args.accuracy,
        }),
        _ => None,
    };
    let edit = ReportEdit {
        category: args.category,
        note: args.note,
        location,
        address: args.address.map(|a| Some(a).filter(|a| !a.is_empty())),
        asset: args.asset.map(|a| Some(a).filter(|a| !a.is_empty())),
    };
    if edit.is_empty() {
        return Err(Failure::Usage(
            "nothing to change; give --category, --note, --lon and --lat, --address or --asset"
                .into(),
        ));
    }
    client.edit_report(id, edit)?;
    let r = client.show_report(id)?;
    out.emit(&r, || {
        format!("Edited report {id}; it will be sent at the next sync.\n")
    })
}

fn delete(client: &Client, id: &str, out: &mut Output<'_>) -> Result<(), Failure> {
    let id = crate::ids::report(client, id, out.offset)?;
    client.delete_report(id)?;
    out.emit(&json!({ "id": id, "deleted": true }), || {
        format!("Deleted report {id}; the deletion will be sent at the next sync.\n")
    })
}

fn resend(client: &Client, id: &str, out: &mut Output<'_>) -> Result<(), Failure> {
    let id = crate::ids::report(client, id, out.offset)?;
    client.resend_report(id)?;
    out.emit(&json!({ "id": id, "resent": true }), || {
        format!("Report {id} will be sent again at the next sync.\n")
    })
}

fn cell(client: &Client, lon: f64, lat: f64, out: &mut Output<'_>) -> Result<(), Failure> {
    // The device may hold only its user's part of the layer (ADR 0019):
    // the guess tells "in no cell" from "beyond the cells held here".
    let guess = client.grid_guess(lon, lat)?;
    let cell = guess.code().map(str::to_owned);
    let grid_version = client.status()?.grid_version;
    let doc = json!({
        "lon": lon,
        "lat": lat,
        "cell": cell,
        "guess": guess.to_string(),
        "grid_version": grid_version,
    });
    out.emit(&doc, || match &guess {
        CellGuess::Cell(code) => format!("{code}\n"),
        CellGuess::NoGrid => "No grid layer cached yet; run `gridwarden sync`.\n".into(),
        CellGuess::NoCell => "This point is in no grid cell.\n".into(),
        CellGuess::OutsideHeld => "This point is outside the cells on this device; \
             the server assigns its cell when the report is synced.\n"
            .into(),
    })
}

fn status(client: &Client, out: &mut Output<'_>) -> Result<(), Failure> {
    let s = client.status()?;
    let offset = out.offset;
    out.emit(&s, || status_text(&s, offset))
}

fn ops(n: u64) -> String {
    if n == 1 {
        "1 op".into()
    } else {
        format!("{n} ops")
    }
}

fn status_text(s: &ClientStatus, offset: Offset) -> String {
    let mut text = String::new();
    if s.enrolled {
        text.push_str(&format!(
            "Enrolled as {} ({}) with {}.\nDevice id: {}\n",
            s.user.as_deref().unwrap_or("?"),
            s.role.as_deref().unwrap_or("?"),
            s.server.as_deref().unwrap_or("?"),
            s.device_id.map(|d| d.to_string()).unwrap_or_default(),
        ));
    } else {
        text.push_str("Not enrolled; run `gridwarden enroll CODE` with the code IT gave you.\n");
    }
    let version = |v: Option<u64>| v.map(|v| format!("v{v}")).unwrap_or_else(|| "none".into());
    text.push_str(&format!("Home: {}\n", s.home));
    text.push_str(&format!("Reports on this device: {}\n", s.reports));
    text.push_str(&format!("Waiting to be sent: {}\n", ops(s.outbox)));
    text.push_str(&format!("Rejected by the server: {}\n", ops(s.rejections)));
    let last = s
        .last_sync_ms
        .map(|ms| offset.full(ms))
        .unwrap_or_else(|| "never".into());
    text.push_str(&format!("Last sync: {last}\n"));
    let cursor = if s.pull_cursor.is_empty() {
        "start"
    } else {
        s.pull_cursor.as_str()
    };
    text.push_str(&format!("Pull cursor: {cursor}\n"));
    text.push_str(&format!(
        "Cached categories: {}, grid layer: {}\n",
        version(s.categories_version),
        version(s.grid_version)
    ));
    // No cells means the whole city for a supervisor or admin, and only
    // their own reports for a warden or liaison: never "0 cells".
    let cells = match (s.cells.is_empty(), s.role.as_deref()) {
        (false, _) => Some(s.cells.join(", ")),
        (true, Some("supervisor" | "admin")) => Some("none given: the whole city".to_owned()),
        (true, Some(_)) => Some("none given: you see your own reports".to_owned()),
        (true, None) => None,
    };
    if let Some(cells) = cells {
        text.push_str(&format!("Your grid cells: {cells}\n"));
    }
    text.push_str(&format!(
        "The server takes notes up to {} characters and photos up to {:.1} MB.\n",
        s.limits.max_note_chars,
        s.limits.max_photo_bytes as f64 / 1_048_576.0
    ));
    text.push_str(&crate::photos::storage_text(&s.photos));
    if let Some(ms) = s.update_required_by_ms {
        text.push_str(&update_required(ms, offset));
    }
    text
}

/// The server's notice that it will stop accepting this app's protocol.
fn update_required(ms: i64, offset: Offset) -> String {
    format!(
        "update required by {}: the server stops accepting this version of gridwarden then; install the new version before\n",
        offset.full(ms)
    )
}

fn rejections(client: &Client, out: &mut Output<'_>) -> Result<(), Failure> {
    let list = client.rejections()?;
    let short = client.report_short_ids()?;
    let offset = out.offset;
    out.emit(&list, || {
        if list.is_empty() {
            return "The server has refused nothing from this device.\n".into();
        }
        list.iter()
            .map(|r| {
                format!(
                    "{}  report {} ({}): {}\n",
                    offset.full(r.at_ms),
                    short.of(&r.report_id),
                    r.code,
                    r.reason
                )
            })
            .collect()
    })
}
