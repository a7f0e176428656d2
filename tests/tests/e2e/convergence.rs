//! Convergence under faults, in process (`gridwarden_e2e::sim`): real client
//! cores and the real server service, with requests lost, answers lost,
//! requests handled twice and stale pushes delivered late, on devices whose
//! clocks may be minutes, hours or a year off. Whatever happened on the way,
//! once every device has synced over a good link every replica shows what the
//! server holds, and the server holds exactly what was recorded and allowed,
//! with the later edit winning even over a device whose date is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use gridwarden_client_core::{Location, ReportEdit, ReportStatus, ReportView};
use gridwarden_e2e::report_at;
use gridwarden_e2e::sim::{Fault, FaultPlan, Sim, SimDevice, SIM_START_MS};
use gridwarden_protocol::{ReportState, Role};
use gridwarden_server::Limits;
use proptest::prelude::*;
use proptest::test_runner::Config;
use uuid::Uuid;

const CATEGORIES: [&str; 3] = ["0101", "0102", "0201"];
const NOTES: [&str; 4] = ["a", "b", "c", "d"];
/// Chance of each of the four faults per exchange of a faulty sync: four
/// requests in ten meet one.
const FAULT_PERCENT: u64 = 10;
/// Cells used: the wardens cover the first two; the third is outside their
/// scope. Reports are recorded in all three.
const CELLS: usize = 3;

const MINUTE_MS: i64 = 60 * 1000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const YEAR_MS: i64 = 365 * 24 * HOUR_MS;

/// Clock offsets a device may have: right, a little fast (within the
/// server's allowed skew), two hours slow, a year ahead (far beyond it).
const OFFSETS: [i64; 4] = [0, 3 * MINUTE_MS, -2 * HOUR_MS, YEAR_MS];

/// Device `i` belongs to `USERS[i]`.
const USERS: [(&str, Role); 4] = [
    ("sam", Role::Supervisor),
    ("ann", Role::Warden),
    ("bo", Role::Warden),
    ("sue", Role::Supervisor),
];

#[derive(Clone, Debug)]
enum Change {
    Note(&'static str),
    Category(&'static str),
    Move(usize),
}

/// One step of a generated program. `report` picks among the reports the
/// device shows at that moment, in recording order (modulo their number); a
/// device that shows none does nothing. `Sync` runs one sync of the device
/// over a link whose faults come from `seed` (0: a perfect link).
#[derive(Clone)]
enum Step {
    Record {
        dev: usize,
        cell: usize,
    },
    Edit {
        dev: usize,
        report: usize,
        change: Change,
    },
    Delete {
        dev: usize,
        report: usize,
    },
    Sync {
        dev: usize,
        seed: u64,
    },
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Record { dev, cell } => write!(f, "Record{{dev:{dev}, cell:{cell}}}"),
            Step::Edit {
                dev,
                report,
                change,
            } => {
                write!(f, "Edit{{dev:{dev}, report:{report}, ")?;
                match change {
                    Change::Note(n) => write!(f, "note:{n:?}}}"),
                    Change::Category(c) => write!(f, "category:{c:?}}}"),
                    Change::Move(cell) => write!(f, "cell:{cell}}}"),
                }
            }
            Step::Delete { dev, report } => write!(f, "Delete{{dev:{dev}, report:{report}}}"),
            Step::Sync { dev, seed } => write!(f, "Sync{{dev:{dev}, seed:{seed}}}"),
        }
    }
}

/// A generated scenario: how many devices, how far each one's clock is off
/// (`offsets[i]` ms ahead of the server's, for device `i`), and what they do.
#[derive(Clone)]
struct Program {
    devices: usize,
    offsets: Vec<i64>,
    steps: Vec<Step>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Program {{ devices: {}, clock offsets (ms): {:?}, steps: [",
            self.devices, self.offsets
        )?;
        for step in &self.steps {
            writeln!(f, "    {step:?},")?;
        }
        write!(f, "] }}")
    }
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        proptest::sample::select(&NOTES[..]).prop_map(Change::Note),
        proptest::sample::select(&CATEGORIES[..]).prop_map(Change::Category),
        (0..CELLS).prop_map(Change::Move),
    ]
}

