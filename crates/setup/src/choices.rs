//! What the user chose in the wizard — the server to connect to and their domain — checked as
//! they type, and turned into the relay's config.
//!
//! Everything here is plain data that lives in the profile: no secret ever does. A value that
//! cannot be used is an [`Invalid`]: the field and a [`Problem`] as data, which the UI's
//! catalogue words for someone who has never run a mail server.

use std::str::FromStr;

use outpost_relay_api::split_dkim_record_name;
use outpost_relay_config::{
    AbsolutePath, Config, DkimAlgorithm, DkimKey, DomainName, Selector, Server as RelayServer,
};
use serde::{Deserialize, Serialize};

use crate::dns::records::DmarcPolicy;
use crate::install;

/// How the app logs in to the server. The secret itself is in the keychain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    /// The user's domain, e.g. `example.com` (ASCII, lower case).
    #[ts(as = "String")]
    pub domain: DomainName,
    /// The mail host name, by default `mail.<domain>`.
    #[ts(as = "String")]
    pub mail_host: DomainName,
    /// The address mail is sent from, at the domain.
    pub sender: String,
    /// An existing mailbox the domain's incoming mail should be forwarded to, if any. With one,
    /// the relay receives mail for the domain (port 25, an MX record) and forwards it.
    pub forward_to: Option<String>,
    /// Which addresses exist and where each one's mail goes.
    #[serde(default)]
    pub forwarding: Forwarding,
    /// Whether to send over IPv6 too.
    pub ipv6: bool,
    /// The DMARC policy to publish.
    pub dmarc: DmarcPolicy,
    /// The DKIM selector the relay signs with (`outpost`, then `outpost2`… after rotations).
    #[serde(default = "default_dkim_selector")]
    pub dkim_selector: String,
}

fn default_dkim_selector() -> String {
    Domain::DKIM_SELECTOR.to_string()
}

/// A further domain on the same relay (the dashboard's "Add a domain"): its mail is sent and,
/// with a forwarding mailbox, received by the first domain's mail host, so the mail host's own
/// records (its address, PTR, certificate) stay the first domain's; this one gets its own DKIM
/// key, SPF, DMARC, MX and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ExtraDomain {
    /// The domain, e.g. `example.org` (ASCII, lower case).
    #[ts(as = "String")]
    pub domain: DomainName,
    /// The address mail is sent from at it (its SMTP login).
    pub sender: String,
    /// The mailbox its incoming mail is forwarded to; none: the relay does not receive for it.
    pub forward_to: Option<String>,
    /// Which addresses exist and where each one's mail goes.
    #[serde(default)]
    pub forwarding: Forwarding,
    /// The DMARC policy to publish.
    pub dmarc: DmarcPolicy,
    /// The DKIM selector the relay signs its mail with.
    #[serde(default = "default_dkim_selector")]
    pub dkim_selector: String,
}

/// The "Add a domain" form as typed.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ExtraDomainForm {
    /// The domain.
    pub domain: String,
    /// The sending address (empty: `hello@<domain>`).
    pub sender: String,
    /// The forwarding mailbox (empty: the relay does not receive for it).
    pub forward_to: String,
    /// The addresses and the catch-all.
    pub forwarding: Forwarding,
}

/// Mail that arrives for the domain: the relay keeps no mailboxes, so every address it accepts
/// is forwarded. Only used when [`Domain::forward_to`] is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Forwarding {
    /// Every address without an alias of its own goes to the forwarding mailbox (the
    /// tutorial's catch-all). Off: only the aliases, the sending address, postmaster@ and
    /// abuse@ exist, and mail to any other address is refused.
    pub catch_all: bool,
    /// Addresses with a destination of their own.
    pub aliases: Vec<AliasChoice>,
}

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding { catch_all: true, aliases: Vec::new() }
    }
}

/// One address at the domain and where its mail goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct AliasChoice {
    /// The part before the @ (`hello` for hello@example.com).
    pub name: String,
    /// Where its mail goes.
    pub to: String,
}

/// The longest domain name (RFC 1035 §2.3.4) and address (RFC 5321 §4.5.3.1.3) accepted.
pub const MAX_DOMAIN: usize = 253;
/// The longest address accepted.
pub const MAX_ADDRESS: usize = 254;

