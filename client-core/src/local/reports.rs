//! Reports on the device: recording, editing and deleting, each one write
//! of the report and its outbox op in the caller's transaction (brief
//! decision 1: never waits for the network); and reading them back.

use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::clock::Clock;
use gridwarden_protocol::{validate, NewReport, PhotoRef, ReportEdit, ReportOp, ReportState};
use rusqlite::{Connection, Transaction};
use uuid::Uuid;

use super::cache::RefCache;
use super::view::ReportView;
use super::{apply_local, limits, live_report, photos, require_enrolment, server_now};
use crate::error::{ClientError, Result};
use crate::store::reports::{self, LocalCell};
use crate::store::{outbox, patrols, rejections};

/// Records a new report with its (already stored) photos: the report, its
/// Create op and, with photos, its AttachPhotos op. Returns the report's id
/// (UUIDv7). A report recorded while a patrol is under way belongs to that
/// patrol unless it names one.
pub fn record(
    tx: &Transaction,
    cache: &mut RefCache,
    clock: &dyn Clock,
    mut input: NewReport,
    photo_refs: &[PhotoRef],
) -> Result<Uuid> {
    let enrolment = require_enrolment(tx)?;
    let limits = limits::current(tx)?;
    limits::check_note(&limits, &input.note)?;
    input.observed_at_ms =
        checked_observed_time(tx, clock, input.observed_at_ms, limits.max_clock_skew_ms)?;
    check_category(cache, tx, &input.category)?;
    match input.patrol {
        Some(patrol) if patrols::get(tx, patrol)?.is_none() => {
            return Err(ClientError::InvalidInput(format!(
                "no patrol {patrol} on this device; `gridwarden patrols` lists them"
            )))
        }
        Some(_) => {}
        None => input.patrol = patrols::running(tx)?.map(|p| p.id),
    }
    let guess = cache.cell_at(tx, input.location.lon, input.location.lat)?;
    let mut state = ReportState::empty(Uuid::now_v7());
    apply_local(
        tx,
        &enrolment,
        &mut state,
        ReportOp::Create(input),
        LocalCell::Set(guess.as_deref()),
        clock,
    )?;
    if !photo_refs.is_empty() {
        photos::attach(tx, &enrolment, &mut state, photo_refs, clock)?;
    }
    Ok(state.id)
}

/// Changes fields of a report recorded here or pulled. Refused for a report
/// this device does not know or that was deleted.
pub fn edit(
    tx: &Transaction,
    cache: &mut RefCache,
    clock: &dyn Clock,
    id: Uuid,
    edit: ReportEdit,
) -> Result<()> {
    let enrolment = require_enrolment(tx)?;
    let mut state = live_report(tx, id, "edited")?;
    rejections::mark_shown(tx, id, clock.now_ms() as i64)?;
    if create_refused(tx, id)? {
        // The server holds nothing of it: an edit would name a report it
        // does not know. The report is sent again whole, as edited.
        let input = edited(&state, edit)?;
        return send_again(tx, cache, clock, &enrolment, &state, input);
    }
    if let Some(note) = &edit.note {
        limits::check_note(&limits::current(tx)?, note)?;
    }
    if let Some(category) = &edit.category {
        check_category(cache, tx, category)?;
    }
    let guess = match edit.location {
        Some(loc) => Some(cache.cell_at(tx, loc.lon, loc.lat)?),
        None => None,
    };
    let local = match &guess {
        Some(cell) => LocalCell::Set(cell.as_deref()),
        None => LocalCell::Keep,
    };
    apply_local(
        tx,
        &enrolment,
        &mut state,
        ReportOp::Edit(edit),
        local,
        clock,
    )?;
    Ok(())
}

