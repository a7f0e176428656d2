//! The console's page: whatever `server/console/` held at build time,
//! embedded by `build.rs` (no npm, no network at build or run time). Until
//! the page exists, a placeholder says so.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

const PLACEHOLDER: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
<title>gridwarden console</title><h1>gridwarden console</h1>\
<p>This server was built without the console's page (server/console/ was empty). \
The console's API is served under <code>/api/</code>.</p></html>";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn asset(path: &str) -> Option<&'static [u8]> {
    embedded::ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
}

fn index() -> Response {
    match asset("index.html") {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        None => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            PLACEHOLDER,
        )
            .into_response(),
    }
}

async fn file(Path(path): Path<String>) -> Response {
    if let Some(bytes) = asset(&path) {
        return (
            [
                (header::CONTENT_TYPE, content_type(&path)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response();
    }
    // The page's own routes (`/console/login`, `/console/cases`) are the
    // single page; a missing file is a 404.
    if path
        .rsplit('/')
        .next()
        .is_some_and(|last| !last.contains('.'))
    {
        return index();
    }
    (StatusCode::NOT_FOUND, "no such file in the console").into_response()
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { index() }))
        .route("/console/{*path}", get(file))
}

/// Whether the page itself was built in (not the placeholder).
pub fn has_page() -> bool {
    asset("index.html").is_some()
}
