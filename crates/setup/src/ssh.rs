//! SSH to the user's server (russh, ring): trust on first use made explicit, password or key
//! login, commands with their output streamed line by line, and uploads.
//!
//! Host keys are never accepted blindly. [`first_contact`] only reads the server's key and
//! returns its fingerprint for the user to confirm; [`connect`] then requires exactly that
//! fingerprint, and a different one is [`Error::HostKeyChanged`] — a hard stop.
//!
//! Everything that reaches a remote shell goes through [`quote`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use serde::Serialize;

/// Connecting and logging in together may take this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// A command that prints nothing for this long is taken as hung.
pub const SILENCE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where to connect, as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address.
    pub host: String,
    /// Usually 22.
    pub port: u16,
    /// Usually `root`.
    pub user: String,
}

/// How to log in. Never logged or shown: `Debug` hides the secrets.
#[derive(Clone)]
pub enum Credentials {
    /// A password.
    Password(String),
    /// An OpenSSH private key (the file's text), with its passphrase if it has one.
    Key {
        /// `-----BEGIN OPENSSH PRIVATE KEY-----...`
        private_key: String,
        /// The passphrase, if the key is encrypted.
        passphrase: Option<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Credentials::Password(_) => "Credentials::Password(…)",
            Credentials::Key { .. } => "Credentials::Key(…)",
        })
    }
}

/// A server's host key, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct HostKey {
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// E.g. `ssh-ed25519`.
    pub algorithm: String,
}

/// What went wrong, in terms the wizard can explain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing answered, or the connection was refused.
    #[error("cannot reach {host} on port {port}: {reason}")]
    Unreachable {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// What the network said.
        reason: NetworkFailure,
    },
    /// A step took too long.
    #[error("{doing} took longer than {} seconds", after.as_secs())]
    Timeout {
        /// What we were doing.
        doing: &'static str,
        /// How long we waited.
        after: Duration,
    },
    /// The server's key is not the one the user confirmed.
    #[error("the server's identity changed: expected host key {expected}, got {found}")]
    HostKeyChanged {
        /// The pinned fingerprint.
        expected: String,
        /// What the server presented.
        found: String,
    },
    /// The server refused the login.
    #[error("the server refused the login for {user}")]
    LoginRefused {
        /// The user.
        user: String,
    },
    /// The private key could not be read (or the passphrase is wrong).
    #[error("cannot use the private key: {0}")]
    BadKey(String),
    /// Anything else the SSH layer reported.
    #[error("SSH failed: {0}")]
    Protocol(String),
    /// The login user is not root and cannot become root with sudo.
    #[error("{user} is not root and cannot use sudo: {reason}")]
    NotRoot {
        /// The login user.
        user: String,
        /// Why sudo did not work.
        reason: String,
    },
}

/// How commands get root: the login is root, or `sudo` is used (with the login password when
/// sudo asks for one).
#[derive(Clone, Default)]
enum Sudo {
    /// Commands run as they are (the login is root, or `become_root` has not been called).
    #[default]
    AsIs,
    /// `sudo -n`: sudo is allowed without a password.
    NoPassword,
    /// `sudo -S` with this password on the first line of stdin.
    Password(String),
}

/// Checks the server's key against the pinned fingerprint, remembering what it saw.
struct Verifier {
    expected: Option<String>,
    seen: Arc<Mutex<Option<HostKey>>>,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else { return Ok(false) };
        let seen = HostKey {
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            algorithm: key.algorithm().to_string(),
        };
        let matches = self.expected.as_deref() == Some(seen.fingerprint.as_str());
        *self.seen.lock().expect("host key lock") = Some(seen);
        Ok(matches)
    }
}

fn config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: Some(Duration::from_secs(300)),
        nodelay: true,
        ..Default::default()
    })
}

async fn open(
    target: &Target,
    expected: Option<String>,
) -> (Result<Handle<Verifier>, Error>, Option<HostKey>) {
    let seen = Arc::new(Mutex::new(None));
    let verifier = Verifier { expected, seen: seen.clone() };
    let address = (target.host.clone(), target.port);
    let result =
        match tokio::time::timeout(CONNECT_TIMEOUT, client::connect(config(), address, verifier))
            .await
        {
            Err(_) => Err(Error::Timeout { doing: "connecting", after: CONNECT_TIMEOUT }),
            Ok(Ok(handle)) => Ok(handle),
            Ok(Err(russh::Error::IO(error))) => Err(Error::Unreachable {
                host: target.host.clone(),
                port: target.port,
                reason: NetworkFailure::of(&error),
            }),
            Ok(Err(error)) => Err(Error::Protocol(error.to_string())),
        };
    let seen = seen.lock().expect("host key lock").clone();
    (result, seen)
}

