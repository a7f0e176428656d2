//! What IT's monitoring reads (docs/operations.md, "Watch"): `/metrics` in
//! OpenMetrics text (the process's [`crate::metrics`]), `/healthz` (the
//! process answers) and `/readyz` (the store answers and the server is not
//! shutting down).
//!
//! `/metrics` is answered to loopback peers, or to anyone presenting the
//! configured `console.metrics_token` as a bearer token (with a token set,
//! loopback needs it too: a reverse proxy on the same host would otherwise
//! hand the page to the world). Its labels carry no device, user or report
//! (see `metrics.rs`), so what leaks with it is load, not data.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::service::Service;

/// How long `/readyz` waits for the store before saying it is not ready.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the listener is being shut down; set by `HttpServer::shutdown`.
#[derive(Clone, Default)]
pub struct Health {
    shutting_down: Arc<AtomicBool>,
}

impl Health {
    pub fn shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Ops {
    service: Arc<Service>,
    health: Health,
    token: Option<Arc<str>>,
}

pub fn routes(service: Arc<Service>, health: Health, token: Option<String>) -> Router {
    let state = Ops {
        service,
        health,
        token: token.filter(|t| !t.is_empty()).map(Arc::from),
    };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(
    State(ops): State<Ops>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let allowed = match &ops.token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            // blake3's `Hash` compares in constant time.
            .is_some_and(|given| blake3::hash(given.as_bytes()) == blake3::hash(token.as_bytes())),
        // A dual-stack listener sees an IPv4 peer as `::ffff:a.b.c.d`.
        None => peer.ip().to_canonical().is_loopback(),
    };
    if !allowed {
        let why = if ops.token.is_some() {
            "/metrics needs the bearer token set as console.metrics_token\n"
        } else {
            "/metrics is answered on loopback only; set console.metrics_token to scrape it from elsewhere\n"
        };
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::get().encode(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(ops): State<Ops>) -> Response {
    let service = ops.service.clone();
    let store = tokio::time::timeout(
        STORE_TIMEOUT,
        tokio::task::spawn_blocking(move || service.store().auth_epoch()),
    )
    .await;
    let store = match store {
        Ok(Ok(Ok(_))) => "ok".to_string(),
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "readiness: the store failed");
            "failing".to_string()
        }
        Ok(Err(_)) => "failing: the check did not finish".to_string(),
        Err(_) => format!("not answering within {} s", STORE_TIMEOUT.as_secs()),
    };
    let shutting_down = ops.health.shutting_down.load(Ordering::SeqCst);
    let ready = store == "ok" && !shutting_down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "store": store,
        "shutting_down": shutting_down,
        "connections_open": crate::metrics::get().connections_open.get(),
    });
    (status, Json(body)).into_response()
}
