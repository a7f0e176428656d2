//! The access rules as a table: every role × every action × whether the
//! user owns the thing × whether it lies in the user's cells.

use super::*;

/// The users of the table: a role and whether they were given grid cells
/// (a warden's or liaison's scope; a supervisor's district).
const USERS: [(Role, bool); 6] = [
    (Role::Warden, true),
    (Role::Liaison, true),
    (Role::Supervisor, true),
    (Role::Supervisor, false),
    (Role::Admin, true),
    (Role::Admin, false),
];

/// Per action, per user above (warden, liaison, district supervisor, city
/// supervisor, district admin, city admin), the answer for (own, in my
/// cells) (own, outside) (another's, in my cells) (another's, outside):
/// `Y` allowed, `.` refused.
const TABLE: [(Action, [&str; 6]); 13] = [
    (
        Action::CreateReport,
        ["YYYY", "YYYY", "YYYY", "YYYY", "YYYY", "YYYY"],
    ),
    (
        Action::EditReport,
        ["YY..", "YY..", "YYY.", "YYYY", "YYY.", "YYYY"],
    ),
    (
        Action::DeleteReport,
        ["YY..", "YY..", "YYY.", "YYYY", "YYY.", "YYYY"],
    ),
    (
        Action::AttachPhoto,
        ["YY..", "YY..", "YYY.", "YYYY", "YYY.", "YYYY"],
    ),
    (
        Action::ReadReport,
        ["YYY.", "YYY.", "YYY.", "YYYY", "YYY.", "YYYY"],
    ),
    (
        Action::RecordPatrol,
        ["YY..", "YY..", "YY..", "YY..", "YY..", "YY.."],
    ),
    (
        Action::ReviewPatrol,
        ["YY..", "YY..", "YYYY", "YYYY", "YYYY", "YYYY"],
    ),
    (
        Action::ListAllPatrols,
        ["....", "....", "YYYY", "YYYY", "YYYY", "YYYY"],
    ),
    (
        Action::Administer,
        ["....", "....", "....", "....", "....", "...."],
    ),
    (
        Action::ChangeLiveCase,
        ["....", "....", "Y.Y.", "YYYY", "Y.Y.", "YYYY"],
    ),
    (
        Action::DeleteLiveCase,
        ["....", "....", "....", "....", "....", "...."],
    ),
    (
        Action::MoveCaseInto,
        ["....", "....", "Y.Y.", "YYYY", "Y.Y.", "YYYY"],
    ),
    (
        Action::VerifyCase,
        ["Y.Y.", "Y.Y.", "....", "....", "....", "...."],
    ),
];

const IN_CELL: &str = "990102001001007";
const OUT_CELL: &str = "990102001001050";

#[test]
fn every_role_action_ownership_and_scope_gets_the_answer_in_the_table() {
    let district = vec![IN_CELL.to_string()];
    let mut checked = 0;
    for (action, per_user) in TABLE {
        for ((role, has_cells), answers) in USERS.iter().zip(per_user) {
            let actor = Actor {
                user: "ann",
                role: *role,
                cells: if *has_cells { &district } else { &[] },
            };
            let cases = [
                ("ann", IN_CELL),
                ("ann", OUT_CELL),
                ("bob", IN_CELL),
                ("bob", OUT_CELL),
            ];
            for ((owner, cell), expected) in cases.iter().zip(answers.chars()) {
                let target = Target {
                    owner: Some(owner),
                    cell: Some(cell),
                };
                let got = check(&actor, action, &target);
                assert_eq!(
                    got.is_ok(),
                    expected == 'Y',
                    "{role} (cells: {has_cells}) {action:?} on {owner}'s thing in {cell}: {got:?}"
                );
                if let Err(denied) = got {
                    assert!(
                        matches!(denied.code, ErrorCode::Forbidden | ErrorCode::NotFound),
                        "{denied:?}"
                    );
                    assert!(!denied.reason.is_empty());
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, ACTIONS.len() * USERS.len() * 4);
}

#[test]
fn the_table_lists_every_action_once() {
    let listed: Vec<Action> = TABLE.iter().map(|(a, _)| *a).collect();
    assert_eq!(listed, ACTIONS);
}

#[test]
fn refusals_name_the_owner_so_the_user_knows_whom_to_ask() {
    let cells = vec![];
    let ann = Actor {
        user: "ann",
        role: Role::Warden,
        cells: &cells,
    };
    let bobs = Target {
        owner: Some("bob"),
        cell: Some(OUT_CELL),
    };
    let edit = check(&ann, Action::EditReport, &bobs).unwrap_err();
    assert!(
        edit.reason
            .contains("only bob (the reporter) or a supervisor"),
        "{edit:?}"
    );
    let review = check(&ann, Action::ReviewPatrol, &bobs).unwrap_err();
    assert!(review.reason.contains("bob's patrols"), "{review:?}");
}

#[test]
fn a_new_patrol_or_report_has_no_owner_yet_and_may_be_started() {
    let cells = vec![];
    let ann = Actor {
        user: "ann",
        role: Role::Liaison,
        cells: &cells,
    };
    assert!(check(&ann, Action::RecordPatrol, &Target::default()).is_ok());
    assert!(check(&ann, Action::CreateReport, &Target::default()).is_ok());
    // A thing without a cell (outside every cell) is read by its owner and
    // by supervisors only.
    let unplaced = Target {
        owner: Some("bob"),
        cell: None,
    };
    assert!(check(&ann, Action::ReadReport, &unplaced).is_err());
}

#[test]
fn pulls_are_scoped_exactly_for_the_users_that_may_not_read_everything() {
    let district = vec![IN_CELL.to_string()];
    for (role, has_cells) in USERS {
        let actor = Actor {
            user: "ann",
            role,
            cells: if has_cells { &district } else { &[] },
        };
        let elsewhere = Target {
            owner: Some("bob"),
            cell: Some(OUT_CELL),
        };
        let reads_all = check(&actor, Action::ReadReport, &elsewhere).is_ok();
        assert_eq!(
            pull_is_scoped(role, has_cells),
            !reads_all,
            "{role} {has_cells}"
        );
    }
}
