//! Checks from the user's own computer that the relay is reachable the way mail clients will
//! reach it: port 587, STARTTLS, a TLS handshake with the relay's own certificate, and AUTH
//! offered only after TLS.
//!
//! While the relay still has its self-signed certificate, "its own" is decided by the
//! certificate's SHA-256, which the relay reports in its status over SSH: a certificate that is
//! not the one on the server (something in between answering) fails the check. Once a CA has
//! issued one, the chain is verified against this computer's roots instead, as a mail program
//! verifies it ([`Trust::Chain`]).

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Each network step of the probe may take this long.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// What the probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Submission {
    /// The TLS version, e.g. `TLSv1_3`.
    pub tls_version: String,
    /// The AUTH mechanisms offered after STARTTLS.
    pub auth: Vec<String>,
    /// Whether AUTH was (wrongly) offered before TLS.
    pub auth_before_tls: bool,
    /// How the certificate was checked.
    pub trust: TrustKind,
}

/// How the probe decides the certificate is the relay's.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The relay's self-signed certificate, by the SHA-256 its status reports.
    Pinned(String),
    /// A chain to a root this computer trusts (the system's, plus these PEM roots), for
    /// `name` (the mail host: the server may be reached by its address).
    Chain {
        /// Extra roots, PEM (empty: the system's only).
        extra_roots: Vec<u8>,
        /// The name the certificate must be valid for.
        name: String,
    },
}

/// What [`Trust`] was used, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum TrustKind {
    /// The self-signed certificate, pinned.
    Pinned,
    /// A CA's chain, verified like a mail program does.
    Chain,
}

/// Why the probe failed, in terms the wizard can explain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection to the port.
    #[error("this computer cannot reach {host} on port {port} ({reason})")]
    Unreachable {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// What the network said.
        reason: String,
    },
    /// The server did not answer in time.
    #[error("{host} did not answer on port {port} within {} seconds", STEP_TIMEOUT.as_secs())]
    Timeout {
        /// The host.
        host: String,
        /// The port.
        port: u16,
    },
    /// Something other than an SMTP server with STARTTLS answered.
    #[error("port {port} answered, but not as the relay should: {detail}")]
    Unexpected {
        /// The port.
        port: u16,
        /// What was wrong.
        detail: String,
    },
    /// The certificate presented is not the relay's.
    #[error(
        "the certificate on port {port} is not the one installed on the server (expected SHA-256 {expected}, got {found})"
    )]
    WrongCertificate {
        /// The port.
        port: u16,
        /// The relay's certificate.
        expected: String,
        /// What was presented.
        found: String,
    },
    /// The chain does not lead to a root this computer trusts, or does not name the host.
    #[error("the certificate on port {port} is not trusted by this computer: {detail}")]
    Untrusted {
        /// The port.
        port: u16,
        /// rustls's reason.
        detail: String,
    },
    /// The TLS handshake failed for another reason.
    #[error("the TLS handshake on port {port} failed: {detail}")]
    Handshake {
        /// The port.
        port: u16,
        /// rustls's reason.
        detail: String,
    },
}

/// Accepts exactly one certificate, by SHA-256, and checks the handshake's signatures with it.
#[derive(Debug)]
struct Pinned {
    sha256: String,
    seen: std::sync::Mutex<Option<String>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let found = hex(&Sha256::digest(end_entity.as_ref()));
        let matches = found == self.sha256;
        *self.seen.lock().expect("certificate lock") = Some(found);
        if matches {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads one SMTP reply (all its lines); returns (code, lines without the code).
async fn reply<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    port: u16,
) -> Result<(u16, Vec<String>), Error> {
    let mut lines = Vec::new();
    for _ in 0..100 {
        let mut line = String::new();
        let read = reader.read_line(&mut line).await.map_err(|error| Error::Unexpected {
            port,
            detail: format!("the connection broke ({error})"),
        })?;
        if read == 0 {
            return Err(Error::Unexpected { port, detail: "the connection was closed".into() });
        }
        let line = line.trim_end();
        let code = line.get(..3).and_then(|code| code.parse::<u16>().ok()).ok_or_else(|| {
            Error::Unexpected { port, detail: format!("not an SMTP reply: {line:?}") }
        })?;
        lines.push(line.get(4..).unwrap_or("").to_string());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, lines));
        }
    }
    Err(Error::Unexpected { port, detail: "an endless reply".into() })
}

