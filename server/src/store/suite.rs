//! The behaviour every [`Store`] backend must show, as one public function
//! per case. A backend's tests expand [`store_suite!`](crate::store_suite)
//! with a constructor: one named `#[test]` per case, each with a fresh
//! directory and store, so a failure names its case and the others still
//! run. Public (not `cfg(test)`) so a backend in another crate can run it.
// Test code compiled into the library so every backend's tests can run it:
// a failed unwrap is the failure report.
#![allow(clippy::unwrap_used)]

use gridwarden_protocol::case::{Applying, CaseActor, CaseOp, CaseState, CaseStatus};
use gridwarden_protocol::category::{Category, CategoryTable, Family};
use gridwarden_protocol::{
    ErrorCode, Hlc, Location, NewPatrol, NewReport, Op, OpBody, Outcome, PatrolInfo, PatrolOp,
    PhotoHash, PhotoRef, ReportOp, ReportState, Role, TrackPoint,
};
use uuid::Uuid;

use super::console::ConsoleLink;
use super::identity::Enrolment;
use super::*;

mod concurrency;
mod open311;

pub use concurrency::writers_and_readers_never_skip;
pub use open311::{
    keys_are_audited as open311_keys_are_audited, requests_are_kept_once as open311_requests_once,
};

fn user(name: &str, role: Role, cells: &[&str]) -> User {
    User {
        name: name.into(),
        role,
        cells: cells.iter().map(|c| c.to_string()).collect(),
        disabled: false,
    }
}

fn device(id: u128, user: &str) -> Device {
    Device {
        id: Uuid::from_u128(id),
        user: user.into(),
        label: "test phone".into(),
        token_hash: [id as u8; 32],
        enrolled_ms: 0,
        revoked_ms: None,
        last_seen_ms: None,
    }
}

fn create(op: u128, report: u128, lon: f64) -> Op {
    Op {
        op_id: Uuid::from_u128(op),
        hlc: Hlc::new(1000 + op as u64, 0, 1),
        body: OpBody::Report {
            report_id: Uuid::from_u128(report),
            op: ReportOp::Create(NewReport {
                category: "0101".into(),
                location: Location {
                    lon,
                    lat: 40.0,
                    accuracy_m: None,
                },
                address: None,
                note: String::new(),
                observed_at_ms: 0,
                patrol: None,
                asset: None,
            }),
        },
    }
}

/// A decide rule like the service's: apply, and put reports west of 0° in
/// cell "W", east in "E".
fn decide_with_cells(op: &Op, current: Option<&ReportState>) -> Result<ReportState, Rejection> {
    let OpBody::Report { report_id, op: rop } = &op.body else {
        panic!("a report op")
    };
    let mut state = current
        .cloned()
        .unwrap_or_else(|| ReportState::empty(*report_id));
    state.apply(rop, op.hlc, "ann", Uuid::from_u128(7));
    if let Some(loc) = state.location() {
        let cell = if loc.lon < 0.0 { "W" } else { "E" };
        state.set_grid_cell(Some(cell.into()), Hlc::new(op.hlc.wall_ms, 0, 0));
    }
    Ok(state)
}

/// A patrol rule like the service's, without the ownership checks.
fn decide_patrol(op: &Op, current: Option<&StoredPatrol>) -> Result<PatrolChange, Rejection> {
    let OpBody::Patrol { patrol_id, op: pop } = &op.body else {
        panic!("a patrol op")
    };
    let mut info = match (current, pop) {
        (Some(c), _) => c.info.clone(),
        (None, PatrolOp::Start(start)) => PatrolInfo {
            id: *patrol_id,
            warden: "ann".into(),
            device: Uuid::from_u128(7),
            started_at_ms: start.started_at_ms,
            ended_at_ms: None,
            note: start.note.clone(),
        },
        (None, _) => return Err(Rejection::new(ErrorCode::NotFound, "no such patrol")),
    };
    let points = match pop {
        PatrolOp::Points(points) => points.clone(),
        PatrolOp::Stop { ended_at_ms } => {
            info.stop(*ended_at_ms);
            vec![]
        }
        PatrolOp::Start(_) => vec![],
    };
    Ok(PatrolChange { info, points })
}

/// A stand-in for the service's case rules: any op moves the case by the
/// state machine, as a supervisor, at server time 1,000.
fn decide_case(
    op: &Op,
    report: Option<&ReportState>,
    case: Option<&CaseState>,
) -> Result<CaseState, Rejection> {
    let OpBody::Case { op: case_op, .. } = &op.body else {
        unreachable!("case ops only")
    };
    let report = report.ok_or_else(|| Rejection::new(ErrorCode::NotFound, "no such report"))?;
    let mut next = case
        .cloned()
        .unwrap_or_else(|| CaseState::reported(report.id, None));
    let applying = Applying {
        actor: CaseActor {
            user: "sam",
            role: Role::Supervisor,
            department: None,
            covers_cell: false,
        },
        device: Uuid::from_u128(8),
        device_ms: op.hlc.wall_ms as i64,
        server_ms: 1_000,
        next_deadline_ms: Some(5_000),
    };
    next.transition(case_op, applying)
        .map_err(|r| Rejection::new(ErrorCode::Conflict, r.to_string()))?;
    Ok(next)
}

fn rules<'a>(report: &'a Decide<'a>) -> Rules<'a> {
    Rules {
        case: &decide_case,
        report,
        patrol: &decide_patrol,
        track: &|_, _, after| after.len().to_le_bytes().to_vec(),
        amend: &|_, _, _, _| Ok(None),
    }
}

fn reports(page: &Page) -> Vec<&ReportState> {
    page.items
        .iter()
        .map(|item| match item {
            FeedItem::Report(r) => r,
            FeedItem::OutOfScope(id) => panic!("unexpected out-of-scope notice for {id}"),
        })
        .collect()
}

pub fn users(s: &dyn Store) {
    s.add_user(&user("ann", Role::Warden, &["A", "B"]), 1)
        .unwrap();
    s.add_user(&user("sam", Role::Supervisor, &[]), 1).unwrap();
    assert!(matches!(
        s.add_user(&user("ann", Role::Liaison, &[]), 2),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.user("ann").unwrap().unwrap(),
        user("ann", Role::Warden, &["A", "B"])
    );
    assert_eq!(s.user("nobody").unwrap(), None);
    let names: Vec<_> = s.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["ann", "sam"]);
}

/// Uses an enrolment code in one unit of work, the way the service does:
/// the code's row as found, and the device registered only if the code was
/// unused (the service's other rules are not the store's business).
fn redeem(s: &dyn Store, hash: [u8; 32], device: &Device, now_ms: i64) -> Option<Enrolment> {
    write(s, |tx| {
        let found = tx.enrolment(hash)?;
        if found.as_ref().is_some_and(|e| e.used_ms.is_none()) {
            tx.use_enrolment(hash, device, now_ms)?;
        }
        Ok(found)
    })
    .unwrap()
}

