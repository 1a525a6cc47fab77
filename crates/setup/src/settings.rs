//! Advanced settings: where the checks look on the network. The defaults are the internet's;
//! a `settings.toml` beside the profile changes them (the tests point everything into their
//! own network this way). Nothing here is secret.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// The ACME CA's directory (instead of Let's Encrypt with its staging directory first).
    pub acme_directory: Option<String>,
    /// A root certificate (PEM file on this computer) the relay trusts for the ACME directory
    /// itself: test CAs only. Uploaded to the server as [`ACME_DIRECTORY_ROOT`].
    pub acme_directory_root: Option<PathBuf>,
    /// The CA's CAA identity (RFC 8659), for a directory Outpost does not know.
    pub caa_identity: Option<String>,
    /// Extra root certificates (PEM file) this computer trusts when it checks the relay's
    /// certificate chain, besides the system's.
    pub trusted_roots: Option<PathBuf>,
    /// The domain Gmail's "Send mail as" confirmation comes from (instead of google.com).
    pub gmail_confirmation_domain: Option<String>,
    /// Seconds between the background health checks while the app runs (instead of 15 min).
    pub health_interval_seconds: Option<u64>,
    /// The update feed (a URL of a static JSON file), instead of the one the app was built with:
    /// an organisation's own, say. Its packages must be signed by `update-public-key`.
    pub update_feed: Option<String>,
    /// The minisign public key (as `tauri signer generate` writes it) update packages must be
    /// signed with, instead of the app's own.
    pub update_public_key: Option<String>,
}

/// Where the ACME directory's root goes on the server, when the settings give one.
pub const ACME_DIRECTORY_ROOT: &str = "/etc/outpost/acme-directory-root.pem";

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

    /// How often the app checks the server's health in the background: every 15 minutes
    /// unless told (never more often than every 5 seconds).
    pub fn health_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.health_interval_seconds.unwrap_or(15 * 60).max(5))
    }

    /// Where Gmail's confirmation for "Send mail as" comes from: `google.com` unless told.
    pub fn gmail_confirmation_domain(&self) -> &str {
        self.gmail_confirmation_domain.as_deref().unwrap_or("google.com")
    }

    /// The relay's ACME settings: Let's Encrypt (staging first) unless told otherwise.
    pub fn acme(&self) -> outpost_relay_config::Acme {
        let mut acme = outpost_relay_config::Acme::lets_encrypt_with_staging();
        if let Some(directory) = &self.acme_directory {
            acme.directory = directory.clone();
            acme.staging_directory = None;
        }
        if self.acme_directory_root.is_some() {
            acme.directory_root = Some(ACME_DIRECTORY_ROOT.parse().expect("an absolute path"));
        }
        acme
    }

    /// The CAA identity of the CA the relay will ask, when known.
    pub fn caa_identity(&self) -> Option<String> {
        self.caa_identity.clone().or_else(|| {
            crate::certificate::caa_identity(&self.acme().directory).map(str::to_string)
        })
    }

    /// The extra roots this computer trusts, read from `trusted-roots`.
    pub fn trusted_roots(&self) -> Result<Vec<u8>, String> {
        match &self.trusted_roots {
            Some(path) => std::fs::read(path)
                .map_err(|error| format!("cannot read trusted-roots {}: {error}", path.display())),
            None => Ok(Vec::new()),
        }
    }

    /// The server checks' settings.
    pub fn checks(&self) -> checks::Settings {
        match &self.outbound_probe {
            Some(probe) => checks::Settings { outbound_probe: probe.clone(), mail_host: None },
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
