//! A warden's day of work synced over a bad link (issue 21): reports, a
//! patrol and photos recorded offline, then one sync through the e2e suite's
//! UDP relay at 64 kbit/s, 10 % loss each way, 500 ms round trip.
//!
//! Figures: the time until every record (op) is acknowledged and until every
//! photo is, from the start of the sync; the UDP bytes (both ways) per record
//! during the records phase and per photo byte during the photo phase; and an
//! empty sync's round trips over the same round trip with a fresh TLS
//! handshake against one that resumes its session and says hello in 0-RTT
//! (ADR 0029). One run: the full day takes about a quarter of an hour.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use gridwarden_client_core::tls::Pins;
use gridwarden_client_core::transport::{self, QuicConnect};
use gridwarden_client_core::{Client, Controls, PointInput, RetryPolicy, SyncProgress};
use gridwarden_e2e::relay::{Direction, Relay};
use gridwarden_protocol::Role;

use super::{count, progress};
use crate::context::{Context, WARDEN};
use crate::server::{self, Admin};
use crate::synthetic_grid::SplitMix64;
use crate::table::Row;

/// A day's work to sync.
#[derive(Clone, Copy, Debug)]
pub struct Day {
    pub reports: usize,
    pub points: usize,
    pub photos: usize,
    pub photo_bytes: usize,
}

impl Day {
    /// Issue 21's day.
    pub const FULL: Day = Day {
        reports: 500,
        points: 5_000,
        photos: 20,
        photo_bytes: 300_000,
    };
    /// CI's smoke run: the same link, well under a minute of it.
    pub const QUICK: Day = Day {
        reports: 50,
        points: 500,
        photos: 2,
        photo_bytes: 20_000,
    };
}

/// The link: 64 kbit/s each way, 10 % loss each way, 250 ms each way.
const RATE_BPS: u64 = 64_000;
const LOSS: f64 = 0.10;
const ONE_WAY: Duration = Duration::from_millis(250);

