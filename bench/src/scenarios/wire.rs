//! Bytes on the wire per report, no photo, counted at the socket: a UDP relay
//! on loopback between the device and the server counts every datagram's
//! payload (QUIC headers, TLS, handshake, acks, the close). A push of N
//! reports and a new device's pull of them, each divided by N. Baselines: the
//! frame bytes the client core itself counts (messages and their length
//! prefix, no QUIC), and PouchDB's HTTP bytes for the same reports.

use std::time::Duration;

use super::{count, progress};
use crate::context::{Context, WARDEN};
use crate::device::{self, Device, Until};
use crate::peer::{Batch, Peer};
use crate::server;
use crate::table::{Row, Target};
use gridwarden_e2e::relay::{Direction, Relay, Stats};

/// Time for the connection close to cross the relay before it is read.
const SETTLE: Duration = Duration::from_millis(200);

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let n = ctx.config.wire_reports;
    let per = |bytes: u64| bytes as f64 / n as f64;
    let prepared = ctx.prepared(n)?;
    let (mut up, mut push_total, mut push_frames, mut pull_total) =
        (vec![], vec![], vec![], vec![]);
    let (mut echo_down, mut pull_down) = (vec![], vec![]);
    for run in 1..=ctx.config.runs {
        let copy = ctx.copy_of(&prepared, &format!("wire-{run}"))?;
        let server = server::start(&copy.server_dir)?;
        let relay = Relay::start(server.addr, run as u64);
        let relayed = relay.addr().to_string();
        let trace =
            Device::open(&copy.device_home)?.sync(&relayed, server.fingerprint, Until::Pushed)?;
        std::thread::sleep(SETTLE);
        let pushed = traffic(&relay);
        anyhow::ensure!(trace.pushed == n as u64, "pushed {} of {n}", trace.pushed);
        drop(relay);

        let home = ctx.dir(&format!("wire-puller-{run}"))?;
        let code = server::admin_of(&server)?.enrolment_code(WARDEN, &server.addr.to_string())?;
        device::enrol(&home, &code)?;
        let relay = Relay::start(server.addr, run as u64);
        let trace_pull = Device::open(&home)?.sync(
            &relay.addr().to_string(),
            server.fingerprint,
            Until::Done,
        )?;
        std::thread::sleep(SETTLE);
        let pulled = traffic(&relay);
        anyhow::ensure!(
            trace_pull.pulled == n as u64,
            "pulled {} of {n}",
            trace_pull.pulled
        );

        // The whole sync of a device that pushes the reports: what comes
        // back (acks, then the pull of what it lacks) against what a device
        // that never held them receives.
        let copy = ctx.copy_of(&prepared, &format!("wire-echo-{run}"))?;
        let echo_server = server::start(&copy.server_dir)?;
        let relay = Relay::start(echo_server.addr, run as u64);
        let trace_echo = Device::open(&copy.device_home)?.sync(
            &relay.addr().to_string(),
            echo_server.fingerprint,
            Until::Done,
        )?;
        std::thread::sleep(SETTLE);
        let echoed = traffic(&relay);
        anyhow::ensure!(
            trace_echo.pushed == n as u64,
            "pushed {} of {n}",
            trace_echo.pushed
        );
        drop(relay);
        drop(echo_server);
        echo_down.push(per(echoed.down.forwarded_bytes));
        pull_down.push(per(pulled.down.forwarded_bytes));

        up.push(per(pushed.up.forwarded_bytes));
        push_total.push(per(pushed.total()));
        push_frames.push(per(trace.frame_bytes_sent + trace.frame_bytes_received));
        pull_total.push(per(pulled.total()));
        progress(
            "wire",
            format!(
                "run {run}: push {:.1} B/report up + {:.1} down ({} + {} datagrams); pull {:.1} B/report; \
                 a pushing sync receives {:.1} B/report ({} records back), a pulling one {:.1}",
                per(pushed.up.forwarded_bytes),
                per(pushed.down.forwarded_bytes),
                pushed.up.forwarded_datagrams,
                pushed.down.forwarded_datagrams,
                per(pulled.total()),
                per(echoed.down.forwarded_bytes),
                trace_echo.pulled,
                per(pulled.down.forwarded_bytes)
            ),
        );
    }
    let echo_row = Row::measured(
        format!(
            "bytes received per report by a device whose sync pushes {} new reports (acks, then the pull of what it lacks)",
            count(n)
        ),
        "B",
        echo_down,
    )
    .baseline(
        "bytes received per report by a device pulling the same reports (the echo, before issue 22)",
        pull_down,
    )
    .note(
        "UDP payload towards the device; a report its device wrote comes back as its grid cell \
         and photo set only, with its case",
    );
    let (peer_push, peer_pull) = peer_bytes(ctx, &prepared.places, Batch::Default)?;
    let (tuned_push, tuned_pull) = peer_bytes(ctx, &prepared.places, Batch::Tuned)?;
    Ok(vec![
        Row::measured(
            format!(
                "bytes on the wire per report pushed, device → server ({} reports)",
                count(n)
            ),
            "B",
            up,
        )
        .note(
            "UDP payload counted by a relay on loopback (IP and UDP headers, 28 B a datagram, \
             not included); the whole connection: handshake, hello, pushes, acks, close",
        ),
        Row::measured(
            "bytes on the wire per report pushed, both directions",
            "B",
            push_total,
        )
        .baseline(
            "frame bytes the client core counts (no QUIC, TLS or handshake)",
            push_frames,
        )
        .baseline(
            format!(
                "PouchDB peer: HTTP bytes per doc pushed, {} docs, {}",
                count(ctx.config.peer_docs),
                Batch::Default.label()
            ),
            peer_push,
        )
        .baseline(
            format!(
                "PouchDB peer: HTTP bytes per doc pushed, {} docs, {}",
                count(ctx.config.peer_docs),
                Batch::Tuned.label()
            ),
            tuned_push,
        )
        .target(Target::at_most(150.0, "≤ 150 B")),
        Row::measured(
            "bytes on the wire per report pulled, both directions",
            "B",
            pull_total,
        )
        .baseline(
            format!(
                "PouchDB peer: HTTP bytes per doc pulled, {} docs, {}",
                count(ctx.config.peer_docs),
                Batch::Default.label()
            ),
            peer_pull,
        )
        .baseline(
            format!(
                "PouchDB peer: HTTP bytes per doc pulled, {} docs, {}",
                count(ctx.config.peer_docs),
                Batch::Tuned.label()
            ),
            tuned_pull,
        )
        .target(Target::at_most(150.0, "≤ 150 B (issue 22)"))
        .note(
            "protocol 4 packs pages with zstd (ADR 0032); the harness's reports repeat ten notes, \
             which packs far better than a district's real pages: \
             `cargo test -p gridwarden-protocol --test page_bytes -- --nocapture` gives 122 B a \
             report in frame bytes for pages of 1,000 reports whose notes all differ",
        ),
        echo_row,
    ])
}

