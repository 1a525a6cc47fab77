//! What the user chose in the wizard — the server to connect to and their domain — checked as
//! they type, and turned into the relay's config.
//!
//! Everything here is plain data that lives in the profile: no secret ever does. Validation
//! messages are written for someone who has never run a mail server: they say what is wrong
//! with what was typed and what to type instead.

use std::str::FromStr;

use outpost_relay_config::{Config, DomainName};
use serde::{Deserialize, Serialize};

use crate::dns::records::DmarcPolicy;
use crate::install;

/// How the app logs in to the server. The secret itself is in the keychain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Login {
    /// A password.
    Password,
    /// An OpenSSH private key the user already had (its text is in the keychain).
    Key,
    /// A key Outpost made; its public half is in the server's `authorized_keys`.
    NewKey,
}

/// The server, as confirmed in the Connect step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// Host name or IP address.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// The login user (`root`, or a user with sudo).
    pub user: String,
    /// The host key fingerprint the user confirmed (`SHA256:…`).
    pub fingerprint: String,
    /// How we log in.
    pub login: Login,
}

impl Server {
    /// `user@host`, the name of its secrets in the keychain.
    pub fn login_name(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }
}

/// The domain and what to do with it, as chosen in the "Your domain" step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    /// The user's domain, e.g. `example.com` (ASCII, lower case).
    pub domain: String,
    /// The mail host name, by default `mail.<domain>`.
    pub mail_host: String,
    /// The address mail is sent from, at the domain.
    pub sender: String,
    /// An existing mailbox the domain's incoming mail should be forwarded to, if any.
    pub forward_to: Option<String>,
    /// Whether to send over IPv6 too.
    pub ipv6: bool,
    /// The DMARC policy to publish.
    pub dmarc: DmarcPolicy,
}

/// Cleans up a domain name as a person types or pastes it: trims spaces, a `https://` prefix,
/// a path, an `@`; converts international names to their ASCII form; refuses what cannot be a
/// domain, saying why.
pub fn domain_name(typed: &str) -> Result<String, String> {
    let mut text = typed.trim();
    for prefix in ["https://", "http://"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest;
        }
    }
    let text = text.split('/').next().unwrap_or("").trim_start_matches('@');
    if text.is_empty() {
        return Err("Type your domain, for example example.com.".into());
    }
    if text.contains('@') {
        return Err(format!(
            "“{text}” looks like an email address. Type only the part after the @, for example example.com."
        ));
    }
    if text.contains(char::is_whitespace) {
        return Err(format!("“{text}” has a space in it; a domain never does."));
    }
    if text.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "{text} is an IP address. Type the domain you bought, for example example.com."
        ));
    }
    let ascii = idna::domain_to_ascii(text).map_err(|_| {
        format!("“{text}” is not a valid domain name. Check it for typos, for example example.com.")
    })?;
    let name = DomainName::from_str(&ascii).map_err(|reason| {
        if !ascii.trim_end_matches('.').contains('.') {
            format!("“{text}” has no ending such as .com or .org. Type the whole domain, for example {text}.com.")
        } else {
            format!("“{text}” is not a valid domain name: {reason}.")
        }
    })?;
    Ok(name.as_str().to_string())
}

/// Checks an email address's shape (`local@domain`), returning it with the domain normalised.
pub fn email_address(typed: &str) -> Result<String, String> {
    let text = typed.trim();
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err(format!("“{text}” is not an email address: it has no @."));
    };
    if local.is_empty()
        || local.len() > 64
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || !local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
    {
        return Err(format!(
            "“{local}” cannot be the part before the @ of an address; use letters, digits, dots, hyphens or underscores."
        ));
    }
    let domain = domain_name(domain)?;
    Ok(format!("{local}@{domain}"))
}

