//! DNS: the records a user must publish ([`records`]: pure planning, zone-file export) and the
//! live checks of them against the zone's authoritative servers ([`check`]).

pub mod blocklists;
pub mod caa;
pub mod check;
pub mod records;
pub mod report;

/// The labels of an address in reverse DNS order, without the zone: `10.100.51.198` for
/// 198.51.100.10, 32 nibbles for IPv6 (RFC 3596 §2.5). Reverse zones and blocklists both use it.
pub fn reversed(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}")
        }
        std::net::IpAddr::V6(v6) => v6
            .octets()
            .iter()
            .rev()
            .flat_map(|byte| [byte & 0x0f, byte >> 4])
            .map(|nibble| format!("{nibble:x}"))
            .collect::<Vec<_>>()
            .join("."),
    }
}

/// mail-auth's checker asking `servers` (the system's resolvers when empty), without a cache:
/// SPF, DKIM, DMARC and iprev as a receiver evaluates them.
pub fn authenticator(
    servers: &[std::net::SocketAddr],
) -> Result<mail_auth::MessageAuthenticator, String> {
    if servers.is_empty() {
        return mail_auth::MessageAuthenticator::new_system_conf().map_err(|e| e.to_string());
    }
    let servers = servers.iter().map(|server| check::name_server(*server)).collect();
    let mut options = hickory_resolver::config::ResolverOpts::default();
    options.timeout = std::time::Duration::from_secs(3);
    options.attempts = 2;
    options.cache_size = 0;
    mail_auth::MessageAuthenticator::new(
        hickory_resolver::config::ResolverConfig::from_name_servers(servers),
        options,
    )
    .map_err(|error| error.to_string())
}
