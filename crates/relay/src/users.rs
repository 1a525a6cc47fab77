//! SMTP users: the users file (`address argon2-hash [send-as=a@x,b@y]` per line: the user, the
//! hash of their password, and any addresses beyond their own domain they may send as), and
//! checking a login.
//!
//! Checking is built so a login never tells an attacker more than "no":
//! - an unknown user costs the same argon2 work as a wrong password (a dummy hash is checked);
//! - every failed login is padded to at least [`FAILURE_FLOOR`], like chasquid's 100 ms;
//! - a successful login is remembered for [`CACHE_TTL`] as an HMAC of the password under a key
//!   that exists only in this process, so a client that logs in for every message (apps, Gmail's
//!   "Send mail as") does not pay for argon2 every time. Changing the users file empties it.

use outpost_safe_file as safe_file;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

use crate::watched::Watched;

/// The least time a failed login takes, so timing does not separate unknown users from wrong
/// passwords (chasquid `auth.go`: 100 ms).
pub const FAILURE_FLOOR: Duration = Duration::from_millis(100);
/// How long a verified password is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(10 * 60);

/// Why the users file or a user change failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What we tried.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// A line of the file is not `address hash [send-as=...]`.
    #[error("{path}:{line}: expected `user@domain $argon2id$... [send-as=other@example.org,...]`")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The address is not a usable SMTP user name.
    #[error("`{0}` is not an address like user@example.com")]
    BadAddress(String),
    /// The password is unusable.
    #[error("the password must be 12 to 1024 characters long")]
    BadPassword,
    /// No such user (for remove).
    #[error("there is no user `{0}`")]
    NoSuchUser(String),
    /// The users file cannot be used as it is now (at start, or after a change on disk).
    #[error("{0}")]
    Unusable(String),
    /// Hashing failed (out of memory, most likely).
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// The users file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersFile {
    /// In file order.
    entries: Vec<Entry>,
}

/// One user.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Lower case.
    address: String,
    /// PHC argon2 hash.
    hash: String,
    /// Addresses outside the user's own domain they may also send as (lower case).
    senders: Vec<String>,
}

impl UsersFile {
    /// Reads the file; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<UsersFile, Error> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(UsersFile::default());
            }
            Err(source) => {
                return Err(Error::Io { action: "read", path: path.to_path_buf(), source });
            }
        };
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = || Error::Malformed { path: path.to_path_buf(), line: index + 1 };
            let mut fields = line.split_whitespace();
            let (Some(address), Some(hash)) = (fields.next(), fields.next()) else {
                return Err(malformed());
            };
            if !address.contains('@') || !hash.starts_with("$argon2") {
                return Err(malformed());
            }
            let senders = match (fields.next(), fields.next()) {
                (None, _) => Vec::new(),
                (Some(field), None) => field
                    .strip_prefix("send-as=")
                    .ok_or_else(malformed)?
                    .split(',')
                    .map(|sender| normalise_address(sender).map_err(|_| malformed()))
                    .collect::<Result<_, _>>()?,
                (Some(_), Some(_)) => return Err(malformed()),
            };
            entries.push(Entry {
                address: address.to_ascii_lowercase(),
                hash: hash.to_string(),
                senders,
            });
        }
        Ok(UsersFile { entries })
    }

    /// Writes the file atomically. A new file is readable only by its owner; an existing
    /// file keeps its owner, group and mode (the installer makes it `root:outpost 0640` so the
    /// relay, which runs as `outpost`, can read what `user add` run as root writes).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let io = |action| move |source| Error::Io { action, path: path.to_path_buf(), source };
        let mut text = String::from(
            "# SMTP users of outpost-relay: address and argon2 hash. Manage with `outpost-relay user`.\n",
        );
        for Entry { address, hash, senders } in &self.entries {
            match senders.is_empty() {
                true => text.push_str(&format!("{address} {hash}\n")),
                false => {
                    text.push_str(&format!("{address} {hash} send-as={}\n", senders.join(",")))
                }
            }
        }
        // A new file is private; an existing one keeps the owner and mode root gave it, so the
        // relay (running as `outpost`) can still read what `user add` run as root writes.
        let options =
            safe_file::Options::PRIVATE.existing(safe_file::Existing::ReplaceKeepingOwner);
        safe_file::write(path, text.as_bytes(), options).map_err(io("write"))?;
        Ok(())
    }

    /// Adds a user or changes their password.
    pub fn set(&mut self, address: &str, password: &str) -> Result<(), Error> {
        let address = normalise_address(address)?;
        if !(12..=1024).contains(&password.chars().count()) {
            return Err(Error::BadPassword);
        }
        let hash = Argon2::default()
            .hash_password(password.as_bytes())
            .map_err(|error| Error::Hash(error.to_string()))?
            .to_string();
        match self.entries.iter_mut().find(|entry| entry.address == address) {
            Some(entry) => entry.hash = hash,
            None => self.entries.push(Entry { address, hash, senders: Vec::new() }),
        }
        Ok(())
    }

    /// Replaces the addresses outside their own domain a user may also send as (none clears
    /// them); returns them as kept (lower case, each once).
    pub fn set_senders(&mut self, address: &str, senders: &[String]) -> Result<Vec<String>, Error> {
        let address = address.trim().to_ascii_lowercase();
        let mut normalised = Vec::new();
        for sender in senders {
            let sender = normalise_address(sender)?;
            if !normalised.contains(&sender) {
                normalised.push(sender);
            }
        }
        let entry = self
            .entries
            .iter_mut()
            .find(|entry| entry.address == address)
            .ok_or(Error::NoSuchUser(address))?;
        entry.senders = normalised.clone();
        Ok(normalised)
    }

    /// The extra senders of each user who has some.
    pub fn senders(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries
            .iter()
            .filter(|entry| !entry.senders.is_empty())
            .map(|entry| (entry.address.as_str(), entry.senders.as_slice()))
    }

    /// Removes a user.
    pub fn remove(&mut self, address: &str) -> Result<(), Error> {
        let address = address.to_ascii_lowercase();
        let before = self.entries.len();
        self.entries.retain(|entry| entry.address != address);
        if self.entries.len() == before {
            return Err(Error::NoSuchUser(address));
        }
        Ok(())
    }

    /// The users' addresses, in file order.
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| entry.address.as_str())
    }

    fn entry(&self, address: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.address == address)
    }

    fn hash_of(&self, address: &str) -> Option<&str> {
        self.entry(address).map(|entry| entry.hash.as_str())
    }
}

