//! Alerts, and the live updates a page gets without reloading: Server-Sent
//! Events `report` (a new report in the user's scope), `case` (a report or
//! its case changed) and `alert` (the due-soon, overdue or hot-spot counts
//! changed). The stream re-checks the session on every tick, so a disabled
//! user's stream ends at once too.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::stream::{self, Stream, StreamExt};

use super::{blocking, Authed, ConsoleState};
use crate::console::alerts::Alerts;
use crate::console::queue::ChangeKind;
use crate::http::ApiError;

/// How often a stream looks for changes.
const TICK: Duration = Duration::from_secs(2);
/// Alerts are recomputed every this many ticks.
const ALERT_TICKS: u32 = 8;

pub async fn alerts(
    State(console): ConsoleState,
    Authed(user): Authed,
) -> Result<Json<Alerts>, ApiError> {
    Ok(Json(blocking(&console, move |c| c.alerts(&user)).await?))
}

struct Cursor {
    position: u64,
    alerts: Option<(usize, usize, usize)>,
    tick: u32,
    ended: bool,
}

pub async fn events(
    State(console): ConsoleState,
    Authed(user): Authed,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let position = blocking(&console, |c| c.position()).await?;
    let token_hash = user.token_hash;
    let start = Cursor {
        position,
        alerts: None,
        tick: 0,
        ended: false,
    };
    let stream = stream::unfold(start, move |mut cursor| {
        let console = console.clone();
        let user = user.clone();
        async move {
            if cursor.ended {
                return None;
            }
            tokio::time::sleep(TICK).await;
            let since = cursor.position;
            let check_alerts = cursor.tick % ALERT_TICKS == 0;
            cursor.tick = cursor.tick.wrapping_add(1);
            let result = blocking(&console, move |c| {
                // Still signed in? (A disable or sign-out ends the stream.)
                c.reauthenticate(token_hash)?;
                let (position, changes) = c.changes_since(&user, since)?;
                let alerts = if check_alerts {
                    Some(c.alerts(&user)?)
                } else {
                    None
                };
                Ok((position, changes, alerts))
            })
            .await;
            let mut events = Vec::new();
            match result {
                Ok((position, changes, alerts)) => {
                    cursor.position = position;
                    for (kind, row) in changes {
                        let name = match kind {
                            ChangeKind::Report => "report",
                            ChangeKind::Case => "case",
                        };
                        if let Ok(event) = Event::default().event(name).json_data(&row) {
                            events.push(Ok(event));
                        }
                    }
                    if let Some(alerts) = alerts {
                        let summary = alerts.summary();
                        if cursor.alerts.is_some_and(|s| s != summary) {
                            let data = serde_json::json!({
                                "due_soon": summary.0, "overdue": summary.1, "hotspots": summary.2,
                            });
                            if let Ok(event) = Event::default().event("alert").json_data(data) {
                                events.push(Ok(event));
                            }
                        }
                        cursor.alerts = Some(summary);
                    }
                }
                Err(_) => {
                    cursor.ended = true;
                    events.push(Ok(Event::default().event("end").data("signed out")));
                }
            }
            Some((stream::iter(events), cursor))
        }
    })
    .flatten();
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
