//! Step 9, the test email: one message from this computer through the relay's port 587 as the
//! user's SMTP account (lettre), followed through the relay (its trace: the exact signed bytes
//! and each delivery attempt, over SSH), judged here as a receiver would judge it (mail-auth on
//! those bytes, against live DNS), and read back from the recipient's mailbox over IMAP to show
//! the receiver's own verdict and the folder it landed in.
//!
//! Everything here returns data: verdicts, problems and requirements are enums the UI's
//! catalogue words. The workflow that strings the parts together is `app::send_test_email`.

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::{AuthenticatedMessage, DkimResult, DmarcResult, IprevResult, SpfResult};
use outpost_relay_api as api;
use serde::{Deserialize, Serialize};

/// The longest wait for the relay's first delivery attempt to end.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(90);
/// The longest wait for the message to show up in the mailbox after delivery.
pub const MAILBOX_WAIT: Duration = Duration::from_secs(30);

/// Where the test goes, and the mailbox to read it back from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct TestEmail {
    /// The recipient.
    pub to: String,
    /// The recipient's mailbox over IMAP (its password in the keychain), when the user gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub imap: Option<ImapAccount>,
}

/// The test message's words, in the user's language: the UI's catalogue writes them (the
/// engine words nothing a user reads), with the domain filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct TestMessage {
    /// The subject line.
    pub subject: String,
    /// The plain-text body; lines end in `\n` (sent as CRLF).
    pub body: String,
}

impl TestMessage {
    /// The subject on one line: a line break (or any control character) cannot start a header
    /// of its own.
    fn subject_line(&self) -> String {
        let one_line: String =
            self.subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        one_line.trim().to_string()
    }

    /// The body with CRLF line ends, as SMTP has them.
    fn body_crlf(&self) -> String {
        let mut body = self.body.replace('\r', "").replace('\n', "\r\n");
        if !body.ends_with("\r\n") {
            body.push_str("\r\n");
        }
        body
    }
}

/// An IMAP mailbox (IMAPS, TLS from the first byte).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ImapAccount {
    /// The server, e.g. `imap.gmail.com`.
    pub host: String,
    /// Its port (993).
    pub port: u16,
    /// The login, usually the address.
    pub user: String,
}

impl ImapAccount {
    /// The keychain's name for its password.
    pub fn login(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }
}

/// An authentication method's result, as receivers write it (RFC 8601 §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum AuthResult {
    /// Passed.
    Pass,
    /// Failed.
    Fail,
    /// SPF's "probably not" (`~all`).
    SoftFail,
    /// No opinion.
    Neutral,
    /// Nothing to check (no record, no signature).
    None,
    /// A temporary error (DNS trouble).
    TempError,
    /// A permanent error (a broken record).
    PermError,
    /// A result this app does not know.
    Other,
}

impl AuthResult {
    /// Reads a result as written in an `Authentication-Results` header.
    pub fn parse(text: &str) -> AuthResult {
        match text.to_ascii_lowercase().as_str() {
            "pass" => AuthResult::Pass,
            "fail" | "hardfail" => AuthResult::Fail,
            "softfail" => AuthResult::SoftFail,
            "neutral" => AuthResult::Neutral,
            "none" => AuthResult::None,
            "temperror" => AuthResult::TempError,
            "permerror" => AuthResult::PermError,
            _ => AuthResult::Other,
        }
    }
}

/// Why a DKIM signature did not verify, as far as the signed bytes and DNS tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum DkimProblem {
    /// No key at `selector._domainkey.domain` (the DNS record is missing).
    KeyMissing,
    /// A record is there but holds no usable key (mangled).
    KeyUnusable,
    /// The record stops short of the key: a DNS panel cut it after 255 characters.
    KeyCut,
    /// The key there is not the one that signed (a stale record from an earlier key).
    KeyDifferent,
    /// The body changed after signing.
    BodyChanged,
    /// Anything else.
    Other,
}

/// One DKIM signature and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DkimVerdict {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `a=`, e.g. `rsa-sha256`.
    pub algorithm: String,
    /// The result.
    pub result: AuthResult,
    /// Why it did not pass, when the app can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub problem: Option<DkimProblem>,
}

/// SPF, DKIM, DMARC and reverse DNS for one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// SPF for the sending address and the envelope sender's domain.
    pub spf: AuthResult,
    /// Each DKIM signature.
    pub dkim: Vec<DkimVerdict>,
    /// DMARC for the `From:` domain.
    pub dmarc: AuthResult,
    /// Reverse DNS of the sending address, confirmed forward (iprev).
    pub iprev: AuthResult,
}

impl Verdict {
    /// DKIM as a whole: a passing signature is enough (RFC 6376 §6.1).
    pub fn dkim_result(&self) -> AuthResult {
        if self.dkim.iter().any(|signature| signature.result == AuthResult::Pass) {
            AuthResult::Pass
        } else {
            self.dkim.first().map_or(AuthResult::None, |signature| signature.result)
        }
    }