async fn send<W: AsyncWrite + Unpin>(writer: &mut W, line: &str, port: u16) -> Result<(), Error> {
    writer.write_all(format!("{line}\r\n").as_bytes()).await.map_err(|error| Error::Unexpected {
        port,
        detail: format!("the connection broke ({error})"),
    })
}

fn auth_mechanisms(ehlo: &[String]) -> Vec<String> {
    ehlo.iter()
        .find_map(|line| {
            let upper = line.to_ascii_uppercase();
            upper
                .strip_prefix("AUTH ")
                .map(|rest| rest.split_whitespace().map(String::from).collect())
        })
        .unwrap_or_default()
}

/// Connects to `host:port` as a mail client would, upgrades with STARTTLS, requires the
/// certificate whose SHA-256 is `certificate_sha256`, and reads what is offered after TLS.
pub async fn submission(host: &str, port: u16, trust: &Trust) -> Result<Submission, Error> {
    let timeout = |host: &str| Error::Timeout { host: host.to_string(), port };
    let run = async {
        let stream = TcpStream::connect((host, port)).await.map_err(|error| {
            Error::Unreachable { host: host.to_string(), port, reason: error.to_string() }
        })?;
        let mut stream = BufReader::new(stream);
        let (code, _) = reply(&mut stream, port).await?;
        if code != 220 {
            return Err(Error::Unexpected { port, detail: format!("greeting {code}") });
        }
        send(&mut stream, "EHLO outpost-app.invalid", port).await?;
        let (code, plain) = reply(&mut stream, port).await?;
        if code != 250 {
            return Err(Error::Unexpected { port, detail: format!("EHLO answered {code}") });
        }
        if !plain.iter().any(|line| line.eq_ignore_ascii_case("STARTTLS")) {
            return Err(Error::Unexpected { port, detail: "STARTTLS is not offered".into() });
        }
        let auth_before_tls = !auth_mechanisms(&plain).is_empty();
        send(&mut stream, "STARTTLS", port).await?;
        let (code, _) = reply(&mut stream, port).await?;
        if code != 220 {
            return Err(Error::Unexpected { port, detail: format!("STARTTLS answered {code}") });
        }
        let tls = handshake(host, port, trust, stream.into_inner()).await?;
        let tls_version = tls
            .get_ref()
            .1
            .protocol_version()
            .map(|version| format!("{version:?}"))
            .unwrap_or_default();
        let mut tls = BufReader::new(tls);
        send(&mut tls, "EHLO outpost-app.invalid", port).await?;
        let (code, secure) = reply(&mut tls, port).await?;
        if code != 250 {
            return Err(Error::Unexpected {
                port,
                detail: format!("EHLO after TLS answered {code}"),
            });
        }
        send(&mut tls, "QUIT", port).await?;
        let _ = tls.flush().await;
        let trust = match trust {
            Trust::Pinned(_) => TrustKind::Pinned,
            Trust::Chain { .. } => TrustKind::Chain,
        };
        Ok(Submission { tls_version, auth: auth_mechanisms(&secure), auth_before_tls, trust })
    };
    tokio::time::timeout(STEP_TIMEOUT * 3, run).await.map_err(|_| timeout(host))?
}

