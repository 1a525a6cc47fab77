//! DNS blocklists (DNSBLs): is the server's address, or the domain, listed as a spam source?
//!
//! The lists are asked through the server's own resolver, over SSH, with the relay's `lookup`
//! command. That matters: Spamhaus refuses queries that come through big public resolvers and
//! answers them with `127.255.255.x`, which means "could not check" — never "listed".

use std::net::{IpAddr, Ipv4Addr};

use outpost_relay_api::{Lookup, LookupOutcome};
use serde::Serialize;

use crate::relay_admin::{self, RelayAdmin};
use crate::remote::Remote;

/// What a list is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Keyed {
    /// IP addresses (reversed, then the list's zone).
    Ip,
    /// Domain names (then the list's zone).
    Domain,
}

/// A blocklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(rename = "Blocklist")]
pub struct List {
    /// Its name, as people know it.
    pub name: &'static str,
    /// Its DNS zone.
    pub zone: &'static str,
    /// What it lists.
    pub keyed: Keyed,
    /// Where to look up details and ask for removal.
    pub removal: &'static str,
}

/// The lists checked: the ones big receivers use.
pub const LISTS: [List; 5] = [
    List {
        name: "Spamhaus ZEN",
        zone: "zen.spamhaus.org",
        keyed: Keyed::Ip,
        removal: "https://check.spamhaus.org/",
    },
    List {
        name: "Spamhaus DBL",
        zone: "dbl.spamhaus.org",
        keyed: Keyed::Domain,
        removal: "https://check.spamhaus.org/",
    },
    List {
        name: "Barracuda",
        zone: "b.barracudacentral.org",
        keyed: Keyed::Ip,
        removal: "https://www.barracudacentral.org/rbl/removal-request",
    },
    List {
        name: "SpamCop",
        zone: "bl.spamcop.net",
        keyed: Keyed::Ip,
        removal: "https://www.spamcop.net/bl.shtml",
    },
    List {
        name: "Mailspike",
        zone: "bl.mailspike.net",
        keyed: Keyed::Ip,
        removal: "https://mailspike.org/iplookup.html",
    },
];

/// How one address or domain stands on one list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Listing {
    /// Not listed.
    NotListed,
    /// Listed, with the list's return codes.
    Listed {
        /// E.g. `127.0.0.2`.
        codes: Vec<String>,
    },
    /// The list could not be asked (its answer says so, or the lookup failed).
    CouldNotCheck {
        /// Why.
        why: Unchecked,
    },
}

/// Why a list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Unchecked {
    /// The list refused this server's resolver (`127.255.255.x`): not a listing.
    Refused,
    /// The server's resolver answers names that do not exist with an address of its own.
    ResolverRewrites,
    /// The lookup itself failed.
    LookupFailed {
        /// The resolver's words.
        detail: String,
    },
}

/// One lookup's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(rename = "BlocklistEntry")]
pub struct Entry {
    /// The list.
    pub list: List,
    /// The address or domain looked up.
    pub subject: String,
    /// The outcome.
    pub listing: Listing,
}

/// The name to look up for `subject` on `list`.
pub fn query_name(list: &List, subject: &str) -> Option<String> {
    match (list.keyed, subject.parse::<IpAddr>()) {
        (Keyed::Ip, Ok(ip)) => Some(format!("{}.{}", super::reversed(ip), list.zone)),
        (Keyed::Domain, Err(_)) => Some(format!("{}.{}", subject.trim_end_matches('.'), list.zone)),
        _ => None,
    }
}

/// Judges one lookup.
pub fn judge(lookup: &Lookup) -> Listing {
    match &lookup.outcome {
        LookupOutcome::NoSuchName => Listing::NotListed,
        LookupOutcome::Answer { answers } if answers.is_empty() => Listing::NotListed,
        LookupOutcome::Answer { answers } => {
            if answers.iter().any(|code| code.octets()[..3] == [127, 255, 255]) {
                Listing::CouldNotCheck { why: Unchecked::Refused }
            } else if answers.iter().all(Ipv4Addr::is_loopback) {
                Listing::Listed { codes: answers.iter().map(ToString::to_string).collect() }
            } else {
                Listing::CouldNotCheck { why: Unchecked::ResolverRewrites }
            }
        }
        LookupOutcome::Failed { detail } => {
            Listing::CouldNotCheck { why: Unchecked::LookupFailed { detail: detail.clone() } }
        }
    }
}