pub fn user_cells_are_replaced(s: &dyn Store) {
    s.add_user(&user("ann", Role::Warden, &["B", "A"]), 1)
        .unwrap();
    let changed = write(s, |tx| tx.set_user_cells("ann", &["C".into(), "A".into()])).unwrap();
    assert_eq!(changed.cells, ["A", "C"]);
    assert_eq!(s.user("ann").unwrap().unwrap().cells, ["A", "C"]);
    assert!(matches!(
        write(s, |tx| tx.set_user_cells("zed", &[])),
        Err(StoreError::NotFound(Missing::User(u))) if u == "zed"
    ));
    let none = write(s, |tx| tx.set_user_cells("ann", &[])).unwrap();
    assert!(none.cells.is_empty());
    assert!(s.user("ann").unwrap().unwrap().cells.is_empty());
}

/// A user's cells changed by another process reach the open connections
/// that the server rescopes when the auth epoch moves (ADR 0041).
pub fn changed_cells_move_the_auth_epoch(s: &dyn Store) {
    s.add_user(&user("ann", Role::Warden, &["A"]), 1).unwrap();
    let before = s.auth_epoch().unwrap();
    write(s, |tx| tx.set_user_cells("ann", &["A".into(), "B".into()])).unwrap();
    let after = s.auth_epoch().unwrap();
    assert!(after > before, "changed cells move the epoch");
    // Refused (no such user): nothing moves.
    assert!(write(s, |tx| tx.set_user_cells("zed", &["A".into()])).is_err());
    assert_eq!(s.auth_epoch().unwrap(), after);
}

pub fn enrolment_works_once(s: &dyn Store) {
    s.add_user(&user("ann", Role::Warden, &[]), 1).unwrap();
    assert!(matches!(
        s.create_enrolment("zed", [1; 32], 0, 100),
        Err(StoreError::NotFound(Missing::User(u))) if u == "zed"
    ));
    s.create_enrolment("ann", [1; 32], 0, 100).unwrap();
    let got = redeem(s, [1; 32], &device(5, "ann"), 10).unwrap();
    assert_eq!(
        got,
        Enrolment {
            user: "ann".into(),
            created_ms: 0,
            expires_ms: 100,
            used_ms: None,
            device: None,
        }
    );
    let again = redeem(s, [1; 32], &device(6, "ann"), 11).unwrap();
    assert_eq!(again.used_ms, Some(10), "the store tells the code was used");
    assert_eq!(
        again.device,
        Some(Uuid::from_u128(5)),
        "and which device it enrolled"
    );
    assert!(
        s.device(Uuid::from_u128(6)).unwrap().is_none(),
        "a refused enrolment registers nothing"
    );
    assert_eq!(redeem(s, [9; 32], &device(7, "ann"), 11), None);
    let d = s.device(Uuid::from_u128(5)).unwrap().unwrap();
    assert_eq!((d.user.as_str(), d.token_hash), ("ann", [5; 32]));
    assert_eq!(d.enrolled_ms, 10);
    s.touch_device(d.id, 50).unwrap();
    assert_eq!(s.devices().unwrap()[0].last_seen_ms, Some(50));
    // A retried enrolment replaces the token the lost answer carried.
    write(s, |tx| tx.set_device_token(d.id, [8; 32])).unwrap();
    assert_eq!(s.device(d.id).unwrap().unwrap().token_hash, [8; 32]);
}

pub fn enrolment_expires(s: &dyn Store) {
    s.add_user(&user("ann", Role::Warden, &[]), 1).unwrap();
    s.create_enrolment("ann", [2; 32], 0, 100).unwrap();
    let found = write(s, |tx| tx.enrolment([2; 32])).unwrap().unwrap();
    assert_eq!(found.expires_ms, 100, "the store answers the expiry");
    assert!(s.devices().unwrap().is_empty());
}

fn audit(at_ms: i64, action: &str, subject: &str) -> AuditRecord {
    AuditRecord {
        at_ms,
        actor: "cli:root@host".into(),
        device: None,
        action: action.into(),
        subject: subject.into(),
        detail: String::new(),
    }
}

pub fn revocation_and_disabling_are_audited(s: &dyn Store) {
    s.add_user(&user("ann", Role::Warden, &[]), 1).unwrap();
    s.create_enrolment("ann", [1; 32], 0, 100).unwrap();
    redeem(s, [1; 32], &device(5, "ann"), 10).unwrap();
    let id = Uuid::from_u128(5);
    let epoch = s.auth_epoch().unwrap();

    let revoked = s
        .revoke_device(id, &audit(20, "device.revoke", &id.to_string()))
        .unwrap();
    assert_eq!(revoked.revoked_ms, Some(20));
    assert_eq!(s.device(id).unwrap().unwrap().revoked_ms, Some(20));
    let after_revoke = s.auth_epoch().unwrap();
    assert!(after_revoke > epoch, "a revocation changes the epoch");

    // Revoking again keeps the first revocation and logs nothing new.
    let again = s
        .revoke_device(id, &audit(30, "device.revoke", &id.to_string()))
        .unwrap();
    assert_eq!(again.revoked_ms, Some(20));
    assert_eq!(s.auth_epoch().unwrap(), after_revoke);

    let unknown = s
        .revoke_device(Uuid::from_u128(99), &audit(40, "device.revoke", "99"))
        .unwrap_err();
    assert!(matches!(unknown, StoreError::NotFound(_)), "{unknown}");

    assert!(
        s.set_user_disabled("ann", true, &audit(50, "user.disable", "ann"))
            .unwrap()
            .disabled
    );
    assert!(s.user("ann").unwrap().unwrap().disabled);
    assert!(s.auth_epoch().unwrap() > after_revoke);
    assert!(matches!(
        s.set_user_disabled("zed", true, &audit(51, "user.disable", "zed")),
        Err(StoreError::NotFound(_))
    ));
    assert!(
        !s.set_user_disabled("ann", false, &audit(60, "user.enable", "ann"))
            .unwrap()
            .disabled
    );

    let log: Vec<_> = s
        .audit_log(None)
        .unwrap()
        .into_iter()
        .map(|e| (e.record.at_ms, e.record.action))
        .collect();
    assert_eq!(
        log,
        [
            (20, "device.revoke".to_string()),
            (50, "user.disable".to_string()),
            (60, "user.enable".to_string())
        ],
        "only the changes that happened are logged"
    );
}

pub fn audit_log_reads_by_time(s: &dyn Store) {
    let dev = Uuid::from_u128(3);
    let first = s.append_audit(&audit(100, "grid.import", "v2")).unwrap();
    let second = s
        .append_audit(&AuditRecord {
            device: Some(dev),
            ..audit(200, "device.enrol", "ann")
        })
        .unwrap();
    assert!(second > first, "sequence numbers grow");
    let since = s.audit_log(Some(150)).unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].seq, second);
    assert_eq!(since[0].record.device, Some(dev));
    assert_eq!(s.audit_log(None).unwrap().len(), 2);
}

