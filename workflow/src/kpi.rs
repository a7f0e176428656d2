//! KPIs (考评) per grid cell, street, department or warden over a period,
//! computed from case histories alone. Every figure's definition, with its
//! formula, is in docs/kpi.md; the names here are the same.

use std::collections::BTreeMap;

use gridwarden_protocol::case::{CaseOp, CaseState, CaseStatus, CaseTransition};
use serde::Serialize;

/// What a KPI needs to know about one case besides its history.
#[derive(Clone, Debug)]
pub struct CaseFacts {
    pub case: CaseState,
    /// When the report was recorded (server time of its arrival, else the
    /// device's observed time).
    pub reported_ms: i64,
    /// The report's grid cell code, if it lies in one.
    pub grid_cell: Option<String>,
    /// The user who reported it.
    pub reporter: String,
}

/// Half-open interval of server time, `[from_ms, to_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Period {
    fn contains(&self, ms: i64) -> bool {
        (self.from_ms..self.to_ms).contains(&ms)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Grid,
    /// The first 9 digits of a 15-digit cell code: region (6) + street (3).
    Street,
    Department,
    Warden,
}

impl std::str::FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "grid" => Ok(GroupBy::Grid),
            "street" => Ok(GroupBy::Street),
            "department" => Ok(GroupBy::Department),
            "warden" => Ok(GroupBy::Warden),
            other => Err(format!(
                "cannot group KPIs by `{other}`; use grid, street, department or warden"
            )),
        }
    }
}

/// The figures for one group. Counts first, then the rates derived from
/// them (`None` when the denominator is 0).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KpiRow {
    pub key: String,
    pub reported: u32,
    pub registered: u32,
    pub rejected: u32,
    pub dispatched: u32,
    /// Cases whose disposal deadline fell in the period (应结案数).
    pub due: u32,
    /// Of the due cases, those closed by the end of the period.
    pub closed: u32,
    /// Of the due cases, those closed with every disposal within its deadline.
    pub closed_on_time: u32,
    /// Cases sent back by a failed verification in the period.
    pub reworked: u32,
    /// Cases still open at the end of the period with their deadline passed.
    pub overdue: u32,
    /// Postponements (缓办) granted in the period.
    pub postponed: u32,
    /// Cases closed in the period (whenever due).
    pub closed_in_period: u32,
    /// Mean hours from report to closing, over cases closed in the period.
    pub mean_hours_to_close: Option<f64>,
    /// 结案率 = closed / due.
    pub closing_rate: Option<f64>,
    /// 按期结案率 = closed_on_time / due.
    pub on_time_rate: Option<f64>,
    /// 返工率 = reworked / closed_in_period.
    pub rework_rate: Option<f64>,
}

fn rate(numerator: u32, denominator: u32) -> Option<f64> {
    (denominator > 0).then(|| f64::from(numerator) / f64::from(denominator))
}

fn key_of(facts: &CaseFacts, by: GroupBy) -> String {
    let none = || "(none)".to_owned();
    match by {
        GroupBy::Grid => facts.grid_cell.clone().unwrap_or_else(none),
        GroupBy::Street => facts
            .grid_cell
            .as_ref()
            .filter(|c| c.len() == 15 && c.bytes().all(|b| b.is_ascii_digit()))
            .map(|c| c[..9].to_owned())
            .unwrap_or_else(none),
        GroupBy::Department => facts.case.department.clone().unwrap_or_else(none),
        GroupBy::Warden => facts.reporter.clone(),
    }
}

/// The disposal deadline of each dispatch cycle: the deadline the first
/// dispatch set, moved by postponements, replaced by a rework.
fn due_moments(history: &[CaseTransition]) -> Vec<i64> {
    let mut due = Vec::new();
    let mut current: Option<usize> = None;
    for t in history {
        match (&t.op, t.from, t.to) {
            (CaseOp::Dispatch { .. }, CaseStatus::Registered, CaseStatus::Dispatched) => {
                current = t.deadline_ms.map(|d| {
                    due.push(d);
                    due.len() - 1
                });
            }
            (CaseOp::Postpone { .. }, _, _) => {
                if let (Some(i), Some(d)) = (current, t.deadline_ms) {
                    due[i] = d;
                }
            }
            _ => {}
        }
    }
    due
}

