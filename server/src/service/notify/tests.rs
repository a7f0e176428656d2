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
    Session::for_tests(user, role, cells)
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
    let Told::Change(change) = changes.try_recv().expect("the push was published") else {
        panic!("a change, not a gap");
    };
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
        users: vec![],
    };
    let notice = service.notice_for(&elsewhere, &task).unwrap();
    assert_eq!(notice.kind, NoticeKind::Task);

    // The same op again changes nothing: nothing is published.
    data.service.push(&ann, Push { ops: vec![op] }).unwrap();
    assert!(changes.try_recv().is_err(), "a duplicate is no news");
}

#[test]
fn a_change_too_long_for_one_message_travels_in_several_that_each_fit() {
    let change = Change {
        by_device: Uuid::now_v7(),
        reports: (0..700)
            .map(|i| Touched {
                id: Uuid::now_v7(),
                cell: Some(format!("15010200100{i:04}")),
                reporter: Some(format!("warden-{i}")),
                task_for: (i % 7 == 0).then(|| "lee".to_owned()),
            })
            .collect(),
        users: vec!["ann".into()],
    };
    let mut messages = Vec::new();
    encode(7, &change, &mut messages);
    assert!(messages.len() > 1, "{} messages", messages.len());
    let bytes: usize = messages.iter().map(String::len).sum();
    assert!(
        messages.len() <= bytes / MAX_MESSAGE + 1,
        "packed: {} messages for {bytes} bytes",
        messages.len()
    );
    let mut reports = Vec::new();
    let mut users = Vec::new();
    for message in &messages {
        assert!(message.len() <= MAX_MESSAGE, "{} bytes", message.len());
        let (from, part) = decode(message).expect("it reads back");
        assert_eq!((from, part.by_device), (7, change.by_device));
        reports.extend(part.reports);
        users.extend(part.users);
    }
    assert_eq!((&reports, &users), (&change.reports, &change.users));
    // A small one is one message: ids, cells, names, no more.
    let mut one = Vec::new();
    let small = Change {
        reports: change.reports[..1].to_vec(),
        users: vec![],
        ..change
    };
    encode(7, &small, &mut one);
    assert_eq!(one.len(), 1);
    assert!(one[0].len() < 160, "{}", one[0]);
    assert_eq!(decode(&one[0]), Some((7, small)));
    assert_eq!(decode("not a change"), None);
}

/// A store's fan-out in memory: every message to every listener, the
/// sender's own included, as `NOTIFY` does.
#[derive(Default)]
struct Loopback {
    listeners: std::sync::Mutex<Vec<tokio::sync::mpsc::UnboundedSender<Heard>>>,
}

impl Loopback {
    fn hear(&self, heard: Heard) {
        for listener in self.listeners.lock().unwrap().iter() {
            let _ = listener.send(heard.clone());
        }
    }
}

impl Fanout for Loopback {
    fn send(&self, message: String) {
        self.hear(Heard::Message(message));
    }

    fn flush(&self, _within: Duration) -> bool {
        true
    }

    fn listen(&self) -> tokio::sync::mpsc::UnboundedReceiver<Heard> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.listeners.lock().unwrap().push(tx);
        rx
    }
}

