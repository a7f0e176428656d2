//! The case queue: every live report with its case, kept in memory and
//! brought up to date from the store's change feed (a case step moves its
//! report in the feed, so one cursor sees both), filtered by what the user
//! may read (`authz::check`, as a device's pull), then by the page's
//! filters, sorted and paged.

use std::collections::HashMap;
use std::sync::Arc;

use gridwarden_grid::GridIndex;
use gridwarden_protocol::case::{CaseState, CaseStatus};
use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::source::Source;
use gridwarden_protocol::{ErrorCode, ReportState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::time::{parse_day, rfc3339};
use super::{Console, ConsoleUser};
use crate::authz::{self, Action, Actor, Target};
use crate::service::cases::{initial_case, reported_ms};
use crate::service::{ServiceError, ServiceResult};
use crate::store::{FeedItem, PullQuery, Scope};

const DAY_MS: i64 = 86_400_000;
/// Most rows one page of the queue returns.
pub const MAX_LIMIT: usize = 500;
/// Most markers the map gets at once (it clusters them).
pub const MAX_MARKERS: usize = 50_000;

/// One live report and its case, as the queue filters them.
#[derive(Clone, Debug)]
pub struct Entry {
    pub report: Arc<ReportState>,
    /// The stored case, `None` while nobody acted on the report.
    pub case: Option<Arc<CaseState>>,
    pub status: CaseStatus,
    /// The current step's deadline (a rowless case: the register limit).
    pub deadline_ms: Option<i64>,
    pub reported_ms: i64,
    /// The id as 32 lowercase hex digits, for prefix search.
    simple_id: String,
    note_lower: String,
}

impl Entry {
    fn new(
        report: ReportState,
        case: Option<CaseState>,
        categories: &CategoryTable,
        calendar: &gridwarden_workflow::WorkingCalendar,
    ) -> Self {
        let (status, deadline_ms) = match &case {
            Some(c) => (c.status, c.deadline_ms),
            None => (
                CaseStatus::Reported,
                initial_case(&report, categories, calendar).deadline_ms,
            ),
        };
        Self {
            simple_id: report.id.simple().to_string(),
            note_lower: report.note().unwrap_or("").to_lowercase(),
            reported_ms: reported_ms(&report),
            report: Arc::new(report),
            case: case.map(Arc::new),
            status,
            deadline_ms,
        }
    }

    pub fn id(&self) -> Uuid {
        self.report.id
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.status, CaseStatus::Closed | CaseStatus::Rejected)
    }

    pub fn is_overdue(&self, now_ms: i64) -> bool {
        self.is_open() && self.deadline_ms.is_some_and(|d| now_ms > d)
    }

    pub fn cell(&self) -> Option<&str> {
        self.report.grid_cell()
    }

    pub fn reporter(&self) -> &str {
        self.report
            .origin
            .as_ref()
            .map(|o| o.reporter.as_str())
            .unwrap_or("")
    }

    pub fn department(&self) -> Option<&str> {
        self.case.as_ref().and_then(|c| c.department.as_deref())
    }

    /// A device or a hotline (Open311) recorded it.
    pub fn source(&self) -> Source {
        self.report
            .origin
            .as_ref()
            .map(|o| o.source())
            .unwrap_or(Source::Device)
    }

    fn observed_ms(&self) -> i64 {
        self.report
            .origin
            .as_ref()
            .map(|o| o.observed_at_ms)
            .unwrap_or(0)
    }
}

/// What a change to the queue was, for the live updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A report the queue had not held.
    Report,
    /// A report or its case changed.
    Case,
}

/// Recent changes kept for the live updates: enough for a page that was
/// away for a while; one further behind reloads.
const KEPT_CHANGES: usize = 10_000;

/// The queue's memory: every live report, as of a feed position.
#[derive(Default)]
pub struct CaseIndex {
    position: u64,
    categories_version: u64,
    entries: HashMap<Uuid, Entry>,
    /// (feed position after the change, report, kind), oldest first.
    changes: std::collections::VecDeque<(u64, Uuid, ChangeKind)>,
}