    /// Whether two verdicts agree on every method: both pass, or both do not (receivers word a
    /// failure differently: a missing DKIM key is `permerror` to one and `fail` to another).
    pub fn agrees_with(&self, other: &Verdict) -> bool {
        let passes = |verdict: &Verdict| {
            [verdict.spf, verdict.dkim_result(), verdict.dmarc, verdict.iprev]
                .map(|result| result == AuthResult::Pass)
        };
        passes(self) == passes(other)
    }
}

/// The signatures on the signed message, as the relay added them.
pub fn signatures(signed: &[u8]) -> Vec<DkimVerdict> {
    let Some(message) = AuthenticatedMessage::parse(signed) else { return Vec::new() };
    message
        .dkim_headers
        .iter()
        .map(|header| &header.header)
        .map(|signature| DkimVerdict {
            domain: signature.d.clone(),
            selector: signature.s.clone(),
            algorithm: algorithm_name(signature.a),
            result: AuthResult::None,
            problem: None,
        })
        .collect()
}

fn algorithm_name(algorithm: mail_auth::common::crypto::Algorithm) -> String {
    match algorithm {
        mail_auth::common::crypto::Algorithm::RsaSha1 => "rsa-sha1",
        mail_auth::common::crypto::Algorithm::RsaSha256 => "rsa-sha256",
        mail_auth::common::crypto::Algorithm::Ed25519Sha256 => "ed25519-sha256",
    }
    .to_string()
}

/// What the receiver's checks would say about `signed`, sent from `ip` with `mail_from` after
/// greeting as `helo`: DKIM against live DNS, SPF, DMARC alignment and policy, iprev.
pub async fn judge(
    authenticator: &mail_auth::MessageAuthenticator,
    signed: &[u8],
    ip: IpAddr,
    helo: &str,
    mail_from: &str,
) -> Option<Verdict> {
    use mail_auth::dmarc::verify::DmarcParameters;
    use mail_auth::spf::verify::SpfParameters;
    let message = AuthenticatedMessage::parse(signed)?;
    let dkim = authenticator.verify_dkim(&message).await;
    let spf =
        authenticator.verify_spf(SpfParameters::verify_mail_from(ip, helo, helo, mail_from)).await;
    let mail_from_domain = mail_from.rsplit_once('@').map_or(helo, |(_, domain)| domain);
    let dmarc = authenticator
        .verify_dmarc(DmarcParameters::new(&message, &dkim, mail_from_domain, &spf))
        .await;
    let iprev = authenticator.verify_iprev(ip).await;
    let dkim = dkim
        .iter()
        .map(|output| {
            let (result, problem) = dkim_result(output.result());
            let signature = output.signature();
            DkimVerdict {
                domain: signature.map(|s| s.d.clone()).unwrap_or_default(),
                selector: signature.map(|s| s.s.clone()).unwrap_or_default(),
                algorithm: signature.map(|s| algorithm_name(s.a)).unwrap_or_default(),
                result,
                problem,
            }
        })
        .collect();
    let dmarc_result = |result: &DmarcResult| match result {
        DmarcResult::Pass => AuthResult::Pass,
        DmarcResult::Fail(_) => AuthResult::Fail,
        DmarcResult::TempError(_) => AuthResult::TempError,
        DmarcResult::PermError(_) => AuthResult::PermError,
        DmarcResult::None => AuthResult::None,
    };
    // DMARC passes when SPF or DKIM passes aligned (RFC 7489 §4.2).
    let dmarc = match (dmarc_result(dmarc.spf_result()), dmarc_result(dmarc.dkim_result())) {
        (AuthResult::Pass, _) | (_, AuthResult::Pass) => AuthResult::Pass,
        (AuthResult::None, AuthResult::None) => AuthResult::None,
        (AuthResult::TempError, _) | (_, AuthResult::TempError) => AuthResult::TempError,
        _ => AuthResult::Fail,
    };
    Some(Verdict {
        spf: match spf.result() {
            SpfResult::Pass => AuthResult::Pass,
            SpfResult::Fail => AuthResult::Fail,
            SpfResult::SoftFail => AuthResult::SoftFail,
            SpfResult::Neutral => AuthResult::Neutral,
            SpfResult::TempError => AuthResult::TempError,
            SpfResult::PermError => AuthResult::PermError,
            SpfResult::None => AuthResult::None,
        },
        dkim,
        dmarc,
        iprev: match iprev.result() {
            IprevResult::Pass => AuthResult::Pass,
            IprevResult::Fail(_) => AuthResult::Fail,
            IprevResult::TempError(_) => AuthResult::TempError,
            IprevResult::PermError(_) => AuthResult::PermError,
            IprevResult::None => AuthResult::None,
        },
    })
}