/// Lower-cases and checks `local@domain`.
fn normalise_address(address: &str) -> Result<String, Error> {
    let address = address.trim().to_ascii_lowercase();
    let valid = address.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            // Never an option to a command that takes it as an argument.
            && !local.starts_with('-')
            && domain.contains('.')
            && address.len() <= 254
            && address
                .chars()
                .all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:\"".contains(c) || c == '@')
            && address.matches('@').count() == 1
    });
    if valid { Ok(address) } else { Err(Error::BadAddress(address)) }
}

/// The outcome of a login check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// The user exists and the password is right.
    Accepted,
    /// Unknown user or wrong password: deliberately not said which.
    Rejected,
}

/// Checks logins against a users file, reloading it when it changes on disk.
#[derive(Debug)]
pub struct Authenticator {
    /// The users file as it is now (read again when it changes, like the aliases file).
    file: Watched<UsersFile, String>,
    /// Short critical sections only: file state and the success cache.
    inner: Mutex<Inner>,
    /// The key of the cache's HMAC: random, in memory only.
    cache_key: [u8; 32],
    /// A real argon2 hash of a random password, checked for unknown users.
    dummy_hash: String,
}

#[derive(Debug)]
struct Inner {
    /// The version of the file the cache was filled from.
    users: Arc<UsersFile>,
    /// Address → (HMAC of the password, when verified).
    verified: HashMap<String, ([u8; 32], Instant)>,
}

impl Authenticator {
    /// Loads the users file at `path`.
    pub fn new(path: &Path) -> Result<Authenticator, Error> {
        let file =
            Watched::new(path, |path| UsersFile::load(path).map_err(|error| error.to_string()))
                .map_err(Error::Unusable)?;
        let users = file.get().map_err(Error::Unusable)?;
        let mut cache_key = [0u8; 32];
        rand::fill(&mut cache_key);
        let dummy_password: [u8; 16] = rand::random();
        let dummy_hash = Argon2::default()
            .hash_password(&dummy_password)
            .map_err(|error| Error::Hash(error.to_string()))?
            .to_string();
        Ok(Authenticator {
            file,
            inner: Mutex::new(Inner { users, verified: HashMap::new() }),
            cache_key,
            dummy_hash,
        })
    }

