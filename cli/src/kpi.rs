//! `kpi`: the KPIs of docs/kpi.md over the cases on this device, as a
//! table, CSV or JSON, with the names of the keys the device knows.

use gridwarden_client_core::workflow::{GroupBy, KpiRow, Period};
use gridwarden_client_core::{Client, ReferenceNames};
use serde::Serialize;

use crate::commands::Output;
use crate::render::table;
use crate::Failure;

const DAY_MS: i64 = 86_400_000;

/// A KPI row in `--json` with the name of its key: a grid cell's from the
/// cached layer; streets, departments and wardens have none on a device
/// (`null`).
#[derive(Serialize)]
struct NamedRow<'a> {
    #[serde(flatten)]
    row: &'a KpiRow,
    name: Option<&'a str>,
}

fn name_of<'a>(names: &'a ReferenceNames, by: GroupBy, key: &str) -> Option<&'a str> {
    match by {
        GroupBy::Grid => names.cell(key),
        _ => None,
    }
}

pub fn kpi(
    client: &Client,
    by: &str,
    from: Option<String>,
    to: Option<String>,
    csv: bool,
    out: &mut Output<'_>,
) -> Result<(), Failure> {
    let by: GroupBy = by.parse().map_err(Failure::Usage)?;
    let offset = out.offset;
    let day = |text: &str| offset.parse_day(text).map_err(Failure::Usage);
    let now = out.clock.now_ms() as i64;
    let to_ms = to.as_deref().map(day).transpose()?.unwrap_or(now);
    let from_ms = from
        .as_deref()
        .map(day)
        .transpose()?
        .unwrap_or(to_ms - 30 * DAY_MS);
    if from_ms >= to_ms {
        return Err(Failure::Usage("--from must be before --to".into()));
    }
    let rows = client.kpi(by, Period { from_ms, to_ms })?;
    let names = client.reference_names()?;
    let named: Vec<(&KpiRow, Option<&str>)> = rows
        .iter()
        .map(|r| (r, name_of(&names, by, &r.key)))
        .collect();
    let doc: Vec<NamedRow> = named
        .iter()
        .map(|&(row, name)| NamedRow { row, name })
        .collect();
    if csv && !out.json {
        return out.emit(&doc, || csv_text(&named));
    }
    out.emit(&doc, || kpi_text(&named, by == GroupBy::Grid))
}

fn pct(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

const KPI_COLUMNS: [&str; 16] = [
    "key",
    "reported",
    "registered",
    "rejected",
    "dispatched",
    "due",
    "closed",
    "closed_on_time",
    "reworked",
    "overdue",
    "postponed",
    "closed_in_period",
    "mean_hours_to_close",
    "closing_rate",
    "on_time_rate",
    "rework_rate",
];

fn kpi_cells(r: &KpiRow, rate: impl Fn(Option<f64>) -> String) -> Vec<String> {
    vec![
        r.key.clone(),
        r.reported.to_string(),
        r.registered.to_string(),
        r.rejected.to_string(),
        r.dispatched.to_string(),
        r.due.to_string(),
        r.closed.to_string(),
        r.closed_on_time.to_string(),
        r.reworked.to_string(),
        r.overdue.to_string(),
        r.postponed.to_string(),
        r.closed_in_period.to_string(),
        r.mean_hours_to_close
            .map(|h| format!("{h:.1}"))
            .unwrap_or_default(),
        rate(r.closing_rate),
        rate(r.on_time_rate),
        rate(r.rework_rate),
    ]
}

/// The table; a grid cell's name follows its code (other keys have none).
fn kpi_text(rows: &[(&KpiRow, Option<&str>)], with_names: bool) -> String {
    let mut header: Vec<String> = KPI_COLUMNS.iter().map(|c| c.to_string()).collect();
    if with_names {
        header.insert(1, "name".into());
    }
    let mut lines = vec![header];
    lines.extend(rows.iter().map(|(r, name)| {
        let mut cells = kpi_cells(r, pct);
        if with_names {
            cells.insert(1, name.unwrap_or("-").to_owned());
        }
        cells
    }));
    table(&lines)
}

/// CSV with the name as the last column (empty where unknown), so the
/// columns scripts read by position stay where they were.
fn csv_text(rows: &[(&KpiRow, Option<&str>)]) -> String {
    let mut text = KPI_COLUMNS.join(",") + ",name\n";
    for (r, name) in rows {
        let mut cells = kpi_cells(r, |rate| {
            rate.map(|x| format!("{x:.4}")).unwrap_or_default()
        });
        cells.push(name.unwrap_or_default().to_owned());
        let quoted: Vec<String> = cells
            .into_iter()
            .map(|c| {
                if c.contains([',', '"', '\n']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c
                }
            })
            .collect();
        text.push_str(&quoted.join(","));
        text.push('\n');
    }
    text
}