fn step(devices: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..devices, 0..CELLS).prop_map(|(dev, cell)| Step::Record { dev, cell }),
        4 => (0..devices, 0..8usize, change())
            .prop_map(|(dev, report, change)| Step::Edit { dev, report, change }),
        1 => (0..devices, 0..8usize).prop_map(|(dev, report)| Step::Delete { dev, report }),
        // Seed 0 is a perfect link, so shrinking can take the faults away.
        4 => (0..devices, 0..100u64).prop_map(|(dev, seed)| Step::Sync { dev, seed }),
    ]
}

/// A right clock or a year ahead most often: with three or four devices,
/// about three programs in four have a device a year ahead. Shrinks to a
/// right clock.
fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => Just(OFFSETS[0]),
        1 => Just(OFFSETS[1]),
        1 => Just(OFFSETS[2]),
        2 => Just(OFFSETS[3]),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    (3..=4usize).prop_flat_map(|devices| {
        (
            proptest::collection::vec(offset(), devices),
            proptest::collection::vec(step(devices), 1..=40),
        )
            .prop_map(move |(offsets, steps)| Program {
                devices,
                offsets,
                steps,
            })
    })
}

/// What the server must end with for one report: the last allowed write of
/// each field in program order, deleted if an allowed delete happened.
#[derive(Clone, Debug)]
struct Expected {
    reporter: String,
    note: String,
    category: String,
    cell: usize,
    deleted: bool,
}

struct World {
    sim: Sim,
    devices: Vec<SimDevice>,
    /// Sim time between two local changes; see [`change_gap_ms`].
    gap_ms: u64,
    cells: Vec<(String, Location)>,
    /// Every report recorded, in order.
    reports: Vec<Uuid>,
    expected: BTreeMap<Uuid, Expected>,
}

impl World {
    fn new(offsets: &[i64]) -> Self {
        // Small pull pages: a sync pulls several, and faults hit between them.
        let sim = Sim::with_limits(Limits {
            max_page_records: 2,
            ..Limits::default()
        });
        let cells = sim.cells(CELLS);
        assert_eq!(cells.len(), CELLS, "the sample layer has enough cells");
        let covered = [cells[0].0.as_str(), cells[1].0.as_str()];
        let gap_ms = change_gap_ms(offsets, sim.service().limits().max_clock_skew_ms);
        let devices = USERS[..offsets.len()]
            .iter()
            .zip(offsets)
            .map(|((name, role), offset)| {
                let cells: &[&str] = if role.sees_everything() {
                    &[]
                } else {
                    &covered
                };
                sim.add_user(name, *role, cells);
                sim.enrol_with_offset(name, *offset)
            })
            .collect();
        Self {
            sim,
            devices,
            gap_ms,
            cells,
            reports: Vec::new(),
            expected: BTreeMap::new(),
        }
    }

    /// Whether the server lets device `dev` change a report of `reporter`.
    fn allowed(&self, dev: usize, reporter: &str) -> bool {
        let d = &self.devices[dev];
        d.role.sees_everything() || d.user == reporter
    }

    /// The `report`-th (modulo) report device `dev` shows, in recording order.
    fn pick(&self, dev: usize, report: usize) -> Option<Uuid> {
        let shown: BTreeSet<Uuid> = self.devices[dev]
            .client
            .list_reports()
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        let known: Vec<Uuid> = self
            .reports
            .iter()
            .copied()
            .filter(|id| shown.contains(id))
            .collect();
        (!known.is_empty()).then(|| known[report % known.len()])
    }

