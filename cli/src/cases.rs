//! Case commands: list, show and step cases, verification tasks, and KPIs.

use gridwarden_client_core::case::{CaseOp, CaseStatus};
use gridwarden_client_core::category::TimeLimit;
use gridwarden_client_core::workflow::{GroupBy, KpiRow, Period};
use gridwarden_client_core::{CaseFilter, CaseView, Client};
use serde_json::json;

use crate::args::CaseCommand;
use crate::commands::Output;
use crate::patrols::parse_day;
use crate::render::{excerpt, table};
use crate::time::{format_utc, now_ms};
use crate::Failure;

const DAY_MS: i64 = 86_400_000;

pub fn cases(
    client: &Client,
    status: Option<String>,
    grid: Option<String>,
    overdue: bool,
    out: &mut Output<'_>,
) -> Result<(), Failure> {
    let status = status
        .as_deref()
        .map(str::parse::<CaseStatus>)
        .transpose()
        .map_err(Failure::Usage)?;
    let filter = CaseFilter {
        status,
        grid_cell: grid,
        overdue_only: overdue,
    };
    let list = client.cases(&filter)?;
    out.emit(&list, || list_text(&list))
}

fn list_text(list: &[CaseView]) -> String {
    let mut rows = vec![vec![
        "REPORT".into(),
        "STATUS".into(),
        "DEPT".into(),
        "DEADLINE".into(),
        "CELL".into(),
        "NOTE".into(),
    ]];
    for c in list {
        let mut status = c.status.clone();
        if c.overdue {
            status.push_str(" OVERDUE");
        }
        if !c.pending.is_empty() {
            status.push_str(&format!(" (+{} pending)", c.pending.join(",")));
        }
        rows.push(vec![
            c.report_id.to_string()[..8].to_owned(),
            status,
            c.department.clone().unwrap_or_else(|| "-".into()),
            c.deadline_ms.map(format_utc).unwrap_or_else(|| "-".into()),
            c.grid_cell.clone().unwrap_or_else(|| "-".into()),
            excerpt(c.note.as_deref().unwrap_or(""), 30),
        ]);
    }
    format!("{}{} cases\n", table(&rows), list.len())
}

fn show_text(c: &CaseView) -> String {
    let mut text = format!(
        "case of report {}\nstatus:     {}{}\ndepartment: {}\ndeadline:   {}\nreworks:    {}\n",
        c.report_id,
        c.status,
        if c.overdue { " (OVERDUE)" } else { "" },
        c.department.as_deref().unwrap_or("-"),
        c.deadline_ms.map(format_utc).unwrap_or_else(|| "-".into()),
        c.reworks
    );
    if let Some(v) = &c.verifier {
        text.push_str(&format!("verifier:   {v}\n"));
    }
    if !c.pending.is_empty() {
        text.push_str(&format!(
            "pending:    {} (sent at the next sync)\n",
            c.pending.join(", ")
        ));
    }
    if let Some(r) = &c.rejected {
        text.push_str(&format!("refused:    {r}\n"));
    }
    text.push_str("history:\n");
    for s in &c.history {
        let photos = if s.photos.is_empty() {
            String::new()
        } else {
            let short: Vec<_> = s.photos.iter().map(|h| &h[..12]).collect();
            format!(" [photos {}]", short.join(" "))
        };
        text.push_str(&format!(
            "  {}  {:<22} {} → {}  by {} ({}){}{photos}\n",
            format_utc(s.server_ms),
            s.op,
            s.from,
            s.to,
            s.by,
            s.role,
            if s.text.is_empty() {
                String::new()
            } else {
                format!(": {}", s.text)
            }
        ));
    }
    text
}

pub fn case(client: &Client, command: CaseCommand, out: &mut Output<'_>) -> Result<(), Failure> {
    let mut photos = Vec::new();
    let (id, op) = match command {
        CaseCommand::Show { id } => {
            let id = client.resolve_report_id(&id)?;
            let c = client.case(id)?;
            return out.emit(&c, || show_text(&c));
        }
        CaseCommand::Register { id, note } => (id, CaseOp::Register { note }),
        CaseCommand::Reject { id, reason } => (id, CaseOp::Reject { reason }),
        CaseCommand::Dispatch {
            id,
            department,
            note,
        } => (id, CaseOp::Dispatch { department, note }),
        CaseCommand::Dispose {
            id,
            note,
            photos: files,
        } => {
            photos = files;
            (
                id,
                CaseOp::Dispose {
                    note,
                    photos: vec![],
                },
            )
        }
        CaseCommand::SendForVerification { id, verifier } => {
            (id, CaseOp::SendForVerification { verifier })
        }
        CaseCommand::Verify {
            id,
            passed,
            note,
            photos: files,
            ..
        } => {
            photos = files;
            (
                id,
                CaseOp::Verify {
                    passed,
                    note,
                    photos: vec![],
                },
            )
        }
        CaseCommand::Close { id, note } => (id, CaseOp::Close { note }),
        CaseCommand::Reopen { id, reason } => (id, CaseOp::Reopen { reason }),
        CaseCommand::Postpone {
            id,
            reason,
            days,
            hours,
        } => {
            let extension = match (days, hours) {
                (Some(d), _) => TimeLimit::WorkingDays(d),
                (None, Some(h)) => TimeLimit::WorkingHours(h),
                (None, None) => return Err(Failure::Usage("give --days or --hours".into())),
            };
            (id, CaseOp::Postpone { reason, extension })
        }
    };
    let id = client.resolve_report_id(&id)?;
    let name = op.name();
    let op_id = client.case_step_with_photos(id, op, &photos)?;
    out.emit(&json!({"report": id, "step": name, "op": op_id}), || {
        format!("{name} of {id} queued; the server decides at the next sync\n")
    })
}

pub fn tasks(client: &Client, out: &mut Output<'_>) -> Result<(), Failure> {
    let list = client.tasks()?;
    out.emit(&list, || {
        if list.is_empty() {
            "no verification tasks (sync to fetch new ones)\n".into()
        } else {
            format!(
                "{}verify with: gridwarden case verify ID --passed|--failed --note TEXT\n",
                list_text(&list)
            )
        }
    })
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
    let to_ms = to
        .as_deref()
        .map(parse_day)
        .transpose()?
        .unwrap_or_else(now_ms);
    let from_ms = from
        .as_deref()
        .map(parse_day)
        .transpose()?
        .unwrap_or(to_ms - 30 * DAY_MS);
    if from_ms >= to_ms {
        return Err(Failure::Usage("--from must be before --to".into()));
    }
    let rows = client.kpi(by, Period { from_ms, to_ms })?;
    if csv && !out.json {
        return out.emit(&rows, || csv_text(&rows));
    }
    out.emit(&rows, || kpi_text(&rows))
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

fn kpi_text(rows: &[KpiRow]) -> String {
    let mut lines = vec![KPI_COLUMNS.iter().map(|c| c.to_string()).collect()];
    lines.extend(rows.iter().map(|r| kpi_cells(r, pct)));
    table(&lines)
}

fn csv_text(rows: &[KpiRow]) -> String {
    let mut text = KPI_COLUMNS.join(",") + "\n";
    for r in rows {
        let cells = kpi_cells(r, |rate| {
            rate.map(|x| format!("{x:.4}")).unwrap_or_default()
        });
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
