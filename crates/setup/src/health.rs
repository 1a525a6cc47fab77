//! The dashboard's health at a glance: is the mail working, and if not, what fixes it.
//!
//! What the server knows comes from one admin call over SSH (`outpost-relay health`: the status,
//! the queue, disk and memory, the outgoing port-25 probe and the blocklist lookups); what only
//! the outside can tell is asked from this computer (the relay's ports, the DNS records at the
//! zone's own servers). [`judge`] turns it all into [`Item`]s — pass, warn or fail, with what was
//! found as data for the UI to word — and is a pure function of what was read and the server's
//! clock, so every rule is unit-tested.

use std::net::IpAddr;
use std::time::Duration;

use outpost_relay_api::{self as api, Outcome, RecipientStatus};
use serde::Serialize;

use crate::checks::{self, Verdict};
use crate::dns::blocklists::{self, Entry, Listing};
use crate::relay_admin::{self, RelayAdmin};
use crate::remote::Remote;
use crate::test_email::{self, Refusal};

/// A certificate closer than this to its end is a failure (Let's Encrypt no longer warns).
pub const EXPIRY_ALARM: Duration = Duration::from_secs(14 * 86_400);
/// A message waiting longer than this is stuck.
pub const STUCK_AFTER: Duration = Duration::from_secs(3600);
/// The admin protocol that brought `health`.
pub const HEALTH_API: u32 = 2;
/// How long each port may take to answer from this computer.
const PORT_WAIT: Duration = Duration::from_secs(5);

/// Everything the dashboard shows, read at once.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// The server's clock when it answered (seconds since the epoch).
    pub checked: u64,
    /// Each thing that must work, judged, in the order the dashboard lists them.
    pub items: Vec<Item>,
    /// The queued messages, oldest first.
    pub queue: Vec<api::QueueItem>,
    /// The latest finished deliveries, newest first.
    pub deliveries: Vec<Delivery>,
    /// The DNS report the DNS item judged (none when the records could not be checked).
    pub dns: Option<crate::dns::report::Report>,
}

/// One finished delivery, with a refusal's usual meaning (the test email's explanations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "FinishedDelivery")]
pub struct Delivery {
    /// The queue id.
    pub id: String,
    /// The recipient.
    pub recipient: String,
    /// Its last attempt.
    pub record: api::DeliveryRecord,
    /// What a refusal's codes usually mean.
    pub refusal: Option<Refusal>,
}

/// One thing that must work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "HealthItem")]
pub struct Item {
    /// Green, amber or red.
    pub verdict: Verdict,
    /// What was found (its `id` names the item).
    pub found: Found,
}