impl Domain {
    /// The choices with their defaults filled in and every field checked. `mail_host` and
    /// `sender` may be empty: they default to `mail.<domain>` and `hello@<domain>`.
    pub fn new(
        domain: &str,
        mail_host: &str,
        sender: &str,
        forward_to: &str,
        ipv6: bool,
        dmarc: DmarcPolicy,
    ) -> Result<Domain, Invalid> {
        let domain = domain_name(domain).map_err(|message| Invalid::new("domain", message))?;
        let mail_host = if mail_host.trim().is_empty() {
            format!("mail.{domain}")
        } else {
            domain_name(mail_host).map_err(|message| Invalid::new("mailHost", message))?
        };
        if mail_host != domain && !mail_host.ends_with(&format!(".{domain}")) {
            return Err(Invalid::new(
                "mailHost",
                format!("The mail host must be a name in your domain, such as mail.{domain}."),
            ));
        }
        let sender = if sender.trim().is_empty() {
            format!("hello@{domain}")
        } else {
            email_address(sender).map_err(|message| Invalid::new("sender", message))?
        };
        if !sender.ends_with(&format!("@{domain}")) {
            return Err(Invalid::new(
                "sender",
                format!(
                    "The sending address must end in @{domain}: mail from other domains would fail the checks this server passes."
                ),
            ));
        }
        let forward_to = match forward_to.trim() {
            "" => None,
            typed => {
                let address =
                    email_address(typed).map_err(|message| Invalid::new("forwardTo", message))?;
                if address.ends_with(&format!("@{domain}")) {
                    return Err(Invalid::new(
                        "forwardTo",
                        format!(
                            "Forward to a mailbox you already have elsewhere (such as Gmail), not to an address @{domain}: that would send the mail in a circle."
                        ),
                    ));
                }
                Some(address)
            }
        };
        Ok(Domain { domain, mail_host, sender, forward_to, ipv6, dmarc })
    }

    /// The DKIM selector Outpost uses.
    pub const DKIM_SELECTOR: &'static str = "outpost";

    /// What the DNS plan is made from, once the relay is installed (its addresses and DKIM key).
    pub fn dns_input(&self, installed: &crate::profile::Installed) -> crate::dns::records::Input {
        let addresses: Vec<std::net::IpAddr> =
            installed.addresses.iter().filter_map(|address| address.parse().ok()).collect();
        crate::dns::records::Input {
            domain: self.domain.clone(),
            mail_host: self.mail_host.clone(),
            ipv4: addresses
                .iter()
                .filter_map(|ip| match ip {
                    std::net::IpAddr::V4(v4) => Some(*v4),
                    std::net::IpAddr::V6(_) => None,
                })
                .collect(),
            // Without IPv6 sending, an AAAA record and IPv6 PTR would only invite checks that
            // the server never needs to pass.
            ipv6: addresses
                .iter()
                .filter_map(|ip| match ip {
                    std::net::IpAddr::V6(v6) if self.ipv6 => Some(*v6),
                    _ => None,
                })
                .collect(),
            // The relay does not receive mail yet: no MX is planned, so an existing mailbox
            // provider keeps the domain's mail.
            receive_mail: false,
            dkim: installed
                .dkim
                .iter()
                .map(|(name, value)| {
                    let selector = name.split("._domainkey.").next().unwrap_or(name);
                    (selector.to_string(), value.clone())
                })
                .collect(),
            dmarc: self.dmarc,
            dmarc_reports: self.sender.clone(),
        }
    }

    /// The relay's config and SMTP user for these choices.
    pub fn relay_input(&self) -> install::Input {
        let quote = |text: &str| toml::Value::String(text.to_string()).to_string();
        let text = format!(
            "[server]\nhostname = {host}\ndomains = [{domain}]\n\n\
             [[dkim]]\ndomain = {domain}\nselector = {selector}\nalgorithm = \"rsa-sha256\"\nkey_file = {key}\n\n\
             [delivery]\nipv6 = {ipv6}\n",
            host = quote(&self.mail_host),
            domain = quote(&self.domain),
            selector = quote(Self::DKIM_SELECTOR),
            key = quote(&format!("/etc/outpost/dkim/{}.pem", Self::DKIM_SELECTOR)),
            ipv6 = self.ipv6,
        );
        let config = Config::parse(&text, std::path::Path::new("wizard"))
            .expect("names checked by Domain::new make a valid config");
        install::Input { config, smtp_user: self.sender.clone() }
    }
}

