//! Names for codes, and the grid for the map.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::{blocking, Authed, ConsoleState};
use crate::http::ApiError;

pub async fn meta(
    State(console): ConsoleState,
    Authed(user): Authed,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(blocking(&console, move |c| c.meta(&user)).await?))
}

pub async fn grid(
    State(console): ConsoleState,
    Authed(user): Authed,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        blocking(&console, move |c| c.grid_geojson(&user)).await?,
    ))
}
