//! Step 8, the certificate: what must hold before the relay asks a CA (the mail host's DNS points
//! at the server, ports 80 and 443 are free on it and reachable from outside, no CAA record
//! forbids the CA), and how the relay is set up for it. The relay does the ACME work itself
//! (`outpost-relay`'s `acme` module); the engine checks, switches it on and follows it.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;
use outpost_relay_config as config;
use serde::{Deserialize, Serialize};

use crate::dns::caa;
use crate::dns::check::Checker;

/// The Certificate step's choice, kept in the profile so a later install keeps it: the relay
/// gets its certificate over ACME, for the mail host and these extra names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct CertificateChoice {
    /// `mta-sts.<domain>` and `autoconfig.<domain>` when their DNS pointed at the server.
    pub names: Vec<String>,
    /// The CA and the relay's account there, once issued: what the optional CAA record of the
    /// DNS step names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub caa: Option<CaaPin>,
}

/// Who got the certificate: the CA's CAA identity (RFC 8659 §4.2) and the relay's account URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct CaaPin {
    /// The CA's domain, e.g. `letsencrypt.org`.
    pub issuer: String,
    /// The account URL (RFC 8657 `accounturi`).
    pub account: String,
}

impl CertificateChoice {
    /// Every name on the certificate: the mail host, then the extra names.
    pub fn all_names(&self, mail_host: &str) -> Vec<String> {
        std::iter::once(mail_host.to_ascii_lowercase()).chain(self.names.iter().cloned()).collect()
    }
}

/// How the relay's TLS is set up.
#[derive(Debug, Clone, Copy)]
pub enum Tls<'a> {
    /// Its own self-signed certificate; no web ports (before the Certificate step).
    SelfSigned,
    /// Ports 80 and 443 open (80 redirects, 443 serves MTA-STS and autoconfig), still
    /// self-signed: so they can be checked from outside before a CA is asked.
    Web,
    /// The certificate from a CA.
    Acme {
        /// The CA settings.
        acme: &'a config::Acme,
        /// Names besides the mail host.
        names: &'a [String],
    },
}

impl Tls<'_> {
    /// Applies this to a relay config.
    pub fn apply(self, config: &mut config::Config) -> Result<(), String> {
        if matches!(self, Tls::SelfSigned) {
            return Ok(());
        }
        config.listeners.https = config::Listeners::everywhere(443);
        config.listeners.acme_http = config::Listeners::everywhere(80);
        if let Tls::Acme { acme, names } = self {
            let mut acme = acme.clone();
            acme.names = names
                .iter()
                .map(|name| name.parse().map_err(|error: String| format!("{name}: {error}")))
                .collect::<Result<_, _>>()?;
            config.tls.acme = Some(acme);
        }
        Ok(())
    }
}

/// What stops the relay from getting a certificate, found before asking; the UI's catalogue
/// words each with its fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Blocker {
    /// The mail host's A or AAAA record (at the domain's own DNS servers) is missing or names
    /// another address: the CA would knock elsewhere.
    NotPointing {
        /// The name.
        name: String,
        /// `A` or `AAAA`.
        record: String,
        /// What the DNS has.
        found: Vec<String>,
        /// The server's addresses.
        expected: Vec<String>,
    },
    /// Another program listens on 80 or 443 on the server.
    PortTaken {
        /// The port.
        port: u16,
        /// The program, when `ss` names it.
        program: Option<String>,
    },
    /// The port cannot be reached from this computer (a provider's firewall, most often).
    PortClosed {
        /// The port.
        port: u16,
    },
    /// A CAA record allows only other CAs.
    CaaForbids {
        /// Where the record is.
        name: String,
        /// Its values.
        found: Vec<String>,
        /// The CA that would be asked.
        ca: String,
    },
    /// A CAA record allows the CA only for another account (`accounturi`, from an earlier
    /// server, say) or only by a challenge the relay does not answer (`validationmethods`).
    CaaRestricts {
        /// Where the record is.
        name: String,
        /// Its values.
        found: Vec<String>,
        /// The CA that would be asked.
        ca: String,
    },
}

