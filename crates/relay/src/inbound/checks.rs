//! What the relay checks before it forwards a message, so it never forwards what the sender's
//! own domain disowns (Gmail's guidance for forwarders: forwarded spam damages the forwarding
//! domain):
//!
//! - the client's address against DNS blocklists (Spamhaus ZEN), asked through the server's own
//!   resolver; a list that cannot be asked, or answers with one of its error codes
//!   (127.255.255.x: "your resolver is refused"), never means "listed";
//! - SPF of the envelope sender, every DKIM signature, DMARC of the `From:` domain (mail-auth);
//!   a DMARC failure where the domain says `p=reject` is refused, and so is an SPF `fail` with no
//!   passing DKIM signature aligned with the `From:` domain;
//! - what was found goes into an `Authentication-Results:` header naming this relay, and the
//!   forwarded message is ARC-sealed with the domain's key so the destination can trust it.

use std::net::{IpAddr, Ipv4Addr};

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator,
    SpfResult,
};
use outpost_relay_api::InboundRefusal;

use crate::dkim::Signer;
use crate::envelope::domain_of;

/// An address on a blocklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The list (`zen.spamhaus.org`).
    pub list: String,
    /// Its answer (127.0.0.2–127.0.0.11 for ZEN's SBL, CSS, XBL and PBL).
    pub code: Ipv4Addr,
}

/// Why a message is refused, and the reply text that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The kind, for the status counts.
    pub reason: InboundRefusal,
    /// The reply text (after `550 5.7.1`).
    pub text: String,
}

/// What the checks found about a message that may be forwarded.
#[derive(Debug, Clone)]
pub struct Examined {
    /// Set when the message must be refused.
    pub refusal: Option<Refusal>,
    /// Headers to prepend, each ending in CRLF: the ARC set (when sealed) and
    /// `Authentication-Results:`.
    pub headers: String,
    /// The `From:` address.
    pub header_from: String,
}

/// The checks, with the resolver they ask.
pub struct Checker {
    authenticator: MessageAuthenticator,
    resolver: TokioResolver,
    blocklists: Vec<String>,
    hostname: String,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Checker").field("blocklists", &self.blocklists).finish()
    }
}

impl Checker {
    /// Checks asked through `resolver` (the relay's own), naming `hostname` in their results.
    pub fn new(resolver: TokioResolver, blocklists: Vec<String>, hostname: String) -> Checker {
        Checker {
            authenticator: MessageAuthenticator(resolver.clone()),
            resolver,
            blocklists,
            hostname,
        }
    }

    /// The first blocklist that lists `ip`, if any.
    pub async fn blocklisted(&self, ip: IpAddr) -> Option<Listing> {
        for list in &self.blocklists {
            let name = format!("{}.{list}.", reversed(ip));
            match self.resolver.ipv4_lookup(name.as_str()).await {
                Ok(answer) => {
                    let codes: Vec<Ipv4Addr> = answer
                        .answers()
                        .iter()
                        .filter_map(|record| match &record.data {
                            RData::A(address) => Some(address.0),
                            _ => None,
                        })
                        .collect();
                    if let Some(code) = codes.iter().copied().find(|code| is_listing(*code)) {
                        return Some(Listing { list: list.clone(), code });
                    }
                    if !codes.is_empty() {
                        tracing::warn!(%list, ?codes, "the blocklist refused to answer this server's resolver; not counting the client as listed");
                    }
                }
                Err(error) if error.is_nx_domain() || error.is_no_records_found() => {}
                Err(error) => {
                    tracing::warn!(%list, %error, "cannot ask the blocklist; not counting the client as listed");
                }
            }
        }
        None
    }

