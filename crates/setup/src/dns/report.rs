//! The DNS step's whole answer: every planned record as the zone's own servers have it, how far
//! each has spread to public resolvers, SPF evaluated for the server's addresses the way a
//! receiver does (mail-auth), and one sentence that says where the user stands.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::proto::rr::{RData, RecordType};
use mail_auth::MessageAuthenticator;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// The record and its state at the zone's servers.
    #[serde(flatten)]
    pub checked: Checked,
    /// A short name for it, e.g. `DKIM key`.
    pub label: String,
    /// Set while public resolvers still have an older answer.
    pub propagation: Option<Propagation>,
}

/// SPF as a receiver computes it for one of the server's addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpfVerdict {
    /// The address.
    pub ip: IpAddr,
    /// `pass`, `fail`, `softfail`, `neutral`, `temperror`, `permerror` or `none`.
    pub result: String,
}

/// The DNS step's report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
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
    /// How many records are right (at the zone's servers).
    pub right: usize,
    /// How many records there are.
    pub total: usize,
    /// Where the user stands, in one sentence.
    pub verdict: String,
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
        lines.push(Line { label: label(&checked.record), checked, propagation });
    }

    let addresses: Vec<IpAddr> = input
        .ipv4
        .iter()
        .map(|ip| IpAddr::V4(*ip))
        .chain(input.ipv6.iter().map(|ip| IpAddr::V6(*ip)))
        .collect();
    let spf = evaluate_spf(&settings.finders, &addresses, &input.mail_host, &input.domain).await;
    let right = lines.iter().filter(|line| line.checked.status == Status::Ok).count();
    let total = lines.len();
    let verdict = verdict(&lines);
    Ok(Report {
        zone,
        zone_file: records::zone_file(&plan),
        warnings: plan.warnings,
        lines,
        spf,
        right,
        total,
        verdict,
    })
}

/// A short name for a record, for the table and the verdict.
pub fn label(record: &Record) -> String {
    let value = record.value.to_ascii_lowercase();
    match record.kind {
        Kind::A => "Address (A)".into(),
        Kind::AAAA => "IPv6 address (AAAA)".into(),
        Kind::MX => "Mail exchanger (MX)".into(),
        Kind::PTR => format!("Reverse DNS of {}", record.host),
        Kind::TXT if value.starts_with("v=dkim1") => "DKIM key".into(),
        Kind::TXT if value.starts_with("v=dmarc1") => "DMARC policy".into(),
        Kind::TXT if record.host == "@" => "SPF".into(),
        Kind::TXT => "SPF of the mail host".into(),
    }
}

/// "4 of 6 records are right; the DKIM key is cut short …" — where the user stands.
pub fn verdict(lines: &[Line]) -> String {
    let total = lines.len();
    let right = lines.iter().filter(|line| line.checked.status == Status::Ok).count();
    let first_problem = lines
        .iter()
        .filter(|line| line.checked.record.need == Need::Required)
        .chain(lines.iter().filter(|line| line.checked.record.need == Need::Recommended))
        .find(|line| line.checked.status != Status::Ok);
    let spreading = lines.iter().filter(|line| line.propagation.is_some()).count();
    match first_problem {
        None if spreading == 0 => format!("All {total} records are right."),
        None => format!(
            "All {total} records are right at your DNS host; {spreading} {} still spreading to the rest of the internet.",
            if spreading == 1 { "is" } else { "are" }
        ),
        Some(line) => {
            let next = match &line.checked.status {
                Status::Different { hint } | Status::Conflicting { hint } => {
                    format!("the {} — {hint}", line.label)
                }
                _ => format!("publish the {}", line.label),
            };
            format!("{right} of {total} records are right; next: {next}.")
        }
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
    let authenticator = if finders.is_empty() {
        MessageAuthenticator::new_system_conf()
    } else {
        let servers = finders.iter().map(|server| check::name_server(*server)).collect();
        let mut options = hickory_resolver::config::ResolverOpts::default();
        options.timeout = Duration::from_secs(3);
        options.attempts = 2;
        options.cache_size = 0;
        MessageAuthenticator::new(
            hickory_resolver::config::ResolverConfig::from_name_servers(servers),
            options,
        )
    };
    let Ok(authenticator) = authenticator else { return Vec::new() };
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

    fn line(kind: Kind, host: &str, value: &str, status: Status) -> Line {
        let record = Record {
            kind,
            name: format!("{host}.example.com."),
            host: host.into(),
            value: value.into(),
            ttl: 3600,
            purpose: String::new(),
            need: Need::Required,
        };
        Line {
            label: label(&record),
            checked: Checked { record, status, found: Vec::new() },
            propagation: None,
        }
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
                Status::Different { hint: "the value is cut short after 255 characters".into() },
            ),
            line(Kind::TXT, "_dmarc", "v=DMARC1; p=none", Status::Missing),
        ];
        assert_eq!(
            verdict(&lines),
            "2 of 4 records are right; next: the DKIM key — the value is cut short after 255 characters."
        );
        lines[2].checked.status = Status::Ok;
        assert_eq!(verdict(&lines), "3 of 4 records are right; next: publish the DMARC policy.");
        lines[3].checked.status = Status::Ok;
        lines[3].propagation = Some(Propagation { seen_by: 1, asked: 3, visible_within: 60 });
        assert_eq!(
            verdict(&lines),
            "All 4 records are right at your DNS host; 1 is still spreading to the rest of the internet."
        );
        lines[3].propagation = None;
        assert_eq!(verdict(&lines), "All 4 records are right.");
    }
}