    /// Whether `user` (logged in) may use `address` as the envelope sender: their own
    /// address, any address at their own domain, or one the users file lists for them.
    pub fn may_send_as(&self, user: &str, address: &str) -> bool {
        let (user, address) = (user.to_ascii_lowercase(), address.to_ascii_lowercase());
        if address == user
            || crate::envelope::domain_of(&address) == crate::envelope::domain_of(&user)
        {
            return true;
        }
        let mut inner = self.inner.lock().expect("users lock");
        if self.reload_if_changed(&mut inner).is_err() {
            return false;
        }
        inner.users.entry(&user).is_some_and(|entry| entry.senders.contains(&address))
    }

    /// How many users there are.
    pub fn user_count(&self) -> usize {
        self.inner.lock().expect("users lock").users.entries.len()
    }

    /// Whether this login is one that succeeded within the cache's lifetime: [`check`] will then
    /// accept it without hashing. Cheap (an HMAC and a lookup).
    ///
    /// [`check`]: Authenticator::check
    pub fn is_cached(&self, address: &str, password: &str) -> bool {
        let address = address.trim().to_ascii_lowercase();
        let tag = self.tag(&address, password);
        let mut inner = self.inner.lock().expect("users lock");
        if self.reload_if_changed(&mut inner).is_err() {
            return false;
        }
        inner
            .verified
            .get(&address)
            .is_some_and(|(cached, at)| *cached == tag && at.elapsed() < CACHE_TTL)
    }

    /// Checks a login. Blocking (argon2 takes tens of milliseconds): call it from
    /// `spawn_blocking`. Failures take at least [`FAILURE_FLOOR`].
    pub fn check(&self, address: &str, password: &str) -> Result<Login, Error> {
        let started = Instant::now();
        let address = address.trim().to_ascii_lowercase();
        let tag = self.tag(&address, password);
        let hash = {
            let mut inner = self.inner.lock().expect("users lock");
            self.reload_if_changed(&mut inner)?;
            if let Some((cached, at)) = inner.verified.get(&address)
                && *cached == tag
                && at.elapsed() < CACHE_TTL
            {
                return Ok(Login::Accepted);
            }
            inner.users.hash_of(&address).map(str::to_string)
        };
        let accepted = match &hash {
            Some(hash) => {
                Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok()
            }
            None => {
                // Same work as a wrong password, then no.
                let _ = Argon2::default()
                    .verify_password(password.as_bytes(), self.dummy_hash.as_str());
                false
            }
        };
        if accepted {
            self.inner.lock().expect("users lock").verified.insert(address, (tag, Instant::now()));
            return Ok(Login::Accepted);
        }
        if let Some(rest) = FAILURE_FLOOR.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
        Ok(Login::Rejected)
    }

    /// Follows the file: a new version empties the success cache.
    fn reload_if_changed(&self, inner: &mut Inner) -> Result<(), Error> {
        let now = self.file.get().map_err(Error::Unusable)?;
        if !Arc::ptr_eq(&now, &inner.users) {
            inner.users = now;
            inner.verified.clear();
        }
        Ok(())
    }

    /// HMAC-SHA256(cache_key, address NUL password).
    fn tag(&self, address: &str, password: &str) -> [u8; 32] {
        let mut inner_key = [0x36u8; 64];
        let mut outer_key = [0x5cu8; 64];
        for (index, byte) in self.cache_key.iter().enumerate() {
            inner_key[index] ^= byte;
            outer_key[index] ^= byte;
        }
        let inner = Sha256::new()
            .chain_update(inner_key)
            .chain_update(address)
            .chain_update([0])
            .chain_update(password)
            .finalize();
        Sha256::new().chain_update(outer_key).chain_update(inner).finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_added_saved_loaded_and_removed() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("users");
        let mut users = UsersFile::load(&path).unwrap();
        users.set("Alice@Example.com", "correct horse battery").unwrap();
        users.set("bob@example.com", "another long password").unwrap();
        users.save(&path).unwrap();
        let loaded = UsersFile::load(&path).unwrap();
        assert_eq!(
            loaded.addresses().collect::<Vec<_>>(),
            ["alice@example.com", "bob@example.com"]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let mut loaded = loaded;
        // An existing file keeps its mode (the installer sets 0640 for the relay's group).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            loaded.save(&path).unwrap();
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        }
        loaded.remove("ALICE@example.com").unwrap();
        assert!(matches!(loaded.remove("nobody@example.com"), Err(Error::NoSuchUser(_))));
        assert_eq!(loaded.addresses().count(), 1);
    }

