//! Which data directory a command works on, and where that choice came from.
//! An admin command run from the wrong working directory used to create a
//! fresh directory with a new certificate; now only `serve` and `init` create
//! one, and every command says which directory it used and why.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// The directory name `serve` and `init` create when nothing else is said.
pub const DEFAULT_DIR: &str = "gridwarden-data";
pub const DATA_ENV: &str = "GRIDWARDEN_DATA";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--data DIR`.
    Flag,
    /// The `GRIDWARDEN_DATA` environment variable.
    Env,
    /// The working directory is itself a data directory.
    CurrentDir,
    /// `./gridwarden-data` under the working directory.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Flag => "from --data",
            Source::Env => "from GRIDWARDEN_DATA",
            Source::CurrentDir => "the current directory",
            Source::Default => "./gridwarden-data under the current directory",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Located {
    pub path: PathBuf,
    pub source: Source,
}

impl Located {
    /// `--data` wins, then `GRIDWARDEN_DATA`, then the working directory when
    /// it holds a database, else `./gridwarden-data`.
    pub fn find(flag: Option<&Path>, env: Option<PathBuf>, cwd: &Path) -> Self {
        let (path, source) = match (flag, env) {
            (Some(p), _) => (p.to_owned(), Source::Flag),
            (None, Some(p)) if !p.as_os_str().is_empty() => (p, Source::Env),
            _ if is_data_dir(cwd) => (cwd.to_owned(), Source::CurrentDir),
            _ => (cwd.join(DEFAULT_DIR), Source::Default),
        };
        Self { path, source }
    }

    /// From the real environment and working directory.
    pub fn from_env(flag: Option<&Path>) -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Self::find(flag, std::env::var_os(DATA_ENV).map(PathBuf::from), &cwd)
    }

    /// An admin command's check: the directory must exist already.
    pub fn require_existing(&self) -> anyhow::Result<()> {
        if is_data_dir(&self.path) {
            return Ok(());
        }
        bail!(
            "no gridwarden data directory at {} ({}); admin commands never create one. Point at the server's directory with --data DIR or GRIDWARDEN_DATA, or create a new one with `gridwarden-server init --data DIR`",
            self.path.display(),
            self.source
        )
    }
}

/// A data directory is one holding the server's database, or (for a server
/// whose records are in PostgreSQL) its certificate.
pub fn is_data_dir(path: &Path) -> bool {
    path.join(super::DB_FILE).is_file() || path.join(crate::tls::CERT_FILE).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_env_then_a_data_directory_as_cwd_then_the_default() {
        let tmp = tempfile::tempdir().unwrap();
        let cwd = tmp.path();
        let flag = Path::new("/x");
        let env = Some(PathBuf::from("/y"));
        assert_eq!(
            Located::find(Some(flag), env.clone(), cwd).source,
            Source::Flag
        );
        let l = Located::find(None, env, cwd);
        assert_eq!((l.path.as_path(), l.source), (Path::new("/y"), Source::Env));
        let l = Located::find(None, None, cwd);
        assert_eq!(l.source, Source::Default);
        assert!(l.require_existing().is_err());
        assert!(!cwd.join(DEFAULT_DIR).exists(), "nothing was created");
        std::fs::write(cwd.join(super::super::DB_FILE), b"").unwrap();
        assert_eq!(Located::find(None, None, cwd).source, Source::CurrentDir);
    }
}
