use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::{
    Enroll, Hlc, Location, NewReport, NoticeKind, Op, OpBody, Push, ReportOp, Role,
};
use uuid::Uuid;

use super::*;
use crate::admin;
use crate::datadir::DataDir;
use crate::service::Limits;

fn enrolled(data: &DataDir, user: &str, role: Role) -> Session {
    admin::add_user(data, user, role, vec![]).unwrap();
    let secret = data.service.new_enrolment_secret(user).unwrap();
    let enroll = Enroll {
        protocol_version: gridwarden_protocol::PROTOCOL_VERSION,
        secret,
        device_label: "t".into(),
    };
    data.service.enroll(&enroll).unwrap().0
}

fn report(session: &Session, now: u64) -> Op {
    Op {
        op_id: Uuid::now_v7(),
        hlc: Hlc::new(now, 0, node_id(session.device_id)),
        body: OpBody::Report {
            report_id: Uuid::now_v7(),
            op: ReportOp::Create(NewReport {
                category: "0101".into(),
                // Inside the bundled sample layer.
                location: Location {
                    lon: 111.6874,
                    lat: 40.84945,
                    accuracy_m: None,
                },
                address: None,
                note: "manhole cover missing".into(),
                observed_at_ms: now as i64,
                patrol: None,
                asset: None,
            }),
        },
    }
}

fn other(user: &str, role: Role, cells: &[&str]) -> Session {
    Session {
        device_id: Uuid::now_v7(),
        user: user.into(),
        role,
        cells: cells.iter().map(|c| c.to_string()).collect(),
        remote: None,
    }
}

#[test]
fn a_committed_push_is_told_to_the_devices_whose_scope_it_touches() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path(), Limits::default()).unwrap();
    let ann = enrolled(&data, "ann", Role::Warden);
    let mut changes = data.service.notifier().subscribe();
    let now = data.service.now() as u64;
    let op = report(&ann, now);
    let OpBody::Report { report_id, .. } = op.body else {
        unreachable!()
    };
    data.service
        .push(
            &ann,
            Push {
                ops: vec![op.clone()],
            },
        )
        .unwrap();
    let change = changes.try_recv().expect("the push was published");
    assert_eq!(change.by_device, ann.device_id);
    assert_eq!(change.reports.len(), 1);
    let touched = &change.reports[0];
    assert_eq!(touched.id, report_id);
    assert_eq!(touched.reporter.as_deref(), Some("ann"));
    let cell = touched.cell.clone().expect("the sample layer places it");

    let service = &data.service;
    assert_eq!(service.notice_for(&ann, &change), None, "the pusher synced");
    let same_user_other_phone = Session {
        device_id: Uuid::now_v7(),
        ..ann.clone()
    };
    let notice = service.notice_for(&same_user_other_phone, &change).unwrap();
    assert_eq!(
        (notice.kind, notice.ids),
        (NoticeKind::Changed, vec![report_id])
    );
    let of_the_cell = other("bo", Role::Liaison, &[cell.as_str()]);
    assert!(service.notice_for(&of_the_cell, &change).is_some());
    let elsewhere = other("cy", Role::Warden, &["999999999999999"]);
    assert_eq!(service.notice_for(&elsewhere, &change), None);
    let city_supervisor = other("sue", Role::Supervisor, &[]);
    assert!(service.notice_for(&city_supervisor, &change).is_some());
    let district_elsewhere = other("sam", Role::Supervisor, &["999999999999999"]);
    assert_eq!(service.notice_for(&district_elsewhere, &change), None);

    // A task names its user even outside their cells.
    let task = Change {
        by_device: ann.device_id,
        reports: vec![Touched {
            task_for: Some("cy".into()),
            ..touched.clone()
        }],
    };
    let notice = service.notice_for(&elsewhere, &task).unwrap();
    assert_eq!(notice.kind, NoticeKind::Task);

    // The same op again changes nothing: nothing is published.
    data.service.push(&ann, Push { ops: vec![op] }).unwrap();
    assert!(changes.try_recv().is_err(), "a duplicate is no news");
}
