//! Photos: MB/s of a 20 MB upload, and the bytes sent when an upload cut at
//! 90 % resumes.
//!
//! Upload: a warden's device records one report with a fresh 20 MB photo
//! and syncs with the server directly; the figure is the photo's size over
//! the whole sync (the one record's push is a few milliseconds of it).
//!
//! Resume: a second device, enrolled to dial the e2e suite's UDP relay,
//! records another 20 MB photo; its sync is cancelled as soon as the server
//! has acknowledged 90 % of the photo (as a phone losing signal), then it
//! syncs again. The figure is the UDP payload the relay carried towards the
//! server during that second sync (QUIC, TLS, handshake included); the
//! baselines are the tail that was missing and the whole photo (what a
//! protocol without resume re-sends, as ODK does).

use std::path::{Path, PathBuf};
use std::time::Instant;

use gridwarden_client_core::{
    CancelToken, Client, ClientError, Controls, RetryPolicy, SyncProgress,
};
use gridwarden_e2e::relay::{Direction, Relay};
use gridwarden_protocol::Role;

use super::progress;
use crate::context::{Context, WARDEN};
use crate::server::{self, Admin};
use crate::synthetic_grid::SplitMix64;
use crate::table::{Row, Target};

/// The brief's photo: 20 MB.
const PHOTO_BYTES: usize = 20 * 1024 * 1024;
/// Share of the photo acknowledged when the connection is cut.
const CUT_AT: f64 = 0.9;
/// QUIC and TLS framing on top of the tail: 5 % allows packet headers,
/// acks and a handshake, not a re-sent chunk.
const RESUME_OVERHEAD: f64 = 1.05;

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let dir = ctx.dir("photo")?;
    let server = server::start(&dir.join("server"))?;
    let admin = server::admin_of(&server)?;
    let cells = admin.cells_with_points(1)?;
    let codes: Vec<String> = cells.iter().map(|(c, _)| c.clone()).collect();
    let places: Vec<(f64, f64)> = cells.iter().map(|(_, p)| *p).collect();
    admin.add_user(WARDEN, Role::Warden, &codes)?;

    let direct = enrol(&dir.join("direct"), &admin, &server.addr.to_string())?;
    let relay = Relay::start(server.addr, 1);
    let relayed = enrol(&dir.join("relayed"), &admin, &relay.addr().to_string())?;

    let (mut rates, mut resumed, mut tails, mut wholes) = (vec![], vec![], vec![], vec![]);
    for run in 1..=ctx.config.runs {
        // Upload, straight to the server.
        let file = write_photo(&dir, &format!("direct-{run}.jpg"), run as u64)?;
        direct.record_report_with_photos(crate::reports::report(run, &places), &[file])?;
        let started = Instant::now();
        let summary = direct.sync()?;
        let took = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            summary.photos_uploaded == 1,
            "the photo was not uploaded: {summary:?}"
        );
        rates.push(mb(PHOTO_BYTES as u64) / took);

        // Resume, through the relay.
        let file = write_photo(&dir, &format!("relayed-{run}.jpg"), 1000 + run as u64)?;
        relayed.record_report_with_photos(crate::reports::report(run, &places), &[file])?;
        let acked = cut_at_90_percent(&relayed)?;
        let before = relay.stats(Direction::ToServer).forwarded_bytes;
        let summary = relayed.sync()?;
        let sent = relay.stats(Direction::ToServer).forwarded_bytes - before;
        anyhow::ensure!(
            summary.photos_uploaded == 1,
            "the resumed photo was not uploaded: {summary:?}"
        );
        let tail = PHOTO_BYTES as u64 - acked;
        resumed.push(mb(sent));
        tails.push(mb(tail));
        wholes.push(mb(PHOTO_BYTES as u64));
        progress(
            "photo",
            format!(
                "run {run}: upload {:.1} MB/s; cut at {:.1} %, resume sent {:.2} MB at the socket \
                 ({} photo bytes) for a {:.2} MB tail",
                rates[run - 1],
                100.0 * acked as f64 / PHOTO_BYTES as f64,
                mb(sent),
                summary.photo_bytes_sent,
                mb(tail)
            ),
        );
    }
    drop(relay);
    drop(server);
    Ok(vec![
        Row::measured("photo: upload of a 20 MB photo", "MB/s", rates).note(
            "one report with a fresh 20 MiB photo, the whole sync timed (records first, then \
             the photo in chunks, each acknowledged after the server fsynced it); MB = 10⁶ bytes",
        ),
        Row::measured(
            "photo: bytes sent at the socket to resume an upload cut at 90 %",
            "MB",
            resumed,
        )
        .baseline("the missing tail", tails)
        .baseline("the whole photo (a re-send)", wholes)
        .target(Target::ratio_at_most(
            RESUME_OVERHEAD,
            "only the missing tail (≤ 1.05× it with QUIC and TLS)",
        ))
        .note(
            "UDP payload towards the server counted by the relay during the resuming sync: \
             handshake, hello, the photo offer and the chunks after the server's offset",
        ),
    ])
}

fn enrol(home: &Path, admin: &Admin, dial: &str) -> anyhow::Result<Client> {
    crate::device::enrol(home, &admin.enrolment_code(WARDEN, dial)?)?;
    Ok(Client::open(home)?)
}

/// Bytes that start like a JPEG (the device sniffs the type), different for
/// each `seed` so every run uploads a photo the server does not hold.
fn write_photo(dir: &Path, name: &str, seed: u64) -> anyhow::Result<PathBuf> {
    let mut bytes = Vec::with_capacity(PHOTO_BYTES);
    bytes.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    let mut random = SplitMix64(seed);
    while bytes.len() < PHOTO_BYTES {
        bytes.extend_from_slice(&random.next_u64().to_le_bytes());
    }
    bytes.truncate(PHOTO_BYTES);
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// Syncs until the server has acknowledged 90 % of the photo, then cancels;
/// returns how many bytes the server holds.
fn cut_at_90_percent(client: &Client) -> anyhow::Result<u64> {
    let cancel = CancelToken::new();
    let acked = std::sync::Mutex::new(0u64);
    let watch = |p: SyncProgress| {
        if let SyncProgress::Photo { sent, total, .. } = p {
            if sent as f64 >= total as f64 * CUT_AT && !cancel.is_cancelled() {
                *acked.lock().expect("progress lock") = sent;
                cancel.cancel();
            }
        }
    };
    let once = RetryPolicy {
        max_attempts: Some(1),
        ..RetryPolicy::default()
    };
    match client.sync_retrying_blocking(
        &once,
        Controls {
            cancel: Some(&cancel),
            progress: Some(&watch),
        },
    ) {
        Err(ClientError::Cancelled) => {}
        other => anyhow::bail!("expected the sync to be cut, it ended with {other:?}"),
    }
    let acked = *acked.lock().expect("progress lock");
    anyhow::ensure!(acked > 0, "no photo progress before the cut");
    Ok(acked)
}
