//! The one definition of `outpost-relay`'s config file: the setup engine writes it, the relay
//! reads it, and neither has a second copy of these types.
//!
//! Brief overview:
//! - [`Config`] and its sections ([`Server`], [`Listeners`], [`Tls`], [`DkimKey`], [`Queue`],
//!   [`Limits`]) with every default in one place;
//! - validated values ([`DomainName`], [`Selector`], [`Duration`], [`ByteSize`],
//!   [`AbsolutePath`]) that check themselves while parsing;
//! - [`Config::parse`] / [`Config::load`], whose [`Error`] names the file, line, column and
//!   reason; [`Config::to_toml`] for writing.
//!
//! The file is TOML with unknown fields rejected, so a typo is an error, never a silently
//! ignored setting.

mod model;
mod value;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

pub use model::{
    Acme, CertificateFiles, Config, Delivery, DkimAlgorithm, DkimKey, Dns, Inbound, Limits,
    Listeners, Log, LogLevel, MtaSts, MtaStsMode, Queue, Server, Tls, Users,
};
pub use value::{AbsolutePath, ByteSize, DomainName, Duration, MailAddress, Selector, check_label};

/// Where the relay looks for its config unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/outpost/relay.toml";

/// A config file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// The file, as given by the caller.
    pub file: PathBuf,
    /// 1-based line and column of the offending text, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong, in a sentence a person can act on.
    pub reason: String,
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(formatter, ":{line}:{column}")?;
        }
        write!(formatter, ": {}", self.reason)
    }
}

