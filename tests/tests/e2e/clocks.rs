//! Edits ordered by real time whatever the clocks do (ADR 0013), in process
//! (`gridwarden_e2e::sim`): real client cores and the real server service,
//! each device reading its own clock through its `Clock`, moved by hand.
//! A phone's wall clock may be fast, slow, jump either way between syncs or
//! be set right after a sync; the server's may run ahead for a while and be
//! set right. Edits further apart in real time than the drift bound are won
//! by the later one on every replica, every user whose edit another's
//! replaced is told, and replicas converge.

use std::collections::BTreeMap;
use std::fmt;

use gridwarden_client_core::{ReportEdit, SyncSummary};
use gridwarden_e2e::report_at;
use gridwarden_e2e::sim::{FaultPlan, Sim, SimDevice};
use gridwarden_protocol::clock::Clock;
use gridwarden_protocol::hlc::MAX_DRIFT_MS;
use gridwarden_protocol::{ReportState, Role};
use proptest::prelude::*;
use proptest::test_runner::Config;
use uuid::Uuid;

const MINUTE_MS: i64 = 60 * 1000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
const NOTES: [&str; 4] = ["a", "b", "c", "d"];
const CATEGORIES: [&str; 3] = ["0101", "0102", "0201"];
/// Reports every device edits.
const REPORTS: usize = 2;
/// Device `i` belongs to `USERS[i]`: supervisors, who may edit every report.
const USERS: [&str; 4] = ["sam", "sue", "tom", "una"];

/// How a device's wall clock is wrong at enrolment (before any sync has
/// measured it): right, fast within the drift bound, two hours slow, three
/// days fast.
const START_OFFSETS: [i64; 4] = [0, MAX_DRIFT_MS as i64 / 2, -2 * HOUR_MS, 3 * DAY_MS];
/// How a wall clock may be changed between syncs, with no time passing.
const JUMPS: [i64; 6] = [
    30_000,
    -30_000,
    9 * MINUTE_MS,
    -2 * HOUR_MS,
    3 * DAY_MS,
    -400 * DAY_MS,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Note,
    Category,
}

#[derive(Clone, Debug)]
enum Step {
    /// More than the drift bound passes, then `dev` edits a field.
    Edit {
        dev: usize,
        report: usize,
        field: Field,
        value: usize,
    },
    Sync {
        dev: usize,
    },
    /// The device's wall clock is changed by hand.
    Jump {
        dev: usize,
        by: usize,
    },
    /// The device's wall clock is set to the right time.
    SetRight {
        dev: usize,
    },
    /// The server's wall clock is a week ahead for a moment: it stamps and
    /// stores its clock, and a device with nothing to push syncs with it;
    /// then the server's clock is set right.
    ServerAhead {
        dev: usize,
    },
}

