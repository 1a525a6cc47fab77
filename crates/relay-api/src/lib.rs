//! The relay's admin protocol: what `outpost-relay <command> --json` prints, defined once.
//!
//! The relay serializes these types and the app's engine deserializes them (through its
//! `RelayAdmin` client); neither side has a copy. Every reply is a [`Response`]: the protocol
//! version [`API`] and either the command's data or an [`AdminError`]. The engine reads the
//! version first, so an app newer than the relay says "upgrade needed" instead of failing on a
//! field it does not know. Fields are only ever added (with defaults), never renamed: an app
//! reading a newer relay ignores what it does not know.
//!
//! One casing on the wire: camelCase fields, kebab-case enum values.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

#[cfg(feature = "ts")]
use ts_rs::TS;

/// The protocol version this relay speaks. Raise it when a command's meaning changes in a way
/// an older app must not miss, or a command is added; the engine refuses a relay older than it
/// needs. 2: `health` and `queue delete`.
pub const API: u32 = 2;

/// Every `--json` reply: `{"api":2,"ok":{…}}` or `{"api":2,"error":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response<T> {
    /// The protocol version of the relay that answered.
    pub api: u32,
    /// What the command found, or why it failed.
    #[serde(flatten)]
    pub reply: Reply<T>,
}

/// A command's data or its error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reply<T> {
    /// It worked.
    Ok(T),
    /// It did not.
    Error(AdminError),
}

impl<T> Response<T> {
    /// A successful reply at this relay's version.
    pub fn ok(data: T) -> Self {
        Response { api: API, reply: Reply::Ok(data) }
    }

    /// A failed reply at this relay's version.
    pub fn error(error: AdminError) -> Self {
        Response { api: API, reply: Reply::Error(error) }
    }
}

/// Only the version: what the engine reads before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Header {
    /// Missing in relays from before the protocol had a version (they are version 0).
    #[serde(default)]
    pub api: u32,
}

/// Why an admin command failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct AdminError {
    /// What kind of failure, for the app to branch on.
    pub kind: ErrorKind,
    /// The relay's own description (for logs and the CLI; the app words its own sentences).
    pub message: String,
}

/// Kinds of admin failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The config file is missing or invalid.
    Config,
    /// The relay is not running (its status file is missing or stale).
    NotRunning,
    /// The thing named (a queued message, a user) does not exist.
    NotFound,
    /// An argument was unusable (a malformed address, say).
    InvalidArgument,
    /// A file could not be read or written.
    Io,
    /// The command needs a setting the config does not have (`cert renew` without ACME).
    NotConfigured,
    /// Anything else.
    Other,
}

/// `status`: what the running relay is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[cfg_attr(feature = "ts", ts(rename = "RelayStatus"))]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The running relay's version.
    pub version: String,
    /// Its process id.
    pub pid: u32,
    /// When the relay last wrote its status (seconds since the epoch).
    pub updated: u64,
    /// Whether it is running: the status is fresh and the process exists.
    pub running: bool,
    /// Each address it listens on.
    pub listeners: Vec<Listener>,
    /// The certificates it serves.
    pub certificates: Vec<Certificate>,
    /// Getting and renewing certificates over ACME, when the config asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme: Option<AcmeStatus>,
    /// When this relay process started (seconds since the epoch; 0 from a relay before 0.2).
    #[serde(default)]
    pub started: u64,
    /// Messages waiting to be delivered.
    pub queued: usize,
    /// The latest finished deliveries (at most 100), newest last.
    pub recent_deliveries: Vec<RecentDelivery>,
    /// Recipients delivered and bounced over the last 24 hours (since the start, if later).
    #[serde(default)]
    pub last_day: DeliveryCounts,
    /// Mail received for the relay's domains, when it listens on port 25.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<InboundStatus>,
}

/// How many recipients' deliveries ended, and how, over a stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCounts {
    /// Since when (seconds since the epoch): 24 hours ago, or the relay's start if later.
    pub since: u64,
    /// Recipients whose server took the message.
    pub delivered: u64,
    /// Recipients refused for good or given up on (the sender got a bounce).
    pub bounced: u64,
}