/// Whether `name`'s addresses (as found) are the server's: at least one, and none elsewhere
/// (a stray address makes the CA's check fail half the time).
pub fn judge_pointing(
    name: &str,
    record: RecordType,
    found: &[String],
    server: &[IpAddr],
    required: bool,
) -> Option<Blocker> {
    let family = |ip: &IpAddr| match record {
        RecordType::AAAA => ip.is_ipv6(),
        _ => ip.is_ipv4(),
    };
    let expected: Vec<String> =
        server.iter().filter(|ip| family(ip)).map(ToString::to_string).collect();
    let ours = |value: &String| expected.iter().any(|ip| ip == value);
    let fine = if found.is_empty() { !required } else { found.iter().all(ours) };
    (!fine).then(|| Blocker::NotPointing {
        name: name.to_string(),
        record: record.to_string(),
        found: found.to_vec(),
        expected,
    })
}

/// The CAA set that applies to `name` (RFC 8659 §3: the closest name up the tree that has one,
/// the top-level domain excluded), with where it was found.
pub async fn caa_for(checker: &Checker, name: &str) -> Option<(String, Vec<String>)> {
    let mut candidate = name.trim_end_matches('.').to_ascii_lowercase();
    while candidate.contains('.') {
        if let Ok(values) = checker.values(&candidate, RecordType::CAA).await
            && !values.is_empty()
        {
            return Some((candidate, values));
        }
        candidate = candidate.split_once('.').map(|(_, parent)| parent.to_string())?;
    }
    None
}

/// The CA that will be asked, as CAA records name it, and the relay's account there if it has
/// one already.
#[derive(Debug, Clone, Copy)]
pub struct Asking<'a> {
    /// The CA's CAA identity.
    pub ca: &'a str,
    /// The relay's account URL at the CA.
    pub account: Option<&'a str>,
}

/// What the CAA records that apply to `name` say about asking `asking`; `None` when they
/// allow it.
pub async fn caa_blocker(checker: &Checker, name: &str, asking: Asking<'_>) -> Option<Blocker> {
    let (name, found) = caa_for(checker, name).await?;
    let ca = asking.ca.to_string();
    match caa::verdict(&found, asking.ca, asking.account) {
        caa::Verdict::Allows => None,
        caa::Verdict::OtherCa => Some(Blocker::CaaForbids { name, found, ca }),
        caa::Verdict::Restricted => Some(Blocker::CaaRestricts { name, found, ca }),
    }
}

/// The DNS checks: the mail host points at the server (A required, AAAA if any), and no CAA
/// record stands in the way (not checked for a CA whose identity is unknown).
pub async fn dns_blockers(
    checker: &Checker,
    mail_host: &str,
    server: &[IpAddr],
    asking: Option<Asking<'_>>,
) -> Vec<Blocker> {
    let mut blockers = Vec::new();
    for (record, required) in [(RecordType::A, true), (RecordType::AAAA, false)] {
        let found = checker.values(mail_host, record).await.unwrap_or_default();
        blockers.extend(judge_pointing(mail_host, record, &found, server, required));
    }
    if let Some(asking) = asking {
        blockers.extend(caa_blocker(checker, mail_host, asking).await);
    }
    blockers
}

/// Ports 80 and 443 taken on the server by another program (`ss` output).
pub fn ports_taken(ss_output: &str) -> Vec<Blocker> {
    crate::checks::busy_ports(ss_output, &[80, 443])
        .into_iter()
        .map(|busy| Blocker::PortTaken { port: busy.port, program: busy.program })
        .collect()
}

/// The extra names (`mta-sts.<domain>`, `autoconfig.<domain>`) whose A record points at the
/// server already and whose CAA records let the CA issue: only those can be on the
/// certificate (one name the CA refuses would fail the whole order).
pub async fn extra_names(
    checker: &Checker,
    domain: &str,
    server: &[IpAddr],
    asking: Option<Asking<'_>>,
) -> Vec<String> {
    let mut names = Vec::new();
    for prefix in ["mta-sts", "autoconfig"] {
        let name = format!("{prefix}.{domain}");
        let found = checker.values(&name, RecordType::A).await.unwrap_or_default();
        let pointing = !found.is_empty()
            && judge_pointing(&name, RecordType::A, &found, server, true).is_none();
        let allowed = match asking {
            Some(asking) => caa_blocker(checker, &name, asking).await.is_none(),
            None => true,
        };
        if pointing && allowed {
            names.push(name);
        }
    }
    names
}

