//! Who may do what, in one place. Every decision the service makes about a
//! user and a thing (a report, a patrol, a photo) asks [`check`]; the table
//! test below lists every role × action × ownership × scope and the answer.
//!
//! Wardens and liaisons work in their grid cells: they write only what they
//! own and read their own things and what lies in their cells. Supervisors
//! and admins read and correct everything in their district — the cells
//! they were given — or in the whole city when they were given none. Admin actions (users, devices,
//! layers, categories) are never served over the network: they are the
//! `gridwarden-server` command line on the server machine.

use gridwarden_protocol::{ErrorCode, Role};

/// What a user wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Record a new report (the user becomes its owner).
    CreateReport,
    /// Change a report's fields.
    EditReport,
    DeleteReport,
    /// Attach photos to a report, or upload a photo a report refers to.
    AttachPhoto,
    /// Receive a report in a pull, or download one of its photos.
    ReadReport,
    /// Start, extend or stop a patrol (the user becomes its owner on start).
    RecordPatrol,
    /// See a patrol's track and summary.
    ReviewPatrol,
    /// List every warden's patrols at once.
    ListAllPatrols,
    /// Users, devices, grid layers, categories: command line only.
    Administer,
    /// Change the fields of a report whose case is registered or later:
    /// cases carry legal weight, so only a supervisor of its district.
    ChangeLiveCase,
    /// Delete a report whose case is registered or later: nobody (a
    /// supervisor closes or rejects the case instead).
    DeleteLiveCase,
    /// Move a registered case to a location in the target cell: never out
    /// of the district of the supervisor moving it.
    MoveCaseInto,
    /// Be named to verify a case in the target cell: a warden or liaison
    /// who holds that cell.
    VerifyCase,
}

pub const ACTIONS: [Action; 13] = [
    Action::CreateReport,
    Action::EditReport,
    Action::DeleteReport,
    Action::AttachPhoto,
    Action::ReadReport,
    Action::RecordPatrol,
    Action::ReviewPatrol,
    Action::ListAllPatrols,
    Action::Administer,
    Action::ChangeLiveCase,
    Action::DeleteLiveCase,
    Action::MoveCaseInto,
    Action::VerifyCase,
];

/// The user acting.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub user: &'a str,
    pub role: Role,
    pub cells: &'a [String],
}

/// The thing acted on: who owns it (the reporter, the patrolling warden)
/// and the grid cell it lies in, where those are known.
#[derive(Clone, Copy, Debug, Default)]
pub struct Target<'a> {
    pub owner: Option<&'a str>,
    pub cell: Option<&'a str>,
}

/// A refusal, with the sentence its user reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub code: ErrorCode,
    pub reason: String,
}

impl Actor<'_> {
    fn owns(&self, target: &Target) -> bool {
        target.owner == Some(self.user)
    }

    fn covers(&self, target: &Target) -> bool {
        target
            .cell
            .is_some_and(|cell| self.cells.iter().any(|c| c == cell))
    }
}

/// Whether `actor` may do `action` to `target`.
pub fn check(actor: &Actor, action: Action, target: &Target) -> Result<(), Denied> {
    // A supervisor given grid cells oversees that district; one without
    // cells, the whole city.
    let oversees = actor.role.sees_everything() && (actor.cells.is_empty() || actor.covers(target));
    let owner = target.owner.unwrap_or("another user");
    let deny = |code, reason: String| Err(Denied { code, reason });
    match action {
        Action::CreateReport => Ok(()),
        Action::RecordPatrol if target.owner.is_none() || actor.owns(target) => Ok(()),
        Action::RecordPatrol => deny(
            ErrorCode::Forbidden,
            format!("this patrol belongs to {owner}; each warden records only their own"),
        ),
        Action::EditReport | Action::DeleteReport | Action::AttachPhoto
            if oversees || actor.owns(target) =>
        {
            Ok(())
        }
        Action::EditReport | Action::DeleteReport | Action::AttachPhoto => deny(
            ErrorCode::Forbidden,
            format!("only {owner} (the reporter) or a supervisor may change this report"),
        ),
        Action::ReadReport if oversees || actor.owns(target) || actor.covers(target) => Ok(()),
        Action::ReadReport => deny(
            ErrorCode::NotFound,
            "this report is not in your grid cells".into(),
        ),
        // Patrols have no cell: a supervisor reviews every warden's.
        Action::ReviewPatrol if actor.role.sees_everything() || actor.owns(target) => Ok(()),
        Action::ReviewPatrol => deny(
            ErrorCode::Forbidden,
            format!("only a supervisor may review {owner}'s patrols; you see your own"),
        ),
        Action::ListAllPatrols if actor.role.sees_everything() => Ok(()),
        Action::ListAllPatrols => deny(
            ErrorCode::Forbidden,
            "only a supervisor may list every warden's patrols; you see your own".into(),
        ),
        Action::ChangeLiveCase | Action::MoveCaseInto if oversees => Ok(()),
        Action::ChangeLiveCase => deny(
            ErrorCode::Forbidden,
            "this report is a registered case: only a supervisor of its district may change it now (cases carry legal weight)".into(),
        ),
        Action::MoveCaseInto => deny(
            ErrorCode::Forbidden,
            "a registered case stays in your district: the new location lies outside it".into(),
        ),
        Action::DeleteLiveCase => deny(
            ErrorCode::Forbidden,
            "this report is a registered case and cannot be deleted; a supervisor may close or reject the case instead".into(),
        ),
        Action::VerifyCase
            if matches!(actor.role, Role::Warden | Role::Liaison) && actor.covers(target) =>
        {
            Ok(())
        }
        Action::VerifyCase => deny(
            ErrorCode::Forbidden,
            format!(
                "{} does not hold this case's grid cell; name a warden or liaison of cell {}",
                actor.user,
                target.cell.unwrap_or("(none)")
            ),
        ),
        Action::Administer => deny(
            ErrorCode::Forbidden,
            "administration is done with `gridwarden-server` on the server, not from a device"
                .into(),
        ),
    }
}

/// Whether a pull is limited to the user's cells and own reports (the
/// store applies the same rule as [`Action::ReadReport`] in its query):
/// always for wardens and liaisons, for supervisors given a district.
pub fn pull_is_scoped(role: Role, has_cells: bool) -> bool {
    !role.sees_everything() || has_cells
}

#[cfg(test)]
mod tests;
