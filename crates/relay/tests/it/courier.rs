//! The SMTP courier's MX rules against a real DNS server (conformance 40): preference order, the
//! implicit MX, null MX, a domain that does not exist, and DNS trouble that must not bounce.

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_server::proto::rr::rdata::{A, MX};
use hickory_server::proto::rr::{Name, RData};
use outpost_relay::courier::smtp::SmtpCourier;
use outpost_relay::courier::{Courier, DeliveryProblem, Outcome};
use outpost_relay_config::Config;

use crate::support::{Receiver, TestDns, record};

fn courier(dns: std::net::SocketAddr, port: u16) -> SmtpCourier {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = format!(
        "[server]\nhostname = \"mail.example.com\"\ndomains = [\"example.com\"]\n\
         [dns]\nresolvers = [\"{dns}\"]\n[delivery]\nport = {port}\nipv6 = false\nconnect_timeout = \"2s\"\n"
    );
    SmtpCourier::new(
        &Config::parse(&text, std::path::Path::new("t.toml")).unwrap(),
        std::sync::Arc::new(outpost_relay::clock::SystemClock),
    )
    .unwrap()
}

const MESSAGE: &[u8] = b"From: a@example.com\r\nSubject: courier\r\n\r\nHi.\r\n";

async fn deliver(courier: &SmtpCourier, domain: &str) -> outpost_relay::courier::DeliveryRecord {
    let recipients = vec![format!("bob@{domain}")];
    courier.deliver("a@example.com", domain, &recipients, MESSAGE).await.remove(0)
}

fn mx(name: &str, preference: u16, host: &str) -> hickory_server::proto::rr::Record {
    record(name, RData::MX(MX::new(preference, Name::from_str(host).unwrap())))
}

#[tokio::test]
async fn mx_hosts_are_tried_in_preference_order() {
    let receiver = Receiver::start("");
    // The preferred host has no address; the next one works.
    let dns = TestDns::start(vec![
        mx("example.net.", 20, "second.example.net."),
        mx("example.net.", 10, "first.example.net."),
        record("second.example.net.", RData::A(A(Ipv4Addr::LOCALHOST))),
    ])
    .await;
    let record = deliver(&courier(dns.address, receiver.port), "example.net").await;
    assert_eq!(record.outcome, Outcome::Delivered, "{record:?}");
    assert_eq!(record.host.as_deref(), Some("second.example.net"));
    // The very bytes: its final CRLF ends the data, no line is added (forwarded mail is never
    // altered).
    assert_eq!(receiver.message(1).await.0, MESSAGE);
    dns.stop().await;
}

#[tokio::test]
async fn a_domain_without_mx_receives_at_its_own_address() {
    let receiver = Receiver::start("");
    let dns = TestDns::start(vec![record("example.net.", RData::A(A(Ipv4Addr::LOCALHOST)))]).await;
    let record = deliver(&courier(dns.address, receiver.port), "example.net").await;
    assert_eq!(record.outcome, Outcome::Delivered, "{record:?}");
    assert_eq!(record.host.as_deref(), Some("example.net"));
    dns.stop().await;
}

#[tokio::test]
async fn a_null_mx_fails_for_good() {
    let dns = TestDns::start(vec![mx("example.net.", 0, ".")]).await;
    let record = deliver(&courier(dns.address, 9), "example.net").await;
    assert_eq!(record.outcome, Outcome::Permanent, "{record:?}");
    assert!(record.reply.contains("null MX"), "{}", record.reply);
    assert_eq!(record.problem, Some(DeliveryProblem::NoMailServer));
    dns.stop().await;
}

#[tokio::test]
async fn a_domain_that_does_not_exist_fails_for_good() {
    let dns = TestDns::start(vec![]).await;
    let record = deliver(&courier(dns.address, 9), "nowhere.example.net").await;
    assert_eq!(record.outcome, Outcome::Permanent, "{record:?}");
    assert!(record.reply.contains("does not exist"), "{}", record.reply);
    assert_eq!(record.problem, Some(DeliveryProblem::NoMailServer));
    dns.stop().await;
}