fn dkim_result(result: &DkimResult) -> (AuthResult, Option<DkimProblem>) {
    use mail_auth::Error;
    use mail_auth::common::crypto::CryptoError;
    use mail_auth::dkim::DkimError;
    let problem = |error: &Error| match error {
        Error::Dns(mail_auth::DnsError::RecordNotFound(_)) => DkimProblem::KeyMissing,
        Error::Dns(mail_auth::DnsError::InvalidRecordType)
        | Error::ParseError
        | Error::Base64
        | Error::Crypto(CryptoError::Library(_))
        | Error::Dkim(DkimError::UnsupportedKeyType) => DkimProblem::KeyUnusable,
        Error::Crypto(CryptoError::FailedVerification) => DkimProblem::KeyDifferent,
        Error::Dkim(DkimError::FailedBodyHashMatch) => DkimProblem::BodyChanged,
        _ => DkimProblem::Other,
    };
    match result {
        DkimResult::Pass => (AuthResult::Pass, None),
        DkimResult::None => (AuthResult::None, None),
        DkimResult::Neutral(error) => (AuthResult::Neutral, Some(problem(error))),
        DkimResult::Fail(error) => (AuthResult::Fail, Some(problem(error))),
        DkimResult::PermError(error) => (AuthResult::PermError, Some(problem(error))),
        DkimResult::TempError(error) => (AuthResult::TempError, Some(problem(error))),
    }
}

/// A key problem made precise by what the domain's DNS publishes at the signature's record
/// (`published`) compared with the record the relay's key needs (`expected`).
pub fn refine_dkim(problem: DkimProblem, published: &[String], expected: &str) -> DkimProblem {
    if !matches!(
        problem,
        DkimProblem::KeyMissing | DkimProblem::KeyUnusable | DkimProblem::KeyDifferent
    ) {
        return problem;
    }
    let squash = |text: &str| text.split_whitespace().collect::<String>();
    let expected = squash(expected);
    let keys: Vec<String> = published
        .iter()
        .map(|value| squash(value))
        .filter(|value| value.starts_with("v=DKIM1"))
        .collect();
    match keys.as_slice() {
        [] => DkimProblem::KeyMissing,
        [one] if *one == expected => problem,
        [one] if expected.starts_with(one.as_str()) => DkimProblem::KeyCut,
        _ => DkimProblem::KeyDifferent,
    }
}

/// Reads an `Authentication-Results` header (RFC 8601): the receiver's verdict.
pub fn parse_authentication_results(value: &str) -> Verdict {
    let mut verdict = Verdict {
        spf: AuthResult::None,
        dkim: Vec::new(),
        dmarc: AuthResult::None,
        iprev: AuthResult::None,
    };
    // `authserv-id; method=result prop=value ...; method=result ...`; comments in parentheses.
    let without_comments = strip_comments(value);
    for resinfo in without_comments.split(';').skip(1) {
        let mut words = resinfo.split_whitespace();
        let Some((method, result)) = words.next().and_then(|word| word.split_once('=')) else {
            continue;
        };
        let result = AuthResult::parse(result);
        let properties: Vec<(&str, &str)> = words.filter_map(|word| word.split_once('=')).collect();
        let property = |name: &str| {
            properties.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
        };
        match method.to_ascii_lowercase().as_str() {
            "spf" => verdict.spf = result,
            "dmarc" => verdict.dmarc = result,
            "iprev" => verdict.iprev = result,
            "dkim" => verdict.dkim.push(DkimVerdict {
                domain: property("header.d").unwrap_or_default().to_string(),
                selector: property("header.s").unwrap_or_default().to_string(),
                algorithm: property("header.a").unwrap_or_default().to_string(),
                result,
                problem: None,
            }),
            _ => {}
        }
    }
    verdict
}

