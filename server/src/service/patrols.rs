//! Patrols: the rules for patrol ops, and the summaries supervisors review.
//!
//! A patrol belongs to the device that started it: only that device adds
//! points or stops it. Wardens and liaisons see their own patrols;
//! supervisors see everyone's.

use gridwarden_grid::track::{Tally, TrackFacts};
use gridwarden_grid::GridIndex;
use gridwarden_protocol::track::{MAX_POINTS_PER_OP, MAX_POINTS_PER_PATROL};
use gridwarden_protocol::{
    codec, validate, ErrorCode, ListPatrols, Op, OpBody, PatrolInfo, PatrolOp, PatrolSummary,
    PatrolTrack, TrackPoint,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{own_clock, Service, ServiceError, ServiceResult, Session};
use crate::authz::{self, Action, Target};
use crate::store::{PatrolChange, PatrolFilter, Rejection, StoredPatrol};

/// Most patrols one listing returns.
const MAX_LISTED: u32 = 500;

pub(super) fn decide(
    session: &Session,
    op: &Op,
    current: Option<&StoredPatrol>,
    now_ms: i64,
    max_ahead_ms: u64,
) -> Result<PatrolChange, Rejection> {
    let OpBody::Patrol {
        patrol_id,
        op: patrol_op,
    } = &op.body
    else {
        return Err(Rejection::new(
            ErrorCode::Internal,
            "not a patrol op (a server bug)",
        ));
    };
    own_clock(session, op)?;
    validate::patrol_op(patrol_op)
        .map_err(|e| Rejection::new(ErrorCode::InvalidInput, e.to_string()))?;
    let time = |what: &str, ms: i64| super::observed::check(what, ms, now_ms, max_ahead_ms);
    match patrol_op {
        PatrolOp::Start(start) => time("patrol start", start.started_at_ms)?,
        PatrolOp::Stop { ended_at_ms } => time("patrol end", *ended_at_ms)?,
        PatrolOp::Points(points) => {
            for t in points.iter().filter_map(|p| p.time_ms) {
                time("patrol point", t)?;
            }
        }
    }
    if let PatrolOp::Start(start) = patrol_op {
        return match current {
            Some(c) if c.info.device != session.device_id => Err(Rejection::new(
                ErrorCode::Conflict,
                "this patrol id is already used by another device",
            )),
            Some(c) => Ok(PatrolChange {
                info: c.info.clone(),
                points: vec![],
            }),
            None => Ok(PatrolChange {
                info: PatrolInfo {
                    id: *patrol_id,
                    warden: session.user.clone(),
                    device: session.device_id,
                    started_at_ms: start.started_at_ms,
                    ended_at_ms: None,
                    note: start.note.clone(),
                },
                points: vec![],
            }),
        };
    }
    let Some(current) = current else {
        return Err(Rejection::new(
            ErrorCode::NotFound,
            "the server has no such patrol; its start was refused or has not synced",
        ));
    };
    let target = Target {
        owner: Some(&current.info.warden),
        cell: None,
    };
    authz::check(&session.actor(), Action::RecordPatrol, &target)?;
    // Within the user's own patrols, the device that started one keeps it:
    // its point sequence numbers are that device's.
    if current.info.device != session.device_id {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            format!(
                "only the device that started this patrol ({}) adds to it",
                current.info.warden
            ),
        ));
    }
    let mut info = current.info.clone();
    match patrol_op {
        PatrolOp::Points(points) => {
            if current.point_count as usize + points.len() > MAX_POINTS_PER_PATROL as usize {
                return Err(Rejection::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "the patrol already holds {} points and a patrol keeps at most {MAX_POINTS_PER_PATROL}; stop it and start a new one",
                        current.point_count
                    ),
                ));
            }
            debug_assert!(points.len() <= MAX_POINTS_PER_OP, "validated above");
            Ok(PatrolChange {
                info,
                points: points.clone(),
            })
        }
        PatrolOp::Stop { ended_at_ms } => {
            info.stop(*ended_at_ms);
            Ok(PatrolChange {
                info,
                points: vec![],
            })
        }
        PatrolOp::Start(_) => unreachable!("handled above"),
    }
}

/// What the server keeps of a patrol's track as its points arrive: the
/// track's facts and its cells counted piece by piece against layer
/// `layer` (`gridwarden_grid::track::Tally`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct TrackDigest {
    layer: Option<u64>,
    facts: TrackFacts,
    tally: Tally,
}