impl CaseIndex {
    /// Reads what changed since the last look.
    fn refresh(&mut self, console: &Console) -> ServiceResult<()> {
        let service = &console.service;
        let store = service.store();
        let position = store.feed_position()?;
        let categories = service.categories()?;
        if categories.version != self.categories_version {
            // Register deadlines come from the table: start over.
            *self = CaseIndex {
                categories_version: categories.version,
                ..CaseIndex::default()
            };
        }
        if position == self.position {
            return Ok(());
        }
        let calendar = service.calendar()?;
        loop {
            let page = store.pull(&PullQuery {
                after_seq: self.position,
                scope: Scope::All,
                max_records: 5_000,
                max_bytes: 64 << 20,
            })?;
            let ids: Vec<Uuid> = page
                .items
                .iter()
                .filter_map(|i| match i {
                    FeedItem::Report(r) => Some(r.id),
                    FeedItem::OutOfScope(_) => None,
                })
                .collect();
            let mut cases: HashMap<Uuid, CaseState> = store
                .cases_of(&ids)?
                .into_iter()
                .map(|c| (c.report_id, c))
                .collect();
            for item in page.items {
                let FeedItem::Report(report) = item else {
                    continue;
                };
                if report.is_deleted() || report.origin.is_none() {
                    self.entries.remove(&report.id);
                    continue;
                }
                let case = cases.remove(&report.id);
                let id = report.id;
                let known = self
                    .entries
                    .insert(id, Entry::new(report, case, &categories, &calendar))
                    .is_some();
                // The very first fill is not news.
                if self.position > 0 {
                    let kind = if known {
                        ChangeKind::Case
                    } else {
                        ChangeKind::Report
                    };
                    self.changes.push_back((page.last_seq, id, kind));
                    if self.changes.len() > KEPT_CHANGES {
                        self.changes.pop_front();
                    }
                }
            }
            // An empty page at an unchanged cursor would loop for ever.
            let moved = page.last_seq > self.position;
            self.position = page.last_seq;
            if !page.more || !moved {
                break;
            }
        }
        Ok(())
    }
}

/// The query string of `/api/cases` (and of the CSV and markers).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueueParams {
    pub status: Option<String>,
    pub class: Option<String>,
    pub subclass: Option<String>,
    pub cell: Option<String>,
    pub street: Option<String>,
    pub department: Option<String>,
    pub reporter: Option<String>,
    pub source: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub overdue: Option<String>,
    pub q: Option<String>,
    pub id: Option<String>,
    pub bbox: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortKey {
    Observed,
    Deadline,
    Status,
    Category,
    Cell,
}

/// Checked filters.
#[derive(Clone, Debug)]
pub struct Filter {
    statuses: Vec<CaseStatus>,
    class: Option<String>,
    subclass: Option<String>,
    cell: Option<String>,
    street: Option<String>,
    department: Option<String>,
    reporter: Option<String>,
    source: Option<Source>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    overdue: Option<bool>,
    text: Option<String>,
    id_prefix: Option<String>,
    bbox: Option<[f64; 4]>,
    sort: SortKey,
    descending: bool,
    pub offset: usize,
    pub limit: usize,
}

fn bad(message: impl Into<String>) -> ServiceError {
    ServiceError::Refused {
        code: ErrorCode::InvalidInput,
        message: message.into(),
    }
}

/// Empty parameters count as absent (an HTML form sends them).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Names for codes, and what a filter value is checked against.
pub struct Names {
    pub categories: Arc<CategoryTable>,
    pub grid: Option<Arc<GridIndex>>,
    pub departments: HashMap<String, String>,
    pub offset_min: i32,
}

impl Names {
    pub fn category(&self, code: &str) -> Option<&str> {
        self.categories.get(code).map(|c| c.name.as_str())
    }

    pub fn cell(&self, code: &str) -> Option<&str> {
        self.grid.as_ref()?.cell(code)?.name.as_deref()
    }

    pub fn department(&self, code: &str) -> Option<&str> {
        self.departments.get(code).map(String::as_str)
    }
}

/// The street of a 15-digit cell code: its first 9 digits.
pub fn street_of(cell: &str) -> Option<&str> {
    (cell.len() == 15 && cell.bytes().all(|b| b.is_ascii_digit())).then(|| &cell[..9])
}