fn strip_comments(text: &str) -> String {
    let mut depth = 0usize;
    text.chars()
        .filter(|&c| match c {
            '(' => {
                depth += 1;
                false
            }
            ')' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

/// Where the relay's delivery stands, from its trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Delivery {
    /// The recipient's server took it.
    Delivered {
        /// The attempt that delivered.
        record: api::DeliveryRecord,
    },
    /// Not yet: the relay will try again.
    Waiting {
        /// The last attempt, if one ended.
        #[ts(optional)]
        record: Option<api::DeliveryRecord>,
        /// Attempts so far.
        attempts: u32,
        /// When the relay tries again (seconds since the epoch).
        next_attempt: u64,
    },
    /// Refused for good.
    Refused {
        /// The refusing attempt.
        record: api::DeliveryRecord,
    },
}

impl Delivery {
    /// From the trace's item, for `recipient`.
    pub fn of(item: &api::QueueItem, recipient: &str) -> Option<Delivery> {
        let found = item
            .recipients
            .iter()
            .find(|r| r.address.eq_ignore_ascii_case(recipient))
            .or(item.recipients.first())?;
        let last = found.records.last().cloned();
        Some(match (found.status, last) {
            (api::RecipientStatus::Delivered, Some(record)) => Delivery::Delivered { record },
            (api::RecipientStatus::Failed | api::RecipientStatus::GaveUp, Some(record)) => {
                Delivery::Refused { record }
            }
            (_, record) => Delivery::Waiting {
                record,
                attempts: item.attempts,
                next_attempt: item.next_attempt,
            },
        })
    }

    /// The attempt that decided it, or the last one.
    pub fn record(&self) -> Option<&api::DeliveryRecord> {
        match self {
            Delivery::Delivered { record } | Delivery::Refused { record } => Some(record),
            Delivery::Waiting { record, .. } => record.as_ref(),
        }
    }
}

/// What a receiver's refusal usually means, from its codes (the common ones explained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Refusal {
    /// `5.7.26`/`5.7.27`: unauthenticated — SPF, DKIM or DMARC did not pass.
    Unauthenticated,
    /// `5.7.25`: the sending address has no reverse DNS.
    NoReverseDns,
    /// `5.7.1` and the like: the address or domain is blocked (a blocklist, reputation).
    Blocked,
    /// `4.7.0`, `4.7.28`, `421`: slow down — rate or reputation (new IPs and domains).
    RateOrReputation,
    /// `4.2.0`, `450`/`451` without more: greylisting, "try again later".
    TryLater,
    /// `5.1.1`: no such recipient.
    NoSuchUser,
    /// `5.2.2`: the mailbox is full.
    MailboxFull,
    /// Anything else.
    Other,
}

/// Classifies a refusal by its reply code and enhanced status code (RFC 3463).
pub fn refusal(code: u16, enhanced: Option<&str>) -> Refusal {
    match (code, enhanced.unwrap_or("")) {
        (_, "5.7.26" | "5.7.27" | "5.7.23" | "5.7.20" | "5.7.24") => Refusal::Unauthenticated,
        (_, "5.7.25") => Refusal::NoReverseDns,
        (_, "5.1.1" | "5.1.10") => Refusal::NoSuchUser,
        (_, "5.2.2" | "4.2.2") => Refusal::MailboxFull,
        (_, "4.7.28" | "4.7.0") | (421, _) => Refusal::RateOrReputation,
        (_, enhanced) if enhanced.starts_with("5.7.") => Refusal::Blocked,
        (400..=499, _) => Refusal::TryLater,
        _ => Refusal::Other,
    }
}

/// What went wrong (or is worth knowing), each with a fix the UI words and links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Finding {
    /// Every mail server was unreachable: the provider most likely blocks outgoing port 25.
    Port25Blocked,
    /// The recipient's domain has no mail server (a typo in the address?).
    NoMailServer,
    /// The recipient's MTA-STS policy could not be met.
    Policy,
    /// The receiver asked to try later; the relay will, at `retry_at`.
    TryLater {
        /// Its reply.
        reply: String,
        /// When the relay tries again (seconds since the epoch).
        retry_at: u64,
        /// What kind of "later".
        refusal: Refusal,
    },
    /// The receiver refused it.
    Refused {
        /// Its reply.
        reply: String,
        /// What it usually means.
        refusal: Refusal,
    },
    /// A DKIM signature does not verify for this reason (the DNS step fixes the record).
    Dkim {
        /// The record's name (`selector._domainkey.domain`).
        record: String,
        /// Why.
        problem: DkimProblem,
    },
    /// SPF does not pass for the server's address.
    Spf {
        /// The result.
        result: AuthResult,
    },
    /// DMARC does not pass.
    Dmarc,
    /// Reverse DNS does not name the mail host (and back).
    ReverseDns,
    /// Delivered without encryption.
    Unencrypted,
    /// It landed in the spam folder.
    Spam {
        /// The folder.
        folder: String,
    },
}

/// Gmail's sender requirements (support.google.com/a/answer/81126), checked for this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Requirement {
    /// The sending address has a PTR whose name points back at it.
    ReverseDns,
    /// Delivered over TLS.
    Tls,
    /// SPF passes.
    Spf,
    /// DKIM passes.
    Dkim,
    /// DMARC passes, aligned.
    Dmarc,
    /// The server's address is not on a blocklist.
    NotListed,
    /// The message has a `Date:` and a `Message-ID:` (RFC 5322).
    WellFormed,
}

/// How a requirement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Standing {
    /// Met.
    Met,
    /// Not met.
    NotMet,
    /// Could not be told (the message was not delivered yet, say).
    Unknown,
}

/// One requirement and how it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    /// Which.
    pub requirement: Requirement,
    /// How it stands.
    pub standing: Standing,
}

