//! The HTTPS client the ACME account talks through: names resolved with hickory (the relay's
//! one resolver; a static binary must never call getaddrinfo), TLS verified with the system's
//! roots plus `tls.acme.directory_root`, HTTP/1.1 by hyper, one connection per request (an
//! order makes a dozen requests; nothing to pool).
//!
//! It also keeps the CA's last `Retry-After` on a refusal (RFC 8555 §6.6: a rate limit says when
//! to come back), which instant-acme drops from its errors, for the manager's next try.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hickory_resolver::TokioResolver;
use http::Request;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// How long a connection (resolving, TCP, TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the CA has to answer a request.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// See the module documentation.
#[derive(Clone)]
pub struct Client {
    resolver: TokioResolver,
    tls: TlsConnector,
    /// The `Retry-After` of the last refusal, until taken.
    retry_after: Arc<Mutex<Option<RetryAfter>>>,
}

/// A CA's `Retry-After` (RFC 9110 §10.2.3): a delay from when it was received, or a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `delay-seconds`.
    Delay(Duration),
    /// `HTTP-date`.
    At(SystemTime),
}

impl RetryAfter {
    /// Parses a header value; `None` when it is neither form.
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let value = value.trim();
        match value.parse::<u64>() {
            Ok(seconds) => Some(RetryAfter::Delay(Duration::from_secs(seconds))),
            Err(_) => httpdate::parse_http_date(value).ok().map(RetryAfter::At),
        }
    }

    /// When, for a header received at `received`.
    pub fn at(self, received: SystemTime) -> SystemTime {
        match self {
            RetryAfter::Delay(delay) => received + delay,
            RetryAfter::At(at) => at,
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("acme::Client").finish_non_exhaustive()
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

impl Client {
    /// A client resolving with `resolver` and verifying with `tls`.
    pub fn new(resolver: TokioResolver, tls: TlsConnector) -> Client {
        Client { resolver, tls, retry_after: Arc::new(Mutex::new(None)) }
    }

    /// The `Retry-After` of the last refusal since the last call, if the CA sent one.
    pub fn take_retry_after(&self) -> Option<RetryAfter> {
        self.retry_after.lock().expect("retry-after lock").take()
    }

    async fn send(self, request: Request<BodyWrapper<Bytes>>) -> Result<BytesResponse, Failure> {
        let uri = request.uri().clone();
        if uri.scheme_str() != Some("https") {
            return Err(format!("{uri}: ACME is only spoken over https").into());
        }
        let host = uri.host().ok_or_else(|| format!("{uri} has no host"))?.to_string();
        let port = uri.port_u16().unwrap_or(443);
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, self.connect(&host, port))
            .await
            .map_err(|_| {
                format!("connecting to {host}:{port} took over {} s", CONNECT_TIMEOUT.as_secs())
            })??;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        // Origin-form target and a Host header, as HTTP/1.1 servers expect from a client.
        let (mut parts, body) = request.into_parts();
        let target = uri.path_and_query().map_or("/", |target| target.as_str());
        parts.uri = target.parse()?;
        let authority = if port == 443 { host.clone() } else { format!("{host}:{port}") };
        parts.headers.insert(http::header::HOST, authority.parse()?);
        let response = tokio::time::timeout(
            RESPONSE_TIMEOUT,
            sender.send_request(Request::from_parts(parts, body)),
        )
        .await
        .map_err(|_| format!("{host} did not answer within {} s", RESPONSE_TIMEOUT.as_secs()))??;
        let refused = response.status().is_client_error() || response.status().is_server_error();
        if let Some(retry_after) = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(RetryAfter::parse)
            .filter(|_| refused)
        {
            *self.retry_after.lock().expect("retry-after lock") = Some(retry_after);
        }
        Ok(BytesResponse::from(response))
    }

    async fn connect(
        &self,
        host: &str,
        port: u16,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Failure> {
        let addresses: Vec<IpAddr> = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => {
                let fqdn = format!("{}.", host.trim_end_matches('.'));
                self.resolver
                    .lookup_ip(fqdn.as_str())
                    .await
                    .map_err(|error| format!("cannot look up {host}: {error}"))?
                    .iter()
                    .collect()
            }
        };
        let mut last: Option<std::io::Error> = None;
        for ip in addresses {
            match tokio::net::TcpStream::connect(SocketAddr::new(ip, port)).await {
                Ok(tcp) => {
                    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())?;
                    return Ok(self.tls.connect(name, tcp).await?);
                }
                Err(error) => last = Some(error),
            }
        }
        Err(match last {
            Some(error) => format!("cannot connect to {host}:{port}: {error}").into(),
            None => format!("{host} has no address").into(),
        })
    }
}

impl HttpClient for Client {
    fn request(
        &self,
        request: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.clone();
        Box::pin(async move { client.send(request).await.map_err(instant_acme::Error::Other) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn retry_after_is_read_in_both_forms() {
        assert_eq!(RetryAfter::parse(" 120 "), Some(RetryAfter::Delay(Duration::from_secs(120))));
        let date = RetryAfter::parse("Fri, 31 Dec 1999 23:59:59 GMT").unwrap();
        assert_eq!(
            date.at(SystemTime::UNIX_EPOCH),
            SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_799)
        );
        assert_eq!(RetryAfter::parse("soon"), None);
    }

    /// A CA on loopback (TLS with its own test root) refusing with `429` and `Retry-After`, as
    /// Let's Encrypt does on a rate limit: the client keeps the header for the manager, once.
    #[tokio::test]
    async fn a_refusals_retry_after_is_kept_until_taken() {
        let files = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let root = files.path().join("root.pem");
        std::fs::write(&root, ca.pem()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for status in ["429 Too Many Requests", "200 OK"] {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut tls = acceptor.accept(tcp).await.unwrap();
                let mut request = vec![0; 4096];
                let _ = tls.read(&mut request).await.unwrap();
                let response = format!(
                    "HTTP/1.1 {status}\r\nRetry-After: 120\r\nContent-Length: 2\r\n\
                     Connection: close\r\n\r\n{{}}"
                );
                tls.write_all(response.as_bytes()).await.unwrap();
                tls.shutdown().await.unwrap();
            }
        });
        // Never used: the CA is named by its address.
        let resolver = crate::courier::smtp::resolver(&outpost_relay_config::Dns {
            resolvers: vec!["127.0.0.1:9".parse().unwrap()],
        })
        .unwrap();
        let tls = crate::courier::mta_sts::verifying_connector(Some(&root)).unwrap();
        let client = Client::new(resolver, tls);
        let request = || {
            Request::builder()
                .uri(format!("https://127.0.0.1:{port}/acme/new-order"))
                .body(BodyWrapper::default())
                .unwrap()
        };
        let refused = client.request(request()).await.unwrap();
        assert_eq!(refused.parts.status, 429);
        assert_eq!(client.take_retry_after(), Some(RetryAfter::Delay(Duration::from_secs(120))));
        assert_eq!(client.take_retry_after(), None, "taken once");
        // A success's Retry-After (polling advice) is not a refusal's.
        let fine = client.request(request()).await.unwrap();
        assert_eq!(fine.parts.status, 200);
        assert_eq!(client.take_retry_after(), None);
    }
}
