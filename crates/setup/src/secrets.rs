//! Secrets — SSH passwords and keys, the SMTP password, DKIM key backups — live only in the OS
//! keychain (macOS Keychain, Windows Credential Manager, the Secret Service on Linux). Never in
//! the profile, logs or progress events.
//!
//! The engine talks to a small [`SecretStore`] trait: [`Keychain`] in the app, an in-memory
//! store in unit tests. Keychain calls block (and on Linux start their own runtime, which panics
//! inside tokio), so they run on a blocking thread with a timeout: a locked keychain that waits
//! for a password prompt nobody answers must not hang the wizard.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How long a keychain call may take before the user is told.
pub const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What a secret is, for whom. The name is not secret; the value is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// The SSH password for `user@host`.
    SshPassword {
        /// `user@host`.
        login: String,
    },
    /// The SSH private key for `user@host`.
    SshKey {
        /// `user@host`.
        login: String,
    },
    /// An SMTP user's password on the relay.
    SmtpPassword {
        /// The user's address.
        user: String,
    },
    /// A backup of a DKIM private key.
    DkimKey {
        /// `selector._domainkey.domain`.
        record: String,
    },
    /// A backup of the relay's ACME accounts (their private keys) on a server.
    AcmeAccounts {
        /// The server's host.
        server: String,
    },
    /// The key that opens this domain's backup files.
    BackupKey {
        /// The domain.
        domain: String,
    },
    /// The password of a mailbox the test email is read back from (IMAP).
    ImapPassword {
        /// `user@host`.
        login: String,
    },
}

impl SecretName {
    /// The account name under which it is stored.
    pub fn account(&self) -> String {
        match self {
            SecretName::SshPassword { login } => format!("ssh-password:{login}"),
            SecretName::SshKey { login } => format!("ssh-key:{login}"),
            SecretName::SmtpPassword { user } => format!("smtp-password:{user}"),
            SecretName::DkimKey { record } => format!("dkim-key:{record}"),
            SecretName::AcmeAccounts { server } => format!("acme-accounts:{server}"),
            SecretName::ImapPassword { login } => format!("imap-password:{login}"),
            SecretName::BackupKey { domain } => format!("backup-key:{domain}"),
        }
    }
}

/// Why the keychain failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The keychain did not answer in time (often: it is locked and waiting for a password).
    #[error("the keychain did not answer within {} seconds; it may be locked — unlock it and try again", .0.as_secs())]
    Timeout(Duration),
    /// The keychain is not available (no Secret Service running, for example).
    #[error("the keychain is not available: {0}")]
    Unavailable(String),
    /// Anything else it reported.
    #[error("the keychain refused: {0}")]
    Failed(String),
}

/// Whether the keychain can keep secrets: asked before the user types one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum KeychainState {
    /// It answers.
    Ready,
    /// There is none: on Linux, no Secret Service (GNOME Keyring, KWallet) is running or
    /// reachable. macOS and Windows always have one.
    Missing,
    /// It did not answer in time: locked, most likely, with a prompt nobody has answered.
    NotAnswering,
}

/// A boxed future from a store.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// Where secrets are kept.
pub trait SecretStore: Send + Sync {
    /// Stores (or replaces) a secret.
    fn set<'a>(&'a self, name: &'a SecretName, value: &'a str) -> Pending<'a, ()>;
    /// Reads a secret; `None` if there is none.
    fn get<'a>(&'a self, name: &'a SecretName) -> Pending<'a, Option<String>>;
    /// Deletes a secret (no error if there is none).
    fn delete<'a>(&'a self, name: &'a SecretName) -> Pending<'a, ()>;
}

/// The OS keychain.
#[derive(Debug, Clone)]
pub struct Keychain {
    service: String,
    timeout: Duration,
}

impl Keychain {
    /// Secrets under `service` (the app uses its identifier, `org.outpost.desktop`).
    pub fn new(service: impl Into<String>) -> Self {
        Keychain { service: service.into(), timeout: KEYCHAIN_TIMEOUT }
    }

