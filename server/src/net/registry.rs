//! Which devices hold open connections: lets the server cap connections per
//! device, close a revoked device's connections the moment IT revokes it,
//! and tell a connected device that something new is in its scope
//! (`net/notices.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

use super::audience::{Audience, ConnectionId};
use crate::service::notify::Change;
use crate::service::Session;

#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    /// Connections authenticated since the start: a long-lived connection's
    /// later syncs add none.
    opened: AtomicU64,
    state: Mutex<State>,
}

/// The open connections, by device and by what they may be told of; one
/// lock, so the two never disagree.
///
/// Lock order: this lock first, then a connection's session lock
/// ([`SessionCell`]; `rescope` replaces a session under both, so the index
/// and the session it indexes never disagree either). Nothing takes a
/// session lock and then this one: `SessionCell::current` holds its lock
/// only to clone the `Arc`.
#[derive(Default)]
struct State {
    by_device: HashMap<Uuid, Vec<(ConnectionId, Live)>>,
    by_id: HashMap<ConnectionId, Live>,
    audience: Audience,
}

/// The session a connection speaks for now: set by its first Hello,
/// replaced by a later one, and by the edge's watch when IT changed the
/// user (ADR 0041). Each replacement carries the auth epoch read before its
/// session was: a Hello that read the user before IT changed it, answered
/// after the watch rescoped the connection, does not undo the rescope.
#[derive(Clone)]
pub struct SessionCell(Arc<RwLock<Tagged>>);

struct Tagged {
    /// The auth epoch read before `session` was (0: the first Hello's).
    epoch: u64,
    session: Arc<Session>,
}

impl SessionCell {
    pub fn new(session: Session) -> Self {
        Self(Arc::new(RwLock::new(Tagged {
            epoch: 0,
            session: Arc::new(session),
        })))
    }

    pub fn current(&self) -> Arc<Session> {
        self.0.read().expect("session lock").session.clone()
    }

    /// Replaces the session unless one read at a later epoch is there.
    fn replace(&self, session: Session, epoch: u64) -> bool {
        let mut tagged = self.0.write().expect("session lock");
        if epoch < tagged.epoch {
            return false;
        }
        *tagged = Tagged {
            epoch,
            session: Arc::new(session),
        };
        true
    }
}

/// One open, authenticated connection.
#[derive(Clone)]
pub struct Live {
    pub conn: quinn::Connection,
    /// The protocol version the connection speaks.
    pub version: u16,
    pub session: SessionCell,
}

/// Holds a connection's place in the registry; dropping it frees the place.
pub struct Registration {
    registry: Arc<Registry>,
    device: Uuid,
    id: u64,
}

impl Registry {
    /// Registers `live` for `device`, unless the device already holds
    /// `max_per_device` connections (the count is returned then).
    pub fn register(
        self: &Arc<Self>,
        device: Uuid,
        live: Live,
        max_per_device: usize,
    ) -> Result<Registration, usize> {
        let mut state = self.state.lock().expect("registry lock");
        let open = state.by_device.entry(device).or_default();
        if open.len() >= max_per_device {
            return Err(open.len());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.opened.fetch_add(1, Ordering::Relaxed);
        open.push((id, live.clone()));
        state.audience.index(id, &live.session.current());
        state.by_id.insert(id, live);
        Ok(Registration {
            registry: self.clone(),
            device,
            id,
        })
    }

    /// Devices with open connections, and those connections.
    pub fn snapshot(&self) -> Vec<(Uuid, Vec<quinn::Connection>)> {
        self.state
            .lock()
            .expect("registry lock")
            .by_device
            .iter()
            .map(|(device, conns)| {
                let conns = conns.iter().map(|(_, live)| live.conn.clone()).collect();
                (*device, conns)
            })
            .collect()
    }

    /// Every open connection with what it speaks for.
    pub fn live(&self) -> Vec<Live> {
        self.state
            .lock()
            .expect("registry lock")
            .by_id
            .values()
            .cloned()
            .collect()
    }

    /// The open connections `change` may concern (see [`Audience`]):
    /// whether each is told, and what, is still `Service::notice_for`'s.
    pub fn concerned(&self, change: &Change) -> Vec<Live> {
        let state = self.state.lock().expect("registry lock");
        state
            .audience
            .concerned(change)
            .into_iter()
            .filter_map(|id| state.by_id.get(&id).cloned())
            .collect()
    }

    /// Replaces the session of the connection that holds `cell` (a Hello
    /// on a kept connection, or the edge's watch, read the user again at
    /// auth `epoch`) and indexes it under what the new session may see;
    /// nothing changes if the cell holds a session read at a later epoch.
    pub fn rescope(&self, cell: &SessionCell, session: Session, epoch: u64) {
        let mut state = self.state.lock().expect("registry lock");
        let device = session.device_id;
        if !cell.replace(session, epoch) {
            return;
        }
        let id = state.by_device.get(&device).and_then(|open| {
            open.iter()
                .find(|(_, live)| Arc::ptr_eq(&live.session.0, &cell.0))
                .map(|(id, _)| *id)
        });
        if let Some(id) = id {
            state.audience.index(id, &cell.current());
        }
    }

    /// Connections authenticated since the server started.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut state = self.registry.state.lock().expect("registry lock");
        if let Some(open) = state.by_device.get_mut(&self.device) {
            open.retain(|(id, _)| *id != self.id);
            if open.is_empty() {
                state.by_device.remove(&self.device);
            }
        }
        state.by_id.remove(&self.id);
        state.audience.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwarden_protocol::Role;

    #[test]
    fn a_session_read_at_an_older_auth_epoch_does_not_replace_a_newer_one() {
        let first = Session::for_tests("ann", Role::Warden, &["A"]);
        let cell = SessionCell::new(first.clone());
        let given = Session {
            cells: vec!["A".into(), "B".into()],
            ..first.clone()
        };
        // The watch rescoped the connection at epoch 7 ...
        assert!(cell.replace(given.clone(), 7));
        // ... and a Hello that read the user at epoch 6 answers after it.
        assert!(!cell.replace(first.clone(), 6));
        assert_eq!(cell.current().cells, ["A", "B"]);
        // A Hello that read the user at the same epoch or later replaces it.
        assert!(cell.replace(first, 7));
        assert_eq!(cell.current().cells, ["A"]);
    }
}