    /// Checks `message` (as received, with our `Received:` header on top) from `ip`, and seals
    /// it for `seal_domain` when it may be forwarded.
    pub async fn examine(
        &self,
        ip: IpAddr,
        helo: &str,
        mail_from: &str,
        message: &[u8],
        sealing: Option<(&Signer, &str)>,
    ) -> Examined {
        let Some(parsed) = AuthenticatedMessage::parse(message) else {
            return Examined {
                refusal: Some(Refusal {
                    reason: InboundRefusal::Malformed,
                    text: "the message's headers cannot be read".into(),
                }),
                headers: String::new(),
                header_from: String::new(),
            };
        };
        let header_from = parsed.from().to_string();
        let from_domain = domain_of(&header_from);
        let dkim = self.authenticator.verify_dkim(&parsed).await;
        let arc = self.authenticator.verify_arc(&parsed).await;
        let helo_domain = if helo.is_empty() { "unknown" } else { helo };
        let spf = if mail_from.is_empty() {
            self.authenticator
                .verify_spf(SpfParameters::verify_ehlo(ip, helo_domain, &self.hostname))
                .await
        } else {
            self.authenticator
                .verify_spf(SpfParameters::verify_mail_from(
                    ip,
                    helo_domain,
                    &self.hostname,
                    mail_from,
                ))
                .await
        };
        let mail_from_domain =
            if mail_from.is_empty() { helo_domain.to_string() } else { domain_of(mail_from) };
        let dmarc = self
            .authenticator
            .verify_dmarc(DmarcParameters::new(&parsed, &dkim, &mail_from_domain, &spf))
            .await;
        let results = AuthenticationResults::new(&self.hostname)
            .with_dkim_results(&dkim, &header_from)
            .with_spf_mailfrom_result(&spf, ip, mail_from, helo_domain)
            .with_arc_result(&arc, ip)
            .with_dmarc_result(&dmarc);

        let dkim_aligned = dkim.iter().any(|output| {
            output.result() == &DkimResult::Pass
                && output.signature().is_some_and(|signature| aligned(&signature.d, &from_domain))
        });
        // A failure, not a DNS error: "could not check" is never a reason to refuse.
        let dmarc_failed = matches!(dmarc.result(), DmarcResult::Fail(_));
        let refusal = if dmarc_failed && dmarc.policy() == Policy::Reject {
            Some(Refusal {
                reason: InboundRefusal::DmarcReject,
                text: format!(
                    "{from_domain} publishes a DMARC policy to reject mail that fails its checks, and this message fails them"
                ),
            })
        } else if spf.result() == SpfResult::Fail && !dkim_aligned {
            Some(Refusal {
                reason: InboundRefusal::SpfFail,
                text: format!(
                    "the SPF record of {mail_from_domain} does not allow {ip} to send its mail"
                ),
            })
        } else {
            None
        };
        let mut headers = String::new();
        if refusal.is_none()
            && let Some((signer, domain)) = sealing
            && let Some(set) = signer.seal(domain, &parsed, &results, &arc)
        {
            headers.push_str(&set);
        }
        headers.push_str(&results.to_header());
        Examined { refusal, headers, header_from }
    }
}

/// Relaxed alignment (RFC 7489 §3.1.1) without a public-suffix list: the same domain, or one
/// inside the other.
fn aligned(signing: &str, from: &str) -> bool {
    let signing = signing.trim_end_matches('.').to_ascii_lowercase();
    let from = from.trim_end_matches('.').to_ascii_lowercase();
    !signing.is_empty()
        && (signing == from
            || from.ends_with(&format!(".{signing}"))
            || signing.ends_with(&format!(".{from}")))
}

/// A blocklist's "listed" answer: 127.0.0.2 and up. 127.255.255.x are its error codes.
fn is_listing(code: Ipv4Addr) -> bool {
    let [a, b, c, d] = code.octets();
    a == 127 && b == 0 && c == 0 && d >= 2
}

/// The address as a blocklist query name: reversed octets, or reversed nibbles for IPv6.
fn reversed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}")
        }
        IpAddr::V6(v6) => {
            let hex: String = v6.octets().iter().map(|byte| format!("{byte:02x}")).collect();
            let nibbles: Vec<String> = hex.chars().rev().map(String::from).collect();
            nibbles.join(".")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_and_answers_are_read_as_blocklists_mean_them() {
        assert_eq!(reversed("198.51.100.10".parse().unwrap()), "10.100.51.198");
        let v6 = reversed("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0") && v6.ends_with("8.b.d.0.1.0.0.2"), "{v6}");
        assert_eq!(v6.split('.').count(), 32);
        assert!(
            is_listing(Ipv4Addr::new(127, 0, 0, 2)) && is_listing(Ipv4Addr::new(127, 0, 0, 11))
        );
        assert!(!is_listing(Ipv4Addr::new(127, 255, 255, 254)), "an error code is not a listing");
        assert!(!is_listing(Ipv4Addr::new(127, 0, 0, 1)));
    }

    #[test]
    fn alignment_is_relaxed() {
        assert!(aligned("gmail.test", "gmail.test"));
        assert!(aligned("mail.gmail.test", "gmail.test"));
        assert!(aligned("gmail.test", "news.gmail.test"));
        assert!(!aligned("evil.test", "gmail.test"));
        assert!(!aligned("ail.test", "gmail.test"));
        assert!(!aligned("", "gmail.test"));
    }
}
