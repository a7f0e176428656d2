//! The case queue, its CSV export and the map's markers.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{blocking, Authed, ConsoleState};
use serde_json::Value;

use crate::console::cases::{BulkRequest, StepRequest};
use crate::console::queue::{CaseRow, Marker, QueuePage, QueueParams};
use crate::http::ApiError;

/// A query string that does not parse (a number that is not one) is a 400
/// naming the parameter, like a bad code.
pub type Params<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

pub fn params<T>(q: Params<T>) -> Result<T, ApiError> {
    q.map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

pub async fn list(
    State(console): ConsoleState,
    Authed(user): Authed,
    q: Params<QueueParams>,
) -> Result<Json<QueuePage>, ApiError> {
    let p = params(q)?;
    Ok(Json(blocking(&console, move |c| c.queue(&user, &p)).await?))
}

pub async fn markers(
    State(console): ConsoleState,
    Authed(user): Authed,
    q: Params<QueueParams>,
) -> Result<Json<Vec<Marker>>, ApiError> {
    let p = params(q)?;
    Ok(Json(
        blocking(&console, move |c| c.markers(&user, &p)).await?,
    ))
}

const CSV_COLUMNS: [&str; 16] = [
    "id",
    "status",
    "category",
    "category_name",
    "cell",
    "cell_name",
    "street",
    "department",
    "department_name",
    "reporter",
    "source",
    "reported_at",
    "deadline",
    "overdue",
    "note",
    "lon,lat",
];

/// A CSV field, quoted when it must be; a leading `=`, `+`, `-` or `@` is
/// prefixed with `'` so a spreadsheet does not run a device's note as a
/// formula.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) && text.parse::<f64>().is_err() {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv_line(r: &CaseRow) -> String {
    let opt = |v: &Option<String>| field(v.as_deref().unwrap_or(""));
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let mut line = [
        field(&r.id),
        r.status.to_string(),
        opt(&r.category),
        opt(&r.category_name),
        opt(&r.cell),
        opt(&r.cell_name),
        opt(&r.street),
        opt(&r.department),
        opt(&r.department_name),
        field(&r.reporter),
        r.source.to_owned(),
        r.reported_at.clone(),
        opt(&r.deadline),
        r.overdue.to_string(),
        field(&r.note),
        num(r.lon),
        num(r.lat),
    ]
    .join(",");
    line.push_str("\r\n");
    line
}

pub async fn csv(
    State(console): ConsoleState,
    Authed(user): Authed,
    q: Params<QueueParams>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let (_, rows) = blocking(&console, move |c| c.export(&user, &p)).await?;
    // Streamed in chunks of rows: the rows are built already (capped), the
    // text is produced as the client reads.
    let header_line = format!("\u{feff}{}\r\n", CSV_COLUMNS.join(","));
    let mut rows = rows.into_iter();
    let chunks = std::iter::once(header_line).chain(std::iter::from_fn(move || {
        let chunk: String = rows.by_ref().take(1000).map(|r| csv_line(&r)).collect();
        (!chunk.is_empty()).then_some(chunk)
    }));
    let stream = futures_util::stream::iter(chunks.map(Ok::<_, std::convert::Infallible>));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"cases.csv\"",
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// A JSON body, or a 400 that says what is wrong with it.
pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("expected {shape}: {e}")))
}

pub async fn detail(
    State(console): ConsoleState,
    Authed(user): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        blocking(&console, move |c| c.case_detail(&user, &id)).await?,
    ))
}

pub async fn step(
    State(console): ConsoleState,
    Authed(user): Authed,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: StepRequest = body(
        &bytes,
        "{\"step\", \"text\"?, \"department\"?, \"verifier\"?, \"extension\"?}",
    )?;
    Ok(Json(
        blocking(&console, move |c| c.step(&user, &id, &request)).await?,
    ))
}

pub async fn bulk(
    State(console): ConsoleState,
    Authed(user): Authed,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: BulkRequest = body(
        &bytes,
        "{\"ids\": [...], \"step\": \"register|dispatch\", \"department\"?}",
    )?;
    let results = blocking(&console, move |c| c.bulk(&user, &request)).await?;
    Ok(Json(serde_json::json!({ "results": results })))
}

pub async fn photo(
    State(console): ConsoleState,
    Authed(user): Authed,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let (bytes, mime) = blocking(&console, move |c| c.photo(&user, &hash)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            // Content-addressed: the bytes of a hash never change.
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        bytes,
    )
        .into_response())
}
