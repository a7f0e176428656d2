//! The server's one HTTP listener, on the same tokio runtime as QUIC: one
//! router with a module per surface. Today that is the supervisor console
//! (`console/`: its JSON API; `assets.rs`: its page, embedded at build
//! time), Open311 (`open311/`), and `/metrics`, `/healthz`, `/readyz`
//! (`ops.rs`), merged in [`router`]. Handlers are thin: they parse, call the
//! [`Console`] (which calls the same `Service` as the QUIC edge) on the
//! blocking pool, and map errors to statuses in one place (`error.rs`).
//! docs/adr/0017-http-stack.md says why axum and axum-server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{header, HeaderName, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Open311Section;
use crate::console::Console;

pub mod assets;
pub mod console;
mod error;
pub mod open311;
pub mod ops;

pub use error::ApiError;

/// Largest request body: a sign-in or a case step is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Time for a whole request (not the event stream, which is long-lived).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a TLS client gets for its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The content security policy of every response: nothing but this origin,
/// no inline script, never framed. Leaflet positions its panes with inline
/// styles, hence `style-src 'unsafe-inline'`; a configured base layer's
/// host is allowed for images.
fn content_security_policy(base_layer: Option<&str>) -> String {
    let tiles = base_layer
        .and_then(|url| {
            let rest = url.split_once("://")?.1;
            let host = rest.split(['/', '?']).next()?;
            let scheme = url.split_once("://")?.0;
            // `{s}` subdomains become a wildcard.
            Some(format!(" {scheme}://{}", host.replace("{s}", "*")))
        })
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; img-src 'self' data: blob:{tiles}; \
         style-src 'self' 'unsafe-inline'; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Every surface under one router, Open311 with its default settings.
pub fn router(console: Arc<Console>) -> Router {
    router_with(console, Open311Section::default())
}

/// Every surface under one router, with the headers every response gets.
pub fn router_with(console: Arc<Console>, open311: Open311Section) -> Router {
    router_parts(console, open311, ops::Health::default())
}

fn router_parts(console: Arc<Console>, open311: Open311Section, health: ops::Health) -> Router {
    let ops = ops::routes(
        console.service.clone(),
        health,
        console.config.metrics_token.clone(),
    );
    let open311 = Arc::new(open311::Open311::new(console.service.clone(), open311));
    let csp = content_security_policy(console.config.base_layer_url.as_deref());
    let header = |name: HeaderName, value: &str| {
        SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("")),
        )
    };
    Router::new()
        .merge(assets::routes())
        .merge(console::routes(console))
        .merge(open311::routes(open311))
        .merge(ops)
        // gzip when the browser asks (the city's map is ~2.8 MB of GeoJSON
        // for 10,000 cells, about 150 KB compressed); never the event
        // stream or images (tower-http's default predicate).
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(header(header::CONTENT_SECURITY_POLICY, &csp))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
}

/// A running listener.
pub struct HttpServer {
    pub local_addr: SocketAddr,
    pub tls: bool,
    handle: axum_server::Handle,
    health: ops::Health,
    /// The HTTPS configuration and the PEM files it came from, read again
    /// by [`HttpServer::reload_tls`].
    tls_files: Option<(axum_server::tls_rustls::RustlsConfig, PathBuf, PathBuf)>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// The URL the console is opened at.
    pub fn console_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/console/", self.local_addr)
    }

    /// Reads the console's certificate and key again (SIGHUP): new
    /// connections get them; a pair that does not load, does not match or
    /// is outside its validity at `now_ms` is refused and the old one kept.
    /// `Ok(false)` when the listener is plain HTTP.
    pub fn reload_tls(&self, now_ms: i64) -> anyhow::Result<bool> {
        let Some((config, cert, key)) = &self.tls_files else {
            return Ok(false);
        };
        let (fresh, leaf) = rustls_server_config(cert, key)?;
        let (from, until) = crate::tls::validity_ms(&leaf)
            .with_context(|| format!("console.tls_cert {}", cert.display()))?;
        if now_ms < from || now_ms > until {
            anyhow::bail!(
                "console.tls_cert {} is valid from {from} to {until} (Unix ms), not now",
                cert.display()
            );
        }
        config.reload_from_config(fresh);
        Ok(true)
    }

    /// Stops accepting, gives open requests a moment, then drops them.
    pub async fn shutdown(self) {
        // `/readyz` says so while open requests finish.
        self.health.shutting_down();
        self.handle.graceful_shutdown(Some(Duration::from_secs(2)));
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
    }
}

