//! ARCHITECTURE.md's invariants that a program can check, checked on every
//! `cargo test --workspace`: what the pure crates depend on (from `cargo
//! metadata`), where quinn is used, where the wall clock is read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// Every package's normal (not dev, not build) dependencies, by name.
fn normal_dependencies() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // This machine's platform only, and not `--offline`: on a fresh machine
    // the build has fetched every crate this platform links, but not those
    // of other platforms (libredox, under tokio-postgres' whoami), which a
    // whole-graph `cargo metadata` reads.
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .current_dir(workspace())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");
    let name_of: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut graph = BTreeMap::new();
    for node in metadata["resolve"]["nodes"].as_array().expect("a resolve") {
        let Some(name) = node["id"].as_str().and_then(|id| name_of.get(id)) else {
            continue;
        };
        let deps = node["deps"].as_array().into_iter().flatten().filter(|dep| {
            dep["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
        });
        let names = deps
            .filter_map(|dep| name_of.get(dep["pkg"].as_str()?).map(|n| n.to_string()))
            .collect();
        graph.insert(name.to_string(), names);
    }
    graph
}

/// `root` and everything it links, transitively.
fn closure(graph: &BTreeMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            todo.extend(graph.get(&name).into_iter().flatten().cloned());
        }
    }
    seen
}

#[test]
fn the_pure_crates_link_no_runtime_and_no_network() {
    let graph = normal_dependencies();
    for pure in [
        "gridwarden-protocol",
        "gridwarden-grid",
        "gridwarden-workflow",
        "gridwarden-sql",
    ] {
        assert!(graph.contains_key(pure), "{pure} is a workspace member");
        let linked = closure(&graph, pure);
        for io in ["tokio", "quinn", "quinn-proto", "mio", "socket2"] {
            assert!(!linked.contains(io), "{pure} links {io}");
        }
    }
    // Of the device's crates, only client-core links quinn; the CLI and the
    // bindings reach the network through it.
    for front in ["gridwarden-cli", "gridwarden-mobile"] {
        let direct = &graph[front];
        assert!(
            !direct.iter().any(|d| d.starts_with("quinn")),
            "{front} depends on quinn itself: {direct:?}"
        );
    }
}

/// The Rust files below `dir`, as paths relative to the workspace.
fn rust_files(dir: &str) -> Vec<String> {
    let root = workspace();
    let mut files = Vec::new();
    let mut todo = vec![root.join(dir)];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("a source directory")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).expect("below the workspace");
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    files
}

/// The files below `dirs` whose text contains any of `needles`.
fn files_mentioning(dirs: &[&str], needles: &[&str]) -> Vec<String> {
    dirs.iter()
        .flat_map(|dir| rust_files(dir))
        .filter(|file| {
            let text = std::fs::read_to_string(workspace().join(file)).expect("readable source");
            needles.iter().any(|n| text.contains(n))
        })
        .collect()
}

const DEVICE_SOURCES: &[&str] = &[
    "protocol/src",
    "grid/src",
    "workflow/src",
    "sql/src",
    "client-core/src",
    "cli/src",
    "mobile-bindings/src",
];

#[test]
fn on_the_device_quinn_is_only_in_client_cores_link() {
    let users = files_mentioning(DEVICE_SOURCES, &["quinn::", "use quinn"]);
    let stray: Vec<_> = users
        .iter()
        .filter(|f| *f != "client-core/src/transport.rs" && !f.starts_with("client-core/src/link/"))
        .collect();
    assert!(stray.is_empty(), "quinn outside the link layer: {stray:?}");
    assert!(!users.is_empty(), "the link layer was found");
}

#[test]
fn on_the_server_quinn_is_only_at_the_edge() {
    let users = files_mentioning(&["server/src"], &["quinn::", "use quinn"]);
    let stray: Vec<_> = users
        .iter()
        .filter(|f| {
            !matches!(f.as_str(), "server/src/net.rs" | "server/src/tls.rs")
                && !f.starts_with("server/src/net/")
        })
        .collect();
    assert!(stray.is_empty(), "quinn outside the QUIC edge: {stray:?}");
}

#[test]
fn the_wall_clock_is_read_only_by_a_clock() {
    let mut product = DEVICE_SOURCES.to_vec();
    product.push("server/src");
    let readers = files_mentioning(
        &product,
        &[
            "SystemTime::now",
            "Utc::now",
            "OffsetDateTime::now",
            "Timestamp::now",
            "Zoned::now",
        ],
    );
    assert_eq!(
        readers,
        ["protocol/src/clock.rs"],
        "read the time from the `Clock` passed in"
    );
}
