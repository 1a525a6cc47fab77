//! Limits that protect the server and the people it sends to: password guessing is refused for
//! a while after too many failures from one address block (conformance 49), and each user may
//! send only so many messages an hour (52). Both answer with 4xx: come back later.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failed logins per client address block.
#[derive(Debug)]
pub struct AuthThrottle {
    failures_before_block: u32,
    block_time: Duration,
    /// Block → (failures in the current window, when the window started or the block began).
    state: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl AuthThrottle {
    /// Blocks an address block for `block_time` after `failures_before_block` failures within
    /// `block_time` of each other.
    pub fn new(failures_before_block: u32, block_time: Duration) -> Self {
        AuthThrottle { failures_before_block, block_time, state: Mutex::new(HashMap::new()) }
    }

    /// How much longer `ip` is blocked, if it is.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let mut state = self.state.lock().expect("throttle lock");
        let (failures, since) = *state.get(&client_block(ip))?;
        let elapsed = since.elapsed();
        if elapsed >= self.block_time {
            state.remove(&client_block(ip));
            return None;
        }
        (failures >= self.failures_before_block).then(|| self.block_time - elapsed)
    }

    /// Records a failed login.
    pub fn failed(&self, ip: IpAddr) {
        let mut state = self.state.lock().expect("throttle lock");
        // Forget blocks that ran out, so the map cannot grow without end.
        if state.len() > 10_000 {
            let block_time = self.block_time;
            state.retain(|_, (_, since)| since.elapsed() < block_time);
        }
        let entry = state.entry(client_block(ip)).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.block_time {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        if entry.0 == self.failures_before_block {
            // The block starts now and lasts the full time.
            entry.1 = Instant::now();
            tracing::warn!(client = %client_block(ip), "too many failed logins; refusing logins for a while");
        }
    }

    /// Forgets failures after a successful login.
    pub fn succeeded(&self, ip: IpAddr) {
        self.state.lock().expect("throttle lock").remove(&client_block(ip));
    }
}

/// Messages per user per hour.
#[derive(Debug)]
pub struct SendRate {
    per_hour: usize,
    sent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SendRate {
    /// At most `per_hour` messages per user in any hour.
    pub fn new(per_hour: u32) -> Self {
        SendRate { per_hour: per_hour as usize, sent: Mutex::new(HashMap::new()) }
    }

    /// Counts a message for `user`; false if that would exceed the limit.
    pub fn allow(&self, user: &str) -> bool {
        const HOUR: Duration = Duration::from_secs(3600);
        let mut sent = self.sent.lock().expect("rate lock");
        let times = sent.entry(user.to_string()).or_default();
        while times.front().is_some_and(|time| time.elapsed() >= HOUR) {
            times.pop_front();
        }
        if times.len() >= self.per_hour {
            return false;
        }
        times.push_back(Instant::now());
        true
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
    fn an_address_block_is_refused_after_too_many_failures_and_others_are_not() {
        let throttle = AuthThrottle::new(3, Duration::from_secs(60));
        let attacker: IpAddr = "203.0.113.7".parse().unwrap();
        let neighbour: IpAddr = "203.0.113.8".parse().unwrap();
        for _ in 0..2 {
            throttle.failed(attacker);
            assert_eq!(throttle.blocked(attacker), None);
        }
        throttle.failed(attacker);
        assert!(throttle.blocked(attacker).is_some_and(|left| left > Duration::from_secs(59)));
        assert_eq!(throttle.blocked(neighbour), None, "other clients are not locked out");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let throttle = AuthThrottle::new(1, Duration::from_secs(60));
        throttle.failed("2001:db8:1:2::1".parse().unwrap());
        assert!(throttle.blocked("2001:db8:1:2::ffff".parse().unwrap()).is_some());
        assert!(throttle.blocked("2001:db8:1:3::1".parse().unwrap()).is_none());
    }

    #[test]
    fn a_block_ends() {
        let throttle = AuthThrottle::new(1, Duration::from_millis(30));
        let ip: IpAddr = "198.51.100.9".parse().unwrap();
        throttle.failed(ip);
        assert!(throttle.blocked(ip).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(throttle.blocked(ip), None);
    }

    #[test]
    fn users_are_limited_per_hour_each() {
        let rate = SendRate::new(2);
        assert!(rate.allow("alice@example.com"));
        assert!(rate.allow("alice@example.com"));
        assert!(!rate.allow("alice@example.com"));
        assert!(rate.allow("bob@example.com"));
    }
}
