//! What `serve` does while it runs, besides serving: certificates read
//! again on SIGHUP, the live file `status` reads, and waiting for the
//! signal to stop.

use std::path::Path;
use std::time::Duration;

use gridwarden_protocol::enrolment::hex;

use crate::datadir::live::{self, Live};
use crate::http::HttpServer;
use crate::net::RunningServer;
use crate::service::Service;

/// How often the live file is refreshed.
const LIVE_EVERY: Duration = Duration::from_secs(2);

/// Serves until SIGTERM or Ctrl-C; reloads certificates on each SIGHUP.
pub async fn until_shutdown(
    dir: &Path,
    service: &Service,
    server: &RunningServer,
    http: Option<&HttpServer>,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut tick = tokio::time::interval(LIVE_EVERY);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        #[cfg(unix)]
        let hup = hangup.recv();
        #[cfg(not(unix))]
        let hup = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = &mut shutdown => break,
            _ = hup => reload_certificates(dir, service, server, http),
            _ = tick.tick() => {
                let now = Live {
                    pid: std::process::id(),
                    updated_ms: service.now(),
                    connected_devices: server.connected_devices(),
                    http: http.map(HttpServer::console_url),
                };
                if let Err(e) = live::write(dir, &now) {
                    tracing::warn!(error = %format!("{e:#}"), "could not write the live file status reads");
                }
            }
        }
    }
    live::remove(dir);
    Ok(())
}

/// The QUIC identity from the data directory and the console's PEM files,
/// each taken only if it loads, matches its key and is valid now; a refused
/// one is logged and the one in use kept.
pub fn reload_certificates(
    dir: &Path,
    service: &Service,
    server: &RunningServer,
    http: Option<&HttpServer>,
) {
    let metrics = crate::metrics::get();
    let outcome = |reason: &'static str| {
        metrics
            .cert_reloads
            .get_or_create(&crate::metrics::Reason { reason })
            .inc();
    };
    let now = service.now();
    match crate::tls::load_existing(dir, now).and_then(|identity| {
        server.reload_identity(&identity)?;
        Ok(identity)
    }) {
        Ok(identity) => {
            outcome("quic_reloaded");
            tracing::info!(
                fingerprint = %hex(&identity.fingerprint()),
                next = ?identity.next_fingerprint().map(|f| hex(&f)),
                "certificate reloaded: new connections get it"
            );
        }
        Err(e) => {
            outcome("quic_refused");
            tracing::error!(error = %format!("{e:#}"), "certificate reload refused; the certificate in use is kept");
        }
    }
    if let Some(http) = http {
        match http.reload_tls(now) {
            Ok(false) => {}
            Ok(true) => {
                outcome("console_reloaded");
                tracing::info!("console certificate reloaded");
            }
            Err(e) => {
                outcome("console_refused");
                tracing::error!(error = %format!("{e:#}"), "console certificate reload refused; the certificate in use is kept");
            }
        }
    }
}

pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
