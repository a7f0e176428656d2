//! The ops of a `Push` as the server takes them: decode the batch, run the
//! field checks the server runs (`protocol/src/validate.rs`), merge each
//! accepted report op with `ReportState::apply` and place it in a grid cell,
//! and summarise accepted track points as a supervisor's review would
//! (`grid/src/track`). The input is a postcard-encoded `Push`, the payload
//! of a client frame without its `ClientMessage` tag.
//!
//! Case steps run through the case state machine as a city supervisor's.
//!
//! Must hold: nothing panics, and applying the accepted ops a second time
//! changes no report (the merge is idempotent); a refused case step changes
//! nothing and a case's history chains.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use gridwarden_grid::{Cell, GridIndex};
use gridwarden_protocol::case::{Applying, CaseActor, CaseOp, CaseState, CaseStatus};
use gridwarden_protocol::{
    codec, validate, OpBody, PatrolInfo, PatrolOp, Push, ReportOp, ReportState, Role, TrackPoint,
};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let Ok(push) = codec::decode::<Push>(data) else {
        return;
    };
    let mut accepted = Vec::new();
    // Keyed by seq, first one kept: the server's `INSERT OR IGNORE`.
    let mut points: BTreeMap<u32, TrackPoint> = BTreeMap::new();
    let mut patrol = patrol_info();
    let mut cases: BTreeMap<Uuid, CaseState> = BTreeMap::new();
    for op in &push.ops {
        match &op.body {
            OpBody::Report {
                report_id,
                op: report_op,
            } => {
                if check(report_op).is_ok() {
                    accepted.push((*report_id, report_op, op.hlc));
                }
            }
            OpBody::Patrol { op: patrol_op, .. } => {
                if validate::patrol_op(patrol_op).is_err() {
                    continue;
                }
                match patrol_op {
                    PatrolOp::Start(start) => patrol.started_at_ms = start.started_at_ms,
                    PatrolOp::Points(batch) => {
                        for p in batch {
                            points.entry(p.seq).or_insert(*p);
                        }
                    }
                    PatrolOp::Stop { ended_at_ms } => patrol.stop(*ended_at_ms),
                }
            }
            OpBody::Case {
                report_id,
                op: case_op,
            } => {
                if validate::case_op(case_op).is_ok() {
                    step_case(&mut cases, *report_id, case_op, op.hlc.wall_ms as i64);
                }
            }
        }
    }
    for case in cases.values() {
        let mut copy = case.clone();
        copy.merge(case);
        assert_eq!(&copy, case, "merging a case with itself changed it");
        let mut status = CaseStatus::Reported;
        for t in &case.history {
            assert_eq!(t.from, status, "a case history that does not chain");
            status = t.to;
        }
    }

    let mut states: BTreeMap<Uuid, ReportState> = BTreeMap::new();
    apply_all(&mut states, &accepted);
    let once = states.clone();
    apply_all(&mut states, &accepted);
    assert_eq!(states, once, "applying the same ops again changed a report");
    for state in states.values_mut() {
        let copy = state.clone();
        state.merge(&copy);
        assert_eq!(*state, copy, "merging a report with itself changed it");
        if let Some(loc) = state.location() {
            let _ = grid().assign(loc.lon, loc.lat);
        }
    }

    let points: Vec<TrackPoint> = points.into_values().collect();
    let scope = vec!["A1".to_owned()];
    let summary = gridwarden_grid::summarise(&patrol, &points, Some(grid()), &scope, vec![]);
    let _ = gridwarden_grid::to_geojson(&summary, &points);
});

/// A case step as the server takes it (`server/src/service/cases.rs`), by a
/// supervisor of the whole city who covers every cell: the state machine
/// alone decides, with a deadline a working day on.
fn step_case(cases: &mut BTreeMap<Uuid, CaseState>, report: Uuid, op: &CaseOp, device_ms: i64) {
    let case = cases
        .entry(report)
        .or_insert_with(|| CaseState::reported(report, Some(device_ms.saturating_add(3_600_000))));
    let before = case.clone();
    let applying = Applying {
        actor: CaseActor {
            user: "sam",
            role: Role::Supervisor,
            department: Some("water"),
            covers_cell: true,
        },
        device: Uuid::from_u128(1),
        device_ms,
        server_ms: device_ms,
        next_deadline_ms: Some(device_ms.saturating_add(27_000_000)),
    };
    if case.transition(op, applying).is_err() {
        assert_eq!(*case, before, "a refused step changed the case");
    }
}

/// The server's field checks for one report op (`server/src/service.rs`,
/// `decide`), without the checks that need its store.
fn check(op: &ReportOp) -> Result<(), gridwarden_protocol::ProtocolError> {
    match op {
        ReportOp::Create(new) => validate::new_report(new),
        ReportOp::Edit(edit) => validate::report_edit(edit),
        ReportOp::Delete => Ok(()),
        ReportOp::AttachPhotos(photos) => validate::photo_refs(photos),
    }
}

fn apply_all(
    states: &mut BTreeMap<Uuid, ReportState>,
    ops: &[(Uuid, &ReportOp, gridwarden_protocol::Hlc)],
) {
    for (id, op, hlc) in ops {
        // The server names the author from the session; the clock's node id
        // stands in for the device here.
        let device = Uuid::from_u128(u128::from(hlc.node));
        states
            .entry(*id)
            .or_insert_with(|| ReportState::empty(*id))
            .apply(op, *hlc, "fuzz", device);
    }
}

fn patrol_info() -> PatrolInfo {
    PatrolInfo {
        id: Uuid::nil(),
        warden: "fuzz".to_owned(),
        device: Uuid::nil(),
        started_at_ms: 0,
        ended_at_ms: None,
        note: String::new(),
    }
}

/// A small fixed layer around the golden vectors' positions (111.70, 40.84),
/// so assignment and coverage run real code. It spans a few kilometres, as a
/// city's does: coverage samples every step clipped to the layer's bounds,
/// so a planet-sized layer would make every input slow.
fn grid() -> &'static GridIndex {
    static GRID: OnceLock<GridIndex> = OnceLock::new();
    GRID.get_or_init(|| {
        let square = |code: &str, x: f64, y: f64, d: f64| {
            let ring = geo_square(x, y, d);
            let layer = gridwarden_protocol::grid::GridLayerWire {
                version: 1,
                name: String::new(),
                cells: vec![gridwarden_protocol::grid::GridCellWire {
                    code: code.to_owned(),
                    name: None,
                    polygons: vec![gridwarden_protocol::grid::PolygonWire {
                        exterior: ring,
                        holes: vec![],
                    }],
                }],
            };
            gridwarden_grid::from_wire(&layer).expect("a square is a cell")
        };
        let cells: Vec<Cell> = [
            square("A1", 111.70, 40.84, 0.01),
            square("A2", 111.71, 40.84, 0.01),
            square("B1", 111.70, 40.85, 0.02),
        ]
        .into_iter()
        .flatten()
        .collect();
        GridIndex::new(cells)
    })
}

fn geo_square(x: f64, y: f64, d: f64) -> Vec<[f64; 2]> {
    vec![[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]
}
