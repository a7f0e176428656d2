//! The decisions behind the endpoints, free of HTTP: filing a request (key,
//! limit, checks, then the report through the `Service`), listing and
//! reading requests, the updates feed, tokens and ratings.

use std::collections::HashMap;
use std::time::Instant;

use axum::http::StatusCode;
use geo::InteriorPoint;
use gridwarden_protocol::case::CaseStatus;
use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::enrolment::hex;
use gridwarden_protocol::{ErrorCode, Location, NewReport};
use uuid::{Builder, Uuid};

use super::dates::{self, DAY_MS};
use super::doc::{Node, Oops};
use super::form::{self, Place};
use super::view::{Context, Joined};
use super::{Answer, Open311};
use crate::admin::apikeys::key_hash;
use crate::service::ServiceError;
use crate::store::{Feedback, HotlineFilter, HotlineRequest, StoreError};

/// Widest date range a listing takes (the spec's 90 days).
const MAX_RANGE_DAYS: i64 = 90;
/// Most requests one listing returns (the spec's 1,000).
const MAX_ROWS: usize = 1000;
const MAX_COMMENT_CHARS: usize = 1000;

/// A service error as the spec's: refusals keep their sentence, a store
/// failure is logged and told as a 500 that says nothing internal.
impl From<ServiceError> for Oops {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Refused { code, message } => {
                let status = match code {
                    ErrorCode::NotFound | ErrorCode::UnknownCategory => StatusCode::NOT_FOUND,
                    ErrorCode::Forbidden | ErrorCode::Unauthenticated => StatusCode::FORBIDDEN,
                    ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::BAD_REQUEST,
                };
                Oops::new(status, message)
            }
            ServiceError::Ambiguous { message, .. } => Oops::bad(message),
            ServiceError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for Oops {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Oops::not_found(m.to_string()),
            StoreError::Conflict(m) => Oops::bad(m.to_string()),
            other => {
                tracing::error!(error = %other, "store failure while serving Open311");
                Oops::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not complete the request; try again",
                )
            }
        }
    }
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Two ids from a client's own id: the same request sent again maps to the
/// same report and op, which the push applies once.
fn ids_for(client: &str, external_id: Option<&str>) -> (Uuid, Uuid) {
    match external_id {
        Some(ext) => {
            let digest = blake3::hash(format!("open311\0{client}\0{ext}").as_bytes());
            let b = digest.as_bytes();
            let half = |i: usize| {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&b[i..i + 16]);
                Builder::from_random_bytes(bytes).into_uuid()
            };
            (half(0), half(16))
        }
        None => (Uuid::new_v4(), Uuid::new_v4()),
    }
}

/// As much of `text` as a note may hold; a cut ends in `…`.
fn note_of(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut note: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    note.push('…');
    note
}

impl Open311 {
    /// One jurisdiction per server: another one is the spec's 404.
    pub(super) fn jurisdiction(&self, query: &[(String, String)]) -> Result<(), Oops> {
        match param(query, "jurisdiction_id") {
            Some(j) if j != self.config.jurisdiction_id => Err(Oops::not_found(format!(
                "jurisdiction_id `{j}` not found; this server answers for `{}`",
                self.config.jurisdiction_id
            ))),
            _ => Ok(()),
        }
    }

    pub(super) fn categories(&self) -> Result<std::sync::Arc<CategoryTable>, Oops> {
        Ok(self.service.categories()?)
    }

    fn offset_min(&self) -> Result<i32, Oops> {
        Ok(crate::console::time::offset_minutes(
            &self.service.calendar()?,
        ))
    }