/// What arrived on port 25 since the relay started: what was forwarded, what was refused and why.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct InboundStatus {
    /// When counting began: the relay's start (seconds since the epoch).
    pub since: u64,
    /// Messages accepted and queued for forwarding.
    pub forwarded: u64,
    /// Refusals, one entry per reason that happened.
    pub refused: Vec<RefusalCount>,
    /// The latest forwarded messages, newest last.
    pub recent: Vec<ForwardedMessage>,
}

/// How often one kind of refusal happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct RefusalCount {
    /// Why.
    pub reason: InboundRefusal,
    /// How many times.
    pub count: u64,
}

/// Why inbound mail was refused, during the SMTP session (never accepted and then dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum InboundRefusal {
    /// A recipient at another domain: the relay is never an open relay.
    Relaying,
    /// No such address at our domain, and no catch-all.
    UnknownRecipient,
    /// A bounce address (SRS) this server did not make, or one that has expired.
    ForgedBounceAddress,
    /// The client's address is on a DNS blocklist (Spamhaus ZEN).
    Blocklisted,
    /// The sender's domain publishes DMARC `p=reject` and the message failed it.
    DmarcReject,
    /// SPF failed for the sender's domain, with no aligned DKIM signature to vouch instead.
    SpfFail,
    /// Too many messages from one address this hour.
    RateLimited,
    /// Larger than the relay accepts.
    TooBig,
    /// Malformed headers (no From:, a broken line, a mail loop).
    Malformed,
}

/// One message forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct ForwardedMessage {
    /// When it arrived (seconds since the epoch).
    pub at: u64,
    /// The queue id.
    pub id: String,
    /// The envelope sender as it arrived (empty for a bounce).
    pub from: String,
    /// The address in its `From:` header.
    pub header_from: String,
    /// The addresses it was sent to, at our domains.
    pub to: Vec<String>,
    /// Where it was forwarded.
    pub destinations: Vec<String>,
}

/// `alias list`: every address the relay accepts mail for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct AliasList {
    /// The aliases file's entries, in file order.
    pub aliases: Vec<Alias>,
    /// Who gets postmaster@ and abuse@ where no alias says otherwise.
    pub owner: Option<String>,
}

/// One address at the relay's domains (or `*@domain`, the catch-all) and where its mail goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Alias {
    /// `hello@example.com`, or `*@example.com` for every other address there.
    pub address: String,
    /// Where it is forwarded.
    pub destinations: Vec<String>,
}

/// `alias add|remove`: what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct AliasChange {
    /// The alias, lower case.
    pub address: String,
    /// What was done.
    pub action: AliasAction,
}

/// `srs rotate`: a new signing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct SrsRotation {
    /// Secrets that verify now, the new one included.
    pub secrets: usize,
    /// When the new one was made (seconds since the epoch).
    pub made: u64,
}

/// What `alias add|remove` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum AliasAction {
    /// A new alias.
    Added,
    /// An existing alias got new destinations.
    Changed,
    /// The alias is gone.
    Removed,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    /// What it is for.
    pub mode: ListenerMode,
    /// Where it listens.
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub address: SocketAddr,
}

/// What a listener is for; the mode decides the policy of its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum ListenerMode {
    /// Port 587: STARTTLS, then AUTH, then mail from the user's own domains.
    Submission,
    /// Port 465: TLS from the first byte, then as submission.
    Submissions,
    /// Port 25: mail from the internet for the relay's own domains (not served yet).
    Inbound,
    /// Port 443: HTTPS for MTA-STS and mail-client setup, and ACME TLS-ALPN-01 challenges.
    Https,
    /// Port 80: ACME HTTP-01 challenges; everything else is redirected to HTTPS.
    Http,
}

impl ListenerMode {
    /// The name used in logs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerMode::Submission => "submission",
            ListenerMode::Submissions => "submissions",
            ListenerMode::Inbound => "inbound",
            ListenerMode::Https => "https",
            ListenerMode::Http => "http",
        }
    }
}

