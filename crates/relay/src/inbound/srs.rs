//! The Sender Rewriting Scheme, as Perl's `Mail::SRS::Guarded` (the reference design) does it,
//! so that a forwarded message's envelope sender is at our domain and the destination's SPF
//! check passes:
//!
//! - `alice@gmail.test` becomes `SRS0=HHHH=TT=gmail.test=alice@example.test`: `TT` is the day
//!   (two base-32 characters), `HHHH` the first four base-64 characters of an HMAC-SHA1, under a
//!   secret only this server holds, of the lower-cased `TT`, host and user;
//! - an address another forwarder already rewrote (`SRS0=…@other.test`) becomes
//!   `SRS1=HHHH=other.test==…@example.test`, so a bounce goes back through that forwarder;
//! - a bounce to either is checked (the hash, case-insensitively as a last resort since some
//!   servers lower-case local parts; the day, at most [`MAX_AGE_DAYS`] old) and turned back into
//!   the address it came from. Anything forged or expired is refused, so the relay is never a
//!   reflector of spam "bounces".
//!
//! Secrets rotate: the newest one signs, every kept one verifies ([`Secrets`]).

use std::path::Path;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;

/// How long a rewritten address stays valid: bounces come within the sender's retry time
/// (five days here and at most MTAs); `Mail::SRS` allows 49 days, a wider window for replays.
pub const MAX_AGE_DAYS: u64 = 21;
/// Characters of the hash kept in the address (`Mail::SRS`'s `HashLength`).
pub const HASH_LENGTH: usize = 4;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DAY: u64 = 86_400;
/// Two base-32 characters: the day counter wraps every 1024 days.
const TICK_SLOTS: u64 = 32 * 32;

/// Why a local part that looks like SRS is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrsError {
    /// Not an SRS address at all.
    #[error("not an SRS address")]
    NotSrs,
    /// SRS-shaped but with fields missing.
    #[error("a malformed SRS address")]
    Malformed,
    /// The hash is not ours: forged, or made with a secret long since retired.
    #[error("an SRS address this server did not make")]
    BadHash,
    /// Ours, but older than [`MAX_AGE_DAYS`].
    #[error("an SRS address that has expired")]
    Expired,
}

/// The secrets, newest first: the first signs, all verify.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    /// (when it was made, seconds since the epoch; the secret).
    entries: Vec<(u64, Vec<u8>)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Secrets").field("count", &self.entries.len()).finish()
    }
}

/// Why the secrets file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `<made> <base64 secret>`.
    #[error("{path}:{line}: expected `<seconds since 1970> <base64 secret>`")]
    Malformed {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
    },
    /// The file holds no secret.
    #[error("{0}: holds no secret (`outpost-relay srs rotate` makes one)")]
    Empty(String),
}

impl Secrets {
    /// Secrets given directly (tests, and published vectors): the first signs.
    pub fn from_secrets(secrets: &[&[u8]]) -> Secrets {
        Secrets { entries: secrets.iter().map(|secret| (0, secret.to_vec())).collect() }
    }