/// Gmail's checklist, from what is known: the delivery, the computed verdict, the blocklist
/// answers (`None`: not asked) and the signed message.
pub fn checklist(
    delivery: &Delivery,
    verdict: Option<&Verdict>,
    listed: Option<bool>,
    signed: &[u8],
) -> Vec<Checked> {
    let standing = |met: Option<bool>| match met {
        Some(true) => Standing::Met,
        Some(false) => Standing::NotMet,
        None => Standing::Unknown,
    };
    let passes = |result: Option<AuthResult>| result.map(|result| result == AuthResult::Pass);
    let delivered = matches!(delivery, Delivery::Delivered { .. });
    let headers = mail_parser::MessageParser::default().parse_headers(signed);
    let well_formed =
        headers.as_ref().map(|message| message.date().is_some() && message.message_id().is_some());
    vec![
        Checked {
            requirement: Requirement::ReverseDns,
            standing: standing(passes(verdict.map(|v| v.iprev))),
        },
        Checked {
            requirement: Requirement::Tls,
            standing: standing(
                delivered.then(|| delivery.record().is_some_and(|r| r.tls_version.is_some())),
            ),
        },
        Checked {
            requirement: Requirement::Spf,
            standing: standing(passes(verdict.map(|v| v.spf))),
        },
        Checked {
            requirement: Requirement::Dkim,
            standing: standing(passes(verdict.map(Verdict::dkim_result))),
        },
        Checked {
            requirement: Requirement::Dmarc,
            standing: standing(passes(verdict.map(|v| v.dmarc))),
        },
        Checked {
            requirement: Requirement::NotListed,
            standing: standing(listed.map(|listed| !listed)),
        },
        Checked { requirement: Requirement::WellFormed, standing: standing(well_formed) },
    ]
}

/// What is worth saying about the delivery and the verdict, most important first.
pub fn findings(delivery: &Delivery, verdict: Option<&Verdict>) -> Vec<Finding> {
    let mut findings = Vec::new();
    match delivery {
        Delivery::Waiting { record: Some(record), next_attempt, .. } => match &record.problem {
            Some(api::DeliveryProblem::Unreachable) => findings.push(Finding::Port25Blocked),
            Some(api::DeliveryProblem::NoMailServer) => findings.push(Finding::NoMailServer),
            Some(api::DeliveryProblem::Policy) => findings.push(Finding::Policy),
            Some(api::DeliveryProblem::Reply { code, enhanced }) => {
                findings.push(Finding::TryLater {
                    reply: record.reply.clone(),
                    retry_at: *next_attempt,
                    refusal: refusal(*code, enhanced.as_deref()),
                })
            }
            Some(api::DeliveryProblem::Interrupted | api::DeliveryProblem::Deferred { .. })
            | None => findings.push(Finding::TryLater {
                reply: record.reply.clone(),
                retry_at: *next_attempt,
                refusal: Refusal::TryLater,
            }),
        },
        Delivery::Refused { record } => match &record.problem {
            Some(api::DeliveryProblem::NoMailServer) => findings.push(Finding::NoMailServer),
            Some(api::DeliveryProblem::Reply { code, enhanced }) => {
                findings.push(Finding::Refused {
                    reply: record.reply.clone(),
                    refusal: refusal(*code, enhanced.as_deref()),
                })
            }
            _ => findings
                .push(Finding::Refused { reply: record.reply.clone(), refusal: Refusal::Other }),
        },
        Delivery::Delivered { record } if record.tls_version.is_none() => {
            findings.push(Finding::Unencrypted)
        }
        _ => {}
    }
    if let Some(verdict) = verdict {
        for signature in &verdict.dkim {
            if let Some(problem) = signature.problem {
                let record = api::dkim_record_name(&signature.selector, &signature.domain);
                findings.push(Finding::Dkim { record, problem });
            }
        }
        if verdict.spf != AuthResult::Pass {
            findings.push(Finding::Spf { result: verdict.spf });
        }
        if verdict.dmarc != AuthResult::Pass {
            findings.push(Finding::Dmarc);
        }
        if verdict.iprev != AuthResult::Pass {
            findings.push(Finding::ReverseDns);
        }
    }
    findings
}

/// What the recipient's mailbox showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Mailbox {
    /// No mailbox was given: the receiver's own verdict and the folder cannot be seen.
    NotAsked,
    /// The mailbox's password is not in the keychain.
    NoPassword {
        /// `user@host`.
        login: String,
    },
    /// Not read: the message was not delivered.
    NotDelivered,
    /// Found.
    Found {
        /// The folder it is in.
        folder: String,
        /// Whether that is the spam folder.
        spam: bool,
        /// The receiver's `Authentication-Results`, read.
        #[ts(optional)]
        verdict: Option<Verdict>,
        /// The receiver's header as written.
        #[ts(optional)]
        authentication_results: Option<String>,
        /// The TLS the receiver's `Received:` line names (`version=TLSv1.3 …`).
        #[ts(optional)]
        received_tls: Option<String>,
    },
    /// Not there after the longest wait.
    NotFound {
        /// Seconds waited.
        waited: u64,
    },
    /// The server refused the login.
    LoginRefused {
        /// What it said.
        detail: String,
    },
    /// The server could not be reached or spoke no IMAP over TLS.
    Unreachable {
        /// What went wrong.
        detail: String,
    },
}