/// One certificate the relay serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// The names it covers.
    pub names: Vec<String>,
    /// When it expires (RFC 3339).
    pub not_after: String,
    /// The same, in seconds since the epoch (0 from a relay before 0.2).
    #[serde(default)]
    pub expires: u64,
    /// Where it came from.
    pub source: CertificateSource,
    /// SHA-256 of the certificate (DER), lower-case hex: lets the app check that the certificate
    /// it sees on a port is this one, even while it is self-signed.
    pub sha256: String,
    /// Who signed it (the issuer's common name, or its whole name when it has none).
    #[serde(default)]
    pub issuer: String,
    /// Its serial number, lower-case hex.
    #[serde(default)]
    pub serial: String,
    /// When it became valid (RFC 3339).
    #[serde(default)]
    pub not_before: String,
}

impl Certificate {
    /// Made by the relay itself: clients warn until a real certificate is set up.
    pub fn is_self_signed(&self) -> bool {
        self.source == CertificateSource::SelfSigned
    }
}

/// Where a certificate came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum CertificateSource {
    /// Made by the relay for its host name until a real one exists.
    SelfSigned,
    /// Files named in the config.
    Files {
        /// The certificate chain's path.
        chain: String,
    },
    /// Obtained by the relay itself from an ACME CA.
    Acme {
        /// The CA's directory URL.
        directory: String,
    },
}

/// The relay's ACME work: what it is doing, when it renews next and how the last try went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct AcmeStatus {
    /// The CA's directory URL.
    pub directory: String,
    /// The names the certificate is for (the mail host first).
    pub names: Vec<String>,
    /// What it is doing now.
    pub phase: AcmePhase,
    /// When it will next ask for a certificate, and why then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Renewal>,
    /// How the last try ended (none yet after a start with a valid certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<AcmeAttempt>,
    /// The challenge that worked last time (tried first next time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Challenge>,
    /// The relay's account URL at `directory` (RFC 8555 §7.3), once it has one: what a CAA
    /// record's `accounturi` names (RFC 8657) so that only this account may get certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// A step of getting a certificate, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case", tag = "step")]
pub enum AcmePhase {
    /// Nothing to do until the next renewal (or waiting to try again).
    Waiting,
    /// Placing the order with the CA.
    Ordering,
    /// Answering the CA's challenge; it is checking.
    Answering {
        /// Which challenge.
        challenge: Challenge,
    },
    /// The CA checked the names; the certificate is being issued.
    Validated,
}

/// An ACME challenge the relay answers itself (RFC 8555 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum Challenge {
    /// TLS-ALPN-01 on port 443 (RFC 8737).
    TlsAlpn01,
    /// HTTP-01 on port 80.
    Http01,
}

/// When the next order is due, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Renewal {
    /// Seconds since the epoch.
    pub at: u64,
    /// Why then.
    pub reason: RenewalReason,
}

/// Why the next order is due when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum RenewalReason {
    /// No certificate for these names yet.
    Missing,
    /// Inside the window the CA suggested (ACME Renewal Information, RFC 9773).
    CaWindow,
    /// At two thirds of the certificate's lifetime (the CA gives no window).
    TwoThirds,
    /// The config's `renew_after`.
    Configured,
    /// The last try failed: trying again after a pause that grows with each failure.
    Retry,
    /// Someone asked (`cert renew --now`).
    Requested,
}

/// One try at getting a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct AcmeAttempt {
    /// When it ended (seconds since the epoch).
    pub at: u64,
    /// The CA tried against (the staging directory for a first order, when there is one).
    pub directory: String,
    /// Why it failed; none when a certificate was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<AcmeFailure>,
    /// Failures in a row so far (0 after a success).
    #[serde(default)]
    pub failures_in_a_row: u32,
    /// The CA's `Retry-After` with the failure (seconds since the epoch): no new try before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// Why getting a certificate failed, for the app to word and act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct AcmeFailure {
    /// What kind of failure.
    pub kind: AcmeFailureKind,
    /// The CA's or the network's own words (for logs and experts).
    pub detail: String,
}

/// Kinds of ACME failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum AcmeFailureKind {
    /// The CA could not be reached (network, DNS, TLS to the CA).
    CaUnreachable,
    /// The CA could not reach this server or got the wrong answer (ports 80/443 closed, the
    /// name pointing elsewhere).
    ChallengeFailed,
    /// A CAA record of the domain forbids this CA.
    Caa,
    /// The CA's DNS lookups of the name failed or found no address.
    Dns,
    /// The CA's rate limit: it is retried later, no sooner than the CA allows.
    RateLimited,
    /// The CA refused for another reason (its detail says which).
    Refused,
    /// The CA did not finish in time.
    Timeout,
    /// Anything else (a local file could not be written, say).
    Other,
}

