//! Patrols (巡查) on the device: start, points from the GPS thinned as they
//! arrive, stop, GPX import; and the review of this device's patrols (the
//! server's are `remote::patrols`).
//!
//! Points are not one op each: kept points wait in the track table and are
//! sealed into `Points` ops of up to [`POINTS_PER_OP`] at the next sync or at
//! the stop, so a day's walk costs a handful of ops.

use gridwarden_grid::track::{summarise, Thinner};
use gridwarden_protocol::clock::Clock;
use gridwarden_protocol::track::MAX_POINTS_PER_PATROL;
use gridwarden_protocol::{
    validate, NewPatrol, OpBody, PatrolOp, PatrolSummary, PatrolTrack, TrackPoint,
};
use rusqlite::{Connection, Transaction};
use serde::Serialize;
use uuid::Uuid;

use super::cache::RefCache;
use super::{next_stamp, queue_op, require_enrolment, server_now};
use crate::error::{ClientError, Result};
use crate::store::meta::{self, Enrolment};
use crate::store::patrols::{self, LocalPatrol};

/// Points per sealed op: well under the protocol's limit per op.
pub const POINTS_PER_OP: usize = 500;

/// A GPS fix as the phone's location service gives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PointInput {
    /// When the fix was taken (ms since the epoch); `None` takes the
    /// device's clock.
    pub time_ms: Option<i64>,
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: Option<f32>,
    pub speed_mps: Option<f32>,
}

/// What importing a GPX file did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportedPatrol {
    pub patrol: Uuid,
    pub name: Option<String>,
    /// Points in the file, and how many were kept after thinning.
    pub points_in_file: u64,
    pub points_kept: u64,
    pub segments: u32,
}

fn not_here(id: Uuid) -> ClientError {
    ClientError::InvalidInput(format!(
        "no patrol {id} on this device; `gridwarden patrols` lists them"
    ))
}

/// Starts a patrol; refused while another is under way.
pub fn start(tx: &Transaction, clock: &dyn Clock, note: &str) -> Result<Uuid> {
    // Patrol times are the server's time, like op stamps: the server
    // refuses them far from its own (a phone with a wrong date).
    let start = NewPatrol {
        started_at_ms: server_now(tx, clock)? as i64,
        note: note.to_owned(),
    };
    validate::patrol_op(&PatrolOp::Start(start.clone()))?;
    let enrolment = require_enrolment(tx)?;
    if let Some(running) = patrols::running(tx)? {
        return Err(ClientError::InvalidInput(format!(
            "patrol {} is under way; stop it first (`gridwarden patrol stop`)",
            running.id
        )));
    }
    let id = Uuid::now_v7();
    patrols::insert(tx, id, start.started_at_ms, note)?;
    queue_patrol_op(tx, &enrolment, id, PatrolOp::Start(start), clock)?;
    Ok(id)
}

/// Adds a GPS fix to the patrol under way. Returns whether it was kept
/// (a fix a few metres from the last kept one is dropped).
pub fn point(tx: &Transaction, clock: &dyn Clock, input: PointInput) -> Result<bool> {
    require_enrolment(tx)?;
    let mut patrol = patrols::running(tx)?.ok_or_else(|| {
        ClientError::InvalidInput(
            "no patrol is under way; start one with `gridwarden patrol start`".into(),
        )
    })?;
    let now = server_now(tx, clock)? as i64;
    let time_ms = Some(input.time_ms.unwrap_or(now));
    offer_point(tx, &mut patrol, input, time_ms, 0)
}

/// Stops the patrol under way: its last fix is kept so the track ends
/// where the warden stopped, and its points are sealed for the next sync.
pub fn stop(tx: &Transaction, clock: &dyn Clock) -> Result<Uuid> {
    let enrolment = require_enrolment(tx)?;
    let mut patrol = patrols::running(tx)?
        .ok_or_else(|| ClientError::InvalidInput("no patrol is under way".into()))?;
    let now = server_now(tx, clock)?;
    finish(tx, &enrolment, &mut patrol, now as i64, clock)?;
    Ok(patrol.id)
}

