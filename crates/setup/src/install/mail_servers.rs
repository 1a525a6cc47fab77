//! Mail servers a provider may have preinstalled (Postfix, Exim, …): recognised by name, and
//! stopped and disabled so the relay can use ports 25, 465 and 587.

use serde::Serialize;

use super::{Error, Stage};
use crate::progress::Progress;
use crate::remote::Remote;

/// A mail server other than Outpost's relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum MailServer {
    /// Postfix (its processes are `master`, `smtpd`, …).
    Postfix,
    /// Exim.
    Exim,
    /// Sendmail.
    Sendmail,
    /// OpenSMTPD.
    OpenSmtpd,
    /// chasquid.
    Chasquid,
}

impl MailServer {
    /// Every one the install can stop, with the systemd unit it runs as.
    pub const STOPPABLE: [MailServer; 4] =
        [MailServer::Postfix, MailServer::Exim, MailServer::Sendmail, MailServer::OpenSmtpd];

    /// The mail server a process name (as `ss -p` shows it) belongs to.
    pub fn from_process(name: &str) -> Option<MailServer> {
        Some(match name {
            "master" | "postfix" | "smtpd" => MailServer::Postfix,
            "exim" | "exim4" => MailServer::Exim,
            "sendmail" => MailServer::Sendmail,
            "smtpd-opensmtpd" | "opensmtpd" => MailServer::OpenSmtpd,
            "chasquid" => MailServer::Chasquid,
            _ => return None,
        })
    }

    /// Its systemd unit on Debian and Ubuntu.
    pub fn unit(self) -> &'static str {
        match self {
            MailServer::Postfix => "postfix",
            MailServer::Exim => "exim4",
            MailServer::Sendmail => "sendmail",
            MailServer::OpenSmtpd => "opensmtpd",
            MailServer::Chasquid => "chasquid",
        }
    }
}

/// Stops and disables any preinstalled mail server so the relay can use its ports. Their
/// packages and settings stay: this is undone with `systemctl enable --now <unit>`. Returns the
/// ones stopped.
pub async fn stop_other_mail_servers<R: Remote>(
    remote: &R,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<MailServer>, Error> {
    let mut stopped = Vec::new();
    for server in MailServer::STOPPABLE {
        let unit = server.unit();
        let present = format!(
            "systemctl is-active --quiet {unit} || systemctl is-enabled --quiet {unit} 2>/dev/null"
        );
        if remote.run(&present, b"", &mut |_, _| {}).await?.status == Some(0) {
            progress(Progress::Log { line: format!("systemctl disable --now {unit}") });
            let output = remote
                .run(&format!("systemctl disable --now --quiet {unit}"), b"", &mut |_, line| {
                    progress(Progress::Log { line: line.to_string() })
                })
                .await?;
            super::check(Stage::StopMailServers, output)?;
            stopped.push(server);
        }
    }
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::fake::FakeServer;

    #[test]
    fn process_names_become_mail_servers() {
        assert_eq!(MailServer::from_process("master"), Some(MailServer::Postfix));
        assert_eq!(MailServer::from_process("exim4"), Some(MailServer::Exim));
        assert_eq!(MailServer::from_process("nginx"), None);
    }

    #[tokio::test]
    async fn only_the_servers_present_are_stopped() {
        let server = FakeServer::new().answer("is-active --quiet", 3, "").answer(
            "is-active --quiet postfix",
            0,
            "",
        );
        let mut events = Vec::new();
        let stopped =
            stop_other_mail_servers(&server, &mut |event| events.push(event)).await.unwrap();
        assert_eq!(stopped, [MailServer::Postfix]);
        assert!(server.commands().iter().any(|c| c == "systemctl disable --now --quiet postfix"));
        assert!(!server.commands().iter().any(|c| c.contains("disable --now --quiet exim4")));
    }
}
