//! Sign-in, sign-out and the session.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{blocking, Authed, ConsoleState, SESSION_COOKIE};
use crate::console::Console;
use crate::http::ApiError;

#[derive(Deserialize)]
pub struct Login {
    user: String,
    password: String,
}

fn session_cookie(console: &Console, token: &str) -> String {
    let max_age = u64::from(console.config.session_hours) * 3600;
    let secure = if console.tls { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}

fn cleared_cookie(console: &Console) -> String {
    let secure = if console.tls { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

pub async fn login(
    State(console): ConsoleState,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers;
    super::same_origin(&parts)?;
    let login: Login = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("a sign-in is {{\"user\", \"password\"}}: {e}"))
    })?;
    let address = addr.ip().to_string();
    let (token, user) = blocking(&console, move |c| {
        c.sign_in(&login.user, &login.password, &address)
    })
    .await?;
    let body = json!({"user": user.name(), "role": user.role(), "csrf": user.csrf});
    Ok((
        [(header::SET_COOKIE, session_cookie(&console, &token))],
        Json(body),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

pub async fn link(
    State(console): ConsoleState,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let address = addr.ip().to_string();
    match blocking(&console, move |c| c.sign_in_link(&q.token, &address)).await {
        Ok((token, _)) => (
            [(header::SET_COOKIE, session_cookie(&console, &token))],
            Redirect::to("/console/"),
        )
            .into_response(),
        Err(e) => {
            let (status, _) = e.status();
            // A sentence as plain text: nothing from the request is echoed.
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{}\n", e.0),
            )
                .into_response()
        }
    }
}

pub async fn logout(
    State(console): ConsoleState,
    Authed(user): Authed,
) -> Result<Response, ApiError> {
    blocking(&console, move |c| c.sign_out(&user)).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cleared_cookie(&console))],
    )
        .into_response())
}

pub async fn session(
    State(console): ConsoleState,
    Authed(user): Authed,
) -> Result<Response, ApiError> {
    let info = blocking(&console, move |c| c.session_info(&user)).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(info)).into_response())
}