    /// POST requests: the key (403), its limit (429), the form (400/404),
    /// a repeat (the first request), then the report and the request's row.
    pub(super) fn file_request(
        &self,
        form_pairs: &[(String, String)],
        now: Instant,
    ) -> Result<Answer, Oops> {
        self.jurisdiction(form_pairs)?;
        let presented = form::api_key(form_pairs)?;
        let key = self
            .service
            .store()
            .api_key_by_hash(key_hash(presented))?
            .ok_or_else(|| Oops::forbidden("api_key is not valid; ask the city's IT for a key"))?;
        if key.revoked_ms.is_some() {
            return Err(Oops::forbidden(format!(
                "the api_key of `{}` was revoked; ask the city's IT for a new one",
                key.name
            )));
        }
        if let Err(wait) = self.limiter.take(&self.config, &key.name, now) {
            return Err(Oops::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many requests from `{}`; wait {:.1} s and send it again",
                    key.name,
                    wait.as_secs_f64()
                ),
            ));
        }
        let categories = self.categories()?;
        let intake = form::check(form_pairs, &categories, &self.config)?;
        let store = self.service.store();
        if let Some(ext) = &intake.external_id {
            if let Some(first) = store.hotline_request_by_external_id(&key.name, ext)? {
                return Ok(filed(&first));
            }
        }
        let location = match &intake.place {
            Place::Point { lat, lon } => Location {
                lon: *lon,
                lat: *lat,
                accuracy_m: None,
            },
            Place::Cell(code) => self.cell_point(code)?,
        };
        let (report_id, op_id) = ids_for(&key.name, intake.external_id.as_deref());
        let now_ms = self.service.now();
        let new = NewReport {
            category: intake.service_code.clone(),
            location,
            address: intake.address.clone(),
            note: note_of(&intake.description, self.service.limits().max_note_chars),
            observed_at_ms: now_ms,
            patrol: None,
            asset: None,
        };
        self.service
            .hotline_report(&key.name, report_id, op_id, new)?;
        let token: [u8; 16] = rand::random();
        let row = store.add_hotline_request(&HotlineRequest {
            report_id,
            token: hex(&token),
            client: key.name.clone(),
            external_id: intake.external_id,
            service_code: intake.service_code,
            description: intake.description,
            requested_ms: now_ms,
            media_url: intake.media_url,
            attributes: intake.attributes,
            contact: intake.contact,
        })?;
        tracing::info!(client = %key.name, request = %row.report_id, "Open311 request filed");
        Ok(filed(&row))
    }

    /// A point the grid puts in `code`, for an address the table places there.
    fn cell_point(&self, code: &str) -> Result<Location, Oops> {
        let grid = self.service.grid()?;
        let point = grid
            .as_deref()
            .and_then(|g| g.cell(code))
            .and_then(|cell| cell.geometry.interior_point())
            .ok_or_else(|| {
                Oops::bad(format!(
                    "the city's address table places this address in cell `{code}`, which the current grid lacks; send lat and long"
                ))
            })?;
        Ok(Location {
            lon: point.x(),
            lat: point.y(),
            accuracy_m: None,
        })
    }

    fn context_parts(
        &self,
    ) -> Result<
        (
            std::sync::Arc<CategoryTable>,
            Vec<crate::store::Department>,
            i32,
        ),
        Oops,
    > {
        Ok((
            self.categories()?,
            self.service.store().departments()?,
            self.offset_min()?,
        ))
    }

    /// The reports and cases of these requests, in their order.
    fn join(&self, requests: Vec<HotlineRequest>) -> Result<Vec<Joined>, Oops> {
        let store = self.service.store();
        let ids: Vec<Uuid> = requests.iter().map(|r| r.report_id).collect();
        let mut cases: HashMap<Uuid, _> = store
            .cases_of(&ids)?
            .into_iter()
            .map(|c| (c.report_id, c))
            .collect();
        let mut out = Vec::with_capacity(requests.len());
        for request in requests {
            // A report deleted since is no longer a request anyone sees.
            let Some(report) = store.report(request.report_id)?.filter(|r| !r.is_deleted()) else {
                continue;
            };
            let case = cases.remove(&request.report_id);
            out.push(Joined {
                request,
                report,
                case,
            });
        }
        Ok(out)
    }

    /// The date range of a listing: both ends, at most 90 days apart; by
    /// default the last 90 days.
    fn range(&self, query: &[(String, String)], offset: i32) -> Result<(i64, i64), Oops> {
        let start = param(query, "start_date")
            .map(|t| dates::parse(t, offset, "start_date"))
            .transpose()?;
        let end = param(query, "end_date")
            .map(|t| dates::parse(t, offset, "end_date"))
            .transpose()?;
        let span = MAX_RANGE_DAYS * DAY_MS;
        let (start, end) = match (start, end) {
            (Some(s), Some(e)) => (s, e),
            (Some(s), None) => (s, s + span),
            (None, Some(e)) => (e - span, e),
            (None, None) => {
                let now = self.service.now();
                (now - span, now)
            }
        };
        if end < start {
            return Err(Oops::bad("end_date is before start_date"));
        }
        if end - start > span {
            return Err(Oops::bad(format!(
                "the date range spans {:.0} days; at most {MAX_RANGE_DAYS} days may be asked for at once",
                (end - start) as f64 / DAY_MS as f64
            )));
        }
        Ok((start, end))
    }

    /// GET requests: by id list, or by filters, newest first, at most 1,000.
    pub(super) fn list_requests(&self, query: &[(String, String)]) -> Result<Answer, Oops> {
        let (categories, departments, offset) = self.context_parts()?;
        let store = self.service.store();
        let rows = if let Some(ids) = param(query, "service_request_id") {
            let mut rows = Vec::new();
            for id in ids
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .take(MAX_ROWS)
            {
                let Ok(id) = id.parse::<Uuid>() else {
                    continue;
                };
                rows.extend(store.hotline_request(id)?);
            }
            rows
        } else {
            let (since_ms, until_ms) = self.range(query, offset)?;
            let statuses: Vec<&str> = param(query, "status")
                .map(|s| s.split(',').map(str::trim).collect())
                .unwrap_or_default();
            if let Some(bad) = statuses.iter().find(|s| !matches!(**s, "open" | "closed")) {
                return Err(Oops::bad(format!(
                    "status `{bad}` is neither open nor closed"
                )));
            }
            let rows = store.hotline_requests(&HotlineFilter {
                since_ms,
                until_ms,
                service_code: param(query, "service_code").map(str::to_owned),
                limit: MAX_ROWS,
            })?;
            if statuses.is_empty() {
                rows
            } else {
                let joined = self.join(rows)?;
                let cx = Context {
                    categories: &categories,
                    departments: &departments,
                    offset_min: offset,
                };
                let items = joined
                    .iter()
                    .filter(|j| statuses.contains(&j.open_or_closed()))
                    .map(|j| cx.request(j))
                    .collect();
                return Ok(Answer::ok("service_requests", Node::List("request", items)));
            }
        };
        let cx = Context {
            categories: &categories,
            departments: &departments,
            offset_min: offset,
        };
        let items = self.join(rows)?.iter().map(|j| cx.request(j)).collect();
        Ok(Answer::ok("service_requests", Node::List("request", items)))
    }

    fn by_id(&self, id: &str) -> Result<Joined, Oops> {
        let not_found = || Oops::not_found(format!("service_request_id `{id}` not found"));
        let uuid: Uuid = id.parse().map_err(|_| not_found())?;
        let row = self
            .service
            .store()
            .hotline_request(uuid)?
            .ok_or_else(not_found)?;
        self.join(vec![row])?.pop().ok_or_else(not_found)
    }

    pub(super) fn one_request(&self, id: &str) -> Result<Answer, Oops> {
        let joined = self.by_id(id)?;
        let (categories, departments, offset) = self.context_parts()?;
        let cx = Context {
            categories: &categories,
            departments: &departments,
            offset_min: offset,
        };
        Ok(Answer::ok(
            "service_requests",
            Node::List("request", vec![cx.request(&joined)]),
        ))
    }

    pub(super) fn token(&self, token: &str) -> Result<Answer, Oops> {
        let row = self
            .service
            .store()
            .hotline_request_by_token(token)?
            .ok_or_else(|| Oops::not_found(format!("token `{token}` not found")))?;
        Ok(Answer::ok(
            "service_requests",
            Node::List(
                "request",
                vec![Node::Obj(vec![
                    ("service_request_id", Node::text(row.report_id.to_string())),
                    ("token", Node::text(row.token)),
                ])],
            ),
        ))
    }

    /// FixMyStreet's `servicerequestupdates`: the steps taken within the
    /// date range (≤ 90 days), newest first, at most 1,000; optionally of
    /// some requests only (`service_request_id`, comma-separated).
    pub(super) fn updates(&self, query: &[(String, String)]) -> Result<Answer, Oops> {
        let (categories, departments, offset) = self.context_parts()?;
        let (since_ms, until_ms) = self.range(query, offset)?;
        let store = self.service.store();
        let rows = match param(query, "service_request_id") {
            Some(ids) => {
                let mut rows = Vec::new();
                for id in ids
                    .split(',')
                    .filter_map(|s| s.trim().parse::<Uuid>().ok())
                    .take(MAX_ROWS)
                {
                    rows.extend(store.hotline_request(id)?);
                }
                rows
            }
            // A step in the range belongs to a request filed before its end.
            None => store.hotline_requests(&HotlineFilter {
                since_ms: 0,
                until_ms,
                service_code: None,
                limit: 10 * MAX_ROWS,
            })?,
        };
        let cx = Context {
            categories: &categories,
            departments: &departments,
            offset_min: offset,
        };
        let mut updates: Vec<(i64, Node)> = self
            .join(rows)?
            .iter()
            .flat_map(|j| cx.updates(j))
            .filter(|(at, _)| (since_ms..=until_ms).contains(at))
            .collect();
        // Newest first; steps of one request in the same millisecond keep
        // their order, later step first.
        updates.reverse();
        updates.sort_by_key(|u| std::cmp::Reverse(u.0));
        updates.truncate(MAX_ROWS);
        Ok(Answer::ok(
            "service_request_updates",
            Node::List(
                "request_update",
                updates.into_iter().map(|(_, n)| n).collect(),
            ),
        ))
    }

    /// A citizen's rating of a closed request, keyed by its token: once.
    pub(super) fn rate(&self, token: &str, pairs: &[(String, String)]) -> Result<Answer, Oops> {
        let store = self.service.store();
        let row = store
            .hotline_request_by_token(token)?
            .ok_or_else(|| Oops::not_found(format!("token `{token}` not found")))?;
        let rating: u8 = param(pairs, "rating")
            .and_then(|r| r.parse().ok())
            .filter(|r| (1..=5).contains(r))
            .ok_or_else(|| Oops::bad("rating must be a whole number from 1 to 5"))?;
        let comment = param(pairs, "comment").unwrap_or("").to_owned();
        form::plain_text("comment", &comment, MAX_COMMENT_CHARS)?;
        let joined = self
            .join(vec![row])?
            .pop()
            .ok_or_else(|| Oops::not_found(format!("token `{token}` not found")))?;
        if joined.status() != CaseStatus::Closed {
            return Err(Oops::bad(format!(
                "only a closed request can be rated; this one is {}",
                joined.status()
            )));
        }
        store.add_feedback(&Feedback {
            report_id: joined.request.report_id,
            rating,
            comment: comment.clone(),
            at_ms: self.service.now(),
        })?;
        Ok(Answer {
            status: StatusCode::CREATED,
            root: "feedback",
            body: Node::List(
                "rating",
                vec![Node::Obj(vec![
                    (
                        "service_request_id",
                        Node::text(joined.request.report_id.to_string()),
                    ),
                    ("rating", Node::Int(i64::from(rating))),
                    ("comment", Node::text(comment)),
                ])],
            ),
        })
    }

    /// Ratings per department (the public evaluation): mean and count.
    pub(super) fn ratings(&self) -> Result<Answer, Oops> {
        let rows: Vec<(String, f64, usize)> = department_ratings(&self.service)?;
        let departments = self.service.store().departments()?;
        let items = rows
            .into_iter()
            .map(|(code, mean, count)| {
                let name = departments
                    .iter()
                    .find(|d| d.code == code)
                    .map_or_else(|| code.clone(), |d| d.name.clone());
                Node::Obj(vec![
                    ("agency_responsible", Node::text(name)),
                    ("department", Node::text(code)),
                    ("mean_rating", Node::Num((mean * 100.0).round() / 100.0)),
                    ("ratings", Node::Int(count as i64)),
                ])
            })
            .collect();
        Ok(Answer::ok("ratings", Node::List("department", items)))
    }
}

