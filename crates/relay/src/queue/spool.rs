//! The spool directory: the only code that touches it. Each queued message is two files,
//! `<id>.msg` (the bytes to send) and `<id>.json` (envelope and per-recipient state).
//!
//! A new item is written as temporary files, each fsynced, renamed into place, and the
//! directory fsynced: only then may the client hear `250` (conformance 36). The JSON file is
//! renamed last, so a crash between the two renames leaves a `.msg` without a `.json`, which
//! loading ignores and removes (the client never got its `250`).

use std::fs;
use std::path::{Path, PathBuf};

use super::Item;

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
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
        Ok(Spool { dir: dir.to_path_buf() })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{id}.{extension}"))
    }

    /// Writes a new item durably.
    pub fn create(&self, item: &Item, message: &[u8]) -> std::io::Result<()> {
        self.write_atomically(&item.id, "msg", message, false)?;
        let json = serde_json::to_vec_pretty(item).map_err(std::io::Error::other)?;
        self.write_atomically(&item.id, "json", &json, false)?;
        self.sync_dir()
    }

    /// Replaces an item's state durably.
    pub fn update(&self, item: &Item) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(item).map_err(std::io::Error::other)?;
        self.write_atomically(&item.id, "json", &json, true)
    }

    /// Removes an item (state first, so a crash leaves only an orphan message file).
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        fs::remove_file(self.path(id, "json"))?;
        let _ = fs::remove_file(self.path(id, "msg"));
        self.sync_dir()
    }

    /// An item's state.
    pub fn item(&self, id: &str) -> std::io::Result<Item> {
        let json = fs::read(self.path(id, "json"))?;
        serde_json::from_slice(&json).map_err(std::io::Error::other)
    }

    /// An item's message bytes.
    pub fn message(&self, id: &str) -> std::io::Result<Vec<u8>> {
        fs::read(self.path(id, "msg"))
    }

    /// Every complete item; incomplete leftovers of a crash are removed.
    pub fn load(&self) -> std::io::Result<Vec<Item>> {
        let mut items = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else { continue };
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
            } else if let Some(id) = name.strip_suffix(".json") {
                let text = fs::read(&path)?;
                match serde_json::from_slice::<Item>(&text) {
                    Ok(item) if self.path(id, "msg").exists() => items.push(item),
                    Ok(_) => tracing::error!(
                        id,
                        "queued item has no message file; keeping its state for inspection"
                    ),
                    Err(error) => {
                        tracing::error!(id, %error, "queued item is unreadable; left in place for inspection")
                    }
                }
            } else if let Some(id) = name.strip_suffix(".msg")
                && !self.path(id, "json").exists()
            {
                // Written, but the client never heard 250: not ours to deliver.
                let _ = fs::remove_file(&path);
            }
        }
        items.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        Ok(items)
    }

    /// How many items are queued (counting state files).
    pub fn count(&self) -> std::io::Result<usize> {
        Ok(fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".json"))
            .count())
    }

    fn write_atomically(
        &self,
        id: &str,
        extension: &str,
        bytes: &[u8],
        sync_dir: bool,
    ) -> std::io::Result<()> {
        let options = outpost_safe_file::Options::PRIVATE;
        let options = if sync_dir { options } else { options.without_directory_sync() };
        outpost_safe_file::write(&self.path(id, extension), bytes, options)
    }

    fn sync_dir(&self) -> std::io::Result<()> {
        outpost_safe_file::sync_directory(&self.dir)
    }
}
