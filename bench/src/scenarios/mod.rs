//! One module per figure of the brief. Each runs its measurement the
//! configured number of times, with its baselines interleaved run by run so
//! both see the same machine, and returns its rows of the table.

pub mod apply;
pub mod city;
pub mod console;
pub mod field;
pub mod fleet;
pub mod grid;
pub mod patrol;
pub mod photo;
pub mod postgres;
pub mod process;
pub mod pull;
pub mod push;
pub mod record;
pub mod steady;
pub mod wire;

use crate::context::Context;
use crate::table::Row;

/// A scenario as `--only` names it.
pub struct Scenario {
    pub name: &'static str,
    pub what: &'static str,
    pub run: fn(&mut Context) -> anyhow::Result<Vec<Row>>,
}

/// Every scenario, in the order of the table.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "push",
        what: "one device pushes its reports; `gridwarden sync` as a whole process (and the PouchDB peer)",
        run: push::run,
    },
    Scenario {
        name: "pull",
        what: "a new device pulls every report (and the PouchDB peer)",
        run: pull::run,
    },
    Scenario {
        name: "apply",
        what: "a device holding 500,000 reports applies one remote change",
        run: apply::run,
    },
    Scenario {
        name: "wire",
        what: "bytes on the wire per report, counted by a UDP relay",
        run: wire::run,
    },
    Scenario {
        name: "fleet",
        what: "2,000 devices sync at once against a server process",
        run: fleet::run,
    },
    Scenario {
        name: "steady",
        what: "2,000 devices keep their connections and sync once a minute; a supervisor's step reaches a liaison's open app",
        run: steady::run,
    },
    Scenario {
        name: "grid",
        what: "grid assignment against 10,000 cells",
        run: grid::run,
    },
    Scenario {
        name: "city",
        what: "a 50,000-cell street-following city: import, a warden's part, the whole-city view",
        run: city::run,
    },
    Scenario {
        name: "patrol",
        what: "summarise a day's patrol of 5,000 points",
        run: patrol::run,
    },
    Scenario {
        name: "record",
        what: "record a report on the device",
        run: record::run,
    },
    Scenario {
        name: "console",
        what: "the supervisor console: queue page, a year's KPIs, the city's map data",
        run: console::run,
    },
    Scenario {
        name: "field",
        what: "a warden's day (reports, a patrol, photos) over 64 kbit/s, 10 % loss, 500 ms RTT; resumed against fresh handshakes",
        run: field::run,
    },
    Scenario {
        name: "photo",
        what: "a 20 MB photo: upload, and resume after a cut at 90 %",
        run: photo::run,
    },
    Scenario {
        name: "postgres",
        what: "PostgreSQL beside SQLite: push, pull and the fleet; two processes on one database",
        run: postgres::run,
    },
];

/// "N" with thousands separated, for labels.
pub fn count(n: usize) -> String {
    crate::table::grouped(n as i64)
}

/// Prints a progress line (stderr, so the table on stdout stays clean).
pub fn progress(scenario: &str, text: impl std::fmt::Display) {
    eprintln!("  {scenario}: {text}");
}