/// Whether every disposal of the cycle ending at `close_index` met the
/// deadline in force when it was made.
fn disposed_on_time(history: &[CaseTransition], close_index: usize) -> bool {
    let cycle_start = history[..close_index]
        .iter()
        .rposition(|t| t.from == CaseStatus::Registered && t.to == CaseStatus::Dispatched)
        .unwrap_or(0);
    let mut deadline = None;
    for t in &history[cycle_start..close_index] {
        if t.to == CaseStatus::Dispatched {
            deadline = t.deadline_ms.or(deadline);
        }
        if t.to == CaseStatus::Disposed && deadline.is_some_and(|d| t.server_ms > d) {
            return false;
        }
    }
    true
}

/// The KPIs of `cases` over `period`, one row per group, sorted by key.
pub fn kpi(cases: &[CaseFacts], by: GroupBy, period: Period) -> Vec<KpiRow> {
    let mut rows: BTreeMap<String, (KpiRow, f64)> = BTreeMap::new();
    for facts in cases {
        let key = key_of(facts, by);
        let (row, hours_sum) = rows.entry(key.clone()).or_insert_with(|| {
            (
                KpiRow {
                    key,
                    ..KpiRow::default()
                },
                0.0,
            )
        });
        let history = &facts.case.history;
        if period.contains(facts.reported_ms) {
            row.reported += 1;
        }
        let mut reworked_here = false;
        for t in history.iter().filter(|t| period.contains(t.server_ms)) {
            match (&t.op, t.to) {
                (CaseOp::Register { .. }, _) => row.registered += 1,
                (CaseOp::Reject { .. }, _) => row.rejected += 1,
                (CaseOp::Dispatch { .. }, _) if t.from == CaseStatus::Registered => {
                    row.dispatched += 1
                }
                (CaseOp::Verify { passed: false, .. }, _) => reworked_here = true,
                (CaseOp::Postpone { .. }, _) => row.postponed += 1,
                (CaseOp::Close { .. }, _) => {
                    row.closed_in_period += 1;
                    *hours_sum += (t.server_ms - facts.reported_ms) as f64 / 3_600_000.0;
                }
                _ => {}
            }
        }
        row.reworked += u32::from(reworked_here);
        // Due in the period, and how it ended by the period's end.
        let state_at_end: Vec<&CaseTransition> = history
            .iter()
            .filter(|t| t.server_ms < period.to_ms)
            .collect();
        for due_ms in due_moments(history) {
            if !period.contains(due_ms) {
                continue;
            }
            row.due += 1;
            let close = history
                .iter()
                .position(|t| t.to == CaseStatus::Closed && t.server_ms < period.to_ms);
            if let Some(i) = close {
                row.closed += 1;
                if disposed_on_time(history, i) {
                    row.closed_on_time += 1;
                }
            }
        }
        // Open at the end of the period, and past the deadline then in force.
        let deadline_at_end = match state_at_end.last() {
            Some(t) if matches!(t.to, CaseStatus::Closed | CaseStatus::Rejected) => None,
            Some(t) => t.deadline_ms,
            // Still reported, not yet registered: the register deadline, known
            // while the case has no history at all.
            None if facts.reported_ms < period.to_ms && history.is_empty() => {
                facts.case.deadline_ms
            }
            None => None,
        };
        if deadline_at_end.is_some_and(|d| d < period.to_ms) {
            row.overdue += 1;
        }
    }
    rows.into_values()
        .map(|(mut row, hours_sum)| {
            row.mean_hours_to_close =
                (row.closed_in_period > 0).then(|| hours_sum / f64::from(row.closed_in_period));
            row.closing_rate = rate(row.closed, row.due);
            row.on_time_rate = rate(row.closed_on_time, row.due);
            row.rework_rate = rate(row.reworked, row.closed_in_period);
            row
        })
        .collect()
}

#[cfg(test)]
mod tests;
