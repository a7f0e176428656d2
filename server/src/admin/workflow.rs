//! What the case loop needs from IT: the category table with its limits and
//! default departments, the departments, who works for which, and the
//! working calendar deadlines are counted in.

use std::path::Path;

use anyhow::{bail, Context};
use gridwarden_workflow::categories::{self, CategoryImport};
use gridwarden_workflow::WorkingCalendar;
use serde::Serialize;

use super::access;
use crate::datadir::DataDir;
use crate::service::cases::CALENDAR_KEY;
use crate::store::Department;

#[derive(Debug, Serialize)]
pub struct CategoriesImported {
    pub version: u64,
    pub categories: usize,
    pub routes: usize,
}

/// Imports a category table from CSV or JSON (by the file's extension);
/// every department it routes to must exist.
pub fn import_categories(data: &DataDir, path: &Path) -> anyhow::Result<CategoriesImported> {
    let text = super::read_file(path)?;
    let CategoryImport { table, routes } = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => categories::from_csv(&text)?,
        Some("json") => categories::from_json(&text)?,
        _ => bail!("{}: name a .csv or .json file", path.display()),
    };
    let known: Vec<String> = data
        .store()
        .departments()?
        .into_iter()
        .map(|d| d.code)
        .collect();
    if let Some((code, missing)) = routes.iter().find(|(_, d)| !known.contains(d)) {
        bail!(
            "category {code} is routed to department `{missing}`, which does not exist; add it first with `gridwarden-server departments add {missing} NAME`"
        );
    }
    let now = data.service.now();
    let version = crate::store::write(data.store().as_ref(), |tx| {
        let version = tx.put_categories(&table, now)?;
        tx.set_category_routes(&routes)?;
        tx.append_audit(&access::record(
            data,
            "categories.import",
            &format!("table v{version}"),
            format!(
                "{} categories, {} routes, from {}",
                table.categories.len(),
                routes.len(),
                path.display()
            ),
        ))?;
        Ok(version)
    })?;
    Ok(CategoriesImported {
        version,
        categories: table.categories.len(),
        routes: routes.len(),
    })
}

pub fn add_department(
    data: &DataDir,
    code: &str,
    name: &str,
    utility: bool,
) -> anyhow::Result<Department> {
    if code.is_empty()
        || code.chars().count() > gridwarden_protocol::validate::MAX_DEPARTMENT_CHARS
        || code.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        bail!("a department code must be 1–32 characters without spaces");
    }
    if name.trim().is_empty() {
        bail!("a department needs a name");
    }
    let department = Department {
        code: code.into(),
        name: name.trim().into(),
        utility,
    };
    let kind = if utility { "utility" } else { "department" };
    data.store().add_department(
        &department,
        &access::record(
            data,
            "department.add",
            code,
            format!("{kind} {:?}", department.name),
        ),
    )?;
    Ok(department)
}

/// Makes `user` act for `department` (report disposal of its cases), or
/// for none.
pub fn set_user_department(
    data: &DataDir,
    user: &str,
    department: Option<&str>,
) -> anyhow::Result<()> {
    let detail = department
        .map(str::to_owned)
        .unwrap_or_else(|| "none".into());
    data.store().set_user_department(
        user,
        department,
        &access::record(data, "user.department", user, detail),
    )?;
    Ok(())
}

/// Replaces the working calendar (JSON, see docs/kpi.md). Deadlines set
/// from now on use it; deadlines already set stay.
pub fn import_calendar(data: &DataDir, path: &Path) -> anyhow::Result<WorkingCalendar> {
    let text = super::read_file(path)?;
    let calendar = WorkingCalendar::from_json(&text)
        .with_context(|| format!("{}: nothing was changed", path.display()))?;
    let normalised = serde_json::to_string(&calendar.to_file())?;
    let file = calendar.to_file();
    let audit = access::record(
        data,
        "calendar.import",
        "working calendar",
        format!(
            "{} holidays, {} worked weekend days",
            file.holidays.len(),
            file.working_weekends.len()
        ),
    );
    crate::store::write(data.store().as_ref(), |tx| {
        tx.set_meta(CALENDAR_KEY, &normalised)?;
        tx.append_audit(&audit)?;
        Ok(())
    })?;
    Ok(calendar)
}