    /// Whether the keychain can keep secrets now: a lookup of an entry that never exists.
    pub async fn state(&self) -> KeychainState {
        let lookup =
            self.call_account("keychain-check".into(), |entry| match entry.get_password() {
                Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(error) => Err(error),
            });
        match lookup.await {
            Ok(()) => KeychainState::Ready,
            Err(Error::Unavailable(_)) => KeychainState::Missing,
            Err(Error::Timeout(_)) => KeychainState::NotAnswering,
            // Something else went wrong: the real call will say what.
            Err(Error::Failed(_)) => KeychainState::Ready,
        }
    }

    async fn call<T: Send + 'static>(
        &self,
        name: &SecretName,
        work: impl FnOnce(keyring::Entry) -> Result<T, keyring::Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.call_account(name.account(), work).await
    }

    async fn call_account<T: Send + 'static>(
        &self,
        account: String,
        work: impl FnOnce(keyring::Entry) -> Result<T, keyring::Error> + Send + 'static,
    ) -> Result<T, Error> {
        let service = self.service.clone();
        let task = tokio::task::spawn_blocking(move || {
            let entry = keyring::Entry::new(&service, &account)?;
            work(entry)
        });
        match tokio::time::timeout(self.timeout, task).await {
            Err(_) => Err(Error::Timeout(self.timeout)),
            Ok(Err(join)) => Err(Error::Failed(join.to_string())),
            Ok(Ok(Err(keyring::Error::NoStorageAccess(error)))) => {
                Err(Error::Unavailable(error.to_string()))
            }
            Ok(Ok(Err(keyring::Error::PlatformFailure(error)))) => {
                Err(Error::Unavailable(error.to_string()))
            }
            // The platform's store could not even be set up (no D-Bus session, say).
            Ok(Ok(Err(keyring::Error::NoDefaultStore))) => {
                Err(Error::Unavailable(keyring::Error::NoDefaultStore.to_string()))
            }
            Ok(Ok(Err(error))) => Err(Error::Failed(error.to_string())),
            Ok(Ok(Ok(value))) => Ok(value),
        }
    }
}

impl SecretStore for Keychain {
    fn set<'a>(&'a self, name: &'a SecretName, value: &'a str) -> Pending<'a, ()> {
        let value = value.to_string();
        Box::pin(self.call(name, move |entry| entry.set_password(&value)))
    }

    fn get<'a>(&'a self, name: &'a SecretName) -> Pending<'a, Option<String>> {
        Box::pin(self.call(name, |entry| match entry.get_password() {
            Ok(value) => Ok(Some(value)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(error),
        }))
    }

    fn delete<'a>(&'a self, name: &'a SecretName) -> Pending<'a, ()> {
        Box::pin(self.call(name, |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(error) => Err(error),
        }))
    }
}

/// Secrets in memory, for unit tests of code that needs a store (never in the app).
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemoryStore {
    values: std::sync::Mutex<std::collections::HashMap<SecretName, String>>,
}

#[cfg(test)]
impl SecretStore for MemoryStore {
    fn set<'a>(&'a self, name: &'a SecretName, value: &'a str) -> Pending<'a, ()> {
        self.values.lock().expect("store lock").insert(name.clone(), value.to_string());
        Box::pin(async { Ok(()) })
    }

    fn get<'a>(&'a self, name: &'a SecretName) -> Pending<'a, Option<String>> {
        let value = self.values.lock().expect("store lock").get(name).cloned();
        Box::pin(async move { Ok(value) })
    }

    fn delete<'a>(&'a self, name: &'a SecretName) -> Pending<'a, ()> {
        self.values.lock().expect("store lock").remove(name);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_keeps_and_forgets() {
        let store = MemoryStore::default();
        let name = SecretName::SmtpPassword { user: "alice@example.com".into() };
        assert_eq!(store.get(&name).await.unwrap(), None);
        store.set(&name, "s3cret").await.unwrap();
        assert_eq!(store.get(&name).await.unwrap().as_deref(), Some("s3cret"));
        store.delete(&name).await.unwrap();
        store.delete(&name).await.unwrap();
        assert_eq!(store.get(&name).await.unwrap(), None);
    }

    #[test]
    fn account_names_say_what_they_hold() {
        assert_eq!(
            SecretName::SshKey { login: "root@203.0.113.10".into() }.account(),
            "ssh-key:root@203.0.113.10"
        );
        assert_eq!(
            SecretName::DkimKey { record: "outpost._domainkey.example.com".into() }.account(),
            "dkim-key:outpost._domainkey.example.com"
        );
    }
}