/// A message found in a mailbox: the folder and the header section.
struct Found {
    folder: String,
    spam: bool,
    header: Vec<u8>,
}

/// Reads the mailbox for `message_id` (with its brackets) until found or `wait` passes: INBOX
/// first, then the spam folder (special-use `\Junk`, or a folder named like one).
pub async fn read_back(
    account: &ImapAccount,
    password: &str,
    extra_roots: &[u8],
    message_id: &str,
    wait: Duration,
) -> Mailbox {
    let started = std::time::Instant::now();
    let unreachable = |detail: String| Mailbox::Unreachable { detail };
    let connect = async {
        let tcp = tokio::net::TcpStream::connect((account.host.as_str(), account.port))
            .await
            .map_err(|error| format!("{}:{}: {error}", account.host, account.port))?;
        let trust = crate::probe::Trust::Chain {
            extra_roots: extra_roots.to_vec(),
            name: account.host.clone(),
        };
        crate::probe::handshake(&account.host, account.port, &trust, tcp)
            .await
            .map_err(|error| error.to_string())
    };
    let tls = match tokio::time::timeout(Duration::from_secs(15), connect).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(detail)) => return unreachable(detail),
        Err(_) => return unreachable(format!("{} did not answer within 15 s", account.host)),
    };
    let mut client = async_imap::Client::new(tls);
    match tokio::time::timeout(Duration::from_secs(15), client.read_response()).await {
        Ok(Ok(Some(_))) => {}
        _ => return unreachable(format!("{} sent no IMAP greeting", account.host)),
    }
    let mut session = match client.login(&account.user, password).await {
        Ok(session) => session,
        Err((error, _)) => return Mailbox::LoginRefused { detail: error.to_string() },
    };
    let folders = folders(&mut session).await;
    let found = loop {
        match find(&mut session, &folders, message_id).await {
            Ok(Some(found)) => break Some(found),
            Ok(None) if started.elapsed() < wait => {
                tokio::time::sleep(Duration::from_secs(1)).await
            }
            Ok(None) => break None,
            Err(detail) => {
                let _ = session.logout().await;
                return unreachable(detail);
            }
        }
    };
    let _ = session.logout().await;
    let Some(found) = found else {
        return Mailbox::NotFound { waited: started.elapsed().as_secs() };
    };
    let headers = mail_parser::MessageParser::default().parse_headers(&found.header);
    let text = |name: &str| {
        headers.as_ref().and_then(|message| {
            message
                .header_raw(name)
                .map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
        })
    };
    let authentication_results = text("Authentication-Results");
    let received_tls = text("Received").and_then(|received| {
        let start = received.find("version=")?;
        let end = received[start..].find(')').map_or(received.len(), |end| start + end);
        Some(received[start..end].to_string())
    });
    Mailbox::Found {
        folder: found.folder,
        spam: found.spam,
        verdict: authentication_results.as_deref().map(parse_authentication_results),
        authentication_results,
        received_tls,
    }
}

/// INBOX, then the spam folders: `(name, spam)`.
async fn folders<T>(session: &mut async_imap::Session<T>) -> Vec<(String, bool)>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    use futures_util::StreamExt;
    let mut folders = vec![("INBOX".to_string(), false)];
    let Ok(names) = session.list(Some(""), Some("*")).await else { return folders };
    let names: Vec<_> = names.collect().await;
    for name in names.into_iter().flatten() {
        let junk = name
            .attributes()
            .iter()
            .any(|attribute| matches!(attribute, async_imap::types::NameAttribute::Junk));
        let named = ["spam", "junk", "bulk"]
            .iter()
            .any(|word| name.name().to_ascii_lowercase().contains(word));
        if junk || named {
            folders.push((name.name().to_string(), true));
        }
    }
    folders
}

async fn find<T>(
    session: &mut async_imap::Session<T>,
    folders: &[(String, bool)],
    message_id: &str,
) -> Result<Option<Found>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    use futures_util::StreamExt;
    // Only what a Message-ID may hold goes into the search (no quote can close the string).
    let id: String =
        message_id.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\').collect();
    for (folder, spam) in folders {
        if session.examine(folder).await.is_err() {
            continue;
        }
        let uids = session
            .uid_search(format!("HEADER Message-ID \"{id}\""))
            .await
            .map_err(|error| error.to_string())?;
        let Some(uid) = uids.into_iter().max() else { continue };
        let fetched: Vec<_> = session
            .uid_fetch(uid.to_string(), "BODY.PEEK[HEADER]")
            .await
            .map_err(|error| error.to_string())?
            .collect()
            .await;
        if let Some(header) =
            fetched.into_iter().flatten().find_map(|fetch| fetch.header().map(<[u8]>::to_vec))
        {
            return Ok(Some(Found { folder: folder.clone(), spam: *spam, header }));
        }
    }
    Ok(None)
}

