//! A file's parsed contents that follow the file: read again when it changes on disk (its
//! modification time, size or inode), so an edit takes effect without a restart (conformance 45).
//! A file that stops parsing keeps nothing stale: the error is returned until it is fixed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<std::time::SystemTime>,
    length: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: metadata.modified().ok(),
        length: metadata.len(),
        inode: metadata.ino(),
    })
}

/// The version of the file last read, and what reading it gave.
type Current<T, E> = (Option<Stamp>, Result<Arc<T>, E>);

/// Parsed contents of `path`, re-parsed when the file changes.
pub struct Watched<T, E> {
    path: PathBuf,
    parse: fn(&Path) -> Result<T, E>,
    current: Mutex<Current<T, E>>,
}

impl<T, E: std::fmt::Debug> std::fmt::Debug for Watched<T, E> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Watched").field("path", &self.path).finish_non_exhaustive()
    }
}

impl<T, E: Clone> Watched<T, E> {
    /// Reads the file now; an error is returned here (the relay refuses to start on it).
    pub fn new(path: &Path, parse: fn(&Path) -> Result<T, E>) -> Result<Watched<T, E>, E> {
        let stamp = stamp(path);
        let value = Arc::new(parse(path)?);
        Ok(Watched { path: path.to_path_buf(), parse, current: Mutex::new((stamp, Ok(value))) })
    }

    /// The contents as the file is now.
    pub fn get(&self) -> Result<Arc<T>, E> {
        let now = stamp(&self.path);
        let mut current = self.current.lock().expect("watched lock");
        if current.0 != now {
            current.1 = (self.parse)(&self.path).map(Arc::new);
            current.0 = now;
        }
        current.1.clone()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(path: &Path) -> Result<u32, String> {
        let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
        text.trim().parse().map_err(|_| format!("`{}` is not a number", text.trim()))
    }

    #[test]
    fn a_change_on_disk_is_seen_and_a_broken_file_is_an_error_until_fixed() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("n");
        std::fs::write(&path, "1").unwrap();
        let watched = Watched::new(&path, number).unwrap();
        assert_eq!(*watched.get().unwrap(), 1);
        // Written aside and renamed over, as the safe writer does: a new inode.
        std::fs::write(directory.path().join("n.new"), "22").unwrap();
        std::fs::rename(directory.path().join("n.new"), &path).unwrap();
        assert_eq!(*watched.get().unwrap(), 22);
        std::fs::write(&path, "x").unwrap();
        assert!(watched.get().is_err());
        std::fs::write(&path, "333").unwrap();
        assert_eq!(*watched.get().unwrap(), 333);
        assert!(Watched::new(&directory.path().join("missing"), number).is_err());
    }
}
