//! Embeds the console's page (`console/`, written by hand and vendored
//! from npm with a lockfile) into the server binary: a table of paths and
//! `include_bytes!`, so the server builds with no npm and no network.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Dotfiles, npm's working tree and its manifests are not the page.
        if name.starts_with('.')
            || name == "node_modules"
            || name == "package.json"
            || name == "package-lock.json"
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, root, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, path));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let console = manifest.join("console");
    if console.is_dir() {
        println!("cargo:rerun-if-changed=console");
    } else {
        // Watch the crate so the page is picked up once it appears.
        println!("cargo:rerun-if-changed=.");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    walk(&console, &console, &mut files);
    let mut code = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (rel, path) in files {
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("console_assets.rs");
    std::fs::write(out, code).expect("writing the asset table");
}
