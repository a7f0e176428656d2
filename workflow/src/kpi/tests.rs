//! The KPI fixture: 26 cases in October 2026 (National Day week off, one
//! Saturday worked), built through the real state machine and calendar, and
//! every figure computed by hand (the working is in the comments).

use gridwarden_protocol::case::{Applying, CaseActor, CaseOp};
use gridwarden_protocol::category::TimeLimit;
use gridwarden_protocol::Role;
use uuid::Uuid;

use super::*;
use crate::calendar::WorkingCalendar;
use crate::Date;

const HOUR: i64 = 3_600_000;
const WATER_LIMIT: TimeLimit = TimeLimit::WorkingHours(4);
const ROADS_LIMIT: TimeLimit = TimeLimit::WorkingDays(1);
const CELL_A: &str = "990102001001007";
const CELL_B: &str = "990102002001003";

/// UTC ms of a local (UTC+8) time in 2026.
fn t(month: u8, day: u8, hh: i64, mm: i64) -> i64 {
    let date = Date {
        year: 2026,
        month,
        day,
    };
    date.days_since_epoch() * 86_400_000 + hh * HOUR + mm * 60_000 - 8 * HOUR
}

fn calendar() -> WorkingCalendar {
    WorkingCalendar::from_json(
        r#"{"utc_offset": "+08:00", "working_hours": ["08:30-12:00", "14:00-18:00"],
            "holidays": ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04",
                         "2026-10-05", "2026-10-06", "2026-10-07"],
            "working_weekends": ["2026-09-27", "2026-10-10"]}"#,
    )
    .unwrap()
}

struct Builder {
    facts: CaseFacts,
    cal: WorkingCalendar,
    limit: TimeLimit,
}

impl Builder {
    fn new(
        n: u128,
        cell: Option<&str>,
        reporter: &str,
        reported_ms: i64,
        limit: TimeLimit,
    ) -> Self {
        let cal = calendar();
        let register_deadline = cal.deadline(reported_ms, TimeLimit::WorkingHours(1));
        Self {
            facts: CaseFacts {
                case: CaseState::reported(Uuid::from_u128(n), register_deadline),
                reported_ms,
                grid_cell: cell.map(str::to_owned),
                reporter: reporter.into(),
            },
            cal,
            limit,
        }
    }

    fn step(mut self, op: CaseOp, at_ms: i64, next_deadline_ms: Option<i64>) -> Self {
        let (user, role) = match op {
            CaseOp::Verify { .. } => ("lee", Role::Liaison),
            _ => ("sam", Role::Supervisor),
        };
        let applying = Applying {
            actor: CaseActor {
                user,
                role,
                department: None,
                covers_cell: true,
            },
            device: Uuid::from_u128(9),
            device_ms: at_ms,
            server_ms: at_ms,
            next_deadline_ms,
        };
        self.facts.case.transition(&op, applying).unwrap();
        self
    }

    fn register(self, at_ms: i64) -> Self {
        self.step(
            CaseOp::Register {
                note: String::new(),
            },
            at_ms,
            None,
        )
    }
    fn reject(self, at_ms: i64) -> Self {
        self.step(
            CaseOp::Reject {
                reason: "duplicate".into(),
            },
            at_ms,
            None,
        )
    }
    fn dispatch(self, department: &str, at_ms: i64) -> Self {
        let due = self.cal.deadline(at_ms, self.limit);
        self.step(
            CaseOp::Dispatch {
                department: department.into(),
                note: String::new(),
            },
            at_ms,
            due,
        )
    }
    fn dispose(self, at_ms: i64) -> Self {
        self.step(
            CaseOp::Dispose {
                note: String::new(),
                photos: vec![],
            },
            at_ms,
            None,
        )
    }
    fn send(self, at_ms: i64) -> Self {
        self.step(CaseOp::SendForVerification { verifier: None }, at_ms, None)
    }
    fn verify(self, passed: bool, at_ms: i64) -> Self {
        let due = (!passed)
            .then(|| self.cal.deadline(at_ms, self.limit))
            .flatten();
        self.step(
            CaseOp::Verify {
                passed,
                note: String::new(),
                photos: vec![],
            },
            at_ms,
            due,
        )
    }
    fn postpone(self, extension: TimeLimit, at_ms: i64) -> Self {
        let due = self
            .facts
            .case
            .deadline_ms
            .and_then(|d| self.cal.deadline(d, extension));
        self.step(
            CaseOp::Postpone {
                reason: "rain".into(),
                extension,
            },
            at_ms,
            due,
        )
    }
    fn close(self, at_ms: i64) -> Self {
        self.step(
            CaseOp::Close {
                note: String::new(),
            },
            at_ms,
            None,
        )
    }
    fn deadline(&self) -> Option<i64> {
        self.facts.case.deadline_ms
    }
}

