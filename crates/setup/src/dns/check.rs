//! Live checks of the record plan, asked of the zone's authoritative servers directly (no
//! recursion, no cache), so a record fixed in the user's DNS panel shows as fixed at once.
//!
//! The authoritative servers are found by walking up from each name until a name with NS
//! records is found (the zone may be `example.co.uk` or a delegated subdomain); the NS names
//! are resolved with the "finder" resolver (the system's, or one a test points into its box).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;

use super::records::{Existing, Kind, Plan, Record};

/// Why a check could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resolver could not be set up.
    #[error("cannot set up DNS lookups: {0}")]
    Setup(String),
    /// No zone with name servers was found above a name.
    #[error(
        "no DNS servers are responsible for {0}; is the domain registered, with name servers set?"
    )]
    NoZone(String),
}

/// How one record stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "camelCase")]
#[ts(rename = "RecordStatus")]
pub enum Status {
    /// Published as planned.
    Ok,
    /// Nothing of this type at this name.
    Missing,
    /// Something else is published.
    Different {
        /// What is wrong.
        why: Mismatch,
    },
    /// Something stands in the way of the record (two SPF records, a CNAME, extra values).
    Conflicting {
        /// What is in the way.
        why: Mismatch,
    },
}

/// What is wrong with a published record, as data (the UI's catalogue words it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Mismatch {
    /// The value stops after `length` characters (a panel cut it at 255).
    CutShort { length: usize },
    /// Another value of this kind (another DKIM key, another SPF text).
    OtherValue,
    /// Not a valid DMARC record, so receivers ignore it.
    InvalidDmarc { detail: String },
    /// A valid DMARC record, with another policy than the one chosen.
    DmarcPolicy { published: String, chosen: String },
    /// `count` records where there must be one.
    Several { count: usize },
    /// The name is an alias (CNAME) for `target`, which hides every other record there.
    Alias { target: String },
    /// The right value, with others beside it.
    ExtraValues { found: Vec<String> },
    /// Other values than the planned one.
    Found { found: Vec<String>, expected: String },
    /// A PTR that is right, whose name does not point back at the address.
    NotPointingBack { name: String, ip: String },
    /// The zone's servers could not be asked.
    LookupFailed { detail: String },
}

/// A record of the plan and what the authoritative servers say about it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(rename = "CheckedRecord")]
pub struct Checked {
    /// The planned record.
    pub record: Record,
    /// Its state.
    pub status: Status,
    /// What was found (values as text).
    pub found: Vec<String>,
}

/// Asks authoritative servers.
pub struct Checker {
    finder: TokioResolver,
    /// Zone apex → resolver asking that zone's servers directly.
    zones: tokio::sync::Mutex<HashMap<String, TokioResolver>>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Checker").finish_non_exhaustive()
    }
}

fn options() -> ResolverOpts {
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options.timeout = Duration::from_secs(3);
    options.attempts = 2;
    options
}

/// A name server at `server` (UDP and TCP, any port).
pub(crate) fn name_server(server: SocketAddr) -> NameServerConfig {
    let mut config = NameServerConfig::udp_and_tcp(server.ip());
    for connection in config.connections.iter_mut() {
        connection.port = server.port();
    }
    config
}

