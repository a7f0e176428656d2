//! The Kotlin bindings as an Android developer builds them: the Kotlin that
//! `mobile-bindings/generate.sh` writes, compiled by `kotlinc-jvm` with JNA
//! and kotlinx-coroutines, run on the JVM with the Linux library.
//!
//! The toolchain is optional on a developer's machine (the test skips with a
//! notice) and installed in CI by `.ci/install-kotlin`: the compiler from the
//! npm registry into `~/.cache/gridwarden/kotlin`, the JDK and JNA from the
//! distribution.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The acceptance program and the docs' examples it compiles.
pub fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("mobile-bindings/tests/kotlin")
}

/// The docs' Kotlin examples (`docs/*.kt` beside the acceptance program),
/// sorted by name.
pub fn doc_examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(sources().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "kt"))
        .collect();
    files.sort();
    files
}

/// Where the parts were found.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// `kotlinc-jvm` of the npm package `kotlin-compiler`.
    pub kotlinc: PathBuf,
    /// The package's `lib/`: `kotlin-stdlib.jar`, `kotlinx-coroutines-core-jvm.jar`.
    pub kotlin_lib: PathBuf,
    pub java: PathBuf,
    /// JNA (`libjna-java`), with which the generated Kotlin loads the library.
    pub jna: PathBuf,
}

impl Toolchain {
    /// The toolchain where `.ci/install-kotlin` puts it (the compiler's cache
    /// directory follows `GRIDWARDEN_KOTLIN_HOME` as the script does), or
    /// the parts that are missing.
    pub fn find() -> Result<Self, String> {
        let mut missing = Vec::new();
        let cache = std::env::var_os("GRIDWARDEN_KOTLIN_HOME")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gridwarden/kotlin"))
            })
            .unwrap_or_default();
        let package = cache.join("node_modules/kotlin-compiler");
        let kotlinc = package.join("bin/kotlinc-jvm");
        let kotlin_lib = package.join("lib");
        if !kotlinc.is_file() || !kotlin_lib.join("kotlinx-coroutines-core-jvm.jar").is_file() {
            missing.push(format!("the Kotlin compiler ({})", kotlinc.display()));
        }
        let java = PathBuf::from("java");
        let runs = Command::new(&java)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !runs {
            missing.push("a JDK (`java`, openjdk-17-jdk-headless)".to_owned());
        }
        let jna = std::env::var_os("GRIDWARDEN_JNA_JAR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/share/java/jna.jar"));
        if !jna.is_file() {
            missing.push(format!("JNA ({}, libjna-java)", jna.display()));
        }
        if missing.is_empty() {
            Ok(Self {
                kotlinc,
                kotlin_lib,
                java,
                jna,
            })
        } else {
            Err(missing.join(", "))
        }
    }

    fn jar(&self, name: &str) -> PathBuf {
        self.kotlin_lib.join(name)
    }

    /// Compiles `sources` into `out` (a jar) against `classpath` plus JNA
    /// and kotlinx-coroutines. `Err` carries the compiler's report.
    pub fn compile(
        &self,
        sources: &[PathBuf],
        classpath: &[PathBuf],
        out: &Path,
    ) -> Result<(), String> {
        let mut cp = vec![
            self.jna.clone(),
            self.jar("kotlinx-coroutines-core-jvm.jar"),
        ];
        cp.extend(classpath.iter().cloned());
        let output = Command::new(&self.kotlinc)
            // C1 only: the compiler runs once per test and stops; the JIT's
            // second tier would cost more than it wins (the script's heap
            // settings, restated because JAVA_OPTS replaces them).
            .env("JAVA_OPTS", "-Xmx1G -Xms128M -XX:TieredStopAtLevel=1")
            .arg("-nowarn")
            .arg("-cp")
            .arg(join(&cp))
            .arg("-d")
            .arg(out)
            .args(sources)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.kotlinc.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// The generated bindings compiled into a jar, reused while the
    /// generated source is byte for byte the one it was compiled from: the
    /// bindings are most of the compile, and change only with the bindings
    /// crate. Kept in `cache_dir` (the target directory's, so `cargo clean`
    /// drops it). Returns the jar and whether it was compiled now.
    pub fn bindings_jar(
        &self,
        generated: &Path,
        cache_dir: &Path,
    ) -> Result<(PathBuf, bool), String> {
        let source =
            std::fs::read(generated).map_err(|e| format!("{}: {e}", generated.display()))?;
        let jar = cache_dir.join("gridwarden_mobile.jar");
        let kept = cache_dir.join("gridwarden_mobile.kt");
        if jar.is_file() && std::fs::read(&kept).is_ok_and(|k| k == source) {
            return Ok((jar, false));
        }
        std::fs::create_dir_all(cache_dir).map_err(|e| e.to_string())?;
        // The source is recorded only once its jar is whole: a compile that
        // failed or was killed leaves nothing to reuse.
        let _ = std::fs::remove_file(&kept);
        // kotlinc writes a jar only to a name ending in `.jar`.
        let partial = cache_dir.join("partial-gridwarden_mobile.jar");
        let _ = std::fs::remove_file(&partial);
        self.compile(&[generated.to_owned()], &[], &partial)?;
        std::fs::rename(&partial, &jar).map_err(|e| e.to_string())?;
        std::fs::write(&kept, source).map_err(|e| e.to_string())?;
        Ok((jar, true))
    }

    /// `java MAIN_CLASS` with `jars`, the Kotlin runtime and JNA on the
    /// class path, and the native library found in `library_dir`.
    pub fn java(&self, jars: &[PathBuf], library_dir: &Path, main_class: &str) -> Command {
        let mut cp = jars.to_vec();
        cp.extend([
            self.jar("kotlin-stdlib.jar"),
            self.jar("kotlinx-coroutines-core-jvm.jar"),
            self.jna.clone(),
        ]);
        let mut cmd = Command::new(&self.java);
        cmd.arg("-XX:TieredStopAtLevel=1")
            .arg(format!("-Djna.library.path={}", library_dir.display()))
            .arg("-cp")
            .arg(join(&cp))
            .arg(main_class);
        cmd
    }
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// How long each part took, printed by the test (`--nocapture`) so the
/// cost of the Kotlin step stays known.
#[derive(Debug, Default)]
pub struct Timings(Vec<(&'static str, Duration)>);

impl Timings {
    pub fn time<T>(&mut self, what: &'static str, work: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let result = work();
        self.0.push((what, start.elapsed()));
        result
    }

    pub fn report(&self) -> String {
        let total: Duration = self.0.iter().map(|(_, d)| *d).sum();
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(what, d)| format!("{what} {:.1} s", d.as_secs_f64()))
            .collect();
        format!("{} (total {:.1} s)", parts.join(", "), total.as_secs_f64())
    }
}