/// Where the relay keeps its ACME accounts on the server (`tls.state_dir`/acme).
pub const ACME_DIR: &str = "/var/lib/outpost/tls/acme";

/// The relay's ACME account files (one JSON file per CA, holding the account's private key):
/// file name → content, read without a progress event.
async fn read_accounts<R: crate::remote::Remote>(
    remote: &R,
) -> Result<std::collections::BTreeMap<String, String>, crate::app::Error> {
    let listing =
        remote.run(&format!("ls -1 {ACME_DIR} 2>/dev/null || true"), b"", &mut |_, _| {}).await?;
    let mut accounts = std::collections::BTreeMap::new();
    for file in listing.stdout.lines().filter(|name| {
        name.starts_with("account-")
            && name.ends_with(".json")
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    }) {
        let path = format!("{ACME_DIR}/{file}");
        let output =
            remote.run(&format!("cat {}", crate::ssh::quote(&path)), b"", &mut |_, _| {}).await?;
        if output.status == Some(0) {
            accounts.insert(file.to_string(), output.stdout);
        }
    }
    Ok(accounts)
}

/// The account URL of the relay's stored account at `directory`, if it has one (a restored
/// server has its old account's file before the relay is asked to use it).
pub async fn stored_account<R: crate::remote::Remote>(
    remote: &R,
    directory: &str,
) -> Result<Option<String>, crate::app::Error> {
    /// The two fields of instant-acme's `AccountCredentials` that say which account it is.
    #[derive(serde::Deserialize)]
    struct Stored {
        id: String,
        directory: Option<String>,
    }
    let accounts = read_accounts(remote).await?;
    Ok(accounts
        .values()
        .filter_map(|json| serde_json::from_str::<Stored>(json).ok())
        .find(|stored| stored.directory.as_deref() == Some(directory))
        .map(|stored| stored.id))
}

/// Backs the relay's ACME accounts up to the keychain as one JSON object of file name →
/// content. Returns whether the keychain's copy changed.
pub async fn backup_accounts<R: crate::remote::Remote>(
    remote: &R,
    secrets: &dyn crate::secrets::SecretStore,
    server: &str,
) -> Result<bool, crate::app::Error> {
    let accounts = read_accounts(remote).await?;
    if accounts.is_empty() {
        return Ok(false);
    }
    let json = serde_json::to_string(&accounts).expect("a map of strings serializes");
    let name = crate::secrets::SecretName::AcmeAccounts { server: server.to_string() };
    if secrets.get(&name).await?.as_deref() == Some(json.as_str()) {
        return Ok(false);
    }
    secrets.set(&name, &json).await?;
    Ok(true)
}

/// Whether this computer reaches `host:port` (what a CA out on the internet would, too).
pub async fn reachable(host: &str, port: u16) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(8), tokio::net::TcpStream::connect((host, port)))
            .await,
        Ok(Ok(_))
    )
}

