//! Open311 GeoReport v2 under `/open311/v2/` (docs/open311.md): the city's
//! services, hotline requests filed with an API key and read by anyone, the
//! loop's steps as FixMyStreet's updates, and citizens' ratings. JSON or
//! XML by the path's extension, errors in the spec's layout. Handlers parse
//! and run the decisions of `requests.rs` on the blocking pool; a request
//! becomes a report through the same `Service` push a device's takes.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower_http::timeout::TimeoutLayer;

use super::REQUEST_TIMEOUT;
use crate::config::Open311Section;
use crate::service::Service;

mod catalogue;
mod dates;
pub mod doc;
mod form;
mod limit;
mod requests;
mod view;

use doc::{render, Format, Node, Oops};

/// What the Open311 handlers share.
pub struct Open311 {
    pub service: Arc<Service>,
    pub config: Open311Section,
    limiter: limit::KeyLimiter,
}

impl Open311 {
    pub fn new(service: Arc<Service>, config: Open311Section) -> Self {
        Self {
            service,
            config,
            limiter: limit::KeyLimiter::new(),
        }
    }
}

type Shared = State<Arc<Open311>>;

/// A decided answer: its status, XML root and body.
pub(crate) struct Answer {
    status: StatusCode,
    root: &'static str,
    body: Node,
}

impl Answer {
    fn ok(root: &'static str, body: Node) -> Self {
        Self {
            status: StatusCode::OK,
            root,
            body,
        }
    }
}

/// Runs `f` on the blocking pool (the store blocks) and renders its answer.
async fn blocking(
    open311: &Arc<Open311>,
    format: Format,
    f: impl FnOnce(&Open311) -> Result<Answer, Oops> + Send + 'static,
) -> Response {
    let open311 = open311.clone();
    let result = match tokio::task::spawn_blocking(move || f(&open311)).await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "an Open311 request failed");
            Err(Oops::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server could not complete the request; try again",
            ))
        }
    };
    match result {
        Ok(a) => render(a.status, format, a.root, &a.body),
        Err(oops) => oops.render(format),
    }
}

/// The file part of a path: its name and format; an unknown extension is
/// the spec's 404 (in JSON, the format it could not tell).
fn file(name: &str) -> Result<(&str, Format), Response> {
    Format::split(name).ok_or_else(|| {
        Oops::not_found(format!(
            "`{name}` is not a resource of this interface; end the path in .json or .xml"
        ))
        .render(Format::Json)
    })
}

fn query_pairs(query: Option<String>) -> Vec<(String, String)> {
    form::pairs(query.unwrap_or_default().as_bytes())
}

/// `http(s)://host/open311/v2` as the client reached us.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}/open311/v2")
}

async fn top_get(
    State(open311): Shared,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (stem, format) = match file(&name) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let query = query_pairs(query);
    let base = base_url(&headers);
    let stem = stem.to_owned();
    blocking(&open311, format, move |o| {
        o.jurisdiction(&query)?;
        match stem.as_str() {
            "discovery" => Ok(Answer::ok(
                "discovery",
                catalogue::discovery(&o.config, &base),
            )),
            "services" => Ok(Answer::ok(
                "services",
                catalogue::services(&*o.categories()?, &o.config),
            )),
            "requests" => o.list_requests(&query),
            "servicerequestupdates" => o.updates(&query),
            "ratings" => o.ratings(),
            _ => Err(Oops::not_found(format!(
                "`{name}` is not a resource of this interface; see discovery.json"
            ))),
        }
    })
    .await
}

/// Reads a body up to the configured limit; more is the spec's error, and
/// nothing of it is kept.
async fn read_body(body: Body, limit: usize) -> Result<Vec<(String, String)>, Oops> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(form::pairs(&bytes)),
        Err(_) => Err(Oops::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over this server's limit of {limit} bytes"),
        )),
    }
}

async fn top_post(
    State(open311): Shared,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let (stem, format) = match file(&name) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if stem != "requests" {
        return Oops::not_found(format!(
            "`{name}` takes no POST; POST requests.{{json,xml}}"
        ))
        .render(format);
    }
    let mut pairs = match read_body(body, open311.config.max_body_bytes).await {
        Ok(p) => p,
        Err(oops) => return oops.render(format),
    };
    // The spec puts jurisdiction_id (and some clients api_key) in the URL.
    pairs.extend(query_pairs(query));
    let now = Instant::now();
    blocking(&open311, format, move |o| o.file_request(&pairs, now)).await
}

async fn definition(
    State(open311): Shared,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (code, format) = match file(&name) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let code = code.to_owned();
    let query = query_pairs(query);
    blocking(&open311, format, move |o| {
        o.jurisdiction(&query)?;
        let body = catalogue::definition(&code, &*o.categories()?, &o.config)?;
        Ok(Answer::ok("service_definition", body))
    })
    .await
}

async fn one_request(
    State(open311): Shared,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (id, format) = match file(&name) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let id = id.to_owned();
    let query = query_pairs(query);
    blocking(&open311, format, move |o| {
        o.jurisdiction(&query)?;
        o.one_request(&id)
    })
    .await
}

async fn token(
    State(open311): Shared,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (token, format) = match file(&name) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let token = token.to_owned();
    let query = query_pairs(query);
    blocking(&open311, format, move |o| {
        o.jurisdiction(&query)?;
        o.token(&token)
    })
    .await
}

async fn feedback(
    State(open311): Shared,
    Path((token, name)): Path<(String, String)>,
    body: Body,
) -> Response {
    let (stem, format) = match file(&name) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if stem != "feedback" {
        return Oops::not_found("POST tokens/{token}/feedback.{json,xml} to rate a request")
            .render(format);
    }
    let pairs = match read_body(body, open311.config.max_body_bytes).await {
        Ok(p) => p,
        Err(oops) => return oops.render(format),
    };
    blocking(&open311, format, move |o| o.rate(&token, &pairs)).await
}

pub fn routes(open311: Arc<Open311>) -> Router {
    Router::new()
        .route("/open311/v2/{file}", get(top_get).post(top_post))
        .route("/open311/v2/services/{file}", get(definition))
        .route("/open311/v2/requests/{file}", get(one_request))
        .route("/open311/v2/tokens/{file}", get(token))
        .route("/open311/v2/tokens/{token}/{file}", post(feedback))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(open311)
}