pub fn apply_is_idempotent(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    let ops = [create(1, 100, 1.0), create(2, 101, -1.0)];
    let first = s
        .apply_ops(dev, &ops, &rules(&decide_with_cells), 5)
        .unwrap();
    assert_eq!(first, [Outcome::Applied, Outcome::Applied]);
    let stored = s.reports(false).unwrap();
    let again = s
        .apply_ops(dev, &ops, &rules(&decide_with_cells), 6)
        .unwrap();
    assert_eq!(again, [Outcome::Duplicate, Outcome::Duplicate]);
    assert_eq!(
        s.reports(false).unwrap(),
        stored,
        "a replayed push changes nothing"
    );
    let page = s
        .pull(&PullQuery {
            after_seq: 0,
            scope: Scope::All,
            max_records: 10,
            max_bytes: 1 << 20,
        })
        .unwrap();
    assert_eq!(page.items.len(), 2, "no new feed entries from a replay");
    assert_eq!(
        s.report(Uuid::from_u128(101)).unwrap().unwrap().grid_cell(),
        Some("W")
    );
}

pub fn rejected_ops_change_nothing(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    let refuse_west = |op: &Op, cur: Option<&ReportState>| {
        let state = decide_with_cells(op, cur)?;
        if state.grid_cell() == Some("W") {
            return Err(Rejection::new(ErrorCode::InvalidInput, "west is closed"));
        }
        Ok(state)
    };
    let out = s
        .apply_ops(
            dev,
            &[create(1, 100, -1.0), create(2, 101, 1.0)],
            &rules(&refuse_west),
            5,
        )
        .unwrap();
    assert_eq!(
        out[0],
        Outcome::Rejected {
            code: ErrorCode::InvalidInput,
            reason: "west is closed".into()
        }
    );
    assert_eq!(
        out[1],
        Outcome::Applied,
        "the rest of the batch still lands"
    );
    assert!(s.report(Uuid::from_u128(100)).unwrap().is_none());
    // A rejected op id is not remembered as applied: fixed rules may accept it later.
    let out = s
        .apply_ops(dev, &[create(1, 100, -1.0)], &rules(&decide_with_cells), 6)
        .unwrap();
    assert_eq!(out, [Outcome::Applied]);
}

pub fn pull_pages_and_scopes(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    let ops: Vec<Op> = (0..25)
        .map(|i| create(i + 1, 1000 + i, if i % 2 == 0 { -1.0 } else { 1.0 }))
        .collect();
    s.apply_ops(dev, &ops, &rules(&decide_with_cells), 5)
        .unwrap();
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = s
            .pull(&PullQuery {
                after_seq: after,
                scope: Scope::All,
                max_records: 10,
                max_bytes: 1 << 20,
            })
            .unwrap();
        assert!(page.items.len() <= 10);
        seen.extend(reports(&page).iter().map(|r| r.id));
        after = page.last_seq;
        if !page.more {
            break;
        }
    }
    assert_eq!(seen.len(), 25, "every report exactly once");
    seen.dedup();
    assert_eq!(seen.len(), 25);
    let west_only = Scope::Cells {
        user: "someone-else".into(),
        cells: vec!["W".into()],
    };
    let page = s
        .pull(&PullQuery {
            after_seq: 0,
            scope: west_only,
            max_records: 100,
            max_bytes: 1 << 20,
        })
        .unwrap();
    assert_eq!(page.items.len(), 13);
    assert!(reports(&page).iter().all(|r| r.grid_cell() == Some("W")));
    let own = Scope::Cells {
        user: "ann".into(),
        cells: vec![],
    };
    let page = s
        .pull(&PullQuery {
            after_seq: 0,
            scope: own,
            max_records: 100,
            max_bytes: 1 << 20,
        })
        .unwrap();
    assert_eq!(
        page.items.len(),
        25,
        "a reporter always sees their own reports"
    );
    let empty = s
        .pull(&PullQuery {
            after_seq: after,
            scope: Scope::All,
            max_records: 10,
            max_bytes: 1 << 20,
        })
        .unwrap();
    assert_eq!(
        (empty.items.len(), empty.last_seq, empty.more),
        (0, after, false)
    );
}

pub fn pull_respects_byte_budget(s: &dyn Store) {
    let ops: Vec<Op> = (0..10).map(|i| create(i + 1, 2000 + i, 1.0)).collect();
    s.apply_ops(Uuid::from_u128(7), &ops, &rules(&decide_with_cells), 5)
        .unwrap();
    let page = s
        .pull(&PullQuery {
            after_seq: 0,
            scope: Scope::All,
            max_records: 100,
            max_bytes: 250,
        })
        .unwrap();
    assert!(
        page.more && !page.items.is_empty() && page.items.len() < 10,
        "{}",
        page.items.len()
    );
    let tiny = s
        .pull(&PullQuery {
            after_seq: 0,
            scope: Scope::All,
            max_records: 100,
            max_bytes: 1,
        })
        .unwrap();
    assert_eq!(tiny.items.len(), 1, "a page always makes progress");
}

pub fn reference_data_versions(s: &dyn Store) {
    assert_eq!(
        (s.grid_version().unwrap(), s.categories_version().unwrap()),
        (0, 0)
    );
    assert!(s.current_grid_layer().unwrap().is_none());
    let city = gridwarden_grid::synth::StreetGrid::city(3, 8, 1);
    let cells: Vec<_> = city.iter().collect();
    assert_eq!(crate::grid::add_layer(s, "one", &cells[..1], 1).unwrap(), 1);
    assert_eq!(crate::grid::add_layer(s, "two", &cells, 2).unwrap(), 2);
    assert_eq!(s.grid_version().unwrap(), 2);
    let layer = s.current_grid_layer().unwrap().unwrap();
    assert_eq!(
        (layer.version, layer.name.as_str(), layer.cells.len()),
        (2, "two", 3)
    );
    assert_eq!(layer.cells[2], gridwarden_grid::cell_to_wire(&cells[2]));
    // Content is stored once: the cell both versions share has one hash.
    let (one, two) = (s.grid_members(1).unwrap(), s.grid_members(2).unwrap());
    assert_eq!(one.len(), 1);
    assert_eq!(one[0], two[0]);
    let data = s
        .grid_cell_data(2, &[two[1].code.clone(), "nope".into()], false)
        .unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].0, two[1].code);
    let shapes = s.grid_cell_data(2, &[two[1].code.clone()], true).unwrap();
    let shapes: Vec<gridwarden_protocol::grid::CellShape> =
        gridwarden_protocol::codec::decode(&shapes[0].1).unwrap();
    assert_eq!(shapes.len(), gridwarden_grid::shapes::DISPLAY_LEVELS.len());
    // A layer naming a cell whose content was never stored is refused
    // whole.
    let mut ghost = two[0].clone();
    ghost.hash = [7; 32];
    assert!(s.commit_grid_layer("ghost", &[ghost], 3).is_err());
    assert_eq!(s.grid_version().unwrap(), 2);
    // Content staged for a layer that is never published is forgotten
    // again; content a version lists stays, whoever else named it.
    let other = gridwarden_grid::synth::StreetGrid::city(2, 8, 9);
    let staged: Vec<StoredCell> = other.iter().map(|c| crate::grid::stored_cell(&c)).collect();
    s.put_grid_cells(&staged).unwrap();
    let mut hashes: Vec<[u8; 32]> = staged.iter().map(|c| c.member.hash).collect();
    hashes.push(two[1].hash);
    let forgotten = write(s, |tx| tx.forget_unlisted_grid_cells(&hashes)).unwrap();
    assert_eq!(forgotten, staged.len() as u64);
    let members: Vec<GridMember> = staged.iter().map(|c| c.member.clone()).collect();
    assert!(
        s.commit_grid_layer("forgotten", &members, 3).is_err(),
        "its content is gone"
    );
    assert_eq!(
        s.grid_cell_data(2, &[two[1].code.clone()], false)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.grid_layers().unwrap().len(), 2);
    let table = CategoryTable {
        version: 0,
        categories: vec![Category {
            code: "0101".into(),
            family: Family::Component,
            class_code: "01".into(),
            class_name: "公用设施".into(),
            name: "上水井盖".into(),
            name_en: "cover".into(),
            register_limit: None,
            dispose_limit: None,
        }],
    };
    assert_eq!(s.put_categories(&table, 1).unwrap(), 1);
    let got = s.categories().unwrap().unwrap();
    assert_eq!((got.version, got.categories.len()), (1, 1));
}