impl Filter {
    pub fn parse(p: &QueueParams, names: &Names, console: &Console) -> ServiceResult<Self> {
        let mut statuses = Vec::new();
        if let Some(list) = given(&p.status) {
            for s in list.split(',') {
                statuses.push(
                    s.trim()
                        .parse::<CaseStatus>()
                        .map_err(|e| bad(format!("status: {e}")))?,
                );
            }
        }
        let class = given(&p.class).map(str::to_owned);
        if let Some(c) = &class {
            if !names
                .categories
                .categories
                .iter()
                .any(|k| &k.class_code == c)
            {
                return Err(bad(format!("class: `{c}` is not a category class code")));
            }
        }
        let subclass = given(&p.subclass).map(str::to_owned);
        if let Some(c) = &subclass {
            if names.categories.get(c).is_none() {
                return Err(bad(format!("subclass: `{c}` is not a category code")));
            }
        }
        let cell = given(&p.cell).map(str::to_owned);
        if let Some(c) = &cell {
            if names.grid.as_ref().and_then(|g| g.cell(c)).is_none() {
                return Err(bad(format!("cell: `{c}` is not a grid cell code")));
            }
        }
        let street = given(&p.street).map(str::to_owned);
        if let Some(s) = &street {
            let known = names.grid.as_ref().is_some_and(|g| {
                g.cells()
                    .iter()
                    .any(|c| street_of(&c.code) == Some(s.as_str()))
            });
            if !known {
                return Err(bad(format!(
                    "street: `{s}` is not a street code (the first 9 digits of a cell code)"
                )));
            }
        }
        let department = given(&p.department).map(str::to_owned);
        if let Some(d) = &department {
            if !names.departments.contains_key(d) {
                return Err(bad(format!("department: `{d}` is not a department code")));
            }
        }
        let reporter = given(&p.reporter).map(str::to_owned);
        if let Some(r) = &reporter {
            if console.service.store().user(r)?.is_none() {
                return Err(bad(format!("reporter: no user named `{r}`")));
            }
        }
        let source = match given(&p.source) {
            None => None,
            Some("device") => Some(Source::Device),
            Some("hotline") => Some(Source::Hotline),
            Some(other) => {
                return Err(bad(format!(
                    "source: `{other}` is neither device nor hotline"
                )))
            }
        };
        let from_ms = given(&p.from)
            .map(|d| parse_day(d, names.offset_min, "from"))
            .transpose()?;
        // `to` is inclusive: the whole of that local day.
        let to_ms = given(&p.to)
            .map(|d| parse_day(d, names.offset_min, "to").map(|ms| ms + DAY_MS))
            .transpose()?;
        let overdue = match given(&p.overdue) {
            None => None,
            Some("1" | "true") => Some(true),
            Some("0" | "false") => Some(false),
            Some(other) => return Err(bad(format!("overdue: `{other}` is not 1 or 0"))),
        };
        let text = given(&p.q).map(str::to_lowercase);
        if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
            return Err(bad("q: search text is at most 200 characters"));
        }
        let id_prefix = given(&p.id)
            .map(|id| {
                let simple: String = id
                    .chars()
                    .filter(|c| *c != '-')
                    .collect::<String>()
                    .to_lowercase();
                if simple.is_empty()
                    || simple.len() > 32
                    || !simple.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(bad(format!(
                        "id: `{id}` is not a case id or the start of one (hex digits)"
                    )));
                }
                Ok(simple)
            })
            .transpose()?;
        let bbox = given(&p.bbox)
            .map(|b| {
                let v: Vec<f64> = b.split(',').filter_map(|x| x.trim().parse().ok()).collect();
                match v.as_slice() {
                    [w, s, e, n] if w <= e && s <= n && v.iter().all(|x| x.is_finite()) => {
                        Ok([*w, *s, *e, *n])
                    }
                    _ => Err(bad(format!("bbox: `{b}` is not west,south,east,north"))),
                }
            })
            .transpose()?;
        let sort = match given(&p.sort) {
            None | Some("observed") => SortKey::Observed,
            Some("deadline") => SortKey::Deadline,
            Some("status") => SortKey::Status,
            Some("category") => SortKey::Category,
            Some("cell") => SortKey::Cell,
            Some(other) => {
                return Err(bad(format!(
                    "sort: `{other}` is not observed, deadline, status, category or cell"
                )))
            }
        };
        let descending = match given(&p.dir) {
            None => sort == SortKey::Observed,
            Some("desc") => true,
            Some("asc") => false,
            Some(other) => return Err(bad(format!("dir: `{other}` is not asc or desc"))),
        };
        let limit = p.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(bad(format!("limit: between 1 and {MAX_LIMIT}")));
        }
        Ok(Self {
            statuses,
            class,
            subclass,
            cell,
            street,
            department,
            reporter,
            source,
            from_ms,
            to_ms,
            overdue,
            text,
            id_prefix,
            bbox,
            sort,
            descending,
            offset: p.offset.unwrap_or(0),
            limit,
        })
    }

    fn matches(&self, e: &Entry, categories: &CategoryTable, now_ms: i64) -> bool {
        if self.source.is_some_and(|s| s != e.source()) {
            return false;
        }
        if !self.statuses.is_empty() && !self.statuses.contains(&e.status) {
            return false;
        }
        let category = e.report.category().unwrap_or("");
        if self.subclass.as_deref().is_some_and(|s| s != category) {
            return false;
        }
        if let Some(class) = &self.class {
            if categories
                .get(category)
                .is_none_or(|c| &c.class_code != class)
            {
                return false;
            }
        }
        if self.cell.is_some() && self.cell.as_deref() != e.cell() {
            return false;
        }
        if let Some(street) = &self.street {
            if e.cell().and_then(street_of) != Some(street.as_str()) {
                return false;
            }
        }
        if self.department.is_some() && self.department.as_deref() != e.department() {
            return false;
        }
        if self.reporter.as_deref().is_some_and(|r| r != e.reporter()) {
            return false;
        }
        if self.from_ms.is_some_and(|f| e.reported_ms < f)
            || self.to_ms.is_some_and(|t| e.reported_ms >= t)
        {
            return false;
        }
        if self.overdue.is_some_and(|o| o != e.is_overdue(now_ms)) {
            return false;
        }
        if self
            .text
            .as_ref()
            .is_some_and(|t| !e.note_lower.contains(t.as_str()))
        {
            return false;
        }
        if self
            .id_prefix
            .as_ref()
            .is_some_and(|p| !e.simple_id.starts_with(p.as_str()))
        {
            return false;
        }
        if let Some([w, s, east, n]) = self.bbox {
            let Some(loc) = e.report.location() else {
                return false;
            };
            if loc.lon < w || loc.lon > east || loc.lat < s || loc.lat > n {
                return false;
            }
        }
        true
    }

    /// Sorts `rows`, or only enough of them for the first `keep` to be
    /// right: a page needs its rows in order, not the whole city's.
    fn sort(&self, rows: &mut Vec<&Entry>, keep: Option<usize>) {
        let cmp = |a: &&Entry, b: &&Entry| self.order(a, b);
        if let Some(k) = keep.filter(|k| *k > 0 && *k < rows.len()) {
            rows.select_nth_unstable_by(k - 1, cmp);
            rows.truncate(k);
        }
        rows.sort_by(cmp);
    }

    fn order(&self, a: &Entry, b: &Entry) -> std::cmp::Ordering {
        let key = self.sort;
        let ord = match key {
            SortKey::Observed => a.reported_ms.cmp(&b.reported_ms),
            // A case without a deadline sorts as the latest.
            SortKey::Deadline => a
                .deadline_ms
                .unwrap_or(i64::MAX)
                .cmp(&b.deadline_ms.unwrap_or(i64::MAX)),
            SortKey::Status => a.status.cmp(&b.status),
            SortKey::Category => a.report.category().cmp(&b.report.category()),
            SortKey::Cell => a.cell().cmp(&b.cell()),
        };
        let ord = if self.descending { ord.reverse() } else { ord };
        ord.then_with(|| b.report.id.cmp(&a.report.id))
    }
}

