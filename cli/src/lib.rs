//! The `gridwarden` command-line client. `main.rs` only calls [`run`]; tests
//! call [`run_with`] in-process with their own output buffers.
//!
//! Exit codes: 0 success, 1 a problem the user can fix (bad input, not
//! enrolled, refused by the server), 2 the server could not be reached.

mod args;
mod cases;
mod commands;
mod ids;
mod kpi;
mod names;
mod patrols;
mod photos;
mod progress;
mod render;
mod time;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use gridwarden_client_core::{Client, ClientError};

use args::Cli;

/// Exit status for success.
pub const EXIT_OK: i32 = 0;
/// Exit status for errors the user can act on.
pub const EXIT_USER: i32 = 1;
/// Exit status when the server is unreachable; local data is safe.
pub const EXIT_OFFLINE: i32 = 2;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    Client(ClientError),
    Usage(String),
    Io(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e.to_string())
    }
}

impl Failure {
    fn exit_code(&self) -> i32 {
        match self {
            Failure::Client(e) if e.is_offline() => EXIT_OFFLINE,
            _ => EXIT_USER,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Client(e) => e.to_string(),
            Failure::Usage(m) => m.clone(),
            Failure::Io(m) => format!("cannot write the output: {m}"),
        }
    }
}

/// Runs the CLI with the process's stdout and stderr; returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_with(args, &mut stdout.lock(), &mut stderr.lock())
}

/// Runs the CLI writing results to `out` and errors to `err`.
pub fn run_with<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = write!(out, "{}", e.render());
                    EXIT_OK
                }
                // clap's own exit code for usage errors is 2, which here
                // means "offline"; a mistyped command is the user's to fix.
                _ => {
                    let _ = write!(err, "{}", e.render());
                    EXIT_USER
                }
            };
        }
    };
    match execute(cli, out) {
        Ok(()) => EXIT_OK,
        Err(failure) => {
            let _ = writeln!(err, "error: {}", failure.message());
            failure.exit_code()
        }
    }
}

fn home_dir(cli: &Cli) -> Result<PathBuf, Failure> {
    if let Some(home) = &cli.home {
        return Ok(home.clone());
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".gridwarden")),
        None => Err(Failure::Usage(
            "cannot tell where to keep this device's data: HOME is not set; \
             pass --home DIR or set GRIDWARDEN_HOME"
                .into(),
        )),
    }
}

fn execute(cli: Cli, out: &mut dyn Write) -> Result<(), Failure> {
    if !(cli.connect_timeout.is_finite() && cli.connect_timeout > 0.0) {
        return Err(Failure::Usage(
            "--connect-timeout must be a positive number of seconds".into(),
        ));
    }
    let offset = time::Offset::parse(&cli.utc_offset).map_err(Failure::Usage)?;
    let home = home_dir(&cli)?;
    let clock = gridwarden_protocol::clock::system();
    let client = Client::open(&home)?
        .with_clock(clock.clone())
        .with_connect_timeout(Duration::from_secs_f64(cli.connect_timeout.min(3600.0)));
    let mut output = commands::Output {
        out,
        json: cli.json,
        offset,
        clock,
    };
    commands::run(&client, cli.command, &mut output)
}
