//! Backup and move: everything needed to rebuild the relay on another server — the logins,
//! the addresses, the DKIM keys (so the published records stay right), the SRS secrets (so
//! bounces of mail forwarded before the move still find their way), the ACME account — in one
//! file, encrypted (ChaCha20-Poly1305) with a key kept in this computer's keychain.
//!
//! The config itself is not in it: the wizard's choices make it again. A restore is an install
//! on the new server, then these files in place, then the relay restarted; what the move changes
//! in DNS (the addresses, SPF, PTR) is the DNS step's to show.
//!
//! The file: `OUTPOST-BACKUP 1\n`, a 12-byte nonce, then the sealed JSON of [`Contents`] (the
//! first line is the additional authenticated data, so a changed header fails too).

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::remote::Remote;
use crate::ssh::{self, quote};

/// The file's first line.
pub const MAGIC: &[u8] = b"OUTPOST-BACKUP 1\n";

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contents {
    /// The domain it is for.
    pub domain: String,
    /// The server it was made on.
    pub server: String,
    /// That server's public addresses (the DNS records a move changes named them).
    pub addresses: Vec<IpAddr>,
    /// The DKIM selector it signed with.
    pub dkim_selector: String,
    /// A DKIM rotation under way then (both keys are in `files`).
    #[serde(default)]
    pub dkim_rotation: Option<crate::dkim_rotation::DkimRotation>,
    /// The SMTP logins' passwords this keychain had (user, password), so mail programs keep
    /// working and Show still shows them after a move.
    #[serde(default)]
    pub passwords: Vec<(String, String)>,
    /// The files, each with its mode.
    pub files: Vec<SavedFile>,
}

/// One file of the relay's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedFile {
    /// Its path on the server.
    pub path: String,
    /// Its permission bits.
    pub mode: u32,
    /// Its bytes, base64.
    pub data: String,
}

/// Why a backup could not be made, read or put back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SSH failed.
    #[error(transparent)]
    Ssh(#[from] ssh::Error),
    /// The file is not an Outpost backup.
    #[error("not an Outpost backup")]
    NotABackup,
    /// The key in this keychain does not open it: made on another computer, or damaged.
    #[error("this computer's backup key does not open it (made elsewhere, or damaged)")]
    WrongKey,
    /// A file on the server could not be read or written.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

/// A new backup key: 32 random bytes, base64 (what the keychain keeps).
pub fn new_key() -> String {
    let mut key = [0u8; 32];
    SystemRandom::new().fill(&mut key).expect("the system's random source works");
    BASE64.encode(key)
}

fn sealing_key(key: &str) -> Result<LessSafeKey, Error> {
    let bytes = BASE64.decode(key.trim()).map_err(|_| Error::WrongKey)?;
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| Error::WrongKey)?;
    Ok(LessSafeKey::new(unbound))
}

/// The backup file's bytes.
pub fn seal(contents: &Contents, key: &str) -> Result<Vec<u8>, Error> {
    let key = sealing_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).expect("the system's random source works");
    let mut sealed = serde_json::to_vec(contents).expect("the contents serialize");
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(MAGIC),
        &mut sealed,
    )
    .map_err(|_| Error::WrongKey)?;
    Ok([MAGIC, &nonce, &sealed].concat())
}

/// What a backup file holds, if `key` opens it.
pub fn open(bytes: &[u8], key: &str) -> Result<Contents, Error> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(Error::NotABackup)?;
    if rest.len() < NONCE_LEN {
        return Err(Error::NotABackup);
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::NotABackup)?;
    let mut sealed = sealed.to_vec();
    let plain = sealing_key(key)?
        .open_in_place(nonce, Aad::from(MAGIC), &mut sealed)
        .map_err(|_| Error::WrongKey)?;
    serde_json::from_slice(plain).map_err(|_| Error::NotABackup)
}

