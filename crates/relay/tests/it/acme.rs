//! Certificates from a real ACME CA: Debian's pebble on loopback, resolving names through a
//! real DNS server, validating the relay's own TLS-ALPN-01 and HTTP-01 answers. Then what the
//! certificate is for: every TLS port serves it (its chain verifies with pebble's root), a
//! renewal swaps it with no failed handshake, HTTPS serves the MTA-STS policy.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_server::proto::rr::RData;
use hickory_server::proto::rr::rdata::A;
use outpost_relay_api::{AcmeFailureKind, CertificateSource, Challenge, RenewalReason};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{HOST, Options, TestDns, TestRelay, record};

/// A free loopback port (bound and let go: the CA must know the relay's ports before either
/// starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// pebble, a child process ended by PID when dropped.
struct Pebble {
    child: std::process::Child,
    directory: String,
    management: SocketAddr,
    /// The CA of pebble's own HTTPS listener (not the issuing root).
    listener_ca: PathBuf,
    _files: tempfile::TempDir,
}

impl Pebble {
    /// Starts pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on `tls_port`.
    async fn start(dns: SocketAddr, http_port: u16, tls_port: u16) -> Pebble {
        let files = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "pebble listener test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf_params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let listener_ca = files.path().join("ca.pem");
        std::fs::write(&listener_ca, ca.pem()).unwrap();
        std::fs::write(files.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(files.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
        let (api, management) = (free_port(), free_port());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{api}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": files.path().join("cert.pem"),
            "privateKey": files.path().join("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }});
        std::fs::write(files.path().join("pebble.json"), config.to_string()).unwrap();
        let log = std::fs::File::create(files.path().join("pebble.log")).unwrap();
        let child = std::process::Command::new("pebble")
            .arg("-config")
            .arg(files.path().join("pebble.json"))
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            // Every order is validated again: a reused authorization would prove nothing.
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble runs (Debian package `pebble`; ./dev test installs it)");
        let pebble = Pebble {
            child,
            directory: format!("https://127.0.0.1:{api}/dir"),
            management: SocketAddr::from((Ipv4Addr::LOCALHOST, management)),
            listener_ca,
            _files: files,
        };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", api)).await.is_ok() {
                return pebble;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pebble did not start listening within 5 s");
    }

    /// The root pebble issues under (made anew at each start), from its management API.
    async fn issuing_root(&self) -> Vec<u8> {
        let roots = roots_from(&std::fs::read(&self.listener_ca).unwrap());
        let (status, body) =
            https_get(self.management, "localhost", "/roots/0", roots).await.unwrap();
        assert_eq!(status, 200, "{body}");
        body.into_bytes()
    }

    /// The relay config section for this CA.
    fn toml(&self, names: &[&str], extra: &str) -> String {
        let names: Vec<String> = names.iter().map(|name| format!("\"{name}\"")).collect();
        format!(
            "[tls.acme]\ndirectory = \"{}\"\ndirectory_root = \"{}\"\ncontact = \"postmaster@example.com\"\nnames = [{}]\n{extra}",
            self.directory,
            self.listener_ca.display(),
            names.join(", ")
        )
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn roots_from(pem: &[u8]) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        roots.add(certificate.unwrap()).unwrap();
    }
    roots
}

fn verifying(roots: rustls::RootCertStore) -> tokio_rustls::TlsConnector {
    let config =
        rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A GET over HTTPS with the given roots: the status and the body.
async fn https_get(
    address: SocketAddr,
    host: &str,
    path: &str,
    roots: rustls::RootCertStore,
) -> Result<(u16, String), String> {
    let tcp = TcpStream::connect(address).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.to_string()).unwrap();
    let mut tls = verifying(roots).connect(name, tcp).await.map_err(|e| e.to_string())?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.get(9..12).and_then(|code| code.parse().ok()).ok_or(answer.clone())?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_string();
    Ok((status, body))
}

/// A TLS handshake with `address` that verifies `host`'s certificate with `roots`.
async fn handshake(
    address: SocketAddr,
    host: &str,
    roots: &rustls::RootCertStore,
) -> Result<Vec<u8>, String> {
    let tcp = TcpStream::connect(address).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.to_string()).unwrap();
    let tls = verifying(roots.clone()).connect(name, tcp).await.map_err(|e| e.to_string())?;
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    Ok(leaf)
}

/// The DNS a CA sees: our names point at loopback, or wherever `address` says.
async fn dns(address: Ipv4Addr) -> TestDns {
    TestDns::start(vec![
        record(&format!("{HOST}."), RData::A(A(address))),
        record("mta-sts.example.com.", RData::A(A(address))),
    ])
    .await
}

/// A relay with the web listeners on the given ports (0: off) and `acme` added to its config.
async fn relay(https: u16, http: u16, acme: &str) -> TestRelay {
    let listener = |name: &str, port: u16| {
        if port == 0 {
            format!("{name} = []\n")
        } else {
            format!("{name} = [\"127.0.0.1:{port}\"]\n")
        }
    };
    TestRelay::start_with(Options {
        extra_toml: format!("{acme}\n[mta_sts]\nmode = \"testing\"\n"),
        listeners_toml: format!("{}{}", listener("https", https), listener("acme_http", http)),
        ..Options::default()
    })
    .await
}

/// Waits (bounded) until the relay serves a certificate from the CA; returns its SHA-256.
async fn wait_for_acme_certificate(relay: &TestRelay, other_than: Option<&str>) -> String {
    for _ in 0..600 {
        if let Some(certificate) = relay.relay().certificates.list().into_iter().find(|c| {
            matches!(c.source, CertificateSource::Acme { .. })
                && Some(c.sha256.as_str()) != other_than
        }) {
            return certificate.sha256;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = relay.relay().acme.as_ref().map(|acme| acme.status());
    panic!("no certificate from the CA within 60 s; ACME status: {status:#?}");
}

#[tokio::test]
async fn tls_alpn_01_alone_gets_a_certificate_every_port_serves_and_https_serves_mta_sts() {
    let dns = dns(Ipv4Addr::LOCALHOST).await;
    let https = free_port();
    let pebble = Pebble::start(dns.address, free_port(), https).await;
    let relay = relay(https, 0, &pebble.toml(&["mta-sts.example.com"], "")).await;
    let before = std::time::Instant::now();
    wait_for_acme_certificate(&relay, None).await;
    eprintln!("certificate in service {:?} after start", before.elapsed());
    let roots = roots_from(&pebble.issuing_root().await);
    let acme = relay.relay().acme.as_ref().unwrap().status();
    assert_eq!(acme.challenge, Some(Challenge::TlsAlpn01));
    assert_eq!(acme.last_attempt.as_ref().unwrap().failure, None);
    let account = acme.account.as_deref().expect("the account URL, for a CAA accounturi");
    assert!(account.starts_with("https://127.0.0.1:"), "pebble's account URL: {account}");
    assert_eq!(acme.next.as_ref().unwrap().reason, RenewalReason::TwoThirds, "pebble has no ARI");
    // 465 and 443 verify with the CA's root, for the mail host and the MTA-STS name.
    let https_address = SocketAddr::from((Ipv4Addr::LOCALHOST, https));
    handshake(relay.submissions(), HOST, &roots).await.unwrap();
    handshake(https_address, HOST, &roots).await.unwrap();
    handshake(https_address, "mta-sts.example.com", &roots).await.unwrap();
    // 587 after STARTTLS too.
    let mut tcp = TcpStream::connect(relay.submission()).await.unwrap();
    let mut buffer = [0u8; 512];
    let _ = tcp.read(&mut buffer).await.unwrap();
    tcp.write_all(b"EHLO client.test\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = tcp.read(&mut buffer).await.unwrap();
    tcp.write_all(b"STARTTLS\r\n").await.unwrap();
    let read = tcp.read(&mut buffer).await.unwrap();
    assert!(buffer[..read].starts_with(b"220"), "{}", String::from_utf8_lossy(&buffer[..read]));
    let name = ServerName::try_from(HOST.to_string()).unwrap();
    verifying(roots.clone()).connect(name, tcp).await.expect("587 serves the CA's certificate");
    // The policy, fetched over verified HTTPS.
    let (status, policy) =
        https_get(https_address, "mta-sts.example.com", "/.well-known/mta-sts.txt", roots.clone())
            .await
            .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        policy,
        "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 604800\r\n"
    );
    // The certificate and the account survive a restart: no second order.
    let dir = relay.directory.path().join("tls/acme");
    for file in ["certificate.pem", "certificate.key", "state.json"] {
        assert!(dir.join(file).exists(), "{file}");
    }
    assert_private(&dir.join("certificate.key"));
    let account = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().starts_with("account-"))
        .expect("the account is saved");
    assert_private(&account.path());
    relay.stop().await;
    dns.stop().await;
}

fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
}

#[tokio::test]
async fn http_01_alone_gets_a_certificate_and_a_renewal_swaps_it_without_a_failed_handshake() {
    let dns = dns(Ipv4Addr::LOCALHOST).await;
    let http = free_port();
    let pebble = Pebble::start(dns.address, http, free_port()).await;
    let relay = relay(0, http, &pebble.toml(&[], "")).await;
    let first = wait_for_acme_certificate(&relay, None).await;
    let acme = relay.relay().acme.as_ref().unwrap();
    assert_eq!(acme.status().challenge, Some(Challenge::Http01));
    let roots = roots_from(&pebble.issuing_root().await);
    // 8 clients handshaking on 465 the whole time the certificate is renewed.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (handshakes, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (stop, handshakes, failures, roots) =
            (stop.clone(), handshakes.clone(), failures.clone(), roots.clone());
        let address = relay.submissions();
        clients.push(tokio::spawn(async move {
            for _ in 0..100_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match handshake(address, HOST, &roots).await {
                    Ok(_) => handshakes.fetch_add(1, Ordering::Relaxed),
                    Err(error) => {
                        eprintln!("handshake failed: {error}");
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    // "Renew now", the way the dashboard asks: the admin command over the control socket.
    let config = relay.config_file();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_outpost-relay"))
            .args(["cert", "renew", "--now", "--json", "--config"])
            .arg(config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        r#"{"api":2,"ok":{"names":["mail.example.com"]}}"#
    );
    let second = wait_for_acme_certificate(&relay, Some(&first)).await;
    // Some more handshakes with the new one, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert_ne!(first, second);
    let leaf = handshake(relay.submissions(), HOST, &roots).await.unwrap();
    assert_eq!(sha256_hex(&leaf), second, "new connections get the new certificate");
    assert!(handshakes.load(Ordering::Relaxed) > 8, "clients kept connecting");
    assert_eq!(failures.load(Ordering::Relaxed), 0, "no handshake failed during the swap");
    eprintln!("{} handshakes during the renewal, 0 failed", handshakes.load(Ordering::Relaxed));
    relay.stop().await;
    dns.stop().await;
}

fn sha256_hex(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn a_name_pointing_elsewhere_fails_at_staging_backs_off_and_keeps_the_self_signed_certificate()
 {
    // The name points at an address where nothing answers.
    let dns = dns(Ipv4Addr::new(127, 0, 0, 9)).await;
    let (https, http) = (free_port(), free_port());
    let pebble = Pebble::start(dns.address, http, https).await;
    // The real CA is unreachable on purpose: a first order must never get that far.
    let acme = format!(
        "[tls.acme]\ndirectory = \"https://127.0.0.1:1/dir\"\nstaging_directory = \"{}\"\ndirectory_root = \"{}\"\n",
        pebble.directory,
        pebble.listener_ca.display()
    );
    let relay = relay(https, http, &acme).await;
    let handle = relay.relay().acme.clone().unwrap();
    let mut status = handle.status();
    for _ in 0..600 {
        status = handle.status();
        if status.last_attempt.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let attempt = status.last_attempt.clone().expect("an attempt ended within 60 s");
    let failure = attempt.failure.clone().expect("it failed");
    assert_eq!(failure.kind, AcmeFailureKind::ChallengeFailed, "{failure:?}");
    assert_eq!(attempt.directory, pebble.directory, "it failed at staging, not at the real CA");
    assert_eq!(status.account, None, "no account at the real CA yet");
    let next = status.next.clone().unwrap();
    assert_eq!(next.reason, RenewalReason::Retry);
    assert!(
        next.at >= attempt.at + 50,
        "the next try waits about a minute: {next:?} after {attempt:?}"
    );
    // No tight loop: still one failure a few seconds later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(handle.status().last_attempt.unwrap().failures_in_a_row, 1);
    assert!(
        relay.relay().certificates.list().iter().all(|c| c.is_self_signed()),
        "the self-signed certificate stays in service"
    );
    relay.stop().await;
    dns.stop().await;
}