/// One row of the queue, with names next to codes.
#[derive(Clone, Debug, Serialize)]
pub struct CaseRow {
    pub id: String,
    pub status: CaseStatus,
    pub category: Option<String>,
    pub category_name: Option<String>,
    pub cell: Option<String>,
    pub cell_name: Option<String>,
    pub street: Option<String>,
    pub department: Option<String>,
    pub department_name: Option<String>,
    pub reporter: String,
    pub source: &'static str,
    pub observed_at: String,
    pub reported_at: String,
    pub deadline: Option<String>,
    pub overdue: bool,
    pub note: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub photos: usize,
}

impl CaseRow {
    pub fn of(e: &Entry, names: &Names, now_ms: i64) -> Self {
        let category = e.report.category().map(str::to_owned);
        let cell = e.cell().map(str::to_owned);
        let department = e.department().map(str::to_owned);
        let loc = e.report.location();
        Self {
            id: e.id().to_string(),
            status: e.status,
            category_name: category
                .as_deref()
                .and_then(|c| names.category(c))
                .map(str::to_owned),
            category,
            cell_name: cell
                .as_deref()
                .and_then(|c| names.cell(c))
                .map(str::to_owned),
            street: cell.as_deref().and_then(street_of).map(str::to_owned),
            cell,
            department_name: department
                .as_deref()
                .and_then(|d| names.department(d))
                .map(str::to_owned),
            department,
            reporter: e.reporter().to_owned(),
            source: e.source().as_str(),
            observed_at: rfc3339(e.observed_ms()),
            reported_at: rfc3339(e.reported_ms),
            deadline: e.deadline_ms.map(rfc3339),
            overdue: e.is_overdue(now_ms),
            note: e.report.note().unwrap_or("").to_owned(),
            lon: loc.map(|l| l.lon),
            lat: loc.map(|l| l.lat),
            photos: e.report.photos.len(),
        }
    }
}

