//! What a committed change altered, and for whom: the service publishes each
//! change after its transaction committed, and whoever holds open
//! connections (the QUIC edge) subscribes and tells the devices concerned
//! (`ServerMessage::Notice`, brief decision 7, ADR 0028). The service knows
//! nothing of connections; the edge asks [`Service::notice_for`] whether a
//! change concerns one of its sessions.
//!
//! Several processes may share one store (ADR 0025): each change is also
//! handed to the store's fan-out (`store/fanout.rs`, PostgreSQL's `NOTIFY`),
//! and what the other processes published comes back through it to this
//! process's subscribers, its own skipped (ADR 0033). An admin command is
//! such a process too: a user's cells changed, or reports re-placed by a
//! layer, reach the serving processes' devices that way.
//!
//! A notice is a hint, never the data: a device that misses one (not
//! connected, the edge fell behind, a message lost with the database)
//! gets the same records at its next sync. So the channel is bounded and a
//! subscriber that falls behind is told so, not made to block a push.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gridwarden_protocol::{Notice, NoticeKind, ReportState};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{Service, Session};
use crate::authz;
use crate::store::fanout::{Fanout, Heard, MAX_MESSAGE};

/// Changes held for a subscriber that has not read them yet; one that falls
/// further behind hears `Lagged` and notifies everyone connected.
const BACKLOG: usize = 1024;
/// Most ids one notice names; the device pulls everything anyway.
const MAX_IDS: usize = 64;
/// How long an admin command waits for its change to leave for the serving
/// processes before it exits.
const FLUSH_WITHIN: Duration = Duration::from_secs(5);

/// A report a change touched, with what decides who may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touched {
    #[serde(rename = "i")]
    pub id: Uuid,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub reporter: Option<String>,
    /// A user a case step of the push gave a task (a verification).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
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

/// What one committed change altered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The device that pushed: its own sync already has the result (nil
    /// for an admin command's change).
    #[serde(rename = "d")]
    pub by_device: Uuid,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<Touched>,
    /// Users whose scope IT changed (their cells): each of their devices is
    /// told to pull.
    #[serde(rename = "u", default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
}

impl Change {
    fn is_empty(&self) -> bool {
        self.reports.is_empty() && self.users.is_empty()
    }
}

/// What subscribers hear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Told {
    Change(Arc<Change>),
    /// Changes may have gone unheard (another process's, while this one
    /// could not listen): every connected device is told to pull.
    Missed,
}

/// A change as it travels between processes: the publisher's instance, so
/// a process skips its own.
#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(rename = "p")]
    from: u64,
    #[serde(rename = "c")]
    change: Change,
}

/// `change` as messages of at most [`MAX_MESSAGE`] bytes, its reports
/// packed in order (a push of many reports, a layer re-placing thousands);
/// its users go with the first. Each entry is written once.
fn encode(from: u64, change: &Change, out: &mut Vec<String>) {
    let message = |reports: Vec<Touched>, users: Vec<String>| {
        let change = Change {
            by_device: change.by_device,
            reports,
            users,
        };
        serde_json::to_string(&Envelope { from, change }).expect("a change serialises")
    };
    // The list's key and brackets, absent from an empty message.
    const LIST: usize = r#","r":[]"#.len();
    let mut users = change.users.clone();
    let mut size = message(Vec::new(), users.clone()).len() + LIST;
    let mut group = Vec::new();
    for touched in &change.reports {
        // The entry and its comma.
        let len = serde_json::to_string(touched).expect("serialises").len() + 1;
        if !group.is_empty() && size + len > MAX_MESSAGE {
            out.push(message(
                std::mem::take(&mut group),
                std::mem::take(&mut users),
            ));
            size = message(Vec::new(), Vec::new()).len() + LIST;
        }
        group.push(touched.clone());
        size += len;
    }
    let last = message(group, users);
    if last.len() <= MAX_MESSAGE {
        out.push(last);
    } else {
        // One entry longer than a message: names are short; never seen.
        tracing::warn!("a change too long to tell the other server processes");
    }
}