/// What the admin commands ask the running relay over its control socket: one JSON line each
/// way, the reply a [`Response`] of [`ControlReply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "ask")]
pub enum ControlRequest {
    /// Try a queued message again now.
    QueueRetry {
        /// The queue id.
        id: String,
    },
    /// Remove a queued message without delivering it (nobody is told).
    QueueDelete {
        /// The queue id.
        id: String,
    },
    /// Ask the CA for a new certificate now.
    CertRenew,
    /// Keep the next message submitted with this Message-ID as signed and sent, with its
    /// delivery records after it left the queue (the app's test email), for an hour.
    TraceWatch {
        /// The Message-ID, with or without its angle brackets.
        message_id: String,
    },
    /// The trace of a watched message.
    TraceShow {
        /// The Message-ID.
        message_id: String,
    },
}

/// What the running relay did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "done")]
pub enum ControlReply {
    /// The message is being retried.
    Retrying,
    /// The message is gone from the queue.
    Deleted,
    /// An order has started; `status` follows it.
    Renewing,
    /// Watching for the message.
    Watching(TraceWatch),
    /// What became of it.
    Traced(Box<Trace>),
}

/// `trace watch`: the relay keeps the next message with this Message-ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct TraceWatch {
    /// The Message-ID, without angle brackets.
    pub message_id: String,
    /// Until when a submission is looked for (seconds since the epoch).
    pub until: u64,
}

/// `trace show`: a watched message followed through the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// The Message-ID, without angle brackets.
    pub message_id: String,
    /// The queue id (also in the `250` reply and the relay's Received header).
    pub queue_id: String,
    /// When it was accepted (seconds since the epoch).
    pub accepted: u64,
    /// The message exactly as signed and sent, base64 (it may hold 8-bit bytes).
    pub signed_base64: String,
    /// Its envelope and every delivery attempt, while queued and after.
    pub item: QueueItem,
    /// Whether every recipient is settled (delivered, failed or given up).
    pub finished: bool,
}

/// `cert renew --now`: an order has started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct CertRenewal {
    /// The names it is for.
    pub names: Vec<String>,
}

/// One finished delivery, as `status` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct RecentDelivery {
    /// The queue id.
    pub id: String,
    /// The recipient.
    pub recipient: String,
    /// The last attempt.
    pub record: DeliveryRecord,
}

/// How one delivery attempt for one recipient ended (RFC 5321 §4.2.1 reply classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The recipient's server took it (2xx).
    Delivered,
    /// Try again later (4xx, timeouts, unreachable servers, DNS trouble).
    Temporary,
    /// Never going to work (5xx, a domain that does not exist or accepts no mail).
    Permanent,
}

/// What happened in one attempt for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    /// When (seconds since the epoch).
    pub at: u64,
    /// The outcome.
    pub outcome: Outcome,
    /// The server's host name (an MX name), if one was reached.
    pub host: Option<String>,
    /// Its IP address.
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub ip: Option<IpAddr>,
    /// TLS version, if the connection was encrypted.
    pub tls_version: Option<String>,
    /// TLS cipher suite.
    pub tls_cipher: Option<String>,
    /// The server's reply (or what went wrong before one).
    pub reply: String,
    /// What went wrong, as data (none when delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<DeliveryProblem>,
    /// Whether the domain's MTA-STS policy (`enforce`) applied: only listed servers, only over
    /// verified TLS.
    #[serde(default)]
    pub mta_sts: bool,
}

/// Why an attempt did not deliver, for the app to explain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum DeliveryProblem {
    /// No server of the domain could be reached (every address refused or timed out): when it
    /// happens for every domain, the provider blocks outgoing port 25.
    Unreachable,
    /// The domain's mail servers could not be found: it does not exist, accepts no mail, or
    /// DNS failed.
    NoMailServer,
    /// The domain's MTA-STS policy could not be met (no listed server, or no verified TLS).
    Policy,
    /// The connection broke off during the conversation.
    Interrupted,
    /// The server answered with a refusal or a "try later".
    Reply {
        /// The reply code (4xx, 5xx).
        code: u16,
        /// The enhanced status code (`5.7.26`), when the server sent one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enhanced: Option<String>,
    },
    /// Not tried: the domain's servers recently answered 421 or "try later" to the relay, which
    /// leaves them alone until `until` (seconds since the epoch) rather than insist.
    Deferred {
        /// When the domain will be tried again.
        until: u64,
    },
}