/// A page of the queue.
#[derive(Clone, Debug, Serialize)]
pub struct QueuePage {
    pub total: usize,
    pub rows: Vec<CaseRow>,
}

/// A map marker.
#[derive(Clone, Debug, Serialize)]
pub struct Marker {
    pub id: String,
    pub lon: f64,
    pub lat: f64,
    pub status: CaseStatus,
    pub category: Option<String>,
    pub overdue: bool,
}

/// Whether `user` may read the report (the devices' read rule).
pub fn may_read(user: &ConsoleUser, report: &ReportState) -> bool {
    let actor = Actor {
        user: user.name(),
        role: user.role(),
        cells: user.cells(),
    };
    let target = Target {
        owner: report.origin.as_ref().map(|o| o.reporter.as_str()),
        cell: report.grid_cell(),
    };
    authz::check(&actor, Action::ReadReport, &target).is_ok()
}

impl Console {
    /// Names for the codes the console shows, and what filters are checked
    /// against.
    pub fn names(&self) -> ServiceResult<Names> {
        Ok(Names {
            categories: self.service.categories()?,
            grid: self.service.grid()?,
            departments: self
                .service
                .store()
                .departments()?
                .into_iter()
                .map(|d| (d.code, d.name))
                .collect(),
            offset_min: super::time::offset_minutes(&self.service.calendar()?),
        })
    }

