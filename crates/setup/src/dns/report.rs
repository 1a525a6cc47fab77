//! The DNS step's whole answer: every planned record as the zone's own servers have it, how far
//! each has spread to public resolvers, SPF evaluated for the server's addresses the way a
//! receiver does (mail-auth), and one sentence that says where the user stands.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::proto::rr::{RData, RecordType};
use mail_auth::spf::verify::SpfParameters;
use serde::Serialize;

use super::check::{self, Checked, Checker, Status};
use super::records::{self, Kind, Need, Plan, Record, Warning};

/// Where the checks ask.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Resolvers used to find the zone's servers and to evaluate SPF (the system's if empty).
    pub finders: Vec<SocketAddr>,
    /// Caching resolvers that show propagation (well-known public ones if empty).
    pub public_resolvers: Vec<SocketAddr>,
}

/// Well-known public resolvers: Cloudflare, Google, Quad9.
pub const PUBLIC_RESOLVERS: [&str; 3] = ["1.1.1.1:53", "8.8.8.8:53", "9.9.9.9:53"];

/// How far a record that is right at its zone's servers has spread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Propagation {
    /// Resolvers that already answer the new value.
    pub seen_by: usize,
    /// Resolvers asked.
    pub asked: usize,
    /// The longest time a resolver may keep its old answer, seconds: the new value should be
    /// visible everywhere within this.
    pub visible_within: u32,
}

/// One record's line in the report.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "DnsLine")]
pub struct Line {
    /// The record and its state at the zone's servers.
    #[serde(flatten)]
    pub checked: Checked,
    /// Set while public resolvers still have an older answer.
    pub propagation: Option<Propagation>,
}

/// SPF as a receiver computes it for one of the server's addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct SpfVerdict {
    /// The address.
    pub ip: IpAddr,
    /// `pass`, `fail`, `softfail`, `neutral`, `temperror`, `permerror` or `none`.
    pub result: String,
}

/// The DNS step's report.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "DnsReport")]
pub struct Report {
    /// The zone that holds the domain (may be a parent, or a delegated subzone).
    pub zone: String,
    /// Every record, in the order to publish them.
    pub lines: Vec<Line>,
    /// Things to know before publishing.
    pub warnings: Vec<Warning>,
    /// SPF for each address of the server, evaluated like a receiver.
    pub spf: Vec<SpfVerdict>,
    /// The whole plan as a zone file.
    pub zone_file: String,
    /// Where the user stands.
    pub verdict: Verdict,
}

/// Where the user stands: how many records are right, how many are still spreading, and the
/// line to fix next (required records first), for the UI to say in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "DnsVerdict")]
pub struct Verdict {
    /// Records right at the zone's servers.
    pub right: usize,
    /// Records in all.
    pub total: usize,
    /// Right records that public resolvers do not all answer yet.
    pub spreading: usize,
    /// The index in `lines` of the record to fix next, if any is not right.
    pub next: Option<usize>,
}

/// Builds the plan from what the domain has, checks it, and sums it up.
pub async fn report(input: &records::Input, settings: &Settings) -> Result<Report, check::Error> {
    let checker = Checker::new(&settings.finders)?;
    let (zone, authoritative) = checker.zone_of(&input.domain).await?;
    let existing = checker.existing(&input.domain).await?;
    let plan: Plan = records::plan(input, &existing);
    let checked = checker.check(&plan).await;

    let public: Vec<SocketAddr> = if settings.public_resolvers.is_empty() {
        PUBLIC_RESOLVERS.iter().filter_map(|address| address.parse().ok()).collect()
    } else {
        settings.public_resolvers.clone()
    };
    let negative_ttl = negative_ttl(&authoritative, &zone).await;
    let mut lines = Vec::new();
    for checked in checked {
        let propagation = if checked.status == Status::Ok {
            propagation(&checked.record, &public, negative_ttl).await
        } else {
            None
        };
        lines.push(Line { checked, propagation });
    }

    let addresses: Vec<IpAddr> = input
        .ipv4
        .iter()
        .map(|ip| IpAddr::V4(*ip))
        .chain(input.ipv6.iter().map(|ip| IpAddr::V6(*ip)))
        .collect();
    let spf = evaluate_spf(&settings.finders, &addresses, &input.mail_host, &input.domain).await;
    let verdict = verdict(&lines);
    Ok(Report {
        zone,
        zone_file: records::zone_file(&plan),
        warnings: plan.warnings,
        lines,
        spf,
        verdict,
    })
}

/// Where the user stands, from the checked lines.
pub fn verdict(lines: &[Line]) -> Verdict {
    let not_right = |need: Need| {
        lines
            .iter()
            .position(|line| line.checked.record.need == need && line.checked.status != Status::Ok)
    };
    // Optional records are offered, not counted: "all right" never waits on them.
    let counted = || lines.iter().filter(|line| line.checked.record.need != Need::Optional);
    Verdict {
        right: counted().filter(|line| line.checked.status == Status::Ok).count(),
        total: counted().count(),
        spreading: lines.iter().filter(|line| line.propagation.is_some()).count(),
        next: not_right(Need::Required).or_else(|| not_right(Need::Recommended)),
    }
}