/// Imports a track recorded by another app (GPX 1.0/1.1) as a finished
/// patrol of this device, thinned like a live one.
pub fn import_gpx(
    tx: &Transaction,
    clock: &dyn Clock,
    gpx: &[u8],
    note: Option<&str>,
) -> Result<ImportedPatrol> {
    let track = gridwarden_grid::gpx::parse_gpx(gpx)
        .map_err(|e| ClientError::InvalidInput(format!("cannot import the GPX file: {e}")))?;
    let now = clock.now_ms();
    let first_time = track.points.iter().find_map(|p| p.time_ms);
    let last_time = track.points.iter().rev().find_map(|p| p.time_ms);
    let note = note
        .map(str::to_owned)
        .or_else(|| track.name.clone().map(|n| format!("imported: {n}")))
        .unwrap_or_else(|| "imported from GPX".to_owned());
    let start = NewPatrol {
        started_at_ms: first_time.unwrap_or(now as i64),
        note: note
            .chars()
            .take(gridwarden_protocol::track::MAX_PATROL_NOTE_CHARS)
            .collect(),
    };
    // The same file imported twice would make two patrols of one walk:
    // recognised by its content, refused naming the first.
    let hash = blake3::hash(gpx).to_hex().to_string();
    let enrolment = require_enrolment(tx)?;
    if let Some(bytes) = meta::gpx_import(tx, &hash)? {
        if let Ok(existing) = Uuid::from_slice(&bytes) {
            if patrols::get(tx, existing)?.is_some() {
                return Err(ClientError::InvalidInput(format!(
                    "this GPX file was already imported as patrol {existing}; `gridwarden patrol show {existing}` shows it"
                )));
            }
        }
    }
    let id = Uuid::now_v7();
    meta::set_gpx_import(tx, &hash, id)?;
    patrols::insert(tx, id, start.started_at_ms, &start.note)?;
    queue_patrol_op(tx, &enrolment, id, PatrolOp::Start(start.clone()), clock)?;
    let mut patrol = patrols::get(tx, id)?.expect("inserted above");
    for p in &track.points {
        let input = PointInput {
            time_ms: p.time_ms,
            lon: p.lon,
            lat: p.lat,
            accuracy_m: p.accuracy_m,
            speed_mps: p.speed_mps,
        };
        offer_point(tx, &mut patrol, input, p.time_ms, p.segment)?;
    }
    let ended = last_time.unwrap_or(start.started_at_ms);
    finish(tx, &enrolment, &mut patrol, ended, clock)?;
    let kept = patrols::track(tx, id)?.len() as u64;
    Ok(ImportedPatrol {
        patrol: id,
        name: track.name,
        points_in_file: track.points.len() as u64,
        points_kept: kept,
        segments: track.points.last().map_or(0, |p| p.segment + 1),
    })
}

/// Summaries of this device's patrols, newest first, computed here with
/// the cached grid layer and this user's cells (the same function the
/// server uses).
pub fn list(conn: &Connection, cache: &mut RefCache) -> Result<Vec<PatrolSummary>> {
    patrols::list(conn)?
        .iter()
        .map(|p| track(conn, cache, p).map(|t| t.summary))
        .collect()
}

/// One patrol of this device with its track.
pub fn get(conn: &Connection, cache: &mut RefCache, id: Uuid) -> Result<PatrolTrack> {
    let patrol = patrols::get(conn, id)?.ok_or_else(|| not_here(id))?;
    track(conn, cache, &patrol)
}

fn track(conn: &Connection, cache: &mut RefCache, patrol: &LocalPatrol) -> Result<PatrolTrack> {
    let enrolment = require_enrolment(conn)?;
    let points = patrols::track(conn, patrol.id)?;
    let scope = meta::cells(conn)?;
    let reports = patrols::reports_of(conn, patrol.id)?;
    let grid = cache.grid_index(conn)?;
    let info = patrol.info(&enrolment.user, enrolment.device_id);
    let summary = summarise(&info, &points, grid.as_deref(), &scope, reports);
    Ok(PatrolTrack { summary, points })
}