/// Why a connection could not be made, as data (the UI's catalogue says what to do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum NetworkFailure {
    /// The server is up, but nothing answers on this port (SSH not running, or elsewhere).
    Refused,
    /// No route to that address (a typo, or the server is off).
    NoRoute,
    /// Nothing answered in time.
    TimedOut,
    /// The name does not exist in DNS.
    UnknownName,
    /// Anything else, in the operating system's words.
    Other {
        /// What the system said.
        detail: String,
    },
}

impl std::fmt::Display for NetworkFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkFailure::Refused => formatter.write_str("connection refused"),
            NetworkFailure::NoRoute => formatter.write_str("no route to host"),
            NetworkFailure::TimedOut => formatter.write_str("timed out"),
            NetworkFailure::UnknownName => formatter.write_str("unknown host name"),
            NetworkFailure::Other { detail } => formatter.write_str(detail),
        }
    }
}

impl NetworkFailure {
    /// What an I/O error from connecting means.
    pub fn of(error: &std::io::Error) -> NetworkFailure {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::ConnectionRefused => NetworkFailure::Refused,
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => NetworkFailure::NoRoute,
            ErrorKind::TimedOut => NetworkFailure::TimedOut,
            _ if error.to_string().contains("failed to lookup address") => {
                NetworkFailure::UnknownName
            }
            _ => NetworkFailure::Other { detail: error.to_string() },
        }
    }
}

/// Connects only to read the server's host key, for the user to confirm (first contact).
pub async fn first_contact(target: &Target) -> Result<HostKey, Error> {
    match open(target, None).await {
        (_, Some(key)) => Ok(key),
        (Err(error), None) => Err(error),
        (Ok(_), None) => Err(Error::Protocol("the server sent no host key".into())),
    }
}

/// A logged-in connection.
pub struct Session {
    handle: Handle<Verifier>,
    target: Target,
    sudo: Sudo,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Session").field("target", &self.target).finish_non_exhaustive()
    }
}