/// The zone's negative-caching time (SOA minimum, RFC 2308 §5), for records a resolver may
/// still remember as missing.
async fn negative_ttl(authoritative: &hickory_resolver::TokioResolver, zone: &str) -> u32 {
    match authoritative.lookup(format!("{zone}."), RecordType::SOA).await {
        Ok(lookup) => lookup
            .answers()
            .iter()
            .find_map(|record| match &record.data {
                RData::SOA(soa) => Some(soa.minimum.min(record.ttl)),
                _ => None,
            })
            .unwrap_or(3600),
        Err(_) => 3600,
    }
}

/// Asks each public resolver; `None` when all of them already have the right value.
async fn propagation(
    record: &Record,
    resolvers: &[SocketAddr],
    negative_ttl: u32,
) -> Option<Propagation> {
    if record.kind == Kind::PTR {
        // Reverse zones belong to the provider; their caches are not the user's to wait for.
        return None;
    }
    let kind = match record.kind {
        Kind::A => RecordType::A,
        Kind::AAAA => RecordType::AAAA,
        Kind::MX => RecordType::MX,
        Kind::CAA => RecordType::CAA,
        Kind::TXT | Kind::PTR => RecordType::TXT,
    };
    let mut seen_by = 0;
    let mut visible_within = 0;
    for server in resolvers {
        let Ok(resolver) = check::resolver_for(std::slice::from_ref(server), true) else {
            continue;
        };
        let answer = tokio::time::timeout(
            Duration::from_secs(8),
            resolver.lookup(record.name.as_str(), kind),
        )
        .await;
        let (found, ttl) = match answer {
            Ok(Ok(lookup)) => {
                let ttl = lookup.answers().iter().map(|answer| answer.ttl).max().unwrap_or(0);
                (check::values_of(lookup.answers(), kind), ttl)
            }
            Ok(Err(error)) if error.is_no_records_found() || error.is_nx_domain() => {
                (Vec::new(), negative_ttl)
            }
            // Unreachable or failing resolvers tell nothing about propagation.
            _ => continue,
        };
        if check::judge(record, &found) == Status::Ok {
            seen_by += 1;
        } else {
            visible_within = visible_within.max(ttl);
        }
    }
    let asked = resolvers.len();
    (seen_by < asked && visible_within > 0).then_some(Propagation {
        seen_by,
        asked,
        visible_within,
    })
}

/// SPF for each address, as a receiver evaluates it (mail-auth, RFC 7208).
async fn evaluate_spf(
    finders: &[SocketAddr],
    addresses: &[IpAddr],
    mail_host: &str,
    domain: &str,
) -> Vec<SpfVerdict> {
    let Ok(authenticator) = super::authenticator(finders) else { return Vec::new() };
    let sender = format!("postmaster@{domain}");
    let mut verdicts = Vec::new();
    for ip in addresses {
        let output = authenticator
            .verify_spf(SpfParameters::verify_mail_from(*ip, mail_host, mail_host, &sender))
            .await;
        verdicts
            .push(SpfVerdict { ip: *ip, result: output.result().to_string().to_ascii_lowercase() });
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::check::Mismatch;

    fn line(kind: Kind, host: &str, value: &str, status: Status) -> Line {
        let record = Record {
            kind,
            name: format!("{host}.example.com."),
            host: host.into(),
            value: value.into(),
            fields: Vec::new(),
            ttl: 3600,
            purpose: records::Purpose::Dkim,
            need: Need::Required,
        };
        Line { checked: Checked { record, status, found: Vec::new() }, propagation: None }
    }

    #[test]
    fn the_verdict_names_the_first_thing_to_fix() {
        let mut lines = vec![
            line(Kind::A, "mail", "203.0.113.10", Status::Ok),
            line(Kind::TXT, "@", "v=spf1 ip4:203.0.113.10 -all", Status::Ok),
            line(
                Kind::TXT,
                "outpost._domainkey",
                "v=DKIM1; k=rsa; p=AAAA",
                Status::Different { why: Mismatch::CutShort { length: 255 } },
            ),
            line(Kind::TXT, "_dmarc", "v=DMARC1; p=none", Status::Missing),
        ];
        let verdict_of = |lines: &[Line]| verdict(lines);
        assert_eq!(verdict_of(&lines), Verdict { right: 2, total: 4, spreading: 0, next: Some(2) });
        lines[2].checked.status = Status::Ok;
        assert_eq!(verdict_of(&lines).next, Some(3));
        lines[3].checked.status = Status::Ok;
        lines[3].propagation = Some(Propagation { seen_by: 1, asked: 3, visible_within: 60 });
        assert_eq!(verdict_of(&lines), Verdict { right: 4, total: 4, spreading: 1, next: None });
        lines[3].propagation = None;
        assert_eq!(verdict_of(&lines).spreading, 0);
    }

    #[test]
    fn recommended_records_come_after_required_ones() {
        let mut lines = vec![
            line(Kind::TXT, "mail", "v=spf1 a -all", Status::Missing),
            line(Kind::TXT, "_dmarc", "v=DMARC1; p=none", Status::Missing),
        ];
        lines[0].checked.record.need = Need::Recommended;
        assert_eq!(verdict(&lines).next, Some(1));
    }

    #[test]
    fn optional_records_are_not_counted_nor_ever_next() {
        let mut lines = vec![
            line(Kind::TXT, "_dmarc", "v=DMARC1; p=none", Status::Ok),
            line(Kind::CAA, "mail", "0 issue \"letsencrypt.org\"", Status::Missing),
        ];
        lines[1].checked.record.need = Need::Optional;
        assert_eq!(verdict(&lines), Verdict { right: 1, total: 1, spreading: 0, next: None });
    }
}
