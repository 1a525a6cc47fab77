//! Limits that protect the server and the people it sends to: password guessing is refused for
//! a while after too many failures from one address block or against one user (conformance
//! 49); password checks run a few at a time; one address holds only so many connections; and
//! each user may send only so many messages an hour (52). All answer with 4xx: come back later.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failed logins per client address block and per user, each attempt counted before
/// its password is checked (so a burst is throttled while it runs, not after), and a success
/// forgiving only that user's failures (so knowing one password does not let a client guess
/// another's forever).
#[derive(Debug)]
pub struct AuthThrottle {
    failures_before_block: u32,
    block_time: Duration,
    state: Mutex<Failures>,
}

/// (failures, when the window started or the block began).
type Window = (u32, Instant);

#[derive(Debug, Default)]
struct Failures {
    /// Per (address block, user).
    by_client: HashMap<(IpAddr, String), Window>,
    /// Per user, from every address: guessing one user's password from many addresses.
    by_user: HashMap<String, Window>,
}

/// Failures for one user from anywhere, as a multiple of the per-address limit: high enough
/// that a user locked out by strangers needs many addresses, low enough to stop a botnet.
const USER_LIMIT_FACTOR: u32 = 5;

impl AuthThrottle {
    /// Blocks an address block for `block_time` after `failures_before_block` failures within
    /// `block_time` of each other (a user after five times as many, from anywhere).
    pub fn new(failures_before_block: u32, block_time: Duration) -> Self {
        AuthThrottle { failures_before_block, block_time, state: Mutex::new(Failures::default()) }
    }

    /// Starts a login attempt by `user` from `ip`: counted as a failure now, forgiven by
    /// [`AuthThrottle::succeeded`]. If the address block or the user is blocked, nothing is
    /// counted and the answer is how much longer.
    pub fn attempt(&self, ip: IpAddr, user: &str) -> Result<(), Duration> {
        let block = client_block(ip);
        let user = user.to_ascii_lowercase();
        let now = Instant::now();
        let block_time = self.block_time;
        let live = |window: &Window| now.duration_since(window.1) < block_time;
        let left = |window: &Window| block_time.saturating_sub(now.duration_since(window.1));
        let mut state = self.state.lock().expect("throttle lock");
        // Forget windows that ran out, so the maps cannot grow without end.
        if state.by_client.len() + state.by_user.len() > 10_000 {
            state.by_client.retain(|_, window| live(window));
            state.by_user.retain(|_, window| live(window));
        }
        let from_block: Vec<&Window> = state
            .by_client
            .iter()
            .filter(|((address, _), window)| *address == block && live(window))
            .map(|(_, window)| window)
            .collect();
        if from_block.iter().map(|window| window.0).sum::<u32>() >= self.failures_before_block {
            // Blocked until the newest of its windows runs out.
            return Err(from_block.iter().map(|window| left(window)).max().unwrap_or_default());
        }
        let counted = from_block.iter().map(|window| window.0).sum::<u32>() + 1;
        if let Some(window) = state.by_user.get(&user).filter(|window| live(window))
            && window.0 >= self.failures_before_block * USER_LIMIT_FACTOR
        {
            return Err(left(window));
        }
        let count = |window: &mut Window| {
            if !live(window) {
                *window = (0, now);
            }
            window.0 += 1;
        };
        count(state.by_client.entry((block, user.clone())).or_insert((0, now)));
        count(state.by_user.entry(user).or_insert((0, now)));
        if counted == self.failures_before_block {
            tracing::warn!(client = %block, "too many failed logins; refusing logins for a while");
        }
        Ok(())
    }

    /// Forgives `user`'s failures from `ip`'s block (and from anywhere): the others stay.
    pub fn succeeded(&self, ip: IpAddr, user: &str) {
        let user = user.to_ascii_lowercase();
        let mut state = self.state.lock().expect("throttle lock");
        state.by_client.remove(&(client_block(ip), user.clone()));
        state.by_user.remove(&user);
    }
}

/// Connections held per client address block.
#[derive(Debug)]
pub struct PerAddress {
    limit: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its address block until it is dropped.
#[derive(Debug)]
pub struct Held {
    owner: std::sync::Arc<PerAddress>,
    block: IpAddr,
}

impl PerAddress {
    /// At most `limit` connections per address block at once.
    pub fn new(limit: u32) -> std::sync::Arc<Self> {
        std::sync::Arc::new(PerAddress { limit: limit as usize, held: Mutex::new(HashMap::new()) })
    }

    /// Counts a connection from `ip`, or `None` if its block already holds the limit.
    pub fn hold(self: &std::sync::Arc<Self>, ip: IpAddr) -> Option<Held> {
        let block = client_block(ip);
        let mut held = self.held.lock().expect("connections lock");
        let count = held.entry(block).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held { owner: self.clone(), block })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.owner.held.lock().expect("connections lock");
        if let Some(count) = held.get_mut(&self.block) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.block);
            }
        }
    }
}

/// Messages per user (or, inbound, per sending address) per hour.
#[derive(Debug)]
pub struct SendRate {
    per_hour: usize,
    sent: Mutex<Sent>,
}

#[derive(Debug)]
struct Sent {
    by_key: HashMap<String, VecDeque<Instant>>,
    /// When keys that sent nothing for an hour are next forgotten: inbound, every sending
    /// address of the world is a key, and the map must not grow with all of them.
    sweep_at: Instant,
}