#[derive(Clone)]
struct Program {
    offsets: Vec<i64>,
    steps: Vec<Step>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Program {{ offsets: {:?}, steps: [", self.offsets)?;
        for s in &self.steps {
            writeln!(f, "    {s:?},")?;
        }
        write!(f, "] }}")
    }
}

fn step(devices: usize) -> impl Strategy<Value = Step> {
    let field = prop_oneof![Just(Field::Note), Just(Field::Category)];
    prop_oneof![
        5 => (0..devices, 0..REPORTS, field, 0..4usize)
            .prop_map(|(dev, report, field, value)| Step::Edit { dev, report, field, value }),
        4 => (0..devices).prop_map(|dev| Step::Sync { dev }),
        2 => (0..devices, 0..JUMPS.len()).prop_map(|(dev, by)| Step::Jump { dev, by }),
        1 => (0..devices).prop_map(|dev| Step::SetRight { dev }),
        1 => (0..devices).prop_map(|dev| Step::ServerAhead { dev }),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    (3..=4usize).prop_flat_map(|devices| {
        (
            proptest::collection::vec(proptest::sample::select(&START_OFFSETS[..]), devices),
            proptest::collection::vec(step(devices), 1..=30),
        )
            .prop_map(|(offsets, steps)| Program { offsets, steps })
    })
}

/// The last edit of one field of one report, in real time.
#[derive(Clone, Debug)]
struct Last {
    dev: usize,
    value: String,
}

struct World {
    sim: Sim,
    devices: Vec<SimDevice>,
    reports: Vec<Uuid>,
    /// The latest edit of each (report, field), and each device's own.
    last: BTreeMap<(usize, Field), Last>,
    last_of: BTreeMap<(usize, usize, Field), String>,
    /// Overwrite notices each device received, as (report, field, mine).
    told: Vec<Vec<(Uuid, String, String)>>,
}

impl World {
    fn new(offsets: &[i64]) -> Self {
        let sim = Sim::new();
        let (_, location) = sim.cells(1).remove(0);
        let devices: Vec<SimDevice> = USERS[..offsets.len()]
            .iter()
            .zip(offsets)
            .map(|(name, offset)| {
                sim.add_user(name, Role::Supervisor, &[]);
                sim.enrol_with_offset(name, *offset)
            })
            .collect();
        // Device 0 records the reports; every device syncs once, which
        // measures its clock and brings it the reports.
        let reports = (0..REPORTS)
            .map(|i| {
                let input = report_at(CATEGORIES[0], location, &format!("r{i}"));
                devices[0].client.record_report(input).unwrap()
            })
            .collect();
        let mut world = Self {
            told: vec![Vec::new(); devices.len()],
            sim,
            devices,
            reports,
            last: BTreeMap::new(),
            last_of: BTreeMap::new(),
        };
        for dev in 0..world.devices.len() {
            world.sync(dev).unwrap();
        }
        world
    }

    fn sync(&mut self, dev: usize) -> Result<SyncSummary, String> {
        let s = self
            .sim
            .sync(&self.devices[dev], FaultPlan::Perfect)
            .map_err(|e| format!("device {dev} could not sync: {e}"))?;
        if let Some(r) = s.rejected.first() {
            return Err(format!(
                "device {dev}: the server refused an op of report {}: {} ({})",
                r.report_id, r.reason, r.code
            ));
        }
        for o in &s.overwritten {
            self.told[dev].push((o.report_id, o.field.clone(), o.mine.clone()));
        }
        Ok(s)
    }

    fn run(&mut self, step: &Step) -> Result<(), String> {
        self.sim.log(format!("step {step:?}"));
        match *step {
            Step::Edit {
                dev,
                report,
                field,
                value,
            } => {
                // Further apart than the drift bound in real time.
                self.sim.advance(MAX_DRIFT_MS + 1_000);
                let (edit, value) = match field {
                    Field::Note => {
                        let v = format!("{}{dev}", NOTES[value]);
                        let e = ReportEdit {
                            note: Some(v.clone()),
                            ..Default::default()
                        };
                        (e, v)
                    }
                    Field::Category => {
                        let v = CATEGORIES[value % CATEGORIES.len()].to_string();
                        let e = ReportEdit {
                            category: Some(v.clone()),
                            ..Default::default()
                        };
                        (e, v)
                    }
                };
                self.devices[dev]
                    .client
                    .edit_report(self.reports[report], edit)
                    .map_err(|e| format!("device {dev} could not edit: {e}"))?;
                self.last.insert(
                    (report, field),
                    Last {
                        dev,
                        value: value.clone(),
                    },
                );
                self.last_of.insert((dev, report, field), value);
            }
            Step::Sync { dev } => {
                self.sync(dev)?;
            }
            Step::Jump { dev, by } => self.devices[dev].clock.jump(JUMPS[by]),
            Step::SetRight { dev } => {
                let now = self.sim.now_ms() as i64;
                let wall = self.devices[dev].clock.now_ms() as i64;
                self.devices[dev].clock.jump(now - wall);
            }
            Step::ServerAhead { dev } => {
                let week = 7 * DAY_MS;
                self.sim.server_clock().jump(week);
                // A grid reassignment ticks and stores the server's clock.
                self.sim.service().reassign(true).unwrap();
                if self.devices[dev].client.outbox_len().unwrap() == 0 {
                    self.sync(dev)?;
                }
                self.sim.server_clock().jump(-week);
            }
        }
        Ok(())
    }

    fn quiesce(&mut self) -> Result<(), String> {
        for _ in 0..2 {
            for dev in 0..self.devices.len() {
                let s = self.sync(dev)?;
                if s.pending != 0 {
                    return Err(format!("device {dev} kept {} ops queued", s.pending));
                }
            }
        }
        Ok(())
    }

    fn check(&mut self) -> Result<(), String> {
        self.quiesce()?;
        let store = self.sim.store();
        let latest = self.sim.now_ms() + MAX_DRIFT_MS;
        for (i, id) in self.reports.iter().enumerate() {
            let state: ReportState = store.report(*id).unwrap().expect("stored");
            if state.max_hlc().wall_ms > latest {
                return Err(format!(
                    "report {id} holds clock {} beyond the drift bound",
                    state.max_hlc()
                ));
            }
            // The later real-time edit wins, on the server…
            for (field, got) in [
                (Field::Note, state.note()),
                (Field::Category, state.category()),
            ] {
                if let Some(last) = self.last.get(&(i, field)) {
                    if got != Some(last.value.as_str()) {
                        return Err(format!(
                            "report {i} {field:?} is {got:?} on the server; the last edit in \
                             real time was device {}'s {:?}",
                            last.dev, last.value
                        ));
                    }
                }
            }
            // …and on every replica.
            for d in &self.devices {
                let v = d.client.show_report(*id).unwrap();
                if (Some(v.note.as_str()), Some(v.category.as_str()))
                    != (state.note(), state.category())
                {
                    return Err(format!(
                        "device {} shows report {i} as ({:?}, {:?}); the server holds ({:?}, {:?})",
                        d.index,
                        v.note,
                        v.category,
                        state.note(),
                        state.category()
                    ));
                }
            }
        }
        // Every device whose last edit of a field another device's later
        // edit replaced was told so, in a sync summary and in its store.
        for ((dev, report, field), mine) in &self.last_of {
            let last = &self.last[&(*report, *field)];
            if last.dev == *dev {
                continue;
            }
            let id = self.reports[*report];
            let name = match field {
                Field::Note => "note",
                Field::Category => "category",
            };
            let told = self.told[*dev]
                .iter()
                .any(|(r, f, m)| *r == id && f == name && m == mine);
            let kept = self.devices[*dev]
                .client
                .overwrites_of(id)
                .unwrap()
                .iter()
                .any(|o| o.field == name && o.mine == *mine);
            if !(told && kept) {
                return Err(format!(
                    "device {dev}'s {name} {mine:?} of report {report} was replaced by device \
                     {}'s {:?}, and device {dev} was not told (summary {told}, kept {kept})",
                    last.dev, last.value
                ));
            }
        }
        Ok(())
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn the_later_edit_wins_and_the_loser_is_told_whatever_the_clocks_do(program in program()) {
        let mut world = World::new(&program.offsets);
        let mut outcome = program.steps.iter().try_for_each(|s| world.run(s));
        if outcome.is_ok() {
            outcome = world.check();
        }
        if let Err(problem) = outcome {
            let log = world.sim.log_lines().join("\n  ");
            prop_assert!(false, "{}\nwhat happened:\n  {}", problem, log);
        }
    }
}

/// Found by the property above: device 2 syncs while the server's clock is a
/// week ahead and keeps that clock (a clock only moves forward), so its next
/// edits are stamped a week ahead although its estimate of the server's time
/// is right again; the server refuses them for clock skew. Stamped again at
/// the time of the resend, its note would beat device 0's later one; stamped
/// at the time of the edit (the estimate kept with each queued op), it loses.
#[test]
fn an_edit_refused_for_a_runaway_clock_keeps_its_place_in_real_time() {
    let program = Program {
        offsets: vec![0, 0, 0],
        steps: vec![
            Step::Edit {
                dev: 1,
                report: 0,
                field: Field::Note,
                value: 0,
            },
            Step::Sync { dev: 1 },
            Step::ServerAhead { dev: 2 },
            Step::Sync { dev: 2 },
            Step::Edit {
                dev: 2,
                report: 0,
                field: Field::Note,
                value: 0,
            },
            Step::Edit {
                dev: 2,
                report: 0,
                field: Field::Category,
                value: 0,
            },
            Step::Edit {
                dev: 0,
                report: 0,
                field: Field::Note,
                value: 1,
            },
            Step::Sync { dev: 0 },
            Step::Sync { dev: 2 },
        ],
    };
    let mut world = World::new(&program.offsets);
    let outcome = program
        .steps
        .iter()
        .try_for_each(|s| world.run(s))
        .and_then(|()| world.check());
    if let Err(problem) = outcome {
        panic!(
            "{problem}\nwhat happened:\n  {}",
            world.sim.log_lines().join("\n  ")
        );
    }
}

/// Issue 23, item 1: one phone 9 minutes fast syncs; two phones with right
/// clocks then edit one report 2 s apart: the later edit wins everywhere.
#[test]
fn a_fast_phone_does_not_reorder_the_edits_of_others() {
    let sim = Sim::new();
    let (_, location) = sim.cells(1).remove(0);
    sim.add_user("ann", Role::Warden, &[]);
    sim.add_user("sam", Role::Supervisor, &[]);
    sim.add_user("sue", Role::Supervisor, &[]);
    let fast = sim.enrol_with_offset("ann", 9 * MINUTE_MS);
    let sam = sim.enrol("sam");
    let sue = sim.enrol("sue");
    // The fast phone records before its first sync: stamped 9 min ahead.
    let id = fast
        .client
        .record_report(report_at("0101", location, "as found"))
        .unwrap();
    let s = sim.sync(&fast, FaultPlan::Perfect).unwrap();
    assert!(s.rejected.is_empty(), "{:?}", s.rejected);
    sim.sync(&sam, FaultPlan::Perfect).unwrap();
    sim.sync(&sue, FaultPlan::Perfect).unwrap();
    sim.advance(1_000);
    sam.client.edit_report(id, note("sam's")).unwrap();
    sim.advance(2_000);
    sue.client
        .edit_report(id, note("sue's, 2 s later"))
        .unwrap();
    sim.sync(&sam, FaultPlan::Perfect).unwrap();
    sim.sync(&sue, FaultPlan::Perfect).unwrap();
    let told = sim.sync(&sam, FaultPlan::Perfect).unwrap();
    sim.sync(&fast, FaultPlan::Perfect).unwrap();
    for d in [&fast, &sam, &sue] {
        assert_eq!(
            d.client.show_report(id).unwrap().note,
            "sue's, 2 s later",
            "device {}",
            d.index
        );
    }
    assert_eq!(told.overwritten.len(), 1, "{told:?}");
    assert_eq!(told.overwritten[0].mine, "sam's");
    assert_eq!(told.overwritten[0].winner_by, None);
    // The fast phone's report was restamped into the server's time: it is
    // not in the future.
    let state = sim.store().report(id).unwrap().unwrap();
    assert!(state.max_hlc().wall_ms <= sim.now_ms() + MAX_DRIFT_MS);
}

/// Issue 23, item 2: a phone synced at +3 days then set right keeps its
/// later edit; a phone whose clock jumps ahead after its last sync does not
/// overwrite a later edit with an earlier one.
#[test]
fn a_phone_set_right_or_jumping_ahead_after_a_sync_keeps_real_time_order() {
    let sim = Sim::new();
    let (_, location) = sim.cells(1).remove(0);
    sim.add_user("ann", Role::Warden, &[]);
    sim.add_user("sam", Role::Supervisor, &[]);
    let ann = sim.enrol_with_offset("ann", 3 * DAY_MS);
    let sam = sim.enrol("sam");
    let id = ann
        .client
        .record_report(report_at("0101", location, "as found"))
        .unwrap();
    sim.sync(&ann, FaultPlan::Perfect).unwrap();
    sim.sync(&sam, FaultPlan::Perfect).unwrap();
    // Ann's clock is set right after her sync.
    ann.clock.jump(-3 * DAY_MS);
    sim.advance(60_000);
    sam.client.edit_report(id, note("sam's")).unwrap();
    sim.advance(2_000);
    ann.client
        .edit_report(id, note("ann's, 2 s later"))
        .unwrap();
    sim.sync(&sam, FaultPlan::Perfect).unwrap();
    sim.sync(&ann, FaultPlan::Perfect).unwrap();
    let sam_told = sim.sync(&sam, FaultPlan::Perfect).unwrap();
    assert_eq!(sam.client.show_report(id).unwrap().note, "ann's, 2 s later");
    assert_eq!(ann.client.show_report(id).unwrap().note, "ann's, 2 s later");
    assert_eq!(sam_told.overwritten.len(), 1, "{sam_told:?}");
    assert_eq!(sam_told.overwritten[0].winner_by.as_deref(), Some("ann"));

    // Now Ann's clock jumps an hour ahead after her sync; she edits, and
    // Sam edits 2 s later.
    ann.clock.jump(HOUR_MS);
    sim.advance(60_000);
    ann.client.edit_report(id, note("ann's, earlier")).unwrap();
    sim.advance(2_000);
    sam.client
        .edit_report(id, note("sam's, 2 s later"))
        .unwrap();
    sim.sync(&sam, FaultPlan::Perfect).unwrap();
    let ann_sync = sim.sync(&ann, FaultPlan::Perfect).unwrap();
    sim.sync(&sam, FaultPlan::Perfect).unwrap();
    assert!(ann_sync.rejected.is_empty(), "{:?}", ann_sync.rejected);
    assert_eq!(sam.client.show_report(id).unwrap().note, "sam's, 2 s later");
    assert_eq!(ann.client.show_report(id).unwrap().note, "sam's, 2 s later");
    assert_eq!(ann_sync.overwritten.len(), 1, "{ann_sync:?}");
    assert_eq!(ann_sync.overwritten[0].mine, "ann's, earlier");
}

/// Issue 23, item 3: a server run for a moment with its clock a week ahead
/// does not make later edits revert once its clock is right again.
#[test]
fn a_server_clock_that_ran_ahead_does_not_outvote_later_edits() {
    let sim = Sim::new();
    let (_, location) = sim.cells(1).remove(0);
    sim.add_user("ann", Role::Warden, &[]);
    let ann = sim.enrol("ann");
    let id = ann
        .client
        .record_report(report_at("0101", location, "as found"))
        .unwrap();
    sim.sync(&ann, FaultPlan::Perfect).unwrap();
    sim.server_clock().jump(7 * DAY_MS);
    sim.service().reassign(true).unwrap();
    sim.sync(&ann, FaultPlan::Perfect).unwrap();
    sim.server_clock().jump(-7 * DAY_MS);
    sim.advance(1_000);
    ann.client.edit_report(id, note("after the fix")).unwrap();
    let s = sim.sync(&ann, FaultPlan::Perfect).unwrap();
    assert!(s.rejected.is_empty(), "{:?}", s.rejected);
    assert_eq!(ann.client.show_report(id).unwrap().note, "after the fix");
    let state = sim.store().report(id).unwrap().unwrap();
    assert_eq!(state.note(), Some("after the fix"));
    assert!(state.max_hlc().wall_ms <= sim.now_ms() + MAX_DRIFT_MS);
}

fn note(text: &str) -> ReportEdit {
    ReportEdit {
        note: Some(text.into()),
        ..Default::default()
    }
}

/// A phone three days fast records before it ever synced (enrolment
/// measures nothing): the server refuses the stamp, and the device, having
/// measured its error at the hello, stamps the report again with the error
/// taken off its stamp and its observed time alike, so it lands at the time
/// it was really made.
#[test]
fn a_phone_days_fast_before_its_first_sync_lands_its_report_at_the_real_time() {
    let sim = Sim::new();
    let (_, location) = sim.cells(1).remove(0);
    sim.add_user("ann", Role::Warden, &[]);
    let ann = sim.enrol_with_offset("ann", 3 * DAY_MS);
    let recorded_at = sim.now_ms() as i64;
    let mut input = report_at("0101", location, "as found");
    input.observed_at_ms = ann.clock.now_ms() as i64;
    let id = ann.client.record_report(input).unwrap();
    sim.advance(60_000);
    let s = sim.sync(&ann, FaultPlan::Perfect).unwrap();
    assert!(s.rejected.is_empty(), "{:?}", s.rejected);
    let state = sim.store().report(id).unwrap().expect("landed");
    let origin = state.origin.unwrap();
    assert!(
        origin.observed_at_ms.abs_diff(recorded_at) < 1_000,
        "observed {} vs recorded {recorded_at}",
        origin.observed_at_ms
    );
    assert!((origin.created.wall_ms as i64).abs_diff(recorded_at) < 1_000);
    let shown = ann.client.show_report(id).unwrap();
    assert_eq!(shown.observed_at_ms, origin.observed_at_ms);
}