pub fn reassign_only_unassigned(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    let no_cell = |op: &Op, cur: Option<&ReportState>| {
        let OpBody::Report { report_id, op: rop } = &op.body else {
            panic!("a report op")
        };
        let mut st = cur
            .cloned()
            .unwrap_or_else(|| ReportState::empty(*report_id));
        st.apply(rop, op.hlc, "ann", dev);
        Ok(st)
    };
    s.apply_ops(dev, &[create(1, 1, 1.0)], &rules(&no_cell), 1)
        .unwrap();
    s.apply_ops(dev, &[create(2, 2, 1.0)], &rules(&decide_with_cells), 1)
        .unwrap();
    assert_eq!(s.reports(true).unwrap().len(), 1);
    let to_x = |st: &ReportState| {
        let mut n = st.clone();
        n.set_grid_cell(Some("X".into()), Hlc::new(9_999_999, 0, 0));
        Some(n)
    };
    assert_eq!(s.reassign(true, &to_x, 3).unwrap(), 1);
    assert_eq!(
        s.report(Uuid::from_u128(2)).unwrap().unwrap().grid_cell(),
        Some("E"),
        "assigned reports stay"
    );
    assert_eq!(
        s.report(Uuid::from_u128(1)).unwrap().unwrap().grid_cell(),
        Some("X")
    );
    assert_eq!(
        s.reassign(false, &to_x, 4).unwrap(),
        1,
        "only the changed one counts"
    );
    assert!(s.reports(true).unwrap().is_empty());
}

pub fn meta(s: &dyn Store) {
    assert_eq!(s.meta("public_addr").unwrap(), None);
    s.set_meta("public_addr", "1.2.3.4:4433").unwrap();
    s.set_meta("public_addr", "5.6.7.8:4433").unwrap();
    assert_eq!(
        s.meta("public_addr").unwrap().as_deref(),
        Some("5.6.7.8:4433")
    );
}

pub fn a_push_and_its_meta_entry_land_together(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    let decided = std::cell::Cell::new(0);
    let counting = |op: &Op, cur: Option<&ReportState>| {
        decided.set(decided.get() + 1);
        decide_with_cells(op, cur)
    };
    // The value is asked for once, after every op was decided.
    let value = || format!("after {}", decided.get());
    let ops = [create(1, 100, 1.0), create(2, 101, -1.0)];
    let out = s
        .apply_ops_with_meta(dev, &ops, &rules(&counting), 5, "server_hlc", &value)
        .unwrap();
    assert_eq!(out, [Outcome::Applied, Outcome::Applied]);
    assert_eq!(s.meta("server_hlc").unwrap().as_deref(), Some("after 2"));
    assert_eq!(s.reports(false).unwrap().len(), 2);
    let again = s
        .apply_ops_with_meta(dev, &ops, &rules(&counting), 6, "server_hlc", &value)
        .unwrap();
    assert_eq!(again, [Outcome::Duplicate, Outcome::Duplicate]);
    assert_eq!(s.meta("server_hlc").unwrap().as_deref(), Some("after 2"));
}

/// Reports in three cells by two reporters, one of which moves out of the
/// puller's cells: pages of every size give the same items in feed order.
pub fn a_scoped_pull_merges_cells_and_own_reports_in_feed_order(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    // West of 0° is "W", up to 10° "E", further east "N"; even op ids are
    // ann's reports, odd ones bob's.
    let three_cells = |op: &Op, current: Option<&ReportState>| {
        let OpBody::Report { report_id, op: rop } = &op.body else {
            panic!("a report op")
        };
        let mut state = current
            .cloned()
            .unwrap_or_else(|| ReportState::empty(*report_id));
        let reporter = if op.op_id.as_u128() & 1 == 0 {
            "ann"
        } else {
            "bob"
        };
        state.apply(rop, op.hlc, reporter, dev);
        if let Some(loc) = state.location() {
            let cell = match loc.lon {
                l if l < 0.0 => "W",
                l if l < 10.0 => "E",
                _ => "N",
            };
            state.set_grid_cell(Some(cell.into()), Hlc::new(op.hlc.wall_ms, 0, 0));
        }
        Ok(state)
    };
    let lons = [-1.0, 1.0, 20.0];
    let ops: Vec<Op> = (1..=30)
        .map(|i| create(i, 1000 + i, lons[(i % 3) as usize]))
        .collect();
    s.apply_ops(dev, &ops, &rules(&three_cells), 5).unwrap();
    // Bob's report 1001 (in E) moves to N: ann's device must hear it left.
    let moved = Op {
        op_id: Uuid::from_u128(41),
        hlc: Hlc::new(2000, 0, 1),
        body: OpBody::Report {
            report_id: Uuid::from_u128(1001),
            op: ReportOp::Edit(gridwarden_protocol::ReportEdit {
                location: Some(Location {
                    lon: 20.0,
                    lat: 40.0,
                    accuracy_m: None,
                }),
                ..Default::default()
            }),
        },
    };
    s.apply_ops(dev, &[moved], &rules(&three_cells), 6).unwrap();

    let everything = s
        .pull(&PullQuery {
            after_seq: 0,
            scope: Scope::All,
            max_records: 100,
            max_bytes: 1 << 20,
        })
        .unwrap();
    let expected: Vec<FeedItem> = reports(&everything)
        .into_iter()
        .filter_map(|r| {
            let own = r.origin.as_ref().is_some_and(|o| o.reporter == "ann");
            let in_cells = matches!(r.grid_cell(), Some("W" | "E"));
            if own || in_cells {
                Some(FeedItem::Report(r.clone()))
            } else if r.id == Uuid::from_u128(1001) {
                Some(FeedItem::OutOfScope(r.id))
            } else {
                None
            }
        })
        .collect();
    assert!(expected.len() > 20, "{}", expected.len());
    for page_size in [1, 2, 3, 7, 100] {
        let mut items = Vec::new();
        let mut after = 0;
        loop {
            let page = s
                .pull(&PullQuery {
                    after_seq: after,
                    scope: Scope::Cells {
                        user: "ann".into(),
                        cells: vec!["E".into(), "W".into()],
                    },
                    max_records: page_size,
                    max_bytes: 1 << 20,
                })
                .unwrap();
            assert!(page.items.len() <= page_size);
            assert!(page.last_seq >= after);
            items.extend(page.items);
            after = page.last_seq;
            if !page.more {
                break;
            }
        }
        assert_eq!(items, expected, "pages of {page_size}");
    }
}

