//! DKIM key rotation, staged so that signed mail never fails verification:
//!
//! 1. a new key is made on the server under a new selector (`outpost` → `outpost2` → …), its
//!    record shown, and the relay goes on signing with the old one;
//! 2. once the new record is visible at the zone's own servers, signing switches to it (an
//!    install with the new selector: the config changes and the relay restarts, nothing else);
//! 3. the old record stays published for a week — mail signed before the switch may still be
//!    on its way or checked again — and then the user is told it may be removed, and the old
//!    key leaves the server and the keychain.
//!
//! The rotation's state lives in the profile ([`DkimRotation`]); times are the server's clock.

use std::time::Duration;

use outpost_relay_api::DkimAlgorithm;
use serde::{Deserialize, Serialize};

use crate::relay_admin::{self, RelayAdmin};
use crate::remote::Remote;
use crate::secrets::{self, SecretName, SecretStore};
use crate::ssh::{self, quote};

/// How long the old record stays published after the switch.
pub const KEEP_OLD: Duration = Duration::from_secs(7 * 86_400);

/// A rotation under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DkimRotation {
    /// The selector signing before the rotation.
    pub from: String,
    /// The new selector.
    pub to: String,
    /// The new key's record name (`outpost2._domainkey.example.com`).
    pub record: String,
    /// Its TXT value.
    pub value: String,
    /// The old key's record name.
    pub old_record: String,
    /// The old record's TXT value (still published until a week after the switch).
    pub old_value: String,
    /// When signing switched to the new key (the server's clock, seconds since the epoch);
    /// `null` before (always written, so the UI reads `null`, never a missing field).
    #[serde(default)]
    pub switched: Option<u64>,
}

impl DkimRotation {
    /// The record the DNS plan lists besides the signing key's: the new one before the switch,
    /// the old one after it (until the rotation is finished).
    pub fn other_record(&self) -> (String, String) {
        match self.switched {
            None => (self.to.clone(), self.value.clone()),
            Some(_) => (self.from.clone(), self.old_value.clone()),
        }
    }

    /// When the old record may be removed, once signing has switched.
    pub fn old_record_until(&self) -> Option<u64> {
        self.switched.map(|at| at + KEEP_OLD.as_secs())
    }
}

/// The selector after `current`: `outpost` → `outpost2`, `outpost2` → `outpost3`.
pub fn next_selector(current: &str) -> String {
    let digits = current.len() - current.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = current.split_at(current.len() - digits);
    let next = number.parse::<u32>().map_or(2, |number| number + 1);
    format!("{stem}{next}")
}

/// Where a selector's private key for the first domain lives on the server.
pub fn key_file(selector: &str) -> String {
    format!("{KEY_DIR}/{selector}.pem")
}

/// Where a further domain's key lives: its name in the file's, beside the first domain's keys.
pub fn extra_key_file(domain: &str, selector: &str) -> String {
    format!("{KEY_DIR}/{domain}.{selector}.pem")
}

/// The server's directory of DKIM keys.
const KEY_DIR: &str = "/etc/outpost/dkim";