/// What each item found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "id", rename_all = "camelCase", rename_all_fields = "camelCase")]
#[ts(rename = "HealthFinding")]
pub enum Found {
    /// The relay's service: running since when, or stopped since it was last seen.
    Relay {
        /// Whether it runs now.
        running: bool,
        /// Running: when it started; stopped: when it last reported (none if it never ran).
        since: Option<u64>,
    },
    /// The relay's ports, tried from this computer as mail programs and servers would.
    Ports {
        /// Ports that answered.
        open: Vec<u16>,
        /// Ports the relay listens on that did not answer from here (a firewall).
        closed: Vec<u16>,
    },
    /// The certificate for the mail host.
    Certificate {
        /// Who signed it.
        issuer: String,
        /// Made by the relay itself (mail programs warn).
        self_signed: bool,
        /// When it expires (seconds since the epoch).
        expires: u64,
        /// When the relay asks its CA for the next one.
        next_renewal: Option<u64>,
        /// Why the last renewal failed, if it did.
        failure: Option<api::AcmeFailureKind>,
    },
    /// The relay has no certificate at all (it is not running, say).
    NoCertificate,
    /// Messages waiting to be delivered.
    Queue {
        /// How many.
        waiting: usize,
        /// Of those, how many have waited longer than [`STUCK_AFTER`].
        stuck: usize,
        /// When the oldest was accepted.
        oldest: Option<u64>,
        /// When the next attempt is due.
        next_retry: Option<u64>,
    },
    /// Recipients delivered and bounced over the last 24 hours.
    Deliveries {
        /// The counts.
        counts: api::DeliveryCounts,
    },
    /// Mail received for the domain since the relay started.
    Inbound {
        /// Since when.
        since: u64,
        /// Messages forwarded.
        forwarded: u64,
        /// Refusals by reason.
        refused: Vec<api::RefusalCount>,
    },
    /// The DNS records at the zone's own servers.
    Dns {
        /// Records right (of every domain on the relay).
        right: usize,
        /// Records in all.
        total: usize,
        /// Right ones public resolvers do not all answer yet.
        spreading: usize,
        /// Whether a record of the first domain is not right (fixed at the DNS step).
        first_wrong: bool,
        /// The further domains with a record that is not right (fixed on the dashboard).
        further_wrong: Vec<String>,
    },
    /// The DNS records could not be checked from here.
    DnsUnchecked {
        /// What went wrong.
        detail: String,
    },
    /// The server's addresses and the domain on the common blocklists.
    Blocklists {
        /// Listings found.
        listed: Vec<Entry>,
        /// Lookups that could not be read (not listings).
        unchecked: usize,
        /// Lookups made.
        asked: usize,
    },
    /// The server reaching other mail servers on port 25.
    Outbound25 {
        /// `host:port` tried.
        target: String,
        /// Whether it answered.
        reachable: bool,
        /// Why not.
        detail: Option<String>,
    },
    /// The relay on the server against the one this app carries.
    Version {
        /// On the server (none if it never ran).
        running: Option<String>,
        /// In this app.
        carried: String,
        /// How the server's compares.
        standing: VersionStanding,
    },
    /// Free disk space for the queue.
    Disk {
        /// Free, MiB.
        free_mb: Option<u64>,
        /// In all, MiB.
        total_mb: Option<u64>,
    },
    /// Memory available on the server.
    Memory {
        /// Available, MiB.
        available_mb: Option<u64>,
        /// In all, MiB.
        total_mb: Option<u64>,
    },
}

/// The server's relay compared with the carried one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum VersionStanding {
    /// The same.
    Current,
    /// Older: this app can upgrade it.
    Older,
    /// Newer than this app (an app update will know it).
    Newer,
}

/// What the server said in its one `health` reply, with what was asked of it.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The reply.
    pub health: api::Health,
    /// The blocklist questions whose lookups it carries.
    pub questions: blocklists::Questions,
}

/// What the judge needs besides the reading.
#[derive(Debug, Clone)]
pub struct Context {
    /// The mail host (the certificate that matters is the one for it).
    pub mail_host: String,
    /// The relay version this app carries.
    pub carried: String,
    /// Ports tried from this computer: (port, answered).
    pub ports: Vec<(u16, bool)>,
    /// Each domain's DNS verdict (the first domain first), or why there is none.
    pub dns: Vec<(String, Result<crate::dns::report::Verdict, String>)>,
}

/// Asks the server: one `health` call, with the port-25 probe and the blocklist lookups.
pub async fn read<R: Remote>(
    remote: &R,
    probe: &str,
    addresses: &[IpAddr],
    domain: &str,
) -> Result<Reading, relay_admin::Error> {
    let admin = RelayAdmin::new(remote);
    let questions = blocklists::Questions::new(addresses, domain);
    match admin.health(probe, &questions.names()).await {
        Ok(health) => Ok(Reading { health, questions }),
        // A relay from before `health` (protocol 1) prints no reply; one that answers
        // `status` is there and only too old.
        Err(relay_admin::Error::NoReply { .. }) if admin.status().await.is_ok() => {
            Err(relay_admin::Error::UpgradeNeeded { relay: 1, needed: HEALTH_API })
        }
        Err(error) => Err(error),
    }
}