/// Water (4 working hours) in cell A by ann; roads (1 working day = 7.5 h)
/// in cell B by bo; rejections in A; two unregistered reports in no cell.
fn fixture() -> Vec<CaseFacts> {
    let water = |n, reported| Builder::new(n, Some(CELL_A), "ann", reported, WATER_LIMIT);
    let roads = |n, reported| Builder::new(n, Some(CELL_B), "bo", reported, ROADS_LIMIT);
    let mut cases = Vec::new();

    // W1: dispatched Fri 9 Oct 16:00; 2 h that day, 2 h on Saturday 10 Oct
    // (worked) → due Sat 10 Oct 10:30. Disposed 10:00: on time.
    let w1 = water(1, t(10, 9, 14, 0))
        .register(t(10, 9, 15, 0))
        .dispatch("water", t(10, 9, 16, 0));
    assert_eq!(w1.deadline(), Some(t(10, 10, 10, 30)));
    cases.push(
        w1.dispose(t(10, 10, 10, 0))
            .send(t(10, 10, 11, 0))
            .verify(true, t(10, 12, 9, 0))
            .close(t(10, 12, 10, 0)),
    );

    // W2: dispatched Wed 30 Sep 17:00; 1 h, then the holiday week, then
    // 3 h on Thu 8 Oct → due 8 Oct 11:30. Disposed 11:00 (on time); fails
    // verification 15:00 → new deadline 15:00 + 4 h = Fri 9 Oct 09:30;
    // disposed 09:00 (on time); closed 9 Oct 14:00.
    let w2 = water(2, t(9, 30, 15, 0))
        .register(t(9, 30, 16, 0))
        .dispatch("water", t(9, 30, 17, 0));
    assert_eq!(w2.deadline(), Some(t(10, 8, 11, 30)));
    let w2 = w2
        .dispose(t(10, 8, 11, 0))
        .send(t(10, 8, 12, 0))
        .verify(false, t(10, 8, 15, 0));
    assert_eq!(w2.deadline(), Some(t(10, 9, 9, 30)));
    cases.push(
        w2.dispose(t(10, 9, 9, 0))
            .send(t(10, 9, 10, 0))
            .verify(true, t(10, 9, 11, 0))
            .close(t(10, 9, 14, 0)),
    );

    // W3: dispatched Mon 12 Oct 09:00 → due 15:00; disposed Tue 13 Oct 10:00: late.
    let w3 = water(3, t(10, 12, 7, 0))
        .register(t(10, 12, 8, 0))
        .dispatch("water", t(10, 12, 9, 0));
    assert_eq!(w3.deadline(), Some(t(10, 12, 15, 0)));
    cases.push(
        w3.dispose(t(10, 13, 10, 0))
            .send(t(10, 13, 11, 0))
            .verify(true, t(10, 13, 14, 0))
            .close(t(10, 13, 15, 0)),
    );

    // W4: dispatched Thu 29 Oct 16:00 → due Fri 30 Oct 10:30; never disposed: overdue.
    let w4 = water(4, t(10, 29, 14, 0))
        .register(t(10, 29, 15, 0))
        .dispatch("water", t(10, 29, 16, 0));
    assert_eq!(w4.deadline(), Some(t(10, 30, 10, 30)));
    cases.push(w4);

    // W5: dispatched Fri 30 Oct 17:00 → due Mon 2 Nov 11:30: not due in October.
    let w5 = water(5, t(10, 30, 15, 0))
        .register(t(10, 30, 16, 0))
        .dispatch("water", t(10, 30, 17, 0));
    assert_eq!(w5.deadline(), Some(t(11, 2, 11, 30)));
    cases.push(w5);

    // W7–W12: dispatched Mon 19 Oct 09:00 → due 15:00; disposed 14:30, closed 17:00.
    for n in 7..=12 {
        cases.push(
            water(n, t(10, 19, 8, 0))
                .register(t(10, 19, 8, 30))
                .dispatch("water", t(10, 19, 9, 0))
                .dispose(t(10, 19, 14, 30))
                .send(t(10, 19, 15, 0))
                .verify(true, t(10, 19, 16, 0))
                .close(t(10, 19, 17, 0)),
        );
    }

    // R1: dispatched Fri 16 Oct 16:00; 2 h, the weekend, 3.5 h + 2 h on Mon
    // 19 Oct → due 16:00. Disposed 15:00; closed Tue 20 Oct 09:00.
    let r1 = roads(21, t(10, 16, 14, 0))
        .register(t(10, 16, 15, 0))
        .dispatch("roads", t(10, 16, 16, 0));
    assert_eq!(r1.deadline(), Some(t(10, 19, 16, 0)));
    cases.push(
        r1.dispose(t(10, 19, 15, 0))
            .send(t(10, 19, 16, 0))
            .verify(true, t(10, 19, 17, 0))
            .close(t(10, 20, 9, 0)),
    );

    // R2: dispatched Wed 21 Oct 10:00 → due Thu 22 Oct 10:00; postponed by
    // a working day → Fri 23 Oct 10:00; disposed 09:30 (on time).
    let r2 = roads(22, t(10, 21, 8, 0))
        .register(t(10, 21, 9, 0))
        .dispatch("roads", t(10, 21, 10, 0));
    assert_eq!(r2.deadline(), Some(t(10, 22, 10, 0)));
    let r2 = r2.postpone(TimeLimit::WorkingDays(1), t(10, 22, 9, 0));
    assert_eq!(r2.deadline(), Some(t(10, 23, 10, 0)));
    cases.push(
        r2.dispose(t(10, 23, 9, 30))
            .send(t(10, 23, 10, 0))
            .verify(true, t(10, 23, 11, 0))
            .close(t(10, 23, 14, 0)),
    );

    // R3: dispatched Mon 28 Sep 09:00 → due Tue 29 Sep 09:00 (September);
    // closed Thu 8 Oct 10:00.
    let r3 = roads(23, t(9, 28, 7, 0))
        .register(t(9, 28, 8, 0))
        .dispatch("roads", t(9, 28, 9, 0));
    assert_eq!(r3.deadline(), Some(t(9, 29, 9, 0)));
    cases.push(
        r3.dispose(t(9, 29, 8, 50))
            .send(t(9, 29, 9, 0))
            .verify(true, t(10, 8, 9, 0))
            .close(t(10, 8, 10, 0)),
    );

    // R4: dispatched Tue 27 Oct 09:00 → due Wed 28 Oct 09:00; disposed 09:30
    // (late); fails 11:00 → due Thu 29 Oct 11:00; disposed 10:00; closed 16:00.
    let r4 = roads(24, t(10, 27, 7, 0))
        .register(t(10, 27, 8, 0))
        .dispatch("roads", t(10, 27, 9, 0));
    assert_eq!(r4.deadline(), Some(t(10, 28, 9, 0)));
    let r4 = r4
        .dispose(t(10, 28, 9, 30))
        .send(t(10, 28, 10, 0))
        .verify(false, t(10, 28, 11, 0));
    assert_eq!(r4.deadline(), Some(t(10, 29, 11, 0)));
    cases.push(
        r4.dispose(t(10, 29, 10, 0))
            .send(t(10, 29, 11, 0))
            .verify(true, t(10, 29, 15, 0))
            .close(t(10, 29, 16, 0)),
    );

    // R5–R10: dispatched Mon 26 Oct 09:00 → due Tue 27 Oct 09:00; disposed
    // 10:00 (late); closed 15:00.
    for n in 25..=30 {
        cases.push(
            roads(n, t(10, 26, 8, 0))
                .register(t(10, 26, 8, 30))
                .dispatch("roads", t(10, 26, 9, 0))
                .dispose(t(10, 27, 10, 0))
                .send(t(10, 27, 11, 0))
                .verify(true, t(10, 27, 14, 0))
                .close(t(10, 27, 15, 0)),
        );
    }

    // X1–X3: rejected the hour they were reported.
    for n in 41..=43 {
        cases.push(water(n, t(10, 20, 10, 0)).reject(t(10, 20, 11, 0)));
    }
    // Y1, Y2: reported Fri 30 Oct 10:00 outside every cell, never registered
    // (register limit 1 working hour → 11:00): overdue at the end of October.
    for n in 51..=52 {
        cases.push(Builder::new(n, None, "cy", t(10, 30, 10, 0), WATER_LIMIT));
    }
    cases.into_iter().map(|b| b.facts).collect()
}

