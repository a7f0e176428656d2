//! Early warnings (预警) for the command centre: cases about to go overdue,
//! overdue ones, and hot spots — a cell where at least N reports of one
//! subclass arrived within a window. Thresholds from the config file's
//! `[console]` section.

use std::collections::HashMap;

use serde::Serialize;

use super::queue::CaseRow;
use super::time::rfc3339;
use super::{Console, ConsoleUser};
use crate::service::ServiceResult;

/// Most cases each list carries (the most urgent first).
const MAX_LISTED: usize = 200;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Hotspot {
    pub cell: String,
    pub cell_name: Option<String>,
    pub subclass: String,
    pub subclass_name: Option<String>,
    pub count: usize,
    pub since: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Alerts {
    pub due_soon: Vec<CaseRow>,
    pub overdue: Vec<CaseRow>,
    pub hotspots: Vec<Hotspot>,
    /// How many there are in all (the lists are capped).
    pub due_soon_total: usize,
    pub overdue_total: usize,
}

impl Alerts {
    /// What the live updates compare to tell a page something changed.
    pub fn summary(&self) -> (usize, usize, usize) {
        (self.due_soon_total, self.overdue_total, self.hotspots.len())
    }
}

impl Console {
    pub fn alerts(&self, user: &ConsoleUser) -> ServiceResult<Alerts> {
        let names = self.names()?;
        let now = self.service.now();
        let horizon = now + i64::from(self.config.due_soon_hours) * 3_600_000;
        let since = now - i64::from(self.config.hotspot_window_hours) * 3_600_000;
        let threshold = self.config.hotspot_reports as usize;
        self.with_entries(user, |entries| {
            let mut due_soon: Vec<_> = entries
                .iter()
                .filter(|e| e.is_open() && e.deadline_ms.is_some_and(|d| d >= now && d <= horizon))
                .collect();
            let mut overdue: Vec<_> = entries.iter().filter(|e| e.is_overdue(now)).collect();
            due_soon.sort_by_key(|e| e.deadline_ms);
            overdue.sort_by_key(|e| e.deadline_ms);
            let mut groups: HashMap<(&str, &str), usize> = HashMap::new();
            for e in entries.iter().filter(|e| e.reported_ms >= since) {
                if let (Some(cell), Some(category)) = (e.cell(), e.report.category()) {
                    *groups.entry((cell, category)).or_default() += 1;
                }
            }
            let mut hotspots: Vec<Hotspot> = groups
                .into_iter()
                .filter(|(_, n)| *n >= threshold)
                .map(|((cell, subclass), count)| Hotspot {
                    cell: cell.to_owned(),
                    cell_name: names.cell(cell).map(str::to_owned),
                    subclass: subclass.to_owned(),
                    subclass_name: names.category(subclass).map(str::to_owned),
                    count,
                    since: rfc3339(since),
                })
                .collect();
            hotspots.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cell.cmp(&b.cell)));
            Alerts {
                due_soon_total: due_soon.len(),
                overdue_total: overdue.len(),
                due_soon: due_soon
                    .iter()
                    .take(MAX_LISTED)
                    .map(|e| CaseRow::of(e, &names, now))
                    .collect(),
                overdue: overdue
                    .iter()
                    .take(MAX_LISTED)
                    .map(|e| CaseRow::of(e, &names, now))
                    .collect(),
                hotspots,
            }
        })
    }
}