pub fn a_report_leaving_a_scope_is_announced(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    s.apply_ops(dev, &[create(1, 100, -1.0)], &rules(&decide_with_cells), 1)
        .unwrap();
    let west = || Scope::Cells {
        user: "wes".into(),
        cells: vec!["W".into()],
    };
    let pull = |after: u64| {
        s.pull(&PullQuery {
            after_seq: after,
            scope: west(),
            max_records: 10,
            max_bytes: 1 << 20,
        })
        .unwrap()
    };
    let first = pull(0);
    assert!(matches!(first.items.as_slice(), [FeedItem::Report(r)] if r.grid_cell() == Some("W")));

    // The report moves east: the western device is told, without the new state.
    let edit = |op: u128, edit: gridwarden_protocol::ReportEdit| Op {
        op_id: Uuid::from_u128(op),
        hlc: Hlc::new(1000 + op as u64, 0, 1),
        body: OpBody::Report {
            report_id: Uuid::from_u128(100),
            op: ReportOp::Edit(edit),
        },
    };
    let east = Location {
        lon: 1.0,
        lat: 40.0,
        accuracy_m: None,
    };
    let moved = edit(
        2,
        gridwarden_protocol::ReportEdit {
            location: Some(east),
            ..Default::default()
        },
    );
    s.apply_ops(dev, &[moved], &rules(&decide_with_cells), 2)
        .unwrap();
    let second = pull(first.last_seq);
    assert_eq!(second.items, [FeedItem::OutOfScope(Uuid::from_u128(100))]);
    // Later changes in the east are not the western device's business...
    let note = edit(
        3,
        gridwarden_protocol::ReportEdit {
            note: Some("x".into()),
            ..Default::default()
        },
    );
    s.apply_ops(dev, &[note], &rules(&decide_with_cells), 3)
        .unwrap();
    // ...but a device that was offline meanwhile still learns that it left.
    assert_eq!(
        pull(first.last_seq).items,
        [FeedItem::OutOfScope(Uuid::from_u128(100))]
    );
    // East devices see it whole; a supervisor sees it whole.
    let east = Scope::Cells {
        user: "eve".into(),
        cells: vec!["E".into()],
    };
    let page = s
        .pull(&PullQuery {
            after_seq: 0,
            scope: east,
            max_records: 10,
            max_bytes: 1 << 20,
        })
        .unwrap();
    assert!(matches!(page.items.as_slice(), [FeedItem::Report(r)] if r.note() == Some("x")));
    // Moving to no cell at all (far from every cell) is announced the same
    // way; the grid cell is NULL then, which must not break the pull.
    let nowhere = Location {
        lon: 50.0,
        lat: 40.0,
        accuracy_m: None,
    };
    let lost = edit(
        4,
        gridwarden_protocol::ReportEdit {
            location: Some(nowhere),
            ..Default::default()
        },
    );
    let no_cell = |op: &Op, cur: Option<&ReportState>| {
        let mut st = decide_with_cells(op, cur)?;
        st.set_grid_cell(None, Hlc::new(op.hlc.wall_ms + 1, 0, 0));
        Ok(st)
    };
    s.apply_ops(dev, &[lost], &rules(&no_cell), 4).unwrap();
    let east_only = || Scope::Cells {
        user: "eve".into(),
        cells: vec!["E".into()],
    };
    let page = s
        .pull(&PullQuery {
            after_seq: 0,
            scope: east_only(),
            max_records: 10,
            max_bytes: 1 << 20,
        })
        .unwrap();
    assert_eq!(page.items, [FeedItem::OutOfScope(Uuid::from_u128(100))]);
    assert_eq!(
        pull(first.last_seq).items,
        [FeedItem::OutOfScope(Uuid::from_u128(100))]
    );
}

fn patrol_op(op: u128, patrol: u128, body: PatrolOp) -> Op {
    Op {
        op_id: Uuid::from_u128(op),
        hlc: Hlc::new(2000 + op as u64, 0, 1),
        body: OpBody::Patrol {
            patrol_id: Uuid::from_u128(patrol),
            op: body,
        },
    }
}

fn point(seq: u32) -> TrackPoint {
    TrackPoint {
        seq,
        time_ms: Some(1_000 * i64::from(seq)),
        lon: 111.0 + f64::from(seq) * 1e-4,
        lat: 40.0,
        accuracy_m: Some(5.0),
        speed_mps: None,
        segment: 0,
    }
}

pub fn patrols_keep_a_grow_only_track(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    let start = |day: i64, id: u128, op: u128| {
        patrol_op(
            op,
            id,
            PatrolOp::Start(NewPatrol {
                started_at_ms: day,
                note: format!("round {id}"),
            }),
        )
    };
    let ops = vec![
        start(10_000, 1, 1),
        patrol_op(2, 1, PatrolOp::Points((0..3).map(point).collect())),
        // Overlapping batch: points 1 and 2 again, 3 new.
        patrol_op(3, 1, PatrolOp::Points((1..4).map(point).collect())),
        patrol_op(
            4,
            1,
            PatrolOp::Stop {
                ended_at_ms: 20_000,
            },
        ),
        start(50_000, 2, 5),
    ];
    let out = s
        .apply_ops(dev, &ops, &rules(&decide_with_cells), 5)
        .unwrap();
    assert!(out.iter().all(|o| *o == Outcome::Applied), "{out:?}");
    // The same push again: all duplicates, nothing added.
    let again = s
        .apply_ops(dev, &ops, &rules(&decide_with_cells), 6)
        .unwrap();
    assert!(again.iter().all(|o| *o == Outcome::Duplicate), "{again:?}");
    let first = s.patrol(Uuid::from_u128(1)).unwrap().unwrap();
    assert_eq!(first.point_count, 4);
    assert_eq!(first.info.ended_at_ms, Some(20_000));
    assert_eq!(first.info.note, "round 1");
    let track = s.track(Uuid::from_u128(1)).unwrap();
    assert_eq!(track, (0..4).map(point).collect::<Vec<_>>());
    assert!(s.track(Uuid::from_u128(3)).unwrap().is_empty());
    // A points op for an unknown patrol is refused and stores nothing.
    let out = s
        .apply_ops(
            dev,
            &[patrol_op(9, 3, PatrolOp::Points(vec![point(0)]))],
            &rules(&decide_with_cells),
            7,
        )
        .unwrap();
    assert!(matches!(out[0], Outcome::Rejected { .. }));
    assert!(s.patrol(Uuid::from_u128(3)).unwrap().is_none());

    let all = PatrolFilter {
        limit: 10,
        ..Default::default()
    };
    let listed: Vec<u128> = s
        .patrols(&all)
        .unwrap()
        .iter()
        .map(|p| p.info.id.as_u128())
        .collect();
    assert_eq!(listed, [2, 1], "newest start first");
    let since = PatrolFilter {
        since_ms: Some(30_000),
        ..all.clone()
    };
    assert_eq!(s.patrols(&since).unwrap().len(), 1);
    let until = PatrolFilter {
        until_ms: Some(30_000),
        ..all.clone()
    };
    assert_eq!(s.patrols(&until).unwrap()[0].info.id, Uuid::from_u128(1));
    let other = PatrolFilter {
        warden: Some("bob".into()),
        ..all.clone()
    };
    assert!(s.patrols(&other).unwrap().is_empty());
    let one = PatrolFilter { limit: 1, ..all };
    assert_eq!(s.patrols(&one).unwrap().len(), 1);
}