/// The digest of the track `after`, from the one kept for `before`: its
/// facts anew (linear, no lookups) and its tally brought forward, looking up
/// only the parts of the track that changed. Against another layer than the
/// kept tally's (a new version was imported since), the tally is counted
/// again from nothing, once.
pub(super) fn digest(
    stored: Option<&[u8]>,
    before: &[TrackPoint],
    after: &[TrackPoint],
    grid: Option<&GridIndex>,
    layer: u64,
) -> Vec<u8> {
    let layer = grid.map(|_| layer);
    let kept = stored
        .and_then(|bytes| codec::decode::<TrackDigest>(bytes).ok())
        .filter(|kept| kept.layer == layer);
    let (mut tally, before) = match kept {
        Some(kept) => (kept.tally, before),
        None => (Tally::default(), &[][..]),
    };
    if let Some(grid) = grid {
        tally.update(before, after, grid);
    }
    codec::encode(&TrackDigest {
        layer,
        facts: TrackFacts::of(after),
        tally,
    })
}

impl Service {
    /// Whether `session` may review `warden`'s patrols.
    fn may_review(&self, session: &Session, warden: &str) -> ServiceResult<()> {
        let target = Target {
            owner: Some(warden),
            cell: None,
        };
        Ok(authz::check(
            &session.actor(),
            Action::ReviewPatrol,
            &target,
        )?)
    }

    /// A patrol's summary from what was kept of its track when the points
    /// arrived ([`digest`]): no track is read and no cell looked up here, so
    /// a listing of 500 patrols costs what it returns. The warden's scope
    /// and the reports made on the patrol are read now, as they may change.
    fn summary(&self, patrol: &StoredPatrol) -> ServiceResult<PatrolSummary> {
        let scope = self
            .store
            .user(&patrol.info.warden)?
            .map(|u| u.cells)
            .unwrap_or_default();
        let reports = self.store.patrol_reports(patrol.info.id)?;
        let kept = patrol
            .digest
            .as_deref()
            .and_then(|bytes| codec::decode::<TrackDigest>(bytes).ok());
        Ok(match kept {
            Some(kept) => gridwarden_grid::track::assemble(
                &patrol.info,
                &kept.facts,
                kept.tally.visited(),
                &scope,
                reports,
            ),
            // Points stored before migration 0011 (or a digest this version
            // cannot read): summarised from the track as before.
            None if patrol.point_count > 0 => {
                let points = self.store.track(patrol.info.id)?;
                let grid = self.grid()?;
                gridwarden_grid::track::summarise(
                    &patrol.info,
                    &points,
                    grid.as_deref(),
                    &scope,
                    reports,
                )
            }
            None => gridwarden_grid::track::assemble(
                &patrol.info,
                &TrackFacts::default(),
                Vec::new(),
                &scope,
                reports,
            ),
        })
    }

    pub fn list_patrols(
        &self,
        session: &Session,
        list: &ListPatrols,
    ) -> ServiceResult<Vec<PatrolSummary>> {
        self.active_user(&session.user)?;
        let warden = match &list.warden {
            Some(w) => {
                self.may_review(session, w)?;
                Some(w.clone())
            }
            None => {
                match authz::check(&session.actor(), Action::ListAllPatrols, &Target::default()) {
                    Ok(()) => None,
                    Err(_) => Some(session.user.clone()),
                }
            }
        };
        let filter = PatrolFilter {
            warden,
            since_ms: list.since_ms,
            until_ms: list.until_ms,
            limit: list.max_patrols.clamp(1, MAX_LISTED) as usize,
        };
        self.store
            .patrols(&filter)?
            .iter()
            .map(|p| self.summary(p))
            .collect()
    }

    pub fn fetch_patrol(&self, session: &Session, id: Uuid) -> ServiceResult<PatrolTrack> {
        self.active_user(&session.user)?;
        let not_found = || {
            ServiceError::refused(
                ErrorCode::NotFound,
                format!("no patrol {id} on the server; it may not have synced yet"),
            )
        };
        let patrol = self.store.patrol(id)?.ok_or_else(not_found)?;
        self.may_review(session, &patrol.info.warden)
            .map_err(|_| not_found())?;
        let summary = self.summary(&patrol)?;
        let points = self.store.track(patrol.info.id)?;
        Ok(PatrolTrack { summary, points })
    }
}

#[cfg(test)]
mod tests;