/// Sends again a report whose create the server refused (a category it no
/// longer has, a cell it would not take): a new Create of the report as it
/// stands, under a new op id and the same report id, so the server, which
/// applied nothing of the refused one, holds it once. Refused for a report
/// the server took.
pub fn resend(tx: &Transaction, cache: &mut RefCache, clock: &dyn Clock, id: Uuid) -> Result<()> {
    let enrolment = require_enrolment(tx)?;
    let state = live_report(tx, id, "sent again")?;
    if !create_refused(tx, id)? {
        return Err(ClientError::InvalidInput(format!(
            "report {id} was not refused by the server; there is nothing to send again \
             (a refused edit is undone on the device: make it again)"
        )));
    }
    rejections::mark_shown(tx, id, clock.now_ms() as i64)?;
    let input = edited(&state, ReportEdit::default())?;
    send_again(tx, cache, clock, &enrolment, &state, input)
}

/// Whether the server refused this report's create: it holds nothing of the
/// report, no create of it is queued, and a refusal of it is stored.
pub fn create_refused(conn: &Connection, id: Uuid) -> Result<bool> {
    if reports::confirmed(conn, id)?.is_some() {
        return Ok(false);
    }
    let queued = outbox::ops_of(conn, id)?;
    let create_queued = queued.iter().any(|op| {
        matches!(
            op.body,
            gridwarden_protocol::OpBody::Report {
                op: ReportOp::Create(_),
                ..
            }
        )
    });
    Ok(!create_queued && rejections::any_of(conn, id)?)
}

/// The report as it stands, with `edit` applied, as a new report.
fn edited(state: &ReportState, edit: ReportEdit) -> Result<NewReport> {
    let (Some(origin), Some(location), Some(category)) =
        (state.origin.as_ref(), state.location(), state.category())
    else {
        return Err(ClientError::NotFound(state.id.to_string()));
    };
    let input = NewReport {
        category: edit.category.unwrap_or_else(|| category.to_owned()),
        location: edit.location.unwrap_or(location),
        address: edit
            .address
            .unwrap_or_else(|| state.address().map(str::to_owned)),
        note: edit
            .note
            .unwrap_or_else(|| state.note().unwrap_or_default().to_owned()),
        observed_at_ms: origin.observed_at_ms,
        patrol: origin.patrol,
        asset: edit
            .asset
            .unwrap_or_else(|| state.asset().map(str::to_owned)),
    };
    validate::new_report(&input)?;
    Ok(input)
}

/// Replaces the local copy of a refused report with a new Create of `input`
/// (and its photos, attached again), queued under new op ids.
fn send_again(
    tx: &Transaction,
    cache: &mut RefCache,
    clock: &dyn Clock,
    enrolment: &crate::store::meta::Enrolment,
    state: &ReportState,
    input: NewReport,
) -> Result<()> {
    limits::check_note(&limits::current(tx)?, &input.note)?;
    check_category(cache, tx, &input.category)?;
    let guess = cache.cell_at(tx, input.location.lon, input.location.lat)?;
    // A fresh state: the refused one's clocks describe writes the server
    // never took.
    let mut fresh = ReportState::empty(state.id);
    apply_local(
        tx,
        enrolment,
        &mut fresh,
        ReportOp::Create(input),
        LocalCell::Set(guess.as_deref()),
        clock,
    )?;
    if !state.photos.is_empty() {
        photos::attach(tx, enrolment, &mut fresh, &state.photos, clock)?;
    }
    Ok(())
}

/// Deletes a report (a tombstone that wins over every edit). A report whose
/// create the server refused is only on this device: it is removed here.
pub fn delete(tx: &Transaction, clock: &dyn Clock, id: Uuid) -> Result<()> {
    let enrolment = require_enrolment(tx)?;
    let mut state = live_report(tx, id, "deleted")?;
    if create_refused(tx, id)? {
        return reports::forget(tx, id);
    }
    apply_local(
        tx,
        &enrolment,
        &mut state,
        ReportOp::Delete,
        LocalCell::Keep,
        clock,
    )?;
    Ok(())
}

/// Visible reports (not deleted), newest observation first.
pub fn list(conn: &Connection, cache: &mut RefCache) -> Result<Vec<ReportView>> {
    let categories = cache.categories(conn)?;
    let stored = reports::list_visible(conn)?;
    Ok(stored
        .into_iter()
        .filter_map(|r| ReportView::from_stored(r, categories.as_deref()))
        .collect())
}