/// Cleans up a domain name as a person types or pastes it: trims spaces, a `https://` prefix,
/// a path, an `@`; converts international names to their ASCII form; refuses what cannot be a
/// domain, saying why.
pub fn domain_name(typed: &str) -> Result<DomainName, Problem> {
    let mut text = typed.trim();
    if text.len() > MAX_DOMAIN + 8 {
        return Err(Problem::TooLong { max: MAX_DOMAIN });
    }
    for prefix in ["https://", "http://"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest;
        }
    }
    let text = text.split('/').next().unwrap_or("").trim_start_matches('@');
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    if text.contains('@') {
        return Err(Problem::LooksLikeAnAddress);
    }
    if text.contains(char::is_whitespace) {
        return Err(Problem::HasSpace);
    }
    if text.parse::<std::net::IpAddr>().is_ok() {
        return Err(Problem::IpAddress);
    }
    let ascii = idna::domain_to_ascii(text).map_err(|_| Problem::NotADomain)?;
    DomainName::from_str(&ascii).map_err(|_| {
        if ascii.trim_end_matches('.').contains('.') {
            Problem::NotADomain
        } else {
            Problem::NoEnding { suggestion: format!("{ascii}.com") }
        }
    })
}

/// Checks an email address's shape (`local@domain`), returning it with the domain normalised.
/// The part before the @ is limited to letters, digits, dots, hyphens, underscores and plus
/// signs: what the sending address needs and what every mailbox provider accepts.
pub fn email_address(typed: &str) -> Result<String, Problem> {
    let text = typed.trim();
    if text.len() > MAX_ADDRESS {
        return Err(Problem::TooLong { max: MAX_ADDRESS });
    }
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err(Problem::NoAt);
    };
    if local.is_empty()
        || local.len() > 64
        || local.starts_with(['.', '-'])
        || local.ends_with('.')
        || local.contains("..")
        || !local.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
    {
        return Err(Problem::BadLocalPart);
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
        let domain = domain_name(domain).map_err(|problem| Invalid::new(Field::Domain, problem))?;
        let mail_host = if mail_host.trim().is_empty() {
            DomainName::from_str(&format!("mail.{domain}")).map_err(|_| {
                Invalid::new(Field::Domain, Problem::TooLong { max: MAX_DOMAIN - 5 })
            })?
        } else {
            domain_name(mail_host).map_err(|problem| Invalid::new(Field::MailHost, problem))?
        };
        let within = |name: &str| name == domain.as_str() || name.ends_with(&format!(".{domain}"));
        if !within(mail_host.as_str()) {
            let problem = Problem::OutsideDomain { domain: domain.to_string() };
            return Err(Invalid::new(Field::MailHost, problem));
        }
        let sender = if sender.trim().is_empty() {
            format!("hello@{domain}")
        } else {
            email_address(sender).map_err(|problem| Invalid::new(Field::Sender, problem))?
        };
        if !sender.ends_with(&format!("@{domain}")) {
            let problem = Problem::OutsideDomain { domain: domain.to_string() };
            return Err(Invalid::new(Field::Sender, problem));
        }
        let forward_to = match forward_to.trim() {
            "" => None,
            typed => {
                let address = email_address(typed)
                    .map_err(|problem| Invalid::new(Field::ForwardTo, problem))?;
                if address.ends_with(&format!("@{domain}")) {
                    let problem = Problem::ForwardsToItself { domain: domain.to_string() };
                    return Err(Invalid::new(Field::ForwardTo, problem));
                }
                Some(address)
            }
        };
        let forwarding = Forwarding::default();
        Ok(Domain {
            domain,
            mail_host,
            sender,
            forward_to,
            forwarding,
            ipv6,
            dmarc,
            dkim_selector: default_dkim_selector(),
        })
    }

    /// These choices with `forwarding` as typed, each alias checked: its name a mailbox name at
    /// the domain (`hello`, or `hello@<domain>` typed in full), its destination an address
    /// elsewhere; an alias needs the forwarding mailbox (the domain's mail is received only then).
    pub fn with_forwarding(mut self, forwarding: Forwarding) -> Result<Domain, Invalid> {
        let domain = self.domain.to_string();
        let mut aliases: Vec<AliasChoice> = Vec::new();
        for (index, alias) in forwarding.aliases.iter().enumerate() {
            let item = |field: Field, problem: Problem| Invalid {
                item: Some(index),
                ..Invalid::new(field, problem)
            };
            let typed = alias.name.trim().to_ascii_lowercase();
            let name = match typed.rsplit_once('@') {
                Some((name, at)) if at == domain => name.to_string(),
                Some(_) => {
                    let problem = Problem::OutsideDomain { domain: domain.clone() };
                    return Err(item(Field::AliasName, problem));
                }
                None => typed,
            };
            if name.is_empty() {
                return Err(item(Field::AliasName, Problem::Empty));
            }
            email_address(&format!("{name}@{domain}"))
                .map_err(|problem| item(Field::AliasName, problem))?;
            let reserved = ["srs0", "srs1"].iter().any(|tag| name.starts_with(tag));
            if reserved {
                return Err(item(Field::AliasName, Problem::ReservedName));
            }
            if aliases.iter().any(|known| known.name == name) {
                return Err(item(Field::AliasName, Problem::Duplicate));
            }
            let to = email_address(&alias.to).map_err(|problem| item(Field::AliasTo, problem))?;
            if to.ends_with(&format!("@{domain}")) {
                let problem = Problem::ForwardsToItself { domain: domain.clone() };
                return Err(item(Field::AliasTo, problem));
            }
            aliases.push(AliasChoice { name, to });
        }
        if self.forward_to.is_none() && !aliases.is_empty() {
            return Err(Invalid::new(Field::ForwardTo, Problem::NeededForAliases));
        }
        self.forwarding = Forwarding { catch_all: forwarding.catch_all, aliases };
        Ok(self)
    }

    /// Whether the relay receives mail for the domain (port 25 and an MX record).
    pub fn receives(&self) -> bool {
        self.forward_to.is_some()
    }

    /// The aliases the relay is given: each alias, and the catch-all when chosen.
    pub fn relay_aliases(&self) -> Vec<outpost_relay_api::Alias> {
        let Some(mailbox) = &self.forward_to else { return Vec::new() };
        let mut aliases: Vec<outpost_relay_api::Alias> = self
            .forwarding
            .aliases
            .iter()
            .map(|alias| outpost_relay_api::Alias {
                address: format!("{}@{}", alias.name, self.domain),
                destinations: vec![alias.to.clone()],
            })
            .collect();
        if self.forwarding.catch_all {
            aliases.push(outpost_relay_api::Alias {
                address: format!("*@{}", self.domain),
                destinations: vec![mailbox.clone()],
            });
        } else if !aliases.iter().any(|alias| alias.address == self.sender) {
            // Replies to the sending address (and Gmail's "Send mail as" confirmation) must
            // arrive even without the catch-all.
            aliases.push(outpost_relay_api::Alias {
                address: self.sender.clone(),
                destinations: vec![mailbox.clone()],
            });
        }
        aliases
    }

    /// The DKIM selector of a first install.
    pub const DKIM_SELECTOR: &'static str = "outpost";

    /// A further domain checked against these choices (the first domain) and the ones added
    /// before: a domain of its own, its sending address at it, its aliases as in "Your domain".
    /// It shares the mail host, the IPv6 choice and, to begin with, the DMARC policy.
    pub fn check_extra(
        &self,
        others: &[ExtraDomain],
        form: &ExtraDomainForm,
    ) -> Result<ExtraDomain, Invalid> {
        let name =
            domain_name(&form.domain).map_err(|problem| Invalid::new(Field::Domain, problem))?;
        let mut taken =
            std::iter::once(&self.domain).chain(others.iter().map(|other| &other.domain));
        if taken.any(|known| *known == name) {
            return Err(Invalid::new(Field::Domain, Problem::Duplicate));
        }
        let mut checked =
            Domain::new(&form.domain, "", &form.sender, &form.forward_to, self.ipv6, self.dmarc)?;
        checked.mail_host = self.mail_host.clone();
        let domain = checked.with_forwarding(form.forwarding.clone())?;
        Ok(ExtraDomain {
            domain: domain.domain,
            sender: domain.sender,
            forward_to: domain.forward_to,
            forwarding: domain.forwarding,
            dmarc: domain.dmarc,
            dkim_selector: default_dkim_selector(),
        })
    }

    /// A further domain as full choices: the first domain's mail host and IPv6 with its own
    /// addresses, key and policy (what its aliases and DNS plan are made from).
    pub fn with_extra(&self, extra: &ExtraDomain) -> Domain {
        Domain {
            domain: extra.domain.clone(),
            mail_host: self.mail_host.clone(),
            sender: extra.sender.clone(),
            forward_to: extra.forward_to.clone(),
            forwarding: extra.forwarding.clone(),
            ipv6: self.ipv6,
            dmarc: extra.dmarc,
            dkim_selector: extra.dkim_selector.clone(),
        }
    }

    /// What a further domain's DNS plan is made from: no records of the mail host's own (they
    /// are in the first domain's zone), no MTA-STS or autoconfig (the certificate names the
    /// first domain's), DMARC reports to its own mailbox or else the first domain's.
    pub fn extra_dns_input(
        &self,
        extra: &ExtraDomain,
        installed: &crate::profile::Installed,
    ) -> crate::dns::records::Input {
        let mut input = self.with_extra(extra).dns_input(installed, None);
        input.host_records = false;
        let reports = extra.forward_to.clone().or_else(|| self.forward_to.clone());
        input.dmarc_reports = reports;
        input
    }

    /// What the DNS plan is made from, once the relay is installed (its addresses and DKIM key).
    pub fn dns_input(
        &self,
        installed: &crate::profile::Installed,
        certificate: Option<&crate::certificate::CertificateChoice>,
    ) -> crate::dns::records::Input {
        use std::net::IpAddr;
        crate::dns::records::Input {
            domain: self.domain.to_string(),
            mail_host: self.mail_host.to_string(),
            ipv4: installed
                .addresses
                .iter()
                .filter_map(|ip| match ip {
                    IpAddr::V4(v4) => Some(*v4),
                    IpAddr::V6(_) => None,
                })
                .collect(),
            // Without IPv6 sending, an AAAA record and IPv6 PTR would only invite checks that
            // the server never needs to pass.
            ipv6: installed
                .addresses
                .iter()
                .filter_map(|ip| match ip {
                    IpAddr::V6(v6) if self.ipv6 => Some(*v6),
                    _ => None,
                })
                .collect(),
            // Without a forwarding mailbox the relay does not receive: no MX is planned, so an
            // existing mailbox provider keeps the domain's mail.
            receive_mail: self.receives(),
            // The relay's keys for this domain (with several domains it has a key for each).
            dkim: installed
                .dkim
                .iter()
                .filter_map(|(name, value)| match split_dkim_record_name(name) {
                    Some((selector, at)) if at.eq_ignore_ascii_case(self.domain.as_str()) => {
                        Some((selector.to_string(), value.clone()))
                    }
                    Some(_) => None,
                    None => Some((name.clone(), value.clone())),
                })
                .collect(),
            host_records: true,
            dmarc: self.dmarc,
            // Reports go where the user reads mail: the forwarding mailbox. Without one, no
            // report address is published (nothing on this server receives mail yet).
            dmarc_reports: self.forward_to.clone(),
            // MTA-STS and autoconfig need HTTPS with a CA's certificate (step 8).
            mta_sts_policy: certificate.map(|_| self.mta_sts_policy()),
            tls_reports: self.forward_to.clone(),
            caa: certificate.and_then(|choice| {
                let pin = choice.caa.as_ref()?;
                let value = crate::dns::caa::issue_value(&pin.issuer, &pin.account);
                Some((choice.all_names(self.mail_host.as_str()), value))
            }),
        }
    }

    /// The MTA-STS policy the relay serves for these choices, from the config they make.
    pub fn mta_sts_policy(&self) -> String {
        let config = Config::new(RelayServer {
            hostname: self.mail_host.clone(),
            domains: vec![self.domain.clone()],
        });
        config.mta_sts_policy()
    }

    /// The relay's config and SMTP user for these choices and the further domains `extra`,
    /// with its TLS set up as `tls` says.
    pub fn relay_input(
        &self,
        extra: &[ExtraDomain],
        tls: crate::certificate::Tls<'_>,
    ) -> Result<install::Input, outpost_relay_config::Error> {
        let all: Vec<Domain> =
            std::iter::once(self.clone()).chain(extra.iter().map(|e| self.with_extra(e))).collect();
        let mut config = Config::new(RelayServer {
            hostname: self.mail_host.clone(),
            domains: all.iter().map(|domain| domain.domain.clone()).collect(),
        });
        // A hand-edited selector that is not one is refused like any bad config value.
        let invalid = |reason: String| outpost_relay_config::Error {
            file: "(the DKIM selector)".into(),
            position: None,
            reason,
        };
        for (index, domain) in all.iter().enumerate() {
            let file = match index {
                0 => crate::dkim_rotation::key_file(&domain.dkim_selector),
                _ => crate::dkim_rotation::extra_key_file(
                    domain.domain.as_str(),
                    &domain.dkim_selector,
                ),
            };
            config.dkim.push(DkimKey {
                domain: domain.domain.clone(),
                selector: Selector::from_str(&domain.dkim_selector).map_err(invalid)?,
                algorithm: DkimAlgorithm::RsaSha256,
                key_file: AbsolutePath::from_str(&file).map_err(invalid)?,
            });
        }
        config.delivery.ipv6 = self.ipv6;
        // postmaster@ and abuse@ of every domain reach the first forwarding mailbox.
        if let Some(mailbox) = all.iter().find_map(|domain| domain.forward_to.as_ref()) {
            config.listeners.inbound = outpost_relay_config::Listeners::everywhere(25);
            config.inbound.owner =
                Some(mailbox.parse().map_err(|reason| outpost_relay_config::Error {
                    file: "(the forwarding mailbox)".into(),
                    position: None,
                    reason,
                })?);
        }
        tls.apply(&mut config).map_err(|reason| outpost_relay_config::Error {
            file: "(the certificate's names)".into(),
            position: None,
            reason,
        })?;
        config.check()?;
        let aliases = all.iter().flat_map(Domain::relay_aliases).collect();
        Ok(install::Input { config, smtp_user: self.sender.clone(), aliases })
    }
}