    /// Reads the file.
    pub fn load(path: &Path) -> Result<Secrets, SecretsError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| SecretsError::Io { path: name.clone(), source })?;
        Secrets::parse(&text, &name)
    }

    fn parse(text: &str, name: &str) -> Result<Secrets, SecretsError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = || SecretsError::Malformed { path: name.to_string(), line: index + 1 };
            let (made, secret) = line.split_once(' ').ok_or_else(malformed)?;
            let made = made.parse().map_err(|_| malformed())?;
            let secret = base64::engine::general_purpose::STANDARD
                .decode(secret.trim())
                .map_err(|_| malformed())?;
            if secret.len() < 16 {
                return Err(malformed());
            }
            entries.push((made, secret));
        }
        if entries.is_empty() {
            return Err(SecretsError::Empty(name.to_string()));
        }
        Ok(Secrets { entries })
    }

    /// Reads the file, making it with a fresh secret first if it does not exist (first start).
    pub fn load_or_create(path: &Path, now: SystemTime) -> Result<Secrets, SecretsError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => Secrets::load(path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let secrets = Secrets { entries: Vec::new() }.rotated(now);
                secrets.save(path, outpost_safe_file::Existing::Keep)?;
                Secrets::load(path)
            }
            Err(source) => Err(SecretsError::Io { path: path.display().to_string(), source }),
        }
    }

    /// A new secret in front; older ones kept while addresses they signed may still come back
    /// (until [`MAX_AGE_DAYS`] after the next one took over).
    pub fn rotated(&self, now: SystemTime) -> Secrets {
        let now = crate::clock::unix_seconds(now);
        let secret: [u8; 32] = rand::random();
        let mut entries = vec![(now, secret.to_vec())];
        let mut successor_made = now;
        for (made, secret) in &self.entries {
            if successor_made + (MAX_AGE_DAYS + 1) * DAY < now {
                break;
            }
            entries.push((*made, secret.clone()));
            successor_made = *made;
        }
        Secrets { entries }
    }

    /// Writes the file, readable only by its owner.
    pub fn save(
        &self,
        path: &Path,
        existing: outpost_safe_file::Existing,
    ) -> Result<(), SecretsError> {
        let mut text = String::from(
            "# SRS secrets of outpost-relay, newest first: `<made> <secret>`. Rotate with `outpost-relay srs rotate`.\n",
        );
        for (made, secret) in &self.entries {
            let secret = base64::engine::general_purpose::STANDARD.encode(secret);
            text.push_str(&format!("{made} {secret}\n"));
        }
        let options = outpost_safe_file::Options::PRIVATE.existing(existing);
        outpost_safe_file::write(path, text.as_bytes(), options)
            .map_err(|source| SecretsError::Io { path: path.display().to_string(), source })
    }

    /// How many secrets verify.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Never true for a loaded file.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When the signing secret was made.
    pub fn newest_made(&self) -> u64 {
        self.entries.first().map_or(0, |(made, _)| *made)
    }

    /// The envelope sender to use when forwarding mail from `sender` through `our_domain`.
    /// The null sender and addresses already at `our_domain` are left alone.
    pub fn forward(&self, sender: &str, our_domain: &str, now: SystemTime) -> String {
        let Some((user, host)) = sender.rsplit_once('@') else { return sender.to_string() };
        if sender.is_empty() || host.eq_ignore_ascii_case(our_domain) {
            return sender.to_string();
        }
        let local = if let Some(rest) = strip_tag(user, "SRS1") {
            // Someone's SRS1: keep its first hop, re-hash for ours.
            let mut fields = rest.splitn(3, '=');
            let (_, first_host, first_user) =
                (fields.next(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
            let hash = self.hash(&[first_host, first_user]);
            format!("SRS1={hash}={first_host}={first_user}")
        } else if let Some(rest) = strip_tag(user, "SRS0") {
            // Another forwarder's SRS0: bounces must go back through it.
            let kept = format!("={rest}");
            let hash = self.hash(&[host, &kept]);
            format!("SRS1={hash}={host}={kept}")
        } else {
            let stamp = timestamp(now);
            let hash = self.hash(&[&stamp, host, user]);
            format!("SRS0={hash}={stamp}={host}={user}")
        };
        format!("{local}@{our_domain}")
    }

    /// The address a bounce to `address` (an SRS address at one of our domains) goes back to.
    pub fn reverse(&self, address: &str, now: SystemTime) -> Result<String, SrsError> {
        let (user, _) = address.rsplit_once('@').ok_or(SrsError::NotSrs)?;
        if let Some(rest) = strip_tag(user, "SRS1") {
            let mut fields = rest.splitn(3, '=');
            if fields.clone().next().is_some_and(|hash| hash.contains('.')) {
                // The hashless form of old SRS1: never accepted (Mail::SRS's AllowUnsafeSrs).
                return Err(SrsError::BadHash);
            }
            let (hash, host, first_user) = match (fields.next(), fields.next(), fields.next()) {
                (Some(hash), Some(host), Some(first_user)) if !host.is_empty() => {
                    (hash, host, first_user)
                }
                _ => return Err(SrsError::Malformed),
            };
            self.verify(hash, &[host, first_user])?;
            return Ok(format!("SRS0{first_user}@{host}"));
        }
        let rest = strip_tag(user, "SRS0").ok_or(SrsError::NotSrs)?;
        let mut fields = rest.splitn(4, '=');
        let (hash, stamp, host, original_user) =
            match (fields.next(), fields.next(), fields.next(), fields.next()) {
                (Some(hash), Some(stamp), Some(host), Some(original_user))
                    if !host.is_empty() && !original_user.is_empty() =>
                {
                    (hash, stamp, host, original_user)
                }
                _ => return Err(SrsError::Malformed),
            };
        self.verify(hash, &[stamp, host, original_user])?;
        if !timestamp_valid(stamp, now) {
            return Err(SrsError::Expired);
        }
        Ok(format!("{original_user}@{host}"))
    }

    fn hash(&self, fields: &[&str]) -> String {
        let (_, secret) = self.entries.first().expect("a loaded set of secrets is never empty");
        hash_with(secret, fields)
    }

    fn verify(&self, hash: &str, fields: &[&str]) -> Result<(), SrsError> {
        if hash.len() < HASH_LENGTH {
            return Err(SrsError::BadHash);
        }
        let expected: Vec<String> =
            self.entries.iter().map(|(_, secret)| hash_with(secret, fields)).collect();
        if expected.iter().any(|valid| valid.as_str() == hash) {
            return Ok(());
        }
        // A server on the way lower-cased the local part (Mail::SRS checks this last too).
        if expected.iter().any(|valid| valid.eq_ignore_ascii_case(hash)) {
            tracing::info!("SRS: a hash matched only ignoring case; someone changed its case");
            return Ok(());
        }
        Err(SrsError::BadHash)
    }
}

/// Whether a local part is SRS-shaped (`SRS0=`, `SRS1+`, … in any case).
pub fn is_srs(local: &str) -> bool {
    strip_tag(local, "SRS0").is_some() || strip_tag(local, "SRS1").is_some()
}

/// The rest after `tag` and its separator (`=`, `+` or `-`), the tag in any case.
fn strip_tag<'a>(local: &'a str, tag: &str) -> Option<&'a str> {
    let head = local.get(..tag.len())?;
    let rest = &local[tag.len()..];
    (head.eq_ignore_ascii_case(tag) && rest.starts_with(['=', '+', '-'])).then(|| &rest[1..])
}

