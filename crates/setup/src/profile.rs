//! The wizard's persisted state: where the user is and what they chose, never a secret.
//!
//! Secrets (passwords, keys, tokens) live only in the OS keychain; the profile may refer to them
//! by name but never holds them, because it is a plain file in the user's config directory.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The wizard's steps, in order (DESIGN.md §2).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    ts_rs::TS,
)]
#[serde(rename_all = "kebab-case")]
#[ts(rename = "StepId")]
pub enum Step {
    /// What you need and what will happen.
    #[default]
    Welcome,
    /// Pick a VPS provider, or say you have a server.
    Provider,
    /// Host, user, password or key; pin the host key.
    Connect,
    /// Can this server send mail?
    Check,
    /// Domain, mail host name, sending address.
    Domain,
    /// Upload and start the relay.
    Install,
    /// Records to paste, checked live.
    Dns,
    /// A certificate from Let's Encrypt.
    Certificate,
    /// Send one message and prove it passes.
    TestEmail,
    /// Status, settings, maintenance.
    Dashboard,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 10] = [
        Step::Welcome,
        Step::Provider,
        Step::Connect,
        Step::Check,
        Step::Domain,
        Step::Install,
        Step::Dns,
        Step::Certificate,
        Step::TestEmail,
        Step::Dashboard,
    ];
}

/// The languages the app speaks (the UI has a catalogue for each). Until the user picks one the
/// app follows the system's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    En,
    /// Kazakh.
    Kk,
    /// Russian.
    Ru,
    /// Simplified Chinese.
    Zh,
}

impl Language {
    /// The language for a BCP 47 or POSIX locale name (`ru-UA`, `zh_CN.UTF-8`, `kk`), by its
    /// primary subtag; none for a language the app does not speak.
    pub fn from_locale(name: &str) -> Option<Language> {
        let primary = name.split(['-', '_', '.', '@']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Language::En),
            "kk" => Some(Language::Kk),
            "ru" => Some(Language::Ru),
            "zh" => Some(Language::Zh),
            _ => None,
        }
    }

    /// The first of the user's preferred locales the app speaks, else English.
    pub fn preferred<'a>(locales: impl IntoIterator<Item = &'a str>) -> Language {
        locales.into_iter().find_map(Language::from_locale).unwrap_or(Language::En)
    }
}

/// The non-secret state of one setup, saved after every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Profile {
    /// The format of this file; a newer app may migrate older ones.
    pub format: u32,
    /// The step on screen.
    pub step: Step,
    /// The furthest step the user has reached; steps up to it can be revisited.
    pub reached: Step,
    /// The VPS provider chosen in step 2 (`providers` id), or none for "I already have a server".
    pub provider: Option<String>,
    /// The server, once connected and its host key confirmed (step 3).
    pub server: Option<crate::choices::Server>,
    /// The domain choices (step 5).
    pub domain: Option<crate::choices::Domain>,
    /// What the last successful install left on the server (step 6).
    pub installed: Option<Installed>,
    /// The relay gets its certificate from a CA (step 8), for these names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<crate::certificate::CertificateChoice>,
    /// The last test email's recipient and mailbox (its password in the keychain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_email: Option<crate::test_email::TestEmail>,
    /// Whether a test email was delivered (step 9 done).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test_delivered: bool,
    /// A DKIM key rotation under way (the dashboard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkim_rotation: Option<crate::dkim_rotation::DkimRotation>,
    /// Further domains on the same relay (the dashboard's "Domains").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_domains: Vec<crate::choices::ExtraDomain>,
    /// The language the user picked; none: the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
}

