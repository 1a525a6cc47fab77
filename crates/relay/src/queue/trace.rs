//! Traces of test messages. The app announces a Message-ID (`trace watch`, over the control
//! socket); the next message submitted with it is kept exactly as signed and sent, with its
//! envelope and delivery records once it has left the queue, for an hour (`trace show`). That is
//! how the app shows what the relay did with its test email and judges the very bytes a receiver
//! got. Nothing else is ever kept: a message nobody announced leaves no copy.
//!
//! Files, under `<spool>/traces/` (the service user's, 0600): `<queue-id>.meta.json` (which
//! Message-ID, when), `<queue-id>.msg` (the signed bytes), `<queue-id>.final.json` (the item as
//! it left the queue).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use outpost_relay_api as api;
use outpost_safe_file as safe_file;
use serde::{Deserialize, Serialize};

use super::Item;
use crate::clock::{Clock, unix_seconds};

/// How long an announced Message-ID is looked for.
pub const WATCH_FOR: Duration = Duration::from_secs(15 * 60);
/// How long a trace is kept.
pub const KEEP_FOR: Duration = Duration::from_secs(3600);
/// The most traces kept (the oldest go first).
const MAX_TRACES: usize = 20;
/// The most Message-IDs watched at once.
const MAX_WATCHED: usize = 20;
/// The largest message kept (a test email is a few kilobytes).
const MAX_SIZE: usize = 10 * 1024 * 1024;

/// See the module documentation.
pub struct Traces {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    /// Message-ID → until when it is looked for.
    watched: Mutex<HashMap<String, SystemTime>>,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Traces").field("dir", &self.dir).finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    message_id: String,
    queue_id: String,
    accepted: u64,
}

/// Why a Message-ID cannot be watched.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WatchError {
    /// Empty, too long, or with spaces or control characters.
    #[error("{0:?} is not a Message-ID")]
    Invalid(String),
    /// Too many at once.
    #[error("already watching {MAX_WATCHED} messages; try again in a few minutes")]
    Busy,
}

/// A Message-ID as compared: without its angle brackets and surrounding spaces.
pub fn normalize(message_id: &str) -> String {
    let trimmed = message_id.trim();
    trimmed.strip_prefix('<').and_then(|id| id.strip_suffix('>')).unwrap_or(trimmed).to_string()
}

impl Traces {
    /// Traces kept in `<spool_dir>/traces`.
    pub fn new(spool_dir: &Path, clock: Arc<dyn Clock>) -> Traces {
        Traces { dir: spool_dir.join("traces"), clock, watched: Mutex::new(HashMap::new()) }
    }

