use super::*;

const STEPS: &[Step] = &[
    Step::sql("CREATE TABLE a (x INTEGER);"),
    Step::sql("CREATE TABLE b (y INTEGER);"),
    Step::with_after("CREATE TABLE c (z INTEGER);", fill_c),
];

fn fill_c(tx: &Transaction<'_>) -> Result<(), BoxError> {
    tx.execute("INSERT INTO c (z) VALUES (7)", [])?;
    Ok(())
}

fn fail_after(tx: &Transaction<'_>) -> Result<(), BoxError> {
    tx.execute("INSERT INTO c (z) VALUES (8)", [])?;
    Err("the rows could not be converted".into())
}

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("sqlite_master is always there");
    stmt.query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .expect("names are text")
}

fn db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("t.db");
    (dir, path)
}

#[test]
fn runs_every_step_on_a_new_database_and_nothing_on_reopen() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).expect("open");
    assert_eq!(migrate(&mut conn, STEPS).expect("migrates"), 0);
    assert_eq!(version(&conn).expect("version"), 3);
    assert_eq!(tables(&conn), ["a", "b", "c"]);
    drop(conn);
    let mut conn = Connection::open(&path).expect("reopen");
    assert_eq!(migrate(&mut conn, STEPS).expect("no-op"), 3);
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM c", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 1, "the after-step work ran once");
}

#[test]
fn carries_on_from_the_step_a_database_is_at() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).expect("open");
    migrate(&mut conn, &STEPS[..1]).expect("the first release");
    assert_eq!(version(&conn).expect("version"), 1);
    assert_eq!(migrate(&mut conn, STEPS).expect("the next release"), 1);
    assert_eq!(version(&conn).expect("version"), 3);
    assert_eq!(tables(&conn), ["a", "b", "c"]);
}

#[test]
fn a_failing_step_keeps_the_steps_before_it_and_nothing_of_itself() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).expect("open");
    let broken = [
        STEPS[0],
        STEPS[1],
        Step::with_after("CREATE TABLE c (z INTEGER);", fail_after),
    ];
    let err = migrate(&mut conn, &broken).expect_err("step 3 fails");
    assert!(
        matches!(err, MigrationError::After { step: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("could not be converted"), "{err}");
    assert_eq!(version(&conn).expect("version"), 2, "steps 1 and 2 kept");
    assert_eq!(tables(&conn), ["a", "b"], "step 3's table rolled back");

    let bad_sql = [STEPS[0], STEPS[1], Step::sql("CREATE TABLE a (x INTEGER);")];
    let err = migrate(&mut conn, &bad_sql).expect_err("step 3's SQL fails");
    assert!(
        matches!(err, MigrationError::Sqlite { step: 3, .. }),
        "{err:?}"
    );
    assert_eq!(version(&conn).expect("version"), 2);

    migrate(&mut conn, STEPS).expect("the fixed release finishes the job");
    assert_eq!(version(&conn).expect("version"), 3);
}

#[test]
fn refuses_a_database_newer_than_its_steps_and_leaves_it_alone() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).expect("open");
    migrate(&mut conn, STEPS).expect("migrates");
    let err = migrate(&mut conn, &STEPS[..2]).expect_err("an older program");
    assert!(
        matches!(err, MigrationError::TooNew { found: 3, known: 2 }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("newer than this program") && message.contains("update"),
        "{message}"
    );
    assert_eq!(version(&conn).expect("version"), 3, "untouched");
}

#[test]
fn two_openers_of_a_fresh_database_run_each_step_once() {
    let (_dir, path) = db();
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || -> Result<u32, MigrationError> {
                let mut conn = Connection::open(&path)?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                migrate(&mut conn, STEPS)
            })
        })
        .collect();
    for opener in openers {
        opener
            .join()
            .expect("the opener thread does not panic")
            .expect("every opener migrates or finds it done");
    }
    let conn = Connection::open(&path).expect("open");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM c", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 1);
}
