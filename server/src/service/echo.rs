//! No echo on pull: a report sent back to the device that has just pushed
//! it carries only what that device lacks.
//!
//! A sync pushes, then pulls; before this, every report a warden had just
//! pushed came back whole in the same sync (300 new reports: 26 KB sent,
//! 58 KB received), doubling a sync over a slow link. Two things tell the
//! server what the pulling device already holds:
//! - the device pushed an op on the report in this sync (since its last
//!   hello): it read that op from its own store, so it holds the report
//!   ([`Pushed`] remembers those ids per device until the pull ends);
//! - every register carries the clock of its write, and a clock's node is
//!   the writing device's (`hlc::node_id`, checked on every push by
//!   `own_clock`): when the device created the report and wrote the current
//!   value of every field and the tombstone, it holds all of them at least
//!   at the server's version (its state only grows by joins).
//!
//! What it cannot know is what the server alone writes — the grid cell —
//! and what other devices added to the grow-only photo set, which carries
//! no writer. So the record it gets is the report's id with those two: a
//! join of that into the device's state gives exactly the server's state.
//! Anything else (another device's edit, a report pushed over some other
//! connection, a server restart in between) gets the whole state, as before.
//!
//! The wire format is unchanged: the record is a `ReportState` with the
//! other registers absent, which every client's merge (a join) already
//! takes as "nothing newer here".

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::{Hlc, ReportState};
use uuid::Uuid;

/// Reports each device pushed an op on since its last hello, kept until
/// its pull has reached the end of the feed.
#[derive(Debug, Default)]
pub(crate) struct Pushed {
    devices: Mutex<HashMap<Uuid, HashSet<Uuid>>>,
}

/// Most report ids remembered per device: a push of more (a week offline)
/// gets the rest back whole, as before, rather than holding memory.
const MAX_REMEMBERED: usize = 100_000;

impl Pushed {
    /// A new sync of `device` begins: what an earlier one pushed is not
    /// known to be held any more than the rest.
    pub fn hello(&self, device: Uuid) {
        self.lock().remove(&device);
    }

    pub fn pushed(&self, device: Uuid, reports: impl IntoIterator<Item = Uuid>) {
        let mut devices = self.lock();
        let ids = devices.entry(device).or_default();
        for id in reports {
            if ids.len() >= MAX_REMEMBERED {
                break;
            }
            ids.insert(id);
        }
    }

    /// The device's pull reached the end of the feed.
    pub fn pulled_all(&self, device: Uuid) {
        self.lock().remove(&device);
    }

    /// The record to send `device` for `state`: the server-written part
    /// only when the device pushed an op on it in this sync and wrote
    /// everything else, else the whole state.
    pub fn what_the_device_lacks(&self, state: &ReportState, device: Uuid) -> ReportState {
        let pushed_now = self
            .lock()
            .get(&device)
            .is_some_and(|ids| ids.contains(&state.id));
        if pushed_now {
            what_the_writer_lacks(state, device)
        } else {
            state.clone()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, HashSet<Uuid>>> {
        // The sets are only ever inserted into or removed whole: a panic
        // elsewhere cannot leave one half-written.
        self.devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The server-written part of `state` when `device` wrote everything else,
/// else the whole state.
fn what_the_writer_lacks(state: &ReportState, device: Uuid) -> ReportState {
    if !wrote_everything(state, device) {
        return state.clone();
    }
    ReportState {
        grid_cell: state.grid_cell.clone(),
        photos: state.photos.clone(),
        ..ReportState::empty(state.id)
    }
}

/// Whether `device` created the report and wrote the current value of every
/// register the device side writes.
fn wrote_everything(state: &ReportState, device: Uuid) -> bool {
    let node = node_id(device);
    let by_device = |hlc: Option<Hlc>| hlc.is_none_or(|h| h.node == node);
    state
        .origin
        .as_ref()
        .is_some_and(|o| o.device == device && o.created.node == node)
        && by_device(state.category.as_ref().map(|r| r.hlc))
        && by_device(state.note.as_ref().map(|r| r.hlc))
        && by_device(state.location.as_ref().map(|r| r.hlc))
        && by_device(state.address.as_ref().map(|r| r.hlc))
        && by_device(state.asset.as_ref().map(|r| r.hlc))
        && by_device(state.deleted)
}

#[cfg(test)]
mod tests {
    use gridwarden_protocol::{Location, NewReport, ReportEdit, ReportOp};

    use super::*;

    fn created_by(device: Uuid) -> ReportState {
        let mut state = ReportState::empty(Uuid::from_u128(7));
        let new = NewReport {
            category: "0101".into(),
            location: Location {
                lon: 111.69,
                lat: 40.85,
                accuracy_m: Some(5.0),
            },
            address: Some("青山路 12".into()),
            asset: None,
            note: "井盖缺失".into(),
            observed_at_ms: 1_000,
            patrol: None,
        };
        state.apply(
            &ReportOp::Create(new),
            Hlc::new(1_000, 0, node_id(device)),
            "ann",
            device,
        );
        state.set_grid_cell(Some("990102001001001".into()), Hlc::new(1_001, 0, 0));
        state
    }

    #[test]
    fn the_writer_gets_the_cell_and_a_join_gives_the_servers_state() {
        let ann = Uuid::from_u128(1);
        let server = created_by(ann);
        let sent = what_the_writer_lacks(&server, ann);
        assert_eq!(sent.category, None);
        assert_eq!(sent.grid_cell, server.grid_cell);
        // The device holds its own writes; the join completes it.
        let mut device = server.clone();
        device.grid_cell = None;
        device.merge(&sent);
        assert_eq!(device, server);
    }

    #[test]
    fn anything_another_device_wrote_sends_the_whole_state() {
        let (ann, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut server = created_by(ann);
        assert_eq!(
            what_the_writer_lacks(&server, bob),
            server,
            "not bob's report"
        );
        server.apply(
            &ReportOp::Edit(ReportEdit {
                note: Some("已修复".into()),
                ..ReportEdit::default()
            }),
            Hlc::new(2_000, 0, node_id(bob)),
            "bob",
            bob,
        );
        assert_eq!(what_the_writer_lacks(&server, ann), server, "bob's note");
        server.apply(
            &ReportOp::Delete,
            Hlc::new(3_000, 0, node_id(bob)),
            "bob",
            bob,
        );
        assert_eq!(what_the_writer_lacks(&server, ann), server);
    }

    #[test]
    fn only_what_was_pushed_in_this_sync_is_trimmed() {
        let ann = Uuid::from_u128(1);
        let server = created_by(ann);
        let pushed = Pushed::default();
        assert_eq!(
            pushed.what_the_device_lacks(&server, ann),
            server,
            "not pushed"
        );
        pushed.pushed(ann, [server.id]);
        assert_eq!(pushed.what_the_device_lacks(&server, ann).category, None);
        pushed.hello(ann);
        assert_eq!(
            pushed.what_the_device_lacks(&server, ann),
            server,
            "a new sync"
        );
        pushed.pushed(ann, [server.id]);
        pushed.pulled_all(ann);
        assert_eq!(pushed.what_the_device_lacks(&server, ann), server, "pulled");
    }
}