/// [`start_with`] Open311's default settings.
pub fn start(console: Arc<Console>, listen: SocketAddr) -> anyhow::Result<HttpServer> {
    start_with(console, Open311Section::default(), listen)
}

/// Binds `listen` and serves `console` (and the other surfaces) on the
/// current tokio runtime; HTTPS when the config names a certificate and key.
pub fn start_with(
    console: Arc<Console>,
    open311: Open311Section,
    listen: SocketAddr,
) -> anyhow::Result<HttpServer> {
    let tls = match (&console.config.tls_cert, &console.config.tls_key) {
        (Some(cert), Some(key)) => Some((rustls_config(cert, key)?, cert.clone(), key.clone())),
        _ => None,
    };
    let tls_files = tls.clone();
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("binding the console's HTTP listener on {listen}"))?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let health = ops::Health::default();
    let app = router_parts(console, open311, health.clone())
        .into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let is_tls = tls.is_some();
    let task = match tls {
        Some((config, _, _)) => {
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .handshake_timeout(HANDSHAKE_TIMEOUT);
            let server = axum_server::from_tcp(listener)
                .acceptor(acceptor)
                .handle(handle.clone());
            tokio::spawn(async move {
                if let Err(e) = server.serve(app).await {
                    tracing::error!(error = %e, "the console's HTTPS listener stopped");
                }
            })
        }
        None => {
            let server = axum_server::from_tcp(listener).handle(handle.clone());
            tokio::spawn(async move {
                if let Err(e) = server.serve(app).await {
                    tracing::error!(error = %e, "the console's HTTP listener stopped");
                }
            })
        }
    };
    Ok(HttpServer {
        local_addr,
        tls: is_tls,
        handle,
        health,
        tls_files,
        task,
    })
}

/// rustls with the ring provider (the one QUIC uses) and the PEM files of
/// the config: IT's certificate for the console, not the pinned QUIC one.
fn rustls_config(cert: &Path, key: &Path) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
    let (config, _) = rustls_server_config(cert, key)?;
    Ok(axum_server::tls_rustls::RustlsConfig::from_config(config))
}

/// The rustls configuration of the PEM files, and the leaf certificate's DER.
fn rustls_server_config(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, Vec<u8>)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("console.tls_cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("console.tls_cert {} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("console.tls_key {}: {e}", key.display()))?;
    let leaf = certs[0].to_vec();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the console's certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), leaf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_certificate_is_read_from_pem_files_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let one = rcgen::generate_simple_self_signed(vec!["gw.example".into()]).unwrap();
        let two = rcgen::generate_simple_self_signed(vec!["gw.example".into()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let other_key = dir.path().join("other.pem");
        std::fs::write(&cert, one.cert.pem()).unwrap();
        std::fs::write(&key, one.key_pair.serialize_pem()).unwrap();
        std::fs::write(&other_key, two.key_pair.serialize_pem()).unwrap();
        rustls_config(&cert, &key).unwrap();
        let err = format!("{:#}", rustls_config(&cert, &other_key).unwrap_err());
        assert!(err.contains("do not go together"), "{err}");
        let err = format!(
            "{:#}",
            rustls_config(&dir.path().join("nope.pem"), &key).unwrap_err()
        );
        assert!(
            err.contains("console.tls_cert") && err.contains("nope.pem"),
            "{err}"
        );
        std::fs::write(&cert, "not a certificate").unwrap();
        let err = format!("{:#}", rustls_config(&cert, &key).unwrap_err());
        assert!(err.contains("console.tls_cert"), "{err}");
    }

    #[test]
    fn the_policy_allows_a_configured_base_layer_and_nothing_inline() {
        let plain = content_security_policy(None);
        assert!(plain.contains("script-src 'self';") && !plain.contains("unsafe-eval"));
        assert!(plain.contains("frame-ancestors 'none'"));
        let tiles = content_security_policy(Some(
            "https://{s}.tiles.example.gov.cn/wmts/{z}/{x}/{y}.png",
        ));
        assert!(
            tiles.contains("img-src 'self' data: blob: https://*.tiles.example.gov.cn;"),
            "{tiles}"
        );
    }
}
