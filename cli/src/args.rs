//! Command-line grammar. Every command takes `--home` and `--json`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gridwarden",
    version,
    about = "Field inspection client: records reports offline and syncs them with the gridwarden server."
)]
pub struct Cli {
    /// Client home directory holding this device's database.
    /// Default: ~/.gridwarden
    #[arg(long, global = true, env = "GRIDWARDEN_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print one JSON document to stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Seconds to wait for the server before calling it unreachable.
    #[arg(
        long,
        global = true,
        env = "GRIDWARDEN_CONNECT_TIMEOUT",
        value_name = "SECS",
        default_value_t = 10.0
    )]
    pub connect_timeout: f64,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enrol this device with the one-time code IT gave you.
    Enroll {
        /// The enrolment code, `gw1.SECRET.FINGERPRINT.HOST:PORT`.
        code: String,
        /// A label for this device, shown to IT.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
    },
    /// Record a new report. Works with no network; `sync` sends it.
    Report(ReportArgs),
    /// List the cached category table.
    Categories,
    /// Send waiting reports and fetch what the server has for this device.
    Sync {
        /// Attempts in all while the server cannot be reached, waiting with
        /// exponential backoff (0.5 s doubling up to 60 s, jittered) between them.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        retry: u32,
    },
    /// List the reports on this device, newest first.
    List,
    /// Show one report in full.
    Show {
        /// Report id, or a unique prefix of it.
        id: String,
    },
    /// Change fields of a report.
    Edit(EditArgs),
    /// Delete a report.
    Delete {
        /// Report id, or a unique prefix of it.
        id: String,
    },
    /// Guess the grid cell of a point from the cached grid layer (offline).
    Cell {
        #[arg(long, allow_negative_numbers = true)]
        lon: f64,
        #[arg(long, allow_negative_numbers = true)]
        lat: f64,
    },
    /// Show enrolment, waiting ops, sync position and cached versions.
    Status,
    /// List ops the server refused, with its reasons.
    Rejections,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Category code from `gridwarden categories`.
    #[arg(long)]
    pub category: String,
    /// Longitude, WGS84 degrees.
    #[arg(long, allow_negative_numbers = true)]
    pub lon: f64,
    /// Latitude, WGS84 degrees.
    #[arg(long, allow_negative_numbers = true)]
    pub lat: f64,
    /// Horizontal accuracy of the position, metres.
    #[arg(long, value_name = "M")]
    pub accuracy: Option<f32>,
    /// What you saw.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub note: String,
    /// Address text.
    #[arg(long, value_name = "TEXT")]
    pub address: Option<String>,
    /// When you saw it: RFC 3339 (2024-05-01T09:30:00+08:00) or ms since
    /// the epoch. Default: now.
    #[arg(long, value_name = "TIME")]
    pub observed_at: Option<String>,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// Report id, or a unique prefix of it.
    pub id: String,
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[arg(long, allow_negative_numbers = true, requires = "lat")]
    pub lon: Option<f64>,
    #[arg(long, allow_negative_numbers = true, requires = "lon")]
    pub lat: Option<f64>,
    /// New accuracy, metres (only with --lon and --lat).
    #[arg(long, value_name = "M", requires = "lon")]
    pub accuracy: Option<f32>,
    /// New address text; an empty string clears it.
    #[arg(long, value_name = "TEXT")]
    pub address: Option<String>,
}
