//! The case loop end to end over real QUIC: reports from the field become
//! cases that supervisors register, reject and dispatch, departments
//! dispose of, the field verifies (one fails and is reworked) and
//! supervisors close — each device offline between its steps, the server
//! stopped once in the middle — and every device ends with the server's
//! case state and history.

use std::collections::BTreeMap;

use gridwarden_client_core::case::{CaseOp, CaseStatus};
use gridwarden_client_core::workflow::{kpi, CaseFacts, GroupBy, Period};
use gridwarden_client_core::{CaseFilter, Client};
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_protocol::Role;
use gridwarden_server::admin;
use uuid::Uuid;

const CASES: usize = 12;

fn step(device: &Client, report: Uuid, op: CaseOp) {
    device.case_step(report, op).unwrap();
}

fn note(text: &str) -> String {
    text.to_owned()
}

/// Report id → (status, number of steps, department, reworks) as a device sees it.
fn cases_on(device: &Client) -> BTreeMap<Uuid, (String, usize, Option<String>, u32)> {
    device
        .cases(&CaseFilter::default())
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.report_id,
                (c.status, c.history.len(), c.department, c.reworks),
            )
        })
        .collect()
}

#[test]
fn cases_run_the_whole_loop_from_several_devices_and_every_device_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    {
        let data = server.admin();
        admin::workflow::add_department(&data, "water", "自来水公司 water company", true).unwrap();
        admin::workflow::add_department(&data, "sanitation", "环卫处 sanitation", false).unwrap();
        let csv = tmp.path().join("categories.csv");
        std::fs::write(
            &csv,
            "code,family,class_code,class_name,name,name_en,register_limit,dispose_limit,department\n\
             0101,component,01,公用设施,上水井盖,water-supply manhole cover,1h,1d,water\n\
             1102,event,11,市容环境,暴露垃圾,exposed rubbish,1h,4h,sanitation\n",
        )
        .unwrap();
        admin::workflow::import_categories(&data, &csv).unwrap();
    }
    server.add_user("ann", Role::Warden, &[&cell]);
    server.add_user("lee", Role::Liaison, &[&cell]);
    server.add_user("wu", Role::Warden, &[&cell]);
    server.add_user("sam", Role::Supervisor, &[]);
    server.add_user("sue", Role::Supervisor, &[]);
    admin::workflow::set_user_department(&server.admin(), "wu", Some("water")).unwrap();
    let home = |name: &str| tmp.path().join(name);
    let ann = server.enrol(&home("ann"), "ann");
    let lee = server.enrol(&home("lee"), "lee");
    let wu = server.enrol(&home("wu"), "wu");
    let sam = server.enrol(&home("sam"), "sam");
    let sue = server.enrol(&home("sue"), "sue");
    for device in [&ann, &lee, &wu, &sam, &sue] {
        device.sync().unwrap(); // the category table
    }

    // Ann records the issues offline, then syncs.
    let reports: Vec<Uuid> = (0..CASES)
        .map(|i| {
            let category = if i % 2 == 0 { "0101" } else { "1102" };
            ann.record_report(report_at(category, here, &format!("issue {i}")))
                .unwrap()
        })
        .collect();
    assert_eq!(ann.sync().unwrap().pushed, CASES as u64);

    // Both supervisors pull. Offline, Sam registers ten and rejects one;
    // the last stays reported.
    sam.sync().unwrap();
    sue.sync().unwrap();
    for r in &reports[..10] {
        step(
            &sam,
            *r,
            CaseOp::Register {
                note: note("立案")
            },
        );
    }
    step(
        &sam,
        reports[10],
        CaseOp::Reject {
            reason: note("duplicate of issue 0"),
        },
    );
    assert!(sam.sync().unwrap().rejected.is_empty());

    // Sam and Sue act on case 0 at the same time: Sam dispatches, Sue
    // rejects. Sam's sync reaches the server first; Sue is told why.
    sue.sync().unwrap();
    step(
        &sam,
        reports[0],
        CaseOp::Dispatch {
            department: String::new(),
            note: note("default route"),
        },
    );
    step(
        &sue,
        reports[0],
        CaseOp::Reject {
            reason: note("not ours"),
        },
    );
    assert!(sam.sync().unwrap().rejected.is_empty());
    let refused = sue.sync().unwrap().rejected;
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0]
            .reason
            .contains("cannot reject a case that is dispatched")
            && refused[0].reason.contains("by sam"),
        "{}",
        refused[0].reason
    );
    assert_eq!(sue.case(reports[0]).unwrap().status, "dispatched");

    // A warden may not register (nor close) a case: refused with the reason,
    // and the case stays as it was.
    step(&ann, reports[11], CaseOp::Register { note: note("me") });
    let refused = ann.sync().unwrap().rejected;
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].reason.contains("only a supervisor may register"),
        "{}",
        refused[0].reason
    );
    assert_eq!(ann.case(reports[11]).unwrap().status, "reported");

    // Sam dispatches the rest to their categories' departments.
    for r in &reports[1..10] {
        step(
            &sam,
            *r,
            CaseOp::Dispatch {
                department: String::new(),
                note: String::new(),
            },
        );
    }
    assert!(sam.sync().unwrap().rejected.is_empty());
    let dispatched = sam.cases(&CaseFilter {
        status: Some(CaseStatus::Dispatched),
        ..CaseFilter::default()
    });
    let dispatched = dispatched.unwrap();
    assert_eq!(dispatched.len(), 10);
    assert!(dispatched.iter().all(|c| c.deadline_ms.is_some()));
    let by_department = |d: &str| {
        dispatched
            .iter()
            .filter(|c| c.department.as_deref() == Some(d))
            .map(|c| c.report_id)
            .collect::<Vec<_>>()
    };
    let (water, sanitation) = (by_department("water"), by_department("sanitation"));
    assert_eq!((water.len(), sanitation.len()), (5, 5));

    // Wu works for the water company and reports its cases disposed; Sam
    // acts for sanitation. Wu may not dispose of a sanitation case.
    wu.sync().unwrap();
    for r in &water {
        step(
            &wu,
            *r,
            CaseOp::Dispose {
                note: note("cover replaced"),
                photos: vec![],
            },
        );
    }
    step(
        &wu,
        sanitation[0],
        CaseOp::Dispose {
            note: note("not mine"),
            photos: vec![],
        },
    );
    let refused = wu.sync().unwrap().rejected;
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0]
            .reason
            .contains("the department it is dispatched to"),
        "{}",
        refused[0].reason
    );
    sam.sync().unwrap();
    for r in &sanitation {
        step(
            &sam,
            *r,
            CaseOp::Dispose {
                note: note("cleared"),
                photos: vec![],
            },
        );
    }
    // Sam accepts every disposal and asks the field to check: half named to
    // Lee, half to whoever covers the cell.
    for (i, r) in water.iter().chain(&sanitation).enumerate() {
        let verifier = (i % 2 == 0).then(|| "lee".to_string());
        step(&sam, *r, CaseOp::SendForVerification { verifier });
    }
    assert!(sam.sync().unwrap().rejected.is_empty());

    // The tasks reach Lee at the next pull; Lee verifies with the server
    // down (offline), one case fails, and syncs once it is back.
    lee.sync().unwrap();
    let tasks = lee.tasks().unwrap();
    assert_eq!(tasks.len(), 10, "{tasks:?}");
    ann.sync().unwrap();
    assert_eq!(
        ann.tasks().unwrap().len(),
        5,
        "ann covers the cell: the unnamed half"
    );
    server.stop();
    let failing = water[0];
    // The failed verification carries a photo from the field.
    let evidence = tmp.path().join("still-missing.jpg");
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0];
    jpeg.extend((0..40_000u32).map(|i| (i * 7 % 251) as u8));
    std::fs::write(&evidence, &jpeg).unwrap();
    for task in &tasks {
        let passed = task.report_id != failing;
        let verdict = CaseOp::Verify {
            passed,
            note: note(if passed {
                "fixed"
            } else {
                "cover still missing"
            }),
            photos: vec![],
        };
        let photos = if passed {
            vec![]
        } else {
            vec![evidence.clone()]
        };
        lee.case_step_with_photos(task.report_id, verdict, &photos)
            .unwrap();
    }
    assert!(
        lee.tasks().unwrap().is_empty(),
        "answered tasks leave the list"
    );
    assert!(lee.sync().is_err(), "the server is down");
    server.restart();
    let summary = lee.sync().unwrap();
    assert!(summary.rejected.is_empty());
    assert_eq!(
        summary.photos_uploaded, 1,
        "the verification photo follows its step"
    );
    // The supervisor sees the photo on the step and fetches it from the server.
    sam.sync().unwrap();
    let fail_step = sam
        .case(failing)
        .unwrap()
        .history
        .into_iter()
        .find(|s| s.passed == Some(false))
        .unwrap();
    assert_eq!(fail_step.photos.len(), 1);
    let photo = sam.resolve_photo(&fail_step.photos[0]).unwrap();
    let fetched = tmp.path().join("fetched.jpg");
    sam.fetch_photo_blocking(&photo, &fetched).unwrap();
    assert_eq!(std::fs::read(&fetched).unwrap(), jpeg);

    // The failed one went back to the water company (rework), with a new
    // deadline; Wu disposes again, Sam sends it, Lee passes it.
    wu.sync().unwrap();
    let reworked = wu.case(failing).unwrap();
    assert_eq!(
        (reworked.status.as_str(), reworked.reworks),
        ("dispatched", 1)
    );
    step(
        &wu,
        failing,
        CaseOp::Dispose {
            note: note("really replaced"),
            photos: vec![],
        },
    );
    wu.sync().unwrap();
    sam.sync().unwrap();
    step(
        &sam,
        failing,
        CaseOp::SendForVerification { verifier: None },
    );
    sam.sync().unwrap();
    lee.sync().unwrap();
    step(
        &lee,
        failing,
        CaseOp::Verify {
            passed: true,
            note: note("ok now"),
            photos: vec![],
        },
    );
    lee.sync().unwrap();

    // Sam closes every verified case; closing one twice is refused.
    sam.sync().unwrap();
    let verified = sam
        .cases(&CaseFilter {
            status: Some(CaseStatus::Verified),
            ..CaseFilter::default()
        })
        .unwrap();
    assert_eq!(verified.len(), 10);
    for c in &verified {
        step(
            &sam,
            c.report_id,
            CaseOp::Close {
                note: note("结案")
            },
        );
    }
    step(
        &sam,
        verified[0].report_id,
        CaseOp::Close {
            note: note("again"),
        },
    );
    let refused = sam.sync().unwrap().rejected;
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0]
            .reason
            .contains("cannot close a case that is closed"),
        "{}",
        refused[0].reason
    );

    // Every device converges on the server's cases.
    let server_cases: BTreeMap<Uuid, (String, usize, Option<String>, u32)> = server
        .admin()
        .store()
        .cases()
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.report_id,
                (
                    c.status.as_str().to_owned(),
                    c.history.len(),
                    c.department,
                    c.reworks,
                ),
            )
        })
        .collect();
    assert_eq!(server_cases.len(), 11, "all but the one nobody acted on");
    for device in [&ann, &lee, &wu, &sam, &sue] {
        device.sync().unwrap();
        let mut seen = cases_on(device);
        seen.retain(|_, (status, ..)| status != "reported");
        assert_eq!(seen, server_cases);
        // And the histories themselves, step by step.
        let on_device = device.case(failing).unwrap();
        let on_server = server
            .admin()
            .store()
            .cases_of(&[failing])
            .unwrap()
            .remove(0);
        let steps: Vec<_> = on_device
            .history
            .iter()
            .map(|s| (s.op.clone(), s.by.clone(), s.server_ms))
            .collect();
        let expected: Vec<_> = on_server
            .history
            .iter()
            .map(|t| (t.op.name().to_owned(), t.by.clone(), t.server_ms))
            .collect();
        assert_eq!(steps, expected);
    }
    let closed = server_cases.values().filter(|c| c.0 == "closed").count();
    assert_eq!(closed, 10);

    // The supervisor's KPIs, computed on the phone, are the server's.
    let period = Period {
        from_ms: 0,
        to_ms: i64::MAX,
    };
    let on_phone = sam.kpi(GroupBy::Department, period).unwrap();
    let admin = server.admin();
    let store = admin.store().clone();
    // A report nobody acted on has its case with the registration deadline
    // running, as the server sends it.
    let (categories, calendar) = (
        admin.service.categories().unwrap(),
        admin.service.calendar().unwrap(),
    );
    let facts: Vec<CaseFacts> = store
        .reports(false)
        .unwrap()
        .into_iter()
        .map(|r| {
            let origin = r.origin.clone().unwrap();
            CaseFacts {
                case: store.cases_of(&[r.id]).unwrap().pop().unwrap_or_else(|| {
                    gridwarden_server::service::cases::initial_case(&r, &categories, &calendar)
                }),
                reported_ms: origin.created.wall_ms as i64,
                grid_cell: r.grid_cell().map(str::to_owned),
                reporter: origin.reporter,
            }
        })
        .collect();
    assert_eq!(on_phone, kpi(&facts, GroupBy::Department, period));
    let water_row = on_phone.iter().find(|r| r.key == "water").unwrap();
    assert_eq!((water_row.closed_in_period, water_row.reworked), (5, 1));
    let none = on_phone.iter().find(|r| r.key == "(none)").unwrap();
    assert_eq!(none.rejected, 1);

    // Every transition is in the audit log with who and from which device.
    let audited = server
        .admin()
        .store()
        .audit_log(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action.starts_with("case."))
        .count();
    let steps: usize = server_cases.values().map(|c| c.1).sum();
    assert_eq!(audited, steps);
}
