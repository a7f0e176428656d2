//! Every admin action writes its audit line in the transaction of its
//! change (issue 17, "the audit log tells the truth"): a change that fails
//! leaves no line, and a line that cannot be written takes its change back
//! with it. The second half is forced for real: a trigger makes the
//! database refuse audit lines, as a full disk or a broken log would.

use gridwarden_grid::CodePattern;
use gridwarden_protocol::Role;

use super::*;
use crate::service::Limits;
use crate::store::Missing;

struct Fixture {
    _dir: tempfile::TempDir,
    data: DataDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(&dir.path().join("data"), Limits::default()).unwrap();
    Fixture { _dir: dir, data }
}

impl Fixture {
    fn actions(&self) -> Vec<String> {
        access::audit(&self.data, None)
            .unwrap()
            .into_iter()
            .map(|l| l.action)
            .collect()
    }

    /// Runs `change`, which must fail, and checks it left no audit line.
    fn fails_without_a_line<T: std::fmt::Debug>(
        &self,
        what: &str,
        change: impl FnOnce(&DataDir) -> anyhow::Result<T>,
    ) {
        let before = self.actions();
        let result = change(&self.data);
        assert!(result.is_err(), "{what} should fail: {result:?}");
        assert_eq!(self.actions(), before, "{what} failed but left a line");
    }

    /// Runs `change`, which must succeed, and checks it added exactly the
    /// lines `actions`.
    fn succeeds_with_lines<T>(
        &self,
        actions: &[&str],
        change: impl FnOnce(&DataDir) -> anyhow::Result<T>,
    ) -> T {
        let before = self.actions().len();
        let value = change(&self.data).unwrap();
        assert_eq!(self.actions()[before..], *actions);
        value
    }

