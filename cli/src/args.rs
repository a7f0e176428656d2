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

    /// The city's offset from UTC: times in text output are local to it,
    /// and a date you type (`--since 2024-05-01`) is its day. It is the
    /// working calendar's; UTC+8 unless the city is elsewhere. `--json`
    /// always prints UTC.
    #[arg(
        long,
        global = true,
        env = "GRIDWARDEN_UTC_OFFSET",
        value_name = "+HH:MM",
        default_value = "+08:00"
    )]
    pub utc_offset: String,

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
        /// Enrol this home again (a new code after IT revoked it, or after
        /// a lost certificate pin), keeping its unsent work, which the next
        /// sync sends.
        #[arg(long)]
        again: bool,
    },
    /// Print what this phone holds unsent (queued changes and their
    /// reports) as JSON, for IT.
    Export,
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
    /// Send again, as it stands, a report the server refused (its category
    /// since removed, say); `edit` sends such a report again too.
    Resend {
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
    /// Record a patrol: start, GPS points, stop, or import a GPX track.
    #[command(subcommand)]
    Patrol(PatrolCommand),
    /// Review patrols: distance, duration, cell coverage, reports, flagged
    /// points. A supervisor (or `--warden`) asks the server; a warden sees
    /// this device's own patrols, offline.
    Patrols {
        /// Only this warden's patrols (asks the server).
        #[arg(long, value_name = "NAME")]
        warden: Option<String>,
        /// Only patrols started on or after this date (YYYY-MM-DD, the
        /// city's day, see --utc-offset) or time (RFC 3339).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Only patrols started before this date or time.
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
    },
    /// Photos of reports, and the storage budget for them.
    #[command(subcommand, visible_alias = "photos")]
    Photo(PhotoCommand),
    /// List cases (every report is one; those nobody acted on are `reported`).
    Cases {
        /// reported, registered, rejected, dispatched, disposed, verifying,
        /// verified or closed.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// Only cases in this grid cell.
        #[arg(long, value_name = "CODE")]
        grid: Option<String>,
        /// Only cases past the deadline of their current step.
        #[arg(long)]
        overdue: bool,
    },
    /// Take a step of a case; the server decides at the next sync.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Verification tasks for you: cases to check in the field.
    Tasks,
    /// KPIs over the cases on this device (docs/kpi.md).
    Kpi {
        /// grid, street, department or warden.
        #[arg(long, value_name = "GROUP")]
        by: String,
        /// First day (YYYY-MM-DD, the city's day, see --utc-offset) or time;
        /// default: 30 days ago.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Day after the last (exclusive) or time; default: now.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Print CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Show one case with its history.
    Show {
        /// Report id, or a unique prefix of it (a case is named by its report).
        id: String,
    },
    /// Accept a report as a case (立案). Supervisors.
    Register {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Refuse a report as a case, with the reason. Supervisors.
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Send to a department (default: the one the category is routed to). Supervisors.
    Dispatch {
        id: String,
        #[arg(long, default_value = "")]
        department: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Report the issue fixed. The department's users, or a supervisor for them.
    Dispose {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
        /// A photo of the result (repeatable); uploaded after the step is accepted.
        #[arg(long = "photo", value_name = "FILE")]
        photos: Vec<PathBuf>,
    },
    /// Accept the disposal and ask the field to check. Supervisors.
    SendForVerification {
        id: String,
        /// A liaison or warden to ask (default: anyone covering the cell).
        #[arg(long, value_name = "USER")]
        verifier: Option<String>,
    },
    /// Verdict from the field: `--passed` or `--failed` (back to the department).
    Verify {
        id: String,
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        passed: bool,
        #[arg(long)]
        failed: bool,
        #[arg(long, default_value = "")]
        note: String,
        /// A photo from the field (repeatable); uploaded after the verdict is accepted.
        #[arg(long = "photo", value_name = "FILE")]
        photos: Vec<PathBuf>,
    },
    /// Close a verified case (结案). Supervisors.
    Close {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reopen a closed or rejected case, with the reason. Supervisors.
    Reopen {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Give a dispatched case more time (缓办). Supervisors.
    Postpone {
        id: String,
        #[arg(long)]
        reason: String,
        /// Extra working days.
        #[arg(
            long,
            value_name = "N",
            conflicts_with = "hours",
            required_unless_present = "hours"
        )]
        days: Option<u32>,
        /// Extra working hours.
        #[arg(long, value_name = "N")]
        hours: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PatrolCommand {
    /// Start a patrol; reports recorded until it stops belong to it.
    Start {
        #[arg(long, value_name = "TEXT", default_value = "")]
        note: String,
    },
    /// Add a GPS fix to the patrol under way (kept or thinned away).
    Point {
        #[arg(long, allow_negative_numbers = true)]
        lon: f64,
        #[arg(long, allow_negative_numbers = true)]
        lat: f64,
        /// When the fix was taken (RFC 3339 or ms since the epoch). Default: now.
        #[arg(long, value_name = "TIME")]
        time: Option<String>,
        #[arg(long, value_name = "M")]
        accuracy: Option<f32>,
        #[arg(long, value_name = "M/S")]
        speed: Option<f32>,
    },
    /// Stop the patrol under way.
    Stop,
    /// Import a GPX 1.0/1.1 track recorded by another app as a finished patrol.
    Import {
        file: PathBuf,
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Show one patrol: summary, or its track as GeoJSON or GPX.
    Show {
        /// Patrol id, or a unique prefix of it (looked up on this device,
        /// then, for a supervisor, among the server's latest patrols).
        id: String,
        /// Print the track as GeoJSON (flagged points marked).
        #[arg(long, conflicts_with = "gpx")]
        geojson: bool,
        /// Print the track as GPX 1.1.
        #[arg(long)]
        gpx: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PhotoCommand {
    /// Write a photo to a file, fetching it from the server if it is not on
    /// this device.
    Get {
        /// Photo hash, or a unique prefix of one on a report here.
        hash: String,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
    /// Add photos to a report.
    Add {
        /// Report id, or a unique prefix of it.
        id: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Bring a photo's full file back onto this device (one dropped under
    /// the storage budget), checked against its hash; with -o, also write it
    /// to a file.
    Fetch {
        /// Photo hash, or a unique prefix of one on a report here.
        hash: String,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Show or set the storage budget for full photo files: photos the
    /// server holds give way, the longest held first, keeping a thumbnail;
    /// photos not yet sent never do.
    Budget {
        /// The new budget: a size such as 50MB, 512KB or 2GB (1 MB =
        /// 1,048,576 bytes), plain bytes, or `unlimited`. Without it, the
        /// budget and what the photos take are shown.
        size: Option<String>,
    },
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
    /// The code of the city asset concerned (a lamp post's or manhole
    /// cover's number).
    #[arg(long, value_name = "CODE")]
    pub asset: Option<String>,
    /// When you saw it: RFC 3339 (2024-05-01T09:30:00+08:00) or ms since
    /// the epoch. Default: now.
    #[arg(long, value_name = "TIME")]
    pub observed_at: Option<String>,
    /// A photo file (JPEG, PNG or HEIC); repeat for several.
    #[arg(long = "photo", value_name = "FILE")]
    pub photos: Vec<PathBuf>,
    /// The patrol the report belongs to (its id or a unique start of it).
    /// Default: the patrol under way.
    #[arg(long, value_name = "ID")]
    pub patrol: Option<String>,
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
    /// New asset code; an empty string clears it.
    #[arg(long, value_name = "CODE")]
    pub asset: Option<String>,
}