#[tokio::test]
async fn unreachable_servers_are_a_temporary_failure() {
    let dns = TestDns::start(vec![
        mx("example.net.", 10, "mx.example.net."),
        record("mx.example.net.", RData::A(A(Ipv4Addr::LOCALHOST))),
    ])
    .await;
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let record = deliver(&courier(dns.address, closed), "example.net").await;
    assert_eq!(record.outcome, Outcome::Temporary, "{record:?}");
    assert_eq!(
        record.problem,
        Some(DeliveryProblem::Unreachable),
        "what a blocked port 25 looks like"
    );
    dns.stop().await;
}

#[tokio::test]
async fn dns_trouble_is_temporary_never_a_bounce() {
    // A resolver that does not answer: a UDP socket nobody reads.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let record = deliver(&courier(silent.local_addr().unwrap(), 9), "example.net").await;
    assert_eq!(record.outcome, Outcome::Temporary, "{record:?}");
    assert!(record.reply.contains("looking up the mail servers"), "{}", record.reply);
}

/// A server that offers STARTTLS and then breaks the handshake; in plain text it accepts mail.
/// (A test peer for the courier, which is what is under test.)
async fn broken_tls_server() -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut commands = Vec::new();
        for _ in 0..2 {
            let (stream, _) = listener.accept().await.unwrap();
            let mut stream = BufReader::new(stream);
            stream.get_mut().write_all(b"220 broken.example ESMTP\r\n").await.unwrap();
            let mut line = String::new();
            let mut in_data = false;
            loop {
                line.clear();
                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        stream
                            .get_mut()
                            .write_all(b"250 2.0.0 accepted in plain text\r\n")
                            .await
                            .unwrap();
                    }
                    continue;
                }
                commands.push(line.trim_end().to_string());
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" => b"250-broken.example\r\n250 STARTTLS\r\n",
                    "STAR" => {
                        // Agree, then answer the ClientHello with garbage.
                        stream.get_mut().write_all(b"220 go ahead\r\n").await.unwrap();
                        let mut hello = [0u8; 512];
                        let _ = tokio::io::AsyncReadExt::read(stream.get_mut(), &mut hello).await;
                        let _ = stream.get_mut().write_all(b"this is not TLS\r\n").await;
                        break;
                    }
                    "DATA" => {
                        in_data = true;
                        b"354 go\r\n"
                    }
                    "QUIT" => {
                        let _ = stream.get_mut().write_all(b"221 bye\r\n").await;
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                stream.get_mut().write_all(reply).await.unwrap();
            }
        }
        commands
    });
    (port, task)
}

#[tokio::test]
async fn a_failed_starttls_handshake_is_retried_in_plain_text() {
    // Conformance 41: opportunistic TLS falls back rather than deferring mail forever.
    let (port, server) = broken_tls_server().await;
    let dns = TestDns::start(vec![
        mx("example.net.", 10, "mx.example.net."),
        record("mx.example.net.", RData::A(A(Ipv4Addr::LOCALHOST))),
    ])
    .await;
    let record = deliver(&courier(dns.address, port), "example.net").await;
    assert_eq!(record.outcome, Outcome::Delivered, "{record:?}");
    assert_eq!(record.tls_version, None, "the second attempt was in plain text");
    assert!(record.reply.contains("accepted in plain text"), "{}", record.reply);
    let commands = server.await.unwrap();
    assert_eq!(
        commands.iter().filter(|command| command.as_str() == "STARTTLS").count(),
        1,
        "{commands:?}"
    );
    dns.stop().await;
}

/// A test CA, and certificates it signs for a name.
struct TestCa {
    certificate: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Outpost test CA");
        params.key_usages =
            vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        TestCa { certificate, issuer: rcgen::Issuer::new(params, key) }
    }

    /// (certificate PEM, key PEM) for `name`.
    fn leaf(&self, name: &str) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// An HTTPS server for `mta-sts.example.net` that serves `policy`.