/// One report, deleted ones included (their `deleted` is true), with where
/// each of its photos stands on this device.
pub fn show(conn: &Connection, cache: &mut RefCache, id: Uuid) -> Result<ReportView> {
    let categories = cache.categories(conn)?;
    let mut view = reports::get(conn, id)?
        .and_then(|r| ReportView::from_stored(r, categories.as_deref()))
        .ok_or_else(|| ClientError::NotFound(id.to_string()))?;
    for photo in &mut view.photos {
        let hash = gridwarden_protocol::PhotoHash::from_hex(&photo.hash)?;
        if let Some(local) = crate::store::photos::get(conn, hash)? {
            photo.state = local.state.as_str().to_owned();
            photo.reason = local.reason;
        }
    }
    Ok(view)
}

/// Resolves what a user typed as a report id: a full UUID, or a unique
/// prefix of its hex digits (dashes optional), as lists print them.
pub fn resolve_id(conn: &Connection, text: &str) -> Result<Uuid> {
    let text = text.trim();
    if let Ok(id) = Uuid::parse_str(text) {
        return Ok(id);
    }
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    if digits.len() < 4 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ClientError::InvalidInput(format!(
            "`{text}` is not a report id; give the id `gridwarden list` prints \
             (at least its first 4 hex digits)"
        )));
    }
    let matches = reports::ids_with_hex_prefix(conn, &digits.to_ascii_uppercase(), 2)?;
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(ClientError::NotFound(text.to_owned())),
        _ => Err(ClientError::InvalidInput(format!(
            "`{text}` matches more than one report; give more of its id"
        ))),
    }
}

/// Refuses a category the cached table does not know. A device without a
/// table yet accepts any well-formed code: the server has the last word.
fn check_category(cache: &mut RefCache, conn: &Connection, code: &str) -> Result<()> {
    let Some(table) = cache.categories(conn)? else {
        return Ok(());
    };
    if table.get(code).is_some() {
        return Ok(());
    }
    Err(ClientError::UnknownCategory {
        code: code.to_owned(),
        hint: category_hint(&table, code),
    })
}

/// Suggests codes sharing the longest prefix with what was typed.
fn category_hint(table: &CategoryTable, code: &str) -> String {
    let shared = |c: &str| {
        c.chars()
            .zip(code.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let best = table
        .categories
        .iter()
        .map(|c| shared(&c.code))
        .max()
        .unwrap_or(0);
    let examples: Vec<String> = table
        .categories
        .iter()
        .filter(|c| shared(&c.code) == best)
        .take(5)
        .map(|c| format!("{} {}", c.code, c.name))
        .collect();
    if examples.is_empty() {
        return "this device's category table is empty; sync to refresh it".into();
    }
    format!(
        "did you mean one of: {}? Run `gridwarden categories` to see all {} codes",
        examples.join(", "),
        table.categories.len()
    )
}

/// An observed time taken from this device's clock (within a minute of it)
/// is moved onto the server's time like the op stamps, so a phone with a
/// wrong date records when things really happened; a time further ahead of
/// the server's than the server accepts (`max_skew_ms`, learnt from it), or
/// before 2020, is refused here with the reason the server would give.
fn checked_observed_time(
    tx: &Transaction,
    wall: &dyn Clock,
    observed_ms: i64,
    max_skew_ms: u64,
) -> Result<i64> {
    let raw = wall.now_ms() as i64;
    let server = server_now(tx, wall)? as i64;
    let drift = gridwarden_protocol::hlc::MAX_DRIFT_MS as i64;
    let observed = if observed_ms.abs_diff(raw) <= drift as u64 {
        server + (observed_ms - raw)
    } else {
        observed_ms
    };
    if observed > server + max_skew_ms.min(i64::MAX as u64) as i64 {
        return Err(ClientError::InvalidInput(
            "the observed time is in the future; give the time it really was".into(),
        ));
    }
    if observed < validate::OBSERVED_FLOOR_MS {
        return Err(ClientError::InvalidInput(
            "the observed time is before 2020; check the phone's date and give the time it really was"
                .into(),
        ));
    }
    Ok(observed)
}