/// Why the relay did not take the test email on port 587.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum SubmitFailure {
    /// The relay refused the stored SMTP password.
    Login,
    /// The relay refused the message.
    Refused {
        /// Its reply code.
        code: u16,
    },
    /// The relay could not be reached (not running?).
    Unreachable,
}

/// What the relay said when it took the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    /// The relay's reply (`250 2.0.0 queued as …`).
    pub reply: String,
}

/// Sends the test message (`words`) through `host`:587 (STARTTLS, the chain verified for
/// `mail_host` with the system's roots and `extra_roots`), logged in as `user`.
#[allow(clippy::too_many_arguments)]
pub async fn submit(
    host: &str,
    mail_host: &str,
    extra_roots: &[u8],
    user: &str,
    password: &str,
    to: &str,
    message_id: &str,
    words: &TestMessage,
) -> Result<Submitted, (SubmitFailure, String)> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let unusable = |detail: String| (SubmitFailure::Refused { code: 0 }, detail);
    let mut tls = TlsParameters::builder(mail_host.to_string());
    if !extra_roots.is_empty() {
        let roots =
            Certificate::from_pem(extra_roots).map_err(|error| unusable(error.to_string()))?;
        tls = tls.add_root_certificate(roots);
    }
    let tls = tls.build_rustls().map_err(|error| unusable(error.to_string()))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(587)
        .tls(Tls::Required(tls))
        .credentials(Credentials::new(user.to_string(), password.to_string()))
        .timeout(Some(Duration::from_secs(30)))
        .build();
    let message = Message::builder()
        .from(
            user.parse()
                .map_err(|error: lettre::address::AddressError| unusable(error.to_string()))?,
        )
        .to(to
            .parse()
            .map_err(|error: lettre::address::AddressError| unusable(error.to_string()))?)
        .subject(words.subject_line())
        .message_id(Some(format!("<{message_id}>")))
        .date_now()
        .header(ContentType::TEXT_PLAIN)
        .body(words.body_crlf())
        .map_err(|error| unusable(error.to_string()))?;
    match transport.send(message).await {
        Ok(response) => Ok(Submitted {
            reply: format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            ),
        }),
        Err(error) => {
            let detail = error.to_string();
            let code = error.status().map(u16::from);
            Err(match code {
                Some(535 | 534 | 530) => (SubmitFailure::Login, detail),
                Some(code) => (SubmitFailure::Refused { code }, detail),
                None => (SubmitFailure::Unreachable, detail),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_keeps_its_subject_on_one_line_and_ends_its_lines_in_crlf() {
        let words = TestMessage {
            subject: "Outpost сынақ хаты\r\nBcc: someone@example.net".into(),
            body: "Бірінші жол.\n\nСоңғы жол.".into(),
        };
        assert_eq!(words.subject_line(), "Outpost сынақ хаты  Bcc: someone@example.net");
        assert_eq!(words.body_crlf(), "Бірінші жол.\r\n\r\nСоңғы жол.\r\n");
        let windows = TestMessage { subject: "x".into(), body: "a\r\nb\r\n".into() };
        assert_eq!(windows.body_crlf(), "a\r\nb\r\n");
    }

    #[test]
    fn a_receivers_authentication_results_are_read_with_comments_and_folding() {
        let header = "mx.gmail.test;\r\n\tiprev=pass policy.iprev=198.51.100.10;\r\n\tspf=pass (sender ok) smtp.mailfrom=alice@example.test smtp.helo=mail.example.test;\r\n\tdkim=pass header.d=example.test header.s=outpost header.a=rsa-sha256;\r\n\tdkim=fail header.d=example.test header.s=old header.a=ed25519-sha256;\r\n\tdmarc=pass header.from=example.test";
        let verdict = parse_authentication_results(header);
        assert_eq!(verdict.spf, AuthResult::Pass);
        assert_eq!(verdict.iprev, AuthResult::Pass);
        assert_eq!(verdict.dmarc, AuthResult::Pass);
        assert_eq!(verdict.dkim.len(), 2);
        assert_eq!(verdict.dkim[0].selector, "outpost");
        assert_eq!(verdict.dkim[1].result, AuthResult::Fail);
        assert_eq!(verdict.dkim_result(), AuthResult::Pass, "one passing signature is enough");
        let gmail = "mx.google.com; dkim=pass header.i=@example.com header.s=x header.b=abc; spf=softfail (google.com: domain of transitioning a@b does not designate 1.2.3.4 as permitted sender) smtp.mailfrom=a@b; dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=example.com";
        let verdict = parse_authentication_results(gmail);
        assert_eq!((verdict.spf, verdict.dmarc), (AuthResult::SoftFail, AuthResult::Fail));
        assert_eq!(verdict.iprev, AuthResult::None, "not reported");
    }

    #[test]
    fn a_key_problem_is_named_from_what_dns_publishes() {
        let expected = format!("v=DKIM1; k=rsa; p={}", "A".repeat(392));
        let cut = expected[..255].to_string();
        assert_eq!(refine_dkim(DkimProblem::KeyDifferent, &[cut], &expected), DkimProblem::KeyCut);
        assert_eq!(refine_dkim(DkimProblem::KeyUnusable, &[], &expected), DkimProblem::KeyMissing);
        assert_eq!(
            refine_dkim(DkimProblem::KeyDifferent, &["v=DKIM1; k=rsa; p=BBBB".into()], &expected),
            DkimProblem::KeyDifferent
        );
        assert_eq!(
            refine_dkim(DkimProblem::BodyChanged, &[], &expected),
            DkimProblem::BodyChanged,
            "not a key problem"
        );
    }

    #[test]
    fn the_common_refusals_are_told_apart_by_their_codes() {
        assert_eq!(refusal(550, Some("5.7.26")), Refusal::Unauthenticated);
        assert_eq!(refusal(550, Some("5.7.25")), Refusal::NoReverseDns);
        assert_eq!(refusal(550, Some("5.7.1")), Refusal::Blocked);
        assert_eq!(refusal(421, Some("4.7.0")), Refusal::RateOrReputation);
        assert_eq!(refusal(421, None), Refusal::RateOrReputation);
        assert_eq!(refusal(451, Some("4.3.0")), Refusal::TryLater);
        assert_eq!(refusal(450, None), Refusal::TryLater);
        assert_eq!(refusal(550, Some("5.1.1")), Refusal::NoSuchUser);
        assert_eq!(refusal(552, Some("5.2.2")), Refusal::MailboxFull);
        assert_eq!(refusal(554, None), Refusal::Other);
    }

    fn record(problem: Option<api::DeliveryProblem>, reply: &str) -> api::DeliveryRecord {
        api::DeliveryRecord {
            at: 100,
            outcome: api::Outcome::Temporary,
            host: None,
            ip: None,
            tls_version: None,
            tls_cipher: None,
            reply: reply.into(),
            problem,
            mta_sts: false,
        }
    }

    #[test]
    fn findings_name_a_blocked_port_a_greylist_and_a_bad_signature() {
        let blocked = Delivery::Waiting {
            record: Some(record(Some(api::DeliveryProblem::Unreachable), "timed out")),
            attempts: 1,
            next_attempt: 400,
        };
        assert_eq!(findings(&blocked, None), vec![Finding::Port25Blocked]);
        let greylisted = Delivery::Waiting {
            record: Some(record(
                Some(api::DeliveryProblem::Reply { code: 451, enhanced: Some("4.7.1".into()) }),
                "451 4.7.1 greylisted",
            )),
            attempts: 1,
            next_attempt: 400,
        };
        assert!(matches!(
            findings(&greylisted, None).as_slice(),
            [Finding::TryLater { retry_at: 400, .. }]
        ));
        let mut delivered = record(None, "250 ok");
        delivered.tls_version = Some("TLSv1.3".into());
        let verdict = Verdict {
            spf: AuthResult::Pass,
            dkim: vec![DkimVerdict {
                domain: "example.test".into(),
                selector: "outpost".into(),
                algorithm: "rsa-sha256".into(),
                result: AuthResult::PermError,
                problem: Some(DkimProblem::KeyUnusable),
            }],
            dmarc: AuthResult::Pass,
            iprev: AuthResult::Pass,
        };
        assert_eq!(
            findings(&Delivery::Delivered { record: delivered.clone() }, Some(&verdict)),
            vec![Finding::Dkim {
                record: "outpost._domainkey.example.test".into(),
                problem: DkimProblem::KeyUnusable
            }]
        );
        let signed = b"Date: Tue, 1 Dec 2026 12:00:00 +0000\r\nMessage-ID: <1@example.test>\r\nFrom: a@example.test\r\n\r\nhi\r\n";
        let list = checklist(
            &Delivery::Delivered { record: delivered },
            Some(&verdict),
            Some(false),
            signed,
        );
        let standing =
            |requirement| list.iter().find(|c| c.requirement == requirement).unwrap().standing;
        assert_eq!(standing(Requirement::Dkim), Standing::NotMet);
        assert_eq!(standing(Requirement::Tls), Standing::Met);
        assert_eq!(standing(Requirement::NotListed), Standing::Met);
        assert_eq!(standing(Requirement::WellFormed), Standing::Met);
        assert_eq!(
            checklist(&blocked, None, None, b"From: a@b\r\n\r\n")
                .iter()
                .find(|c| c.requirement == Requirement::Spf)
                .unwrap()
                .standing,
            Standing::Unknown
        );
    }
}
