//! Mail for the relay's own domains, on port 25. The relay keeps no mailboxes: an address
//! exists because the aliases file forwards it somewhere (or a catch-all does), and every
//! accepted message is forwarded with its envelope sender rewritten ([`srs`]) and its checks
//! recorded and sealed ([`checks`]).
//!
//! A recipient is decided at RCPT, so nothing unknown is ever accepted and then bounced
//! (no backscatter): [`Router::route`] says where mail to an address goes, or why there is no
//! such address.

pub mod aliases;
pub mod checks;
pub mod srs;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use outpost_relay_api::{ForwardedMessage, InboundRefusal, InboundStatus, RefusalCount, Route};
use outpost_relay_config::MailAddress;

use crate::clock::{Clock, unix_seconds};
use crate::envelope::domain_of;
use crate::limits::SendRate;
use crate::queue::Destination;
use crate::watched::Watched;
pub use aliases::Aliases;
pub use checks::Checker;
pub use srs::Secrets;

/// How deep an alias of an alias of … may go.
const MAX_ALIAS_DEPTH: usize = 8;
/// How many forwarded messages `status` remembers.
const RECENT: usize = 20;

/// Where mail to one address goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// Forward it to these.
    Forward(Vec<Destination>),
    /// Not one of the relay's domains (`550 5.7.1`: never an open relay).
    NotLocal,
    /// No such address and no catch-all (`550 5.1.1`).
    Unknown,
    /// An SRS bounce address this server did not make, or one that expired (`550 5.1.1`).
    Forged(srs::SrsError),
    /// The aliases file cannot be read right now (`451 4.4.3`).
    Unavailable,
}

/// Decides where mail to an address at the relay's domains goes.
#[derive(Debug)]
pub struct Router {
    domains: Vec<String>,
    owner: MailAddress,
    aliases: Watched<Aliases, aliases::Error>,
    secrets: Watched<Secrets, String>,
}

impl Router {
    /// A router over the aliases file and the SRS secrets (made on first use).
    pub fn new(
        domains: Vec<String>,
        owner: MailAddress,
        aliases_file: &std::path::Path,
        secrets_file: &std::path::Path,
        now: SystemTime,
    ) -> Result<Router, String> {
        Secrets::load_or_create(secrets_file, now).map_err(|error| error.to_string())?;
        let secrets = Watched::new(secrets_file, |path| {
            Secrets::load(path).map_err(|error| error.to_string())
        })?;
        let aliases =
            Watched::new(aliases_file, Aliases::load).map_err(|error| error.to_string())?;
        Ok(Router { domains, owner, aliases, secrets })
    }

    fn is_local(&self, domain: &str) -> bool {
        self.domains.iter().any(|local| local.eq_ignore_ascii_case(domain))
    }

    /// Where mail to `address` goes.
    pub fn route(&self, address: &str, now: SystemTime) -> Routed {
        let domain = domain_of(address);
        if !self.is_local(&domain) {
            return Routed::NotLocal;
        }
        let local = address.rsplit_once('@').map_or("", |(local, _)| local);
        if srs::is_srs(local) {
            let Ok(secrets) = self.secrets.get() else { return Routed::Unavailable };
            return match secrets.reverse(address, now) {
                Ok(original) => Routed::Forward(vec![Destination {
                    address: original,
                    original: Some(address.to_string()),
                    route: Route::Forwarded,
                }]),
                Err(error) => Routed::Forged(error),
            };
        }
        let Ok(aliases) = self.aliases.get() else { return Routed::Unavailable };
        let mut found = Vec::new();
        let mut seen = Vec::new();
        self.expand(&aliases, &address.to_lowercase(), 0, &mut seen, &mut found);
        if found.is_empty() {
            return Routed::Unknown;
        }
        Routed::Forward(
            found
                .into_iter()
                .map(|destination| Destination {
                    address: destination.to_string(),
                    original: Some(address.to_string()),
                    route: Route::Forwarded,
                })
                .collect(),
        )
    }