/// A queued message's envelope and state: what `queue list|show` print, and what the relay
/// keeps in its spool (the first line of `<id>.msg`, later states in `<id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct QueueItem {
    /// The queue id, also in the `250` reply and the Received header.
    pub id: String,
    /// The envelope sender; empty for the null sender (bounces).
    pub from: String,
    /// The user who submitted it, if any.
    pub user: Option<String>,
    /// When it was accepted (seconds since the epoch).
    pub created: u64,
    /// How many delivery rounds have run.
    pub attempts: u32,
    /// When the next round is due (seconds since the epoch).
    pub next_attempt: u64,
    /// Per recipient.
    pub recipients: Vec<QueueRecipient>,
    /// The sender was told the message is delayed (one "delayed" notice, RFC 3464).
    #[serde(default)]
    pub delay_notified: bool,
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct QueueRecipient {
    /// The address delivered to.
    pub address: String,
    /// The address the sender used, when it differs (an alias at our domain that forwards to
    /// `address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// Why the relay carries this message to `address`.
    #[serde(default)]
    pub route: Route,
    /// Where it stands.
    pub status: RecipientStatus,
    /// Every attempt, oldest first.
    pub records: Vec<DeliveryRecord>,
    /// The sender was told this recipient failed (the bounce went out when it failed, not when
    /// the message's last recipient was settled).
    #[serde(default)]
    pub bounced: bool,
}

/// Why the relay carries a message to a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// A user submitted it on 587/465 for this recipient.
    #[default]
    Submitted,
    /// It arrived for an alias at one of the relay's domains and is forwarded.
    Forwarded,
    /// The relay made it: a delivery status notification for a sender.
    Bounce,
}

/// Where a recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum RecipientStatus {
    /// Still to be delivered.
    Pending,
    /// Delivered.
    Delivered,
    /// Refused for good by the recipient's server.
    Failed,
    /// Still failing when the queue gave up.
    GaveUp,
}

/// `queue list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct QueueList {
    /// Every queued message, oldest first.
    pub items: Vec<QueueItem>,
}

/// `queue retry`: the relay will try this message again within a second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct QueueRetry {
    /// The queue id.
    pub id: String,
}

/// `queue delete`: the message is gone from the queue, undelivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct QueueDeleted {
    /// The queue id.
    pub id: String,
}

/// `health`: everything the app's dashboard needs from the server, in one reply (one SSH
/// round trip): the relay's status, its queue, the server's disk and memory, whether it reaches
/// a mail server on port 25, and the blocklist lookups asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// The server's clock when it answered (seconds since the epoch): ages and expiries are
    /// judged by it, not by the desktop's.
    pub now: u64,
    /// The relay's status; none if it never wrote one (never started).
    pub status: Option<Status>,
    /// Every queued message, oldest first.
    pub queue: Vec<QueueItem>,
    /// The server's room.
    pub server: ServerRoom,
    /// The outgoing port-25 probe, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<OutboundProbe>,
    /// The names asked (blocklist queries), in order.
    #[serde(default)]
    pub lookups: Vec<Lookup>,
}

/// Disk and memory on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct ServerRoom {
    /// Free space for the queue's file system, in MiB (none if it could not be read).
    pub disk_free_mb: Option<u64>,
    /// That file system's size, in MiB.
    pub disk_total_mb: Option<u64>,
    /// Memory available to programs (`MemAvailable`), in MiB.
    pub memory_available_mb: Option<u64>,
    /// All memory, in MiB.
    pub memory_total_mb: Option<u64>,
}

/// Whether the server reached a mail server on port 25.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct OutboundProbe {
    /// `host:port` tried.
    pub target: String,
    /// A greeting came back.
    pub reachable: bool,
    /// What went wrong otherwise (refused, timed out, no such host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The MTA-STS policy file (RFC 8461 §3.2) the relay serves: one definition, so the app's DNS