/// A form field the user must correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    /// Connect: the server's address.
    Host,
    /// Connect: the SSH port.
    Port,
    /// Connect: the login user.
    User,
    /// Connect: the password.
    Password,
    /// Connect: the private key file.
    KeyFile,
    /// Connect: the key's passphrase.
    Passphrase,
    /// Connect: the key Outpost makes.
    NewKey,
    /// Your domain: the domain.
    Domain,
    /// Your domain: the mail host.
    MailHost,
    /// Your domain: the sending address.
    Sender,
    /// Your domain: the forwarding mailbox.
    ForwardTo,
    /// Your domain: an alias's name (which one: [`Invalid::item`]).
    AliasName,
    /// Your domain: an alias's destination.
    AliasTo,
    /// Test email: the recipient.
    TestRecipient,
    /// Test email: the mailbox's IMAP server.
    ImapHost,
    /// Dashboard: an SMTP user's address.
    SmtpUser,
    /// Dashboard: an address an SMTP user may also send as (which one: [`Invalid::item`]).
    Sends,
}

/// What is wrong with what was typed; the UI's catalogue says it, per field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Problem {
    /// Nothing was typed.
    Empty,
    /// Longer than any real value.
    TooLong { max: usize },
    /// A domain was expected and an email address was typed.
    LooksLikeAnAddress,
    /// A space where there can be none.
    HasSpace,
    /// An IP address where a domain was expected.
    IpAddress,
    /// Not a domain name (bad characters, empty labels, a label too long).
    NotADomain,
    /// A domain without its ending, such as `example` for `example.com`.
    NoEnding { suggestion: String },
    /// An email address without an @.
    NoAt,
    /// The part before the @ is not one a mailbox can have.
    BadLocalPart,
    /// A name or address that must be in the user's domain is not.
    OutsideDomain { domain: String },
    /// An address that must be at one of the relay's domains is not.
    OutsideDomains { domains: Vec<String> },
    /// Forwarding to an address at the domain itself would send mail in a circle.
    ForwardsToItself { domain: String },
    /// The same name twice in a list.
    Duplicate,
    /// A name the relay keeps for itself (its bounce addresses start with SRS0 and SRS1).
    ReservedName,
    /// Aliases forward to mailboxes, and need the forwarding mailbox that turns receiving on.
    NeededForAliases,
    /// Not a host name or IP address (quotes, slashes, spaces).
    NotAHost,
    /// The file chosen is the public half of a key (`.pub`).
    PublicKeyFile,
    /// The file cannot be read.
    Unreadable { path: String, reason: String },
    /// The key is encrypted and no passphrase was given.
    PassphraseNeeded,
    /// The passphrase does not open the key.
    PassphraseWrong,
    /// The new key was not made yet.
    KeyNotMade,
    /// The login works but cannot become root.
    CannotBecomeRoot { user: String, reason: String },
    /// The install's own SMTP user (the sending address), which the app itself sends with.
    MainUser,
}

