//! The one way Outpost writes a file that matters: the relay's spool, users file, DKIM keys,
//! certificates and status, and the app's profile.
//!
//! The bytes go to a new temporary file in the same directory (created exclusively and never
//! through a symbolic link), get their mode before anyone can open them by their final name, are
//! fsynced, and are renamed over the target; then the directory is fsynced so the rename itself
//! survives a crash. A reader sees the old file or the new one, never half of either.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What happens to an existing file at the target path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// It is replaced.
    Replace,
    /// It is replaced, and the new file keeps its owner and mode (a file root edits for a
    /// service user, such as the users file).
    ReplaceKeepingOwner,
    /// It is kept and the write fails with [`io::ErrorKind::AlreadyExists`] (a private key that
    /// must never be overwritten).
    Keep,
}

/// How to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The file's permission bits on Unix (ignored elsewhere).
    pub mode: u32,
    /// What to do with an existing file.
    pub existing: Existing,
    /// Whether to fsync the directory after the rename. Leave it on unless several writes to
    /// one directory are followed by one [`sync_directory`].
    pub sync_directory: bool,
}

impl Options {
    /// A private file (0600) that replaces any earlier one, durably.
    pub const PRIVATE: Options =
        Options { mode: 0o600, existing: Existing::Replace, sync_directory: true };

    /// The same options with another mode.
    pub const fn mode(self, mode: u32) -> Options {
        Options { mode, ..self }
    }

    /// The same options with another rule for an existing file.
    pub const fn existing(self, existing: Existing) -> Options {
        Options { existing, ..self }
    }

    /// The same options without the directory fsync.
    pub const fn without_directory_sync(self) -> Options {
        Options { sync_directory: false, ..self }
    }
}

/// Writes `bytes` to `path` atomically and durably (see the module documentation).
pub fn write(path: &Path, bytes: &[u8], options: Options) -> io::Result<()> {
    let directory = parent(path)?;
    let temporary = temporary_path(path)?;
    let result =
        write_temporary(&temporary, path, bytes, options).and_then(|()| match options.existing {
            // A hard link fails if the target exists: an atomic "create, never replace".
            Existing::Keep => {
                fs::hard_link(&temporary, path).and_then(|()| fs::remove_file(&temporary))
            }
            Existing::Replace | Existing::ReplaceKeepingOwner => fs::rename(&temporary, path),
        });
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result?;
    if options.sync_directory { sync_directory(directory) } else { Ok(()) }
}

/// Makes the renames already done in `directory` durable (a no-op where directories cannot be
/// opened, on Windows).
pub fn sync_directory(directory: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(directory)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = directory;
        Ok(())
    }
}

/// One directory's fsyncs shared by whoever needs one at the same moment (group commit): a
/// caller returns once an fsync that *began after it asked* has succeeded, so every rename it
/// made before asking is durable, and callers arriving while an fsync runs share the next one.
/// Under load, a directory fsync per batch instead of per file.
#[derive(Debug)]
pub struct SharedDirectorySync {
    directory: PathBuf,
    state: std::sync::Mutex<Tickets>,
    finished: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct Tickets {
    /// The newest ticket handed out.
    issued: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// An fsync is running.
    running: bool,
}

impl SharedDirectorySync {
    /// Shared fsyncs of `directory`.
    pub fn new(directory: &Path) -> SharedDirectorySync {
        SharedDirectorySync {
            directory: directory.to_path_buf(),
            state: std::sync::Mutex::new(Tickets::default()),
            finished: std::sync::Condvar::new(),
        }
    }