/// What the internet sees on the server's port 25, checked from this computer (which is
/// outside the server's network, as every sending mail server is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Inbound {
    /// The relay answered: STARTTLS with the certificate checked, and no AUTH offered.
    Open {
        /// The TLS version, e.g. `TLSv1_3`.
        tls_version: String,
    },
    /// Nothing answered: something in front of the server (a firewall in the provider's panel,
    /// or the provider itself) blocks port 25, so mail for the domain cannot arrive.
    Blocked {
        /// What the network said.
        reason: crate::ssh::NetworkFailure,
    },
}

/// How long a connection to port 25 may take before it counts as blocked (a dropping firewall
/// never answers at all).
pub const INBOUND_CONNECT: Duration = Duration::from_secs(10);

/// Connects to `host:25` as a sending mail server would.
pub async fn inbound(host: &str, trust: &Trust) -> Result<Inbound, Error> {
    match tokio::time::timeout(INBOUND_CONNECT, TcpStream::connect((host, 25))).await {
        Err(_) => return Ok(Inbound::Blocked { reason: crate::ssh::NetworkFailure::TimedOut }),
        Ok(Err(error)) => {
            return Ok(Inbound::Blocked { reason: crate::ssh::NetworkFailure::of(&error) });
        }
        Ok(Ok(_)) => {}
    }
    let seen = submission(host, 25, trust).await?;
    if seen.auth_before_tls || !seen.auth.is_empty() {
        // Port 25 takes mail for the domain only; a login there would be a way in.
        return Err(Error::Unexpected { port: 25, detail: "AUTH is offered".into() });
    }
    Ok(Inbound::Open { tls_version: seen.tls_version })
}

/// A TLS handshake as a client with `host`, checking the certificate as `trust` says.
pub async fn handshake(
    host: &str,
    port: u16,
    trust: &Trust,
    stream: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let provider = Arc::new(ring::default_provider());
    let handshake_error = |detail: String| Error::Handshake { port, detail };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| handshake_error(error.to_string()))?
        .dangerous();
    let name = match trust {
        Trust::Pinned(_) => host,
        Trust::Chain { name, .. } => name.as_str(),
    };
    let name = ServerName::try_from(name.to_string())
        .map_err(|error| handshake_error(error.to_string()))?;
    match trust {
        Trust::Pinned(sha256) => {
            let verifier = Arc::new(Pinned {
                sha256: sha256.to_ascii_lowercase(),
                seen: std::sync::Mutex::new(None),
                provider,
            });
            let config =
                builder.with_custom_certificate_verifier(verifier.clone()).with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            connector.connect(name, stream).await.map_err(|error| {
                match verifier.seen.lock().expect("certificate lock").clone() {
                    Some(found) if found != verifier.sha256 => {
                        Error::WrongCertificate { port, expected: verifier.sha256.clone(), found }
                    }
                    _ => handshake_error(error.to_string()),
                }
            })
        }
        Trust::Chain { extra_roots, .. } => {
            use rustls::pki_types::pem::PemObject;
            let extra: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(extra_roots).filter_map(Result::ok).collect();
            let verifier =
                rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
                    .map_err(|error| handshake_error(error.to_string()))?;
            let config =
                builder.with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            connector.connect(name, stream).await.map_err(|error| {
                let refused = error
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|inner| matches!(inner, rustls::Error::InvalidCertificate(_)));
                if refused {
                    Error::Untrusted { port, detail: error.to_string() }
                } else {
                    handshake_error(error.to_string())
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_mechanisms_are_read_from_the_ehlo_reply() {
        let ehlo = vec!["mail.example.com".to_string(), "AUTH PLAIN LOGIN".into(), "SIZE 1".into()];
        assert_eq!(auth_mechanisms(&ehlo), ["PLAIN", "LOGIN"]);
        assert!(auth_mechanisms(&["STARTTLS".to_string()]).is_empty());
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_not_a_hang() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = submission("127.0.0.1", port, &Trust::Pinned("00".into())).await.unwrap_err();
        assert!(matches!(error, Error::Unreachable { .. }), "{error}");
    }
}