/// Connects, requiring the host key `pinned` (`SHA256:…`), and logs in.
pub async fn connect(
    target: &Target,
    credentials: &Credentials,
    pinned: &str,
) -> Result<Session, Error> {
    let mut handle = match open(target, Some(pinned.to_string())).await {
        (Ok(handle), _) => handle,
        (Err(_), Some(seen)) if seen.fingerprint != pinned => {
            return Err(Error::HostKeyChanged {
                expected: pinned.to_string(),
                found: seen.fingerprint,
            });
        }
        (Err(error), _) => return Err(error),
    };
    let login = async {
        match credentials {
            Credentials::Password(password) => {
                handle.authenticate_password(target.user.clone(), password.clone()).await
            }
            Credentials::Key { private_key, passphrase } => {
                let key = russh::keys::decode_secret_key(private_key, passphrase.as_deref())
                    .map_err(russh::Error::from)?;
                let hash = handle.best_supported_rsa_hash().await?.flatten();
                handle
                    .authenticate_publickey(
                        target.user.clone(),
                        PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                    )
                    .await
            }
        }
    };
    let result = tokio::time::timeout(CONNECT_TIMEOUT, login)
        .await
        .map_err(|_| Error::Timeout { doing: "logging in", after: CONNECT_TIMEOUT })?;
    match result {
        Ok(result) if result.success() => {
            Ok(Session { handle, target: target.clone(), sudo: Sudo::AsIs })
        }
        Ok(_) => Err(Error::LoginRefused { user: target.user.clone() }),
        Err(russh::Error::Keys(error)) => Err(Error::BadKey(error.to_string())),
        Err(error) => Err(Error::Protocol(error.to_string())),
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status (None if the command was killed by a signal).
    pub status: Option<u32>,
    /// Everything it printed on standard output.
    pub stdout: String,
    /// Everything it printed on standard error.
    pub stderr: String,
}

impl Session {
    /// Runs `command` in the remote shell as root (through sudo after [`Session::become_root`]
    /// for a non-root login), feeding `stdin` (then end-of-file) and calling `on_line` for every
    /// line it prints, as it prints it.
    pub async fn run(
        &self,
        command: &str,
        stdin: &[u8],
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, Error> {
        match &self.sudo {
            Sudo::AsIs => self.run_as_login(command, stdin, on_line).await,
            Sudo::NoPassword => {
                let wrapped = format!("sudo -n -- sh -c {}", quote(command));
                self.run_as_login(&wrapped, stdin, on_line).await
            }
            Sudo::Password(password) => {
                // -k: always ask, so the password line is always consumed by sudo (read up to
                // its newline) and the rest of stdin reaches the command.
                let wrapped = format!("sudo -k -S -p '' -- sh -c {}", quote(command));
                let mut input = format!("{password}\n").into_bytes();
                input.extend_from_slice(stdin);
                self.run_as_login(&wrapped, &input, on_line).await
            }
        }
    }

    /// Makes [`Session::run`] run as root: nothing to do for root; otherwise sudo, without a
    /// password if allowed, else with `password` (the login's). A user who cannot is
    /// [`Error::NotRoot`], with sudo's reason.
    pub async fn become_root(&mut self, password: Option<&str>) -> Result<(), Error> {
        self.sudo = Sudo::AsIs;
        if self.is_root().await? {
            return Ok(());
        }
        let user = self.target.user.clone();
        let quiet = &mut |_: Stream, _: &str| {};
        let passwordless = self.run_as_login("sudo -n true", b"", quiet).await?;
        if passwordless.status == Some(0) {
            self.sudo = Sudo::NoPassword;
        } else if let Some(password) = password {
            let input = format!("{password}\n");
            let tried = self.run_as_login("sudo -k -S -p '' true", input.as_bytes(), quiet).await?;
            if tried.status != Some(0) {
                let reason = tried.stderr.trim();
                return Err(Error::NotRoot {
                    user,
                    reason: if reason.is_empty() { "sudo refused".into() } else { reason.into() },
                });
            }
            self.sudo = Sudo::Password(password.to_string());
        } else {
            let reason = passwordless.stderr.trim();
            return Err(Error::NotRoot {
                user,
                reason: if reason.contains("not found") || reason.is_empty() {
                    "sudo is not installed, or asks for a password this key login does not have"
                        .into()
                } else {
                    format!("{reason} (a key login needs sudo without a password)")
                },
            });
        }
        if !self.is_root().await? {
            return Err(Error::NotRoot { user, reason: "sudo did not give root".into() });
        }
        Ok(())
    }

    /// Runs `command` as the login user, without sudo.
    pub async fn run_as_login(
        &self,
        command: &str,
        stdin: &[u8],
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, Error> {
        let protocol = |error: russh::Error| Error::Protocol(error.to_string());
        let channel = self.handle.channel_open_session().await.map_err(protocol)?;
        channel.exec(true, command).await.map_err(protocol)?;
        // Standard input is sent while the output is read: a command that stops reading (a
        // full disk, say) ends the channel, and the rest of the input is then dropped instead
        // of waiting forever for room in the channel's window.
        let (mut reader, writer) = channel.split();
        let send = async {
            if !stdin.is_empty() {
                writer.data(stdin).await?;
            }
            writer.eof().await
        };
        tokio::pin!(send);
        let mut sending = true;
        let mut output = Output { status: None, stdout: String::new(), stderr: String::new() };
        let mut partial = [String::new(), String::new()];
        loop {
            // Read until the channel closes (None), not until EOF: the exit status can come
            // after EOF (STACK.md §3).
            let message = tokio::select! {
                sent = &mut send, if sending => {
                    sending = false;
                    // A channel the command closed early is reported by its exit status.
                    let _ = sent;
                    continue;
                }
                message = tokio::time::timeout(SILENCE_TIMEOUT, reader.wait()) => message,
            };
            let message = message.map_err(|_| Error::Timeout {
                doing: "waiting for the command's output",
                after: SILENCE_TIMEOUT,
            })?;
            let Some(message) = message else { break };
            let (stream, data) = match &message {
                ChannelMsg::Data { data } => (Stream::Stdout, data.as_ref()),
                ChannelMsg::ExtendedData { data, ext: 1 } => (Stream::Stderr, data.as_ref()),
                ChannelMsg::ExitStatus { exit_status } => {
                    output.status = Some(*exit_status);
                    continue;
                }
                _ => continue,
            };
            let text = String::from_utf8_lossy(data);
            let index = stream as usize;
            match stream {
                Stream::Stdout => output.stdout.push_str(&text),
                Stream::Stderr => output.stderr.push_str(&text),
            }
            partial[index].push_str(&text);
            while let Some(newline) = partial[index].find('\n') {
                let line: String = partial[index].drain(..=newline).collect();
                on_line(stream, line.trim_end_matches(['\n', '\r']));
            }
        }
        for (index, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            if !partial[index].is_empty() {
                on_line(stream, &partial[index]);
            }
        }
        Ok(output)
    }

    /// Writes `bytes` to `path` on the server with `mode` (octal, e.g. `0755`), atomically:
    /// a temporary file beside it, then a rename.
    pub async fn upload(&self, bytes: &[u8], path: &str, mode: u32) -> Result<(), Error> {
        let temporary = format!("{path}.outpost-upload");
        let command = format!(
            "umask 077 && cat > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {path}",
            tmp = quote(&temporary),
            path = quote(path),
        );
        let output = self.run(&command, bytes, &mut |_, _| {}).await?;
        if output.status != Some(0) {
            return Err(Error::Protocol(format!(
                "writing {path} failed: {}",
                output.stderr.trim()
            )));
        }
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.handle.disconnect(Disconnect::ByApplication, "", "en").await;
    }
}

/// A new ed25519 key for the user: (the private key in OpenSSH format, for the keychain; the
/// `authorized_keys` line to paste into the provider's panel).
pub fn generate_key(comment: &str) -> Result<(String, String), Error> {
    let mut key = PrivateKey::random(&mut rand::rng(), russh::keys::Algorithm::Ed25519)
        .map_err(|error| Error::BadKey(error.to_string()))?;
    key.set_comment(comment);
    let private = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .map_err(|error| Error::BadKey(error.to_string()))?;
    let public = key.public_key().to_openssh().map_err(|error| Error::BadKey(error.to_string()))?;
    Ok((private.to_string(), public))
}

/// Decrypts an OpenSSH private key with its passphrase (if it has one), giving the key's text
/// without a passphrase — for the keychain, which protects it instead.
pub fn unlock_key(private_key: &str, passphrase: Option<&str>) -> Result<String, Error> {
    let key = russh::keys::decode_secret_key(private_key, passphrase)
        .map_err(|error| Error::BadKey(error.to_string()))?;
    let text = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .map_err(|error| Error::BadKey(error.to_string()))?;
    Ok(text.to_string())
}

/// The `authorized_keys` line of an (unencrypted) OpenSSH private key.
pub fn public_line(private_key: &str) -> Result<String, Error> {
    let key = russh::keys::decode_secret_key(private_key, None)
        .map_err(|error| Error::BadKey(error.to_string()))?;
    key.public_key().to_openssh().map_err(|error| Error::BadKey(error.to_string()))
}

impl Session {
    /// Adds `line` (an `authorized_keys` line) to the login user's `~/.ssh/authorized_keys`,
    /// once, creating the file with the modes sshd requires.
    pub async fn authorize_key(&self, line: &str) -> Result<(), Error> {
        let line = line.trim();
        let command = format!(
            "umask 077 && mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && \
             (grep -qxF {l} ~/.ssh/authorized_keys || printf '%s\\n' {l} >> ~/.ssh/authorized_keys)",
            l = quote(line)
        );
        let output = self.run_as_login(&command, b"", &mut |_, _| {}).await?;
        if output.status != Some(0) {
            return Err(Error::Protocol(format!(
                "adding the key to ~/.ssh/authorized_keys failed: {}",
                output.stderr.trim()
            )));
        }
        Ok(())
    }

    /// Whether commands run as root (Outpost needs root to install a system service).
    pub async fn is_root(&self) -> Result<bool, Error> {
        let output = self.run("id -u", b"", &mut |_, _| {}).await?;
        Ok(output.stdout.trim() == "0")
    }
}

/// Quotes one argument for a POSIX shell: the only way user input reaches a remote command.
pub fn quote(argument: &str) -> String {
    format!("'{}'", argument.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_hostile_input() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(rm -rf /); `x` \"y\""), "'$(rm -rf /); `x` \"y\"'");
    }

    #[test]
    fn new_keys_are_ed25519_with_an_authorized_keys_line() {
        let (private, public) = generate_key("outpost@laptop").unwrap();
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(
            public.starts_with("ssh-ed25519 AAAA") && public.ends_with(" outpost@laptop"),
            "{public}"
        );
        assert!(russh::keys::decode_secret_key(&private, None).is_ok());
        // The comment is not part of the key: the line derived later matches up to it.
        assert!(public.starts_with(&public_line(&private).unwrap()));
        assert_eq!(unlock_key(&private, None).unwrap(), private);
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let text = format!("{:?}", Credentials::Password("hunter2 hunter2".into()));
        assert!(!text.contains("hunter2"));
    }
}
