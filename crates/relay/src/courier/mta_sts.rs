//! MTA-STS (RFC 8461): a recipient domain can ask senders to deliver only to its listed mail
//! servers and only over TLS with a valid certificate. Discovery is a TXT record at
//! `_mta-sts.<domain>`; the policy itself is fetched over HTTPS from
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt` and cached for its `max_age`.
//!
//! Name lookups go through hickory like everything else in the relay (never getaddrinfo, which
//! a static binary cannot use reliably).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{RData, RecordType};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The largest policy accepted (RFC 8461 §3.3 suggests 64 KiB).
const MAX_POLICY: usize = 64 * 1024;
/// How long fetching a policy may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a policy is cached, whatever it says (RFC 8461 §3.2: at most 31557600 s).
const MAX_AGE_CAP: u64 = 31_557_600;

/// What a policy asks of senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to listed servers over verified TLS.
    Enforce,
    /// Report problems, deliver anyway.
    Testing,
    /// No policy.
    None,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// Allowed MX host patterns (`mx.example.net`, `*.example.net`).
    pub mx: Vec<String>,
    /// How long it may be cached, in seconds.
    pub max_age: u64,
}

impl Policy {
    /// Parses the policy file (RFC 8461 §3.2): `key: value` lines, `version: STSv1` required.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let mut version = None;
        let mut mode = None;
        let mut mx = Vec::new();
        let mut max_age = None;
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value.to_string()),
                "mode" => {
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        other => return Err(format!("unknown mode `{other}`")),
                    })
                }
                "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
                "max_age" => {
                    max_age =
                        Some(value.parse::<u64>().map_err(|_| format!("bad max_age `{value}`"))?)
                }
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err("no `version: STSv1`".into());
        }
        let mode = mode.ok_or("no mode")?;
        if mode != Mode::None && mx.is_empty() {
            return Err("no mx lines".into());
        }
        Ok(Policy { mode, mx, max_age: max_age.ok_or("no max_age")?.min(MAX_AGE_CAP) })
    }

    /// Whether the policy allows delivery to `host` (RFC 8461 §4.1: a `*.` pattern matches
    /// exactly one leftmost label).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|pattern| match pattern.strip_prefix("*.") {
            Some(suffix) => host.split_once('.').is_some_and(|(_, rest)| rest == suffix),
            None => *pattern == host,
        })
    }
}

/// Finds, fetches and caches policies.
pub struct Policies {
    https_port: u16,
    tls: TlsConnector,
    /// Domain → (the TXT record's id, the policy, when it expires).
    cache: Mutex<HashMap<String, (String, Policy, Instant)>>,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Policies")
            .field("https_port", &self.https_port)
            .finish_non_exhaustive()
    }
}

impl Policies {
    /// Policies fetched on `https_port` with the verifying `tls` connector.
    pub fn new(https_port: u16, tls: TlsConnector) -> Self {
        Policies { https_port, tls, cache: Mutex::new(HashMap::new()) }
    }

    /// The policy in force for `domain`, if any. A domain with a TXT record whose policy cannot
    /// be fetched keeps its cached policy; without one it is treated as having none (§5).
    pub async fn lookup(&self, resolver: &TokioResolver, domain: &str) -> Option<Policy> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let id = self.record_id(resolver, &domain).await;
        let cached = self.cache.lock().expect("policy cache").get(&domain).cloned();
        if let Some((cached_id, policy, expires)) = &cached
            && Instant::now() < *expires
            && (id.is_none() || id.as_ref() == Some(cached_id))
        {
            return Some(policy.clone());
        }
        let id = id?;
        match self.fetch(resolver, &domain).await {
            Ok(policy) => {
                let expires = Instant::now() + Duration::from_secs(policy.max_age);
                self.cache
                    .lock()
                    .expect("policy cache")
                    .insert(domain, (id, policy.clone(), expires));
                Some(policy)
            }
            Err(error) => {
                tracing::warn!(%domain, %error, "cannot fetch the MTA-STS policy");
                cached.map(|(_, policy, _)| policy)
            }
        }
    }

    /// The `id=` of the `v=STSv1` TXT record at `_mta-sts.<domain>`.
    async fn record_id(&self, resolver: &TokioResolver, domain: &str) -> Option<String> {
        let lookup = resolver.txt_lookup(format!("_mta-sts.{domain}.")).await.ok()?;
        let records: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .filter(|text| text.starts_with("v=STSv1"))
            .collect();
        // Exactly one record (RFC 8461 §3.1), with an id.
        let [record] = records.as_slice() else { return None };
        record.split(';').find_map(|part| part.trim().strip_prefix("id=").map(str::to_string))
    }

    async fn fetch(&self, resolver: &TokioResolver, domain: &str) -> Result<Policy, String> {
        let host = format!("mta-sts.{domain}");
        let mut addresses: Vec<IpAddr> = Vec::new();
        for family in [RecordType::AAAA, RecordType::A] {
            if let Ok(lookup) = resolver.lookup(format!("{host}."), family).await {
                addresses.extend(lookup.answers().iter().filter_map(|record| match &record.data {
                    RData::A(address) => Some(IpAddr::V4(address.0)),
                    RData::AAAA(address) => Some(IpAddr::V6(address.0)),
                    _ => None,
                }));
            }
        }
        let mut last = format!("{host} has no address");
        for ip in addresses {
            match tokio::time::timeout(
                FETCH_TIMEOUT,
                self.get(&host, SocketAddr::new(ip, self.https_port)),
            )
            .await
            {
                Ok(Ok(body)) => return Policy::parse(&body),
                Ok(Err(error)) => last = error,
                Err(_) => last = format!("{host} [{ip}] took too long"),
            }
        }
        Err(last)
    }

    /// `GET /.well-known/mta-sts.txt` over verified TLS; no redirects (§3.3).
    async fn get(&self, host: &str, address: SocketAddr) -> Result<String, String> {
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|error| format!("{host} [{}]: {error}", address.ip()))?;
        let name = ServerName::try_from(host.to_string()).map_err(|error| error.to_string())?;
        let mut tls =
            self.tls.connect(name, tcp).await.map_err(|error| format!("{host}: TLS: {error}"))?;
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: outpost-relay\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes()).await.map_err(|error| error.to_string())?;
        let mut response = Vec::new();
        (&mut tls)
            .take((MAX_POLICY + 8192) as u64)
            .read_to_end(&mut response)
            .await
            .map_err(|error| error.to_string())?;
        let split =
            response.windows(4).position(|window| window == b"\r\n\r\n").ok_or("no HTTP header")?;
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        let body = &response[split + 4..];
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if status != "200" {
            return Err(format!("{host} answered HTTP {status}"));
        }
        let chunked = head.lines().any(|line| {
            let lower = line.to_ascii_lowercase();
            lower.starts_with("transfer-encoding:") && lower.contains("chunked")
        });
        let body = if chunked { dechunk(body)? } else { body.to_vec() };
        if body.len() > MAX_POLICY {
            return Err("the policy is larger than 64 KiB".into());
        }
        String::from_utf8(body).map_err(|_| "the policy is not UTF-8".to_string())
    }
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|window| window == b"\r\n").ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// A TLS connector that verifies certificates: the system's roots plus `extra_roots`.
pub fn verifying_connector(extra_roots: Option<&std::path::Path>) -> Result<TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut extra: Vec<CertificateDer<'static>> = Vec::new();
    if let Some(path) = extra_roots {
        let pem = std::fs::read(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            extra.push(certificate.map_err(|error| format!("{}: {error}", path.display()))?);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|error| error.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_match_like_rfc_8461() {
        let policy = Policy::parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n").unwrap();
        assert_eq!(policy.mode, Mode::Enforce);
        assert!(policy.allows("mail.example.com"));
        assert!(policy.allows("MX1.example.net."));
        assert!(!policy.allows("a.b.example.net"), "a wildcard covers one label");
        assert!(!policy.allows("example.net"));
        assert!(!policy.allows("evil.example.com"));
        assert!(
            Policy::parse("mode: enforce\nmx: a.b\nmax_age: 1\n").is_err(),
            "version is required"
        );
        assert!(
            Policy::parse("version: STSv1\nmode: enforce\nmax_age: 1\n").is_err(),
            "mx is required"
        );
        assert!(Policy::parse("version: STSv1\nmode: sometimes\nmx: a.b\nmax_age: 1\n").is_err());
        assert_eq!(
            Policy::parse("version: STSv1\nmode: none\nmax_age: 99999999999\n").unwrap().max_age,
            MAX_AGE_CAP
        );
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").unwrap(), b"hello world");
        assert!(dechunk(b"ff\r\nshort\r\n").is_err());
    }
}
