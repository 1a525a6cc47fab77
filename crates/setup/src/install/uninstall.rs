//! Removing everything the install added, and the keychain entries it made.

use outpost_relay_api::dkim_record_name;

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
