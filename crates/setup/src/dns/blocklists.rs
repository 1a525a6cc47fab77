//! DNS blocklists (DNSBLs): is the server's address, or the domain, listed as a spam source?
//!
//! The lists are asked through the server's own resolver, over SSH, with the relay's `lookup`
//! command. That matters: Spamhaus refuses queries that come through big public resolvers and
//! answers them with `127.255.255.x`, which means "could not check" — never "listed".

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::install::BINARY;
use crate::ssh::{self, Session, quote};

/// What a list is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Keyed {
    /// IP addresses (reversed, then the list's zone).
    Ip,
    /// Domain names (then the list's zone).
    Domain,
}

/// A blocklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
        /// Why, in plain words.
        reason: String,
    },
}

/// One lookup's result.
#[derive(Debug, Clone, Serialize)]
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

/// What the lookup said: an answer (A records), no such name, or an error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Lookup {
    /// The name asked.
    pub name: String,
    /// `answer`, `nxdomain` or `error`.
    pub outcome: String,
    /// The A records.
    #[serde(default)]
    pub answers: Vec<String>,
    /// For errors: what happened.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Judges one lookup.
pub fn judge(list: &List, lookup: &Lookup) -> Listing {
    match lookup.outcome.as_str() {
        "nxdomain" => Listing::NotListed,
        "answer" => {
            let codes: Vec<Ipv4Addr> =
                lookup.answers.iter().filter_map(|answer| answer.parse().ok()).collect();
            if codes.is_empty() {
                return Listing::NotListed;
            }
            if codes.iter().any(|code| code.octets()[..3] == [127, 255, 255]) {
                return Listing::CouldNotCheck {
                    reason: format!(
                        "{} refused to answer this server's resolver (it refuses big public resolvers such as 8.8.8.8); this is not a listing. Ask your provider for a resolver of its own, or this will stay unknown.",
                        list.name
                    ),
                };
            }
            if codes.iter().all(|code| code.is_loopback()) {
                Listing::Listed { codes: codes.iter().map(ToString::to_string).collect() }
            } else {
                Listing::CouldNotCheck {
                    reason: "the server's resolver answers names that do not exist with an address of its own, so blocklists cannot be read through it".into(),
                }
            }
        }
        _ => Listing::CouldNotCheck {
            reason: format!(
                "the lookup failed ({})",
                lookup.detail.as_deref().unwrap_or("no answer")
            ),
        },
    }
}

/// Why the blocklists could not be asked at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SSH failed.
    #[error(transparent)]
    Ssh(#[from] ssh::Error),
    /// The relay's lookup command failed (not installed yet, say).
    #[error("the lookup on the server failed: {0}")]
    Lookup(String),
}

/// Asks every list about each address and the domain, through the server's resolver.
pub async fn check(
    session: &Session,
    addresses: &[IpAddr],
    domain: &str,
) -> Result<Vec<Entry>, Error> {
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
    let names: Vec<String> = asked.iter().map(|(_, _, name)| quote(name)).collect();
    let output = session
        .run(&format!("{BINARY} lookup --json {}", names.join(" ")), b"", &mut |_, _| {})
        .await?;
    if output.status != Some(0) {
        return Err(Error::Lookup(output.stderr.trim().to_string()));
    }
    #[derive(Deserialize)]
    struct Results {
        results: Vec<Lookup>,
    }
    let results: Results = serde_json::from_str(&output.stdout)
        .map_err(|error| Error::Lookup(format!("unreadable answer ({error})")))?;
    Ok(asked
        .into_iter()
        .map(|(list, subject, name)| {
            let listing = results
                .results
                .iter()
                .find(|lookup| lookup.name == name)
                .map(|lookup| judge(&list, lookup))
                .unwrap_or(Listing::CouldNotCheck { reason: "no answer".into() });
            Entry { list, subject, listing }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(outcome: &str, answers: &[&str]) -> Lookup {
        Lookup {
            name: "x".into(),
            outcome: outcome.into(),
            answers: answers.iter().map(ToString::to_string).collect(),
            detail: None,
        }
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
        let zen = &LISTS[0];
        assert_eq!(judge(zen, &lookup("nxdomain", &[])), Listing::NotListed);
        assert_eq!(
            judge(zen, &lookup("answer", &["127.0.0.2"])),
            Listing::Listed { codes: vec!["127.0.0.2".into()] }
        );
        assert!(matches!(
            judge(zen, &lookup("answer", &["127.255.255.254"])),
            Listing::CouldNotCheck { reason } if reason.contains("not a listing")
        ));
        assert!(matches!(
            judge(zen, &lookup("answer", &["203.0.113.80"])),
            Listing::CouldNotCheck { .. }
        ));
        assert!(matches!(judge(zen, &lookup("error", &[])), Listing::CouldNotCheck { .. }));
    }
}
