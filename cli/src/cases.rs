//! Case commands: list, show and step cases, verification tasks, and KPIs.

use gridwarden_client_core::case::{CaseOp, CaseStatus};
use gridwarden_client_core::category::TimeLimit;
use gridwarden_client_core::{CaseFilter, CaseView, Client, ReferenceNames, ShortIds};
use serde::Serialize;
use serde_json::json;

use crate::args::CaseCommand;
use crate::commands::{Output, CELL_NAME_COLS};
use crate::names::named;
use crate::render::{excerpt, table};
use crate::time::Offset;
use crate::Failure;

/// A case in `--json` with the names of its codes the device knows
/// (`null` where it knows none; departments have none on a device).
#[derive(Serialize)]
struct NamedCase<'a> {
    #[serde(flatten)]
    case: &'a CaseView,
    category_name: Option<&'a str>,
    cell_name: Option<&'a str>,
}

fn with_names<'a>(case: &'a CaseView, names: &'a ReferenceNames) -> NamedCase<'a> {
    NamedCase {
        case,
        category_name: case.category.as_deref().and_then(|c| names.category(c)),
        cell_name: case.grid_cell.as_deref().and_then(|c| names.cell(c)),
    }
}

/// What the text of a case list needs besides the cases.
struct Context {
    short: ShortIds,
    names: ReferenceNames,
    offset: Offset,
}

impl Context {
    fn of(client: &Client, offset: Offset) -> Result<Context, Failure> {
        Ok(Context {
            short: client.report_short_ids()?,
            names: client.reference_names()?,
            offset,
        })
    }

    fn category(&self, code: Option<&str>) -> String {
        match code {
            Some(code) => named(code, self.names.category(code)),
            None => "-".into(),
        }
    }
}

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
    let cx = Context::of(client, out.offset)?;
    let named: Vec<_> = list.iter().map(|c| with_names(c, &cx.names)).collect();
    out.emit(&named, || list_text(&list, &cx))
}

fn list_text(list: &[CaseView], cx: &Context) -> String {
    let mut rows = vec![vec![
        "REPORT".into(),
        "STATUS".into(),
        "CATEGORY".into(),
        "DEPT".into(),
        format!("DEADLINE ({})", cx.offset.label()),
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
            cx.short.of(&c.report_id),
            status,
            cx.category(c.category.as_deref()),
            c.department.clone().unwrap_or_else(|| "-".into()),
            c.deadline_ms
                .map(|ms| cx.offset.short(ms))
                .unwrap_or_else(|| "-".into()),
            crate::names::cell(&cx.names, c.grid_cell.as_deref(), CELL_NAME_COLS),
            excerpt(c.note.as_deref().unwrap_or(""), 30),
        ]);
    }
    format!("{}{} cases\n", table(&rows), list.len())
}

fn show_text(c: &CaseView, names: &ReferenceNames, offset: Offset) -> String {
    let category = match c.category.as_deref() {
        Some(code) => named(code, names.category(code)),
        None => "-".into(),
    };
    let cell = match c.grid_cell.as_deref() {
        Some(code) => named(code, names.cell(code)),
        None => "unassigned".into(),
    };
    let mut text = format!(
        "case of report {}\nstatus:     {}{}\ncategory:   {category}\ncell:       {cell}\n\
         note:       {}\nreporter:   {}\ndepartment: {}\ndeadline:   {}\nreworks:    {}\n",
        c.report_id,
        c.status,
        if c.overdue { " (OVERDUE)" } else { "" },
        excerpt(c.note.as_deref().unwrap_or(""), 60),
        c.reporter.as_deref().unwrap_or("-"),
        c.department.as_deref().unwrap_or("-"),
        c.deadline_ms
            .map(|ms| offset.full(ms))
            .unwrap_or_else(|| "-".into()),
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
    text.push_str(&format!("history (UTC{}):\n", offset.label()));
    for s in &c.history {
        let photos = if s.photos.is_empty() {
            String::new()
        } else {
            let short: Vec<_> = s.photos.iter().map(|h| &h[..12]).collect();
            format!(" [photos {}]", short.join(" "))
        };
        text.push_str(&format!(
            "  {}  {:<22} {} → {}  by {} ({}){}{photos}\n",
            offset.short(s.server_ms),
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
            let id = crate::ids::report(client, &id, out.offset)?;
            let c = client.case(id)?;
            let names = client.reference_names()?;
            let offset = out.offset;
            return out.emit(&with_names(&c, &names), || show_text(&c, &names, offset));
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
    let id = crate::ids::report(client, &id, out.offset)?;
    let name = op.name();
    let op_id = client.case_step_with_photos(id, op, &photos)?;
    out.emit(&json!({"report": id, "step": name, "op": op_id}), || {
        format!("{name} of {id} queued; the server decides at the next sync\n")
    })
}

pub fn tasks(client: &Client, out: &mut Output<'_>) -> Result<(), Failure> {
    let list = client.tasks()?;
    let cx = Context::of(client, out.offset)?;
    let named: Vec<_> = list.iter().map(|c| with_names(c, &cx.names)).collect();
    out.emit(&named, || {
        if list.is_empty() {
            "no verification tasks (sync to fetch new ones)\n".into()
        } else {
            format!(
                "{}verify with: gridwarden case verify ID --passed|--failed --note TEXT\n",
                list_text(&list, &cx)
            )
        }
    })
}