/// Why a rotation step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SSH failed.
    #[error(transparent)]
    Ssh(#[from] ssh::Error),
    /// The relay's command failed.
    #[error(transparent)]
    Admin(#[from] relay_admin::Error),
    /// The keychain failed.
    #[error(transparent)]
    Secrets(#[from] secrets::Error),
}

/// Makes the new key on the server (readable by the relay, backed up to the keychain) and
/// returns its record name and value. A key file left by an interrupted start is replaced: its
/// record was never published, since the rotation was not saved.
pub async fn make_key<R: Remote>(
    remote: &R,
    secrets: &dyn SecretStore,
    domain: &str,
    selector: &str,
) -> Result<(String, String), Error> {
    let path = key_file(selector);
    remote.run(&format!("rm -f {}", quote(&path)), b"", &mut |_, _| {}).await?;
    let made = RelayAdmin::new(remote)
        .dkim_generate(domain, selector, DkimAlgorithm::RsaSha256, &path)
        .await?;
    let permissions = format!("chgrp outpost {p} && chmod 0640 {p}", p = quote(&path));
    remote.run(&permissions, b"", &mut |_, _| {}).await?;
    // Read without a progress event: a private key never reaches a log.
    let pem = remote.run(&format!("cat {}", quote(&path)), b"", &mut |_, _| {}).await?;
    let name = made.name();
    secrets.set(&SecretName::DkimKey { record: name.clone() }, &pem.stdout).await?;
    Ok((name, made.txt))
}

/// The old key leaves the server and the keychain (after the week).
pub async fn forget_old<R: Remote>(
    remote: &R,
    secrets: &dyn SecretStore,
    rotation: &DkimRotation,
) -> Result<(), Error> {
    let path = key_file(&rotation.from);
    remote.run(&format!("rm -f {}", quote(&path)), b"", &mut |_, _| {}).await?;
    secrets.delete(&SecretName::DkimKey { record: rotation.old_record.clone() }).await?;
    Ok(())
}

impl From<Error> for crate::app::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Ssh(error) => crate::app::Error::Ssh(error),
            Error::Admin(error) => crate::app::Error::Admin(error),
            Error::Secrets(error) => crate::app::Error::Secrets(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::fake::FakeServer;
    use crate::secrets::MemoryStore;

    #[test]
    fn selectors_count_up() {
        assert_eq!(next_selector("outpost"), "outpost2");
        assert_eq!(next_selector("outpost2"), "outpost3");
        assert_eq!(next_selector("outpost19"), "outpost20");
        assert_eq!(next_selector("s2024"), "s2025");
    }

    #[test]
    fn the_dns_plan_lists_the_new_record_before_the_switch_and_the_old_one_for_a_week_after() {
        let mut rotation = DkimRotation {
            from: "outpost".into(),
            to: "outpost2".into(),
            record: "outpost2._domainkey.example.com".into(),
            value: "v=DKIM1; k=rsa; p=NEW".into(),
            old_record: "outpost._domainkey.example.com".into(),
            old_value: "v=DKIM1; k=rsa; p=OLD".into(),
            switched: None,
        };
        assert_eq!(rotation.other_record().0, "outpost2");
        assert_eq!(rotation.old_record_until(), None);
        rotation.switched = Some(1_800_000_000);
        assert_eq!(rotation.other_record(), ("outpost".into(), "v=DKIM1; k=rsa; p=OLD".into()));
        assert_eq!(rotation.old_record_until(), Some(1_800_000_000 + 7 * 86_400));
    }

    #[tokio::test]
    async fn the_new_key_is_made_for_the_relay_and_backed_up_without_a_trace_in_a_log() {
        let server = FakeServer::new()
            .answer(
                "'dkim' 'generate'",
                0,
                r#"{"api":2,"ok":{"domain":"example.com","selector":"outpost2","algorithm":"rsa-sha256","keyFile":"/etc/outpost/dkim/outpost2.pem","txt":"v=DKIM1; k=rsa; p=NEW"}}"#,
            )
            .answer("cat '/etc/outpost/dkim/outpost2.pem'", 0, "-----BEGIN PRIVATE KEY-----\nNEW\n");
        let secrets = MemoryStore::default();
        let (name, value) = make_key(&server, &secrets, "example.com", "outpost2").await.unwrap();
        assert_eq!(
            (name.as_str(), value.as_str()),
            ("outpost2._domainkey.example.com", "v=DKIM1; k=rsa; p=NEW")
        );
        let commands = server.commands();
        assert!(commands[0].starts_with("rm -f '/etc/outpost/dkim/outpost2.pem'"), "{commands:?}");
        assert!(
            commands.iter().any(|c| c.contains("chgrp outpost '/etc/outpost/dkim/outpost2.pem'"))
        );
        let backup = secrets.get(&SecretName::DkimKey { record: name }).await.unwrap();
        assert!(backup.unwrap().contains("NEW"));
    }
}
