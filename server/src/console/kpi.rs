//! KPIs in the console: `workflow::kpi` over the same cases a device of the
//! user holds (the reports they may read, each with its case or, while
//! nobody acted on it, the fresh case the pull sends), so the
//! figures equal the device's for the same period. Periods are local dates
//! as `gw kpi --from/--to` reads them: midnight in the city's offset, `to`
//! exclusive.

use gridwarden_protocol::case::CaseState;
use gridwarden_workflow::{kpi, CaseFacts, GroupBy, KpiRow, Period};
use serde::{Deserialize, Serialize};

use super::queue::Names;
use super::time::{local_day, parse_day, rfc3339};
use super::{Console, ConsoleUser};
use crate::service::{ServiceError, ServiceResult};

const DAY_MS: i64 = 86_400_000;
/// Longest trend, in weeks.
const MAX_WEEKS: i64 = 60;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct KpiParams {
    pub by: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A row with the group's name next to its key.
#[derive(Clone, Debug, Serialize)]
pub struct NamedRow {
    pub name: Option<String>,
    #[serde(flatten)]
    pub row: KpiRow,
}

#[derive(Clone, Debug, Serialize)]
pub struct KpiTable {
    pub by: String,
    pub from: String,
    pub to: String,
    pub rows: Vec<NamedRow>,
    pub total: KpiRow,
}

#[derive(Clone, Debug, Serialize)]
pub struct Week {
    /// ISO week of the Monday it starts on, e.g. `2026-W49`.
    pub week: String,
    pub from: String,
    pub to: String,
    pub rows: Vec<KpiRow>,
    pub total: KpiRow,
}

fn bad(message: impl Into<String>) -> ServiceError {
    ServiceError::Refused {
        code: gridwarden_protocol::ErrorCode::InvalidInput,
        message: message.into(),
    }
}

/// The one row of every case together.
fn total(facts: &[CaseFacts], period: Period) -> KpiRow {
    let all: Vec<CaseFacts> = facts
        .iter()
        .map(|f| CaseFacts {
            grid_cell: None,
            ..f.clone()
        })
        .collect();
    let mut row = kpi(&all, GroupBy::Grid, period)
        .into_iter()
        .next()
        .unwrap_or_default();
    row.key = "total".into();
    row
}

fn group_name(by: GroupBy, key: &str, names: &Names) -> Option<String> {
    match by {
        GroupBy::Grid => names.cell(key).map(str::to_owned),
        GroupBy::Department => names.department(key).map(str::to_owned),
        GroupBy::Street | GroupBy::Warden => Some(key.to_owned()),
    }
}

/// ISO week label of a local date.
fn iso_week(date: gridwarden_workflow::Date) -> String {
    let (year, week) = date.iso_week();
    format!("{year}-W{week:02}")
}

impl Console {
    fn facts(&self, user: &ConsoleUser) -> ServiceResult<Vec<CaseFacts>> {
        self.with_entries(user, |entries| {
            entries
                .iter()
                .map(|e| CaseFacts {
                    case: e
                        .case
                        .as_deref()
                        .cloned()
                        // As the pull sends it: the register deadline
                        // running from the report's recording.
                        .unwrap_or_else(|| CaseState::reported(e.id(), e.deadline_ms)),
                    reported_ms: e.reported_ms,
                    grid_cell: e.cell().map(str::to_owned),
                    reporter: e.reporter().to_owned(),
                })
                .collect()
        })
    }

    fn period(&self, params: &KpiParams, offset_min: i32) -> ServiceResult<(GroupBy, Period)> {
        let by: GroupBy = params
            .by
            .as_deref()
            .filter(|b| !b.is_empty())
            .unwrap_or("grid")
            .parse()
            .map_err(|e: String| bad(format!("by: {e}")))?;
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let to_ms = match given(&params.to) {
            Some(d) => parse_day(&d, offset_min, "to")?,
            None => self.service.now(),
        };
        let from_ms = match given(&params.from) {
            Some(d) => parse_day(&d, offset_min, "from")?,
            None => to_ms - 30 * DAY_MS,
        };
        if from_ms >= to_ms {
            return Err(bad("from must be before to"));
        }
        Ok((by, Period { from_ms, to_ms }))
    }

    pub fn kpi_table(&self, user: &ConsoleUser, params: &KpiParams) -> ServiceResult<KpiTable> {
        let names = self.names()?;
        let (by, period) = self.period(params, names.offset_min)?;
        let facts = self.facts(user)?;
        let rows = kpi(&facts, by, period)
            .into_iter()
            .map(|row| NamedRow {
                name: group_name(by, &row.key, &names),
                row,
            })
            .collect();
        Ok(KpiTable {
            by: params.by.clone().unwrap_or_else(|| "grid".into()),
            from: rfc3339(period.from_ms),
            to: rfc3339(period.to_ms),
            rows,
            total: total(&facts, period),
        })
    }

    /// The KPIs per local week (Monday to Monday) of the period.
    pub fn kpi_trend(&self, user: &ConsoleUser, params: &KpiParams) -> ServiceResult<Vec<Week>> {
        let names = self.names()?;
        let offset = names.offset_min;
        let (by, period) = self.period(params, offset)?;
        let facts = self.facts(user)?;
        let first = local_day(period.from_ms, offset);
        let monday = first.days_since_epoch() - i64::from(first.weekday()) + 1;
        let mut weeks = Vec::new();
        let mut day = monday;
        while weeks.len() < MAX_WEEKS as usize {
            let from_ms = (day * DAY_MS - i64::from(offset) * 60_000).max(period.from_ms);
            let to_ms = ((day + 7) * DAY_MS - i64::from(offset) * 60_000).min(period.to_ms);
            if from_ms >= period.to_ms {
                break;
            }
            let week = Period { from_ms, to_ms };
            weeks.push(Week {
                week: iso_week(gridwarden_workflow::Date::from_days(day)),
                from: rfc3339(from_ms),
                to: rfc3339(to_ms),
                rows: kpi(&facts, by, week),
                total: total(&facts, week),
            });
            day += 7;
        }
        Ok(weeks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_weeks() {
        let d = |s| gridwarden_workflow::Date::parse(s).unwrap();
        assert_eq!(iso_week(d("2026-12-05")), "2026-W49");
        assert_eq!(iso_week(d("2021-01-03")), "2020-W53");
        assert_eq!(iso_week(d("2024-12-30")), "2025-W01");
    }
}