const HOUR: Duration = Duration::from_secs(3600);
/// How often the rate's idle keys are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl SendRate {
    /// At most `per_hour` messages per user in any hour.
    pub fn new(per_hour: u32) -> Self {
        let sent = Sent { by_key: HashMap::new(), sweep_at: Instant::now() + SWEEP_EVERY };
        SendRate { per_hour: per_hour as usize, sent: Mutex::new(sent) }
    }

    /// Counts a message for `user`; false if that would exceed the limit.
    pub fn allow(&self, user: &str) -> bool {
        self.allow_at(user, Instant::now())
    }

    fn allow_at(&self, user: &str, now: Instant) -> bool {
        let mut sent = self.sent.lock().expect("rate lock");
        if now >= sent.sweep_at {
            sent.sweep_at = now + SWEEP_EVERY;
            let recent = |times: &mut VecDeque<Instant>| {
                times.back().is_some_and(|time| now.saturating_duration_since(*time) < HOUR)
            };
            sent.by_key.retain(|_, times| recent(times));
        }
        let times = sent.by_key.entry(user.to_string()).or_default();
        while times.front().is_some_and(|time| now.saturating_duration_since(*time) >= HOUR) {
            times.pop_front();
        }
        if times.len() >= self.per_hour {
            return false;
        }
        times.push_back(now);
        true
    }

    /// How many keys are remembered.
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.sent.lock().expect("rate lock").by_key.len()
    }
}

/// The block of addresses a throttle counts together: the address itself for IPv4, the /64
/// for IPv6 (one customer usually has a whole /64).
pub fn client_block(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_block_is_refused_after_too_many_attempts_and_others_are_not() {
        let throttle = AuthThrottle::new(3, Duration::from_secs(60));
        let attacker: IpAddr = "203.0.113.7".parse().unwrap();
        let neighbour: IpAddr = "203.0.113.8".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(throttle.attempt(attacker, "alice@example.com"), Ok(()));
        }
        // Counted before any password was checked: a burst is stopped while it runs.
        let left = throttle.attempt(attacker, "alice@example.com").unwrap_err();
        assert!(left > Duration::from_secs(59), "{left:?}");
        assert!(throttle.attempt(attacker, "bob@example.com").is_err(), "any user, from there");
        assert_eq!(
            throttle.attempt(neighbour, "alice@example.com"),
            Ok(()),
            "others are not locked out"
        );
    }

    #[test]
    fn a_success_forgives_only_that_users_failures() {
        let throttle = AuthThrottle::new(3, Duration::from_secs(60));
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        throttle.attempt(client, "bob@example.com").unwrap();
        throttle.attempt(client, "bob@example.com").unwrap();
        throttle.attempt(client, "alice@example.com").unwrap();
        throttle.succeeded(client, "alice@example.com");
        // Alice's own login does not wipe the guesses at Bob's password.
        throttle.attempt(client, "bob@example.com").unwrap();
        assert!(throttle.attempt(client, "bob@example.com").is_err());
    }

    #[test]
    fn one_user_guessed_from_many_addresses_is_refused() {
        let throttle = AuthThrottle::new(2, Duration::from_secs(60));
        for host in 1..=(2 * USER_LIMIT_FACTOR) {
            let ip: IpAddr = format!("198.51.100.{host}").parse().unwrap();
            throttle.attempt(ip, "alice@example.com").unwrap();
        }
        assert!(throttle.attempt("203.0.113.9".parse().unwrap(), "alice@example.com").is_err());
        assert_eq!(throttle.attempt("203.0.113.9".parse().unwrap(), "bob@example.com"), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let throttle = AuthThrottle::new(1, Duration::from_secs(60));
        throttle.attempt("2001:db8:1:2::1".parse().unwrap(), "a@example.com").unwrap();
        assert!(throttle.attempt("2001:db8:1:2::ffff".parse().unwrap(), "a@example.com").is_err());
        assert!(throttle.attempt("2001:db8:1:3::1".parse().unwrap(), "a@example.com").is_ok());
    }

    #[test]
    fn a_block_ends() {
        let throttle = AuthThrottle::new(1, Duration::from_millis(30));
        let ip: IpAddr = "198.51.100.9".parse().unwrap();
        throttle.attempt(ip, "a@example.com").unwrap();
        assert!(throttle.attempt(ip, "a@example.com").is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(throttle.attempt(ip, "a@example.com"), Ok(()));
    }

    #[test]
    fn connections_are_counted_per_address_block_and_released() {
        let limit = PerAddress::new(2);
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let first = limit.hold(ip).unwrap();
        let _second = limit.hold(ip).unwrap();
        assert!(limit.hold(ip).is_none());
        assert!(limit.hold("203.0.113.8".parse().unwrap()).is_some(), "others are served");
        drop(first);
        assert!(limit.hold(ip).is_some(), "a closed connection frees its place");
    }

    #[test]
    fn users_are_limited_per_hour_each() {
        let rate = SendRate::new(2);
        assert!(rate.allow("alice@example.com"));
        assert!(rate.allow("alice@example.com"));
        assert!(!rate.allow("alice@example.com"));
        assert!(rate.allow("bob@example.com"));
    }

    #[test]
    fn senders_idle_for_an_hour_are_forgotten() {
        let rate = SendRate::new(2);
        let start = Instant::now();
        for number in 0..1000 {
            assert!(rate.allow_at(&format!("sender{number}@example.net"), start));
        }
        assert_eq!(rate.keys(), 1000);
        // Within the hour they are all kept (their counts still matter)…
        assert!(rate.allow_at("sender0@example.net", start + SWEEP_EVERY));
        assert_eq!(rate.keys(), 1000);
        assert!(!rate.allow_at("sender0@example.net", start + SWEEP_EVERY * 2));
        // …and after it only the one still sending is.
        let later = start + HOUR + SWEEP_EVERY * 2;
        assert!(rate.allow_at("sender0@example.net", later));
        assert_eq!(rate.keys(), 1, "the idle senders are gone");
    }
}
