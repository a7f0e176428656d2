//! The layer order of `lib.rs`, checked: every `crate::…` path in a module's
//! source names a module of its own layer or of one below, and modules of one
//! layer do not use each other both ways. A new module must be given a layer
//! here; a use that points up fails with the file and the line. Unit tests
//! (`tests.rs`, inline `mod tests`) are exempt: fixtures come from anywhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom first; a layer may use only itself and the layers before it.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["error", "time", "tls"]),
    ("link", &["link"]),
    ("store", &["store"]),
    ("local", &["local"]),
    ("sync", &["sync"]),
    ("remote", &["remote"]),
    ("client", &["client"]),
];

/// Test-only modules, above everything.
const TEST_ONLY: &[&str] = &["testutil", "layers"];

fn layer_of(module: &str) -> Option<usize> {
    if TEST_ONLY.contains(&module) {
        return Some(LAYERS.len());
    }
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`local/photos.rs` →
/// `local`, `time.rs` → `time`); `None` for `lib.rs`, which wires the layers.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(name) => Some(name.to_owned()),
        None => Some(first),
    }
}

/// The top-level modules a source names through `crate::`, with line
/// numbers; a `use crate::{a, b}` group names each.
fn uses(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let code: Vec<&str> = text.lines().collect();
    for (n, line) in code.iter().enumerate() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // A group may span lines: read to its closing brace.
                let mut body = group.to_owned();
                let mut m = n + 1;
                while !body.contains('}') && m < code.len() {
                    body.push_str(code[m]);
                    m += 1;
                }
                let body = body.split('}').next().unwrap_or("");
                for item in body.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.push((n + 1, name));
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push((n + 1, name));
            }
        }
    }
    found
}

/// Root items re-exported by `lib.rs` that a module may name through
/// `crate::` (types, not layers): they resolve to the module that defines
/// them, by name.
fn resolve_root_item(name: &str) -> Option<&'static str> {
    Some(match name {
        "Client" | "ClientStatus" | "EnrolmentInfo" | "DEFAULT_CONNECT_TIMEOUT" => "client",
        "ClientError" | "Result" => "error",
        "Exchange" | "Connect" | "transport" => "link",
        "CellGuess" | "UnsentWork" | "PrefixMatches" | "ReferenceNames" | "ShortIds"
        | "ImportedPatrol" | "PointInput" | "PhotoView" | "ReportStatus" | "ReportView"
        | "CaseFilter" | "CaseView" | "StepView" | "cases" | "lookup" | "patrol" | "photo"
        | "view" => "local",
        "Overwrite" | "Rejection" => "store",
        "CancelToken" | "Controls" | "RetryPolicy" | "SyncProgress" | "SyncSummary" => "sync",
        // Re-exports of other crates.
        "case" | "category" | "workflow" | "ListPatrols" | "Location" | "NewReport"
        | "PatrolSummary" | "PatrolTrack" | "PhotoRef" | "ReportEdit" | "TrackPoint" => {
            return None
        }
        _ => return Some(""),
    })
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut edges = BTreeSet::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(own) = layer_of(&module) else {
            problems.push(format!(
                "{}: module `{module}` has no layer; add it to LAYERS",
                file.display()
            ));
            continue;
        };
        // Unit tests may use fixtures from anywhere (a client to feed an
        // engine): `tests.rs` files and inline `mod tests` are not layers.
        if file.file_name().is_some_and(|n| n == "tests.rs") || TEST_ONLY.contains(&module.as_str())
        {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
        for (line, name) in uses(text) {
            let target = if layer_of(&name).is_some() {
                name.clone()
            } else {
                match resolve_root_item(&name) {
                    None => continue,
                    Some("") => {
                        problems.push(format!(
                            "{}:{line}: `crate::{name}` is neither a module nor a known re-export; \
                             add it to the layers test",
                            file.display()
                        ));
                        continue;
                    }
                    Some(m) => m.to_owned(),
                }
            };
            let theirs = layer_of(&target).expect("a known module");
            if theirs > own {
                problems.push(format!(
                    "{}:{line}: `{module}` ({}) uses `crate::{name}` of the {} layer above it",
                    file.display(),
                    LAYERS[own].0,
                    LAYERS.get(theirs).map_or("test", |l| l.0)
                ));
            }
            if target != module {
                edges.insert((module.clone(), target));
            }
        }
    }
    for (a, b) in &edges {
        if edges.contains(&(b.clone(), a.clone())) && a < b {
            problems.push(format!("`{a}` and `{b}` use each other: an import cycle"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_a_use_that_points_up() {
    let found = uses(
        "use crate::{local::Device, error::Result};\nlet x = crate::client::Client::open(p); // crate::sync",
    );
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["local", "error", "client"]);
    assert!(layer_of("client") > layer_of("local"));
    assert!(layer_of("link") < layer_of("store"));
}