    /// Returns once the renames this thread made in the directory before calling are durable.
    /// Blocks: call it off an async runtime's threads.
    pub fn sync(&self) -> io::Result<()> {
        let mut tickets = self.state.lock().expect("directory sync lock");
        tickets.issued += 1;
        let mine = tickets.issued;
        loop {
            if tickets.durable >= mine {
                return Ok(());
            }
            if tickets.running {
                tickets = self.finished.wait(tickets).expect("directory sync lock");
                continue;
            }
            // This fsync covers every ticket issued so far.
            let covers = tickets.issued;
            tickets.running = true;
            drop(tickets);
            let result = sync_directory(&self.directory);
            tickets = self.state.lock().expect("directory sync lock");
            tickets.running = false;
            if result.is_ok() {
                tickets.durable = tickets.durable.max(covers);
            }
            self.finished.notify_all();
            // On failure the others try again themselves; this caller hears the error.
            result?;
        }
    }
}

fn parent(path: &Path) -> io::Result<&Path> {
    match path.parent() {
        Some(directory) if directory.as_os_str().is_empty() => Ok(Path::new(".")),
        Some(directory) => Ok(directory),
        None => Err(io::Error::new(io::ErrorKind::InvalidInput, "a file path has a directory")),
    }
}

/// `.<name>.<pid>.<n>.tmp` beside the target: unique within and across processes.
fn temporary_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a file path has a name"))?;
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{}.{unique}.tmp", std::process::id()));
    Ok(parent(path)?.join(temporary))
}

fn write_temporary(
    temporary: &Path,
    target: &Path,
    bytes: &[u8],
    options: Options,
) -> io::Result<()> {
    let mut open = fs::OpenOptions::new();
    // Exclusive (O_CREAT|O_EXCL): a file or a symbolic link planted at the temporary name
    // makes the write fail instead of being followed.
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(options.mode);
    }
    let mut file = open.open(temporary)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask may have narrowed the mode given to open(); set it exactly.
        let mut mode = options.mode;
        if options.existing == Existing::ReplaceKeepingOwner
            && let Ok(previous) = fs::symlink_metadata(target)
            && previous.file_type().is_file()
        {
            use std::os::unix::fs::MetadataExt;
            std::os::unix::fs::fchown(&file, Some(previous.uid()), Some(previous.gid()))?;
            mode = previous.mode() & 0o777;
        }
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = target;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_directory_syncs_are_shared_and_each_caller_waits_for_one_after_it_asked() {
        let directory = tempfile::tempdir().unwrap();
        let shared = std::sync::Arc::new(SharedDirectorySync::new(directory.path()));
        let threads: Vec<_> = (0..16)
            .map(|number| {
                let (shared, path) = (shared.clone(), directory.path().join(format!("{number}")));
                std::thread::spawn(move || {
                    for round in 0..20 {
                        write(
                            &path,
                            format!("{round}").as_bytes(),
                            Options::PRIVATE.without_directory_sync(),
                        )
                        .unwrap();
                        shared.sync().unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let tickets = shared.state.lock().unwrap();
        assert_eq!(tickets.issued, 320);
        assert_eq!(tickets.durable, 320, "every ticket covered by a finished fsync");
        assert!(!tickets.running);
    }

    #[test]
    fn a_directory_sync_that_fails_says_so() {
        let directory = tempfile::tempdir().unwrap();
        let shared = SharedDirectorySync::new(&directory.path().join("gone"));
        assert!(shared.sync().is_err());
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.json");
        write(&path, b"first", Options::PRIVATE).unwrap();
        write(&path, b"second", Options::PRIVATE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> =
            fs::read_dir(directory.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn the_mode_is_exact_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("key.pem");
        write(&path, b"secret", Options::PRIVATE.mode(0o640)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn keeping_the_owner_keeps_the_mode_of_the_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("users");
        write(&path, b"a", Options::PRIVATE.mode(0o640)).unwrap();
        write(&path, b"b", Options::PRIVATE.existing(Existing::ReplaceKeepingOwner)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(fs::read(&path).unwrap(), b"b");
    }

    #[test]
    fn keep_never_overwrites() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("dkim.pem");
        write(&path, b"original", Options::PRIVATE.existing(Existing::Keep)).unwrap();
        let error = write(&path, b"other", Options::PRIVATE.existing(Existing::Keep)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"original");
        assert_eq!(fs::read_dir(directory.path()).unwrap().count(), 1, "no temporary left");
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_at_the_target_is_replaced_not_followed() {
        let directory = tempfile::tempdir().unwrap();
        let victim = directory.path().join("victim");
        fs::write(&victim, b"keep me").unwrap();
        let path = directory.path().join("A.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write(&path, b"new", Options::PRIVATE).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep me");
        assert!(fs::symlink_metadata(&path).unwrap().file_type().is_file());
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("nowhere").join("file");
        assert_eq!(
            write(&path, b"x", Options::PRIVATE).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