/// UDP payload bytes the relay passed each way (no loss, no delay set: it
/// forwards everything as it comes).
struct Traffic {
    up: Stats,
    down: Stats,
}

impl Traffic {
    fn total(&self) -> u64 {
        self.up.forwarded_bytes + self.down.forwarded_bytes
    }
}

fn traffic(relay: &Relay) -> Traffic {
    Traffic {
        up: relay.stats(Direction::ToServer),
        down: relay.stats(Direction::ToClient),
    }
}

/// PouchDB bytes per doc for one push and one pull through a counting TCP
/// relay; empty without a peer.
fn peer_bytes(
    ctx: &mut Context,
    places: &[(f64, f64)],
    batch: Batch,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    if ctx.peer.is_none() {
        progress("wire", format!("no PouchDB peer: {}", ctx.peer_missing));
        return Ok((vec![], vec![]));
    }
    let file = ctx.dir("peer-wire")?.join("reports.jsonl");
    Peer::write_reports(&file, ctx.config.peer_docs, places)?;
    let peer = ctx.peer.as_mut().expect("checked");
    let (db, push) = peer.push(&file, true, batch)?;
    let pull = peer.pull(&db, true, batch)?;
    let per = |r: &crate::peer::Replication| (r.bytes_up + r.bytes_down) as f64 / r.docs as f64;
    progress(
        "wire",
        format!(
            "PouchDB ({batch:?}): push {:.0} B/doc, pull {:.0} B/doc",
            per(&push),
            per(&pull)
        ),
    );
    Ok((vec![per(&push)], vec![per(&pull)]))
}