fn hash_with(secret: &[u8], fields: &[&str]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mut context = ring::hmac::Context::with_key(&key);
    for field in fields {
        context.update(field.to_lowercase().as_bytes());
    }
    let mut hash = BASE64.encode(context.sign().as_ref());
    hash.truncate(HASH_LENGTH);
    hash
}

/// The day, as two base-32 characters.
fn timestamp(now: SystemTime) -> String {
    let day = crate::clock::unix_seconds(now) / DAY;
    let high = BASE32[((day >> 5) & 31) as usize] as char;
    let low = BASE32[(day & 31) as usize] as char;
    format!("{high}{low}")
}

fn timestamp_valid(stamp: &str, now: SystemTime) -> bool {
    let mut then = 0u64;
    for character in stamp.to_ascii_uppercase().bytes() {
        let Some(value) = BASE32.iter().position(|&c| c == character) else { return false };
        then = then * 32 + value as u64;
    }
    if stamp.len() != 2 {
        return false;
    }
    let mut today = (crate::clock::unix_seconds(now) / DAY) % TICK_SLOTS;
    while today < then {
        today += TICK_SLOTS;
    }
    today <= then + MAX_AGE_DAYS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// 2026-12-02, the day the vectors below were made with Debian's `srs` (Mail::SRS 0.31):
    /// `srs --secret=tops3cr3t --alias=example.test --forward <address>`.
    fn vector_day() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(20_789 * DAY + 3_600)
    }

    fn reference() -> Secrets {
        Secrets::from_secrets(&[b"tops3cr3t"])
    }

    #[test]
    fn forward_matches_mail_srs() {
        let srs = reference();
        let now = vector_day();
        assert_eq!(
            srs.forward("alice@gmail.test", "example.test", now),
            "SRS0=GdM2=JV=gmail.test=alice@example.test"
        );
        assert_eq!(
            srs.forward("SRS0=abcd=TT=gmail.test=alice@other.test", "example.test", now),
            "SRS1=io9B=other.test==abcd=TT=gmail.test=alice@example.test"
        );
        assert_eq!(
            srs.forward(
                "SRS1=xyzw=first.test==abcd=TT=gmail.test=alice@other.test",
                "example.test",
                now
            ),
            "SRS1=fh4d=first.test==abcd=TT=gmail.test=alice@example.test"
        );
        // Ours already, and the null sender: left alone.
        assert_eq!(srs.forward("bob@Example.Test", "example.test", now), "bob@Example.Test");
        assert_eq!(srs.forward("", "example.test", now), "");
    }

    #[test]
    fn reverse_gives_back_the_original_and_refuses_forgeries() {
        let srs = reference();
        let now = vector_day();
        assert_eq!(
            srs.reverse("SRS0=GdM2=JV=gmail.test=alice@example.test", now),
            Ok("alice@gmail.test".to_string())
        );
        // Lower-cased by a server on the way: still ours.
        assert_eq!(
            srs.reverse("srs0=gdm2=jv=gmail.test=alice@example.test", now),
            Ok("alice@gmail.test".to_string())
        );
        assert_eq!(
            srs.reverse("SRS1=io9B=other.test==abcd=TT=gmail.test=alice@example.test", now),
            Ok("SRS0=abcd=TT=gmail.test=alice@other.test".to_string())
        );
        assert_eq!(
            srs.reverse("SRS0=GdM3=JV=gmail.test=alice@example.test", now),
            Err(SrsError::BadHash)
        );
        assert_eq!(
            srs.reverse("SRS0=GdM2=JV=gmail.test=mallory@example.test", now),
            Err(SrsError::BadHash)
        );
        assert_eq!(srs.reverse("SRS0=GdM2=JV@example.test", now), Err(SrsError::Malformed));
        assert_eq!(
            srs.reverse("SRS1=gmail.test==x=y=z=w@example.test", now),
            Err(SrsError::BadHash)
        );
        assert_eq!(srs.reverse("alice@example.test", now), Err(SrsError::NotSrs));
        let other = Secrets::from_secrets(&[b"another secret!!"]);
        assert_eq!(
            other.reverse("SRS0=GdM2=JV=gmail.test=alice@example.test", now),
            Err(SrsError::BadHash)
        );
    }

    #[test]
    fn addresses_expire_after_the_window() {
        let srs = reference();
        let made = vector_day();
        let address = srs.forward("alice@gmail.test", "example.test", made);
        let later = |days: u64| made + Duration::from_secs(days * DAY);
        assert!(srs.reverse(&address, later(MAX_AGE_DAYS)).is_ok());
        assert_eq!(srs.reverse(&address, later(MAX_AGE_DAYS + 1)), Err(SrsError::Expired));
        // After the counter wraps (1024 days), still expired, never valid again by accident.
        assert_eq!(srs.reverse(&address, later(TICK_SLOTS + 30)), Err(SrsError::Expired));
    }

    #[test]
    fn rotation_keeps_old_secrets_verifying_for_the_window() {
        let start = vector_day();
        let first = Secrets { entries: Vec::new() }.rotated(start);
        let address = first.forward("alice@gmail.test", "example.test", start);
        let day = |days: u64| start + Duration::from_secs(days * DAY);
        let second = first.rotated(day(1));
        assert_eq!(second.len(), 2);
        assert_ne!(second.forward("alice@gmail.test", "example.test", day(1)), address);
        assert_eq!(second.reverse(&address, day(2)), Ok("alice@gmail.test".to_string()));
        // Long after the next rotation, the first secret is dropped.
        let third = second.rotated(day(1 + MAX_AGE_DAYS + 2));
        assert_eq!(third.len(), 2, "the second secret stays, the first goes");
    }

    #[test]
    fn the_file_is_made_once_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("srs-secrets");
        let made = Secrets::load_or_create(&path, vector_day()).unwrap();
        assert_eq!(made.len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(Secrets::load_or_create(&path, vector_day()).unwrap(), made);
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(matches!(Secrets::load(&path), Err(SecretsError::Empty(_))));
        std::fs::write(&path, "12 not-base64!\n").unwrap();
        assert!(matches!(Secrets::load(&path), Err(SecretsError::Malformed { line: 1, .. })));
    }
}