pub fn run(ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    let day = ctx.config.field_day;
    let dir = ctx.dir("field")?;
    let server = server::start(&dir.join("server"))?;
    let admin = server::admin_of(&server)?;
    let cells = admin.cells_with_points(1)?;
    let codes: Vec<String> = cells.iter().map(|(c, _)| c.clone()).collect();
    let places: Vec<(f64, f64)> = cells.iter().map(|(_, p)| *p).collect();
    admin.add_user(WARDEN, Role::Warden, &codes)?;
    // A whole day at 64 kbit/s outlasts the relay's default lifetime.
    let relay = Relay::start_for(server.addr, 0x21, Duration::from_secs(3 * 3600));
    let warden = enrol(&dir.join("warden"), &admin, &relay.addr().to_string())?;

    record_day(&warden, &dir, day, &places)?;
    relay.set_rate(RATE_BPS);
    relay.set_loss(LOSS);
    relay.set_delay(ONE_WAY);
    let synced = sync_day(&warden, &relay)?;
    let photo_total = (day.photos * day.photo_bytes) as u64;
    anyhow::ensure!(
        synced.summary.photos_uploaded == day.photos as u64 && synced.summary.pending == 0,
        "the day did not sync whole: {:?}",
        synced.summary
    );
    let records = synced.summary.pushed;
    let per_record = synced.records_bytes as f64 / records as f64;
    let per_photo_byte = synced.photo_phase_bytes as f64 / photo_total as f64;
    progress(
        "field",
        format!(
            "{records} records acknowledged after {:.1} s, {} photos after {:.1} s ({} attempts); \
             {per_record:.0} B a record, {per_photo_byte:.3} B a photo byte",
            synced.records_s, day.photos, synced.photos_s, synced.attempts
        ),
    );

    // Round trips of an empty sync over the same round trip, no loss: the
    // first through a new relay address is fresh, the next resumes.
    relay.set_rate(0);
    relay.set_loss(0.0);
    let fresh_relay = Relay::start(server.addr, 0x22);
    fresh_relay.set_delay(ONE_WAY);
    let via = fresh_relay.addr().to_string();
    let connect = QuicConnect {
        server: via.clone(),
        pins: Pins::only(server.fingerprint),
        timeout: Duration::from_secs(30),
    };
    let fresh = empty_sync_round_trips(&warden, &connect)?;
    let accepted_before = transport::early_data_accepted(&via, server.fingerprint);
    let resumed = empty_sync_round_trips(&warden, &connect)?;
    anyhow::ensure!(
        transport::early_data_accepted(&via, server.fingerprint) == accepted_before + 1,
        "the second sync did not resume with its hello in 0-RTT"
    );
    progress(
        "field",
        format!("an empty sync: {fresh:.2} round trips fresh, {resumed:.2} resumed"),
    );

    let what = format!(
        "{} reports, a {}-point patrol, {} photos of {} KB",
        count(day.reports),
        count(day.points),
        day.photos,
        day.photo_bytes / 1000
    );
    let link = "through the relay at 64 kbit/s, 10 % loss each way, 500 ms round trip";
    Ok(vec![
        Row::measured(
            format!("field: time until every record is acknowledged ({what})"),
            "s",
            vec![synced.records_s],
        )
        .note(format!(
            "{link}; from the start of the sync to the last push acknowledged ({records} ops: \
             reports, photo attachments, the patrol), before any photo byte"
        )),
        Row::measured(
            "field: time until every photo is acknowledged",
            "s",
            vec![synced.photos_s],
        )
        .note(format!(
            "from the start of the sync; {} attempt(s)",
            synced.attempts
        )),
        Row::measured("field: bytes on the wire per record", "B", vec![per_record]).note(
            "UDP payload both ways counted by the relay from the start of the sync to the records' \
             last progress (handshake, hello, reference data, pushes, acks, pull) over the ops \
             pushed; the patrol's points travel in a few large ops, so a record here is heavier \
             than a report (the e2e `field::day` splits them: ≤ 150 B a report)",
        ),
        Row::measured(
            "field: bytes on the wire per photo byte",
            "B",
            vec![per_photo_byte],
        )
        .note("UDP payload both ways from the records' last progress to the end of the sync"),
        Row::measured(
            "field: round trips of an empty sync, resumed (hello in 0-RTT)",
            "RTT",
            vec![resumed],
        )
        .baseline("a fresh handshake", vec![fresh])
        .note(
            "elapsed time over the relay's 500 ms round trip (no loss, no rate limit), the close \
             included (it waits up to 500 ms for the server's acknowledgement); the sync makes \
             2 requests (Hello, Pull): 3 round trips fresh, 2 resumed, and the close",
        ),
    ])
}

fn enrol(home: &std::path::Path, admin: &Admin, dial: &str) -> anyhow::Result<Client> {
    crate::device::enrol(home, &admin.enrolment_code(WARDEN, dial)?)?;
    Ok(Client::open(home)?.with_connect_timeout(Duration::from_secs(30)))
}

