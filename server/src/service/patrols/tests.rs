//! Listing patrols reads what was kept when the points arrived: a full
//! track of 50,000 untimed points zig-zagging over the sample layer is
//! pushed through the service, its points are then removed from the store
//! behind the service's back, and the listing still gives the summary the
//! whole track has. A listing that walked tracks would now see none.

use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::track::{NewPatrol, MAX_POINTS_PER_OP, MAX_POINTS_PER_PATROL};
use gridwarden_protocol::{
    Enroll, Hlc, ListPatrols, Op, OpBody, Outcome, PatrolOp, Push, Role, TrackPoint,
    PROTOCOL_VERSION,
};
use uuid::Uuid;

use crate::admin;
use crate::datadir::{DataDir, DB_FILE};
use crate::service::{Limits, Session};

/// The sample layer's corner and cell size (tools/make_sample_grid.py).
const WEST: f64 = 111.682;
const NORTH: f64 = 40.8535;
const CELL_LON: f64 = 0.0036;
const CELL_LAT: f64 = 0.0027;

fn enrolled(data: &DataDir, user: &str, role: Role, cells: Vec<String>) -> Session {
    admin::add_user(data, user, role, cells).unwrap();
    let secret = data.service.new_enrolment_secret(user).unwrap();
    let enroll = Enroll {
        protocol_version: PROTOCOL_VERSION,
        secret,
        device_label: "t".into(),
    };
    data.service.enroll(&enroll).unwrap().0
}

/// Untimed points (never judged as jumps) going back and forth across the
/// line between the first two columns of cells while drifting south over
/// all ten rows, and again: every cell of those columns, many times over.
fn zigzag(n: u32) -> Vec<TrackPoint> {
    (0..n)
        .map(|i| TrackPoint {
            seq: i,
            time_ms: None,
            lon: WEST + CELL_LON + if i % 2 == 0 { -0.0006 } else { 0.0006 },
            lat: NORTH - (0.5 + 9.0 * f64::from(i % 1_000) / 1_000.0) * CELL_LAT,
            accuracy_m: None,
            speed_mps: None,
            segment: 0,
        })
        .collect()
}

fn op(session: &Session, wall_ms: u64, patrol_id: Uuid, op: PatrolOp) -> Op {
    Op {
        op_id: Uuid::now_v7(),
        hlc: Hlc::new(wall_ms, 0, node_id(session.device_id)),
        body: OpBody::Patrol { patrol_id, op },
    }
}

#[test]
fn listing_reads_the_kept_summary_and_never_walks_the_track() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path(), Limits::default()).unwrap();
    let scope: Vec<String> = ["990102001001001", "990102001001002"]
        .map(String::from)
        .to_vec();
    let ann = enrolled(&data, "ann", Role::Warden, scope.clone());
    let sam = enrolled(&data, "sam", Role::Supervisor, vec![]);
    let now = data.service.now() as u64;
    let patrol = Uuid::now_v7();
    let start = NewPatrol {
        started_at_ms: now as i64 - 3_600_000,
        note: "zigzag".into(),
    };
    let points = zigzag(MAX_POINTS_PER_PATROL);
    let mut ops = vec![op(&ann, now - 10, patrol, PatrolOp::Start(start))];
    ops.extend(
        points
            .chunks(MAX_POINTS_PER_OP)
            .map(|chunk| op(&ann, now - 5, patrol, PatrolOp::Points(chunk.to_vec()))),
    );
    for push in ops.chunks(10) {
        let ack = data
            .service
            .push(&ann, Push { ops: push.to_vec() })
            .unwrap();
        assert!(
            ack.results.iter().all(|r| r.outcome == Outcome::Applied),
            "{ack:?}"
        );
    }
    let list = ListPatrols {
        warden: None,
        since_ms: None,
        until_ms: None,
        max_patrols: 10,
    };
    let before = data.service.list_patrols(&sam, &list).unwrap();
    assert_eq!(before.len(), 1);

    // What the whole track gives, computed here from the same points.
    let stored = data.store().patrol(patrol).unwrap().unwrap();
    let grid = data.service.grid().unwrap().unwrap();
    let whole =
        gridwarden_grid::track::summarise(&stored.info, &points, Some(&grid), &scope, vec![]);
    assert_eq!(before[0], whole);
    assert_eq!(whole.points, MAX_POINTS_PER_PATROL);
    assert_eq!(whole.visited_cells.len(), 20, "{:?}", whole.visited_cells);
    assert_eq!(
        whole.covered_cells, scope,
        "the zigzag crosses both of ann's cells"
    );

    // The track goes; the listing does not notice: it never reads it.
    let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let removed = db
        .execute(
            "DELETE FROM track_points WHERE patrol = ?1",
            [patrol.as_bytes().as_slice()],
        )
        .unwrap();
    assert_eq!(removed, MAX_POINTS_PER_PATROL as usize);
    drop(db);
    for _ in 0..3 {
        assert_eq!(data.service.list_patrols(&sam, &list).unwrap(), before);
    }
}