/// A field the user must correct, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{field:?}: {problem:?}")]
pub struct Invalid {
    /// Which field.
    pub field: Field,
    /// What is wrong with it.
    pub problem: Problem,
    /// Which one, in a list of fields (the aliases).
    pub item: Option<usize>,
}

impl Invalid {
    /// `field` has `problem`.
    pub fn new(field: Field, problem: Problem) -> Invalid {
        Invalid { field, problem, item: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_cleaned_up_as_people_paste_them() {
        for typed in ["example.com", " Example.COM ", "https://example.com/", "example.com."] {
            assert_eq!(domain_name(typed).unwrap().as_str(), "example.com", "{typed:?}");
        }
        assert_eq!(domain_name("bücher.example").unwrap().as_str(), "xn--bcher-kva.example");
        assert_eq!(domain_name("example.co.uk").unwrap().as_str(), "example.co.uk");
    }

    #[test]
    fn malformed_domains_say_what_is_wrong() {
        assert_eq!(domain_name(""), Err(Problem::Empty));
        assert_eq!(domain_name("me@example.com"), Err(Problem::LooksLikeAnAddress));
        assert_eq!(
            domain_name("example"),
            Err(Problem::NoEnding { suggestion: "example.com".into() })
        );
        assert_eq!(domain_name("exa mple.com"), Err(Problem::HasSpace));
        assert_eq!(domain_name("198.51.100.10"), Err(Problem::IpAddress));
        assert_eq!(domain_name("-bad-.com"), Err(Problem::NotADomain));
        assert_eq!(domain_name("a..com"), Err(Problem::NotADomain));
        assert_eq!(domain_name(&"a".repeat(100_000)), Err(Problem::TooLong { max: MAX_DOMAIN }));
    }

    #[test]
    fn defaults_fill_in_the_mail_host_and_sender() {
        let domain = Domain::new("Example.com", "", "", "", true, DmarcPolicy::None).unwrap();
        assert_eq!(domain.mail_host.as_str(), "mail.example.com");
        assert_eq!(domain.sender, "hello@example.com");
        assert_eq!(domain.forward_to, None);
    }

    #[test]
    fn fields_that_would_break_mail_are_refused_with_the_field_named() {
        let invalid = |host: &str, sender: &str, forward: &str| {
            Domain::new("example.com", host, sender, forward, false, DmarcPolicy::None).unwrap_err()
        };
        assert_eq!(invalid("mail.other.org", "", "").field, Field::MailHost);
        assert_eq!(invalid("", "me@other.org", "").field, Field::Sender);
        assert_eq!(invalid("", "not an address", "").field, Field::Sender);
        assert_eq!(invalid("", "", "me@example.com").field, Field::ForwardTo);
        // The sending address's rule is the one its message states.
        for hostile in [
            "a'b@example.com",
            "a|b@example.com",
            "$x@example.com",
            "{a}@example.com",
            "a`b@example.com",
        ] {
            assert_eq!(invalid("", hostile, "").problem, Problem::BadLocalPart, "{hostile}");
        }
        assert_eq!(invalid("", "-h@example.com", "").problem, Problem::BadLocalPart);
        assert!(
            Domain::new("example.com", "", "", "me@gmail.com", false, DmarcPolicy::None).is_ok()
        );
    }

    #[test]
    fn the_dns_plan_input_follows_the_choices_and_the_install() {
        let installed = crate::profile::Installed {
            relay_version: "0.1.0".into(),
            addresses: vec!["198.51.100.10".parse().unwrap(), "2001:db8:100::10".parse().unwrap()],
            dkim: vec![("outpost._domainkey.example.com".into(), "v=DKIM1; p=AB".into())],
            smtp_user: "hello@example.com".into(),
        };
        let without_ipv6 =
            Domain::new("example.com", "", "", "", false, DmarcPolicy::Quarantine).unwrap();
        let input = without_ipv6.dns_input(&installed, None);
        assert_eq!(input.ipv4.len(), 1);
        assert!(input.ipv6.is_empty());
        assert_eq!(input.dkim, [("outpost".to_string(), "v=DKIM1; p=AB".to_string())]);
        assert_eq!(input.dmarc_reports, None, "no mailbox is read at the domain yet");
        let forwarding =
            Domain::new("example.com", "", "", "me@gmail.example", false, DmarcPolicy::None)
                .unwrap();
        assert_eq!(
            forwarding.dns_input(&installed, None).dmarc_reports.as_deref(),
            Some("me@gmail.example")
        );
        let with_ipv6 = Domain { ipv6: true, ..without_ipv6 };
        assert_eq!(with_ipv6.dns_input(&installed, None).ipv6.len(), 1);
    }

    #[test]
    fn the_relay_config_follows_the_choices() {
        let domain =
            Domain::new("example.com", "smtp.example.com", "", "", false, DmarcPolicy::None)
                .unwrap();
        let input = domain.relay_input(&[], crate::certificate::Tls::SelfSigned).unwrap();
        assert_eq!(input.config.server.hostname.as_str(), "smtp.example.com");
        assert_eq!(input.config.dkim.len(), 1);
        assert_eq!(input.config.dkim[0].selector.as_str(), "outpost");
        assert!(!input.config.delivery.ipv6);
        assert_eq!(input.smtp_user, "hello@example.com");
    }

    #[test]
    fn a_further_domain_shares_the_relay_with_a_key_and_addresses_of_its_own() {
        let first =
            Domain::new("example.com", "", "", "me@gmail.test", true, DmarcPolicy::Quarantine)
                .unwrap();
        let form = |domain: &str, sender: &str, forward_to: &str| ExtraDomainForm {
            domain: domain.into(),
            sender: sender.into(),
            forward_to: forward_to.into(),
            forwarding: Forwarding {
                catch_all: false,
                aliases: vec![AliasChoice { name: "shop".into(), to: "team@shop.test".into() }],
            },
        };
        let extra = first.check_extra(&[], &form(" Example.ORG ", "", "boss@mail.test")).unwrap();
        assert_eq!(extra.domain.as_str(), "example.org");
        assert_eq!(extra.sender, "hello@example.org");
        assert_eq!(extra.dkim_selector, "outpost");
        assert_eq!(extra.dmarc, DmarcPolicy::Quarantine, "the first domain's policy to begin with");
        // What cannot be added says which field.
        let refused = |typed: ExtraDomainForm, others: &[ExtraDomain]| {
            let error = first.check_extra(others, &typed).unwrap_err();
            (error.field, error.problem)
        };
        assert_eq!(
            refused(form("example.com", "", ""), &[]),
            (Field::Domain, Problem::Duplicate),
            "the first domain"
        );
        assert_eq!(
            refused(form("example.org", "", ""), std::slice::from_ref(&extra)),
            (Field::Domain, Problem::Duplicate)
        );
        assert_eq!(refused(form("example.net", "me@example.com", ""), &[]).0, Field::Sender);
        assert_eq!(
            refused(form("example.net", "", ""), &[]),
            (Field::ForwardTo, Problem::NeededForAliases),
            "aliases need its forwarding mailbox"
        );

        let input = first
            .relay_input(std::slice::from_ref(&extra), crate::certificate::Tls::SelfSigned)
            .unwrap();
        let domains: Vec<&str> = input.config.server.domains.iter().map(|d| d.as_str()).collect();
        assert_eq!(domains, ["example.com", "example.org"]);
        assert_eq!(input.config.server.hostname.as_str(), "mail.example.com", "one mail host");
        let keys: Vec<(&str, String)> = input
            .config
            .dkim
            .iter()
            .map(|key| (key.domain.as_str(), key.key_file.to_string()))
            .collect();
        assert_eq!(
            keys,
            [
                ("example.com", "/etc/outpost/dkim/outpost.pem".to_string()),
                ("example.org", "/etc/outpost/dkim/example.org.outpost.pem".to_string()),
            ],
            "the first domain's key stays where earlier installs put it"
        );
        let aliases: Vec<&str> = input.aliases.iter().map(|a| a.address.as_str()).collect();
        assert_eq!(aliases, ["*@example.com", "shop@example.org", "hello@example.org"]);
        assert_eq!(input.config.inbound.owner.unwrap().to_string(), "me@gmail.test");
        assert_eq!(input.smtp_user, "hello@example.com");

        // Receiving for the further domain alone still opens port 25.
        let sending_only =
            Domain::new("example.com", "", "", "", false, DmarcPolicy::None).unwrap();
        let input = sending_only
            .relay_input(std::slice::from_ref(&extra), crate::certificate::Tls::SelfSigned)
            .unwrap();
        assert!(!input.config.listeners.inbound.is_empty());
        assert_eq!(input.config.inbound.owner.unwrap().to_string(), "boss@mail.test");

        let installed = crate::profile::Installed {
            relay_version: "0.1.0".into(),
            addresses: vec!["198.51.100.10".parse().unwrap()],
            dkim: vec![
                ("outpost._domainkey.example.com".into(), "v=DKIM1; p=COM".into()),
                ("outpost._domainkey.example.org".into(), "v=DKIM1; p=ORG".into()),
            ],
            smtp_user: "hello@example.com".into(),
        };
        let dns = first.extra_dns_input(&extra, &installed);
        assert_eq!(
            (dns.domain.as_str(), dns.mail_host.as_str()),
            ("example.org", "mail.example.com")
        );
        assert!(!dns.host_records && dns.receive_mail);
        assert_eq!(dns.dkim, [("outpost".to_string(), "v=DKIM1; p=ORG".to_string())]);
        assert_eq!(dns.dmarc_reports.as_deref(), Some("boss@mail.test"));
        assert_eq!(
            first.dns_input(&installed, None).dkim[0].1,
            "v=DKIM1; p=COM",
            "each its own key"
        );
    }

    #[test]
    fn forwarding_turns_receiving_on_with_a_catch_all_and_aliases() {
        let domain =
            Domain::new("example.com", "", "", "me@gmail.com", false, DmarcPolicy::None).unwrap();
        assert!(domain.receives());
        assert_eq!(domain.relay_aliases().len(), 1, "the catch-all by default");
        let typed = Forwarding {
            catch_all: true,
            aliases: vec![
                AliasChoice { name: " Shop ".into(), to: "owner@shop.example".into() },
                AliasChoice { name: "news@example.com".into(), to: "me@gmail.com".into() },
            ],
        };
        let domain = domain.with_forwarding(typed).unwrap();
        assert_eq!(domain.forwarding.aliases[0].name, "shop");
        assert_eq!(domain.forwarding.aliases[1].name, "news");
        let aliases = domain.relay_aliases();
        assert_eq!(aliases[0].address, "shop@example.com");
        assert_eq!(aliases[0].destinations, ["owner@shop.example"]);
        assert_eq!(aliases[2].address, "*@example.com");
        let input = domain.relay_input(&[], crate::certificate::Tls::SelfSigned).unwrap();
        assert_eq!(input.config.listeners.inbound.len(), 2, "port 25 on IPv4 and IPv6");
        assert_eq!(input.config.inbound.owner.unwrap().to_string(), "me@gmail.com");
        assert_eq!(input.aliases, aliases);
        let without =
            Domain { forwarding: Forwarding { catch_all: false, aliases: vec![] }, ..domain };
        let kept = without.relay_aliases();
        assert_eq!(kept.len(), 1, "the sending address still reaches the mailbox: {kept:?}");
        assert_eq!(
            (kept[0].address.as_str(), kept[0].destinations.as_slice()),
            ("hello@example.com", ["me@gmail.com".to_string()].as_slice())
        );
        let typed = Forwarding {
            catch_all: false,
            aliases: vec![AliasChoice { name: "hello".into(), to: "team@shop.example".into() }],
        };
        let own = without.clone().with_forwarding(typed).unwrap().relay_aliases();
        assert_eq!(own.len(), 1, "an alias of its own replaces it: {own:?}");
        assert_eq!(own[0].destinations, ["team@shop.example"]);
    }

    #[test]
    fn aliases_that_cannot_work_name_their_row_and_field() {
        let domain =
            Domain::new("example.com", "", "", "me@gmail.com", false, DmarcPolicy::None).unwrap();
        let invalid = |name: &str, to: &str| {
            let alias = AliasChoice { name: name.into(), to: to.into() };
            let first = AliasChoice { name: "first".into(), to: "me@gmail.com".into() };
            let forwarding = Forwarding { catch_all: true, aliases: vec![first, alias] };
            domain.clone().with_forwarding(forwarding).unwrap_err()
        };
        let error = invalid("", "me@gmail.com");
        assert_eq!(
            (error.field, error.item, error.problem),
            (Field::AliasName, Some(1), Problem::Empty)
        );
        assert_eq!(invalid("a b", "me@gmail.com").problem, Problem::BadLocalPart);
        assert_eq!(
            invalid("x@other.org", "me@gmail.com").problem,
            Problem::OutsideDomain { domain: "example.com".into() }
        );
        assert_eq!(invalid("First", "me@gmail.com").problem, Problem::Duplicate);
        assert_eq!(invalid("SRS0", "me@gmail.com").problem, Problem::ReservedName);
        let error = invalid("shop", "me@example.com");
        assert_eq!(
            (error.field, error.problem),
            (Field::AliasTo, Problem::ForwardsToItself { domain: "example.com".into() })
        );
        assert_eq!(invalid("shop", "nope").problem, Problem::NoAt);
        let sending_only =
            Domain::new("example.com", "", "", "", false, DmarcPolicy::None).unwrap();
        let alias = AliasChoice { name: "shop".into(), to: "me@gmail.com".into() };
        let error = sending_only
            .with_forwarding(Forwarding { catch_all: true, aliases: vec![alias] })
            .unwrap_err();
        assert_eq!((error.field, error.problem), (Field::ForwardTo, Problem::NeededForAliases));
    }
}