    /// Looks for the next message with `message_id` from now on.
    pub fn watch(&self, message_id: &str) -> Result<api::TraceWatch, WatchError> {
        let id = normalize(message_id);
        if id.is_empty() || id.len() > 250 || !id.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(WatchError::Invalid(message_id.to_string()));
        }
        let now = self.clock.now();
        let mut watched = self.watched.lock().expect("trace lock");
        watched.retain(|_, until| *until > now);
        if watched.len() >= MAX_WATCHED && !watched.contains_key(&id) {
            return Err(WatchError::Busy);
        }
        let until = now + WATCH_FOR;
        watched.insert(id.clone(), until);
        Ok(api::TraceWatch { message_id: id, until: unix_seconds(until) })
    }

    /// A message was just queued as `queue_id`: keeps it if its Message-ID is watched (once).
    pub fn keep(&self, message_id: Option<&str>, queue_id: &str, signed: &[u8]) {
        let Some(id) = message_id.map(normalize) else { return };
        let now = self.clock.now();
        let wanted = matches!(
            self.watched.lock().expect("trace lock").remove(&id),
            Some(until) if until > now
        );
        if !wanted {
            return;
        }
        if signed.len() > MAX_SIZE {
            tracing::warn!(%queue_id, size = signed.len(), "a watched message is too large to keep");
            return;
        }
        let meta =
            Meta { message_id: id, queue_id: queue_id.to_string(), accepted: unix_seconds(now) };
        match self.write(&meta, signed) {
            Ok(()) => tracing::info!(%queue_id, "keeping a trace of the test message"),
            Err(error) => {
                tracing::warn!(%queue_id, %error, "cannot keep a trace of the test message")
            }
        }
    }

    fn write(&self, meta: &Meta, signed: &[u8]) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))?;
        }
        self.prune();
        let options = safe_file::Options::PRIVATE.without_directory_sync();
        safe_file::write(&self.path(&meta.queue_id, "msg"), signed, options)?;
        let json = serde_json::to_vec(meta).map_err(std::io::Error::other)?;
        safe_file::write(
            &self.path(&meta.queue_id, "meta.json"),
            &json,
            safe_file::Options::PRIVATE,
        )
    }

    /// The message `queue_id` was not queued after all (the queue refused it): no trace.
    pub fn forget(&self, queue_id: &str) {
        for extension in ["meta.json", "msg", "final.json"] {
            let _ = fs::remove_file(self.path(queue_id, extension));
        }
    }

    /// An item is leaving the queue: a traced one keeps its last state.
    pub fn finished(&self, item: &Item) {
        if !self.path(&item.id, "meta.json").exists() {
            return;
        }
        let written = serde_json::to_vec(item).map_err(std::io::Error::other).and_then(|json| {
            safe_file::write(&self.path(&item.id, "final.json"), &json, safe_file::Options::PRIVATE)
        });
        if let Err(error) = written {
            tracing::warn!(id = %item.id, %error, "cannot keep the test message's delivery records");
        }
    }

    /// The newest trace of `message_id`; `live` reads the item while it is still queued.
    pub fn show(
        &self,
        message_id: &str,
        live: impl Fn(&str) -> Option<Item>,
    ) -> Option<api::Trace> {
        let id = normalize(message_id);
        self.prune();
        let meta = self
            .metas()
            .into_iter()
            .filter(|meta| meta.message_id == id)
            .max_by_key(|meta| meta.accepted)?;
        let signed = fs::read(self.path(&meta.queue_id, "msg")).ok()?;
        let finished = fs::read(self.path(&meta.queue_id, "final.json"))
            .ok()
            .and_then(|json| serde_json::from_slice::<Item>(&json).ok());
        let (item, finished) = match finished {
            Some(item) => (item, true),
            None => (live(&meta.queue_id)?, false),
        };
        Some(api::Trace {
            message_id: meta.message_id,
            queue_id: meta.queue_id,
            accepted: meta.accepted,
            signed_base64: base64::engine::general_purpose::STANDARD.encode(signed),
            item,
            finished,
        })
    }

    fn path(&self, queue_id: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{queue_id}.{extension}"))
    }

    fn metas(&self) -> Vec<Meta> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".meta.json"))
            .filter_map(|entry| fs::read(entry.path()).ok())
            .filter_map(|json| serde_json::from_slice::<Meta>(&json).ok())
            .collect()
    }

    /// Forgets traces older than [`KEEP_FOR`], and all but the newest [`MAX_TRACES`].
    fn prune(&self) {
        let cutoff = unix_seconds(self.clock.now()).saturating_sub(KEEP_FOR.as_secs());
        let mut metas = self.metas();
        metas.sort_by_key(|meta| std::cmp::Reverse(meta.accepted));
        for (index, meta) in metas.iter().enumerate() {
            if meta.accepted < cutoff || index >= MAX_TRACES {
                self.forget(&meta.queue_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;

    fn item(id: &str) -> Item {
        Item {
            id: id.into(),
            from: "alice@example.com".into(),
            user: Some("alice@example.com".into()),
            created: 0,
            attempts: 0,
            next_attempt: 0,
            recipients: Vec::new(),
            delay_notified: false,
        }
    }

    #[test]
    fn only_an_announced_message_is_kept_once_and_for_an_hour() {
        let dir = tempfile::tempdir().unwrap();
        let clock =
            Arc::new(FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)));
        let traces = Traces::new(dir.path(), clock.clone());
        let live = |id: &str| Some(item(id));
        // Not announced: no copy.
        traces.keep(Some("<a@example.com>"), "Q1", b"signed a");
        assert_eq!(traces.show("a@example.com", live), None);
        assert!(!dir.path().join("traces").join("Q1.msg").exists());

        let watch = traces.watch("<b@example.com>").unwrap();
        assert_eq!(watch.message_id, "b@example.com");
        traces.keep(Some(" <b@example.com>"), "Q2", b"signed \xff b");
        // Announced once: a second message with the same id is not kept.
        traces.keep(Some("<b@example.com>"), "Q3", b"again");
        let shown = traces.show("<b@example.com>", live).unwrap();
        assert_eq!((shown.queue_id.as_str(), shown.finished), ("Q2", false));
        let bytes = base64::engine::general_purpose::STANDARD.decode(&shown.signed_base64).unwrap();
        assert_eq!(bytes, b"signed \xff b", "the exact bytes, 8-bit included");
        // Once delivered, the final records are kept even without the spool.
        traces.finished(&item("Q2"));
        let finished = traces.show("b@example.com", |_| None).unwrap();
        assert!(finished.finished);
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(dir.path().join("traces/Q2.msg")).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode, 0o600);
        // An hour later: gone.
        clock.advance(KEEP_FOR + Duration::from_secs(1));
        assert_eq!(traces.show("b@example.com", |_| None), None);
        assert!(!dir.path().join("traces/Q2.msg").exists());
    }

    #[test]
    fn a_watch_expires_and_nonsense_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let clock =
            Arc::new(FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)));
        let traces = Traces::new(dir.path(), clock.clone());
        traces.watch("late@example.com").unwrap();
        clock.advance(WATCH_FOR + Duration::from_secs(1));
        traces.keep(Some("late@example.com"), "Q1", b"x");
        assert_eq!(traces.show("late@example.com", |id| Some(item(id))), None);
        assert!(matches!(traces.watch("two words"), Err(WatchError::Invalid(_))));
        assert!(matches!(traces.watch("<>"), Err(WatchError::Invalid(_))));
        for n in 0..MAX_WATCHED {
            traces.watch(&format!("m{n}@example.com")).unwrap();
        }
        assert_eq!(traces.watch("one-more@example.com"), Err(WatchError::Busy));
    }
}
