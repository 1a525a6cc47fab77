//! The VPS provider catalogue (`data/providers.toml`): what each provider does about outbound
//! port 25 and reverse DNS, and the support ticket that asks them to open port 25.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

const CATALOGUE: &str = include_str!("../data/providers.toml");

/// Outbound port 25 on a new server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum Port25 {
    /// Works out of the box.
    Open,
    /// Blocked until support opens it.
    OnRequest,
    /// Blocked, and rarely or never opened for individuals.
    Restricted,
}

/// How reverse DNS is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum Rdns {
    /// In the customer panel.
    SelfService,
    /// Derived from the server's name.
    Automatic,
    /// By asking support.
    Request,
}

/// How a provider fact was last checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum HowChecked {
    /// The provider's page was read on `checked`.
    Docs,
    /// Commonly documented, not yet re-read against the live page.
    Recalled,
}

/// A text a user reads, in every language the app speaks (the data file gives all four, so a
/// provider cannot be added in English alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    /// English.
    pub en: String,
    /// Kazakh.
    pub kk: String,
    /// Russian.
    pub ru: String,
    /// Simplified Chinese.
    pub zh: String,
}

/// One provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
// The data file is snake_case; the wire, like every IPC type, camelCase.
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
#[ts(rename_all = "camelCase")]
pub struct Provider {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Outbound port 25.
    pub port25: Port25,
    /// What that means in practice.
    pub port25_how: Localized,
    /// Reverse DNS.
    pub rdns: Rdns,
    /// Where to set it.
    pub rdns_how: Localized,
    /// Whether IPv6 addresses get reverse DNS too.
    pub ipv6_rdns: bool,
    /// A rough price.
    pub price_hint: Localized,
    /// The customer panel.
    pub panel: String,
    /// Where its network firewall is and how to open a port there; the message around it names
    /// the ports (25 on Install, 80 and 443 on Certificate).
    pub firewall_how: Localized,
    /// Where the facts come from.
    pub source: String,
    /// When they were last checked (YYYY-MM-DD).
    pub checked: String,
    /// How.
    pub how_checked: HowChecked,
}

#[derive(Deserialize)]
struct File {
    provider: Vec<Provider>,
}

/// Every provider in the catalogue, in catalogue order.
pub fn catalogue() -> Vec<Provider> {
    toml::from_str::<File>(CATALOGUE)
        .expect("data/providers.toml is valid (a unit test checks it)")
        .provider
}

/// What the port-25 ticket is about.
#[derive(Debug, Clone)]
pub struct TicketInput {
    /// The server's host name (its PTR).
    pub mail_host: String,
    /// The domain mail is sent for.
    pub domain: String,
    /// The server's addresses.
    pub addresses: Vec<IpAddr>,
    /// Messages per day, roughly.
    pub daily_volume: u32,
}

/// The support ticket for the provider `id` before the server and domain are known: with
/// placeholders the user replaces. `None` if there is no such provider.
pub fn placeholder_ticket(id: &str) -> Option<String> {
    let provider = catalogue().into_iter().find(|candidate| candidate.id == id)?;
    let input = TicketInput {
        mail_host: "mail.yourdomain.com".into(),
        domain: "yourdomain.com".into(),
        addresses: Vec::new(),
        daily_volume: 100,
    };
    Some(port25_ticket(&provider, &input))
}

/// The support ticket asking `provider` to open outbound port 25, written the way abuse desks
/// want it: who, what for, how much, and proof of a properly set-up sender.
pub fn port25_ticket(provider: &Provider, input: &TicketInput) -> String {
    let addresses: Vec<String> = input.addresses.iter().map(ToString::to_string).collect();
    let addresses =
        if addresses.is_empty() { vec!["its IP address".to_string()] } else { addresses };
    format!(
        "Subject: Request to open outbound port 25 for {host}\n\n\
         Hello {provider} support,\n\n\
         Please open outbound TCP port 25 (SMTP) for my server {host} ({addresses}).\n\n\
         What it is for: my own mail server for the domain {domain}, sending personal and \
         transactional mail (replies, notifications, password resets) — about {volume} messages a \
         day. No newsletters, no bulk or purchased lists.\n\n\
         How it is set up:\n\
         - reverse DNS of {addresses} is {host}, and {host} resolves back to it;\n\
         - SPF, DKIM (2048-bit RSA) and DMARC are published for {domain};\n\
         - the server only relays mail for authenticated users over TLS (no open relay), limits \
           each user's hourly volume, and blocks password guessing;\n\
         - I read abuse reports sent to abuse@ and postmaster@{domain} and will act on them \
           promptly.\n\n\
         Thank you!\n",
        host = input.mail_host,
        provider = provider.name,
        addresses = addresses.join(", "),
        domain = input.domain,
        volume = input.daily_volume,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_the_providers_the_design_names_each_with_a_date() {
        let providers = catalogue();
        for id in [
            "contabo",
            "hetzner-cloud",
            "ovhcloud",
            "vultr",
            "digitalocean",
            "linode",
            "scaleway",
            "aws",
            "oracle-cloud",
            "netcup",
        ] {
            assert!(providers.iter().any(|provider| provider.id == id), "{id} missing");
        }
        for provider in &providers {
            assert!(
                provider.checked.len() == 10 && provider.checked.starts_with("20"),
                "{}: {}",
                provider.id,
                provider.checked
            );
            assert!(
                provider.panel.starts_with("https://") && provider.source.starts_with("https://"),
                "{}",
                provider.id
            );
            for (field, text) in [
                ("port25_how", &provider.port25_how),
                ("rdns_how", &provider.rdns_how),
                ("price_hint", &provider.price_hint),
                ("firewall_how", &provider.firewall_how),
            ] {
                let Localized { en, kk, ru, zh } = text;
                assert!(!en.trim().is_empty(), "{}.{field} has no English text", provider.id);
                for (language, translated) in [("kk", kk), ("ru", ru), ("zh", zh)] {
                    assert!(
                        !translated.trim().is_empty(),
                        "{}.{field}: no {language}",
                        provider.id
                    );
                    // A translation left as the English original was forgotten.
                    assert_ne!(translated, en, "{}.{field} is English in {language}", provider.id);
                }
            }
        }
        let mut ids: Vec<&str> = providers.iter().map(|provider| provider.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), providers.len(), "ids are unique");
    }

    #[test]
    fn the_ticket_names_the_server_the_volume_and_the_safeguards() {
        let hetzner =
            catalogue().into_iter().find(|provider| provider.id == "hetzner-cloud").unwrap();
        let ticket = port25_ticket(
            &hetzner,
            &TicketInput {
                mail_host: "mail.example.com".into(),
                domain: "example.com".into(),
                addresses: vec!["203.0.113.10".parse().unwrap(), "2001:db8::10".parse().unwrap()],
                daily_volume: 50,
            },
        );
        assert!(
            ticket.starts_with("Subject: Request to open outbound port 25 for mail.example.com\n")
        );
        assert!(ticket.contains("Hello Hetzner Cloud support"));
        assert!(ticket.contains("(203.0.113.10, 2001:db8::10)"));
        assert!(ticket.contains("about 50 messages a day"));
        assert!(ticket.contains("no open relay"));
    }
}