    fn run(&mut self, step: &Step) -> Result<(), String> {
        let at = self.sim.now_ms() - SIM_START_MS;
        self.sim.log(format!("step {step:?} at +{at} ms"));
        match *step {
            Step::Record { dev, cell } => {
                self.sim.advance(self.gap_ms);
                let note = format!("r{}", self.reports.len());
                let input = report_at(CATEGORIES[0], self.cells[cell].1, &note);
                let id = self.devices[dev]
                    .client
                    .record_report(input)
                    .map_err(|e| format!("device {dev} could not record: {e}"))?;
                self.reports.push(id);
                self.expected.insert(
                    id,
                    Expected {
                        reporter: self.devices[dev].user.clone(),
                        note,
                        category: CATEGORIES[0].into(),
                        cell,
                        deleted: false,
                    },
                );
            }
            Step::Edit {
                dev,
                report,
                ref change,
            } => {
                let Some(id) = self.pick(dev, report) else {
                    return Ok(());
                };
                let mut edit = ReportEdit::default();
                match change {
                    Change::Note(n) => edit.note = Some(n.to_string()),
                    Change::Category(c) => edit.category = Some(c.to_string()),
                    Change::Move(cell) => edit.location = Some(self.cells[*cell].1),
                }
                self.sim.advance(self.gap_ms);
                self.devices[dev]
                    .client
                    .edit_report(id, edit)
                    .map_err(|e| {
                        format!("device {dev} could not edit report {id} it shows: {e}")
                    })?;
                let reporter = self.expected[&id].reporter.clone();
                if self.allowed(dev, &reporter) {
                    let e = self.expected.get_mut(&id).unwrap();
                    match change {
                        Change::Note(n) => e.note = n.to_string(),
                        Change::Category(c) => e.category = c.to_string(),
                        Change::Move(cell) => e.cell = *cell,
                    }
                }
            }
            Step::Delete { dev, report } => {
                let Some(id) = self.pick(dev, report) else {
                    return Ok(());
                };
                self.sim.advance(self.gap_ms);
                self.devices[dev].client.delete_report(id).map_err(|e| {
                    format!("device {dev} could not delete report {id} it shows: {e}")
                })?;
                let reporter = self.expected[&id].reporter.clone();
                if self.allowed(dev, &reporter) {
                    self.expected.get_mut(&id).unwrap().deleted = true;
                }
            }
            Step::Sync { dev, seed } => {
                let plan = match seed {
                    0 => FaultPlan::Perfect,
                    seed => FaultPlan::Seeded {
                        seed,
                        percent: FAULT_PERCENT,
                    },
                };
                match self.sim.sync(&self.devices[dev], plan) {
                    Ok(_) => {}
                    Err(e) if e.is_offline() => {}
                    Err(e) => {
                        return Err(format!(
                            "sync of device {dev} failed with more than a lost link: {e}"
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Delivers whatever the network still holds, then syncs every device
    /// over a good link: one round pushes everything, the next pulls it
    /// everywhere, and a third must move nothing.
    fn quiesce(&self) -> Result<(), String> {
        self.sim.deliver_delayed();
        for round in 1..=3 {
            let mut moved = false;
            for d in &self.devices {
                let s = self
                    .sim
                    .sync(d, FaultPlan::Perfect)
                    .map_err(|e| format!("quiesce: device {} could not sync: {e}", d.index))?;
                moved |= s.pushed + s.duplicates + s.pulled > 0 || !s.rejected.is_empty();
                if s.pending != 0 {
                    return Err(format!(
                        "quiesce: device {} kept {} ops after a good sync",
                        d.index, s.pending
                    ));
                }
            }
            if !moved {
                return Ok(());
            }
            if round == 3 {
                return Err("quiesce: a third round of good syncs still moved data".into());
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        self.quiesce()?;
        let store = self.sim.store();
        let live = store.reports(false).unwrap();
        let live_ids: BTreeSet<Uuid> = live.iter().map(|r| r.id).collect();
        if live_ids.len() != live.len() {
            return Err(format!("the server lists a report twice: {live_ids:?}"));
        }
        let expected_live: BTreeSet<Uuid> = self
            .expected
            .iter()
            .filter(|(_, e)| !e.deleted)
            .map(|(id, _)| *id)
            .collect();
        if live_ids != expected_live {
            return Err(format!(
                "server's live reports {live_ids:?} are not the recorded, undeleted ones {expected_live:?}"
            ));
        }
        // No clock the server keeps runs further ahead of its time than the
        // allowed skew, whatever the devices' clocks say.
        let limits = self.sim.service().limits();
        let latest = self.sim.now_ms() + limits.max_clock_skew_ms;
        // The server against the program: every allowed op is reflected.
        for (id, e) in &self.expected {
            let state = store
                .report(*id)
                .unwrap()
                .ok_or_else(|| format!("the server never got report {id}"))?;
            let newest = state.max_hlc();
            if newest.wall_ms > latest {
                return Err(format!(
                    "server report {id} holds clock {newest}, more than the allowed skew \
                     ahead of the server's time {}: {state:?}",
                    self.sim.now_ms()
                ));
            }
            let reporter = state.origin.as_ref().map(|o| o.reporter.as_str());
            if reporter != Some(e.reporter.as_str()) || state.is_deleted() != e.deleted {
                return Err(format!("server report {id}: {state:?}, expected {e:?}"));
            }
            if e.deleted {
                continue;
            }
            let (cell, location) = &self.cells[e.cell];
            let got = (
                state.note(),
                state.category(),
                state.location(),
                state.grid_cell(),
            );
            let want = (
                Some(e.note.as_str()),
                Some(e.category.as_str()),
                Some(*location),
                Some(cell.as_str()),
            );
            if got != want {
                return Err(format!(
                    "server report {id} (note, category, location, cell) is {got:?}, expected {want:?}"
                ));
            }
        }
        // Every device against the server, within what it may see.
        for d in &self.devices {
            self.check_device(d, &live)?;
        }
        Ok(())
    }

    fn check_device(&self, d: &SimDevice, live: &[ReportState]) -> Result<(), String> {
        let who = format!("device {} ({} {})", d.index, d.role.as_str(), d.user);
        let outbox = d.client.outbox_len().unwrap();
        if outbox != 0 {
            return Err(format!("{who} still has {outbox} ops queued"));
        }
        for r in d.client.rejections().unwrap() {
            if r.code != "forbidden" {
                return Err(format!(
                    "{who}: the server refused op {} of report {}: {} ({}); \
                     only a warden's edits of others' reports should be refused",
                    r.op_id, r.report_id, r.reason, r.code
                ));
            }
        }
        let want: BTreeMap<Uuid, &ReportState> = live
            .iter()
            .filter(|s| {
                let reporter = s.origin.as_ref().map_or("", |o| o.reporter.as_str());
                d.may_see(reporter, s.grid_cell())
            })
            .map(|s| (s.id, s))
            .collect();
        let shown: BTreeMap<Uuid, ReportView> = d
            .client
            .list_reports()
            .unwrap()
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let want_ids: BTreeSet<&Uuid> = want.keys().collect();
        let shown_ids: BTreeSet<&Uuid> = shown.keys().collect();
        if want_ids != shown_ids {
            let extra: Vec<String> = shown_ids
                .difference(&want_ids)
                .map(|id| describe(&shown[*id], store_state(self, **id)))
                .collect();
            let missing: Vec<&&Uuid> = want_ids.difference(&shown_ids).collect();
            return Err(format!(
                "{who} shows other reports than the server lets it see;\n  shown but not \
                 in its scope on the server: {extra:?}\n  in scope but not shown: {missing:?}"
            ));
        }
        for (id, s) in &want {
            let v = &shown[id];
            let loc = s.location().unwrap();
            let server = (
                s.note().unwrap(),
                s.category().unwrap(),
                (loc.lon, loc.lat, loc.accuracy_m),
                s.grid_cell(),
                s.origin.as_ref().unwrap().reporter.as_str(),
            );
            let device = (
                v.note.as_str(),
                v.category.as_str(),
                (v.lon, v.lat, v.accuracy_m),
                v.grid_cell.as_deref(),
                v.reporter.as_str(),
            );
            if server != device {
                return Err(format!(
                    "{who} shows report {id} as {device:?}; the server holds {server:?}"
                ));
            }
        }
        Ok(())
    }
}

fn store_state(world: &World, id: Uuid) -> Option<ReportState> {
    world.sim.store().report(id).unwrap()
}

fn describe(v: &ReportView, server: Option<ReportState>) -> String {
    let server = server.map(|s| {
        format!(
            "server: note {:?}, cell {:?}, deleted {}",
            s.note(),
            s.grid_cell(),
            s.is_deleted()
        )
    });
    format!(
        "{} (device: note {:?}, cell {:?}; {})",
        v.id,
        v.note,
        v.grid_cell,
        server.unwrap_or_else(|| "not on the server".into())
    )
}

/// How far apart in sim time the model puts two local changes, so that
/// program order is last-writer order and [`Expected`] can follow it.
///
/// A device whose clock is right, and any device once a Welcome has measured
/// its offset, stamps a change with the server's time (the HLC never runs
/// behind the time it is fed), so a millisecond would do. Before its first
/// Welcome a device stamps with its raw clock (enrolment measures nothing),
/// but it can then only change its own reports that no one else has yet
/// (pushing needs a Welcome), and its HLC orders those changes among
/// themselves. So:
/// - a year ahead, beyond the allowed skew: the server refuses the stamp; the
///   device re-stamps the change with the corrected time of that sync, which
///   no one else's change to the report can precede. Nothing stamped with the
///   runaway clock is applied anywhere.
/// - two hours behind: the change is stamped early, which no one else's
///   change to the report can follow.
/// - a few minutes ahead, within the allowed skew: the server accepts the
///   stamp, takes the lead into its own clock and passes it on to every
///   device that hears from it; until time catches up, their changes to any
///   report are stamped with the lead too. That is what the skew allowance
///   allows, so the model only asks changes further apart than the largest
///   such lead to be ordered by time (with a 1 ms gap, the proptest finds
///   programs where a device that heard of the lead outvotes a later change).
fn change_gap_ms(offsets: &[i64], max_skew_ms: u64) -> u64 {
    let lead = offsets
        .iter()
        .filter_map(|o| u64::try_from(*o).ok())
        .filter(|o| *o <= max_skew_ms)
        .max()
        .unwrap_or(0);
    lead + 1
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        // Regressions are reported in the failure message; nothing is
        // written next to the sources.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn replicas_converge_whatever_the_network_does(program in program()) {
        let mut world = World::new(&program.offsets);
        let mut outcome = program.steps.iter().try_for_each(|step| world.run(step));
        if outcome.is_ok() {
            outcome = world.check();
        }
        if let Err(problem) = outcome {
            let log = world.sim.log_lines().join("\n  ");
            prop_assert!(false, "{}\nwhat happened:\n  {}", problem, log);
        }
    }
}

fn note(text: &str) -> ReportEdit {
    ReportEdit {
        note: Some(text.into()),
        ..Default::default()
    }
}

#[test]
fn a_lost_ack_or_a_duplicated_push_never_makes_a_second_copy() {
    let sim = Sim::new();
    let cells = sim.cells(1);
    let (cell_a, in_a) = cells[0].clone();
    sim.add_user("ann", Role::Warden, &[&cell_a]);
    sim.add_user("sam", Role::Supervisor, &[]);
    let ann = sim.enrol("ann");
    let sam = sim.enrol("sam");

    // Hello, then the push: the server applies it, the ack is lost.
    let id = ann
        .client
        .record_report(report_at("0101", in_a, "lost ack"))
        .unwrap();
    let lost = FaultPlan::Script(vec![Fault::Deliver, Fault::DropAnswer]);
    let err = sim.sync(&ann, lost).unwrap_err();
    assert!(err.is_offline(), "{err}");
    assert_eq!(sim.stats().dropped_answers, 1);
    assert!(
        sim.store().report(id).unwrap().is_some(),
        "the server applied the push whose ack was lost"
    );
    assert_eq!(
        ann.client.outbox_len().unwrap(),
        1,
        "with no ack the op stays queued"
    );
    let retry = sim.sync(&ann, FaultPlan::Perfect).unwrap();
    assert_eq!(
        (
            retry.pushed,
            retry.duplicates,
            retry.rejected.len(),
            retry.pending
        ),
        (0, 1, 0, 0),
        "the resent op is a duplicate, not a second report"
    );
    assert_eq!(sim.store().reports(false).unwrap().len(), 1);

    // The same push handled twice: the device hears the second answer.
    ann.client.edit_report(id, note("twice")).unwrap();
    let id2 = ann
        .client
        .record_report(report_at("0102", in_a, "sent twice"))
        .unwrap();
    let twice = FaultPlan::Script(vec![Fault::Deliver, Fault::Duplicate]);
    let dup = sim.sync(&ann, twice).unwrap();
    assert_eq!(sim.stats().duplicated, 1);
    assert_eq!(
        (dup.pushed, dup.duplicates, dup.pending),
        (0, 2, 0),
        "the second answer calls both ops duplicates, and they leave the outbox"
    );
    let server = sim.store().reports(false).unwrap();
    assert_eq!(server.len(), 2, "{server:?}");
    assert_eq!(
        sim.store().report(id).unwrap().unwrap().note(),
        Some("twice")
    );

    // A duplicated pull, then a lost pull answer, change nothing either.
    let pulls = FaultPlan::Script(vec![Fault::Deliver, Fault::Duplicate]);
    let s = sim.sync(&sam, pulls).unwrap();
    assert_eq!(s.pulled, 2);
    let lost_page = FaultPlan::Script(vec![Fault::Deliver, Fault::DropAnswer]);
    assert!(sim.sync(&ann, lost_page).unwrap_err().is_offline());
    for d in [&ann, &sam] {
        sim.sync(d, FaultPlan::Perfect).unwrap();
        let shown = d.client.list_reports().unwrap();
        let ids: BTreeSet<Uuid> = shown.iter().map(|r| r.id).collect();
        assert_eq!(ids, BTreeSet::from([id, id2]), "device {}", d.user);
        let first = d.client.show_report(id).unwrap();
        assert_eq!(
            (first.note.as_str(), first.grid_cell.as_deref()),
            ("twice", Some(cell_a.as_str()))
        );
        assert_eq!(d.client.outbox_len().unwrap(), 0);
    }
}

#[test]
fn a_stale_push_delivered_after_newer_ones_still_converges() {
    let sim = Sim::new();
    let cells = sim.cells(2);
    let [(cell_a, in_a), (cell_b, in_b)] = [cells[0].clone(), cells[1].clone()];
    sim.add_user("ann", Role::Warden, &[&cell_a, &cell_b]);
    sim.add_user("sam", Role::Supervisor, &[]);
    let ann = sim.enrol("ann");
    let sam = sim.enrol("sam");

    let id = ann
        .client
        .record_report(report_at("0101", in_a, "first"))
        .unwrap();
    sim.sync(&ann, FaultPlan::Perfect).unwrap();
    sim.sync(&sam, FaultPlan::Perfect).unwrap();

    // Ann moves the report and rewrites its note; her push gets stuck.
    sim.advance(1);
    let older = ReportEdit {
        note: Some("ann, older".into()),
        location: Some(in_b),
        ..Default::default()
    };
    ann.client.edit_report(id, older).unwrap();
    let stuck = FaultPlan::Script(vec![Fault::Deliver, Fault::Delay]);
    assert!(sim.sync(&ann, stuck).unwrap_err().is_offline());
    assert_eq!(sim.delayed_len(), 1);

    // Later, Sam rewrites the note and it reaches the server first.
    sim.advance(1);
    sam.client.edit_report(id, note("sam, newer")).unwrap();
    sim.sync(&sam, FaultPlan::Perfect).unwrap();
    assert_eq!(
        sim.store().report(id).unwrap().unwrap().note(),
        Some("sam, newer")
    );

    // Ann's stale push arrives now, after the newer one.
    assert_eq!(sim.deliver_delayed(), 1);
    let state = sim.store().report(id).unwrap().unwrap();
    assert_eq!(
        (state.note(), state.location(), state.grid_cell()),
        (Some("sam, newer"), Some(in_b), Some(cell_b.as_str())),
        "the newer note wins; the stale edit still wins the field nobody wrote later"
    );

    // Ann's next sync resends the edit: the server already has it.
    let again = sim.sync(&ann, FaultPlan::Perfect).unwrap();
    assert_eq!((again.pushed, again.duplicates), (0, 1));

    // A stale create that arrives after its retry is a duplicate.
    let id2 = ann
        .client
        .record_report(report_at("0102", in_a, "retried"))
        .unwrap();
    let stuck = FaultPlan::Script(vec![Fault::Deliver, Fault::Delay]);
    assert!(sim.sync(&ann, stuck).unwrap_err().is_offline());
    let retry = sim.sync(&ann, FaultPlan::Perfect).unwrap();
    assert_eq!(
        (retry.pushed, retry.duplicates),
        (1, 0),
        "the held push has not arrived, so the retry applies the create"
    );
    assert_eq!(sim.deliver_delayed(), 1);
    let late = sim.log_lines();
    let late = late.last().unwrap();
    assert!(late.contains("Ack[duplicate]"), "{late}");
    assert_eq!(sim.store().reports(false).unwrap().len(), 2);

    for d in [&sam, &ann] {
        sim.sync(d, FaultPlan::Perfect).unwrap();
    }
    for d in [&sam, &ann] {
        let r = d.client.show_report(id).unwrap();
        assert_eq!(
            (r.note.as_str(), r.lon, r.lat, r.grid_cell.as_deref()),
            ("sam, newer", in_b.lon, in_b.lat, Some(cell_b.as_str())),
            "device {}",
            d.user
        );
        let ids: BTreeSet<Uuid> = d
            .client
            .list_reports()
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, BTreeSet::from([id, id2]), "device {}", d.user);
        assert_eq!(d.client.outbox_len().unwrap(), 0);
    }
}

#[test]
fn a_phone_a_year_ahead_cannot_outvote_later_honest_edits() {
    let sim = Sim::new();
    let (cell_a, in_a) = sim.cells(1)[0].clone();
    sim.add_user("ann", Role::Warden, &[&cell_a]);
    sim.add_user("sam", Role::Supervisor, &[]);
    let phone = sim.enrol_with_offset("ann", YEAR_MS);
    let sam = sim.enrol("sam");
    let skew = sim.service().limits().max_clock_skew_ms;
    let within_skew = |what: &str| {
        let latest = sim.now_ms() + skew;
        for state in sim.store().reports(false).unwrap() {
            let newest = state.max_hlc();
            assert!(
                newest.wall_ms <= latest,
                "{what}: the server keeps clock {newest} for report {}, more than the allowed \
                 skew ahead of its time {}: {state:?}",
                state.id,
                sim.now_ms()
            );
        }
    };

    // Right after enrolment nothing has measured the phone's offset: the
    // report is stamped with its raw clock, a year ahead.
    sim.advance(1);
    let recorded_ms = sim.now_ms();
    let id = phone
        .client
        .record_report(report_at("0101", in_a, "from the phone"))
        .unwrap();

    // Its first sync: the Welcome measures the offset, the server refuses the
    // stamp, the phone re-stamps the report with corrected time and pushes it
    // again in the same sync.
    sim.advance(1);
    let first = sim.sync(&phone, FaultPlan::Perfect).unwrap();
    let log = sim.log_lines();
    assert!(
        log.iter()
            .any(|l| l.starts_with("dev0: #2 Push[1 ops] → Ack[rejected]")),
        "the raw stamp was refused first:\n{}",
        log.join("\n")
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("dev0: #3 Push[1 ops] → Ack[applied]")),
        "and the re-stamped op applied:\n{}",
        log.join("\n")
    );
    assert_eq!(
        (first.pushed, first.rejected.len(), first.pending),
        (1, 0, 0),
        "{first:?}"
    );
    let on_server = sim.store().reports(false).unwrap();
    assert_eq!(
        on_server.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![id],
        "the server has the report once"
    );
    let created = on_server[0].origin.as_ref().unwrap().created;
    assert!(
        (recorded_ms..=sim.now_ms()).contains(&created.wall_ms),
        "re-stamped with the server's time, not the phone's: {created}"
    );
    assert_eq!(phone.client.outbox_len().unwrap(), 0);
    assert!(phone.client.rejections().unwrap().is_empty());
    assert_eq!(
        phone.client.show_report(id).unwrap().status,
        ReportStatus::Synced
    );
    within_skew("after the phone's first sync");
    let measured = sim.log_lines().len();

    // The supervisor gets the report; the phone edits the note, and a minute
    // later the supervisor, whose clock is right, edits it too.
    sim.sync(&sam, FaultPlan::Perfect).unwrap();
    sim.advance(1);
    phone.client.edit_report(id, note("phone")).unwrap();
    sim.advance(60 * 1000);
    sam.client.edit_report(id, note("supervisor")).unwrap();

    // The phone's older edit reaches the server first; the later one wins
    // all the same, everywhere.
    sim.advance(1);
    for d in [&phone, &sam, &phone, &sam] {
        let s = sim.sync(d, FaultPlan::Perfect).unwrap();
        assert!(s.rejected.is_empty(), "device {}: {s:?}", d.user);
    }
    let state = sim.store().report(id).unwrap().unwrap();
    assert_eq!(
        state.note(),
        Some("supervisor"),
        "the later honest edit wins on the server: {state:?}"
    );
    for d in [&phone, &sam] {
        let r = d.client.show_report(id).unwrap();
        assert_eq!(r.note, "supervisor", "device {}", d.user);
        assert_eq!(d.client.outbox_len().unwrap(), 0, "device {}", d.user);
        assert!(
            d.client.rejections().unwrap().is_empty(),
            "device {}",
            d.user
        );
    }
    let later = &sim.log_lines()[measured..];
    assert!(
        !later
            .iter()
            .any(|l| l.contains("Ack[") && l.contains("rejected")),
        "once its offset is measured the phone stamps with corrected time, and nothing \
         is refused:\n{}",
        later.join("\n")
    );
    within_skew("after everyone synced");
}
