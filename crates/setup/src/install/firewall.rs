//! The firewall: if ufw or firewalld is active, the relay's ports are opened, and the ones
//! opened are recorded so uninstall closes only those.

use outpost_relay_config::Config;

use super::{Context, Detail, Error, Firewall, Stage, Step};
use crate::remote::Remote;
use crate::ssh::quote;

/// Where install records the firewall ports it opened, so uninstall closes only those.
pub(super) const OPENED_PORTS: &str = "/etc/outpost/opened-ports";

/// The TCP ports the config listens on.
pub fn firewall_ports(config: &Config) -> Vec<u16> {
    let mut ports: Vec<u16> = config.listeners.all().map(|(_, address)| address.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Which firewall manager is active, from `ufw status` and `firewall-cmd --state` output.
fn active(ufw: &str, firewalld: &str) -> Option<Firewall> {
    if ufw.lines().next().is_some_and(|line| line.trim() == "Status: active") {
        Some(Firewall::Ufw)
    } else if firewalld.trim() == "running" {
        Some(Firewall::Firewalld)
    } else {
        None
    }
}

impl Firewall {
    fn name(self) -> &'static str {
        match self {
            Firewall::Ufw => "ufw",
            Firewall::Firewalld => "firewalld",
        }
    }
}

pub(super) async fn open<R: Remote>(context: &mut Context<'_, R>) -> Result<Step, Error> {
    let ports = firewall_ports(&context.input.config);
    let (_, ufw) = context.probe("ufw status 2>/dev/null").await?;
    let (_, firewalld) = context.probe("firewall-cmd --state 2>/dev/null").await?;
    let Some(manager) = active(&ufw, &firewalld) else {
        return Ok(Step::new(Stage::Firewall, false, Detail::NoFirewall { ports }));
    };
    let mut opened = Vec::new();
    for port in &ports {
        let (query, allow) = match manager {
            Firewall::Ufw => (
                format!("ufw status | grep -Eq '^{port}(/tcp)? +ALLOW'"),
                format!("ufw allow {port}/tcp comment outpost-relay"),
            ),
            Firewall::Firewalld => (
                format!("firewall-cmd --permanent --query-port={port}/tcp"),
                format!("firewall-cmd --quiet --permanent --add-port={port}/tcp"),
            ),
        };
        if !context.probe(&query).await?.0 {
            context.run(Stage::Firewall, &allow, b"").await?;
            opened.push(*port);
        }
    }
    if opened.is_empty() {
        return Ok(Step::new(Stage::Firewall, false, Detail::FirewallOpen { manager, ports }));
    }
    if manager == Firewall::Firewalld {
        context.run(Stage::Firewall, "firewall-cmd --quiet --reload", b"").await?;
    }
    let record: String = opened.iter().map(|port| format!("{} {port}\n", manager.name())).collect();
    let remember = format!("printf '{record}' >> {}", quote(OPENED_PORTS));
    context.run(Stage::Firewall, &remember, b"").await?;
    Ok(Step::new(Stage::Firewall, true, Detail::FirewallOpened { manager, ports: opened }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_firewall_manager_is_recognised_from_its_status() {
        assert_eq!(active("Status: active\n\nTo Action From\n", ""), Some(Firewall::Ufw));
        assert_eq!(active("Status: inactive\n", "running\n"), Some(Firewall::Firewalld));
        assert_eq!(active("Status: inactive\n", "not running\n"), None);
        assert_eq!(active("", ""), None, "neither installed");
    }
}
