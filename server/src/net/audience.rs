//! Which open connections a change may concern, found without looking at
//! every one: the connections by grid cell and by user, and apart the ones
//! that see every report (a supervisor of the whole city). With 2,000
//! devices on kept connections, checking each for every committed change was
//! a third of the server's CPU in the steady state (docs/benchmarks.md).
//!
//! It only narrows: [`crate::service::Service::notice_for`] still decides,
//! on the connection's current session, whether and what it is told. So the
//! index must hold every connection a change could concern — a connection
//! is indexed under its user and every cell of its session, and again when a
//! Hello replaces that session — and may hold more.

use std::collections::{BTreeSet, HashMap};

use crate::authz;
use crate::service::notify::Change;
use crate::service::Session;

/// A connection's place in the registry.
pub type ConnectionId = u64;

#[derive(Default)]
pub struct Audience {
    by_cell: HashMap<String, BTreeSet<ConnectionId>>,
    by_user: HashMap<String, BTreeSet<ConnectionId>>,
    /// Sessions whose pull is not scoped to cells: every report concerns them.
    unscoped: BTreeSet<ConnectionId>,
    /// What each connection is indexed under, to take it out again.
    keys: HashMap<ConnectionId, Keys>,
}

/// The keys one connection is indexed under.
struct Keys {
    user: String,
    cells: Vec<String>,
    unscoped: bool,
}

impl Keys {
    fn of(session: &Session) -> Self {
        Self {
            user: session.user.clone(),
            cells: session.cells.clone(),
            unscoped: !authz::pull_is_scoped(session.role, !session.cells.is_empty()),
        }
    }
}

impl Audience {
    /// Indexes connection `id` under what `session` may see, replacing
    /// what it was indexed under before.
    pub fn index(&mut self, id: ConnectionId, session: &Session) {
        self.remove(id);
        let keys = Keys::of(session);
        self.by_user
            .entry(keys.user.clone())
            .or_default()
            .insert(id);
        for cell in &keys.cells {
            self.by_cell.entry(cell.clone()).or_default().insert(id);
        }
        if keys.unscoped {
            self.unscoped.insert(id);
        }
        self.keys.insert(id, keys);
    }

    pub fn remove(&mut self, id: ConnectionId) {
        let Some(keys) = self.keys.remove(&id) else {
            return;
        };
        forget(&mut self.by_user, &keys.user, id);
        for cell in &keys.cells {
            forget(&mut self.by_cell, cell, id);
        }
        if keys.unscoped {
            self.unscoped.remove(&id);
        }
    }

    /// The connections `change` may concern, each once: those that see
    /// everything (when it touched a report), those in a touched report's
    /// cell, and those of a user it names (a rescoped user, a reporter, a
    /// task's assignee).
    pub fn concerned(&self, change: &Change) -> BTreeSet<ConnectionId> {
        let mut ids = BTreeSet::new();
        if !change.reports.is_empty() {
            ids.extend(&self.unscoped);
        }
        let users = change.users.iter().chain(
            change
                .reports
                .iter()
                .flat_map(|t| t.reporter.iter().chain(t.task_for.iter())),
        );
        for user in users {
            ids.extend(self.by_user.get(user).into_iter().flatten());
        }
        for cell in change.reports.iter().filter_map(|t| t.cell.as_ref()) {
            ids.extend(self.by_cell.get(cell).into_iter().flatten());
        }
        ids
    }
}

fn forget(map: &mut HashMap<String, BTreeSet<ConnectionId>>, key: &str, id: ConnectionId) {
    if let Some(ids) = map.get_mut(key) {
        ids.remove(&id);
        if ids.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use gridwarden_protocol::Role;
    use uuid::Uuid;

    use super::*;
    use crate::service::notify::Touched;

    fn session(user: &str, role: Role, cells: &[&str]) -> Session {
        Session::for_tests(user, role, cells)
    }

    fn touched(cell: Option<&str>, reporter: Option<&str>, task_for: Option<&str>) -> Touched {
        Touched {
            id: Uuid::now_v7(),
            cell: cell.map(str::to_owned),
            reporter: reporter.map(str::to_owned),
            task_for: task_for.map(str::to_owned),
        }
    }

    fn change(reports: Vec<Touched>, users: &[&str]) -> Change {
        Change {
            by_device: Uuid::nil(),
            reports,
            users: users.iter().map(|u| u.to_string()).collect(),
        }
    }

    fn ids(set: BTreeSet<ConnectionId>) -> Vec<ConnectionId> {
        set.into_iter().collect()
    }

    #[test]
    fn a_change_reaches_its_cell_its_people_and_whoever_sees_everything() {
        let mut a = Audience::default();
        a.index(1, &session("ann", Role::Warden, &["A"]));
        a.index(2, &session("bob", Role::Warden, &["B"]));
        a.index(3, &session("sam", Role::Supervisor, &[]));
        a.index(4, &session("lin", Role::Liaison, &["C"]));
        a.index(5, &session("dee", Role::Supervisor, &["B"]));

        let in_a = change(vec![touched(Some("A"), Some("bob"), None)], &[]);
        assert_eq!(ids(a.concerned(&in_a)), [1, 2, 3], "cell, reporter, city");
        let task = change(vec![touched(Some("Z"), None, Some("lin"))], &[]);
        assert_eq!(ids(a.concerned(&task)), [3, 4], "the assignee, anywhere");
        let rescoped = change(vec![], &["dee"]);
        assert_eq!(
            ids(a.concerned(&rescoped)),
            [5],
            "a user's scope, no report"
        );
    }

    #[test]
    fn a_replaced_session_is_found_under_its_new_cells_only() {
        let mut a = Audience::default();
        a.index(1, &session("ann", Role::Warden, &["A"]));
        a.index(1, &session("ann", Role::Warden, &["B"]));
        let in_a = change(vec![touched(Some("A"), None, None)], &[]);
        let in_b = change(vec![touched(Some("B"), None, None)], &[]);
        assert!(a.concerned(&in_a).is_empty());
        assert_eq!(ids(a.concerned(&in_b)), [1]);
    }

    #[test]
    fn a_removed_connection_leaves_nothing_behind() {
        let mut a = Audience::default();
        a.index(7, &session("sam", Role::Supervisor, &[]));
        a.index(8, &session("ann", Role::Warden, &["A", "B"]));
        a.remove(7);
        a.remove(8);
        a.remove(9);
        let anything = change(vec![touched(Some("A"), Some("ann"), None)], &["ann"]);
        assert!(a.concerned(&anything).is_empty());
        assert!(a.by_cell.is_empty() && a.by_user.is_empty() && a.keys.is_empty());
    }
}