pub fn photos_and_patrols_are_indexed(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    let photo = PhotoRef {
        hash: PhotoHash::of(b"jpeg"),
        size: 4,
        mime: "image/jpeg".into(),
    };
    let mut on_patrol = create(1, 100, 1.0);
    if let OpBody::Report {
        op: ReportOp::Create(new),
        ..
    } = &mut on_patrol.body
    {
        new.patrol = Some(Uuid::from_u128(55));
    }
    let attach = Op {
        op_id: Uuid::from_u128(2),
        hlc: Hlc::new(1_500, 0, 1),
        body: OpBody::Report {
            report_id: Uuid::from_u128(100),
            op: ReportOp::AttachPhotos(vec![photo.clone()]),
        },
    };
    s.apply_ops(
        dev,
        &[on_patrol, create(3, 101, 1.0), attach],
        &rules(&decide_with_cells),
        5,
    )
    .unwrap();
    assert_eq!(
        s.patrol_reports(Uuid::from_u128(55)).unwrap(),
        [Uuid::from_u128(100)]
    );
    let carrying = s.photo_reports(photo.hash).unwrap();
    assert_eq!(carrying.len(), 1);
    assert_eq!(carrying[0].photos, std::slice::from_ref(&photo));
    assert!(s.photo_reports(PhotoHash::of(b"other")).unwrap().is_empty());
    // A deleted report no longer counts for its patrol or its photos.
    let delete = Op {
        op_id: Uuid::from_u128(4),
        hlc: Hlc::new(1_600, 0, 1),
        body: OpBody::Report {
            report_id: Uuid::from_u128(100),
            op: ReportOp::Delete,
        },
    };
    s.apply_ops(dev, &[delete], &rules(&decide_with_cells), 6)
        .unwrap();
    assert!(s.patrol_reports(Uuid::from_u128(55)).unwrap().is_empty());
    assert!(s.photo_reports(photo.hash).unwrap().is_empty());

    // `gc` drops the deleted report's index rows, and only those; an op
    // arriving late for the deleted report brings none back.
    let attach_to = |op: u128, report: u128, photo: &PhotoRef| Op {
        op_id: Uuid::from_u128(op),
        hlc: Hlc::new(1_700 + op as u64, 0, 1),
        body: OpBody::Report {
            report_id: Uuid::from_u128(report),
            op: ReportOp::AttachPhotos(vec![photo.clone()]),
        },
    };
    let kept = PhotoRef {
        hash: PhotoHash::of(b"kept"),
        ..photo.clone()
    };
    s.apply_ops(
        dev,
        &[attach_to(5, 101, &kept)],
        &rules(&decide_with_cells),
        7,
    )
    .unwrap();
    assert_eq!(s.photo_rows_of_deleted_reports().unwrap(), 1);
    let dropped = crate::store::write(s, |tx| tx.forget_photos_of_deleted_reports()).unwrap();
    assert_eq!(dropped, 1);
    assert_eq!(s.photo_rows_of_deleted_reports().unwrap(), 0);
    assert_eq!(
        s.photo_reports(kept.hash).unwrap().len(),
        1,
        "a live report's row stays"
    );
    let late = PhotoRef {
        hash: PhotoHash::of(b"late"),
        ..photo.clone()
    };
    s.apply_ops(
        dev,
        &[attach_to(6, 100, &late)],
        &rules(&decide_with_cells),
        8,
    )
    .unwrap();
    assert_eq!(s.photo_rows_of_deleted_reports().unwrap(), 0);
}

fn case_op(op: u128, report: u128, body: CaseOp) -> Op {
    Op {
        op_id: Uuid::from_u128(op),
        hlc: Hlc::new(900, 0, 1),
        body: OpBody::Case {
            report_id: Uuid::from_u128(report),
            op: body,
        },
    }
}

