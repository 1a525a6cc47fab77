//! The sections of the config file. Every default lives here, in one `Default` impl per section,
//! so the relay, the setup engine and the example file cannot disagree about them.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::value::{AbsolutePath, ByteSize, DomainName, Duration, MailAddress, Selector};

/// The whole file (`/etc/outpost/relay.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who the relay is: its host name and the domains it sends for.
    pub server: Server,
    /// Where it listens.
    #[serde(default)]
    pub listeners: Listeners,
    /// Where its TLS certificates come from.
    #[serde(default)]
    pub tls: Tls,
    /// The SMTP users allowed to submit mail.
    #[serde(default)]
    pub users: Users,
    /// DKIM keys, one entry per domain and selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dkim: Vec<DkimKey>,
    /// The durable queue and its retry schedule.
    #[serde(default)]
    pub queue: Queue,
    /// Limits that protect the server and the people it sends to.
    #[serde(default)]
    pub limits: Limits,
    /// Logging.
    #[serde(default)]
    pub log: Log,
    /// DNS resolution for delivery.
    #[serde(default)]
    pub dns: Dns,
    /// How mail is handed to recipients' servers.
    #[serde(default)]
    pub delivery: Delivery,
    /// The MTA-STS policy served over HTTPS.
    #[serde(default)]
    pub mta_sts: MtaSts,
    /// Mail for the relay's own domains (port 25): where it is forwarded, and what is refused.
    #[serde(default)]
    pub inbound: Inbound,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The mail host name: greeting, EHLO name, certificate name; its PTR record should match.
    pub hostname: DomainName,
    /// The domains whose mail this relay signs and sends (and, later, receives).
    pub domains: Vec<DomainName>,
}

/// `[listeners]`: socket addresses per service. An empty list turns the service off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listeners {
    /// Submission with STARTTLS (RFC 6409), port 587.
    pub submission: Vec<SocketAddr>,
    /// Submission over implicit TLS (RFC 8314), port 465.
    pub submissions: Vec<SocketAddr>,
    /// Inbound mail for the relay's own domains, port 25.
    pub inbound: Vec<SocketAddr>,
    /// Plain HTTP for ACME HTTP-01 challenges, port 80; other requests are sent to HTTPS.
    pub acme_http: Vec<SocketAddr>,
    /// HTTPS, port 443: ACME TLS-ALPN-01 challenges, the MTA-STS policy and mail-client
    /// autoconfiguration.
    pub https: Vec<SocketAddr>,
}

impl Default for Listeners {
    fn default() -> Self {
        let both = |port: u16| -> Vec<SocketAddr> {
            vec![SocketAddr::from(([0, 0, 0, 0], port)), SocketAddr::from(([0u16; 8], port))]
        };
        Listeners {
            submission: both(587),
            submissions: both(465),
            inbound: Vec::new(),
            acme_http: Vec::new(),
            https: Vec::new(),
        }
    }
}

impl Listeners {
    /// Both address families on `port`, the way the default listeners are given.
    pub fn everywhere(port: u16) -> Vec<SocketAddr> {
        vec![SocketAddr::from(([0, 0, 0, 0], port)), SocketAddr::from(([0u16; 8], port))]
    }

    /// Every configured address with the name of its listener, for checks and status output.
    pub fn all(&self) -> impl Iterator<Item = (&'static str, &SocketAddr)> {
        [
            ("submission", &self.submission),
            ("submissions", &self.submissions),
            ("inbound", &self.inbound),
            ("acme_http", &self.acme_http),
            ("https", &self.https),
        ]
        .into_iter()
        .flat_map(|(name, list)| list.iter().map(move |address| (name, address)))
    }
}

/// `[tls]`: certificates. With neither files nor ACME the relay makes a self-signed certificate
/// for its host name and says so in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// Where the relay keeps certificates it makes or obtains.
    pub state_dir: AbsolutePath,
    /// Certificates supplied as files, chosen by SNI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateFiles>,
    /// Obtain and renew a certificate over ACME HTTP-01.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme: Option<Acme>,
}

impl Default for Tls {
    fn default() -> Self {
        Tls { state_dir: absolute("/var/lib/outpost/tls"), certificates: Vec::new(), acme: None }
    }
}

/// `[[tls.certificates]]`: a PEM chain and its private key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    /// The PEM certificate chain, leaf first.
    pub chain: AbsolutePath,
    /// The PEM private key.
    pub key: AbsolutePath,
}