fn october() -> Period {
    Period {
        from_ms: t(10, 1, 0, 0),
        to_ms: t(11, 1, 0, 0),
    }
}

fn row<'a>(rows: &'a [KpiRow], key: &str) -> &'a KpiRow {
    rows.iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no row {key}: {rows:?}"))
}

#[test]
fn october_by_department_matches_the_hand_computed_figures() {
    let cases = fixture();
    assert_eq!(cases.len(), 26);
    let rows = kpi(&cases, GroupBy::Department, october());
    assert_eq!(
        rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        ["(none)", "roads", "water"]
    );

    let water = row(&rows, "water");
    // Reported/registered/dispatched in October: all but W2 (30 Sep).
    assert_eq!(
        (
            water.reported,
            water.registered,
            water.rejected,
            water.dispatched
        ),
        (10, 10, 0, 10)
    );
    // Due in October: W1, W2, W3, W4, W7–12 = 10; closed: all but W4 = 9;
    // on time: W1, W2, W7–12 = 8.
    assert_eq!((water.due, water.closed, water.closed_on_time), (10, 9, 8));
    assert_eq!((water.reworked, water.overdue, water.postponed), (1, 1, 0));
    assert_eq!(water.closed_in_period, 9);
    // Hours to close: W1 68, W2 215, W3 32, W7–12 6 × 9 = 54 → 369 / 9.
    assert_eq!(water.mean_hours_to_close, Some(41.0));
    assert_eq!(water.closing_rate, Some(0.9));
    assert_eq!(water.on_time_rate, Some(0.8));
    assert_eq!(water.rework_rate, Some(1.0 / 9.0));

    let roads = row(&rows, "roads");
    // All but R3 (28 Sep) reported, registered and dispatched in October.
    assert_eq!(
        (roads.reported, roads.registered, roads.dispatched),
        (9, 9, 9)
    );
    // Due: R1, R2 (postponed to 23 Oct), R4, R5–10 = 9, all closed; on
    // time only R1 and R2.
    assert_eq!((roads.due, roads.closed, roads.closed_on_time), (9, 9, 2));
    assert_eq!((roads.reworked, roads.overdue, roads.postponed), (1, 0, 1));
    // Closed in October: those nine and R3.
    assert_eq!(roads.closed_in_period, 10);
    // Hours: R1 91, R2 54, R3 243, R4 57, R5–10 6 × 31 = 186 → 631 / 10.
    assert_eq!(roads.mean_hours_to_close, Some(63.1));
    assert_eq!(roads.closing_rate, Some(1.0));
    assert_eq!(roads.on_time_rate, Some(2.0 / 9.0));
    assert_eq!(roads.rework_rate, Some(0.1));

    let none = row(&rows, "(none)");
    assert_eq!(
        (none.reported, none.rejected, none.overdue, none.due),
        (5, 3, 2, 0)
    );
    assert_eq!((none.closing_rate, none.mean_hours_to_close), (None, None));
}