/// step can publish the `_mta-sts` id of exactly this text.
pub fn mta_sts_policy(mode: &str, mx: &[&str], max_age_seconds: u64) -> String {
    let mut policy = format!("version: STSv1\r\nmode: {mode}\r\n");
    for host in mx {
        policy.push_str(&format!("mx: {host}\r\n"));
    }
    policy.push_str(&format!("max_age: {max_age_seconds}\r\n"));
    policy
}

/// The `id=` of the `_mta-sts` TXT record for a policy: it changes whenever the policy does
/// (RFC 8461 §3.1 asks for exactly that). 64-bit FNV-1a of the text, as 16 hex digits.
pub fn mta_sts_id(policy: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in policy.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A DKIM key's DNS record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct DkimRecord {
    /// The signing domain.
    pub domain: String,
    /// The selector.
    pub selector: String,
    /// The key's algorithm.
    pub algorithm: DkimAlgorithm,
    /// Where the private key is on the server.
    pub key_file: String,
    /// The TXT value to publish, whole.
    pub txt: String,
}

impl DkimRecord {
    /// The record's name, `<selector>._domainkey.<domain>`.
    pub fn name(&self) -> String {
        dkim_record_name(&self.selector, &self.domain)
    }
}

/// `dkim show`: the records for every configured key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct DkimRecords {
    /// One per key, in the config's order.
    pub records: Vec<DkimRecord>,
}

/// The DNS name of a DKIM key: `<selector>._domainkey.<domain>` (RFC 6376 §3.6.2.1).
pub fn dkim_record_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// The selector and domain of a DKIM record name, if it is one.
pub fn split_dkim_record_name(name: &str) -> Option<(&str, &str)> {
    let (selector, domain) = name.split_once("._domainkey.")?;
    (!selector.is_empty() && !domain.is_empty()).then_some((selector, domain))
}

/// Splits a TXT value into character-strings of at most 255 bytes (RFC 1035 §3.3.14), as zone
/// files and some DNS panels need them. A cut never falls inside a UTF-8 character.
pub fn split_txt(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let mut end = rest.len().min(255);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// DKIM signing algorithms (RFC 6376 §3.3, RFC 8463). The relay's config uses this type too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
pub enum DkimAlgorithm {
    /// RSA with SHA-256: what every receiver verifies.
    #[default]
    #[serde(rename = "rsa-sha256")]
    RsaSha256,
    /// Ed25519 with SHA-256: short keys; sent alongside RSA, never alone.
    #[serde(rename = "ed25519-sha256")]
    Ed25519Sha256,
}

impl DkimAlgorithm {
    /// The value of `dkim generate --algorithm`.
    pub fn cli_name(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa",
            DkimAlgorithm::Ed25519Sha256 => "ed25519",
        }
    }
}

/// `user list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct UserList {
    /// Every user's address, lower case.
    pub users: Vec<String>,
    /// The addresses outside their own domain that users may also send as, for the users who
    /// have some.
    #[serde(default)]
    pub senders: std::collections::BTreeMap<String, Vec<String>>,
}

/// `user senders`: the addresses outside their own domain a user may also send as, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct UserSenders {
    /// The user's address, lower case.
    pub user: String,
    /// The extra sender addresses, lower case; empty when they were cleared.
    pub senders: Vec<String>,
}

impl UserList {
    /// Whether `address` is a user (addresses compare without case).
    pub fn contains(&self, address: &str) -> bool {
        self.users.iter().any(|user| user.eq_ignore_ascii_case(address))
    }
}

/// `user add|remove`: what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct UserChange {
    /// The user's address, lower case.
    pub user: String,
    /// What was done.
    pub action: UserAction,
}

/// What `user add|remove` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case")]
pub enum UserAction {
    /// A new user.
    Added,
    /// An existing user's password was replaced.
    PasswordChanged,
    /// The user is gone.
    Removed,
}

/// `user check`: whether the password is right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct PasswordCheck {
    /// The user's address, lower case.
    pub user: String,
    /// Whether the password was accepted.
    pub accepted: bool,
}

/// `lookup`: each name asked of the server's own resolver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Lookups {
    /// One per name, in the order asked.
    pub results: Vec<Lookup>,
}