/// `[tls.acme]`: the relay gets and renews its own certificate, answering the CA's challenges
/// on `listeners.https` (TLS-ALPN-01) and `listeners.acme_http` (HTTP-01) itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acme {
    /// The CA's directory URL (Let's Encrypt's, or a test CA's).
    #[serde(default = "Acme::lets_encrypt")]
    pub directory: String,
    /// The CA's staging directory: a first order for new names is tried there first, so a
    /// mistake never uses up the real CA's failed-validation limit. Leave out for CAs without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging_directory: Option<String>,
    /// The contact address given to the CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Extra root certificate to trust for the ACME server itself (test CAs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_root: Option<AbsolutePath>,
    /// Names besides `server.hostname` the certificate covers (`mta-sts.<domain>`,
    /// `autoconfig.<domain>` once their DNS points here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<DomainName>,
    /// Renew this long after issuance instead of inside the CA's window (tests; leave out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_after: Option<Duration>,
}

impl Acme {
    /// Let's Encrypt's production directory.
    pub const LETS_ENCRYPT: &'static str = "https://acme-v02.api.letsencrypt.org/directory";
    /// Let's Encrypt's staging directory.
    pub const LETS_ENCRYPT_STAGING: &'static str =
        "https://acme-staging-v02.api.letsencrypt.org/directory";

    fn lets_encrypt() -> String {
        Acme::LETS_ENCRYPT.to_string()
    }

    /// Let's Encrypt, staging first: what the app sets up.
    pub fn lets_encrypt_with_staging() -> Acme {
        Acme {
            directory: Acme::lets_encrypt(),
            staging_directory: Some(Acme::LETS_ENCRYPT_STAGING.to_string()),
            contact: None,
            directory_root: None,
            names: Vec::new(),
            renew_after: None,
        }
    }
}

/// `[mta_sts]`: the MTA-STS policy (RFC 8461) served at
/// `https://mta-sts.<domain>/.well-known/mta-sts.txt` for every domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MtaSts {
    /// `testing` (senders report problems but deliver anyway) or `enforce`.
    pub mode: MtaStsMode,
    /// How long senders may cache the policy.
    pub max_age: Duration,
    /// The `mx:` lines; the mail host when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mx: Vec<DomainName>,
}

impl Default for MtaSts {
    fn default() -> Self {
        MtaSts {
            mode: MtaStsMode::Testing,
            max_age: Duration::from_secs(7 * 86_400),
            mx: Vec::new(),
        }
    }
}

/// MTA-STS policy modes (RFC 8461 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtaStsMode {
    /// Problems are reported, mail still delivered: the first weeks.
    #[default]
    Testing,
    /// Mail goes only over verified TLS to the listed servers.
    Enforce,
    /// The policy is being withdrawn.
    None,
}

impl MtaStsMode {
    /// The word in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            MtaStsMode::Testing => "testing",
            MtaStsMode::Enforce => "enforce",
            MtaStsMode::None => "none",
        }
    }
}

/// `[users]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Users {
    /// The file of `user argon2-hash` lines, managed with `outpost-relay user ...`.
    pub file: AbsolutePath,
}

impl Default for Users {
    fn default() -> Self {
        Users { file: absolute("/etc/outpost/users") }
    }
}

/// `[[dkim]]`: one signing key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimKey {
    /// The domain that signs (`d=`); one of `server.domains`.
    pub domain: DomainName,
    /// The selector (`s=`), published at `<selector>._domainkey.<domain>`.
    pub selector: Selector,
    /// The signing algorithm.
    #[serde(default)]
    pub algorithm: DkimAlgorithm,
    /// The private key, PEM (PKCS#8 or PKCS#1), readable only by the relay.
    pub key_file: AbsolutePath,
}

/// DKIM signing algorithms: defined once, in the admin protocol the app reads too.
pub use outpost_relay_api::DkimAlgorithm;

/// `[queue]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Queue {
    /// The spool directory; every accepted message is here until delivered or bounced.
    pub dir: AbsolutePath,
    /// Stop retrying and bounce after this long (RFC 5321 §4.5.4.1 suggests 4–5 days).
    pub give_up_after: Duration,
    /// The wait before the first retry; later waits double, with jitter.
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_retry_interval: Duration,
    /// Messages the queue holds before new ones get a temporary `452`.
    pub max_messages: u32,
    /// A message still not delivered to some recipient after this long makes one "delayed"
    /// notice to its sender (RFC 3464 `Action: delayed`); retries go on.
    pub delay_notice_after: Duration,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            dir: absolute("/var/lib/outpost/queue"),
            give_up_after: Duration::from_secs(5 * 86_400),
            first_retry: Duration::from_secs(60),
            max_retry_interval: Duration::from_secs(2 * 3_600),
            max_messages: 10_000,
            delay_notice_after: Duration::from_secs(4 * 3_600),
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest message accepted (advertised with `SIZE`).
    #[serde(deserialize_with = "ByteSize::deserialize_lenient")]
    pub max_message_size: ByteSize,
    /// Recipients per message.
    pub max_recipients: u32,
    /// Simultaneous connections across all listeners.
    pub max_connections: u32,
    /// Simultaneous connections from one address (an IPv6 /64 counts as one address).
    pub connections_per_address: u32,
    /// A session on a submission port that has not logged in by then is closed.
    pub login_deadline: Duration,
    /// Failed logins from one address before it is refused for `auth_block_time`.
    pub auth_failures_before_block: u32,
    /// How long an address is refused after too many failed logins.
    pub auth_block_time: Duration,
    /// Messages one user may send per hour.
    pub messages_per_user_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: ByteSize::mib(50),
            max_recipients: 100,
            max_connections: 1_000,
            connections_per_address: 20,
            login_deadline: Duration::from_secs(60),
            auth_failures_before_block: 10,
            auth_block_time: Duration::from_secs(15 * 60),
            messages_per_user_per_hour: 1_000,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// The least severe level written.
    pub level: LogLevel,
}

