//! The HTTPS client the ACME account talks through: names resolved with hickory (the relay's
//! one resolver; a static binary must never call getaddrinfo), TLS verified with the system's
//! roots plus `tls.acme.directory_root`, HTTP/1.1 by hyper, one connection per request (an
//! order makes a dozen requests; nothing to pool).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

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
        Client { resolver, tls }
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
