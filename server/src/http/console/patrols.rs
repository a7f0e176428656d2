//! Patrols, their tracks, and the cells nobody visited.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::cases::{params, Params};
use super::{blocking, Authed, ConsoleState};
use crate::console::patrols::PatrolParams;
use crate::http::ApiError;

pub async fn list(
    State(console): ConsoleState,
    Authed(user): Authed,
    q: Params<PatrolParams>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let p = params(q)?;
    Ok(Json(
        blocking(&console, move |c| c.patrols(&user, &p)).await?,
    ))
}

pub async fn detail(
    State(console): ConsoleState,
    Authed(user): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        blocking(&console, move |c| c.patrol(&user, &id)).await?,
    ))
}

pub async fn unvisited(
    State(console): ConsoleState,
    Authed(user): Authed,
    q: Params<PatrolParams>,
) -> Result<Json<Vec<String>>, ApiError> {
    let p = params(q)?;
    Ok(Json(
        blocking(&console, move |c| c.unvisited(&user, &p)).await?,
    ))
}