/// Mean rating and count per department the rated cases were last
/// dispatched to, by department code.
pub fn department_ratings(
    service: &crate::service::Service,
) -> Result<Vec<(String, f64, usize)>, Oops> {
    let store = service.store();
    let feedback = store.feedback()?;
    let ids: Vec<Uuid> = feedback.iter().map(|f| f.report_id).collect();
    let departments: HashMap<Uuid, String> = store
        .cases_of(&ids)?
        .into_iter()
        .filter_map(|c| Some((c.report_id, c.department?)))
        .collect();
    let mut sums: std::collections::BTreeMap<String, (u32, usize)> = Default::default();
    for f in &feedback {
        if let Some(d) = departments.get(&f.report_id) {
            let e = sums.entry(d.clone()).or_default();
            e.0 += u32::from(f.rating);
            e.1 += 1;
        }
    }
    Ok(sums
        .into_iter()
        .map(|(d, (sum, n))| (d, f64::from(sum) / n as f64, n))
        .collect())
}

/// The answer to a filed request: its id and its token.
fn filed(row: &HotlineRequest) -> Answer {
    Answer::ok(
        "service_requests",
        Node::List(
            "request",
            vec![Node::Obj(vec![
                ("service_request_id", Node::text(row.report_id.to_string())),
                ("token", Node::text(row.token.clone())),
                ("service_notice", Node::Null),
                ("account_id", Node::Null),
            ])],
        ),
    )
}
