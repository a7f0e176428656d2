use gridwarden_protocol::validate::MAX_NOTE_CHARS;
use gridwarden_protocol::{codec, Location, Op, ReportEdit};

use gridwarden_protocol::{hlc, OpBody, ReportOp};

use super::*;
use crate::error::ClientError;
use crate::store::{outbox, reports};
use crate::testutil::*;
use crate::view::ReportStatus;

fn counts(client: &Client) -> (u64, u64) {
    let store = client.lock_store();
    (
        reports::count(store.conn()).unwrap(),
        outbox::len(store.conn()).unwrap(),
    )
}

fn queued_ops(client: &Client) -> Vec<Op> {
    let store = client.lock_store();
    outbox::batch_after(store.conn(), 0, 10_000, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|q| q.op)
        .collect()
}

#[test]
fn record_list_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    let first = client
        .record_report(new_report("0101", 111.605, 40.805))
        .unwrap();
    let mut later = new_report("0102", 111.615, 40.805);
    later.observed_at_ms += 60_000;
    let second = client.record_report(later).unwrap();
    assert_eq!(first.get_version_num(), 7, "report ids are UUIDv7");

    let list = client.list_reports().unwrap();
    let ids: Vec<_> = list.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![second, first], "newest observation first");

    let shown = client.show_report(first).unwrap();
    assert_eq!(shown.category, "0101");
    assert_eq!(shown.note, "manhole cover missing");
    assert_eq!(
        (shown.lon, shown.lat, shown.accuracy_m),
        (111.605, 40.805, Some(4.5))
    );
    assert_eq!(shown.address.as_deref(), Some("新华大街 12 号"));
    assert_eq!(shown.reporter, "ann");
    assert_eq!(shown.device, DEVICE);
    assert_eq!(shown.grid_cell, None);
    assert_eq!(shown.local_cell, None, "no grid layer cached");
    assert_eq!(shown.category_name, None, "no category table cached");
    assert_eq!(shown.status, ReportStatus::Pending);
    assert_eq!(shown.status.to_string(), "pending");
    assert_eq!(client.outbox_len().unwrap(), 2);

    let ops = queued_ops(&client);
    assert!(ops[0].hlc < ops[1].hlc, "clock strictly increases");
    assert_eq!(ops[0].hlc.node, hlc::node_id(DEVICE));
}

#[test]
fn recording_requires_enrolment_and_stores_nothing_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::open(dir.path()).unwrap();
    let err = client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap_err();
    assert!(matches!(err, ClientError::NotEnrolled), "{err:?}");
    assert!(err.to_string().contains("gridwarden enroll"), "{err}");
    assert_eq!(counts(&client), (0, 0));
}

#[test]
fn invalid_input_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    cache_reference(&client, Some(&category_table(3)), None);

    let nan = client
        .record_report(new_report("0101", f64::NAN, 40.8))
        .unwrap_err();
    assert!(matches!(nan, ClientError::InvalidInput(_)), "{nan:?}");
    let lat = client
        .record_report(new_report("0101", 111.6, 91.0))
        .unwrap_err();
    assert!(lat.to_string().contains("latitude 91"), "{lat}");
    let mut long = new_report("0101", 111.6, 40.8);
    long.note = "x".repeat(MAX_NOTE_CHARS + 1);
    let long = client.record_report(long).unwrap_err();
    assert!(long.to_string().contains("note"), "{long}");

    let unknown = client
        .record_report(new_report("0199", 111.6, 40.8))
        .unwrap_err();
    match &unknown {
        ClientError::UnknownCategory { code, hint } => {
            assert_eq!(code, "0199");
            assert!(
                hint.contains("0101") && hint.contains("gridwarden categories"),
                "{hint}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(counts(&client), (0, 0), "nothing stored for any refusal");
    let hlc_after = meta::last_hlc(client.lock_store().conn()).unwrap();
    assert_eq!(
        hlc_after,
        gridwarden_protocol::Hlc::ZERO,
        "no clock tick was persisted"
    );
}

#[test]
fn any_well_formed_category_is_accepted_before_a_table_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    client
        .record_report(new_report("9999", 111.6, 40.8))
        .unwrap();
    assert_eq!(counts(&client), (1, 1));
}

#[test]
fn a_recorded_report_survives_reopening_with_its_outbox_row() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let client = enrolled_client(dir.path());
        client
            .record_report(new_report("0101", 111.6, 40.8))
            .unwrap()
    };
    let reopened = Client::open(dir.path()).unwrap();
    assert_eq!(
        reopened.show_report(id).unwrap().status,
        ReportStatus::Pending
    );
    assert_eq!(reopened.outbox_len().unwrap(), 1);
    let op = &queued_ops(&reopened)[0];
    assert!(
        matches!(&op.body, OpBody::Report { report_id, op: ReportOp::Create(_) } if *report_id == id)
    );

    // The clock resumes from the persisted value, so the next op orders after.
    let second = reopened
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let ops = queued_ops(&reopened);
    assert!(ops[1].hlc > ops[0].hlc);
    assert_ne!(second, id);
}

