//! What a committed push changed, and for whom: the service publishes each
//! change after its transaction committed, and whoever holds open
//! connections (the QUIC edge) subscribes and tells the devices concerned
//! (`ServerMessage::Notice`, brief decision 7, ADR 0028). The service knows
//! nothing of connections; the edge asks [`Service::notice_for`] whether a
//! change concerns one of its sessions.
//!
//! A notice is a hint, never the data: a device that misses one (not
//! connected, the edge fell behind, another server process took the push)
//! gets the same records at its next sync. So the channel is bounded and a
//! subscriber that falls behind is told so, not made to block a push.

use std::collections::HashMap;
use std::sync::Arc;

use gridwarden_protocol::{Notice, NoticeKind, ReportState};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{Service, Session};
use crate::authz;

/// Changes held for a subscriber that has not read them yet; one that falls
/// further behind hears `Lagged` and notifies everyone connected.
const BACKLOG: usize = 1024;
/// Most ids one notice names; the device pulls everything anyway.
const MAX_IDS: usize = 64;

/// A report a push touched, with what decides who may see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touched {
    pub id: Uuid,
    pub cell: Option<String>,
    pub reporter: Option<String>,
    /// A user a case step of the push gave a task (a verification).
    pub task_for: Option<String>,
}

impl Touched {
    pub(super) fn of(state: &ReportState) -> Self {
        Self {
            id: state.id,
            cell: state.grid_cell().map(str::to_owned),
            reporter: state.origin.as_ref().map(|o| o.reporter.clone()),
            task_for: None,
        }
    }
}

/// What one committed push changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The device that pushed: its own sync already has the result.
    pub by_device: Uuid,
    pub reports: Vec<Touched>,
}

/// The service's end of the channel.
pub struct Notifier {
    tx: broadcast::Sender<Arc<Change>>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Notifier {
    /// Hears every change committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// Whether anyone listens (a service without an edge skips the work).
    pub(super) fn heard(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub(super) fn publish(&self, change: Change) {
        if change.reports.is_empty() {
            return;
        }
        // No receiver is not an error: nobody is connected to tell.
        let _ = self.tx.send(Arc::new(change));
    }
}

/// The reports a push touched, keyed by id (a transaction run again
/// overwrites its first attempt's entries).
#[derive(Default)]
pub(super) struct Collected(std::cell::RefCell<HashMap<Uuid, Touched>>);

impl Collected {
    pub fn report(&self, state: &ReportState) {
        let mut map = self.0.borrow_mut();
        let entry = map.entry(state.id).or_insert_with(|| Touched::of(state));
        let task_for = entry.task_for.take();
        *entry = Touched {
            task_for,
            ..Touched::of(state)
        };
    }

    pub fn task(&self, state: &ReportState, user: &str) {
        let mut map = self.0.borrow_mut();
        let entry = map.entry(state.id).or_insert_with(|| Touched::of(state));
        entry.task_for = Some(user.to_owned());
    }

    /// The entries of `applied` ids, in their order.
    pub fn take(self, applied: impl Iterator<Item = Uuid>) -> Vec<Touched> {
        let mut map = self.0.into_inner();
        applied.filter_map(|id| map.remove(&id)).collect()
    }
}

impl Service {
    /// Changes committed by this process, for the edge to tell the devices
    /// connected to this process. Another process sharing a PostgreSQL
    /// store tells its own connections only.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The notice `session`'s device should get for `change`, if it
    /// concerns it: the device's scope as its pull would read it (all, or
    /// the cells of its user and the user's own reports), and a task named
    /// for its user. `None` for the device that pushed.
    pub fn notice_for(&self, session: &Session, change: &Change) -> Option<Notice> {
        if session.device_id == change.by_device {
            return None;
        }
        let scoped = authz::pull_is_scoped(session.role, !session.cells.is_empty());
        let mut task = false;
        let mut ids = Vec::new();
        for touched in &change.reports {
            let mine = |name: &Option<String>| name.as_deref() == Some(session.user.as_str());
            let in_cell = touched
                .cell
                .as_ref()
                .is_some_and(|cell| session.cells.contains(cell));
            let is_task = mine(&touched.task_for);
            if is_task || !scoped || in_cell || mine(&touched.reporter) {
                task |= is_task;
                if ids.len() < MAX_IDS {
                    ids.push(touched.id);
                }
            }
        }
        if ids.is_empty() {
            return None;
        }
        let kind = if task {
            NoticeKind::Task
        } else {
            NoticeKind::Changed
        };
        Some(Notice { kind, ids })
    }
}

#[cfg(test)]
mod tests;
