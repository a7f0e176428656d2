//! `gridwarden-server`: the server and the scripting interface IT uses.
//! Output with `--json` is documented in docs/cli.md and kept stable.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gridwarden_protocol::enrolment::hex;
use gridwarden_protocol::time::{format_rfc3339, parse_rfc3339, Leniency};
use gridwarden_protocol::Role;
use serde_json::json;

use crate::admin;
use crate::config::Config;
use crate::datadir::{DataDir, StoreLocation};
use crate::net::EdgeConfig;

#[derive(Parser, Debug)]
#[command(
    name = "gridwarden-server",
    version,
    about = "gridwarden sync server and administration"
)]
pub struct Cli {
    /// Data directory (database, certificate). Default: GRIDWARDEN_DATA,
    /// else the current directory if it is one, else ./gridwarden-data.
    /// Only `serve` and `init` create it.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Config file (TOML; default: DATA/server.toml if it exists, else the
    /// built-in defaults). See docs/security.md.
    #[arg(long, global = true, env = "GRIDWARDEN_CONFIG")]
    config: Option<PathBuf>,
    /// Where the records live: `sqlite` (the embedded default, server.db in
    /// the data directory) or a PostgreSQL URL,
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, that several server
    /// processes may share (docs/scale.md). Default: GRIDWARDEN_STORE, else
    /// `store` in server.toml's [server] section, else `sqlite`.
    // Its value may hold a password: `--help` must not print it.
    #[arg(long, global = true, env = "GRIDWARDEN_STORE", hide_env_values = true)]
    store: Option<String>,
    /// Log lines on stderr: `text` (coloured only on a terminal) or `json`
    /// (one object a line).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "GRIDWARDEN_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

mod logging;
mod serving;

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a data directory (database, certificate, bundled defaults).
    Init,
    /// Copy the embedded store into an empty PostgreSQL database (the
    /// server stopped): prints the rows per table and the feed's checksum;
    /// then `serve --store URL`. See docs/scale.md.
    Migrate {
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// Copy the data directory to DEST (new or empty) while the server runs:
    /// a consistent snapshot of the database, the photos, the certificate.
    Backup {
        dest: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The data directory's health: server running, database check, disk
    /// left, devices seen lately. Exit 1 when the database check fails.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Photo files no live report or case step references (and their upload
    /// parts): listed, or with --apply removed. Files changed within the
    /// grace period are kept.
    Gc {
        /// Remove them (without it, only list what would go).
        #[arg(long)]
        apply: bool,
        /// Keep files changed within this many hours.
        #[arg(long, default_value_t = 24)]
        grace_hours: u64,
        #[arg(long)]
        json: bool,
    },
    /// Make the data directory (--data; new or empty) from a backup.
    Restore {
        src: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run the sync server.
    Serve {
        /// UDP address to listen on (default: the config's, 127.0.0.1:4433).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Address enrolment codes tell phones to dial, kept until changed
        /// on purpose (default: the first start's listen address).
        #[arg(long)]
        public_addr: Option<String>,
        /// TCP address of the supervisor console, or `off` (default: the
        /// config's `console.http`, 127.0.0.1:8080).
        #[arg(long)]
        http: Option<String>,
        /// This process's id in its QUIC connection ids, for a balancer in
        /// front of several processes (default: the config's
        /// `server.server_id`, 0). See docs/scale.md.
        #[arg(long, env = "GRIDWARDEN_SERVER_ID")]
        server_id: Option<u16>,
    },
    /// The supervisor console (a web page served by `serve`).
    Console {
        #[command(subcommand)]
        command: ConsoleCommand,
    },
    /// Grid layers (单元网格).
    Grids {
        #[command(subcommand)]
        command: GridsCommand,
    },
    /// The category table.
    Categories {
        #[command(subcommand)]
        command: CategoriesCommand,
    },
    /// Users and their grid cells.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Devices: enrolment codes and the enrolled list.
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
    /// Stored reports.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
    /// The append-only audit log of admin actions and enrolments.
    Audit {
        /// Only entries at or after this time (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Departments and utility companies cases are dispatched to.
    Departments {
        #[command(subcommand)]
        command: DepartmentsCommand,
    },
    /// The working calendar deadlines are counted in.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// The server certificate devices pin, and rotating it without re-enrolling.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
    /// API keys of the Open311 interface, one per hotline or app (docs/open311.md).
    Apikeys {
        #[command(subcommand)]
        command: ApikeysCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ApikeysCommand {
    /// Issue a key for a hotline or app; the key is printed once, only its hash is kept.
    Add {
        /// The client's name (e.g. 12345): the reporter of its requests.
        name: String,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: the server refuses it from the next request on.
    Revoke { name: String },
}

#[derive(Subcommand, Debug)]
enum CertCommand {
    /// Fingerprints, and during a rotation which devices have learnt the next one.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Start a rotation: create the next certificate (reload the server — `systemctl reload` or SIGHUP — to announce it).
    Rotate,
    /// Finish a rotation: serve the next certificate (reload the server — SIGHUP — to use it).
    Activate,
    /// Drop a rotation that was started.
    Cancel,
}

#[derive(Subcommand, Debug)]
enum ConsoleCommand {
    /// Print a one-time sign-in link for a supervisor or admin, valid 15 minutes.
    Link {
        #[arg(long)]
        user: String,
        /// Address the link points at (default: what `serve` records).
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the effective configuration (the defaults where the file is silent).
    Show,
    /// Check a config file and say what is wrong with it.
    Check { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum GridsCommand {
    /// Import a GeoJSON FeatureCollection as the new current layer, saying
    /// what it changes against the current one. A layer that removes cells
    /// in use (users hold them, open reports lie in them) is not imported
    /// without --apply (exit 3).
    Import {
        file: PathBuf,
        /// Layer name (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// Cell code pattern: digits:15, digits:12-20 or any.
        #[arg(long, default_value = "digits:15")]
        code_pattern: String,
        /// The feature property holding the cell code (DataV files: adcode).
        #[arg(long, default_value = "code")]
        code_property: String,
        /// The feature property holding the cell name.
        #[arg(long, default_value = "name")]
        name_property: String,
        /// Import even when the layer removes cells in use.
        #[arg(long)]
        apply: bool,
        /// Re-place every open report on the new layer (default: only
        /// reports without a cell get one).
        #[arg(long)]
        reassign: bool,
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write a layer out: CSV of its cells (code, name, area, box), or with
    /// --geojson the layer itself, which `grids import` reads back.
    Export {
        /// The layer version (default: the current one).
        #[arg(long)]
        version: Option<u64>,
        #[arg(long)]
        geojson: bool,
        /// Write to FILE instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the current layer's cells and the layer history.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum CategoriesCommand {
    List {
        #[arg(long)]
        json: bool,
    },
    /// Import the city's category table (.csv or .json) with its time limits
    /// and default departments; all or nothing.
    Import {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DepartmentsCommand {
    /// Add a department or utility company cases are dispatched to.
    Add {
        code: String,
        name: String,
        /// A utility company (water, power, gas, telecom …).
        #[arg(long)]
        utility: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum CalendarCommand {
    /// Replace the working calendar (JSON: utc_offset, working_hours,
    /// weekend, holidays, working_weekends).
    Import { file: PathBuf },
    /// Print the working calendar in force, as JSON.
    Show,
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Add a user.
    Add {
        name: String,
        /// warden, liaison, supervisor or admin.
        #[arg(long)]
        role: Role,
        /// Grid cell codes the user covers, comma separated.
        #[arg(long, value_delimiter = ',')]
        grids: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change the grid cells a user covers. Their devices catch up at the
    /// next sync: older reports and cases of added cells arrive, copies of
    /// removed cells' reports leave (their own reports stay).
    Cells {
        name: String,
        /// Cell codes to add, comma separated.
        #[arg(long, value_delimiter = ',')]
        add: Vec<String>,
        /// Cell codes to remove, comma separated.
        #[arg(long, value_delimiter = ',')]
        remove: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Make a user act for a department (they report disposal of its cases).
    Department {
        name: String,
        /// Department code; omit with --none to remove.
        department: Option<String>,
        #[arg(long, conflicts_with = "department")]
        none: bool,
    },
    /// Set a supervisor's or admin's console password, read from stdin.
    Passwd { name: String },
    /// Disable a user: every device of theirs is cut off at once and refused.
    Disable { name: String },
    /// Enable a disabled user again.
    Enable { name: String },
}

#[derive(Subcommand, Debug)]
enum DevicesCommand {
    /// Print a one-time enrolment code for a user's new device.
    Enroll {
        #[arg(long)]
        user: String,
        /// Address the device should dial (default: what `serve` records).
        #[arg(long)]
        addr: Option<String>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device: its open connections are closed at once and it is
    /// refused from then on. Its synced data stays.
    Revoke {
        device_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Apply what a phone that can no longer sync holds unsent (the JSON of
    /// its `gridwarden export --json`) as a push from that user's device:
    /// the same rules, audited as recovered; importing twice adds nothing.
    ImportUnsent {
        file: PathBuf,
        /// Whose work it is (must match the file's user).
        #[arg(long)]
        user: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ReportsCommand {
    List {
        /// Only reports that lie in no grid cell.
        #[arg(long)]
        unassigned: bool,
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let format = cli.log_format;
    logging::init(format);
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            let exit = e.downcast_ref::<Exit>().map(|exit| exit.code);
            match (format, exit) {
                (logging::LogFormat::Json, None) => tracing::error!("{e:#}"),
                (logging::LogFormat::Json, Some(_)) => tracing::warn!("{e:#}"),
                (_, None) => eprintln!("error: {e:#}"),
                (_, Some(_)) => eprintln!("{e:#}"),
            }
            exit.unwrap_or(1)
        }
    }
}

/// Prints a line; a reader that went away (`| head`) ends the program
/// quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod grids;

/// An ending that is no failure of the program but must not exit 0 (an
/// import held back): the message goes to stderr, the code is returned.
#[derive(Debug)]
struct Exit {
    code: i32,
    message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

fn print_json(value: serde_json::Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(&value).expect("json values serialise")
    );
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let located = crate::datadir::Located::from_env(cli.data.as_deref());
    let config = Config::find(cli.config.as_deref(), &located.path)?;
    if let Command::Config { command } = &cli.command {
        return config_command(&config, command);
    }
    let store = match cli.store.as_deref().or(config.server.store.as_deref()) {
        Some(text) => StoreLocation::parse(text).context("--store")?,
        None => StoreLocation::Embedded,
    };
    if matches!(
        cli.command,
        Command::Backup { .. } | Command::Restore { .. }
    ) && store != StoreLocation::Embedded
    {
        anyhow::bail!(
            "backup and restore copy the embedded store; the records in {} are backed up with PostgreSQL's own tools (pg_dump, docs/scale.md)",
            store.shown(&located.path)
        );
    }
    match &cli.command {
        Command::Migrate { to, json } => {
            located.require_existing()?;
            let copied = admin::to_postgres::to_postgres(&located.path, to)?;
            if *json {
                print_json(serde_json::to_value(&copied)?);
            } else {
                for (table, rows) in &copied.tables {
                    outln!("{table}: {rows} rows");
                }
                outln!("feed checksum (blake3): {}", copied.feed_checksum);
                outln!(
                    "copied into {}; serve with --store and that URL",
                    crate::store::postgres::shown_url(to)
                );
            }
            return Ok(());
        }
        Command::Backup { dest, json } => {
            located.require_existing()?;
            logging::notice(&format!(
                "data directory: {} ({})",
                located.path.display(),
                located.source
            ));
            let c = admin::backup::backup(&located.path, dest)?;
            return print_copied(&c, *json, "backed up to");
        }
        Command::Restore { src, json } => {
            logging::notice(&format!(
                "restoring into {} ({})",
                located.path.display(),
                located.source
            ));
            let c = admin::backup::restore(src, &located.path)?;
            return print_copied(&c, *json, "restored into");
        }
        _ => {}
    }
    // Only `serve` and `init` create a directory, and `serve` holds it
    // locked for as long as it runs.
    let mut serve_lock = None;
    match &cli.command {
        Command::Init => {}
        Command::Serve { .. } => {
            std::fs::create_dir_all(&located.path)
                .with_context(|| format!("creating data directory {}", located.path.display()))?;
            serve_lock = Some(crate::datadir::ServeLock::acquire(&located.path)?);
        }
        _ => located.require_existing()?,
    }
    let existed = crate::datadir::is_data_dir(&located.path);
    logging::notice(&format!(
        "data directory: {} ({})",
        located.path.display(),
        located.source
    ));
    if store != StoreLocation::Embedded {
        logging::notice(&format!("store: {}", store.shown(&located.path)));
    }
    let data = DataDir::open_pooled(
        &located.path,
        &store,
        config.server.store_pool_size,
        config.service_limits(),
        gridwarden_protocol::clock::system(),
    )?;
    match cli.command {
        Command::Init => {
            outln!(
                "{} data directory {}",
                if existed { "existing" } else { "created" },
                data.path.display()
            );
            outln!(
                "certificate sha256 fingerprint: {}",
                hex(&data.identity.fingerprint())
            );
            Ok(())
        }
        Command::Serve {
            listen,
            public_addr,
            http,
            server_id,
        } => {
            let _lock = serve_lock;
            let mut config = config;
            if let Some(id) = server_id {
                config.server.server_id = id;
            }
            serve(data, &config, listen, public_addr, http)
        }
        Command::Console {
            command: ConsoleCommand::Link { user, url, json },
        } => console_link(&data, &user, url, json),
        Command::Config { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Migrate { .. } => {
            unreachable!("handled before the data directory is opened")
        }
        Command::Audit { since, json } => audit(&data, since.as_deref(), json),
        Command::Gc {
            apply,
            grace_hours,
            json,
        } => gc(&data, apply, grace_hours, json),
        Command::Status { json } => status(&data, config.console.tls_cert.as_deref(), json),
        Command::Cert { command } => cert(&data, command),
        Command::Grids { command } => grids(&data, command),
        Command::Categories {
            command: CategoriesCommand::List { json },
        } => categories(&data, json),
        Command::Categories {
            command: CategoriesCommand::Import { file, json },
        } => {
            let s = admin::workflow::import_categories(&data, &file)
                .with_context(|| format!("importing {}; nothing was changed", file.display()))?;
            if json {
                print_json(serde_json::to_value(&s)?);
            } else {
                outln!(
                    "imported category table version {}: {} categories, {} with a default department",
                    s.version, s.categories, s.routes
                );
            }
            Ok(())
        }
        Command::Apikeys { command } => apikeys(&data, command),
        Command::Departments { command } => departments(&data, command),
        Command::Calendar { command } => calendar(&data, command),
        Command::Users { command } => users(&data, command),
        Command::Devices { command } => devices(&data, command),
        Command::Reports {
            command: ReportsCommand::List { unassigned, json },
        } => reports(&data, unassigned, json),
    }
}

fn status(
    data: &DataDir,
    console_cert: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    let s = admin::status::status(data, console_cert)?;
    if json {
        print_json(serde_json::to_value(&s)?);
    } else {
        match (&s.server_pid, s.connected_devices) {
            (Some(pid), Some(n)) => {
                outln!("server: running (pid {pid}), {n} devices connected now")
            }
            (Some(pid), None) => outln!("server: running (pid {pid})"),
            (None, _) => outln!("server: not running"),
        }
        if let Some(http) = &s.http {
            outln!("console: {http} (/metrics, /healthz, /readyz beside it)");
        }
        for c in &s.certificates {
            match (c.days_left, &c.warning) {
                (_, Some(w)) => outln!("certificate ({}): WARNING: {w}", c.which),
                (Some(days), None) => outln!("certificate ({}): {days} days left", c.which),
                (None, None) => {}
            }
        }
        outln!("data directory: {}", s.data_dir);
        outln!(
            "database: {} ({} KiB, {} reports)",
            s.database_check,
            s.database_bytes / 1024,
            s.reports
        );
        outln!(
            "disk: {:.1} GiB available",
            s.disk_available_bytes as f64 / (1u64 << 30) as f64
        );
        outln!("certificate sha256 fingerprint: {}", s.fingerprint);
        outln!(
            "enrolment codes dial: {}",
            s.public_addr.as_deref().unwrap_or("(not set)")
        );
        outln!(
            "devices: {} enrolled, {} seen in the last 15 minutes",
            s.devices_enrolled,
            s.devices_seen_recently
        );
        let by_version: Vec<String> = s
            .devices_by_protocol
            .iter()
            .map(|(v, n)| format!("{n} on protocol {v}"))
            .collect();
        if !by_version.is_empty() {
            outln!(
                "devices by protocol version (this server speaks {} to {}): {}",
                gridwarden_protocol::versions::OLDEST_SUPPORTED,
                gridwarden_protocol::PROTOCOL_VERSION,
                by_version.join(", ")
            );
        }
    }
    if !s.healthy() {
        anyhow::bail!(
            "the database fails SQLite's check ({}); stop the server and restore the latest backup (docs/operations.md)",
            s.database_check
        );
    }
    Ok(())
}

fn gc(data: &DataDir, apply: bool, grace_hours: u64, json: bool) -> anyhow::Result<()> {
    let grace = std::time::Duration::from_secs(grace_hours.saturating_mul(3600));
    let r = admin::gc::gc(data, apply, grace)?;
    if json {
        print_json(serde_json::to_value(&r)?);
        return Ok(());
    }
    for c in &r.collected {
        outln!(
            "{} {} {} ({} bytes)",
            if apply { "removed" } else { "would remove" },
            c.kind,
            c.hash,
            c.bytes
        );
    }
    outln!(
        "{} {} files ({} KiB); kept {} referenced, {} changed within {} hours",
        if apply { "removed" } else { "would remove" },
        r.collected.len(),
        r.collected_bytes / 1024,
        r.kept_referenced,
        r.kept_recent,
        grace_hours
    );
    if r.photo_rows > 0 {
        outln!(
            "{} {} photo rows of deleted reports",
            if apply { "removed" } else { "would remove" },
            r.photo_rows
        );
    }
    if !apply && (!r.collected.is_empty() || r.photo_rows > 0) {
        outln!("nothing was removed: run again with --apply to remove them");
    }
    Ok(())
}

fn print_copied(c: &admin::backup::Copied, json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        print_json(serde_json::to_value(c)?);
    } else {
        outln!(
            "{what} {}: database {} KiB ({} reports), {} photos ({} KiB), {}",
            c.path.display(),
            c.database_bytes / 1024,
            c.reports,
            c.photos,
            c.photo_bytes / 1024,
            c.files.join(", ")
        );
    }
    Ok(())
}

fn config_command(config: &Config, command: &ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Show => outln!("{}", config.redacted().to_toml()),
        ConfigCommand::Check { file } => {
            Config::load(file)?;
            outln!("{}: fine", file.display());
        }
    }
    Ok(())
}

fn serve(
    data: DataDir,
    config: &Config,
    listen: Option<SocketAddr>,
    public_addr: Option<String>,
    http: Option<String>,
) -> anyhow::Result<()> {
    let http = match http {
        Some(text) => crate::config::parse_http(&text).context("--http")?,
        None => config.console.http_addr()?,
    };
    let listen = listen.unwrap_or(config.server.listen);
    let public_addr = public_addr.or_else(|| config.server.public_addr.clone());
    let edge = EdgeConfig {
        connections: config.connections.clone(),
        rate: config.rate.clone(),
        server_id: config.server.server_id,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = crate::net::RunningServer::start_with(
            data.service.clone(),
            &data.identity,
            listen,
            edge,
        )
        .with_context(|| format!("listening on {listen}"))?;
        if config.server.server_id != 0 {
            logging::notice(&format!(
                "server id {} in every connection id (docs/scale.md)",
                config.server.server_id
            ));
        }
        let store = data.store();
        store.set_meta(crate::LISTEN_ADDR_KEY, &server.local_addr.to_string())?;
        let public_addr = admin::settle_public_addr(&data, public_addr.as_deref(), server.local_addr)?;
        outln!(
            "gridwarden-server listening on {} (udp/quic)",
            server.local_addr
        );
        let console = match http {
            Some(addr) => {
                let console = std::sync::Arc::new(crate::console::Console::new(
                    data.service.clone(),
                    config.console.clone(),
                    config.console.tls_cert.is_some(),
                ));
                let http = crate::http::start_with(console, config.open311.clone(), addr)?;
                store.set_meta(crate::CONSOLE_URL_KEY, &http.console_url())?;
                outln!("supervisor console at {}", http.console_url());
                Some(http)
            }
            None => {
                outln!("supervisor console: off");
                None
            }
        };
        outln!("data directory: {}", data.path.display());
        outln!(
            "certificate sha256 fingerprint: {}",
            hex(&server.fingerprint)
        );
        if let Some(next) = data.identity.next_fingerprint() {
            outln!("announcing the next certificate: {}", hex(&next));
        }
        match &public_addr {
            Some(addr) => outln!("enrolment codes tell devices to dial {addr}"),
            None => outln!("no public address is set: give `serve --public-addr HOST:PORT` once, or `devices enroll --addr`"),
        }
        std::io::Write::flush(&mut std::io::stdout()).ok();
        serving::until_shutdown(&data.path, &data.service, &server, console.as_ref()).await?;
        tracing::info!("shutting down");
        if let Some(http) = console {
            http.shutdown().await;
        }
        server.shutdown().await;
        Ok(())
    })
}

fn console_link(data: &DataDir, user: &str, url: Option<String>, json: bool) -> anyhow::Result<()> {
    let base = match url {
        Some(u) => u,
        None => data
            .store()
            .meta(crate::CONSOLE_URL_KEY)?
            .unwrap_or_else(|| format!("http://{}/console/", crate::DEFAULT_HTTP)),
    };
    let origin = base
        .strip_suffix("/console/")
        .unwrap_or(base.trim_end_matches('/'))
        .to_owned();
    let token = crate::console::auth::new_link(&data.service, user, &admin::cli_actor())?;
    let link = format!("{origin}/login/link?token={token}");
    if json {
        print_json(json!({"user": user, "url": link, "valid_minutes": 15}));
    } else {
        outln!("{link}");
        eprintln!("sign-in link for `{user}`: valid 15 minutes, once");
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn grids(data: &DataDir, command: GridsCommand) -> anyhow::Result<()> {
    match command {
        GridsCommand::Import {
            file,
            name,
            code_pattern,
            code_property,
            name_property,
            apply,
            reassign,
            dry_run,
            json,
        } => grids::import(
            data,
            grids::ImportArgs {
                file,
                name,
                code_pattern,
                code_property,
                name_property,
                apply,
                reassign,
                dry_run,
                json,
            },
        )?,
        GridsCommand::Export {
            version,
            geojson,
            out,
        } => grids::export(
            data,
            grids::ExportArgs {
                version,
                geojson,
                out,
            },
        )?,
        GridsCommand::List { json } => {
            let layers = data.store().grid_layers()?;
            let grid = data.service.grid()?;
            let cells: Vec<_> = grid
                .as_ref()
                .map(|g| {
                    g.cells()
                        .iter()
                        .map(|c| json!({"code": c.code, "name": c.name, "area_m2": c.area_m2.round()}))
                        .collect()
                })
                .unwrap_or_default();
            if json {
                let layers: Vec<_> = layers
                    .iter()
                    .map(|l| json!({"version": l.version, "name": l.name, "imported_ms": l.imported_ms, "cells": l.cell_count}))
                    .collect();
                print_json(
                    json!({"current_version": data.store().grid_version()?, "layers": layers, "cells": cells}),
                );
            } else {
                for l in &layers {
                    outln!("layer v{} `{}`: {} cells", l.version, l.name, l.cell_count);
                }
                for c in grid.iter().flat_map(|g| g.cells()) {
                    outln!(
                        "{}  {:>10.0} m²  {}",
                        c.code,
                        c.area_m2,
                        c.name.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}

fn categories(data: &DataDir, json: bool) -> anyhow::Result<()> {
    let table = data.service.categories()?;
    if json {
        print_json(serde_json::to_value(&*table)?);
    } else {
        outln!("category table version {}", table.version);
        for c in &table.categories {
            outln!(
                "{}  {:<9} {}  {}  ({})",
                c.code,
                c.family.as_str(),
                c.class_name,
                c.name,
                c.name_en
            );
        }
    }
    Ok(())
}

/// What a user's cells cover, in words. No cells means the whole city for
/// a supervisor or admin, and only their own reports for a warden or
/// liaison: never "covering 0 cells".
fn scope(user: &crate::store::User) -> String {
    match (user.cells.len(), user.role) {
        (0, Role::Supervisor | Role::Admin) => "covering the whole city".to_owned(),
        (0, _) => "with no cells: they see only their own reports".to_owned(),
        (1, _) => "covering 1 cell".to_owned(),
        (n, _) => format!("covering {n} cells"),
    }
}

fn user_json(u: &crate::store::User) -> serde_json::Value {
    json!({"name": u.name, "role": u.role, "grids": u.cells, "disabled": u.disabled})
}

fn users(data: &DataDir, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add {
            name,
            role,
            grids,
            json,
        } => {
            let user = admin::add_user(data, &name, role, grids)?;
            if json {
                print_json(user_json(&user));
            } else {
                outln!("added {} `{}` {}", user.role, user.name, scope(&user));
            }
        }
        UsersCommand::Cells {
            name,
            add,
            remove,
            json,
        } => {
            let user = admin::set_user_cells(data, &name, &add, &remove)?;
            if json {
                print_json(user_json(&user));
            } else {
                outln!(
                    "`{}` now {}{}; their devices catch up at their next sync",
                    user.name,
                    scope(&user),
                    match user.cells.len() {
                        0 => String::new(),
                        _ => format!(" ({})", user.cells.join(",")),
                    }
                );
            }
        }
        UsersCommand::Department {
            name,
            department,
            none,
        } => {
            if department.is_none() && !none {
                anyhow::bail!("name a department, or --none");
            }
            admin::workflow::set_user_department(data, &name, department.as_deref())?;
            match department {
                Some(d) => outln!("`{name}` now acts for department `{d}`"),
                None => outln!("`{name}` acts for no department"),
            }
        }
        UsersCommand::Passwd { name } => {
            let password = read_password()?;
            crate::console::auth::set_password(
                &data.service,
                &name,
                &password,
                &admin::cli_actor(),
            )?;
            outln!("console password of `{name}` set; their open console sessions ended");
        }
        UsersCommand::Disable { name } => {
            let user = admin::set_user_disabled(data, &name, true)?;
            outln!(
                "user `{}` is disabled: their devices are cut off and refused",
                user.name
            );
        }
        UsersCommand::Enable { name } => {
            let user = admin::set_user_disabled(data, &name, false)?;
            outln!("user `{}` is enabled", user.name);
        }
        UsersCommand::List { json } => {
            let users = data.store().users()?;
            if json {
                print_json(json!(users.iter().map(user_json).collect::<Vec<_>>()));
            } else {
                for u in &users {
                    let cells = match u.cells.len() {
                        0 => format!("({})", scope(u)),
                        _ => u.cells.join(","),
                    };
                    outln!("{:<20} {:<10} {cells}", u.name, u.role);
                }
            }
        }
    }
    Ok(())
}

fn devices(data: &DataDir, command: DevicesCommand) -> anyhow::Result<()> {
    match command {
        DevicesCommand::Enroll { user, addr, json } => {
            let e = admin::enrol_device(data, &user, addr.as_deref())?;
            if json {
                print_json(serde_json::to_value(&e)?);
            } else {
                outln!("{}", e.code);
                eprintln!("one-time code for `{}`, dialling {}; valid 24 h; use it once: gridwarden enroll CODE", e.user, e.server_addr);
            }
        }
        DevicesCommand::List { json } => {
            let devices = data.store().devices()?;
            let protocols: std::collections::HashMap<_, _> = data
                .store()
                .device_protocols()?
                .into_iter()
                .map(|p| (p.device, p))
                .collect();
            let protocol = |id| protocols.get(&id).and_then(|p| p.protocol_version);
            let app = |id| protocols.get(&id).and_then(|p| p.client.clone());
            let rows: Vec<_> = devices
                .iter()
                .map(|d| {
                    json!({"id": d.id, "user": d.user, "label": d.label, "enrolled_ms": d.enrolled_ms,
                           "revoked_ms": d.revoked_ms, "last_seen_ms": d.last_seen_ms,
                           "protocol_version": protocol(d.id), "client": app(d.id)})
                })
                .collect();
            if json {
                print_json(json!(rows));
            } else {
                for d in &devices {
                    let state = if d.revoked_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let spoke = match (protocol(d.id), app(d.id)) {
                        (Some(v), Some(app)) => format!("protocol {v} ({app})"),
                        (Some(v), None) => format!("protocol {v}"),
                        (None, _) => "protocol ?".to_owned(),
                    };
                    outln!(
                        "{}  {:<16} {:<8} {:<40} {}",
                        d.id,
                        d.user,
                        state,
                        spoke,
                        d.label
                    );
                }
            }
        }
        DevicesCommand::Revoke { device_id, json } => {
            let d = admin::revoke_device(data, &device_id)?;
            if json {
                print_json(
                    json!({"id": d.id, "user": d.user, "label": d.label, "revoked_ms": d.revoked_ms}),
                );
            } else {
                outln!(
                    "device {} of `{}` ({}) is revoked: its connections are closed and it is refused",
                    d.id,
                    d.user,
                    d.label
                );
            }
        }
        DevicesCommand::ImportUnsent { file, user, json } => {
            let done = admin::import_unsent(data, &file, &user)?;
            if json {
                print_json(json!(done));
            } else {
                outln!(
                    "imported the unsent work of `{}` from device {}: applied {}, already there {}, refused {}",
                    done.user,
                    done.device_id,
                    done.applied,
                    done.duplicate,
                    done.refused.len()
                );
                for (op, why) in &done.refused {
                    outln!("  refused {op}: {why}");
                }
            }
        }
    }
    Ok(())
}

fn apikeys(data: &DataDir, command: ApikeysCommand) -> anyhow::Result<()> {
    match command {
        ApikeysCommand::Add { name, json } => {
            let key = admin::apikeys::add(data, &name)?;
            if json {
                print_json(serde_json::to_value(&key)?);
            } else {
                outln!(
                    "API key for `{}` (shown once; give it to the client over a safe channel):",
                    key.name
                );
                outln!("{}", key.api_key);
            }
        }
        ApikeysCommand::List { json } => {
            let keys = admin::apikeys::list(data)?;
            if json {
                print_json(serde_json::to_value(&keys)?);
            } else if keys.is_empty() {
                outln!("no API keys; issue one with `gridwarden-server apikeys add NAME`");
            } else {
                for k in &keys {
                    let state = match k.revoked_ms {
                        Some(ms) => format!("revoked {}", format_ms(ms)),
                        None => "active".into(),
                    };
                    outln!("{:<24} issued {}  {state}", k.name, format_ms(k.created_ms));
                }
            }
        }
        ApikeysCommand::Revoke { name } => {
            let k = admin::apikeys::revoke(data, &name)?;
            outln!(
                "revoked the API key of `{}` (since {})",
                k.name,
                format_ms(k.revoked_ms.unwrap_or_default())
            );
        }
    }
    Ok(())
}

fn departments(data: &DataDir, command: DepartmentsCommand) -> anyhow::Result<()> {
    match command {
        DepartmentsCommand::Add {
            code,
            name,
            utility,
        } => {
            let d = admin::workflow::add_department(data, &code, &name, utility)?;
            outln!(
                "added {} `{}` ({})",
                if d.utility { "utility" } else { "department" },
                d.code,
                d.name
            );
        }
        DepartmentsCommand::List { json } => {
            let list = data.store().departments()?;
            let routes = data.store().category_routes()?;
            if json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|d| {
                        let categories: Vec<_> = routes
                            .iter()
                            .filter(|(_, dep)| *dep == d.code)
                            .map(|(c, _)| c.clone())
                            .collect();
                        json!({"code": d.code, "name": d.name, "utility": d.utility, "categories": categories})
                    })
                    .collect();
                print_json(json!(rows));
            } else {
                for d in &list {
                    let n = routes.iter().filter(|(_, dep)| *dep == d.code).count();
                    outln!(
                        "{:<16} {:<10} {}  ({n} categories by default)",
                        d.code,
                        if d.utility { "utility" } else { "department" },
                        d.name
                    );
                }
            }
        }
    }
    Ok(())
}

fn calendar(data: &DataDir, command: CalendarCommand) -> anyhow::Result<()> {
    match command {
        CalendarCommand::Import { file } => {
            let c = admin::workflow::import_calendar(data, &file)?;
            let f = c.to_file();
            outln!(
                "working calendar imported: {} working hours a day, {} holidays, {} worked weekend days",
                c.day_minutes() as f64 / 60.0,
                f.holidays.len(),
                f.working_weekends.len()
            );
        }
        CalendarCommand::Show => {
            print_json(serde_json::to_value(data.service.calendar()?.to_file())?);
        }
    }
    Ok(())
}

fn cert(data: &DataDir, command: CertCommand) -> anyhow::Result<()> {
    use admin::cert;
    match command {
        CertCommand::Status { json } => {
            let s = cert::status(data)?;
            if json {
                print_json(serde_json::to_value(&s)?);
                return Ok(());
            }
            outln!("certificate sha256 fingerprint: {}", s.fingerprint);
            let Some(next) = &s.next_fingerprint else {
                outln!("no rotation under way");
                return Ok(());
            };
            outln!("next certificate:               {next}");
            match s.announced_ms {
                None => outln!("not announced yet: reload the server (SIGHUP, `systemctl reload gridwarden-server`) so devices learn it"),
                Some(ms) => outln!(
                    "announced since {}: {} devices have learnt it, {} have not connected since",
                    format_ms(ms),
                    s.devices_ready,
                    s.devices_not_ready.len()
                ),
            }
            for d in &s.devices_not_ready {
                outln!("  not yet: {}  {:<16} {}", d.id, d.user, d.label);
            }
        }
        CertCommand::Rotate => {
            let next = cert::rotate(data)?;
            outln!("next certificate sha256 fingerprint: {next}");
            outln!("reload the server (SIGHUP, `systemctl reload gridwarden-server`): it then announces the next certificate to every device that connects; `cert status` shows who has learnt it; then `cert activate`");
        }
        CertCommand::Activate => {
            let now = cert::activate(data)?;
            outln!("certificate sha256 fingerprint is now {now} (the old one is kept as server-cert.previous.der)");
            outln!("reload the server (SIGHUP) to serve it; devices that connected during the rollover follow, others need a new enrolment code; codes issued before now carry the old fingerprint");
        }
        CertCommand::Cancel => {
            cert::cancel(data)?;
            outln!("rotation dropped; reload the server (SIGHUP) to stop announcing it");
        }
    }
    Ok(())
}

fn audit(data: &DataDir, since: Option<&str>, json: bool) -> anyhow::Result<()> {
    let since_ms = since.map(parse_since).transpose()?;
    let lines = admin::audit(data, since_ms)?;
    if json {
        print_json(serde_json::to_value(&lines)?);
    } else {
        for l in &lines {
            let device = l.device.map(|d| format!(" device {d}")).unwrap_or_default();
            outln!(
                "{:>6}  {}  {:<24} {:<24} {}{device}  {}",
                l.seq,
                format_ms(l.at_ms),
                l.actor,
                l.action,
                l.subject,
                l.detail
            );
        }
        outln!("{} entries", lines.len());
    }
    Ok(())
}

/// `YYYY-MM-DD` (midnight UTC) or a full RFC 3339 time.
fn parse_since(text: &str) -> anyhow::Result<i64> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    parse_rfc3339(&full, Leniency::Lenient).ok_or_else(|| {
        anyhow::anyhow!(
            "--since {text:?} is not a date; write YYYY-MM-DD or 2026-11-22T08:00:00+08:00"
        )
    })
}

fn format_ms(ms: i64) -> String {
    format_rfc3339(ms).unwrap_or_else(|| ms.to_string())
}

fn reports(data: &DataDir, unassigned: bool, json: bool) -> anyhow::Result<()> {
    let reports = data.store().reports(unassigned)?;
    let rows: Vec<_> = reports
        .iter()
        .map(|r| {
            let loc = r.location();
            json!({
                "id": r.id,
                "category": r.category(),
                "reporter": r.origin.as_ref().map(|o| o.reporter.clone()),
                "lon": loc.map(|l| l.lon),
                "lat": loc.map(|l| l.lat),
                "grid_cell": r.grid_cell(),
                "observed_at_ms": r.origin.as_ref().map(|o| o.observed_at_ms),
                "note": r.note(),
            })
        })
        .collect();
    if json {
        print_json(json!(rows));
    } else {
        for r in &reports {
            let loc = r
                .location()
                .map(|l| format!("{:.6},{:.6}", l.lon, l.lat))
                .unwrap_or_default();
            outln!(
                "{}  {:<6} {:<15} {:<22} {}",
                r.id,
                r.category().unwrap_or("?"),
                r.grid_cell().unwrap_or("unassigned"),
                loc,
                r.origin.as_ref().map(|o| o.reporter.as_str()).unwrap_or("")
            );
        }
        outln!("{} reports", reports.len());
    }
    Ok(())
}