    /// Runs `f` over the user's entries, up to date.
    pub fn with_entries<T>(
        &self,
        user: &ConsoleUser,
        f: impl FnOnce(Vec<&Entry>) -> T,
    ) -> ServiceResult<T> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.refresh(self)?;
        let visible: Vec<&Entry> = index
            .entries
            .values()
            .filter(|e| may_read(user, &e.report))
            .collect();
        Ok(f(visible))
    }

    /// The feed position the queue is at, brought up to date.
    pub fn position(&self) -> ServiceResult<u64> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.refresh(self)?;
        Ok(index.position)
    }

    /// Changes after `since` the user may see, as rows, and the position
    /// they bring the caller to.
    pub fn changes_since(
        &self,
        user: &ConsoleUser,
        since: u64,
    ) -> ServiceResult<(u64, Vec<(ChangeKind, CaseRow)>)> {
        let names = self.names()?;
        let now = self.service.now();
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.refresh(self)?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (_, id, kind) in index
            .changes
            .iter()
            .rev()
            .filter(|(pos, _, _)| *pos > since)
        {
            if !seen.insert(*id) {
                continue;
            }
            if let Some(e) = index.entries.get(id).filter(|e| may_read(user, &e.report)) {
                out.push((*kind, CaseRow::of(e, &names, now)));
            }
        }
        out.reverse();
        Ok((index.position, out))
    }

    /// Entries matching `filter`, sorted.
    /// Entries matching `filter`, sorted (only the first `keep` when
    /// given), and how many matched.
    fn matching<T>(
        &self,
        user: &ConsoleUser,
        filter: &Filter,
        names: &Names,
        keep: Option<usize>,
        f: impl FnOnce(usize, Vec<&Entry>) -> T,
    ) -> ServiceResult<T> {
        let now = self.service.now();
        self.with_entries(user, |all| {
            let mut rows: Vec<&Entry> = all
                .into_iter()
                .filter(|e| filter.matches(e, &names.categories, now))
                .collect();
            let total = rows.len();
            filter.sort(&mut rows, keep);
            f(total, rows)
        })
    }

    pub fn queue(&self, user: &ConsoleUser, params: &QueueParams) -> ServiceResult<QueuePage> {
        let names = self.names()?;
        let filter = Filter::parse(params, &names, self)?;
        let now = self.service.now();
        let keep = filter.offset.saturating_add(filter.limit);
        self.matching(user, &filter, &names, Some(keep), |total, rows| QueuePage {
            total,
            rows: rows
                .iter()
                .skip(filter.offset)
                .take(filter.limit)
                .map(|e| CaseRow::of(e, &names, now))
                .collect(),
        })
    }

    /// Every matching row for a CSV export, or a refusal past the cap.
    pub fn export(
        &self,
        user: &ConsoleUser,
        params: &QueueParams,
    ) -> ServiceResult<(Names, Vec<CaseRow>)> {
        let names = self.names()?;
        let filter = Filter::parse(params, &names, self)?;
        let cap = self.config.export_max_rows as usize;
        let now = self.service.now();
        let rows = self.matching(user, &filter, &names, None, |_, rows| {
            (rows.len() <= cap)
                .then(|| {
                    rows.iter()
                        .map(|e| CaseRow::of(e, &names, now))
                        .collect::<Vec<_>>()
                })
                .ok_or(rows.len())
        })?;
        let rows = rows.map_err(|n| {
            bad(format!(
                "the filters match {n} cases; an export holds at most {cap}: narrow the filters (a date range, a street)"
            ))
        })?;
        self.audit(
            user.name(),
            Some(user.session().device_id),
            "console.export",
            "cases",
            format!("{} rows", rows.len()),
        )?;
        Ok((names, rows))
    }

    pub fn markers(&self, user: &ConsoleUser, params: &QueueParams) -> ServiceResult<Vec<Marker>> {
        let names = self.names()?;
        let filter = Filter::parse(params, &names, self)?;
        let now = self.service.now();
        self.matching(user, &filter, &names, None, |_, rows| {
            rows.iter()
                .filter_map(|e| {
                    let loc = e.report.location()?;
                    Some(Marker {
                        id: e.id().to_string(),
                        lon: loc.lon,
                        lat: loc.lat,
                        status: e.status,
                        category: e.report.category().map(str::to_owned),
                        overdue: e.is_overdue(now),
                    })
                })
                .take(MAX_MARKERS)
                .collect()
        })
    }

    /// The one case a full id or unique prefix names, among those the user
    /// may read: 404 for none, 409 with the matches for several.
    pub fn resolve(&self, user: &ConsoleUser, id: &str) -> ServiceResult<Uuid> {
        let simple: String = id
            .chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_lowercase();
        let not_found = || ServiceError::Refused {
            code: ErrorCode::NotFound,
            message: format!("no case `{id}`"),
        };
        if simple.is_empty() || simple.len() > 32 || !simple.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(not_found());
        }
        let mut matches = self.with_entries(user, |all| {
            all.iter()
                .filter(|e| e.simple_id.starts_with(&simple))
                .map(|e| e.id())
                .take(21)
                .collect::<Vec<_>>()
        })?;
        match matches.len() {
            0 => Err(not_found()),
            1 => Ok(matches.remove(0)),
            _ => {
                matches.sort();
                Err(ServiceError::Ambiguous {
                    message: format!("`{id}` is the start of several case ids; type more of it"),
                    matches: matches.iter().take(20).map(Uuid::to_string).collect(),
                })
            }
        }
    }
}
