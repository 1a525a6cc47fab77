//! The aliases file (`/etc/outpost/aliases`): which addresses at the relay's domains exist, and
//! where their mail goes. One entry per line:
//!
//! ```text
//! # comments and blank lines are ignored
//! hello@example.com: you@gmail.com
//! team@example.com: you@gmail.com, friend@example.org
//! *@example.com: you@gmail.com
//! ```
//!
//! `*@domain` is the catch-all: every other address at that domain. A destination at one of the
//! relay's own domains is looked up again (an alias of an alias). Managed with
//! `outpost-relay alias add|remove|list`; the running relay reads it again when it changes.

use std::path::Path;

use outpost_relay_api as api;
use outpost_relay_config::MailAddress;

/// Why the file or a change to it was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The file could not be read or written.
    #[error("cannot {action} {path}: {reason}")]
    Io {
        /// What we tried.
        action: &'static str,
        /// The file.
        path: String,
        /// Why not.
        reason: String,
    },
    /// A line is not `address: destination, ...`.
    #[error("{path}:{line}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An alias given to `alias add|remove` is unusable.
    #[error("{0}")]
    Invalid(String),
    /// `alias remove` of an alias that is not there.
    #[error("there is no alias `{0}`")]
    NoSuchAlias(String),
}

/// The file's entries, in file order. Addresses are kept lower-case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases {
    entries: Vec<(String, Vec<MailAddress>)>,
}

impl Aliases {
    /// Reads the file; a missing file has no aliases.
    pub fn load(path: &Path) -> Result<Aliases, Error> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Aliases::parse(&text, &name),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Aliases::default()),
            Err(error) => Err(Error::Io { action: "read", path: name, reason: error.to_string() }),
        }
    }

    /// Parses the file's text; `name` only names it in errors.
    pub fn parse(text: &str, name: &str) -> Result<Aliases, Error> {
        let mut aliases = Aliases::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |reason: String| Error::Malformed {
                path: name.to_string(),
                line: index + 1,
                reason,
            };
            let (address, destinations) = line
                .split_once(':')
                .ok_or_else(|| malformed("expected `address: destination, ...`".into()))?;
            let address = check_alias(address).map_err(malformed)?;
            let destinations = parse_destinations(destinations).map_err(malformed)?;
            if aliases.get(&address).is_some() {
                return Err(malformed(format!("`{address}` is listed twice")));
            }
            aliases.entries.push((address, destinations));
        }
        Ok(aliases)
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut text = String::from(
            "# Addresses outpost-relay accepts mail for, and where it forwards it.\n\
             # `*@domain` is every other address there. Manage with `outpost-relay alias`.\n",
        );
        for (address, destinations) in &self.entries {
            let destinations: Vec<String> = destinations.iter().map(ToString::to_string).collect();
            text.push_str(&format!("{address}: {}\n", destinations.join(", ")));
        }
        text
    }

    /// Writes the file atomically; an existing file keeps its owner and mode (the installer
    /// makes it readable by the relay).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let options = outpost_safe_file::Options::PRIVATE
            .mode(0o640)
            .existing(outpost_safe_file::Existing::ReplaceKeepingOwner);
        outpost_safe_file::write(path, self.to_text().as_bytes(), options).map_err(|error| {
            Error::Io {
                action: "write",
                path: path.display().to_string(),
                reason: error.to_string(),
            }
        })
    }

    /// Where mail to exactly `address` (lower-case) goes, if it is listed.
    pub fn get(&self, address: &str) -> Option<&[MailAddress]> {
        self.entries
            .iter()
            .find(|(alias, _)| alias == address)
            .map(|(_, destinations)| destinations.as_slice())
    }

    /// Adds an alias or replaces its destinations; true if it existed.
    pub fn set(&mut self, address: &str, destinations: &[String]) -> Result<bool, Error> {
        let address = check_alias(address).map_err(Error::Invalid)?;
        let destinations = parse_destinations(&destinations.join(",")).map_err(Error::Invalid)?;
        if let Some(entry) = self.entries.iter_mut().find(|(alias, _)| *alias == address) {
            entry.1 = destinations;
            return Ok(true);
        }
        self.entries.push((address, destinations));
        Ok(false)
    }

    /// Removes an alias.
    pub fn remove(&mut self, address: &str) -> Result<(), Error> {
        let address = address.trim().to_lowercase();
        let before = self.entries.len();
        self.entries.retain(|(alias, _)| *alias != address);
        if self.entries.len() == before {
            return Err(Error::NoSuchAlias(address));
        }
        Ok(())
    }

    /// The entries, for `alias list`.
    pub fn list(&self) -> Vec<api::Alias> {
        self.entries
            .iter()
            .map(|(address, destinations)| api::Alias {
                address: address.clone(),
                destinations: destinations.iter().map(ToString::to_string).collect(),
            })
            .collect()
    }
}