#[tokio::test]
async fn another_process_hears_a_change_once_and_its_own_is_not_told_twice() {
    let fanout = Arc::new(Loopback::default());
    let [one, two] =
        [0, 1].map(|_| Arc::new(Notifier::new(Some(fanout.clone() as Arc<dyn Fanout>))));
    assert!(
        one.heard(),
        "a fan-out listens even with no device connected"
    );
    let mut heard = [one.subscribe(), two.subscribe()];
    for notifier in [&one, &two] {
        let notifier = notifier.clone();
        tokio::spawn(async move { notifier.relay().await });
    }
    while fanout.listeners.lock().unwrap().len() < 2 {
        tokio::task::yield_now().await;
    }
    let change = Change {
        by_device: Uuid::now_v7(),
        reports: vec![Touched {
            id: Uuid::now_v7(),
            cell: Some("150102001001".into()),
            reporter: Some("ann".into()),
            task_for: Some("lee".into()),
        }],
        users: vec![],
    };
    one.publish(change.clone());
    let within = Duration::from_secs(5);
    for rx in &mut heard {
        let told = tokio::time::timeout(within, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(told, Told::Change(Arc::new(change.clone())));
    }
    // The database came back: the listeners say what they may have missed.
    fanout.hear(Heard::Missed);
    for rx in &mut heard {
        let told = tokio::time::timeout(within, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            told,
            Told::Missed,
            "the publisher's own change came back once only"
        );
    }
    assert!(heard[0].try_recv().is_err() && heard[1].try_recv().is_err());
}

#[test]
fn a_user_whose_cells_changed_is_told_on_each_of_their_devices() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path(), Limits::default()).unwrap();
    let grid = data.service.grid().unwrap().expect("the sample layer");
    let cell = grid.cells()[0].code.clone();
    admin::add_user(&data, "ann", Role::Warden, vec![]).unwrap();
    let mut changes = data.service.notifier().subscribe();
    admin::set_user_cells(&data, "ann", &[cell], &[]).unwrap();
    let Told::Change(change) = changes.try_recv().expect("the cells change was published") else {
        panic!("a change");
    };
    assert_eq!(change.users, vec!["ann".to_owned()]);
    let phone = other("ann", Role::Warden, &[]);
    let notice = data.service.notice_for(&phone, &change).unwrap();
    assert_eq!((notice.kind, notice.ids), (NoticeKind::Changed, vec![]));
    assert_eq!(
        data.service
            .notice_for(&other("bo", Role::Warden, &[]), &change),
        None
    );
}

#[test]
fn reports_a_new_layer_re_places_are_told_to_the_old_cell_and_the_new() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path(), Limits::default()).unwrap();
    let ann = enrolled(&data, "ann", Role::Warden);
    let op = report(&ann, data.service.now() as u64);
    let OpBody::Report { report_id, .. } = op.body else {
        unreachable!()
    };
    data.service.push(&ann, Push { ops: vec![op] }).unwrap();
    let old = data.service.store().report(report_id).unwrap().unwrap();
    let old_cell = old.grid_cell().expect("placed").to_owned();

    // A layer of one square around the report, under a new code.
    let (lon, lat, d) = (111.6874, 40.84945, 0.001);
    let layer = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature",
        "properties":{{"code":"150102999000001","name":"new"}},
        "geometry":{{"type":"Polygon","coordinates":[[[{w},{s}],[{e},{s}],[{e},{n}],[{w},{n}],[{w},{s}]]]}}}}]}}"#,
        w = lon - d,
        e = lon + d,
        s = lat - d,
        n = lat + d,
    );
    let mut changes = data.service.notifier().subscribe();
    let how = admin::grids::GridImport {
        name: "moved",
        pattern: &gridwarden_grid::CodePattern::default_15(),
        fields: &gridwarden_grid::Fields::default(),
        apply: true,
        reassign: true,
        dry_run: false,
    };
    admin::grids::import(&data, layer.as_bytes(), &how).unwrap();
    let Told::Change(change) = changes.try_recv().expect("the re-placing was published") else {
        panic!("a change");
    };
    assert_eq!(change.by_device, Uuid::nil());
    let cells: Vec<Option<&str>> = change
        .reports
        .iter()
        .filter(|t| t.id == report_id)
        .map(|t| t.cell.as_deref())
        .collect();
    assert!(cells.contains(&Some(old_cell.as_str())), "{cells:?}");
    assert!(cells.contains(&Some("150102999000001")), "{cells:?}");
    // A warden of either cell hears of it, once.
    for cell in [old_cell.as_str(), "150102999000001"] {
        let notice = data
            .service
            .notice_for(&other("bo", Role::Warden, &[cell]), &change)
            .unwrap();
        assert_eq!(notice.ids, vec![report_id]);
    }
}