    /// Adds the external destinations of `address` (lower-case, at a local domain) to `found`.
    fn expand(
        &self,
        aliases: &Aliases,
        address: &str,
        depth: usize,
        seen: &mut Vec<String>,
        found: &mut Vec<MailAddress>,
    ) {
        if depth > MAX_ALIAS_DEPTH || seen.iter().any(|known| known == address) {
            return;
        }
        seen.push(address.to_string());
        let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
        // `name+tag@` is `name@` unless the tagged address has its own entry.
        let untagged = local.split_once('+').map(|(name, _)| format!("{name}@{domain}"));
        let owner = std::slice::from_ref(&self.owner);
        let destinations = aliases
            .get(address)
            .or_else(|| untagged.as_deref().and_then(|untagged| aliases.get(untagged)))
            .or_else(|| {
                // RFC 5321 §4.5.1 and RFC 2142: these always exist.
                matches!(local, "postmaster" | "abuse").then_some(owner)
            })
            .or_else(|| aliases.get(&format!("*@{domain}")));
        for destination in destinations.unwrap_or_default() {
            if self.is_local(destination.domain().as_str()) {
                let inner = destination.to_string().to_lowercase();
                self.expand(aliases, &inner, depth + 1, seen, found);
            } else if !found.iter().any(|known| aliases::same_address(known, destination)) {
                found.push(destination.clone());
            }
        }
    }

    /// The envelope sender for forwarding mail from `sender` through `domain`.
    pub fn rewrite_sender(&self, sender: &str, domain: &str, now: SystemTime) -> Option<String> {
        self.secrets.get().ok().map(|secrets| secrets.forward(sender, domain, now))
    }

    /// Where a bounce for the envelope sender `sender` goes: back through SRS when it is one of
    /// ours, as it is otherwise; `None` for an SRS address that does not check out.
    pub fn return_path(&self, sender: &str, now: SystemTime) -> Option<String> {
        let local = sender.rsplit_once('@').map_or("", |(local, _)| local);
        if !self.is_local(&domain_of(sender)) || !srs::is_srs(local) {
            return Some(sender.to_string());
        }
        self.secrets.get().ok()?.reverse(sender, now).ok()
    }
}

/// Everything an inbound session needs besides the shared context.
#[derive(Debug)]
pub struct Inbound {
    /// Where recipients go.
    pub router: Arc<Router>,
    /// The checks.
    pub checker: Checker,
    /// Seal forwarded mail with ARC.
    pub arc: bool,
    /// Messages per client address per hour.
    pub rate: SendRate,
    counts: Mutex<Counts>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default)]
struct Counts {
    since: u64,
    forwarded: u64,
    refused: BTreeMap<InboundRefusal, u64>,
    recent: Vec<ForwardedMessage>,
}

impl Inbound {
    /// Inbound handling with its router and checks.
    pub fn new(
        router: Arc<Router>,
        checker: Checker,
        arc: bool,
        per_hour: u32,
        clock: Arc<dyn Clock>,
    ) -> Inbound {
        let counts = Counts { since: unix_seconds(clock.now()), ..Counts::default() };
        Inbound {
            router,
            checker,
            arc,
            rate: SendRate::new(per_hour),
            counts: Mutex::new(counts),
            clock,
        }
    }

    /// Counts a refusal.
    pub fn refused(&self, reason: InboundRefusal) {
        *self.counts.lock().expect("counts lock").refused.entry(reason).or_default() += 1;
    }

    /// Records a forwarded message.
    pub fn forwarded(&self, message: ForwardedMessage) {
        let mut counts = self.counts.lock().expect("counts lock");
        counts.forwarded += 1;
        counts.recent.push(message);
        let excess = counts.recent.len().saturating_sub(RECENT);
        counts.recent.drain(..excess);
    }