/// Resolves a patrol id typed by hand (full, or a unique prefix of a
/// patrol on this device).
pub fn resolve_id(conn: &Connection, text: &str) -> Result<Uuid> {
    let text = text.trim();
    if let Ok(id) = Uuid::parse_str(text) {
        return Ok(id);
    }
    let digits: String = text
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    let matches: Vec<Uuid> = patrols::list(conn)?
        .into_iter()
        .map(|p| p.id)
        .filter(|id| id.simple().to_string().starts_with(&digits))
        .collect();
    match matches.as_slice() {
        [one] if digits.len() >= 4 => Ok(*one),
        _ => Err(ClientError::InvalidInput(format!(
            "`{text}` is not a patrol id on this device; give the whole id"
        ))),
    }
}

/// Seals kept track points into `Points` ops (before a push); nothing
/// before enrolment.
pub fn seal_tracks(tx: &Transaction, clock: &dyn Clock) -> Result<()> {
    match meta::enrolment(tx)? {
        Some(enrolment) => seal(tx, &enrolment, clock),
        None => Ok(()),
    }
}

fn queue_patrol_op(
    tx: &Transaction,
    enrolment: &Enrolment,
    patrol_id: Uuid,
    op: PatrolOp,
    wall: &dyn Clock,
) -> Result<Uuid> {
    let stamp = next_stamp(tx, enrolment, wall)?;
    queue_op(tx, stamp, OpBody::Patrol { patrol_id, op })
}

/// Thins one fix into the patrol's track; saves the thinning state.
fn offer_point(
    tx: &Transaction,
    patrol: &mut LocalPatrol,
    input: PointInput,
    time_ms: Option<i64>,
    segment: u32,
) -> Result<bool> {
    let point = TrackPoint {
        seq: patrol.next_seq,
        time_ms,
        lon: input.lon,
        lat: input.lat,
        accuracy_m: input.accuracy_m,
        speed_mps: input.speed_mps,
        segment,
    };
    validate::track_point(&point)?;
    if patrol.next_seq >= MAX_POINTS_PER_PATROL {
        return Err(ClientError::InvalidInput(format!(
            "this patrol holds {MAX_POINTS_PER_PATROL} points, the most a patrol keeps; stop it and start a new one"
        )));
    }
    let kept = Thinner::new(patrol.last_kept).keep(&point);
    patrol.offered += 1;
    if kept {
        patrols::add_point(tx, patrol.id, &point)?;
        patrol.next_seq += 1;
        patrol.last_kept = Some(point);
        patrol.last_raw = None;
    } else {
        patrol.last_raw = Some(point);
    }
    patrols::set_progress(tx, patrol)?;
    Ok(kept)
}

/// Ends a patrol: keeps the last fix, seals the track, queues the stop.
fn finish(
    tx: &Transaction,
    enrolment: &Enrolment,
    patrol: &mut LocalPatrol,
    ended_ms: i64,
    wall: &dyn Clock,
) -> Result<()> {
    if let Some(mut last) = patrol.last_raw.take() {
        last.seq = patrol.next_seq;
        patrols::add_point(tx, patrol.id, &last)?;
        patrol.next_seq += 1;
        patrol.last_kept = Some(last);
        patrols::set_progress(tx, patrol)?;
    }
    patrols::set_ended(tx, patrol.id, ended_ms)?;
    seal(tx, enrolment, wall)?;
    queue_patrol_op(
        tx,
        enrolment,
        patrol.id,
        PatrolOp::Stop {
            ended_at_ms: ended_ms,
        },
        wall,
    )?;
    Ok(())
}

fn seal(tx: &Transaction, enrolment: &Enrolment, wall: &dyn Clock) -> Result<()> {
    for (patrol_id, points) in patrols::take_unsealed(tx)? {
        for chunk in points.chunks(POINTS_PER_OP) {
            queue_patrol_op(
                tx,
                enrolment,
                patrol_id,
                PatrolOp::Points(chunk.to_vec()),
                wall,
            )?;
        }
    }
    Ok(())
}