/// The relay's own files worth keeping: the users, the aliases, the SRS secrets, the DKIM keys
/// (`dkim_keys`), and the ACME accounts found in `acme_dir`.
pub async fn read<R: Remote>(
    remote: &R,
    paths: &[String],
    acme_dir: &str,
) -> Result<Vec<SavedFile>, Error> {
    let listing = remote
        .run(&format!("ls -1 {} 2>/dev/null || true", quote(acme_dir)), b"", &mut |_, _| {})
        .await?;
    let accounts = listing
        .stdout
        .lines()
        .filter(|name| {
            name.starts_with("account-")
                && name.ends_with(".json")
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        })
        .map(|name| format!("{acme_dir}/{name}"));
    let mut files = Vec::new();
    for path in paths.iter().cloned().chain(accounts) {
        // Read without a progress event: these are secrets.
        let command =
            format!("if [ -f {p} ]; then stat -c %a {p} && base64 -w0 {p}; fi", p = quote(&path));
        let output = remote.run(&command, b"", &mut |_, _| {}).await?;
        let mut lines = output.stdout.lines();
        let (Some(mode), data) = (lines.next(), lines.next().unwrap_or("")) else {
            continue;
        };
        let mode = u32::from_str_radix(mode.trim(), 8)
            .map_err(|_| Error::File { path: path.clone(), detail: format!("mode {mode:?}") })?;
        files.push(SavedFile { path, mode, data: data.trim().to_string() });
    }
    Ok(files)
}

/// Puts the files back on a server where the relay is installed (its user and directories
/// exist): each atomically with its mode, the relay's state its own, the config's readable by
/// its group.
pub async fn put_back<R: Remote>(remote: &R, files: &[SavedFile]) -> Result<(), Error> {
    for file in files {
        let bytes = BASE64
            .decode(&file.data)
            .map_err(|error| Error::File { path: file.path.clone(), detail: error.to_string() })?;
        let directory = file.path.rsplit_once('/').map_or("/", |(directory, _)| directory);
        let owner = if file.path.starts_with("/var/lib/outpost/") {
            "outpost:outpost"
        } else {
            "root:outpost"
        };
        // A directory the install did not make yet (the ACME one, before a certificate).
        let prepare = format!(
            "test -d {d} || install -d -o {o} -g outpost -m 0750 {d}",
            o = owner.split(':').next().unwrap_or("root"),
            d = quote(directory)
        );
        remote.run(&prepare, b"", &mut |_, _| {}).await?;
        remote.upload(&bytes, &file.path, file.mode).await?;
        let own = format!("chown {owner} {}", quote(&file.path));
        let output = remote.run(&own, b"", &mut |_, _| {}).await?;
        if output.status != Some(0) {
            return Err(Error::File { path: file.path.clone(), detail: output.stderr });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents() -> Contents {
        Contents {
            domain: "example.com".into(),
            server: "198.51.100.10".into(),
            addresses: vec!["198.51.100.10".parse().unwrap()],
            dkim_selector: "outpost".into(),
            dkim_rotation: None,
            passwords: vec![("a@example.com".into(), "secret".into())],
            files: vec![SavedFile {
                path: "/etc/outpost/users".into(),
                mode: 0o640,
                data: BASE64.encode("a@example.com hash\n"),
            }],
        }
    }

    #[test]
    fn a_backup_opens_with_its_key_only_and_a_changed_byte_is_caught() {
        let key = new_key();
        let sealed = seal(&contents(), &key).unwrap();
        assert!(sealed.starts_with(MAGIC));
        assert!(!String::from_utf8_lossy(&sealed).contains("hash"), "the contents are encrypted");
        assert_eq!(open(&sealed, &key).unwrap(), contents());
        assert!(matches!(open(&sealed, &new_key()), Err(Error::WrongKey)));
        let mut changed = sealed.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(matches!(open(&changed, &key), Err(Error::WrongKey)));
        assert!(matches!(open(b"{\"not\": \"a backup\"}", &key), Err(Error::NotABackup)));
        let mut header = sealed;
        header[0] = b'X';
        assert!(matches!(open(&header, &key), Err(Error::NotABackup)));
    }

    #[tokio::test]
    async fn files_are_read_with_their_modes_and_accounts_found() {
        use crate::remote::fake::FakeServer;
        let server = FakeServer::new()
            .answer("ls -1 '/var/lib/outpost/tls/acme'", 0, "account-abc.json\ncertificate.pem\n")
            .answer("if [ -f '/etc/outpost/users' ]", 0, "640\nYQ==\n")
            .answer("if [ -f '/var/lib/outpost/tls/acme/account-abc.json' ]", 0, "600\ne30=\n");
        let paths = ["/etc/outpost/users".to_string(), "/etc/outpost/aliases".to_string()];
        let files = read(&server, &paths, "/var/lib/outpost/tls/acme").await.unwrap();
        let seen: Vec<(&str, u32)> = files.iter().map(|f| (f.path.as_str(), f.mode)).collect();
        assert_eq!(
            seen,
            [("/etc/outpost/users", 0o640), ("/var/lib/outpost/tls/acme/account-abc.json", 0o600)]
        );
    }
}