    /// The time now.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// For `status`.
    pub fn status(&self) -> InboundStatus {
        let counts = self.counts.lock().expect("counts lock");
        InboundStatus {
            since: counts.since,
            forwarded: counts.forwarded,
            refused: counts
                .refused
                .iter()
                .map(|(reason, count)| RefusalCount { reason: *reason, count: *count })
                .collect(),
            recent: counts.recent.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed moment: 2027-01-15.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)
    }

    fn router(aliases: &str) -> (tempfile::TempDir, Router) {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(directory.path().join("aliases"), aliases).unwrap();
        let router = Router::new(
            vec!["example.com".into(), "example.org".into()],
            "owner@gmail.test".parse().unwrap(),
            &directory.path().join("aliases"),
            &directory.path().join("srs"),
            now(),
        )
        .unwrap();
        (directory, router)
    }

    fn addresses(routed: Routed) -> Vec<String> {
        match routed {
            Routed::Forward(destinations) => {
                destinations.into_iter().map(|destination| destination.address).collect()
            }
            other => panic!("not forwarded: {other:?}"),
        }
    }

    #[test]
    fn aliases_catch_all_tags_and_the_owner_decide_each_address() {
        let (directory, router) = router(
            "hello@example.com: me@gmail.test\nteam@example.com: hello@example.com, friend@other.test, Me@gmail.test\n*@example.org: me@gmail.test\nloop@example.com: loop@example.com\n",
        );
        let now = now();
        assert_eq!(addresses(router.route("Hello@Example.com", now)), ["me@gmail.test"]);
        assert_eq!(
            addresses(router.route("team@example.com", now)),
            ["me@gmail.test", "friend@other.test"],
            "an alias of an alias, each destination once"
        );
        assert_eq!(addresses(router.route("hello+news@example.com", now)), ["me@gmail.test"]);
        assert_eq!(addresses(router.route("anything@example.org", now)), ["me@gmail.test"]);
        assert_eq!(addresses(router.route("postmaster@example.com", now)), ["owner@gmail.test"]);
        assert_eq!(addresses(router.route("abuse@example.org", now)), ["owner@gmail.test"]);
        assert_eq!(router.route("nobody@example.com", now), Routed::Unknown);
        assert_eq!(router.route("loop@example.com", now), Routed::Unknown);
        assert_eq!(router.route("someone@elsewhere.test", now), Routed::NotLocal);
        match router.route("hello@example.com", now) {
            Routed::Forward(destinations) => {
                assert_eq!(destinations[0].original.as_deref(), Some("hello@example.com"));
                assert_eq!(destinations[0].route, Route::Forwarded);
            }
            other => panic!("{other:?}"),
        }
        // An edit on disk is seen at once; a broken file is "try later", never "no such user".
        std::fs::write(directory.path().join("aliases"), "new@example.com: me@gmail.test\n")
            .unwrap();
        assert_eq!(addresses(router.route("new@example.com", now)), ["me@gmail.test"]);
        std::fs::write(directory.path().join("aliases"), "broken\n").unwrap();
        assert_eq!(router.route("new@example.com", now), Routed::Unavailable);
    }

    #[test]
    fn bounces_to_our_srs_addresses_go_back_to_the_sender() {
        let (_directory, router) = router("*@example.com: me@gmail.test\n");
        let now = now();
        let rewritten = router.rewrite_sender("alice@sender.test", "example.com", now).unwrap();
        assert!(rewritten.starts_with("SRS0=") && rewritten.ends_with("@example.com"));
        assert_eq!(addresses(router.route(&rewritten, now)), ["alice@sender.test"]);
        assert_eq!(router.return_path(&rewritten, now).as_deref(), Some("alice@sender.test"));
        assert_eq!(router.return_path("bob@x.test", now).as_deref(), Some("bob@x.test"));
        let forged = rewritten.replacen("SRS0=", "SRS0=x", 1);
        assert!(matches!(router.route(&forged, now), Routed::Forged(_)));
        assert_eq!(router.return_path(&forged, now), None);
    }
}
