//! How the compiler reaches files. The compiler core does no I/O itself: the
//! CLI, the language server and the tests each give it a [`World`].

use std::io;
use std::path::{Path, PathBuf};

/// File access for the compiler.
pub trait World {
    /// The text of a source file.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// The first `n` bytes of a file (to recognise audio formats).
    fn head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>>;
    /// Whether a file exists.
    fn is_file(&self, path: &Path) -> bool;
    /// Whether a directory exists.
    fn is_dir(&self, path: &Path) -> bool;
    /// The entries of a directory, sorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// The standard library directory, if there is one.
    fn stdlib(&self) -> Option<PathBuf>;
    /// The directory of environment files (`environments/NAME.toml`), if
    /// there is one. None by default: such a world compiles flows that use
    /// no bindings.
    fn environments(&self) -> Option<PathBuf> {
        None
    }
    /// One spelling per file, so that a file reached twice is read once.
    fn canonical(&self, path: &Path) -> PathBuf {
        crate::source::normalize(path)
    }
}

/// The real file system.
#[derive(Clone, Debug, Default)]
pub struct FsWorld {
    /// Where `std/` imports resolve.
    pub stdlib: Option<PathBuf>,
    /// Where environment files are.
    pub environments: Option<PathBuf>,
}

impl FsWorld {
    /// A world whose standard library is `stdlib`, or the first `stdlib/`
    /// directory found walking up from `start`; its environment files are
    /// in the first `environments/` directory found the same way (see
    /// [`FsWorld::with_environments`] to choose another).
    pub fn new(stdlib: Option<PathBuf>, start: &Path) -> FsWorld {
        let found = stdlib.or_else(|| {
            let start = std::fs::canonicalize(start).ok()?;
            start
                .ancestors()
                .map(|dir| dir.join("stdlib"))
                .find(|dir| dir.is_dir())
        });
        FsWorld {
            stdlib: found,
            environments: find_up(start, crate::environment::DIR),
        }
    }

    /// The same world with its environment files in `dir` (`--env-dir`),
    /// when given.
    pub fn with_environments(mut self, dir: Option<PathBuf>) -> FsWorld {
        if dir.is_some() {
            self.environments = dir;
        }
        self
    }
}

/// The first directory `name` in `start` or above it. Shown relative to the
/// current directory when it lies below it, like the paths people type, so
/// that messages name `flows/environments/staging.toml`.
fn find_up(start: &Path, name: &str) -> Option<PathBuf> {
    let absolute = std::fs::canonicalize(start).ok()?;
    let found = absolute
        .ancestors()
        .map(|dir| dir.join(name))
        .find(|dir| dir.is_dir())?;
    let here = std::env::current_dir()
        .ok()
        .and_then(|d| std::fs::canonicalize(d).ok());
    match here.as_deref().and_then(|h| found.strip_prefix(h).ok()) {
        Some(relative) if !relative.as_os_str().is_empty() => Some(relative.to_path_buf()),
        _ => Some(found),
    }
}

impl World for FsWorld {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut buf = Vec::with_capacity(n);
        std::fs::File::open(path)?
            .take(n as u64)
            .read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            out.push(entry?.path());
        }
        out.sort();
        Ok(out)
    }

    fn stdlib(&self) -> Option<PathBuf> {
        self.stdlib.clone()
    }

    fn environments(&self) -> Option<PathBuf> {
        self.environments.clone()
    }

    fn canonical(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| crate::source::normalize(path))
    }
}