/// What the last install left on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    /// The relay's version.
    pub relay_version: String,
    /// The server's public addresses, as the checks found them.
    #[ts(as = "Vec<String>")]
    pub addresses: Vec<std::net::IpAddr>,
    /// The DKIM record's name and TXT value, for the DNS step.
    pub dkim: Vec<(String, String)>,
    /// The SMTP user (its password is in the keychain).
    pub smtp_user: String,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            format: Profile::FORMAT,
            step: Step::Welcome,
            reached: Step::Welcome,
            provider: None,
            server: None,
            domain: None,
            installed: None,
            certificate: None,
            test_email: None,
            test_delivered: false,
            dkim_rotation: None,
            extra_domains: Vec::new(),
            language: None,
        }
    }
}

impl Profile {
    /// The format this version writes.
    pub const FORMAT: u32 = 1;

    /// Moves to `step`, remembering the furthest step reached.
    pub fn go_to(&mut self, step: Step) {
        self.step = step;
        self.reached = self.reached.max(step);
    }

    /// Remembers the server connected to. Another server than before: what was installed on
    /// the old one says nothing about this one, so it is forgotten.
    pub fn connected(&mut self, server: crate::choices::Server) {
        if self.server.as_ref().is_some_and(|old| old.host != server.host) {
            // A new server has none of the old one's install, certificate or delivered test.
            self.uninstalled();
        }
        self.server = Some(server);
    }

    /// The domain chosen (step 5). The same domain keeps its signing key and any rotation under
    /// way; another domain starts without either.
    pub fn choose_domain(&mut self, mut domain: crate::choices::Domain) {
        match &self.domain {
            Some(old) if old.domain == domain.domain => {
                domain.dkim_selector = old.dkim_selector.clone()
            }
            _ => self.dkim_rotation = None,
        }
        // A domain added on the dashboard that becomes the first one is not added twice.
        self.extra_domains.retain(|extra| extra.domain != domain.domain);
        self.domain = Some(domain);
    }

    /// Every domain on the relay, the first one first.
    pub fn domain_names(&self) -> Vec<String> {
        let first = self.domain.iter().map(|domain| domain.domain.to_string());
        first.chain(self.extra_domains.iter().map(|extra| extra.domain.to_string())).collect()
    }

    /// The relay is gone from the server: no install, certificate or delivered test, and the
    /// wizard back at the Install step (the server and domain are kept for a new install).
    pub fn uninstalled(&mut self) {
        self.installed = None;
        self.certificate = None;
        self.test_delivered = false;
        self.dkim_rotation = None;
        if let Some(domain) = &mut self.domain {
            // A new install makes a new key under the first selector.
            domain.dkim_selector = crate::choices::Domain::DKIM_SELECTOR.into();
        }
        if self.step > Step::Install {
            self.step = Step::Install;
        }
        if self.reached > Step::Install {
            self.reached = Step::Install;
        }
    }
}

/// Why the profile could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file system refused.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What we were doing, e.g. `write`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What [`Store::load`] found.
#[derive(Debug)]
pub struct Loaded {
    /// The profile to use.
    pub profile: Profile,
    /// If the file was unreadable, where the damaged copy was moved, so nothing is lost.
    pub set_aside: Option<PathBuf>,
}