/// One name's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    /// The name asked.
    pub name: String,
    /// What came back.
    pub outcome: LookupOutcome,
}

/// What a lookup found: an answer, a name that does not exist, or a failure — which a
/// blocklist check must never read as "not listed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum LookupOutcome {
    /// The name has these A records.
    Answer {
        /// The addresses.
        #[cfg_attr(feature = "ts", ts(as = "Vec<String>"))]
        answers: Vec<Ipv4Addr>,
    },
    /// The name does not exist (or has no A record).
    NoSuchName,
    /// The lookup failed: timeout, SERVFAIL, refused.
    Failed {
        /// The resolver's words.
        detail: String,
    },
}

/// `check-config`: whether a config file is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(TS))]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ConfigCheck {
    /// It is valid.
    #[serde(rename_all = "camelCase")]
    Valid {
        /// The relay's host name.
        hostname: String,
        /// The domains it serves.
        domains: Vec<String>,
    },
    /// It is not, and this is where and why.
    #[serde(rename_all = "camelCase")]
    Invalid {
        /// The file.
        file: String,
        /// The line (1-based), when known.
        line: Option<usize>,
        /// The column (1-based), when known.
        column: Option<usize>,
        /// What is wrong.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_carry_the_version_and_either_data_or_an_error() {
        let ok = serde_json::to_string(&Response::ok(QueueRetry { id: "A1".into() })).unwrap();
        assert_eq!(ok, r#"{"api":2,"ok":{"id":"A1"}}"#);
        let error = Response::<QueueRetry>::error(AdminError {
            kind: ErrorKind::NotFound,
            message: "no queued message A1".into(),
        });
        let text = serde_json::to_string(&error).unwrap();
        assert_eq!(
            text,
            r#"{"api":2,"error":{"kind":"not-found","message":"no queued message A1"}}"#
        );
        assert_eq!(serde_json::from_str::<Response<QueueRetry>>(&text).unwrap(), error);
    }

    #[test]
    fn the_version_of_a_relay_from_before_the_protocol_is_zero() {
        let old = r#"{"ok":true,"version":"0.1.0","running":true}"#;
        assert_eq!(serde_json::from_str::<Header>(old).unwrap().api, 0);
        let new = r#"{"api":7,"ok":{"fieldFromTheFuture":1}}"#;
        assert_eq!(serde_json::from_str::<Header>(new).unwrap().api, 7);
    }

    #[test]
    fn a_newer_relay_s_extra_fields_are_ignored() {
        let text = r#"{"api":1,"ok":{"users":["a@example.com"],"quota":5}}"#;
        let response: Response<UserList> = serde_json::from_str(text).unwrap();
        let Reply::Ok(list) = response.reply else { panic!("{response:?}") };
        assert!(list.contains("A@example.com"));
    }

    #[test]
    fn dkim_names_are_built_and_split_in_one_place() {
        assert_eq!(dkim_record_name("outpost", "example.com"), "outpost._domainkey.example.com");
        assert_eq!(
            split_dkim_record_name("outpost._domainkey.example.com"),
            Some(("outpost", "example.com"))
        );
        assert_eq!(split_dkim_record_name("example.com"), None);
        assert_eq!(split_dkim_record_name("._domainkey.example.com"), None);
    }

    #[test]
    fn txt_values_split_into_255_byte_strings() {
        let value = "p=".to_string() + &"A".repeat(400);
        let parts = split_txt(&value);
        assert_eq!(parts.iter().map(|part| part.len()).collect::<Vec<_>>(), [255, 147]);
        assert_eq!(parts.concat(), value);
        assert!(split_txt("").is_empty());
        assert_eq!(
            split_txt(&"é".repeat(200)).iter().map(|p| p.len()).collect::<Vec<_>>(),
            [254, 146]
        );
    }

    #[test]
    fn lookups_tell_no_such_name_from_a_failure() {
        let json = serde_json::to_string(&Lookup {
            name: "10.100.51.198.zen.spamhaus.org".into(),
            outcome: LookupOutcome::Failed { detail: "timed out".into() },
        })
        .unwrap();
        assert!(json.contains(r#""outcome":{"kind":"failed","detail":"timed out"}"#), "{json}");
    }
}