    #[test]
    fn extra_senders_are_saved_with_their_user_and_allow_only_what_they_list() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("users");
        let mut users = UsersFile::default();
        users.set("alice@example.com", "correct horse battery").unwrap();
        users.set("bob@example.com", "another long password").unwrap();
        let kept = users
            .set_senders(
                "alice@example.com",
                &["Alerts@Example.org".into(), "alerts@example.org".into()],
            )
            .unwrap();
        assert_eq!(kept, ["alerts@example.org"]);
        assert!(matches!(users.set_senders("carol@example.com", &[]), Err(Error::NoSuchUser(_))));
        assert!(matches!(
            users.set_senders("alice@example.com", &["-h@example.org".into()]),
            Err(Error::BadAddress(_))
        ));
        users.save(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(" send-as=alerts@example.org\n"), "{text}");
        assert_eq!(UsersFile::load(&path).unwrap(), users);
        let authenticator = Authenticator::new(&path).unwrap();
        assert!(authenticator.may_send_as("alice@example.com", "alice@example.com"));
        assert!(authenticator.may_send_as("alice@example.com", "shop@example.com"), "own domain");
        assert!(authenticator.may_send_as("ALICE@example.com", "Alerts@example.org"));
        assert!(!authenticator.may_send_as("alice@example.com", "boss@example.org"));
        assert!(!authenticator.may_send_as("bob@example.com", "alerts@example.org"), "alice's");
        // A change to the file is seen without a restart.
        std::thread::sleep(Duration::from_millis(20));
        users.set_senders("alice@example.com", &[]).unwrap();
        users.save(&path).unwrap();
        assert!(!authenticator.may_send_as("alice@example.com", "alerts@example.org"));
    }

    #[test]
    fn bad_addresses_passwords_and_lines_are_refused() {
        let mut users = UsersFile::default();
        for address in [
            "alice",
            "@example.com",
            "a@b@example.com",
            "a b@example.com",
            "alice@localhost",
            "-h@example.com",
        ] {
            assert!(
                matches!(users.set(address, "a long enough password"), Err(Error::BadAddress(_))),
                "{address}"
            );
        }
        assert!(matches!(users.set("a@example.com", "short"), Err(Error::BadPassword)));
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("users");
        fs::write(&path, "# comment\n\nalice@example.com not-a-hash\n").unwrap();
        let error = UsersFile::load(&path).unwrap_err();
        assert!(
            error.to_string().contains("users:3: expected `user@domain $argon2id$..."),
            "{error}"
        );
    }

    #[test]
    fn logins_are_checked_cached_and_forgotten_on_change() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("users");
        let mut users = UsersFile::default();
        users.set("alice@example.com", "correct horse battery").unwrap();
        users.save(&path).unwrap();
        let authenticator = Authenticator::new(&path).unwrap();
        assert_eq!(
            authenticator.check("alice@example.com", "correct horse battery").unwrap(),
            Login::Accepted
        );
        // Cached (looked at directly: a timing assertion would flake on a busy machine).
        assert!(authenticator.inner.lock().unwrap().verified.contains_key("alice@example.com"));
        assert_eq!(
            authenticator.check("ALICE@example.com", "correct horse battery").unwrap(),
            Login::Accepted
        );
        // A wrong password is never served from the cache.
        assert_eq!(
            authenticator.check("alice@example.com", "wrong horse battery").unwrap(),
            Login::Rejected
        );
        // A changed file forgets the cache and sees the new password.
        std::thread::sleep(Duration::from_millis(20));
        users.set("alice@example.com", "a brand new password").unwrap();
        users.save(&path).unwrap();
        assert_eq!(
            authenticator.check("alice@example.com", "correct horse battery").unwrap(),
            Login::Rejected
        );
        assert!(!authenticator.inner.lock().unwrap().verified.contains_key("alice@example.com"));
        assert_eq!(
            authenticator.check("alice@example.com", "a brand new password").unwrap(),
            Login::Accepted
        );
    }

    #[test]
    fn failures_take_the_floor_whether_or_not_the_user_exists() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("users");
        let mut users = UsersFile::default();
        users.set("alice@example.com", "correct horse battery").unwrap();
        users.save(&path).unwrap();
        let authenticator = Authenticator::new(&path).unwrap();
        for address in ["alice@example.com", "nobody@example.com"] {
            let started = Instant::now();
            assert_eq!(
                authenticator.check(address, "wrong password here").unwrap(),
                Login::Rejected
            );
            assert!(started.elapsed() >= FAILURE_FLOOR, "{address}: {:?}", started.elapsed());
        }
    }
}