/// Why the blocklists could not be asked at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The relay's lookup command failed (not installed yet, say).
    #[error(transparent)]
    Admin(#[from] relay_admin::Error),
}

/// Asks every list about each address and the domain, through the server's resolver.
pub async fn check<R: Remote>(
    remote: &R,
    addresses: &[IpAddr],
    domain: &str,
) -> Result<Vec<Entry>, Error> {
    let questions = Questions::new(addresses, domain);
    let results = RelayAdmin::new(remote).lookup(&questions.names()).await?;
    Ok(questions.answers(&results))
}

/// What to ask every list about each address and the domain: the names to look up, and the
/// entries their lookups make (the dashboard asks them inside its one `health` call).
#[derive(Debug, Clone)]
pub struct Questions {
    asked: Vec<(List, String, String)>,
}

impl Questions {
    /// Every list, for each address and the domain.
    pub fn new(addresses: &[IpAddr], domain: &str) -> Questions {
        let subjects: Vec<String> = addresses
            .iter()
            .map(ToString::to_string)
            .chain(std::iter::once(domain.to_string()))
            .collect();
        let mut asked = Vec::new();
        for list in &LISTS {
            for subject in &subjects {
                if let Some(name) = query_name(list, subject) {
                    asked.push((*list, subject.clone(), name));
                }
            }
        }
        Questions { asked }
    }

    /// The names to look up.
    pub fn names(&self) -> Vec<String> {
        self.asked.iter().map(|(_, _, name)| name.clone()).collect()
    }

    /// Each question's entry, from the lookups' results (a name without one could not be
    /// checked).
    pub fn answers(&self, results: &[Lookup]) -> Vec<Entry> {
        self.asked
            .iter()
            .map(|(list, subject, name)| {
                let listing = results.iter().find(|lookup| &lookup.name == name).map_or(
                    Listing::CouldNotCheck {
                        why: Unchecked::LookupFailed { detail: "no answer".into() },
                    },
                    judge,
                );
                Entry { list: *list, subject: subject.clone(), listing }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(answers: &[&str]) -> Lookup {
        let answers = answers.iter().map(|answer| answer.parse().unwrap()).collect();
        Lookup { name: "x".into(), outcome: LookupOutcome::Answer { answers } }
    }

    fn outcome(outcome: LookupOutcome) -> Lookup {
        Lookup { name: "x".into(), outcome }
    }

    #[test]
    fn names_are_reversed_addresses_or_domains_under_the_zone() {
        let zen = &LISTS[0];
        assert_eq!(query_name(zen, "198.51.100.10").unwrap(), "10.100.51.198.zen.spamhaus.org");
        assert!(query_name(zen, "2001:db8::1").unwrap().starts_with("1.0.0.0.0.0.0.0"));
        assert_eq!(query_name(zen, "example.com"), None, "ZEN lists addresses only");
        assert_eq!(query_name(&LISTS[1], "example.com").unwrap(), "example.com.dbl.spamhaus.org");
        assert_eq!(query_name(&LISTS[1], "198.51.100.10"), None);
    }

    #[test]
    fn spamhaus_refusals_are_never_listings() {
        assert_eq!(judge(&outcome(LookupOutcome::NoSuchName)), Listing::NotListed);
        assert_eq!(
            judge(&answer(&["127.0.0.2"])),
            Listing::Listed { codes: vec!["127.0.0.2".into()] }
        );
        assert_eq!(
            judge(&answer(&["127.255.255.254"])),
            Listing::CouldNotCheck { why: Unchecked::Refused }
        );
        assert_eq!(
            judge(&answer(&["203.0.113.80"])),
            Listing::CouldNotCheck { why: Unchecked::ResolverRewrites }
        );
        assert!(matches!(
            judge(&outcome(LookupOutcome::Failed { detail: "timed out".into() })),
            Listing::CouldNotCheck { why: Unchecked::LookupFailed { .. } }
        ));
    }
}
