//! The spool directory: the only code that touches it. Each queued message is one file,
//! `<id>.msg`: a first line with its state as queued (a JSON [`Item`]), then the bytes to send,
//! never rewritten. Later states (attempts, records) go to `<id>.json` beside it.
//!
//! A new item is written as a temporary file, fsynced, renamed into place, and the directory
//! fsynced — that fsync shared by every acceptance waiting at the same moment (group commit,
//! [`SharedDirectorySync`]): only then may the client hear `250` (conformance 36). So a message
//! costs two fsyncs at most to accept, and under load nearer one. A crash before the rename
//! leaves only a temporary file, which loading removes (the client never got its `250`).
//!
//! A finished item's message goes first, then its state: a crash between the two leaves a
//! `.json` without a `.msg`, which loading removes — never a message delivered twice for want
//! of its newer state. Spools written before the one-file format (a bare `.msg` and its `.json`)
//! load as they are.

use std::fs;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use outpost_safe_file::SharedDirectorySync;

use super::Item;

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    directory_sync: Arc<SharedDirectorySync>,
}

impl Spool {
    /// Uses (and creates, owner-only) `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Spool> {
        fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            directory_sync: Arc::new(SharedDirectorySync::new(dir)),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{id}.{extension}"))
    }

    /// Writes a new item durably: one file fsync and one (shared) directory fsync.
    pub fn create(&self, item: &Item, message: &[u8]) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(item).map_err(std::io::Error::other)?;
        // Compact JSON has no raw newline: the first one ends the state.
        bytes.push(b'\n');
        bytes.extend_from_slice(message);
        self.write(&item.id, "msg", &bytes)?;
        self.directory_sync.sync()
    }

    /// Replaces an item's state durably.
    pub fn update(&self, item: &Item) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(item).map_err(std::io::Error::other)?;
        self.write(&item.id, "json", &json)?;
        self.directory_sync.sync()
    }

    /// Removes an item (its message first, see the module documentation).
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        fs::remove_file(self.path(id, "msg"))?;
        match fs::remove_file(self.path(id, "json")) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        self.directory_sync.sync()
    }

    /// An item's state: its latest, or the one it was queued with.
    pub fn item(&self, id: &str) -> std::io::Result<Item> {
        match fs::read(self.path(id, "json")) {
            Ok(json) => serde_json::from_slice(&json).map_err(std::io::Error::other),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let file = fs::File::open(self.path(id, "msg"))?;
                let mut first = Vec::new();
                std::io::BufReader::new(file).read_until(b'\n', &mut first)?;
                queued_state(&first).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the message file has no state and there is no state file",
                    )
                })
            }
            Err(error) => Err(error),
        }
    }

    /// An item's message bytes.
    pub fn message(&self, id: &str) -> std::io::Result<Vec<u8>> {
        let mut bytes = fs::read(self.path(id, "msg"))?;
        let state_line = bytes
            .iter()
            .position(|&byte| byte == b'\n')
            .filter(|&end| queued_state(&bytes[..=end]).is_some())
            .map_or(0, |end| end + 1);
        bytes.drain(..state_line);
        Ok(bytes)
    }

    /// Every complete item; leftovers of a crash are removed.
    pub fn load(&self) -> std::io::Result<Vec<Item>> {
        let mut items = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else { continue };
            if name.ends_with(".tmp") {
                // Written, but the client never heard 250: not ours to deliver.
                let _ = fs::remove_file(&path);
            } else if let Some(id) = name.strip_suffix(".msg") {
                match self.item(id) {
                    Ok(item) => items.push(item),
                    Err(error) => {
                        tracing::error!(id, %error, "queued item is unreadable; left in place for inspection")
                    }
                }
            } else if let Some(id) = name.strip_suffix(".json")
                && !self.path(id, "msg").exists()
            {
                // The state of a finished item whose removal was cut short.
                let _ = fs::remove_file(&path);
            }
        }
        items.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        Ok(items)
    }

    /// How many items are queued.
    pub fn count(&self) -> std::io::Result<usize> {
        Ok(fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".msg"))
            .count())
    }

    /// The file, fsynced; the caller syncs the directory.
    fn write(&self, id: &str, extension: &str, bytes: &[u8]) -> std::io::Result<()> {
        let options = outpost_safe_file::Options::PRIVATE.without_directory_sync();
        outpost_safe_file::write(&self.path(id, extension), bytes, options)
    }
}

/// The state a message file starts with: a first line that is a JSON item. (A message itself
/// never starts with `{`: the relay puts its own header field first.)
fn queued_state(first_line: &[u8]) -> Option<Item> {
    first_line.starts_with(b"{").then(|| serde_json::from_slice(first_line).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Recipient, Route, Status};

    fn item(id: &str) -> Item {
        Item {
            id: id.into(),
            from: "alice@example.com".into(),
            user: None,
            created: 1,
            attempts: 0,
            next_attempt: 1,
            recipients: vec![Recipient {
                address: "bob@example.net".into(),
                original: None,
                route: Route::Submitted,
                status: Status::Pending,
                records: Vec::new(),
                bounced: false,
            }],
            delay_notified: false,
        }
    }

    const MESSAGE: &[u8] =
        b"Received: by test\r\nSubject: {braces}\r\n\r\n{\"not\": \"state\"}\r\n";

    #[test]
    fn a_new_item_is_one_file_whose_message_and_state_read_back() {
        let directory = tempfile::tempdir().unwrap();
        let spool = Spool::open(directory.path()).unwrap();
        spool.create(&item("A"), MESSAGE).unwrap();
        let names: Vec<String> = fs::read_dir(directory.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["A.msg"]);
        assert_eq!(spool.message("A").unwrap(), MESSAGE);
        assert_eq!(spool.item("A").unwrap(), item("A"));
        // A later state is its own file; the message is untouched.
        let mut later = item("A");
        later.attempts = 3;
        spool.update(&later).unwrap();
        assert_eq!(spool.item("A").unwrap().attempts, 3);
        assert_eq!(spool.message("A").unwrap(), MESSAGE);
        assert_eq!(spool.load().unwrap(), [later]);
        spool.remove("A").unwrap();
        assert_eq!(spool.count().unwrap(), 0);
        assert_eq!(fs::read_dir(directory.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_spool_of_the_two_file_format_loads_as_it_is() {
        let directory = tempfile::tempdir().unwrap();
        fs::write(directory.path().join("B.msg"), MESSAGE).unwrap();
        fs::write(directory.path().join("B.json"), serde_json::to_vec(&item("B")).unwrap())
            .unwrap();
        let spool = Spool::open(directory.path()).unwrap();
        assert_eq!(spool.load().unwrap(), [item("B")]);
        assert_eq!(spool.message("B").unwrap(), MESSAGE);
    }

    #[test]
    fn leftovers_of_a_crash_are_removed_and_an_unreadable_item_is_kept() {
        let directory = tempfile::tempdir().unwrap();
        // A write cut short before its rename; a removal cut short after the message went.
        fs::write(directory.path().join(".C.msg.1.0.tmp"), b"half").unwrap();
        fs::write(directory.path().join("D.json"), serde_json::to_vec(&item("D")).unwrap())
            .unwrap();
        fs::write(directory.path().join("E.msg"), b"no state at all").unwrap();
        let spool = Spool::open(directory.path()).unwrap();
        assert_eq!(spool.load().unwrap(), []);
        assert!(!directory.path().join(".C.msg.1.0.tmp").exists());
        assert!(!directory.path().join("D.json").exists());
        assert!(directory.path().join("E.msg").exists(), "kept for inspection");
    }
}
