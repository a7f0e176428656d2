//! The Kotlin bindings' acceptance test: the Kotlin `generate.sh` writes,
//! compiled by `kotlinc-jvm` together with the docs' examples and
//! `mobile-bindings/tests/kotlin/Acceptance.kt`, run on the JVM with the
//! Linux library against a real server (enrolment, offline recording with
//! the server down, sync with progress and cancellation, a supervisor's edit
//! coming back, a patrol, photos, a refused case step, every documented
//! error as its Kotlin exception).
//!
//! Without the toolchain (`.ci/install-kotlin` installs it) the test prints
//! a notice and passes; with `CI=true` that is a failure.

use std::time::Duration;

use gridwarden_e2e::bins;
use gridwarden_e2e::kotlin::{doc_examples, sources, Timings, Toolchain};
use gridwarden_e2e::mobile::{generate_bindings, run_controlled};
use gridwarden_e2e::TestServer;
use gridwarden_protocol::Role;

/// docs/mobile.md shows each example file whole, so what the docs say is
/// what the acceptance program compiles and runs. Needs no toolchain.
#[test]
fn the_docs_kotlin_examples_are_the_compiled_files() {
    let docs = std::fs::read_to_string(sources().join("../../../docs/mobile.md")).unwrap();
    let examples = doc_examples();
    assert!(
        examples.len() >= 3,
        "initialising, background sync, errors: {examples:?}"
    );
    for file in examples {
        let code = std::fs::read_to_string(&file).unwrap();
        let block = format!("```kotlin\n{code}```\n");
        assert!(
            docs.contains(&block),
            "docs/mobile.md does not show {} verbatim in a ```kotlin block",
            file.display()
        );
    }
}

#[test]
fn the_kotlin_bindings_compile_and_drive_two_phones_against_a_server() {
    let toolchain = match Toolchain::find() {
        Ok(toolchain) => toolchain,
        Err(missing) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true, but {missing} is missing: .ci/run installs it with .ci/install-kotlin")
        }
        Err(missing) => {
            eprintln!(
                "NOTICE: the Kotlin bindings test is skipped: {missing} is missing \
                 (.ci/install-kotlin installs it)"
            );
            return;
        }
    };
    let mut timings = Timings::default();
    let tmp = tempfile::tempdir().unwrap();
    let generated = timings.time("generate", || {
        generate_bindings(&tmp.path().join("bindings"), "kotlin")
            .join("uniffi/gridwarden_mobile/gridwarden_mobile.kt")
    });

    let cache = bins::profile_dir().join("kotlin-bindings");
    let (bindings, compiled) = timings.time("compile bindings", || {
        toolchain
            .bindings_jar(&generated, &cache)
            .unwrap_or_else(|report| panic!("the generated Kotlin does not compile:\n{report}"))
    });
    println!(
        "bindings jar {}",
        if compiled { "compiled" } else { "reused" }
    );
    let program = tmp.path().join("acceptance.jar");
    let mut kt = doc_examples();
    kt.push(sources().join("Acceptance.kt"));
    timings.time("compile test", || {
        toolchain
            .compile(&kt, std::slice::from_ref(&bindings), &program)
            .unwrap_or_else(|report| {
                panic!("the acceptance program and the docs' examples do not compile against the bindings:\n{report}")
            })
    });

    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell, point), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    server.add_user("sam", Role::Supervisor, &[]);
    let phones = tmp.path().join("phones");
    std::fs::create_dir(&phones).unwrap();
    let mut cmd = toolchain.java(&[program, bindings], &bins::profile_dir(), "AcceptanceKt");
    cmd.env("GRIDWARDEN_TMP", &phones)
        .env("GRIDWARDEN_WARDEN_CODE", server.enrolment_code("ann"))
        .env("GRIDWARDEN_SUPERVISOR_CODE", server.enrolment_code("sam"))
        .env("GRIDWARDEN_CELL", &cell)
        .env("GRIDWARDEN_CELL_LON", point.lon.to_string())
        .env("GRIDWARDEN_CELL_LAT", point.lat.to_string());
    let run = timings.time("run", || {
        run_controlled(cmd, Duration::from_secs(300), |request| match request {
            "stop-server" => {
                server.stop();
                "stopped".to_owned()
            }
            "start-server" => {
                server.restart();
                "started".to_owned()
            }
            other => format!("unknown request {other}"),
        })
    });
    // Shown with --nocapture: each step and its time, then the Kotlin
    // step's cost.
    println!("{}", run.output);
    println!("kotlin: {}", timings.report());
    assert!(
        run.success,
        "the Kotlin acceptance program failed:\n{}",
        run.output
    );
    assert!(
        run.output
            .lines()
            .any(|l| l == "gridwarden-kotlin: every step passed"),
        "{}",
        run.output
    );
}