#[test]
fn the_offline_grid_guess_follows_the_cached_layer() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    assert_eq!(
        client.grid_cell_at(111.605, 40.805).unwrap(),
        None,
        "no layer yet"
    );

    cache_reference(
        &client,
        None,
        Some(&grid_layer(1, "150102001001001", "150102001001002")),
    );
    assert_eq!(
        client.grid_cell_at(111.605, 40.805).unwrap().as_deref(),
        Some("150102001001001")
    );
    assert_eq!(
        client.grid_cell_at(111.615, 40.805).unwrap().as_deref(),
        Some("150102001001002")
    );
    assert_eq!(
        client.grid_cell_at(100.0, 30.0).unwrap(),
        None,
        "outside every cell"
    );
    assert!(client.grid_cell_at(181.0, 0.0).is_err());

    let id = client
        .record_report(new_report("0101", 111.615, 40.805))
        .unwrap();
    assert_eq!(
        client.show_report(id).unwrap().local_cell.as_deref(),
        Some("150102001001002")
    );

    // A newer layer version replaces the in-memory index.
    cache_reference(
        &client,
        None,
        Some(&grid_layer(2, "150102001001009", "150102001001010")),
    );
    assert_eq!(
        client.grid_cell_at(111.605, 40.805).unwrap().as_deref(),
        Some("150102001001009")
    );
    let moved = ReportEdit {
        location: Some(Location {
            lon: 111.605,
            lat: 40.805,
            accuracy_m: None,
        }),
        ..Default::default()
    };
    client.edit_report(id, moved).unwrap();
    assert_eq!(
        client.show_report(id).unwrap().local_cell.as_deref(),
        Some("150102001001009")
    );
    let note_only = ReportEdit {
        note: Some("still there".into()),
        ..Default::default()
    };
    client.edit_report(id, note_only).unwrap();
    assert_eq!(
        client.show_report(id).unwrap().local_cell.as_deref(),
        Some("150102001001009"),
        "an edit that keeps the place keeps the guess"
    );
}

#[test]
fn category_names_come_from_the_cached_table() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    cache_reference(&client, Some(&category_table(1)), None);
    let id = client
        .record_report(new_report("0102", 111.6, 40.8))
        .unwrap();
    assert_eq!(
        client.show_report(id).unwrap().category_name.as_deref(),
        Some("污水井盖")
    );
    assert_eq!(client.categories().unwrap().unwrap().version, 1);
}

#[test]
fn edit_and_delete_write_ops_and_refuse_what_cannot_change() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    let id = client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let edit = ReportEdit {
        note: Some("fixed?".into()),
        category: Some("0102".into()),
        ..Default::default()
    };
    client.edit_report(id, edit).unwrap();
    let shown = client.show_report(id).unwrap();
    assert_eq!(
        (shown.note.as_str(), shown.category.as_str()),
        ("fixed?", "0102")
    );
    assert_eq!(client.outbox_len().unwrap(), 2);

    let empty = client.edit_report(id, ReportEdit::default()).unwrap_err();
    assert!(matches!(empty, ClientError::InvalidInput(_)), "{empty:?}");
    let unknown = client.edit_report(
        Uuid::now_v7(),
        ReportEdit {
            note: Some("x".into()),
            ..Default::default()
        },
    );
    assert!(
        matches!(unknown, Err(ClientError::NotFound(_))),
        "{unknown:?}"
    );

    client.delete_report(id).unwrap();
    assert!(client.list_reports().unwrap().is_empty());
    assert!(client.show_report(id).unwrap().deleted);
    assert_eq!(client.outbox_len().unwrap(), 3);
    let again = client.delete_report(id).unwrap_err();
    assert!(again.to_string().contains("was deleted"), "{again}");
    let late = client.edit_report(
        id,
        ReportEdit {
            note: Some("x".into()),
            ..Default::default()
        },
    );
    assert!(late.unwrap_err().to_string().contains("cannot be edited"));
    assert_eq!(client.outbox_len().unwrap(), 3, "refusals queue nothing");

    let kinds: Vec<_> = queued_ops(&client)
        .into_iter()
        .map(|op| match op.body {
            OpBody::Report {
                op: ReportOp::Create(_),
                ..
            } => "create",
            OpBody::Report {
                op: ReportOp::Edit(_),
                ..
            } => "edit",
            OpBody::Report {
                op: ReportOp::Delete,
                ..
            } => "delete",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["create", "edit", "delete"]);
}

#[test]
fn report_ids_resolve_from_unique_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    let id = client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let text = id.to_string();
    assert_eq!(client.resolve_report_id(&text).unwrap(), id);
    assert_eq!(
        client.resolve_report_id(&text[..13]).unwrap(),
        id,
        "prefix with a dash"
    );
    assert_eq!(
        client.resolve_report_id(&text.to_uppercase()[..8]).unwrap(),
        id
    );
    assert!(matches!(
        client.resolve_report_id("ffffffff"),
        Err(ClientError::NotFound(_))
    ));
    assert!(matches!(
        client.resolve_report_id("xyz"),
        Err(ClientError::InvalidInput(_))
    ));
    client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let ambiguous = client.resolve_report_id(&text[..4]).unwrap_err();
    assert!(
        ambiguous.to_string().contains("more than one"),
        "{ambiguous}"
    );
}

#[test]
fn stored_ops_decode_with_the_protocol_codec() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let store = client.lock_store();
    let raw: Vec<u8> = store
        .conn()
        .query_row("SELECT op FROM outbox", [], |r| r.get(0))
        .unwrap();
    let op: Op = codec::decode(&raw).unwrap();
    assert!(matches!(
        op.body,
        OpBody::Report {
            op: ReportOp::Create(_),
            ..
        }
    ));
}

#[test]
fn status_reports_enrolment_and_queues() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::open(dir.path()).unwrap();
    let before = client.status().unwrap();
    assert!(!before.enrolled);
    assert_eq!((before.outbox, before.reports), (0, 0));
    drop(client);
    let client = enrolled_client(dir.path());
    client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let after = client.status().unwrap();
    assert!(after.enrolled);
    assert_eq!(after.user.as_deref(), Some("ann"));
    assert_eq!(after.role.as_deref(), Some("warden"));
    assert_eq!(after.server.as_deref(), Some("127.0.0.1:9"));
    assert_eq!((after.outbox, after.reports), (1, 1));
    assert_eq!(after.pull_cursor, "");
}
