//! Manners toward each recipient domain: at most `connections_per_domain` conversations with its
//! servers at once (other messages for it wait their turn), a finished conversation kept open
//! for a few seconds so the next message for the domain goes over it, and a pause, doubling up
//! to an hour, after the domain answers 421 or "try later" to the relay itself (not to one
//! recipient). Receivers — Gmail among them — throttle or block senders that open many
//! connections or insist. Generic over the open conversation, so the rules are tested here
//! without a network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::clock::unix_seconds;

/// How long a finished conversation waits for the next message to its domain.
pub const IDLE: Duration = Duration::from_secs(5);
/// Messages sent over one connection before it is closed and a new one opened.
pub const MESSAGES_PER_CONNECTION: u32 = 100;
/// The first pause after a domain said "try later"; it doubles each time the domain says so
/// again without a delivery in between.
pub const FIRST_PAUSE: Duration = Duration::from_secs(60);
/// The longest pause.
pub const LONGEST_PAUSE: Duration = Duration::from_secs(3_600);
/// Domains remembered before the ones nobody uses are forgotten.
const REMEMBERED: usize = 256;

/// Every recipient domain the relay talks to.
pub struct Destinations<S> {
    limit: usize,
    domains: Mutex<HashMap<String, Arc<Domain<S>>>>,
}

impl<S> std::fmt::Debug for Destinations<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Destinations").field("limit", &self.limit).finish_non_exhaustive()
    }
}

struct Domain<S> {
    permits: Arc<Semaphore>,
    state: Mutex<State<S>>,
}

struct State<S> {
    /// Open conversations ready for another message, with when they became idle.
    idle: Vec<(S, SystemTime)>,
    /// Not tried before this (seconds since the epoch).
    paused_until: u64,
    /// The current pause's length (grows while the domain keeps saying "later").
    pause: Option<Duration>,
    /// What the domain said that started the pause.
    said: String,
}

/// Why a domain is not tried now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    /// When it will be (seconds since the epoch).
    pub until: u64,
    /// What its server said.
    pub said: String,
}

/// The right to talk to a domain's servers now: one of its `limit` places.
pub struct Turn<S> {
    domain: Arc<Domain<S>>,
    _permit: OwnedSemaphorePermit,
}

impl<S> std::fmt::Debug for Turn<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Turn").finish_non_exhaustive()
    }
}

impl<S> Destinations<S> {
    /// At most `limit` conversations at once per domain.
    pub fn new(limit: usize) -> Self {
        Destinations { limit: limit.max(1), domains: Mutex::new(HashMap::new()) }
    }

    fn domain(&self, name: &str, now: SystemTime) -> Arc<Domain<S>> {
        let name = name.to_ascii_lowercase();
        let mut domains = self.domains.lock().expect("destinations lock");
        if domains.len() >= REMEMBERED && !domains.contains_key(&name) {
            let now = unix_seconds(now);
            domains.retain(|_, domain| {
                let state = domain.state.lock().expect("destination lock");
                Arc::strong_count(domain) > 1 || !state.idle.is_empty() || state.paused_until > now
            });
        }
        domains
            .entry(name)
            .or_insert_with(|| {
                Arc::new(Domain {
                    permits: Arc::new(Semaphore::new(self.limit)),
                    state: Mutex::new(State {
                        idle: Vec::new(),
                        paused_until: 0,
                        pause: None,
                        said: String::new(),
                    }),
                })
            })
            .clone()
    }

    /// Waits for one of the domain's places (`now` is when the wait begins).
    pub async fn enter(&self, name: &str, now: SystemTime) -> Turn<S> {
        let domain = self.domain(name, now);
        let permit = domain.permits.clone().acquire_owned().await.expect("never closed");
        Turn { domain, _permit: permit }
    }

    /// The domain's idle conversations that have waited [`IDLE`] by `now`, taken out to be closed.
    pub fn expired(&self, name: &str, now: SystemTime) -> Vec<S> {
        let name = name.to_ascii_lowercase();
        let Some(domain) = self.domains.lock().expect("destinations lock").get(&name).cloned()
        else {
            return Vec::new();
        };
        let mut state = domain.state.lock().expect("destination lock");
        let (expired, kept) = std::mem::take(&mut state.idle)
            .into_iter()
            .partition(|(_, since)| now.duration_since(*since).unwrap_or_default() >= IDLE);
        state.idle = kept;
        expired.into_iter().map(|(session, _)| session).collect()
    }
}