async fn policy_server(ca: &TestCa, policy: &'static str) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (certificate, key) = ca.leaf("mta-sts.example.net");
    let chain =
        vec![rustls::pki_types::CertificateDer::from_pem_slice(certificate.as_bytes()).unwrap()];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let config =
        rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else { continue };
            let mut request = [0u8; 1024];
            let _ = tls.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{policy}",
                policy.len()
            );
            let _ = tls.write_all(response.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    });
    port
}

/// A world with an MTA-STS policy for example.net; returns the courier, the receiver and DNS.
async fn mta_sts_world(
    policy: &'static str,
    trusted_receiver: bool,
) -> (SmtpCourier, Receiver, TestDns, tempfile::TempDir) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = TestCa::new();
    let https = policy_server(&ca, policy).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let receiver = if trusted_receiver {
        let (certificate, key) = ca.leaf("mx.example.net");
        Receiver::start_with(port, "", &certificate, &key)
    } else {
        Receiver::start_on(port, "")
    };
    let dns = TestDns::start(vec![
        mx("example.net.", 10, "mx.example.net."),
        record("mx.example.net.", RData::A(A(Ipv4Addr::LOCALHOST))),
        record("mta-sts.example.net.", RData::A(A(Ipv4Addr::LOCALHOST))),
        record(
            "_mta-sts.example.net.",
            RData::TXT(hickory_server::proto::rr::rdata::TXT::new(vec![
                "v=STSv1; id=2026112901".into(),
            ])),
        ),
    ])
    .await;
    let directory = tempfile::tempdir().unwrap();
    let roots = directory.path().join("roots.pem");
    std::fs::write(&roots, ca.certificate.pem()).unwrap();
    let text = format!(
        "[server]\nhostname = \"mail.example.com\"\ndomains = [\"example.com\"]\n\
         [dns]\nresolvers = [\"{dns}\"]\n[delivery]\nport = {port}\nipv6 = false\nconnect_timeout = \"2s\"\n\
         https_port = {https}\nextra_roots = \"{roots}\"\n",
        dns = dns.address,
        roots = roots.display(),
    );
    let courier = SmtpCourier::new(
        &Config::parse(&text, std::path::Path::new("t.toml")).unwrap(),
        std::sync::Arc::new(outpost_relay::clock::SystemClock),
    )
    .unwrap();
    (courier, receiver, dns, directory)
}

const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 86400\r\n";

#[tokio::test]
async fn mta_sts_enforce_delivers_over_verified_tls_to_a_listed_server() {
    let (courier, receiver, dns, _directory) = mta_sts_world(ENFORCE, true).await;
    let record = deliver(&courier, "example.net").await;
    assert_eq!(record.outcome, Outcome::Delivered, "{record:?}");
    assert_eq!(record.tls_version.as_deref(), Some("TLSv1.3"));
    assert!(record.mta_sts && record.problem.is_none(), "{record:?}");
    assert_eq!(receiver.count(), 1);
    dns.stop().await;
}

#[tokio::test]
async fn mta_sts_enforce_refuses_a_server_it_does_not_list() {
    let policy = "version: STSv1\r\nmode: enforce\r\nmx: *.elsewhere.example\r\nmax_age: 86400\r\n";
    let (courier, receiver, dns, _directory) = mta_sts_world(policy, true).await;
    let record = deliver(&courier, "example.net").await;
    assert_eq!(record.outcome, Outcome::Temporary, "{record:?}");
    assert!(record.reply.contains("MTA-STS"), "{}", record.reply);
    assert_eq!((record.problem.clone(), record.mta_sts), (Some(DeliveryProblem::Policy), true));
    assert_eq!(receiver.count(), 0);
    dns.stop().await;
}

#[tokio::test]
async fn mta_sts_enforce_never_falls_back_to_unverified_or_plain_text() {
    // The server's certificate is self-signed: under `enforce` that is a failure, not a reason to
    // try again without checking (conformance 41).
    let (courier, receiver, dns, _directory) = mta_sts_world(ENFORCE, false).await;
    let record = deliver(&courier, "example.net").await;
    assert_eq!(record.outcome, Outcome::Temporary, "{record:?}");
    assert!(record.reply.contains("STARTTLS"), "{}", record.reply);
    assert_eq!(receiver.count(), 0, "nothing was delivered");
    dns.stop().await;
}