/// The ports the relay listens on, each tried from this computer at `host`.
pub async fn try_ports(host: &str, listeners: &[api::Listener]) -> Vec<(u16, bool)> {
    let mut ports: Vec<u16> = listeners.iter().map(|listener| listener.address.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let tries = ports.iter().map(|&port| async move {
        let open = tokio::time::timeout(PORT_WAIT, tokio::net::TcpStream::connect((host, port)))
            .await
            .is_ok_and(|connected| connected.is_ok());
        (port, open)
    });
    futures_util::future::join_all(tries).await
}

/// Every item, judged by the server's clock.
pub fn judge(reading: &Reading, context: &Context) -> Vec<Item> {
    let health = &reading.health;
    let now = health.now;
    let item = |verdict, found| Item { verdict, found };
    let mut items = Vec::new();
    let status = health.status.as_ref();

    let running = status.is_some_and(|status| status.running);
    let since = status.map(|status| if status.running { status.started } else { status.updated });
    items.push(item(
        if running { Verdict::Pass } else { Verdict::Fail },
        Found::Relay { running, since },
    ));

    if running {
        let (open, closed): (Vec<_>, Vec<_>) = context.ports.iter().partition(|(_, open)| *open);
        let closed: Vec<u16> = closed.into_iter().map(|(port, _)| port).collect();
        items.push(item(
            if closed.is_empty() { Verdict::Pass } else { Verdict::Fail },
            Found::Ports { open: open.into_iter().map(|(port, _)| port).collect(), closed },
        ));
    }

    items.push(certificate(status, &context.mail_host, now));

    let pending: Vec<&api::QueueItem> = health
        .queue
        .iter()
        .filter(|item| item.recipients.iter().any(|r| r.status == RecipientStatus::Pending))
        .collect();
    let stuck_before = now.saturating_sub(STUCK_AFTER.as_secs());
    let stuck = pending.iter().filter(|item| item.created < stuck_before).count();
    items.push(item(
        if stuck > 0 { Verdict::Warn } else { Verdict::Pass },
        Found::Queue {
            waiting: pending.len(),
            stuck,
            oldest: pending.iter().map(|item| item.created).min(),
            next_retry: pending.iter().map(|item| item.next_attempt).min(),
        },
    ));

    if let Some(status) = status {
        let counts = status.last_day;
        items.push(item(
            if counts.bounced > 0 { Verdict::Warn } else { Verdict::Pass },
            Found::Deliveries { counts },
        ));
        if let Some(inbound) = &status.inbound {
            items.push(item(
                Verdict::Pass,
                Found::Inbound {
                    since: inbound.since,
                    forwarded: inbound.forwarded,
                    refused: inbound.refused.clone(),
                },
            ));
        }
    }

    let unchecked = context.dns.iter().find_map(|(_, verdict)| verdict.as_ref().err());
    items.push(match unchecked {
        None => {
            let verdicts = context.dns.iter().filter_map(|(_, verdict)| verdict.as_ref().ok());
            let (right, total, spreading) = verdicts.fold((0, 0, 0), |sum, verdict| {
                (sum.0 + verdict.right, sum.1 + verdict.total, sum.2 + verdict.spreading)
            });
            let wrong = |(_, verdict): &&(String, Result<crate::dns::report::Verdict, String>)| {
                verdict.as_ref().is_ok_and(|verdict| verdict.next.is_some())
            };
            let first_wrong = context.dns.first().as_ref().is_some_and(wrong);
            let further_wrong: Vec<String> = context
                .dns
                .iter()
                .skip(1)
                .filter(wrong)
                .map(|(domain, _)| domain.clone())
                .collect();
            let verdict = if first_wrong || !further_wrong.is_empty() {
                Verdict::Fail
            } else if spreading > 0 {
                Verdict::Warn
            } else {
                Verdict::Pass
            };
            item(verdict, Found::Dns { right, total, spreading, first_wrong, further_wrong })
        }
        Some(detail) => item(Verdict::Warn, Found::DnsUnchecked { detail: detail.clone() }),
    });

    let entries = reading.questions.answers(&health.lookups);
    let listed: Vec<Entry> = entries
        .iter()
        .filter(|entry| matches!(entry.listing, Listing::Listed { .. }))
        .cloned()
        .collect();
    let unchecked = entries
        .iter()
        .filter(|entry| matches!(entry.listing, Listing::CouldNotCheck { .. }))
        .count();
    items.push(item(
        if listed.is_empty() { Verdict::Pass } else { Verdict::Fail },
        Found::Blocklists { listed, unchecked, asked: entries.len() },
    ));

    if let Some(outbound) = &health.outbound {
        items.push(item(
            if outbound.reachable { Verdict::Pass } else { Verdict::Fail },
            Found::Outbound25 {
                target: outbound.target.clone(),
                reachable: outbound.reachable,
                detail: outbound.detail.clone(),
            },
        ));
    }

    let running_version = status.map(|status| status.version.clone());
    let standing = match running_version.as_deref().map(|v| compare(v, &context.carried)) {
        Some(std::cmp::Ordering::Less) | None => VersionStanding::Older,
        Some(std::cmp::Ordering::Equal) => VersionStanding::Current,
        Some(std::cmp::Ordering::Greater) => VersionStanding::Newer,
    };
    items.push(item(
        if standing == VersionStanding::Current { Verdict::Pass } else { Verdict::Warn },
        Found::Version { running: running_version, carried: context.carried.clone(), standing },
    ));

    let room = health.server;
    items.push(item(
        checks::disk_verdict(room.disk_free_mb),
        Found::Disk { free_mb: room.disk_free_mb, total_mb: room.disk_total_mb },
    ));
    items.push(item(
        checks::memory_verdict(room.memory_available_mb),
        Found::Memory { available_mb: room.memory_available_mb, total_mb: room.memory_total_mb },
    ));
    items
}

/// The mail host's certificate: self-signed is worth a look, a failing renewal too, and one
/// that ends within [`EXPIRY_ALARM`] must be fixed.
fn certificate(status: Option<&api::Status>, mail_host: &str, now: u64) -> Item {
    let Some(status) = status else {
        return Item { verdict: Verdict::Fail, found: Found::NoCertificate };
    };
    let serves = |certificate: &&api::Certificate| {
        certificate.names.iter().any(|name| name.eq_ignore_ascii_case(mail_host))
    };
    let Some(certificate) = status.certificates.iter().find(serves).or(status.certificates.first())
    else {
        return Item { verdict: Verdict::Fail, found: Found::NoCertificate };
    };
    let acme = status.acme.as_ref();
    let failure = acme
        .and_then(|acme| acme.last_attempt.as_ref())
        .and_then(|attempt| attempt.failure.as_ref())
        .map(|failure| failure.kind);
    let ending = certificate.expires < now + EXPIRY_ALARM.as_secs();
    let verdict = if ending && !certificate.is_self_signed() {
        Verdict::Fail
    } else if certificate.is_self_signed() || failure.is_some() {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    Item {
        verdict,
        found: Found::Certificate {
            issuer: certificate.issuer.clone(),
            self_signed: certificate.is_self_signed(),
            expires: certificate.expires,
            next_renewal: acme.and_then(|acme| acme.next.as_ref()).map(|next| next.at),
            failure,
        },
    }
}

/// What got worse since the last reading and is worth a desktop notification: the relay down,
/// the certificate ending or its renewal failing, a message stuck, a blocklist listing, a DNS
/// record changed, a port closed, outgoing port 25 blocked. Nothing when all is well, nothing
/// for what was already as bad (the user has been told), nothing for disk, memory or the
/// version (the dashboard says those). Without an earlier reading (the app just started), what
/// is red counts as worse (amber things the user lives with are not repeated at every start).
pub fn worse(before: Option<&[Item]>, now: &[Item]) -> Vec<Item> {
    let rank = |verdict: Verdict| match verdict {
        Verdict::Pass => 0,
        Verdict::Warn => 1,
        Verdict::Fail => 2,
    };
    let id = |found: &Found| -> &'static str {
        match found {
            Found::Relay { .. } => "relay",
            Found::Ports { .. } => "ports",
            Found::Certificate { .. } | Found::NoCertificate => "certificate",
            Found::Queue { .. } => "queue",
            Found::Dns { .. } | Found::DnsUnchecked { .. } => "dns",
            Found::Blocklists { .. } => "blocklists",
            Found::Outbound25 { .. } => "outbound25",
            Found::Deliveries { .. }
            | Found::Inbound { .. }
            | Found::Version { .. }
            | Found::Disk { .. }
            | Found::Memory { .. } => "",
        }
    };
    now.iter()
        .filter(|item| {
            !id(&item.found).is_empty() && !matches!(item.found, Found::DnsUnchecked { .. })
        })
        .filter(|item| {
            let was = before
                .and_then(|before| before.iter().find(|old| id(&old.found) == id(&item.found)))
                .map_or(if before.is_none() { 1 } else { 0 }, |old| rank(old.verdict));
            rank(item.verdict) > was
        })
        .cloned()
        .collect()
}

/// Dotted versions compared number by number (`0.10.0` is newer than `0.9.1`); a part that is
/// not a number compares as text.
pub fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<String> { v.split(['.', '-', '+']).map(str::to_string).collect() };
    let (a, b) = (parts(a), parts(b));
    for (x, y) in a.iter().zip(&b) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order != std::cmp::Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// The latest deliveries, newest first, refusals explained.
pub fn deliveries(reading: &Reading) -> Vec<Delivery> {
    let recent = reading.health.status.as_ref().map(|status| status.recent_deliveries.as_slice());
    recent
        .unwrap_or_default()
        .iter()
        .rev()
        .map(|delivery| Delivery {
            id: delivery.id.clone(),
            recipient: delivery.recipient.clone(),
            refusal: match (&delivery.record.outcome, &delivery.record.problem) {
                (Outcome::Delivered, _) => None,
                (_, Some(api::DeliveryProblem::Reply { code, enhanced })) => {
                    Some(test_email::refusal(*code, enhanced.as_deref()))
                }
                _ => None,
            },
            record: delivery.record.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn status() -> api::Status {
        api::Status {
            version: "0.2.0".into(),
            pid: 7,
            updated: NOW - 1,
            running: true,
            started: NOW - 600,
            listeners: vec![api::Listener {
                address: "0.0.0.0:587".parse().unwrap(),
                mode: api::ListenerMode::Submission,
            }],
            certificates: vec![api::Certificate {
                names: vec!["mail.example.com".into()],
                not_after: String::new(),
                expires: NOW + 60 * 86_400,
                source: api::CertificateSource::Acme { directory: "https://ca/dir".into() },
                sha256: String::new(),
                issuer: "R11".into(),
                serial: String::new(),
                not_before: String::new(),
            }],
            acme: None,
            queued: 0,
            recent_deliveries: Vec::new(),
            last_day: api::DeliveryCounts { since: NOW - 600, delivered: 3, bounced: 0 },
            inbound: None,
        }
    }

    fn reading(status: Option<api::Status>) -> Reading {
        let questions =
            blocklists::Questions::new(&["198.51.100.10".parse().unwrap()], "example.com");
        let lookups = questions
            .names()
            .into_iter()
            .map(|name| api::Lookup { name, outcome: api::LookupOutcome::NoSuchName })
            .collect();
        Reading {
            health: api::Health {
                now: NOW,
                status,
                queue: Vec::new(),
                server: api::ServerRoom {
                    disk_free_mb: Some(9000),
                    disk_total_mb: Some(10_000),
                    memory_available_mb: Some(700),
                    memory_total_mb: Some(1000),
                },
                outbound: Some(api::OutboundProbe {
                    target: "mx.example.net:25".into(),
                    reachable: true,
                    detail: None,
                }),
                lookups,
            },
            questions,
        }
    }

    fn context() -> Context {
        Context {
            mail_host: "mail.example.com".into(),
            carried: "0.2.0".into(),
            ports: vec![(587, true)],
            dns: vec![(
                "example.com".into(),
                Ok(crate::dns::report::Verdict { right: 7, total: 7, spreading: 0, next: None }),
            )],
        }
    }

    fn verdict_of(items: &[Item], id: &str) -> Verdict {
        let found = |item: &&Item| serde_json::to_value(&item.found).unwrap()["id"] == id;
        items.iter().find(found).unwrap_or_else(|| panic!("no {id} in {items:?}")).verdict
    }

    #[test]
    fn all_is_green_when_everything_works() {
        let items = judge(&reading(Some(status())), &context());
        let bad: Vec<&Item> = items.iter().filter(|item| item.verdict != Verdict::Pass).collect();
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(items[0].found, Found::Relay { running: true, since: Some(NOW - 600) });
    }

    #[test]
    fn a_stopped_relay_is_red_since_it_was_last_seen_and_its_ports_are_not_judged() {
        let mut stopped = status();
        stopped.running = false;
        let items =
            judge(&reading(Some(stopped)), &Context { ports: vec![(587, false)], ..context() });
        assert_eq!(items[0].verdict, Verdict::Fail);
        assert_eq!(items[0].found, Found::Relay { running: false, since: Some(NOW - 1) });
        assert!(!items.iter().any(|item| matches!(item.found, Found::Ports { .. })));
        let never = judge(&reading(None), &context());
        assert_eq!(never[0].found, Found::Relay { running: false, since: None });
        assert_eq!(verdict_of(&never, "noCertificate"), Verdict::Fail);
        assert_eq!(verdict_of(&never, "version"), Verdict::Warn);
    }

    #[test]
    fn a_port_closed_from_outside_is_red_and_named() {
        let items = judge(
            &reading(Some(status())),
            &Context { ports: vec![(25, false), (587, true)], ..context() },
        );
        let ports = items.iter().find(|item| matches!(item.found, Found::Ports { .. })).unwrap();
        assert_eq!(ports.verdict, Verdict::Fail);
        assert_eq!(ports.found, Found::Ports { open: vec![587], closed: vec![25] });
    }

    #[test]
    fn certificates_warn_when_self_signed_or_failing_and_fail_two_weeks_before_the_end() {
        let judged = |change: &dyn Fn(&mut api::Status)| {
            let mut status = status();
            change(&mut status);
            verdict_of(&judge(&reading(Some(status)), &context()), "certificate")
        };
        assert_eq!(judged(&|_| {}), Verdict::Pass);
        assert_eq!(
            judged(&|s| s.certificates[0].source = api::CertificateSource::SelfSigned),
            Verdict::Warn
        );
        assert_eq!(judged(&|s| s.certificates[0].expires = NOW + 13 * 86_400), Verdict::Fail);
        assert_eq!(judged(&|s| s.certificates[0].expires = NOW + 15 * 86_400), Verdict::Pass);
        assert_eq!(
            judged(&|s| {
                s.acme = Some(api::AcmeStatus {
                    directory: "https://ca/dir".into(),
                    names: vec!["mail.example.com".into()],
                    phase: api::AcmePhase::Waiting,
                    next: Some(api::Renewal { at: NOW + 60, reason: api::RenewalReason::Retry }),
                    last_attempt: Some(api::AcmeAttempt {
                        at: NOW - 60,
                        directory: "https://ca/dir".into(),
                        failure: Some(api::AcmeFailure {
                            kind: api::AcmeFailureKind::RateLimited,
                            detail: "slow down".into(),
                        }),
                        failures_in_a_row: 1,
                        retry_after: None,
                    }),
                    challenge: None,
                    account: None,
                })
            }),
            Verdict::Warn
        );
        let mut none = status();
        none.certificates.clear();
        let items = judge(&reading(Some(none)), &context());
        assert_eq!(verdict_of(&items, "noCertificate"), Verdict::Fail);
    }

    #[test]
    fn a_message_waiting_over_an_hour_is_stuck() {
        let queued = |created: u64| api::QueueItem {
            id: format!("id{created}"),
            from: "me@example.com".into(),
            user: None,
            created,
            attempts: 3,
            next_attempt: created + 900,
            recipients: vec![api::QueueRecipient {
                address: "you@example.net".into(),
                original: None,
                route: api::Route::Submitted,
                status: RecipientStatus::Pending,
                records: Vec::new(),
                bounced: false,
            }],
            delay_notified: false,
        };
        let mut fresh = reading(Some(status()));
        fresh.health.queue = vec![queued(NOW - 600)];
        let items = judge(&fresh, &context());
        assert_eq!(verdict_of(&items, "queue"), Verdict::Pass);
        let mut old = fresh.clone();
        old.health.queue.push(queued(NOW - 7200));
        let items = judge(&old, &context());
        let queue = items.iter().find(|item| matches!(item.found, Found::Queue { .. })).unwrap();
        assert_eq!(queue.verdict, Verdict::Warn);
        assert_eq!(
            queue.found,
            Found::Queue {
                waiting: 2,
                stuck: 1,
                oldest: Some(NOW - 7200),
                next_retry: Some(NOW - 6300)
            }
        );
    }

    #[test]
    fn listings_port_25_dns_versions_and_room_are_judged() {
        let mut listed = reading(Some(status()));
        let name = listed.questions.names()[0].clone();
        listed.health.lookups[0] = api::Lookup {
            name,
            outcome: api::LookupOutcome::Answer { answers: vec!["127.0.0.2".parse().unwrap()] },
        };
        listed.health.outbound.as_mut().unwrap().reachable = false;
        listed.health.server.disk_free_mb = Some(100);
        let items = judge(&listed, &context());
        assert_eq!(verdict_of(&items, "blocklists"), Verdict::Fail);
        assert_eq!(verdict_of(&items, "outbound25"), Verdict::Fail);
        assert_eq!(verdict_of(&items, "disk"), Verdict::Fail);

        let dns = |right, spreading, next| Context {
            dns: vec![(
                "example.com".into(),
                Ok(crate::dns::report::Verdict { right, total: 7, spreading, next }),
            )],
            ..context()
        };
        let healthy = reading(Some(status()));
        assert_eq!(verdict_of(&judge(&healthy, &dns(7, 2, None)), "dns"), Verdict::Warn);
        assert_eq!(verdict_of(&judge(&healthy, &dns(6, 0, Some(3))), "dns"), Verdict::Fail);
        let second = |next| Context {
            dns: vec![
                (
                    "example.com".into(),
                    Ok(crate::dns::report::Verdict {
                        right: 7,
                        total: 7,
                        spreading: 0,
                        next: None,
                    }),
                ),
                (
                    "example.org".into(),
                    Ok(crate::dns::report::Verdict { right: 3, total: 4, spreading: 0, next }),
                ),
            ],
            ..context()
        };
        let items = judge(&healthy, &second(Some(1)));
        let dns = items.iter().find(|item| matches!(item.found, Found::Dns { .. })).unwrap();
        assert_eq!(
            (dns.verdict, &dns.found),
            (
                Verdict::Fail,
                &Found::Dns {
                    right: 10,
                    total: 11,
                    spreading: 0,
                    first_wrong: false,
                    further_wrong: vec!["example.org".into()]
                }
            ),
            "a further domain's missing record counts and is named"
        );
        let unchecked =
            Context { dns: vec![("example.com".into(), Err("no answer".into()))], ..context() };
        assert_eq!(verdict_of(&judge(&healthy, &unchecked), "dnsUnchecked"), Verdict::Warn);

        let older = Context { carried: "0.10.0".into(), ..context() };
        let items = judge(&healthy, &older);
        assert_eq!(verdict_of(&items, "version"), Verdict::Warn);
        assert!(items.iter().any(|item| matches!(
            item.found,
            Found::Version { standing: VersionStanding::Older, .. }
        )));
    }

    #[test]
    fn deliveries_come_newest_first_with_refusals_explained() {
        let record = |outcome, problem| api::DeliveryRecord {
            at: NOW,
            outcome,
            host: None,
            ip: None,
            tls_version: None,
            tls_cipher: None,
            reply: String::new(),
            problem,
            mta_sts: false,
        };
        let mut status = status();
        status.recent_deliveries = vec![
            api::RecentDelivery {
                id: "a".into(),
                recipient: "one@example.net".into(),
                record: record(Outcome::Delivered, None),
            },
            api::RecentDelivery {
                id: "b".into(),
                recipient: "two@example.net".into(),
                record: record(
                    Outcome::Permanent,
                    Some(api::DeliveryProblem::Reply { code: 550, enhanced: Some("5.1.1".into()) }),
                ),
            },
        ];
        let deliveries = deliveries(&reading(Some(status)));
        assert_eq!(deliveries.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(deliveries[0].refusal, Some(Refusal::NoSuchUser));
        assert_eq!(deliveries[1].refusal, None);
    }

    #[test]
    fn only_what_got_worse_is_notified_and_nothing_when_all_is_well() {
        let healthy = judge(&reading(Some(status())), &context());
        assert!(worse(None, &healthy).is_empty(), "all is well: nothing");
        assert!(worse(Some(&healthy), &healthy).is_empty());
        let mut stopped = status();
        stopped.running = false;
        let down = judge(&reading(Some(stopped)), &context());
        let told = worse(Some(&healthy), &down);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(matches!(told[0].found, Found::Relay { running: false, .. }));
        assert!(worse(Some(&down), &down).is_empty(), "told once, not every 15 minutes");
        assert_eq!(worse(None, &down).len(), 1, "at start, what is wrong is news");
        // Amber things the user lives with (a self-signed certificate) are not repeated; one
        // going red is.
        let mut ending = status();
        ending.certificates[0].expires = NOW + 86_400;
        let red = judge(&reading(Some(ending)), &context());
        assert!(matches!(
            worse(Some(&healthy), &red)[..],
            [Item { found: Found::Certificate { .. }, .. }]
        ));
        // Low disk is the dashboard's to say.
        let mut full = reading(Some(status()));
        full.health.server.disk_free_mb = Some(10);
        assert!(worse(Some(&healthy), &judge(&full, &context())).is_empty());
    }

    #[test]
    fn versions_compare_by_number() {
        use std::cmp::Ordering::*;
        assert_eq!(compare("0.9.1", "0.10.0"), Less);
        assert_eq!(compare("0.2.0", "0.2.0"), Equal);
        assert_eq!(compare("1.0.0", "0.99.0"), Greater);
        assert_eq!(compare("0.2", "0.2.1"), Less);
    }

    #[tokio::test]
    async fn an_older_relay_without_health_is_named_as_needing_an_upgrade() {
        use crate::remote::fake::FakeServer;
        let old = FakeServer::new()
            .fail("'health'", "error: unrecognized subcommand 'health'")
            .answer(
                "'status'",
                0,
                r#"{"api":1,"ok":{"version":"0.1.0","pid":7,"updated":1,"running":true,"listeners":[],"certificates":[],"queued":0,"recentDeliveries":[]}}"#,
            );
        let error = read(&old, "mx.example.net:25", &[], "example.com").await.unwrap_err();
        assert!(matches!(error, relay_admin::Error::UpgradeNeeded { .. }), "{error:?}");
    }
}