impl<S> Turn<S> {
    fn state(&self) -> std::sync::MutexGuard<'_, State<S>> {
        self.domain.state.lock().expect("destination lock")
    }

    /// Whether the domain is paused at `now`, and why.
    pub fn paused(&self, now: SystemTime) -> Option<Paused> {
        let state = self.state();
        (state.paused_until > unix_seconds(now))
            .then(|| Paused { until: state.paused_until, said: state.said.clone() })
    }

    /// The most recently idle conversation `usable` accepts, if one is still fresh at `now`.
    pub fn take_idle(&self, now: SystemTime, usable: impl Fn(&S) -> bool) -> Option<S> {
        let mut state = self.state();
        let fresh = |since: &SystemTime| now.duration_since(*since).unwrap_or_default() < IDLE;
        let index =
            state.idle.iter().rposition(|(session, since)| fresh(since) && usable(session))?;
        Some(state.idle.remove(index).0)
    }

    /// Keeps a conversation open for the next message to the domain.
    pub fn keep(&self, session: S, now: SystemTime) {
        self.state().idle.push((session, now));
    }

    /// The domain said "try later" (`said`) at `now`: pause it, longer than last time.
    pub fn pause(&self, now: SystemTime, said: &str) -> Paused {
        let mut state = self.state();
        let length = state.pause.map_or(FIRST_PAUSE, |last| (last * 2).min(LONGEST_PAUSE));
        state.pause = Some(length);
        state.paused_until = unix_seconds(now + length);
        state.said = said.to_string();
        Paused { until: state.paused_until, said: state.said.clone() }
    }

    /// A delivery worked: the next "try later" starts from the first pause again.
    pub fn delivered(&self) {
        let mut state = self.state();
        state.pause = None;
        state.paused_until = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + seconds)
    }

    #[tokio::test]
    async fn a_domain_has_at_most_its_limit_of_turns_at_once() {
        let destinations = Arc::new(Destinations::<u32>::new(2));
        let first = destinations.enter("example.net", at(0)).await;
        let _second = destinations.enter("EXAMPLE.net", at(0)).await;
        let third = tokio::time::timeout(
            Duration::from_millis(50),
            destinations.enter("example.net", at(0)),
        );
        assert!(third.await.is_err(), "a third turn while two are held");
        // Another domain is not held up.
        let _other = destinations.enter("example.org", at(0)).await;
        drop(first);
        let third =
            tokio::time::timeout(Duration::from_secs(5), destinations.enter("example.net", at(0)));
        assert!(third.await.is_ok(), "a turn once one was given back");
    }

    #[tokio::test]
    async fn an_idle_conversation_is_reused_while_fresh_and_then_closed() {
        let destinations = Destinations::<u32>::new(3);
        let turn = destinations.enter("example.net", at(0)).await;
        turn.keep(7, at(0));
        assert_eq!(turn.take_idle(at(1), |_| false), None, "not one the caller can use");
        assert_eq!(turn.take_idle(at(1), |_| true), Some(7));
        turn.keep(8, at(10));
        assert_eq!(destinations.expired("example.net", at(12)), Vec::<u32>::new());
        assert_eq!(turn.take_idle(at(10) + IDLE, |_| true), None, "too old to trust");
        assert_eq!(destinations.expired("example.net", at(10) + IDLE), vec![8]);
    }

    #[tokio::test]
    async fn a_pause_doubles_while_the_domain_keeps_saying_later_and_ends_with_a_delivery() {
        let destinations = Destinations::<u32>::new(3);
        let turn = destinations.enter("example.net", at(0)).await;
        assert_eq!(turn.paused(at(0)), None);
        let first = turn.pause(at(0), "421 4.7.0 slow down");
        assert_eq!(first.until, unix_seconds(at(60)));
        assert_eq!(
            turn.paused(at(59)).map(|paused| paused.said),
            Some("421 4.7.0 slow down".into())
        );
        assert_eq!(turn.paused(at(60)), None);
        assert_eq!(turn.pause(at(60), "421").until, unix_seconds(at(180)));
        for _ in 0..10 {
            turn.pause(at(200), "421");
        }
        assert_eq!(turn.pause(at(200), "421").until, unix_seconds(at(200) + LONGEST_PAUSE));
        turn.delivered();
        assert_eq!(turn.paused(at(201)), None);
        assert_eq!(turn.pause(at(300), "421").until, unix_seconds(at(360)));
    }
}