/// A field the user must correct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
pub struct Invalid {
    /// Which field: `domain`, `mailHost`, `sender`, `forwardTo`.
    pub field: &'static str,
    /// What is wrong and what to type instead.
    pub message: String,
}

impl Invalid {
    fn new(field: &'static str, message: impl Into<String>) -> Invalid {
        Invalid { field, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_cleaned_up_as_people_paste_them() {
        for typed in ["example.com", " Example.COM ", "https://example.com/", "example.com."] {
            assert_eq!(domain_name(typed).unwrap(), "example.com", "{typed:?}");
        }
        assert_eq!(domain_name("bücher.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(domain_name("example.co.uk").unwrap(), "example.co.uk");
    }

    #[test]
    fn malformed_domains_say_what_is_wrong() {
        assert!(domain_name("").unwrap_err().contains("Type your domain"));
        assert!(domain_name("me@example.com").unwrap_err().contains("email address"));
        assert!(domain_name("example").unwrap_err().contains("no ending"));
        assert!(domain_name("exa mple.com").unwrap_err().contains("space"));
        assert!(domain_name("198.51.100.10").unwrap_err().contains("IP address"));
        assert!(domain_name("-bad-.com").is_err());
        assert!(domain_name("a..com").is_err());
    }

    #[test]
    fn defaults_fill_in_the_mail_host_and_sender() {
        let domain = Domain::new("Example.com", "", "", "", true, DmarcPolicy::None).unwrap();
        assert_eq!(domain.mail_host, "mail.example.com");
        assert_eq!(domain.sender, "hello@example.com");
        assert_eq!(domain.forward_to, None);
    }

    #[test]
    fn fields_that_would_break_mail_are_refused_with_the_field_named() {
        let invalid = |host: &str, sender: &str, forward: &str| {
            Domain::new("example.com", host, sender, forward, false, DmarcPolicy::None).unwrap_err()
        };
        assert_eq!(invalid("mail.other.org", "", "").field, "mailHost");
        assert_eq!(invalid("", "me@other.org", "").field, "sender");
        assert_eq!(invalid("", "not an address", "").field, "sender");
        assert_eq!(invalid("", "", "me@example.com").field, "forwardTo");
        assert!(
            Domain::new("example.com", "", "", "me@gmail.com", false, DmarcPolicy::None).is_ok()
        );
    }

    #[test]
    fn the_dns_plan_input_follows_the_choices_and_the_install() {
        let installed = crate::profile::Installed {
            relay_version: "0.1.0".into(),
            addresses: vec!["198.51.100.10".into(), "2001:db8:100::10".into()],
            dkim: vec![("outpost._domainkey.example.com".into(), "v=DKIM1; p=AB".into())],
            smtp_user: "hello@example.com".into(),
        };
        let without_ipv6 =
            Domain::new("example.com", "", "", "", false, DmarcPolicy::Quarantine).unwrap();
        let input = without_ipv6.dns_input(&installed);
        assert_eq!(input.ipv4.len(), 1);
        assert!(input.ipv6.is_empty());
        assert_eq!(input.dkim, [("outpost".to_string(), "v=DKIM1; p=AB".to_string())]);
        assert_eq!(input.dmarc_reports, "hello@example.com");
        let with_ipv6 = Domain { ipv6: true, ..without_ipv6 };
        assert_eq!(with_ipv6.dns_input(&installed).ipv6.len(), 1);
    }

    #[test]
    fn the_relay_config_follows_the_choices() {
        let domain =
            Domain::new("example.com", "smtp.example.com", "", "", false, DmarcPolicy::None)
                .unwrap();
        let input = domain.relay_input();
        assert_eq!(input.config.server.hostname.as_str(), "smtp.example.com");
        assert_eq!(input.config.dkim.len(), 1);
        assert_eq!(input.config.dkim[0].selector.as_str(), "outpost");
        assert!(!input.config.delivery.ipv6);
        assert_eq!(input.smtp_user, "hello@example.com");
    }
}
