//! Advanced settings: where the checks look on the network. The defaults are the internet's;
//! a `settings.toml` beside the profile changes them (the tests point everything into their
//! own network this way). Nothing here is secret.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use crate::checks;

/// The settings file's name, in the app's config directory.
pub const FILE_NAME: &str = "settings.toml";

/// Advanced settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// The mail server the outbound port-25 check connects to (`host:port`).
    pub outbound_probe: Option<String>,
    /// DNS servers used to find a zone's authoritative servers (instead of the system's).
    pub dns_finders: Vec<SocketAddr>,
    /// The caching resolvers asked to show propagation (instead of well-known public ones).
    pub public_resolvers: Vec<SocketAddr>,
}

impl Settings {
    /// Reads `settings.toml` from `directory`; a missing file gives the defaults.
    pub fn load(directory: &Path) -> Result<Settings, String> {
        let path = directory.join(FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|error| format!("{} is not valid: {}", path.display(), error.message())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(error) => Err(format!("cannot read {}: {error}", path.display())),
        }
    }

    /// The server checks' settings.
    pub fn checks(&self) -> checks::Settings {
        match &self.outbound_probe {
            Some(probe) => checks::Settings { outbound_probe: probe.clone() },
            None => checks::Settings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_gives_the_defaults_and_a_file_overrides_them() {
        let directory = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(directory.path()).unwrap(), Settings::default());
        std::fs::write(
            directory.path().join(FILE_NAME),
            "outbound-probe = \"198.51.100.25:25\"\ndns-finders = [\"198.51.100.53:53\"]\n",
        )
        .unwrap();
        let settings = Settings::load(directory.path()).unwrap();
        assert_eq!(settings.checks().outbound_probe, "198.51.100.25:25");
        assert_eq!(settings.dns_finders.len(), 1);
        std::fs::write(directory.path().join(FILE_NAME), "typo = 1\n").unwrap();
        assert!(Settings::load(directory.path()).unwrap_err().contains("typo"));
    }
}