pub fn cases_move_with_their_report_and_are_audited(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    let all = PullQuery {
        after_seq: 0,
        scope: Scope::All,
        max_records: 100,
        max_bytes: 1 << 20,
    };
    s.apply_ops(
        dev,
        &[create(1, 100, 1.0), create(2, 101, 2.0)],
        &rules(&decide_with_cells),
        1,
    )
    .unwrap();
    let before = s.pull(&all).unwrap().last_seq;
    let ops = [
        case_op(10, 100, CaseOp::Register { note: "ok".into() }),
        // Not possible from `registered`: refused, nothing changes.
        case_op(
            11,
            100,
            CaseOp::Close {
                note: String::new(),
            },
        ),
        case_op(
            12,
            100,
            CaseOp::Dispatch {
                department: "water".into(),
                note: String::new(),
            },
        ),
        // No such report.
        case_op(
            13,
            999,
            CaseOp::Register {
                note: String::new(),
            },
        ),
    ];
    let outcomes = s
        .apply_ops(dev, &ops, &rules(&decide_with_cells), 2)
        .unwrap();
    assert_eq!(outcomes[0], Outcome::Applied);
    assert!(
        matches!(&outcomes[1], Outcome::Rejected { code: ErrorCode::Conflict, reason } if reason.contains("cannot close")),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(outcomes[2], Outcome::Applied);
    assert!(matches!(
        outcomes[3],
        Outcome::Rejected {
            code: ErrorCode::NotFound,
            ..
        }
    ));
    // A repeated push changes nothing more.
    let again = s
        .apply_ops(dev, &ops[..1], &rules(&decide_with_cells), 3)
        .unwrap();
    assert_eq!(again, [Outcome::Duplicate]);

    // A disposal with a photo: the photo is indexed under who took it.
    let photo = PhotoRef {
        hash: PhotoHash([5; 32]),
        size: 1234,
        mime: "image/jpeg".into(),
    };
    let dispose = case_op(
        14,
        100,
        CaseOp::Dispose {
            note: "fixed".into(),
            photos: vec![photo.clone()],
        },
    );
    assert_eq!(
        s.apply_ops(dev, &[dispose], &rules(&decide_with_cells), 4)
            .unwrap(),
        [Outcome::Applied]
    );
    assert_eq!(
        s.case_photo_uses(photo.hash).unwrap(),
        [CasePhotoUse {
            report_id: Uuid::from_u128(100),
            taken_by: "sam".into(),
            size: 1234
        }]
    );
    assert!(s.case_photo_uses(PhotoHash([6; 32])).unwrap().is_empty());
    let cases = s
        .cases_of(&[Uuid::from_u128(100), Uuid::from_u128(101)])
        .unwrap();
    assert_eq!(
        cases.len(),
        1,
        "only the report somebody acted on has a case"
    );
    let case = &cases[0];
    assert_eq!(
        (case.status, case.department.as_deref()),
        (CaseStatus::Disposed, Some("water"))
    );
    assert_eq!(case.history.len(), 3);
    assert_eq!(s.cases().unwrap(), cases);
    // The report moved in the feed with its case, so devices pull both.
    let page = s
        .pull(&PullQuery {
            after_seq: before,
            ..all
        })
        .unwrap();
    let moved: Vec<_> = reports(&page).iter().map(|r| r.id).collect();
    assert_eq!(moved, [Uuid::from_u128(100)]);
    let audited: Vec<_> = s
        .audit_log(None)
        .unwrap()
        .into_iter()
        .map(|e| (e.record.action, e.record.actor))
        .collect();
    assert_eq!(
        audited,
        [
            ("case.register".to_string(), "sam".to_string()),
            ("case.dispatch".to_string(), "sam".to_string()),
            ("case.dispose".to_string(), "sam".to_string())
        ]
    );
}

pub fn departments_routes_and_members(s: &dyn Store) {
    let audit = |action: &str| AuditRecord {
        at_ms: 1,
        actor: "cli:root@host".into(),
        device: None,
        action: action.into(),
        subject: String::new(),
        detail: String::new(),
    };
    let water = Department {
        code: "water".into(),
        name: "自来水公司".into(),
        utility: true,
    };
    s.add_department(&water, &audit("department.add")).unwrap();
    assert!(matches!(
        s.add_department(&water, &audit("department.add")),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.departments().unwrap(), [water]);
    s.set_category_routes(&[("0101".into(), "water".into())])
        .unwrap();
    assert!(matches!(
        s.set_category_routes(&[("0102".into(), "nobody".into())]),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.category_routes().unwrap(),
        [("0101".to_string(), "water".to_string())]
    );
    s.add_user(&user("wu", Role::Warden, &[]), 1).unwrap();
    s.set_user_department("wu", Some("water"), &audit("user.department"))
        .unwrap();
    assert_eq!(s.user_department("wu").unwrap().as_deref(), Some("water"));
    assert!(s
        .set_user_department("wu", Some("gas"), &audit("user.department"))
        .is_err());
    s.set_user_department("wu", None, &audit("user.department"))
        .unwrap();
    assert_eq!(s.user_department("wu").unwrap(), None);
    assert!(s
        .set_user_department("zed", None, &audit("user.department"))
        .is_err());
}

pub fn console_links_work_once_and_sessions_end_with_the_user(s: &dyn Store) {
    s.add_user(&user("sam", Role::Supervisor, &[]), 1).unwrap();
    assert_eq!(s.password_hash("sam").unwrap(), None);
    s.set_password_hash("sam", "$argon2id$v=19$x", &audit(2, "user.passwd", "sam"))
        .unwrap();
    assert_eq!(
        s.password_hash("sam").unwrap().as_deref(),
        Some("$argon2id$v=19$x")
    );
    assert!(matches!(
        s.set_password_hash("zed", "h", &audit(2, "user.passwd", "zed")),
        Err(StoreError::NotFound(_))
    ));

    // A link signs in once, before it expires.
    s.create_console_link([1; 32], "sam", 100, &audit(3, "console.link", "sam"))
        .unwrap();
    s.create_console_link([2; 32], "sam", 100, &audit(3, "console.link", "sam"))
        .unwrap();
    let link = |hash| write(s, |tx| tx.console_link(hash)).unwrap();
    assert_eq!(
        link([1; 32]),
        Some(ConsoleLink {
            user: "sam".into(),
            created_ms: 3,
            expires_ms: 100,
            used_ms: None
        })
    );
    write(s, |tx| tx.use_console_link([1; 32], 50)).unwrap();
    assert_eq!(link([1; 32]).unwrap().used_ms, Some(50));
    // Using it again keeps the first use.
    write(s, |tx| tx.use_console_link([1; 32], 51)).unwrap();
    assert_eq!(link([1; 32]).unwrap().used_ms, Some(50));
    assert_eq!(link([2; 32]).unwrap().used_ms, None);
    assert_eq!(link([9; 32]), None);

    // One console device per user, until it is revoked.
    let device = s.console_device("sam", 5).unwrap();
    assert_eq!(s.console_device("sam", 6).unwrap(), device);
    assert_eq!(
        s.device(device).unwrap().unwrap().label,
        CONSOLE_DEVICE_LABEL
    );
    let session = ConsoleSession {
        token_hash: [3; 32],
        user: "sam".into(),
        csrf: "c".into(),
        device,
        created_ms: 5,
        expires_ms: 500,
    };
    s.create_console_session(&session, &audit(5, "console.signin", "sam"))
        .unwrap();
    assert_eq!(s.console_session([3; 32]).unwrap(), Some(session.clone()));
    s.end_console_session([3; 32], &audit(6, "console.signout", "sam"))
        .unwrap();
    assert_eq!(s.console_session([3; 32]).unwrap(), None);

    // Disabling the user ends every session of theirs in the same step.
    s.create_console_session(&session, &audit(7, "console.signin", "sam"))
        .unwrap();
    s.set_user_disabled("sam", true, &audit(8, "user.disable", "sam"))
        .unwrap();
    assert_eq!(s.console_session([3; 32]).unwrap(), None);
    s.revoke_device(device, &audit(9, "device.revoke", "console"))
        .unwrap();
    assert_ne!(s.console_device("sam", 10).unwrap(), device);
    let actions: Vec<String> = s
        .audit_log(None)
        .unwrap()
        .into_iter()
        .map(|e| e.record.action)
        .collect();
    assert_eq!(
        actions,
        [
            "user.passwd",
            "console.link",
            "console.link",
            "console.signin",
            "console.signout",
            "console.signin",
            "user.disable",
            "device.revoke"
        ]
    );
}

pub fn a_unit_of_work_commits_whole_or_not_at_all(s: &dyn Store) {
    let work = |fail: bool| {
        write(s, |tx| {
            tx.add_user(&user("ann", Role::Warden, &["A"]), 1)?;
            tx.append_audit(&audit(1, "user.add", "ann"))?;
            tx.set_meta("k", "v")?;
            assert_eq!(tx.user("ann")?.map(|u| u.cells), Some(vec!["A".into()]));
            if fail {
                return Err(StoreError::Corrupt("stop here".into()));
            }
            Ok(())
        })
    };
    assert!(matches!(work(true), Err(StoreError::Corrupt(_))));
    assert_eq!(
        s.user("ann").unwrap(),
        None,
        "nothing of a failed unit stays"
    );
    assert!(s.audit_log(None).unwrap().is_empty());
    assert_eq!(s.meta("k").unwrap(), None);
    work(false).unwrap();
    assert!(s.user("ann").unwrap().is_some());
    assert_eq!(s.audit_log(None).unwrap().len(), 1);
    assert_eq!(s.meta("k").unwrap().as_deref(), Some("v"));
}

/// Every admin write of the store's own (those that take an audit line)
/// leaves no line when its change fails.
pub fn a_failed_admin_change_leaves_no_audit_line(s: &dyn Store) {
    s.add_user(&user("ann", Role::Warden, &[]), 1).unwrap();
    s.add_department(
        &Department {
            code: "water".into(),
            name: "Water".into(),
            utility: true,
        },
        &audit(1, "department.add", "water"),
    )
    .unwrap();
    s.add_api_key(
        &ApiKey {
            name: "12345".into(),
            key_hash: [1; 32],
            created_ms: 1,
            revoked_ms: None,
        },
        &audit(1, "apikey.add", "12345"),
    )
    .unwrap();
    let lines = || s.audit_log(None).unwrap().len();
    let before = lines();
    let failed: Vec<(&str, StoreError)> = vec![
        (
            "revoke an unknown device",
            s.revoke_device(Uuid::from_u128(9), &audit(2, "device.revoke", "9"))
                .unwrap_err(),
        ),
        (
            "disable an unknown user",
            s.set_user_disabled("zed", true, &audit(2, "user.disable", "zed"))
                .unwrap_err(),
        ),
        (
            "a department twice",
            s.add_department(
                &Department {
                    code: "water".into(),
                    name: "Again".into(),
                    utility: false,
                },
                &audit(2, "department.add", "water"),
            )
            .unwrap_err(),
        ),
        (
            "a member of an unknown department",
            s.set_user_department("ann", Some("fire"), &audit(2, "user.department", "ann"))
                .unwrap_err(),
        ),
        (
            "a password for an unknown user",
            s.set_password_hash("zed", "h", &audit(2, "user.passwd", "zed"))
                .unwrap_err(),
        ),
        (
            "a sign-in link for an unknown user",
            s.create_console_link([4; 32], "zed", 10, &audit(2, "console.link", "zed"))
                .unwrap_err(),
        ),
        (
            "an API key name twice",
            s.add_api_key(
                &ApiKey {
                    name: "12345".into(),
                    key_hash: [2; 32],
                    created_ms: 2,
                    revoked_ms: None,
                },
                &audit(2, "apikey.add", "12345"),
            )
            .unwrap_err(),
        ),
        (
            "revoke an unknown API key",
            s.revoke_api_key("nobody", 2, &audit(2, "apikey.revoke", "nobody"))
                .unwrap_err(),
        ),
    ];
    for (what, err) in &failed {
        assert!(
            matches!(err, StoreError::NotFound(_) | StoreError::Conflict(_)),
            "{what}: {err:?}"
        );
    }
    assert_eq!(lines(), before, "no failed change left a line");
}

/// One push that creates a report, moves it through two cells and carries
/// one of its ops twice: each op sees the ones before it (a backend that
/// reads a push's rows once must keep its own copy in step), both cells
/// left are announced, and the repeated op is a duplicate.
pub fn one_push_moves_a_report_twice_and_repeats_an_op(s: &dyn Store) {
    let dev = Uuid::from_u128(7);
    let to = |op: u128, lon: f64| Op {
        op_id: Uuid::from_u128(op),
        hlc: Hlc::new(1000 + op as u64, 0, 1),
        body: OpBody::Report {
            report_id: Uuid::from_u128(100),
            op: ReportOp::Edit(gridwarden_protocol::ReportEdit {
                location: Some(Location {
                    lon,
                    lat: 40.0,
                    accuracy_m: None,
                }),
                ..Default::default()
            }),
        },
    };
    // West of 0 is W, up to 10 is E, further east is N.
    let three_cells = |op: &Op, current: Option<&ReportState>| {
        let mut state = decide_with_cells(op, current)?;
        if state.location().is_some_and(|l| l.lon >= 10.0) {
            state.set_grid_cell(Some("N".into()), Hlc::new(op.hlc.wall_ms, 1, 0));
        }
        Ok(state)
    };
    let push = [create(1, 100, -1.0), to(2, 1.0), to(3, 20.0), to(2, 1.0)];
    let outcomes = s.apply_ops(dev, &push, &rules(&three_cells), 1).unwrap();
    assert_eq!(
        outcomes,
        [
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Duplicate
        ]
    );
    let pull = |cell: &str| {
        s.pull(&PullQuery {
            after_seq: 0,
            scope: Scope::Cells {
                user: "someone".into(),
                cells: vec![cell.into()],
            },
            max_records: 10,
            max_bytes: 1 << 20,
        })
        .unwrap()
        .items
    };
    assert_eq!(pull("W"), [FeedItem::OutOfScope(Uuid::from_u128(100))]);
    assert_eq!(pull("E"), [FeedItem::OutOfScope(Uuid::from_u128(100))]);
    assert!(matches!(pull("N").as_slice(), [FeedItem::Report(r)] if r.grid_cell() == Some("N")));
    // The push's ops are applied once: sent again, all are duplicates.
    let again = s.apply_ops(dev, &push, &rules(&three_cells), 2).unwrap();
    assert!(again.iter().all(|o| *o == Outcome::Duplicate), "{again:?}");
}

/// Expands to one `#[test]` per case of the shared store suite, each on a
/// fresh store from `$make`: a function or closure taking a fresh,
/// empty directory (`&std::path::Path`) and returning
/// `Option<Box<dyn Store>>` (`None`: the backend is not available here, and
/// the constructor has said so; it fails instead when it must be there).
/// The calling crate needs `tempfile` among its (dev-)dependencies.
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@cases $make;
            users,
            user_cells_are_replaced,
            changed_cells_move_the_auth_epoch,
            enrolment_works_once,
            enrolment_expires,
            revocation_and_disabling_are_audited,
            audit_log_reads_by_time,
            apply_is_idempotent,
            rejected_ops_change_nothing,
            pull_pages_and_scopes,
            pull_respects_byte_budget,
            reference_data_versions,
            reassign_only_unassigned,
            a_report_leaving_a_scope_is_announced,
            one_push_moves_a_report_twice_and_repeats_an_op,
            meta,
            cases_move_with_their_report_and_are_audited,
            departments_routes_and_members,
            a_push_and_its_meta_entry_land_together,
            a_scoped_pull_merges_cells_and_own_reports_in_feed_order,
            patrols_keep_a_grow_only_track,
            photos_and_patrols_are_indexed,
            console_links_work_once_and_sessions_end_with_the_user,
            open311_keys_are_audited,
            open311_requests_once,
            a_unit_of_work_commits_whole_or_not_at_all,
            a_failed_admin_change_leaves_no_audit_line,
            writers_and_readers_never_skip,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let dir = ::tempfile::tempdir().expect("a temporary directory");
                let make = $make;
                let store: Option<Box<dyn $crate::store::Store>> = make(dir.path());
                if let Some(store) = store {
                    $crate::store::suite::$case(store.as_ref());
                }
            }
        )*
    };
}