/// The profile file in a directory (the app's OS config directory).
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The file name inside the directory.
    pub const FILE_NAME: &'static str = "profile.json";

    /// A store keeping its file in `directory` (created on first save).
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        Store { path: directory.into().join(Self::FILE_NAME) }
    }

    /// The profile file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the profile. A missing file gives a fresh profile; a damaged one is moved aside
    /// (reported in [`Loaded::set_aside`]) and a fresh profile is used.
    pub fn load(&self) -> Result<Loaded, Error> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Loaded { profile: Profile::default(), set_aside: None });
            }
            Err(source) => {
                return Err(Error::Io { action: "read", path: self.path.clone(), source });
            }
        };
        match serde_json::from_str::<Profile>(&text) {
            Ok(mut profile) => {
                // A hand-edited or older file may say it is on a step beyond the furthest reached.
                profile.reached = profile.reached.max(profile.step);
                Ok(Loaded { profile, set_aside: None })
            }
            Err(_) => {
                let aside = self.path.with_extension("json.damaged");
                fs::rename(&self.path, &aside).map_err(|source| Error::Io {
                    action: "move aside",
                    path: self.path.clone(),
                    source,
                })?;
                Ok(Loaded { profile: Profile::default(), set_aside: Some(aside) })
            }
        }
    }

    /// Writes the profile atomically: a crash leaves either the old file or the new one. It is
    /// readable by the user alone (0600): it names their server and domain.
    pub fn save(&self, profile: &Profile) -> Result<(), Error> {
        let directory = self.path.parent().expect("the store path is <directory>/profile.json");
        fs::create_dir_all(directory).map_err(|source| Error::Io {
            action: "create",
            path: directory.to_path_buf(),
            source,
        })?;
        let mut text = serde_json::to_string_pretty(profile).expect("a profile serializes");
        text.push('\n');
        outpost_safe_file::write(&self.path, text.as_bytes(), outpost_safe_file::Options::PRIVATE)
            .map_err(|source| Error::Io { action: "write", path: self.path.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_an_uninstall_the_wizard_is_back_at_install_with_the_server_and_domain_kept() {
        let mut profile = Profile::default();
        profile.go_to(Step::Dashboard);
        profile.installed = Some(Installed {
            relay_version: "0.1.0".into(),
            addresses: Vec::new(),
            dkim: Vec::new(),
            smtp_user: "hello@example.com".into(),
        });
        profile.test_delivered = true;
        profile.uninstalled();
        assert_eq!((profile.step, profile.reached), (Step::Install, Step::Install));
        assert_eq!((profile.installed, profile.test_delivered), (None, false));
        let mut early = Profile::default();
        early.go_to(Step::Connect);
        early.uninstalled();
        assert_eq!(early.step, Step::Connect, "an earlier step stays where it is");
    }

    #[test]
    fn the_same_domain_saved_again_keeps_its_signing_key_and_rotation() {
        let domain = |name: &str| {
            crate::choices::Domain::new(
                name,
                "",
                "",
                "",
                false,
                crate::dns::records::DmarcPolicy::None,
            )
            .unwrap()
        };
        let mut profile = Profile::default();
        profile.choose_domain(domain("example.com"));
        profile.domain.as_mut().unwrap().dkim_selector = "outpost2".into();
        profile.dkim_rotation = Some(crate::dkim_rotation::DkimRotation {
            from: "outpost".into(),
            to: "outpost2".into(),
            record: "outpost2._domainkey.example.com".into(),
            value: "v=DKIM1; p=NEW".into(),
            old_record: "outpost._domainkey.example.com".into(),
            old_value: "v=DKIM1; p=OLD".into(),
            switched: Some(1),
        });
        profile.choose_domain(domain("example.com"));
        assert_eq!(profile.domain.as_ref().unwrap().dkim_selector, "outpost2");
        assert!(profile.dkim_rotation.is_some());
        profile.choose_domain(domain("example.org"));
        assert_eq!(profile.domain.as_ref().unwrap().dkim_selector, "outpost");
        assert_eq!(profile.dkim_rotation, None);
    }

    #[test]
    fn a_missing_file_gives_a_fresh_profile() {
        let directory = tempfile::tempdir().unwrap();
        let loaded = Store::new(directory.path().join("outpost")).load().unwrap();
        assert_eq!(loaded.profile, Profile::default());
        assert_eq!(loaded.set_aside, None);
    }

    #[test]
    fn a_saved_profile_is_loaded_back() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::new(directory.path().join("outpost"));
        let mut profile = Profile::default();
        profile.go_to(Step::Check);
        profile.go_to(Step::Connect);
        store.save(&profile).unwrap();
        let loaded = store.load().unwrap().profile;
        assert_eq!(loaded.step, Step::Connect);
        assert_eq!(loaded.reached, Step::Check);
        let text = fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("\"step\": \"connect\""), "{text}");
        let files: Vec<_> = fs::read_dir(directory.path().join("outpost")).unwrap().collect();
        assert_eq!(files.len(), 1, "no temporary file is left");
    }

    #[cfg(unix)]
    #[test]
    fn the_profile_is_readable_by_its_owner_alone() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().unwrap();
        let store = Store::new(directory.path().join("outpost"));
        store.save(&Profile::default()).unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    fn server(host: &str) -> crate::choices::Server {
        crate::choices::Server {
            host: host.into(),
            port: 22,
            user: "root".into(),
            fingerprint: "SHA256:x".into(),
            login: crate::choices::Login::Password,
        }
    }

    #[test]
    fn connecting_to_another_server_forgets_the_install() {
        let installed = Installed {
            relay_version: "0.1.0".into(),
            addresses: vec!["198.51.100.10".parse().unwrap()],
            dkim: Vec::new(),
            smtp_user: "hello@example.com".into(),
        };
        let mut profile = Profile {
            installed: Some(installed),
            certificate: Some(Default::default()),
            test_delivered: true,
            ..Profile::default()
        };
        profile.connected(server("198.51.100.10"));
        profile.connected(server("198.51.100.10"));
        assert!(profile.installed.is_some(), "the same server keeps its install");
        assert!(profile.certificate.is_some() && profile.test_delivered);
        profile.connected(server("203.0.113.7"));
        assert!(profile.installed.is_none());
        assert!(profile.certificate.is_none() && !profile.test_delivered);
    }

    #[test]
    fn the_system_language_is_the_first_preferred_one_spoken() {
        assert_eq!(Language::preferred(["ru_RU.UTF-8"]), Language::Ru);
        assert_eq!(Language::preferred(["de-DE", "zh-Hans-CN"]), Language::Zh);
        assert_eq!(Language::preferred(["kk"]), Language::Kk);
        assert_eq!(Language::preferred(["C", "POSIX"]), Language::En);
        assert_eq!(Language::preferred([]), Language::En);
    }

    #[test]
    fn the_language_is_saved_and_kept_through_a_new_server_and_an_uninstall() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::new(directory.path());
        let mut profile = Profile { language: Some(Language::Kk), ..Profile::default() };
        profile.connected(server("198.51.100.10"));
        profile.connected(server("203.0.113.7"));
        profile.uninstalled();
        store.save(&profile).unwrap();
        let text = fs::read_to_string(store.path()).unwrap();
        assert!(text.contains(r#""language": "kk""#), "{text}");
        assert_eq!(store.load().unwrap().profile.language, Some(Language::Kk));
        // A profile from before languages follows the system's.
        fs::write(store.path(), r#"{"format":1,"step":"connect","reached":"connect"}"#).unwrap();
        assert_eq!(store.load().unwrap().profile.language, None);
    }

    #[test]
    fn a_damaged_file_is_set_aside_not_lost() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::new(directory.path());
        fs::write(store.path(), "{ not json").unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.profile, Profile::default());
        let aside = loaded.set_aside.unwrap();
        assert_eq!(fs::read_to_string(aside).unwrap(), "{ not json");
    }

    #[test]
    fn fields_from_a_newer_or_older_app_do_not_break_loading() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::new(directory.path());
        fs::write(store.path(), r#"{"format":1,"step":"dns","futureField":true}"#).unwrap();
        let profile = store.load().unwrap().profile;
        assert_eq!(profile.step, Step::Dns);
        assert_eq!(profile.reached, Step::Dns, "the step on screen counts as reached");
    }

    #[test]
    fn steps_serialize_as_the_ui_names_them() {
        let names: Vec<String> =
            Step::ALL.iter().map(|step| serde_json::to_string(step).unwrap()).collect();
        assert_eq!(
            names.join(","),
            r#""welcome","provider","connect","check","domain","install","dns","certificate","test-email","dashboard""#
        );
    }
}
