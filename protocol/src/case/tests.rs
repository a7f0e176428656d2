use proptest::prelude::*;

use super::*;

const HOUR: i64 = 3_600_000;

fn supervisor(user: &str) -> CaseActor<'_> {
    CaseActor {
        user,
        role: Role::Supervisor,
        department: None,
        covers_cell: false,
    }
}

fn field(user: &str, role: Role, covers_cell: bool) -> CaseActor<'_> {
    CaseActor {
        user,
        role,
        department: None,
        covers_cell,
    }
}

fn at(actor: CaseActor<'_>, server_ms: i64) -> Applying<'_> {
    Applying {
        actor,
        device: Uuid::from_u128(7),
        device_ms: server_ms - 1_000,
        server_ms,
        next_deadline_ms: Some(server_ms + 8 * HOUR),
    }
}

fn dispatch(department: &str) -> CaseOp {
    CaseOp::Dispatch {
        department: department.into(),
        note: String::new(),
    }
}

fn dispose() -> CaseOp {
    CaseOp::Dispose {
        note: "fixed".into(),
        photos: vec![],
    }
}

fn verify(passed: bool) -> CaseOp {
    CaseOp::Verify {
        passed,
        note: String::new(),
        photos: vec![],
    }
}

fn note(text: &str) -> String {
    text.to_owned()
}

#[test]
fn a_case_runs_the_whole_loop_with_a_rework_and_keeps_every_step() {
    let mut case = CaseState::reported(Uuid::from_u128(1), Some(HOUR));
    let sam = supervisor("sam");
    let lee = field("lee", Role::Liaison, true);
    case.transition(&CaseOp::Register { note: note("ok") }, at(sam, 10))
        .unwrap();
    case.transition(&dispatch("water"), at(sam, 20)).unwrap();
    assert_eq!(case.deadline_ms, Some(20 + 8 * HOUR));
    assert_eq!(case.department.as_deref(), Some("water"));
    // The department's own user reports disposal.
    let water = CaseActor {
        user: "wu",
        role: Role::Warden,
        department: Some("water"),
        covers_cell: false,
    };
    case.transition(&dispose(), at(water, 30)).unwrap();
    case.transition(&CaseOp::SendForVerification { verifier: None }, at(sam, 40))
        .unwrap();
    case.transition(&verify(false), at(lee, 50)).unwrap();
    assert_eq!((case.status, case.reworks), (CaseStatus::Dispatched, 1));
    assert_eq!(
        case.deadline_ms,
        Some(50 + 8 * HOUR),
        "rework gets a new deadline"
    );
    case.transition(&dispose(), at(sam, 60)).unwrap();
    case.transition(
        &CaseOp::SendForVerification {
            verifier: Some("lee".into()),
        },
        at(sam, 70),
    )
    .unwrap();
    case.transition(&verify(true), at(lee, 80)).unwrap();
    case.transition(&CaseOp::Close { note: note("done") }, at(sam, 90))
        .unwrap();
    assert_eq!(case.status, CaseStatus::Closed);
    assert!(!case.disposal_late);
    let steps: Vec<_> = case
        .history
        .iter()
        .map(|t| (t.from, t.to, t.by.as_str()))
        .collect();
    use CaseStatus::*;
    assert_eq!(
        steps,
        [
            (Reported, Registered, "sam"),
            (Registered, Dispatched, "sam"),
            (Dispatched, Disposed, "wu"),
            (Disposed, Verifying, "sam"),
            (Verifying, Dispatched, "lee"),
            (Dispatched, Disposed, "sam"),
            (Disposed, Verifying, "sam"),
            (Verifying, Verified, "lee"),
            (Verified, Closed, "sam"),
        ]
    );
    assert!(case.history.iter().all(|t| t.device_ms < t.server_ms));
}

#[test]
fn the_second_of_two_concurrent_supervisors_is_told_what_happened() {
    let mut case = CaseState::reported(Uuid::from_u128(1), None);
    case.transition(
        &CaseOp::Register { note: note("") },
        at(supervisor("sam"), 10),
    )
    .unwrap();
    let before = case.clone();
    let err = case
        .transition(
            &CaseOp::Reject {
                reason: note("dup"),
            },
            at(supervisor("sue"), 11),
        )
        .unwrap_err();
    assert_eq!(
        err,
        CaseRefusal::WrongStatus(
            "cannot reject a case that is registered (register by sam at server time 10)".into()
        )
    );
    assert_eq!(case, before, "a refusal changes nothing");
}

#[test]
fn roles_are_held_to_their_steps() {
    let ann = field("ann", Role::Warden, true);
    let mut case = CaseState::reported(Uuid::from_u128(1), None);
    let err = case
        .transition(&CaseOp::Register { note: note("") }, at(ann, 10))
        .unwrap_err();
    assert!(
        matches!(&err, CaseRefusal::NotAllowed(m) if m.contains("only a supervisor may register")),
        "{err:?}"
    );
    case.transition(
        &CaseOp::Register { note: note("") },
        at(supervisor("sam"), 10),
    )
    .unwrap();
    case.transition(&dispatch("roads"), at(supervisor("sam"), 20))
        .unwrap();
    // Another department's user may not report disposal.
    let water = CaseActor {
        user: "wu",
        role: Role::Warden,
        department: Some("water"),
        covers_cell: false,
    };
    let err = case.transition(&dispose(), at(water, 30)).unwrap_err();
    assert!(matches!(err, CaseRefusal::NotAllowed(_)), "{err:?}");
    case.transition(&dispose(), at(supervisor("sam"), 30))
        .unwrap();
    case.transition(
        &CaseOp::SendForVerification {
            verifier: Some("lee".into()),
        },
        at(supervisor("sam"), 40),
    )
    .unwrap();
    // Named verifier only; a supervisor does not verify in the field.
    for actor in [ann, supervisor("sam")] {
        let err = case.transition(&verify(true), at(actor, 50)).unwrap_err();
        assert!(matches!(err, CaseRefusal::NotAllowed(_)), "{err:?}");
    }
    case.transition(&verify(true), at(field("lee", Role::Liaison, false), 50))
        .unwrap();
    let err = case
        .transition(&CaseOp::Close { note: note("") }, at(ann, 60))
        .unwrap_err();
    assert!(
        matches!(err, CaseRefusal::NotAllowed(_)),
        "a warden may not close"
    );
}

#[test]
fn a_late_disposal_is_remembered_and_overdue_is_read_against_the_deadline() {
    let sam = supervisor("sam");
    let mut case = CaseState::reported(Uuid::from_u128(1), Some(100));
    assert!(case.is_overdue(101) && !case.is_overdue(100));
    case.transition(&CaseOp::Register { note: note("") }, at(sam, 50))
        .unwrap();
    assert!(!case.is_overdue(i64::MAX), "no deadline while registered");
    case.transition(&dispatch("roads"), at(sam, 60)).unwrap();
    let deadline = case.deadline_ms.unwrap();
    case.transition(&dispatch("water"), at(sam, 70)).unwrap();
    assert_eq!(
        case.deadline_ms,
        Some(deadline),
        "a redirect keeps the clock"
    );
    assert!(case.is_overdue(deadline + 1));
    case.transition(&dispose(), at(sam, deadline + 1)).unwrap();
    assert!(case.disposal_late);
}

#[test]
fn closed_and_rejected_cases_can_be_reopened() {
    let sam = supervisor("sam");
    let mut case = CaseState::reported(Uuid::from_u128(1), None);
    case.transition(
        &CaseOp::Reject {
            reason: note("duplicate"),
        },
        at(sam, 1),
    )
    .unwrap();
    case.transition(
        &CaseOp::Reopen {
            reason: note("not a duplicate"),
        },
        at(sam, 2),
    )
    .unwrap();
    assert_eq!(case.status, CaseStatus::Registered);
    let err = case
        .transition(&CaseOp::Reopen { reason: note("") }, at(sam, 3))
        .unwrap_err();
    assert!(matches!(err, CaseRefusal::WrongStatus(_)));
}

fn arb_op() -> impl Strategy<Value = CaseOp> {
    prop_oneof![
        Just(CaseOp::Register { note: note("") }),
        Just(CaseOp::Reject { reason: note("r") }),
        Just(dispatch("roads")),
        Just(dispatch("water")),
        Just(dispose()),
        Just(CaseOp::SendForVerification { verifier: None }),
        Just(verify(true)),
        Just(verify(false)),
        Just(CaseOp::Close { note: note("") }),
        Just(CaseOp::Reopen { reason: note("") }),
        Just(CaseOp::Postpone {
            reason: note("rain"),
            extension: crate::category::TimeLimit::WorkingDays(2)
        }),
    ]
}

proptest! {
    /// Whatever ops arrive, the history is a chain (each step starts where
    /// the last ended), only allowed steps are kept, and merging the states
    /// a replica saw along the way, in any order, gives the final one.
    #[test]
    fn histories_chain_and_replicas_converge(
        ops in prop::collection::vec((arb_op(), 0usize..3), 0..40),
        order in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let actors = [
            supervisor("sam"),
            field("lee", Role::Liaison, true),
            CaseActor { user: "wu", role: Role::Warden, department: Some("roads"), covers_cell: false },
        ];
        let mut case = CaseState::reported(Uuid::from_u128(1), Some(5));
        let mut seen = vec![case.clone()];
        for (i, (op, who)) in ops.iter().enumerate() {
            let before = case.clone();
            match case.transition(op, at(actors[*who], i as i64 * 10)) {
                Ok(()) => prop_assert_eq!(case.history.len(), before.history.len() + 1),
                Err(_) => prop_assert_eq!(&case, &before),
            }
            seen.push(case.clone());
        }
        let mut status = CaseStatus::Reported;
        for t in &case.history {
            prop_assert_eq!(t.from, status);
            status = t.to;
        }
        prop_assert_eq!(status, case.status);
        let mut replica = CaseState::reported(Uuid::from_u128(1), Some(5));
        for idx in &order {
            replica.merge(idx.get(&seen));
        }
        for s in &seen {
            replica.merge(s);
        }
        prop_assert_eq!(&replica, &case);
    }
}

/// Every role × every step, from a status where the machine allows the
/// step, with and without the user covering the case's cell or working for
/// its department: who may take it.
#[test]
fn who_may_take_each_step_as_a_table() {
    use CaseStatus::*;
    // (op, status it starts from, verifier named, who may: W L S A as
    // [plain, covering the cell, in the case's department]).
    let table: [(CaseOp, CaseStatus, Option<&str>, [&str; 4]); 11] = [
        (
            CaseOp::Register { note: note("") },
            Reported,
            None,
            ["...", "...", "YYY", "YYY"],
        ),
        (
            CaseOp::Reject { reason: note("r") },
            Reported,
            None,
            ["...", "...", "YYY", "YYY"],
        ),
        (
            dispatch("roads"),
            Registered,
            None,
            ["...", "...", "YYY", "YYY"],
        ),
        (dispose(), Dispatched, None, ["..Y", "..Y", "YYY", "YYY"]),
        (
            CaseOp::Postpone {
                reason: note("r"),
                extension: crate::category::TimeLimit::WorkingDays(1),
            },
            Dispatched,
            None,
            ["...", "...", "YYY", "YYY"],
        ),
        (
            CaseOp::SendForVerification { verifier: None },
            Disposed,
            None,
            ["...", "...", "YYY", "YYY"],
        ),
        (verify(true), Verifying, None, [".Y.", ".Y.", "...", "..."]),
        (verify(false), Verifying, None, [".Y.", ".Y.", "...", "..."]),
        (
            verify(true),
            Verifying,
            Some("someone else"),
            ["...", "...", "...", "..."],
        ),
        (
            CaseOp::Close { note: note("") },
            Verified,
            None,
            ["...", "...", "YYY", "YYY"],
        ),
        (
            CaseOp::Reopen { reason: note("r") },
            Closed,
            None,
            ["...", "...", "YYY", "YYY"],
        ),
    ];
    let roles = [Role::Warden, Role::Liaison, Role::Supervisor, Role::Admin];
    for (op, status, verifier, answers) in table {
        for (role, expected) in roles.iter().zip(answers) {
            let situations = [(false, None), (true, None), (false, Some("roads"))];
            for ((covers_cell, department), allowed) in situations.iter().zip(expected.chars()) {
                let mut case = CaseState::reported(Uuid::from_u128(1), None);
                case.status = status;
                case.department = Some("roads".into());
                case.verifier = verifier.map(str::to_owned);
                let actor = CaseActor {
                    user: "ann",
                    role: *role,
                    department: *department,
                    covers_cell: *covers_cell,
                };
                let got = case.transition(&op, at(actor, 10));
                assert_eq!(
                    got.is_ok(),
                    allowed == 'Y',
                    "{role} {} from {status} (cell {covers_cell}, dept {department:?}): {got:?}",
                    op.name()
                );
                if let Err(refusal) = got {
                    assert!(matches!(refusal, CaseRefusal::NotAllowed(_)), "{refusal:?}");
                }
            }
        }
    }
}

fn amendment() -> CaseOp {
    CaseOp::Amend {
        category: Some(("0101".into(), "0203".into())),
        location: None,
    }
}

#[test]
fn an_amendment_keeps_status_and_deadline_and_is_never_a_devices_step() {
    let mut case = CaseState::reported(Uuid::from_u128(1), Some(HOUR));
    case.transition(
        &CaseOp::Register {
            note: note("立案")
        },
        at(supervisor("li"), 10),
    )
    .unwrap();
    case.transition(&dispatch("water"), at(supervisor("li"), 20))
        .unwrap();
    let before = case.clone();
    case.amend(amendment(), at(supervisor("li"), 30)).unwrap();
    assert_eq!(case.status, CaseStatus::Dispatched);
    assert_eq!(case.deadline_ms, before.deadline_ms);
    let last = case.history.last().unwrap();
    assert_eq!(
        (last.from, last.to),
        (CaseStatus::Dispatched, CaseStatus::Dispatched)
    );
    assert_eq!(last.deadline_ms, None);
    assert_eq!(last.op.detail(), "category 0101 → 0203");
    // The join keeps the longer history whichever arrives first.
    let mut old = before.clone();
    old.merge(&case);
    assert_eq!(old, case);
    let mut new = case.clone();
    new.merge(&before);
    assert_eq!(new, case);
    // A device cannot send one: the machine and validation refuse it.
    assert!(case.next_status(&amendment()).is_none());
    assert!(crate::validate::case_op(&amendment()).is_err());
    assert!(case
        .transition(&amendment(), at(supervisor("li"), 40))
        .is_err());
    assert!(case.amend(dispose(), at(supervisor("li"), 40)).is_err());
}