    /// From now on the database refuses every audit line.
    fn break_the_audit_log(&self) {
        let conn =
            rusqlite::Connection::open(self.data.path.join(crate::datadir::DB_FILE)).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log
             BEGIN SELECT RAISE(ABORT, 'the audit log refuses this line'); END;",
        )
        .unwrap();
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.data.path.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

const CATEGORIES: &str =
    "code,family,class_code,class_name,name,name_en,register_limit,dispose_limit,department\n\
     0101,component,01,公用设施,上水井盖,water-supply manhole cover,1h,1d,water\n";
const CALENDAR: &str =
    r#"{"utc_offset":"+08:00","working_hours":["09:00-17:00"],"holidays":["2026-10-01"]}"#;

fn a_layer() -> String {
    gridwarden_grid::synth::StreetGrid::city(3, 8, 1).geojson()
}

#[test]
fn users_devices_and_keys_fail_without_a_line() {
    let f = fixture();
    f.succeeds_with_lines(&["user.add"], |d| add_user(d, "ann", Role::Warden, vec![]));
    f.fails_without_a_line("a user twice", |d| add_user(d, "ann", Role::Warden, vec![]));
    f.fails_without_a_line("a code for an unknown user", |d| {
        enrol_device(d, "zed", Some("127.0.0.1:1"))
    });
    f.succeeds_with_lines(&["device.enrolment_code"], |d| {
        enrol_device(d, "ann", Some("127.0.0.1:1"))
    });
    f.fails_without_a_line("revoking an unknown device", |d| {
        access::revoke_device(d, &uuid::Uuid::from_u128(9).to_string())
    });
    f.fails_without_a_line("disabling an unknown user", |d| {
        access::set_user_disabled(d, "zed", true)
    });
    f.succeeds_with_lines(&["apikey.add"], |d| apikeys::add(d, "12345"));
    f.fails_without_a_line("a key twice", |d| apikeys::add(d, "12345"));
    f.fails_without_a_line("a key named like a user", |d| apikeys::add(d, "ann"));
    f.fails_without_a_line("a user named like a key", |d| {
        add_user(d, "12345", Role::Warden, vec![])
    });
    f.fails_without_a_line("revoking an unknown key", |d| apikeys::revoke(d, "nobody"));
    f.succeeds_with_lines(&["apikey.revoke"], |d| apikeys::revoke(d, "12345"));
    f.succeeds_with_lines(&[], |d| apikeys::revoke(d, "12345"));
}

#[test]
fn workflow_changes_fail_without_a_line() {
    let f = fixture();
    let categories = f.write("categories.csv", CATEGORIES);
    f.fails_without_a_line("routes to a missing department", |d| {
        workflow::import_categories(d, &categories)
    });
    f.succeeds_with_lines(&["department.add"], |d| {
        workflow::add_department(d, "water", "Water company", true)
    });
    f.fails_without_a_line("a department twice", |d| {
        workflow::add_department(d, "water", "Again", false)
    });
    f.succeeds_with_lines(&["categories.import"], |d| {
        workflow::import_categories(d, &categories)
    });
    f.succeeds_with_lines(&["user.add"], |d| add_user(d, "lee", Role::Liaison, vec![]));
    f.fails_without_a_line("a member of an unknown department", |d| {
        workflow::set_user_department(d, "lee", Some("fire"))
    });
    f.fails_without_a_line("an unknown member", |d| {
        workflow::set_user_department(d, "zed", Some("water"))
    });
    f.succeeds_with_lines(&["user.department"], |d| {
        workflow::set_user_department(d, "lee", Some("water"))
    });
    let bad = f.write(
        "calendar.json",
        r#"{"utc_offset":"+99:00","working_hours":[]}"#,
    );
    f.fails_without_a_line("a broken calendar", |d| workflow::import_calendar(d, &bad));
    let good = f.write("good.json", CALENDAR);
    f.succeeds_with_lines(&["calendar.import"], |d| {
        workflow::import_calendar(d, &good)
    });
}

#[test]
fn a_grid_import_fails_without_a_line_and_reassigning_has_its_own() {
    let f = fixture();
    let pattern = CodePattern::default_15();
    let version = f.data.store().grid_version().unwrap();
    f.fails_without_a_line("a layer that is not GeoJSON", |d| {
        import_grid(d, "not json", "broken", &pattern, false)
    });
    assert_eq!(f.data.store().grid_version().unwrap(), version);
    f.succeeds_with_lines(&["grid.import", "grid.reassign"], |d| {
        import_grid(d, &a_layer(), "city", &pattern, false)
    });
}

#[test]
fn the_public_address_changes_with_its_line() {
    let f = fixture();
    let listening = "127.0.0.1:4433".parse().unwrap();
    f.succeeds_with_lines(&["server.public_addr"], |d| {
        settle_public_addr(d, Some("gw.example.org:4433"), listening)
    });
    f.succeeds_with_lines(&[], |d| {
        settle_public_addr(d, Some("gw.example.org:4433"), listening)
    });
}

/// The other way round: when the line cannot be written, the change does
/// not happen either.
#[test]
fn a_change_whose_line_cannot_be_written_does_not_happen() {
    let f = fixture();
    add_user(&f.data, "ann", Role::Warden, vec![]).unwrap();
    let enrolled = enrol_device(&f.data, "ann", Some("127.0.0.1:1")).unwrap();
    let categories = f.write("categories.csv", CATEGORIES);
    let calendar = f.write("calendar.json", CALENDAR);
    let store = f.data.store().clone();
    let categories_version = store.categories_version().unwrap();
    let lines = f.actions().len();
    f.break_the_audit_log();

    assert!(add_user(&f.data, "bo", Role::Warden, vec![]).is_err());
    assert_eq!(store.user("bo").unwrap(), None, "user.add");

    let devices = store.devices().unwrap().len();
    assert!(enrol_device(&f.data, "ann", Some("127.0.0.1:1")).is_err());
    assert_eq!(
        store.devices().unwrap().len(),
        devices,
        "device.enrolment_code"
    );
    assert!(!enrolled.code.is_empty());

    assert!(access::set_user_disabled(&f.data, "ann", true).is_err());
    assert!(
        !store.user("ann").unwrap().unwrap().disabled,
        "user.disable"
    );

    assert!(workflow::add_department(&f.data, "water", "Water", true).is_err());
    assert!(store.departments().unwrap().is_empty(), "department.add");

    assert!(workflow::import_categories(&f.data, &categories).is_err());
    assert_eq!(
        store.categories_version().unwrap(),
        categories_version,
        "categories.import"
    );
    assert!(
        store.category_routes().unwrap().is_empty(),
        "categories.import"
    );

    assert!(workflow::import_calendar(&f.data, &calendar).is_err());
    assert_eq!(
        store.meta(crate::service::cases::CALENDAR_KEY).unwrap(),
        None,
        "calendar.import"
    );

    assert!(apikeys::add(&f.data, "12345").is_err());
    assert!(store.api_keys().unwrap().is_empty(), "apikey.add");

    let grid = store.grid_version().unwrap();
    let pattern = CodePattern::default_15();
    assert!(import_grid(&f.data, &a_layer(), "city", &pattern, false).is_err());
    assert_eq!(store.grid_version().unwrap(), grid, "grid.import");

    let listening = "127.0.0.1:4433".parse().unwrap();
    let address = store.meta(crate::PUBLIC_ADDR_KEY).unwrap();
    assert!(settle_public_addr(&f.data, Some("elsewhere:1"), listening).is_err());
    assert_eq!(
        store.meta(crate::PUBLIC_ADDR_KEY).unwrap(),
        address,
        "server.public_addr"
    );

    assert!(matches!(
        store.set_user_department(
            "ann",
            Some("water"),
            &access::record(&f.data, "x", "y", String::new())
        ),
        Err(crate::store::StoreError::NotFound(Missing::Department(_)))
    ));
    assert_eq!(f.actions().len(), lines);
}