/// The CA's CAA identity for the well-known directories (RFC 8659 §4.2: the domain it checks).
pub fn caa_identity(directory: &str) -> Option<&'static str> {
    [
        ("letsencrypt.org", "letsencrypt.org"),
        ("zerossl.com", "sectigo.com"),
        ("pki.goog", "pki.goog"),
    ]
    .into_iter()
    .find(|(host, _)| directory.contains(host))
    .map(|(_, identity)| identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_restored_account_is_found_by_its_ca_directory() {
        use crate::remote::fake::FakeServer;
        let server = FakeServer::new()
            .answer("ls -1 /var/lib/outpost/tls/acme", 0, "account-0a1b.json\naccount-9f9f.json\n")
            .answer(
                "cat '/var/lib/outpost/tls/acme/account-0a1b.json'",
                0,
                r#"{"id":"https://staging/acct/7","key_pkcs8":"x","directory":"https://staging/dir"}"#,
            )
            .answer(
                "cat '/var/lib/outpost/tls/acme/account-9f9f.json'",
                0,
                r#"{"id":"https://ca/acct/1","key_pkcs8":"x","directory":"https://ca/dir"}"#,
            );
        let found = stored_account(&server, "https://ca/dir").await.unwrap();
        assert_eq!(found.as_deref(), Some("https://ca/acct/1"));
        assert_eq!(stored_account(&server, "https://other/dir").await.unwrap(), None);
    }

    #[tokio::test]
    async fn acme_accounts_are_backed_up_to_the_keychain_once() {
        use crate::remote::fake::FakeServer;
        use crate::secrets::{MemoryStore, SecretName, SecretStore};
        let server = FakeServer::new()
            .answer(
                "ls -1 /var/lib/outpost/tls/acme",
                0,
                "account-0a1b.json\ncertificate.key\nstate.json\n",
            )
            .answer(
                "cat '/var/lib/outpost/tls/acme/account-0a1b.json'",
                0,
                "{\"id\":\"https://ca/acct/1\",\"key_pkcs8\":\"secret\"}",
            );
        let secrets = MemoryStore::default();
        assert!(backup_accounts(&server, &secrets, "198.51.100.10").await.unwrap());
        let stored = secrets
            .get(&SecretName::AcmeAccounts { server: "198.51.100.10".into() })
            .await
            .unwrap()
            .unwrap();
        let stored: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&stored).unwrap();
        assert_eq!(
            stored.keys().collect::<Vec<_>>(),
            ["account-0a1b.json"],
            "only accounts, never the certificate key"
        );
        assert!(stored["account-0a1b.json"].contains("key_pkcs8"));
        assert!(
            !backup_accounts(&server, &secrets, "198.51.100.10").await.unwrap(),
            "unchanged: not written again"
        );
        assert!(server.commands().iter().all(|c| !c.contains("certificate.key")));
    }

    #[test]
    fn the_mail_host_must_point_at_the_server_and_nowhere_else() {
        let server: Vec<IpAddr> =
            vec!["198.51.100.10".parse().unwrap(), "2001:db8::10".parse().unwrap()];
        let a = |found: &[&str]| {
            let found: Vec<String> = found.iter().map(|s| s.to_string()).collect();
            judge_pointing("mail.example.com", RecordType::A, &found, &server, true)
        };
        assert_eq!(a(&["198.51.100.10"]), None);
        assert!(matches!(a(&[]), Some(Blocker::NotPointing { .. })));
        let Some(Blocker::NotPointing { found, expected, record, .. }) =
            a(&["198.51.100.10", "203.0.113.9"])
        else {
            panic!("a stray address is refused");
        };
        assert_eq!(
            (found.len(), expected, record.as_str()),
            (2, vec!["198.51.100.10".to_string()], "A")
        );
        // No AAAA is fine; one elsewhere is not (CAs try IPv6 first).
        assert_eq!(judge_pointing("m", RecordType::AAAA, &[], &server, false), None);
        assert!(
            judge_pointing("m", RecordType::AAAA, &["2001:db8::99".into()], &server, false)
                .is_some()
        );
    }

    #[test]
    fn tls_choices_open_the_web_ports_and_add_acme() {
        let server = config::Server {
            hostname: "mail.example.com".parse().unwrap(),
            domains: vec!["example.com".parse().unwrap()],
        };
        let mut plain = config::Config::new(server.clone());
        Tls::SelfSigned.apply(&mut plain).unwrap();
        assert!(plain.listeners.https.is_empty() && plain.tls.acme.is_none());
        let mut web = config::Config::new(server.clone());
        Tls::Web.apply(&mut web).unwrap();
        assert_eq!(web.listeners.https.len(), 2);
        assert_eq!(web.listeners.acme_http[0].port(), 80);
        assert!(web.tls.acme.is_none());
        let acme = config::Acme::lets_encrypt_with_staging();
        let names = ["mta-sts.example.com".to_string()];
        let mut full = config::Config::new(server);
        Tls::Acme { acme: &acme, names: &names }.apply(&mut full).unwrap();
        full.dkim.push(config::DkimKey {
            domain: "example.com".parse().unwrap(),
            selector: "outpost".parse().unwrap(),
            algorithm: config::DkimAlgorithm::RsaSha256,
            key_file: "/etc/outpost/dkim/outpost.pem".parse().unwrap(),
        });
        full.check().unwrap();
        let acme = full.tls.acme.unwrap();
        assert_eq!(acme.names[0].as_str(), "mta-sts.example.com");
        assert_eq!(acme.staging_directory.as_deref(), Some(config::Acme::LETS_ENCRYPT_STAGING));
        assert_eq!(caa_identity(&acme.directory), Some("letsencrypt.org"));
    }
}
