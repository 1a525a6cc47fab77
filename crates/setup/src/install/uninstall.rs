//! Removing everything the install added, and the keychain entries it made.

use outpost_relay_api::dkim_record_name;
use serde::Serialize;

use super::firewall::OPENED_PORTS;
use super::ipv6::IPV6_SYSCTL;
use super::{Error, Input, Stage, UNIT, check};
use crate::relay_admin::BINARY;
use crate::remote::Remote;
use crate::secrets::{SecretName, SecretStore};
use crate::ssh::quote;

/// Removes the relay, its files and user, the firewall ports and sysctl file the install
/// added (and only those), and the keychain entries it made.
pub async fn uninstall<R: Remote>(
    remote: &R,
    input: &Input,
    secrets: &dyn SecretStore,
) -> Result<(), Error> {
    // Close the firewall ports install opened (and only those), before their record goes.
    let firewall = format!(
        "if [ -f {f} ]; then while read -r manager port; do \
           case $manager in ufw) ufw delete allow $port/tcp >/dev/null;; \
           firewalld) firewall-cmd --quiet --permanent --remove-port=$port/tcp && firewall-cmd --quiet --reload;; esac; \
         done < {f}; fi; rm -f {ipv6}",
        f = quote(OPENED_PORTS),
        ipv6 = quote(IPV6_SYSCTL)
    );
    let files = format!(
        "systemctl disable --now outpost-relay 2>/dev/null; rm -f {unit} {b} {b}.previous {b}.new && systemctl daemon-reload && \
         rm -rf /etc/outpost /var/lib/outpost && (id outpost >/dev/null 2>&1 && userdel outpost || true)",
        unit = quote(UNIT),
        b = quote(BINARY)
    );
    for command in [firewall, files] {
        let output = remote.run(&command, b"", &mut |_, _| {}).await?;
        check(Stage::Uninstall, output)?;
    }
    secrets
        .delete(&SecretName::SmtpPassword { user: input.smtp_user.to_ascii_lowercase() })
        .await?;
    for key in &input.config.dkim {
        let record = dkim_record_name(key.selector.as_str(), key.domain.as_str());
        secrets.delete(&SecretName::DkimKey { record }).await?;
    }
    Ok(())
}

/// Exactly what [`uninstall`] (with the app's keychain clean-up) removes, read from the server
/// and the keychain before anything is touched, for the user to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "UninstallPlan")]
pub struct Plan {
    /// The systemd service, stopped and disabled.
    pub service: String,
    /// Files and directories deleted: the program (and its previous version), the unit, the
    /// config with users, aliases and DKIM keys, the state with the queue and certificates.
    pub paths: Vec<String>,
    /// The system user the relay runs as, deleted.
    pub system_user: String,
    /// Firewall ports the install opened, closed again (only those).
    pub firewall: Vec<u16>,
    /// The IPv6 sysctl file the install wrote, if it did.
    pub ipv6_file: Option<String>,
    /// Messages still queued: they will never be delivered.
    pub queued: usize,
    /// SMTP logins deleted with the users file.
    pub users: Vec<String>,
    /// This computer's keychain entries deleted.
    pub keychain: Vec<KeychainEntry>,
}

/// A keychain entry the uninstall deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum KeychainEntry {
    /// An SMTP login's password.
    SmtpPassword { user: String },
    /// A DKIM private key's backup.
    DkimKey { record: String },
    /// The backup of the relay's ACME account.
    AcmeAccounts,
}

/// What an uninstall of `input` from `remote` (reached as `server`) would remove; `other_dkim`:
/// DKIM records besides the configured keys' (a rotation's other key).
pub async fn plan<R: Remote>(
    remote: &R,
    input: &Input,
    secrets: &dyn SecretStore,
    server: &str,
    other_dkim: &[String],
) -> Result<Plan, Error> {
    let read = format!(
        "cat {ports} 2>/dev/null; test -f {ipv6} && echo ipv6-file",
        ports = quote(OPENED_PORTS),
        ipv6 = quote(IPV6_SYSCTL)
    );
    let output = remote.run(&read, b"", &mut |_, _| {}).await?;
    let mut firewall: Vec<u16> = output
        .stdout
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1)?.parse().ok())
        .collect();
    firewall.sort_unstable();
    firewall.dedup();
    let ipv6_file =
        output.stdout.lines().any(|line| line == "ipv6-file").then(|| IPV6_SYSCTL.into());
    // A relay already gone (or broken) has no queue or users to report: the rest still goes.
    let admin = crate::relay_admin::RelayAdmin::new(remote);
    let queued = admin.queue().await.map(|items| items.len()).unwrap_or(0);
    let users = admin.users().await.map(|list| list.users).unwrap_or_default();
    let mut keychain = Vec::new();
    let mut logins = users.clone();
    if !logins.iter().any(|user| user.eq_ignore_ascii_case(&input.smtp_user)) {
        logins.push(input.smtp_user.to_ascii_lowercase());
    }
    for user in logins {
        if secrets.get(&SecretName::SmtpPassword { user: user.clone() }).await?.is_some() {
            keychain.push(KeychainEntry::SmtpPassword { user });
        }
    }
    let configured = input
        .config
        .dkim
        .iter()
        .map(|key| dkim_record_name(key.selector.as_str(), key.domain.as_str()));
    let mut records: Vec<String> = Vec::new();
    for record in configured.chain(other_dkim.iter().cloned()) {
        if !records.contains(&record) {
            records.push(record);
        }
    }
    for record in records {
        if secrets.get(&SecretName::DkimKey { record: record.clone() }).await?.is_some() {
            keychain.push(KeychainEntry::DkimKey { record });
        }
    }
    if secrets.get(&SecretName::AcmeAccounts { server: server.into() }).await?.is_some() {
        keychain.push(KeychainEntry::AcmeAccounts);
    }
    Ok(Plan {
        service: "outpost-relay".into(),
        paths: vec![
            BINARY.into(),
            format!("{BINARY}.previous"),
            UNIT.into(),
            "/etc/outpost".into(),
            "/var/lib/outpost".into(),
        ],
        system_user: "outpost".into(),
        firewall,
        ipv6_file,
        queued,
        users,
        keychain,
    })
}

/// Deletes the keychain entries of `plan` that [`uninstall`] does not know of (the other SMTP
/// logins, the ACME account's backup).
pub async fn forget_secrets(
    plan: &Plan,
    secrets: &dyn SecretStore,
    server: &str,
) -> Result<(), Error> {
    for entry in &plan.keychain {
        let name = match entry {
            KeychainEntry::SmtpPassword { user } => SecretName::SmtpPassword { user: user.clone() },
            KeychainEntry::DkimKey { record } => SecretName::DkimKey { record: record.clone() },
            KeychainEntry::AcmeAccounts => SecretName::AcmeAccounts { server: server.into() },
        };
        secrets.delete(&name).await?;
    }
    Ok(())
}