fn decode(text: &str) -> Option<(u64, Change)> {
    let envelope: Envelope = serde_json::from_str(text).ok()?;
    Some((envelope.from, envelope.change))
}

/// The service's end of the channel.
pub struct Notifier {
    tx: broadcast::Sender<Told>,
    /// The store's fan-out to the other processes, if it has one.
    fanout: Option<Arc<dyn Fanout>>,
    /// Names this process's messages, so it skips them when they come back.
    instance: u64,
}

impl Notifier {
    pub(super) fn new(fanout: Option<Arc<dyn Fanout>>) -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            fanout,
            instance: rand::random(),
        }
    }

    /// Hears every change committed from now on: this process's, and once
    /// [`Notifier::relay`] runs, the other processes'.
    pub fn subscribe(&self) -> broadcast::Receiver<Told> {
        self.tx.subscribe()
    }

    /// Whether anyone listens (a service without an edge, on a store
    /// without a fan-out, skips the work).
    pub(super) fn heard(&self) -> bool {
        self.fanout.is_some() || self.tx.receiver_count() > 0
    }

    pub(super) fn publish(&self, change: Change) {
        if change.is_empty() {
            return;
        }
        if let Some(fanout) = &self.fanout {
            let mut messages = Vec::new();
            encode(self.instance, &change, &mut messages);
            for message in messages {
                fanout.send(message);
            }
        }
        // No receiver is not an error: nobody is connected to tell.
        let _ = self.tx.send(Told::Change(Arc::new(change)));
    }

    /// Waits until what was published has left for the other processes
    /// (an admin command, before it exits).
    pub(super) fn flush(&self) {
        if let Some(fanout) = &self.fanout {
            if !fanout.flush(FLUSH_WITHIN) {
                tracing::warn!("the change may not have reached the serving processes");
            }
        }
    }

    /// Tells this process's subscribers what the other processes sharing
    /// the store publish, for as long as the fan-out runs; returns at once
    /// on a store without one. Run by the serving process only.
    pub async fn relay(&self) {
        let Some(fanout) = &self.fanout else {
            return;
        };
        let mut heard = fanout.listen();
        while let Some(heard) = heard.recv().await {
            let told = match heard {
                Heard::Message(text) => match decode(&text) {
                    Some((from, _)) if from == self.instance => continue,
                    Some((_, change)) => Told::Change(Arc::new(change)),
                    None => {
                        tracing::warn!(
                            message = %text.chars().take(80).collect::<String>(),
                            "a change from another process could not be read"
                        );
                        continue;
                    }
                },
                Heard::Missed => Told::Missed,
            };
            let _ = self.tx.send(told);
        }
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
    /// Changes committed by this process and, on a store shared by several
    /// processes, by the others: for the edge to tell the devices connected
    /// to this process.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Tells the devices of `user` that their scope changed (IT changed
    /// their cells), in whichever serving process they are connected to;
    /// waits until the message left (the caller is an admin command).
    pub fn tell_scope_changed(&self, user: &str) {
        self.notifier.publish(Change {
            by_device: Uuid::nil(),
            reports: Vec::new(),
            users: vec![user.to_owned()],
        });
        self.notifier.flush();
    }

    /// The notice `session`'s device should get for `change`, if it
    /// concerns it: the device's scope as its pull would read it (all, or
    /// the cells of its user and the user's own reports), a task named for
    /// its user, and its user's scope changed (the ids are then empty: the
    /// pull's catch-up brings what the new cells hold). `None` for the
    /// device that pushed.
    pub fn notice_for(&self, session: &Session, change: &Change) -> Option<Notice> {
        if session.device_id == change.by_device {
            return None;
        }
        let rescoped = change.users.contains(&session.user);
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
                if ids.len() < MAX_IDS && !ids.contains(&touched.id) {
                    ids.push(touched.id);
                }
            }
        }
        if ids.is_empty() && !rescoped {
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