#[test]
fn the_same_cases_group_by_street_grid_and_warden() {
    let cases = fixture();
    let streets = kpi(&cases, GroupBy::Street, october());
    let keys: Vec<_> = streets.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["(none)", "990102001", "990102002"]);
    // Street 990102001 holds the water cases and the three rejections.
    let a = row(&streets, "990102001");
    assert_eq!((a.reported, a.rejected, a.due, a.closed), (13, 3, 10, 9));
    let grid = kpi(&cases, GroupBy::Grid, october());
    assert_eq!(row(&grid, CELL_B).closed_on_time, 2);
    let wardens = kpi(&cases, GroupBy::Warden, october());
    assert_eq!(row(&wardens, "cy").overdue, 2);
    assert_eq!(row(&wardens, "bo").postponed, 1);
}

#[test]
fn a_period_sees_only_what_happened_in_it() {
    let cases = fixture();
    let september = Period {
        from_ms: t(9, 1, 0, 0),
        to_ms: t(10, 1, 0, 0),
    };
    let rows = kpi(&cases, GroupBy::Department, september);
    let roads = row(&rows, "roads");
    // R3 was due 29 Sep and closed only on 8 Oct: due, not closed, and open
    // past its deadline at the end of September... but disposed in time, so
    // it waited on verification, which has no deadline: not overdue.
    assert_eq!((roads.due, roads.closed, roads.overdue), (1, 0, 0));
    let water = row(&rows, "water");
    // W2 dispatched 30 Sep, due 8 Oct.
    assert_eq!((water.dispatched, water.due), (1, 0));
}

#[test]
fn grouping_names_are_parsed_with_a_helpful_refusal() {
    assert_eq!("street".parse::<GroupBy>(), Ok(GroupBy::Street));
    let err = "district".parse::<GroupBy>().unwrap_err();
    assert!(err.contains("grid, street, department or warden"), "{err}");
}
