//! Where the server's log goes and in what shape: stderr, as text (coloured
//! only on a terminal, so a file or the journal gets no escape codes) or as
//! one JSON object a line for a log collector.

use std::io::IsTerminal;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

pub fn init(format: LogFormat) {
    FORMAT.set(format).ok();
    let filter = tracing_subscriber::EnvFilter::try_from_env("GRIDWARDEN_LOG")
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().with_current_span(false).init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// A sentence for the operator on stderr: a log line in JSON mode, so a
/// collector reading stderr sees only JSON, else plain text.
pub fn notice(text: &str) {
    match FORMAT.get() {
        Some(LogFormat::Json) => tracing::info!("{text}"),
        _ => eprintln!("{text}"),
    }
}