/// A resolver asking exactly `servers`, without a cache.
pub(crate) fn resolver_for(
    servers: &[SocketAddr],
    recursion: bool,
) -> Result<TokioResolver, Error> {
    let configs = servers.iter().map(|server| name_server(*server)).collect();
    let mut options = options();
    options.recursion_desired = recursion;
    Resolver::builder_with_config(
        ResolverConfig::from_name_servers(configs),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .map_err(|error| Error::Setup(error.to_string()))
}

impl Checker {
    /// A checker finding zones through `finders` (the system's resolvers when empty).
    pub fn new(finders: &[SocketAddr]) -> Result<Checker, Error> {
        let finder = if finders.is_empty() {
            Resolver::builder_tokio()
                .map_err(|error| Error::Setup(error.to_string()))?
                .with_options(options())
                .build()
                .map_err(|error| Error::Setup(error.to_string()))?
        } else {
            resolver_for(finders, true)?
        };
        Ok(Checker { finder, zones: tokio::sync::Mutex::new(HashMap::new()) })
    }

    /// The zone apex of `name` and a resolver asking its authoritative servers.
    pub async fn zone_of(&self, name: &str) -> Result<(String, TokioResolver), Error> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut candidate = name.as_str();
        loop {
            if let Some(resolver) = self.zones.lock().await.get(candidate) {
                return Ok((candidate.to_string(), resolver.clone()));
            }
            if let Ok(lookup) = self.finder.ns_lookup(format!("{candidate}.")).await {
                let hosts: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::NS(ns) => Some(ns.0.to_ascii()),
                        _ => None,
                    })
                    .collect();
                let mut servers = Vec::new();
                for host in &hosts {
                    if let Ok(addresses) = self.finder.lookup_ip(host.as_str()).await {
                        servers.extend(addresses.iter().map(|ip| SocketAddr::new(ip, 53)));
                    }
                }
                if !servers.is_empty() {
                    let resolver = resolver_for(&servers, false)?;
                    self.zones.lock().await.insert(candidate.to_string(), resolver.clone());
                    return Ok((candidate.to_string(), resolver));
                }
            }
            match candidate.split_once('.') {
                Some((_, parent)) if parent.contains('.') || !parent.is_empty() => {
                    candidate = parent
                }
                _ => return Err(Error::NoZone(name)),
            }
        }
    }

    /// The values of `name`'s records of `kind`, from its authoritative servers.
    pub async fn values(&self, name: &str, kind: RecordType) -> Result<Vec<String>, Error> {
        let (_, resolver) = self.zone_of(name).await?;
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let Ok(lookup) = resolver.lookup(fqdn.as_str(), kind).await else { return Ok(Vec::new()) };
        Ok(values_of(lookup.answers(), kind))
    }

    /// What the domain already publishes that the plan must respect.
    pub async fn existing(&self, domain: &str) -> Result<Existing, Error> {
        let txt = self.values(domain, RecordType::TXT).await?;
        let dmarc = self.values(&format!("_dmarc.{domain}"), RecordType::TXT).await?;
        let mx = self.values(domain, RecordType::MX).await?;
        Ok(Existing {
            spf: txt
                .into_iter()
                .filter(|value| value.to_ascii_lowercase().starts_with("v=spf1"))
                .collect(),
            dmarc: dmarc.into_iter().filter(|value| value.starts_with("v=DMARC1")).collect(),
            mx: mx
                .iter()
                .filter_map(|value| {
                    value.split_once(' ').and_then(|(preference, host)| {
                        Some((preference.parse().ok()?, host.to_string()))
                    })
                })
                .collect(),
        })
    }

    /// Checks every record of the plan.
    pub async fn check(&self, plan: &Plan) -> Vec<Checked> {
        let mut results = Vec::new();
        for record in &plan.records {
            results.push(self.check_one(record).await);
        }
        results
    }

    async fn check_one(&self, record: &Record) -> Checked {
        let kind = match record.kind {
            Kind::A => RecordType::A,
            Kind::AAAA => RecordType::AAAA,
            Kind::MX => RecordType::MX,
            Kind::TXT => RecordType::TXT,
            Kind::PTR => RecordType::PTR,
            Kind::CAA => RecordType::CAA,
        };
        let found = match self.values(&record.name, kind).await {
            Ok(found) => found,
            Err(error) => {
                return Checked {
                    record: record.clone(),
                    status: Status::Different {
                        why: Mismatch::LookupFailed { detail: error.to_string() },
                    },
                    found: Vec::new(),
                };
            }
        };
        let status = judge(record, &found);
        let status = match (&status, record.kind) {
            (Status::Missing, kind) if kind != Kind::PTR => {
                self.shadowed(record).await.unwrap_or(status)
            }
            _ => status,
        };
        let status = match (record.kind, status) {
            (Kind::PTR, Status::Ok) => self.forward_confirmed(record).await,
            (_, status) => status,
        };
        Checked { record: record.clone(), status, found }
    }

    /// A CNAME at the record's name hides every other record there (RFC 1034 §3.6.2).
    async fn shadowed(&self, record: &Record) -> Option<Status> {
        let (_, resolver) = self.zone_of(&record.name).await.ok()?;
        let lookup = resolver.lookup(record.name.as_str(), RecordType::CNAME).await.ok()?;
        let target = lookup.answers().iter().find_map(|answer| match &answer.data {
            RData::CNAME(cname) => Some(cname.0.to_ascii()),
            _ => None,
        })?;
        Some(Status::Conflicting {
            why: Mismatch::Alias { target: target.trim_end_matches('.').to_string() },
        })
    }

    /// A PTR is only useful if its name points back at the address (iprev, RFC 8601 §3).
    async fn forward_confirmed(&self, record: &Record) -> Status {
        let Ok(ip) = record.host.parse::<IpAddr>() else { return Status::Ok };
        let kind = if ip.is_ipv4() { RecordType::A } else { RecordType::AAAA };
        match self.values(&record.value, kind).await {
            Ok(addresses)
                if addresses.iter().any(|address| address.parse::<IpAddr>().ok() == Some(ip)) =>
            {
                Status::Ok
            }
            _ => Status::Different {
                why: Mismatch::NotPointingBack {
                    name: record.value.trim_end_matches('.').to_string(),
                    ip: ip.to_string(),
                },
            },
        }
    }
}

