//! `gridwarden-bench`: runs every figure of the brief's "Numbers to reach"
//! over real QUIC on loopback with the real server and client core, each
//! with its baseline measured in the same run, and prints one table.
//!
//! ```sh
//! cargo run --release -p gridwarden-bench              # everything, about an hour (2 cores)
//! cargo run --release -p gridwarden-bench -- --quick   # a tenth of the sizes, 3 runs
//! cargo run --release -p gridwarden-bench -- --only push --only pull
//! cargo run --release -p gridwarden-bench -- --quick --no-peer  # CI's smoke run
//! ```
//!
//! A scenario that fails or errors makes the process exit with status 1
//! after the table is printed; figures are never checked against targets.
//!
//! docs/benchmarks.md has the table as measured and what limits each figure.

mod cli_process;
mod context;
mod device;
mod machine;
mod malloc;
mod peer;
mod raw_postgres;
mod raw_sqlite;
mod reports;
mod scenarios;
mod server;
mod server_process;
mod stats;
mod synthetic_grid;
mod table;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::Parser;

use context::{Config, Context};
use table::Row;

#[derive(Parser, Debug)]
#[command(
    name = "gridwarden-bench",
    about = "Measures every figure of the brief and prints the table"
)]
struct Args {
    /// A tenth of the sizes and 3 runs, for trying a change (figures are not
    /// comparable with the brief's targets).
    #[arg(long)]
    quick: bool,
    /// Run only this scenario (repeatable): push, pull, apply, wire, fleet,
    /// steady, grid, city, patrol, record, console, photo, postgres.
    #[arg(long, value_name = "SCENARIO")]
    only: Vec<String>,
    /// Runs per figure (default 5, or 3 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Skip the PouchDB peer (it needs node 20 and npm).
    #[arg(long)]
    no_peer: bool,
    /// Where servers and devices keep their files (default: the system's
    /// temporary directory). Everything is removed at the end unless --keep.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the working directory, e.g. to inspect the databases.
    #[arg(long)]
    keep: bool,
}

fn main() {
    server_process::run_if_child();
    cli_process::run_if_child();
    malloc::fix_threshold_or_rerun();
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let selected: Vec<&scenarios::Scenario> = if args.only.is_empty() {
        scenarios::ALL.iter().collect()
    } else {
        let mut picked = Vec::new();
        for name in &args.only {
            match scenarios::ALL.iter().find(|s| s.name == name) {
                Some(s) => picked.push(s),
                None => bail!(
                    "no scenario `{name}`; choose among {}",
                    scenarios::ALL
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        picked
    };
    let mut config = if args.quick {
        Config::quick()
    } else {
        Config::full()
    };
    if let Some(runs) = args.runs {
        anyhow::ensure!(runs >= 1, "--runs must be at least 1");
        config.runs = runs;
    }
    let base = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;
    let work = tempfile::Builder::new()
        .prefix("gridwarden-bench-")
        .tempdir_in(&base)?;
    let needs_peer = selected
        .iter()
        .any(|s| ["push", "pull", "wire"].contains(&s.name));
    let peer = if args.no_peer {
        Err("skipped (--no-peer)".to_owned())
    } else if !needs_peer {
        Err("not needed by the selected scenarios".to_owned())
    } else {
        peer::Peer::start(work.path())
    };
    let machine = machine::describe();
    eprintln!("{machine}");
    eprintln!("working in {}", work.path().display());
    let runs = config.runs;
    let mut ctx = Context::new(config, work.path().to_owned(), peer);

    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut took: Vec<(&str, f64)> = Vec::new();
    let mut failed: Vec<&str> = Vec::new();
    for scenario in selected {
        eprintln!("\n== {}: {}", scenario.name, scenario.what);
        let began = Instant::now();
        let ran = match (scenario.run)(&mut ctx) {
            Ok(mut r) => {
                let ran = r.len();
                rows.append(&mut r);
                ran
            }
            Err(e) => {
                eprintln!("  {} failed: {e:#}", scenario.name);
                failed.push(scenario.name);
                rows.push(Row::missing(
                    format!("{}: {}", scenario.name, scenario.what),
                    "",
                    format!("failed: {e:#}"),
                ));
                1
            }
        };
        let secs = began.elapsed().as_secs_f64();
        // Each scenario's rows as soon as they are measured: a run stopped
        // later keeps them.
        let first = rows.len() - ran;
        eprintln!("{}", table::render(&rows[first..]));
        let rss = malloc::own_rss_mib()
            .map_or(String::new(), |m| format!("; the harness holds {m:.0} MiB"));
        eprintln!("  ({} took {secs:.0} s{rss})", scenario.name);
        took.push((scenario.name, secs));
    }
    drop(ctx);

    println!("{machine}");
    println!(
        "mode: {}, {} runs per figure; load average after: {}\n",
        if args.quick {
            "--quick (a tenth of the sizes; not comparable with the targets)"
        } else {
            "full"
        },
        runs,
        machine::load_average()
    );
    println!(
        "Ratios are the figure's median divided by the baseline's median, in the figure's unit.\n"
    );
    println!("{}", table::render(&rows));
    // The harness's own cost: what a reader re-running it should expect.
    let per_scenario: Vec<String> = took
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.0} s"))
        .collect();
    println!(
        "\nThe harness ran for {:.0} s ({}).",
        started.elapsed().as_secs_f64(),
        per_scenario.join(", ")
    );
    if args.keep {
        let kept = work.keep();
        eprintln!("kept {}", kept.display());
    }
    // The table is printed either way; a scenario that no longer runs fails
    // the process, so CI's smoke run (`.ci/run`) notices a harness that rots.
    if !failed.is_empty() {
        bail!(
            "{} scenario(s) failed: {} (their rows say why)",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