/// Records the day on the device: the first reports with a photo each, the
/// rest without, and a patrol walked at 1.4 m/s with a fix a second.
fn record_day(
    warden: &Client,
    dir: &std::path::Path,
    day: Day,
    places: &[(f64, f64)],
) -> anyhow::Result<()> {
    for i in 0..day.reports {
        let report = crate::reports::report(i, places);
        if i < day.photos {
            let file = dir.join(format!("photo-{i}.jpg"));
            std::fs::write(&file, jpeg(i as u64, day.photo_bytes))?;
            warden.record_report_with_photos(report, &[file])?;
        } else {
            warden.record_report(report)?;
        }
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let start_ms = now_ms - day.points as i64 * 1000 - 60_000;
    let (lon0, lat0) = places[0];
    warden.patrol_start("the day's round")?;
    for i in 0..day.points {
        let metres = i as f64 * 1.4;
        let (row, along) = ((metres / 500.0) as usize, metres % 500.0);
        let x = if row % 2 == 0 { along } else { 500.0 - along };
        warden.patrol_point(PointInput {
            time_ms: Some(start_ms + i as i64 * 1000),
            lon: lon0 + x / 84_300.0,
            lat: lat0 + (row as f64 * 20.0) / 111_000.0,
            accuracy_m: Some(4.0),
            speed_mps: Some(1.4),
        })?;
    }
    warden.patrol_stop()?;
    Ok(())
}

/// Bytes that start like a JPEG (the device sniffs the type).
fn jpeg(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 8);
    bytes.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    let mut random = SplitMix64(seed + 0x21);
    while bytes.len() < len {
        bytes.extend_from_slice(&random.next_u64().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

struct Synced {
    summary: gridwarden_client_core::SyncSummary,
    attempts: u32,
    records_s: f64,
    photos_s: f64,
    records_bytes: u64,
    photo_phase_bytes: u64,
}

/// Both directions' UDP payload the relay forwarded so far.
fn forwarded(relay: &Relay) -> u64 {
    relay.stats(Direction::ToServer).forwarded_bytes
        + relay.stats(Direction::ToClient).forwarded_bytes
}

/// The day's sync, retried as the app does, watched through its progress.
fn sync_day(warden: &Client, relay: &Relay) -> anyhow::Result<Synced> {
    /// When the last push was acknowledged; the bytes forwarded at the
    /// records' last progress (push or pull page), which the first photo
    /// progress freezes as the boundary between the phases.
    #[derive(Default)]
    struct Watch {
        pushed: u64,
        last_push: Option<Instant>,
        records_end: u64,
        first_photo: Option<(Instant, u64)>,
        attempts: u32,
    }
    let watch = Mutex::new(Watch::default());
    let listener = |p: SyncProgress| {
        let mut w = watch.lock().expect("watch lock");
        match p {
            SyncProgress::Connecting { attempt } => w.attempts = attempt,
            SyncProgress::Transferring { pushed, .. } if w.first_photo.is_none() => {
                w.records_end = forwarded(relay);
                if pushed > w.pushed {
                    w.pushed = pushed;
                    w.last_push = Some(Instant::now());
                }
            }
            SyncProgress::Photo { .. } if w.first_photo.is_none() => {
                let records_end = w.records_end;
                w.first_photo = Some((Instant::now(), records_end));
            }
            _ => {}
        }
    };
    let policy = RetryPolicy {
        max_attempts: Some(10),
        ..RetryPolicy::default()
    };
    let before = forwarded(relay);
    let started = Instant::now();
    let summary = warden.sync_retrying_blocking(
        &policy,
        Controls {
            cancel: None,
            progress: Some(&listener),
        },
    )?;
    let ended = Instant::now();
    let after = forwarded(relay);
    let w = watch.into_inner().expect("watch lock");
    let (photos_at, at_photos) = w
        .first_photo
        .ok_or_else(|| anyhow::anyhow!("no photo byte was sent"))?;
    let last_push = w
        .last_push
        .ok_or_else(|| anyhow::anyhow!("no push was acknowledged"))?;
    anyhow::ensure!(
        last_push <= photos_at,
        "a record was acknowledged after the first photo byte"
    );
    Ok(Synced {
        summary,
        attempts: w.attempts,
        records_s: (last_push - started).as_secs_f64(),
        photos_s: (ended - started).as_secs_f64(),
        records_bytes: at_photos - before,
        photo_phase_bytes: after - at_photos,
    })
}

/// An empty sync over `connect`, timed in the relay's round trips.
fn empty_sync_round_trips(warden: &Client, connect: &QuicConnect) -> anyhow::Result<f64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let summary = runtime.block_on(warden.sync_with(connect, Controls::default()))?;
    let took = started.elapsed();
    anyhow::ensure!(summary.pushed == 0, "the sync was not empty: {summary:?}");
    Ok(took.as_secs_f64() / (2.0 * ONE_WAY.as_secs_f64()))
}