/// The values of the `kind` records among `answers`, as text.
pub(crate) fn values_of(
    answers: &[hickory_resolver::proto::rr::Record],
    kind: RecordType,
) -> Vec<String> {
    answers
        .iter()
        .filter(|record| record.record_type() == kind)
        .filter_map(|record| match &record.data {
            RData::A(address) => Some(address.0.to_string()),
            RData::AAAA(address) => Some(address.0.to_string()),
            RData::MX(mx) => {
                Some(format!("{} {}", mx.preference, mx.exchange.to_ascii().to_ascii_lowercase()))
            }
            RData::TXT(txt) => {
                Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect())
            }
            RData::PTR(ptr) => Some(ptr.0.to_ascii().to_ascii_lowercase()),
            RData::CAA(caa) => Some(caa.to_string()),
            _ => None,
        })
        .collect()
}

/// Compares what was found with the planned record.
pub fn judge(record: &Record, found: &[String]) -> Status {
    let squash = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let expected = squash(&record.value);
    match record.kind {
        Kind::TXT => {
            let prefix = record.value.split([';', ' ']).next().unwrap_or("").to_ascii_lowercase();
            let same_kind: Vec<&String> = found
                .iter()
                .filter(|value| value.to_ascii_lowercase().starts_with(&prefix))
                .collect();
            match same_kind.as_slice() {
                [] => Status::Missing,
                [one] if squash(one) == expected => Status::Ok,
                [one] if prefix == "v=dmarc1" => judge_dmarc(one, &record.value),
                [one] if prefix == "v=spf1" && spf_authorizes(one, &record.value) => Status::Ok,
                [one] if expected.starts_with(&squash(one)) => {
                    Status::Different { why: Mismatch::CutShort { length: one.len() } }
                }
                [_] => Status::Different { why: Mismatch::OtherValue },
                _ => Status::Conflicting { why: Mismatch::Several { count: same_kind.len() } },
            }
        }
        Kind::CAA => {
            // Other properties beside ours (another CA, iodef) do not stop ours from working.
            if found.is_empty() {
                Status::Missing
            } else if found.iter().any(|value| super::caa::same(value, &record.value)) {
                Status::Ok
            } else {
                Status::Different {
                    why: Mismatch::Found { found: found.to_vec(), expected: record.value.clone() },
                }
            }
        }
        _ => {
            let want = expected.to_ascii_lowercase();
            if found.is_empty() {
                Status::Missing
            } else if found.iter().any(|value| squash(value).to_ascii_lowercase() == want) {
                if found.len() == 1 || record.kind == Kind::MX {
                    Status::Ok
                } else {
                    Status::Conflicting { why: Mismatch::ExtraValues { found: found.to_vec() } }
                }
            } else {
                Status::Different {
                    why: Mismatch::Found { found: found.to_vec(), expected: record.value.clone() },
                }
            }
        }
    }
}

/// A published DMARC record that differs from the planned text is fine if it is valid and
/// has the chosen policy (its report addresses are the owner's business); parsed by mail-auth.
fn judge_dmarc(published: &str, planned: &str) -> Status {
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::dmarc::{Dmarc, Policy};
    let policy = |dmarc: &Dmarc| match dmarc.p {
        Policy::None => "none",
        Policy::Quarantine => "quarantine",
        Policy::Reject => "reject",
        Policy::Unspecified => "unspecified",
    };
    match (Dmarc::parse(published.as_bytes()), Dmarc::parse(planned.as_bytes())) {
        (Err(error), _) => {
            Status::Different { why: Mismatch::InvalidDmarc { detail: error.to_string() } }
        }
        (Ok(found), Ok(wanted)) if found.p == wanted.p => Status::Ok,
        (Ok(found), Ok(wanted)) => Status::Different {
            why: Mismatch::DmarcPolicy {
                published: policy(&found).into(),
                chosen: policy(&wanted).into(),
            },
        },
        (Ok(_), Err(_)) => Status::Ok,
    }
}

