//! Patrols in the console: a warden's day, each patrol's track with its
//! flagged jumps, the reports made on it and the share of the warden's
//! cells covered; the cells nobody visited. Served by the same
//! `Service::list_patrols`/`fetch_patrol` (and `authz` rule) as a
//! supervisor's device.

use std::collections::BTreeSet;

use gridwarden_protocol::{ErrorCode, ListPatrols, PatrolSummary, TrackPoint};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::time::{local_day, parse_day, rfc3339};
use super::{Console, ConsoleUser};
use crate::service::{ServiceError, ServiceResult};

const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PatrolParams {
    pub warden: Option<String>,
    /// A local date; today when absent.
    pub date: Option<String>,
}

fn summary_json(s: &PatrolSummary, points: &[TrackPoint]) -> Value {
    json!({
        "id": s.info.id.to_string(),
        "warden": s.info.warden,
        "note": s.info.note,
        "started_at": rfc3339(s.info.started_at_ms),
        "ended_at": s.info.ended_at_ms.map(rfc3339),
        "distance_m": (s.distance_m * 10.0).round() / 10.0,
        "duration_s": s.duration_ms.map(|d| d / 1000),
        "points": s.points,
        "flags": s.flagged,
        "reports": s.reports.len(),
        "coverage": {"covered": s.covered_cells.len(), "assigned": s.scope_cells},
        "covered_cells": s.covered_cells,
        // GPX imports are started with a note saying so (client-core).
        "imported": s.info.note.starts_with("imported"),
        "untimed": !points.is_empty() && points.iter().all(|p| p.time_ms.is_none()),
    })
}

impl Console {
    fn day(&self, date: &Option<String>) -> ServiceResult<(i64, i64)> {
        let offset = super::time::offset_minutes(&self.service.calendar()?);
        let from = match date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => parse_day(d, offset, "date")?,
            None => {
                let today = local_day(self.service.now(), offset);
                parse_day(&today.to_string(), offset, "date")?
            }
        };
        Ok((from, from + DAY_MS))
    }

    fn day_patrols(
        &self,
        user: &ConsoleUser,
        params: &PatrolParams,
    ) -> ServiceResult<Vec<(PatrolSummary, Vec<TrackPoint>)>> {
        let (since, until) = self.day(&params.date)?;
        let warden = params
            .warden
            .as_deref()
            .map(str::trim)
            .filter(|w| !w.is_empty());
        if let Some(w) = warden {
            if self.service.store().user(w)?.is_none() {
                return Err(ServiceError::Refused {
                    code: ErrorCode::InvalidInput,
                    message: format!("warden: no user named `{w}`"),
                });
            }
        }
        let list = ListPatrols {
            warden: warden.map(str::to_owned),
            since_ms: Some(since),
            until_ms: Some(until),
            max_patrols: 500,
        };
        let summaries = self.service.list_patrols(user.session(), &list)?;
        summaries
            .into_iter()
            .map(|s| {
                let points = self.service.store().track(s.info.id)?;
                Ok((s, points))
            })
            .collect()
    }

    pub fn patrols(&self, user: &ConsoleUser, params: &PatrolParams) -> ServiceResult<Vec<Value>> {
        Ok(self
            .day_patrols(user, params)?
            .iter()
            .map(|(s, p)| summary_json(s, p))
            .collect())
    }

    pub fn patrol(&self, user: &ConsoleUser, id: &str) -> ServiceResult<Value> {
        let id = Uuid::parse_str(id.trim()).map_err(|_| ServiceError::Refused {
            code: ErrorCode::NotFound,
            message: format!("no patrol `{id}`"),
        })?;
        let track = self.service.fetch_patrol(user.session(), id)?;
        let mut value = summary_json(&track.summary, &track.points);
        let jumps: Vec<usize> = gridwarden_grid::track::flag_jumps(&track.points)
            .iter()
            .enumerate()
            .filter_map(|(i, flagged)| flagged.then_some(i))
            .collect();
        value["track"] = json!(track
            .points
            .iter()
            .map(|p| json!([p.lon, p.lat, p.time_ms.map(rfc3339)]))
            .collect::<Vec<_>>());
        value["jumps"] = json!(jumps);
        value["report_ids"] = json!(track
            .summary
            .reports
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>());
        value["visited_cells"] = json!(track.summary.visited_cells);
        Ok(value)
    }

    /// Cells the user sees that no patrol of the day passed through.
    pub fn unvisited(
        &self,
        user: &ConsoleUser,
        params: &PatrolParams,
    ) -> ServiceResult<Vec<String>> {
        let all = PatrolParams {
            warden: None,
            date: params.date.clone(),
        };
        let visited: BTreeSet<String> = self
            .day_patrols(user, &all)?
            .into_iter()
            .flat_map(|(s, _)| s.visited_cells)
            .collect();
        let grid = self.service.grid()?;
        Ok(grid
            .iter()
            .flat_map(|g| g.cells())
            .map(|c| c.code.clone())
            .filter(|c| Self::sees_cell(user, c) && !visited.contains(c))
            .collect())
    }
}