/// Log levels, least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Only failures.
    Error,
    /// Failures and things that look wrong.
    Warn,
    /// One line per session and per delivery attempt.
    #[default]
    Info,
    /// Protocol detail, never message bodies or passwords.
    Debug,
    /// Everything, for development.
    Trace,
}

/// `[dns]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// Resolvers to use instead of the system's (`/etc/resolv.conf`); tests point this into
    /// their own network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<SocketAddr>,
}

/// `[delivery]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Delivery {
    /// The port of recipients' mail servers. Always 25 on the internet; tests may change it.
    pub port: u16,
    /// Also deliver over IPv6 (tried before IPv4). Off when the server's IPv6 address has no
    /// reverse DNS, since receivers reject mail from addresses without it.
    pub ipv6: bool,
    /// How long to wait for a connection to a recipient's server.
    pub connect_timeout: Duration,
    /// How long to wait for each reply (RFC 5321 §4.5.3.2 suggests minutes).
    pub reply_timeout: Duration,
    /// Honour recipients' MTA-STS policies (RFC 8461): where a domain publishes `enforce`, mail
    /// goes only to its listed servers and only over verified TLS.
    pub mta_sts: bool,
    /// The HTTPS port MTA-STS policies are fetched from. Always 443 on the internet.
    pub https_port: u16,
    /// Extra root certificates (PEM) to trust, besides the system's, when TLS is verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_roots: Option<AbsolutePath>,
    /// Connections open at once to the servers of one recipient domain; further messages for
    /// it wait, then reuse one of those connections (receivers throttle senders that open many).
    pub connections_per_domain: u32,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            port: 25,
            ipv6: true,
            connect_timeout: Duration::from_secs(30),
            reply_timeout: Duration::from_secs(5 * 60),
            mta_sts: true,
            https_port: 443,
            extra_roots: None,
            connections_per_domain: 3,
        }
    }
}

/// `[inbound]`: mail that arrives on `listeners.inbound` for `server.domains`. The relay keeps
/// no mailboxes: every address it accepts is forwarded (aliases, a catch-all), with the envelope
/// sender rewritten (SRS) so the destination's SPF check passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Inbound {
    /// Who gets `postmaster@` and `abuse@` at every domain (RFC 5321 §4.5.1, RFC 2142) unless
    /// the aliases file says otherwise. Required when `listeners.inbound` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<MailAddress>,
    /// The aliases file (`address: destination, ...` lines; `*@domain` is the catch-all),
    /// managed with `outpost-relay alias ...` and re-read when it changes.
    pub aliases_file: AbsolutePath,
    /// The SRS secrets (newest first), made on first start, rotated with `outpost-relay srs rotate`.
    pub srs_secrets_file: AbsolutePath,
    /// DNS blocklists asked about every client address; a listed client is refused.
    pub blocklists: Vec<DomainName>,
    /// Seal forwarded mail with ARC (RFC 8617) using the domain's DKIM key, so the destination
    /// can trust the checks this relay made.
    pub arc: bool,
    /// Messages one client address may send here per hour.
    pub messages_per_address_per_hour: u32,
}

impl Default for Inbound {
    fn default() -> Self {
        Inbound {
            owner: None,
            aliases_file: absolute("/etc/outpost/aliases"),
            srs_secrets_file: absolute("/var/lib/outpost/srs-secrets"),
            blocklists: vec!["zen.spamhaus.org".parse().expect("a valid built-in name")],
            arc: true,
            messages_per_address_per_hour: 200,
        }
    }
}

fn absolute(path: &str) -> AbsolutePath {
    path.parse().expect("built-in default paths are absolute")
}
