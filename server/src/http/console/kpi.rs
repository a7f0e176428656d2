//! KPIs: the table, its CSV and the weekly trend.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwarden_workflow::KpiRow;

use super::cases::{params, Params};
use super::{blocking, Authed, ConsoleState};
use crate::console::kpi::{KpiParams, KpiTable, Week};
use crate::http::ApiError;

pub async fn table(
    State(console): ConsoleState,
    Authed(user): Authed,
    q: Params<KpiParams>,
) -> Result<Json<KpiTable>, ApiError> {
    let p = params(q)?;
    Ok(Json(
        blocking(&console, move |c| c.kpi_table(&user, &p)).await?,
    ))
}

pub async fn trend(
    State(console): ConsoleState,
    Authed(user): Authed,
    q: Params<KpiParams>,
) -> Result<Json<Vec<Week>>, ApiError> {
    let p = params(q)?;
    Ok(Json(
        blocking(&console, move |c| c.kpi_trend(&user, &p)).await?,
    ))
}

/// The columns of `gw kpi --csv`, with the group's name after its key.
const COLUMNS: &str = "key,name,reported,registered,rejected,dispatched,due,closed,closed_on_time,reworked,overdue,postponed,closed_in_period,mean_hours_to_close,closing_rate,on_time_rate,rework_rate";

fn line(name: &str, r: &KpiRow) -> String {
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
    let quote = |t: &str| {
        if t.contains([',', '"', '\n']) {
            format!("\"{}\"", t.replace('"', "\"\""))
        } else {
            t.to_owned()
        }
    };
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
        quote(&r.key),
        quote(name),
        r.reported,
        r.registered,
        r.rejected,
        r.dispatched,
        r.due,
        r.closed,
        r.closed_on_time,
        r.reworked,
        r.overdue,
        r.postponed,
        r.closed_in_period,
        opt(r.mean_hours_to_close),
        opt(r.closing_rate),
        opt(r.on_time_rate),
        opt(r.rework_rate),
    )
}

pub async fn csv(
    State(console): ConsoleState,
    Authed(user): Authed,
    q: Params<KpiParams>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let table = blocking(&console, move |c| c.kpi_table(&user, &p)).await?;
    let mut text = format!("\u{feff}{COLUMNS}\r\n");
    for r in &table.rows {
        text.push_str(&line(r.name.as_deref().unwrap_or(""), &r.row));
    }
    text.push_str(&line("", &table.total));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"kpi.csv\"",
            ),
        ],
        text,
    )
        .into_response())
}