impl Config {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let source = std::fs::read_to_string(path).map_err(|error| Error {
            file: path.to_path_buf(),
            position: None,
            reason: format!("cannot read the file: {error}"),
        })?;
        Config::parse(&source, path)
    }

    /// Parses and checks config text; `file` only names the source in errors.
    pub fn parse(source: &str, file: &Path) -> Result<Config, Error> {
        let config: Config = toml::from_str(source).map_err(|error| Error {
            file: file.to_path_buf(),
            position: error.span().map(|span| line_and_column(source, span.start)),
            reason: error.message().trim().to_string(),
        })?;
        config.validate().map_err(|problem| Error {
            file: file.to_path_buf(),
            position: locate(source, &problem.key).map(|offset| line_and_column(source, offset)),
            reason: format!("{}: {}", problem.key_text(), problem.reason),
        })?;
        Ok(config)
    }

    /// A config for `server` with every other section at its default (not yet checked: see
    /// [`Config::check`]).
    pub fn new(server: Server) -> Config {
        Config {
            server,
            listeners: Listeners::default(),
            tls: Tls::default(),
            users: Users::default(),
            dkim: Vec::new(),
            queue: Queue::default(),
            limits: Limits::default(),
            log: Log::default(),
            dns: Dns::default(),
            delivery: Delivery::default(),
            mta_sts: MtaSts::default(),
            inbound: Inbound::default(),
        }
    }

    /// Checks a config built in memory the way [`Config::parse`] checks a file: the error names
    /// the setting at fault (there is no line to point at).
    pub fn check(&self) -> Result<(), Error> {
        self.validate().map_err(|problem| Error {
            file: PathBuf::from("(built in memory)"),
            position: None,
            reason: format!("{}: {}", problem.key_text(), problem.reason),
        })
    }

    /// The MTA-STS policy file the relay serves (the mail host is the mx unless `mta_sts.mx`
    /// lists others): one function, so the app's `_mta-sts` id is of exactly this text.
    pub fn mta_sts_policy(&self) -> String {
        let mx: Vec<&str> = if self.mta_sts.mx.is_empty() {
            vec![self.server.hostname.as_str()]
        } else {
            self.mta_sts.mx.iter().map(DomainName::as_str).collect()
        };
        outpost_relay_api::mta_sts_policy(
            self.mta_sts.mode.as_str(),
            &mx,
            self.mta_sts.max_age.get().as_secs(),
        )
    }

    /// The config as TOML text, ready to be written to the server.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).expect("every config value serializes to TOML");
        format!(
            "# outpost-relay configuration, written by the Outpost app.\n\
             # Check it with `outpost-relay check-config {DEFAULT_PATH}` after editing by hand.\n\n{body}"
        )
    }

    /// Checks what a single value cannot check by itself: how the values relate.
    fn validate(&self) -> Result<(), Problem> {
        if self.server.domains.is_empty() {
            return Err(Problem::new(
                &["server", "domains"],
                "list at least one domain to send for",
            ));
        }
        if !self.listeners.inbound.is_empty() {
            match &self.inbound.owner {
                None => {
                    return Err(Problem::new(
                        &["inbound", "owner"],
                        "receiving mail needs an owner: the address that gets postmaster@ and abuse@ (inbound.owner = \"you@example.com\")",
                    ));
                }
                Some(owner) if self.server.domains.contains(owner.domain()) => {
                    return Err(Problem::new(
                        &["inbound", "owner"],
                        format!(
                            "`{owner}` is at one of this relay's own domains, which it only forwards; give an address elsewhere (your existing mailbox)"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if self.inbound.messages_per_address_per_hour == 0 {
            return Err(Problem::new(
                &["inbound", "messages_per_address_per_hour"],
                "must be at least 1",
            ));
        }
        if let Some(acme) = &self.tls.acme {
            if self.listeners.https.is_empty() && self.listeners.acme_http.is_empty() {
                return Err(Problem::new(
                    &["tls", "acme"],
                    "the CA's challenges need listeners.https (port 443) or listeners.acme_http (port 80); list at least one",
                ));
            }
            if !self.tls.certificates.is_empty() {
                return Err(Problem::new(
                    &["tls", "acme"],
                    "use either [tls.acme] or tls.certificates, not both",
                ));
            }
            for (name, url) in [
                ("directory", Some(&acme.directory)),
                ("staging_directory", acme.staging_directory.as_ref()),
            ] {
                if let Some(url) = url
                    && !url.starts_with("https://")
                {
                    return Err(Problem::new(
                        &["tls", "acme", name],
                        format!(
                            "`{url}` is not an https:// URL; ACME directories are only served over HTTPS"
                        ),
                    ));
                }
            }
            if let Some(contact) = &acme.contact
                && (!contact.contains('@') || contact.starts_with("mailto:"))
            {
                return Err(Problem::new(
                    &["tls", "acme", "contact"],
                    "give an e-mail address like you@example.com (without mailto:)",
                ));
            }
        }
        let mut seen_addresses = HashSet::new();
        for (name, address) in self.listeners.all() {
            // Port 0 means "any free port" (tests): two of those never clash.
            if address.port() != 0 && !seen_addresses.insert(address) {
                return Err(Problem::new(
                    &["listeners", name],
                    format!("{address} is listed twice; each address can be used by one listener"),
                ));
            }
        }
        if self.listeners.all().next().is_none() {
            return Err(Problem::new(
                &["listeners"],
                "every listener is empty, so the relay would do nothing",
            ));
        }
        let mut seen_keys = HashSet::new();
        for (index, key) in self.dkim.iter().enumerate() {
            let index = index.to_string();
            if !self.server.domains.contains(&key.domain) {
                return Err(Problem::new(
                    &["dkim", &index, "domain"],
                    format!("`{}` is not one of server.domains", key.domain),
                ));
            }
            if !seen_keys.insert((&key.domain, &key.selector)) {
                return Err(Problem::new(
                    &["dkim", &index, "selector"],
                    format!("`{}` is used twice for `{}`", key.selector, key.domain),
                ));
            }
        }
        let queue = &self.queue;
        if queue.give_up_after.get().is_zero() {
            return Err(Problem::new(&["queue", "give_up_after"], "must be longer than 0s"));
        }
        if queue.first_retry.get().is_zero() || queue.first_retry > queue.max_retry_interval {
            return Err(Problem::new(
                &["queue", "first_retry"],
                "must be longer than 0s and at most queue.max_retry_interval",
            ));
        }
        let limits = &self.limits;
        for (name, value) in [
            ("max_recipients", limits.max_recipients),
            ("max_connections", limits.max_connections),
            ("connections_per_address", limits.connections_per_address),
            ("auth_failures_before_block", limits.auth_failures_before_block),
            ("messages_per_user_per_hour", limits.messages_per_user_per_hour),
        ] {
            if value == 0 {
                return Err(Problem::new(&["limits", name], "must be at least 1"));
            }
        }
        if limits.login_deadline.get().is_zero() {
            return Err(Problem::new(&["limits", "login_deadline"], "must be longer than 0s"));
        }
        if queue.max_messages == 0 {
            return Err(Problem::new(&["queue", "max_messages"], "must be at least 1"));
        }
        if !(1..=50).contains(&self.delivery.connections_per_domain) {
            return Err(Problem::new(
                &["delivery", "connections_per_domain"],
                "must be between 1 and 50 (receivers throttle senders that open many)",
            ));
        }
        if self.delivery.port == 0 {
            return Err(Problem::new(&["delivery", "port"], "must be a port number, usually 25"));
        }
        if limits.max_message_size.bytes() < 1024 {
            return Err(Problem::new(&["limits", "max_message_size"], "must be at least 1 KiB"));
        }
        Ok(())
    }
}

/// A relation between values that does not hold, found after parsing.
struct Problem {
    /// The path of the value to blame, e.g. `["dkim", "0", "domain"]`.
    key: Vec<String>,
    reason: String,
}

impl Problem {
    fn new(key: &[&str], reason: impl Into<String>) -> Self {
        Problem { key: key.iter().map(|part| part.to_string()).collect(), reason: reason.into() }
    }

    /// The key as a person writes it: `dkim[1].domain`.
    fn key_text(&self) -> String {
        let mut text = String::new();
        for part in &self.key {
            if part.bytes().all(|byte| byte.is_ascii_digit()) {
                text.push_str(&format!("[{part}]"));
            } else {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(part);
            }
        }
        text
    }
}

/// Finds the byte offset of the value at `key` in the source, or of the deepest table on the way
/// that exists (a missing key is blamed on its table).
fn locate(source: &str, key: &[String]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(source).ok()?;
    let mut table = root.get_ref();
    let mut found = None;
    let mut parts = key.iter().peekable();
    while let Some(part) = parts.next() {
        let (_, value) = table.iter().find(|(name, _)| name.get_ref().as_ref() == part.as_str())?;
        found = Some(value.span().start);
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            DeValue::Array(items) => {
                let Some(index) = parts.next().and_then(|index| index.parse::<usize>().ok()) else {
                    break;
                };
                let item = items.get(index)?;
                found = Some(item.span().start);
                match item.get_ref() {
                    DeValue::Table(inner) => table = inner,
                    _ => break,
                }
            }
            _ => break,
        }
    }
    found
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests;