/// An alias: `local@domain` or `*@domain`, lower-case.
fn check_alias(address: &str) -> Result<String, String> {
    let address = address.trim().to_lowercase();
    let checked = match address.strip_prefix("*@") {
        Some(domain) => domain.parse::<outpost_relay_config::DomainName>().map(|_| ()),
        None => address.parse::<MailAddress>().map(|_| ()),
    };
    checked.map_err(|reason| format!("`{address}` is not an address or `*@domain`: {reason}"))?;
    Ok(address)
}

fn parse_destinations(text: &str) -> Result<Vec<MailAddress>, String> {
    let mut destinations: Vec<MailAddress> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let destination: MailAddress = part.parse()?;
        if !destinations.iter().any(|known| same_address(known, &destination)) {
            destinations.push(destination);
        }
    }
    if destinations.is_empty() {
        return Err("no destination: give at least one address to forward to".into());
    }
    Ok(destinations)
}

/// The same mailbox: the domain is never case-sensitive, and no provider we forward to treats
/// the local part's case as meaningful.
pub fn same_address(one: &MailAddress, other: &MailAddress) -> bool {
    one.to_string().eq_ignore_ascii_case(&other.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_parses_saves_and_reads_back() {
        let text = "# mine\nHello@Example.com: me@gmail.com, Friend@Example.org, me@gmail.com\n\n*@example.com: me@gmail.com\n";
        let aliases = Aliases::parse(text, "aliases").unwrap();
        assert_eq!(aliases.get("hello@example.com").unwrap().len(), 2, "duplicates are merged");
        assert_eq!(aliases.get("*@example.com").unwrap()[0].to_string(), "me@gmail.com");
        assert!(aliases.get("other@example.com").is_none());
        let again = Aliases::parse(&aliases.to_text(), "aliases").unwrap();
        assert_eq!(again, aliases);
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("aliases");
        aliases.save(&path).unwrap();
        assert_eq!(Aliases::load(&path).unwrap(), aliases);
        assert_eq!(Aliases::load(&directory.path().join("missing")).unwrap(), Aliases::default());
    }

    #[test]
    fn bad_lines_name_their_line_and_reason() {
        for (text, reason) in [
            ("hello@example.com me@gmail.com\n", "expected"),
            ("hello: me@gmail.com\n", "not an address"),
            ("hello@example.com:\n", "no destination"),
            ("hello@example.com: me@\n", "me@"),
            ("a@example.com: x@gmail.com\nA@example.com: y@gmail.com\n", "twice"),
        ] {
            let error = Aliases::parse(text, "aliases").unwrap_err();
            assert!(error.to_string().contains(reason), "{text:?}: {error}");
            assert!(error.to_string().starts_with("aliases:"), "{error}");
        }
    }

    #[test]
    fn aliases_are_added_changed_and_removed() {
        let mut aliases = Aliases::default();
        assert!(!aliases.set("Team@example.com", &["a@gmail.com".into()]).unwrap());
        assert!(
            aliases.set("team@example.com", &["b@gmail.com".into(), "c@x.org".into()]).unwrap()
        );
        assert_eq!(aliases.list()[0].destinations, ["b@gmail.com", "c@x.org"]);
        assert!(matches!(aliases.set("nobody", &["a@gmail.com".into()]), Err(Error::Invalid(_))));
        assert!(matches!(aliases.set("x@example.com", &[]), Err(Error::Invalid(_))));
        aliases.remove("TEAM@example.com").unwrap();
        assert_eq!(
            aliases.remove("team@example.com"),
            Err(Error::NoSuchAlias("team@example.com".into()))
        );
    }
}