/// Whether a published SPF record lists every `ip4:`/`ip6:` term of the planned one.
fn spf_authorizes(published: &str, planned: &str) -> bool {
    let published: Vec<String> =
        published.split_whitespace().map(str::to_ascii_lowercase).collect();
    planned
        .split_whitespace()
        .filter(|term| term.starts_with("ip4:") || term.starts_with("ip6:"))
        .all(|term| published.contains(&term.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::records::Need;

    fn record(kind: Kind, value: &str) -> Record {
        Record {
            kind,
            name: "x.example.com.".into(),
            host: "x".into(),
            value: value.into(),
            fields: Vec::new(),
            ttl: 3600,
            purpose: crate::dns::records::Purpose::Spf,
            need: Need::Required,
        }
    }

    #[test]
    fn txt_values_are_judged_like_a_receiver_would() {
        let dkim = record(Kind::TXT, &format!("v=DKIM1; k=rsa; p={}", "A".repeat(392)));
        assert_eq!(judge(&dkim, &[]), Status::Missing);
        assert_eq!(judge(&dkim, std::slice::from_ref(&dkim.value)), Status::Ok);
        let cut = dkim.value[..255].to_string();
        assert!(
            judge(&dkim, &[cut]) == Status::Different { why: Mismatch::CutShort { length: 255 } }
        );
        let spf = record(Kind::TXT, "v=spf1 ip4:203.0.113.10 -all");
        assert_eq!(
            judge(&spf, &["v=spf1 ip4:203.0.113.10 include:_spf.google.com ~all".into()]),
            Status::Ok
        );
        assert!(matches!(
            judge(&spf, &["v=spf1 a -all".into(), "v=spf1 mx -all".into()]),
            Status::Conflicting { .. }
        ));
        assert!(matches!(judge(&spf, &["v=spf1 a -all".into()]), Status::Different { .. }));
        // Other TXT records at the same name (site verification, say) do not matter.
        assert_eq!(
            judge(&spf, &["google-site-verification=abc".into(), spf.value.clone()]),
            Status::Ok
        );
    }

    #[test]
    fn a_valid_dmarc_record_with_the_chosen_policy_is_right_whatever_its_reports() {
        let planned = record(Kind::TXT, "v=DMARC1; p=none; rua=mailto:hello@example.com; fo=1");
        assert_eq!(
            judge(&planned, &["v=DMARC1; p=none; rua=mailto:dmarc@corp.example".into()]),
            Status::Ok
        );
        assert!(matches!(
            judge(&planned, &["v=DMARC1; p=reject".into()]),
            Status::Different { why: Mismatch::DmarcPolicy { published, chosen } }
                if published == "reject" && chosen == "none"
        ));
        assert!(matches!(
            judge(&planned, &["v=DMARC1; p=sometimes".into()]),
            Status::Different { why: Mismatch::InvalidDmarc { .. } }
        ));
    }

    #[test]
    fn a_caa_record_is_read_as_a_ca_reads_it() {
        let planned = record(
            Kind::CAA,
            &crate::dns::caa::record_value("letsencrypt.org", "https://ca.test/acct/1"),
        );
        assert_eq!(judge(&planned, &[]), Status::Missing);
        let spaced = "0 issue \"letsencrypt.org;accounturi=https://ca.test/acct/1; validationmethods=tls-alpn-01,http-01\"";
        assert_eq!(
            judge(&planned, &[spaced.into(), "0 iodef \"mailto:me@example.com\"".into()]),
            Status::Ok
        );
        assert!(matches!(
            judge(&planned, &["0 issue \"letsencrypt.org\"".into()]),
            Status::Different { why: Mismatch::Found { .. } }
        ));
    }

    #[test]
    fn addresses_and_mx_are_compared_as_values() {
        let a = record(Kind::A, "203.0.113.10");
        assert_eq!(judge(&a, &["203.0.113.10".into()]), Status::Ok);
        assert!(
            judge(&a, &["198.51.100.7".into()])
                == Status::Different {
                    why: Mismatch::Found {
                        found: vec!["198.51.100.7".into()],
                        expected: "203.0.113.10".into()
                    }
                }
        );
        assert!(matches!(
            judge(&a, &["203.0.113.10".into(), "198.51.100.7".into()]),
            Status::Conflicting { .. }
        ));
        let mx = record(Kind::MX, "10 mail.example.com.");
        assert_eq!(
            judge(&mx, &["10 mail.example.com.".into(), "20 backup.example.net.".into()]),
            Status::Ok
        );
    }
}
