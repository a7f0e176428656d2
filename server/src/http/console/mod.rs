//! The console's JSON API (docs/console-api.md): the routes, the session
//! extractor (cookie, CSRF on every POST, same-origin check), and the one
//! way handlers reach the blocking [`Console`].

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::routing::{get, post};
use axum::Router;
use gridwarden_protocol::ErrorCode;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::{ApiError, MAX_BODY_BYTES, REQUEST_TIMEOUT};
use crate::console::{Console, ConsoleUser};
use crate::service::ServiceResult;

mod auth;
mod cases;
mod events;
mod kpi;
mod patrols;
mod reference;

pub const SESSION_COOKIE: &str = "gw_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub type ConsoleState = State<Arc<Console>>;

/// Runs `f` on the blocking pool: the console reads the store, which blocks.
pub async fn blocking<T: Send + 'static>(
    console: &Arc<Console>,
    f: impl FnOnce(&Console) -> ServiceResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    let console = console.clone();
    match tokio::task::spawn_blocking(move || f(&console)).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "a console request failed");
            Err(ApiError::new(
                ErrorCode::Internal,
                "the server could not complete the request; try again",
            ))
        }
    }
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A POST from another origin is refused even with a valid cookie: the
/// browser names the page's origin, which must be this server's.
pub(super) fn same_origin(parts: &Parts) -> Result<(), ApiError> {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .or_else(|| parts.headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    let Some(origin) = origin else {
        return Ok(());
    };
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::Forbidden,
            "this request came from another site's page; open the console itself",
        )),
    }
}

/// The signed-in user of a request; a POST must also carry the session's
/// CSRF token and come from this origin.
pub struct Authed(pub ConsoleUser);

impl FromRequestParts<Arc<Console>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(parts, SESSION_COOKIE).unwrap_or("").to_owned();
        let user = blocking(console, move |c| c.authenticate(&token)).await?;
        if parts.method != Method::GET && parts.method != Method::HEAD {
            same_origin(parts)?;
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // Both are 64 hex digits from our RNG; compare in constant time.
            let equal = sent.len() == user.csrf.len()
                && sent
                    .bytes()
                    .zip(user.csrf.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0;
            if !equal {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this request lacks the page's X-CSRF-Token; reload the console",
                ));
            }
        }
        Ok(Authed(user))
    }
}

pub fn routes(console: Arc<Console>) -> Router {
    let api = Router::new()
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/session", get(auth::session))
        .route("/login/link", get(auth::link))
        .route("/api/meta", get(reference::meta))
        .route("/api/grid", get(reference::grid))
        .route("/api/cases", get(cases::list))
        .route("/api/cases.csv", get(cases::csv))
        .route("/api/reports/markers", get(cases::markers))
        .route("/api/cases/bulk", post(cases::bulk))
        .route("/api/cases/{id}", get(cases::detail))
        .route("/api/cases/{id}/steps", post(cases::step))
        .route("/api/photos/{hash}", get(cases::photo))
        .route("/api/kpi", get(kpi::table))
        .route("/api/kpi.csv", get(kpi::csv))
        .route("/api/kpi/trend", get(kpi::trend))
        .route("/api/patrols", get(patrols::list))
        .route("/api/patrols/{id}", get(patrols::detail))
        .route("/api/cells/unvisited", get(patrols::unvisited))
        .route("/api/alerts", get(events::alerts))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));
    // The event stream lives as long as the page: no request timeout.
    let live = Router::new()
        .route("/api/events", get(events::events))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));
    api.merge(live).with_state(console)
}