#[tokio::test]
async fn mta_sts_testing_mode_changes_nothing() {
    let policy = "version: STSv1\r\nmode: testing\r\nmx: *.elsewhere.example\r\nmax_age: 86400\r\n";
    let (courier, receiver, dns, _directory) = mta_sts_world(policy, false).await;
    let record = deliver(&courier, "example.net").await;
    assert_eq!(record.outcome, Outcome::Delivered, "{record:?}");
    assert_eq!(receiver.count(), 1);
    dns.stop().await;
}

/// The DNS of `example.net`: its MX is this machine.
async fn example_net() -> TestDns {
    TestDns::start(vec![
        mx("example.net.", 10, "mx.example.net."),
        record("mx.example.net.", RData::A(A(Ipv4Addr::LOCALHOST))),
    ])
    .await
}

#[tokio::test]
async fn twenty_messages_for_one_domain_share_at_most_three_connections() {
    // A receiver that takes 0.2 s per message, so the twenty overlap.
    let receiver = Receiver::start("slow");
    let dns = example_net().await;
    let courier = std::sync::Arc::new(courier(dns.address, receiver.port));
    let mut deliveries = tokio::task::JoinSet::new();
    for number in 0..20 {
        let courier = courier.clone();
        deliveries.spawn(async move {
            let recipients = vec![format!("user{number}@example.net")];
            courier.deliver("a@example.com", "example.net", &recipients, MESSAGE).await.remove(0)
        });
    }
    while let Some(record) = deliveries.join_next().await {
        let record = record.unwrap();
        assert_eq!(record.outcome, Outcome::Delivered, "{record:?}");
    }
    let mut ports = std::collections::BTreeSet::new();
    for number in 1..=20 {
        let (_, envelope) = receiver.message(number).await;
        assert!(envelope["most_connections"].as_u64().unwrap() <= 3, "{envelope}");
        ports.insert(envelope["peer_port"].as_u64().unwrap());
    }
    assert!(ports.len() <= 3, "twenty messages over {} connections", ports.len());
    assert_eq!(receiver.connections(), ports.len());
    dns.stop().await;
}

#[tokio::test]
async fn a_domain_that_answers_421_is_left_alone_for_a_while() {
    let receiver = Receiver::start("busy");
    let dns = example_net().await;
    let courier = courier(dns.address, receiver.port);
    let first = deliver(&courier, "example.net").await;
    assert_eq!(first.outcome, Outcome::Temporary, "{first:?}");
    assert!(first.reply.starts_with("421 4.7.0"), "{}", first.reply);
    assert_eq!(receiver.connections(), 1);
    // The next message does not knock again: it waits for the pause to end.
    let second = deliver(&courier, "example.net").await;
    assert_eq!(second.outcome, Outcome::Temporary, "{second:?}");
    let Some(DeliveryProblem::Deferred { until }) = second.problem else {
        panic!("not deferred: {second:?}");
    };
    assert!(until >= first.at + 60, "paused until {until}, from {}", first.at);
    assert!(second.reply.contains("421 4.7.0 too many messages"), "{}", second.reply);
    assert_eq!(receiver.connections(), 1, "no second connection during the pause");
    dns.stop().await;
}

#[tokio::test]
async fn a_kept_connection_the_server_closed_is_replaced_by_a_new_one() {
    let receiver = Receiver::start("");
    let port = receiver.port;
    let dns = example_net().await;
    let courier = courier(dns.address, port);
    assert_eq!(deliver(&courier, "example.net").await.outcome, Outcome::Delivered);
    // The receiver goes away with the relay's idle connection, and comes back.
    drop(receiver);
    let receiver = Receiver::start_on(port, "");
    let record = deliver(&courier, "example.net").await;
    assert_eq!(record.outcome, Outcome::Delivered, "{record:?}");
    assert_eq!(receiver.connections(), 1);
    dns.stop().await;
}
