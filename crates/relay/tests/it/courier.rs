//! The SMTP courier's MX rules against a real DNS server (conformance 40): preference order, the
//! implicit MX, null MX, a domain that does not exist, and DNS trouble that must not bounce.

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_server::proto::rr::rdata::{A, MX};
use hickory_server::proto::rr::{Name, RData};
use outpost_relay::courier::smtp::SmtpCourier;
use outpost_relay::courier::{Courier, Outcome};
use outpost_relay_config::Config;

use crate::support::{Receiver, TestDns, record};

fn courier(dns: std::net::SocketAddr, port: u16) -> SmtpCourier {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = format!(
        "[server]\nhostname = \"mail.example.com\"\ndomains = [\"example.com\"]\n\
         [dns]\nresolvers = [\"{dns}\"]\n[delivery]\nport = {port}\nipv6 = false\nconnect_timeout = \"2s\"\n"
    );
    SmtpCourier::new(&Config::parse(&text, std::path::Path::new("t.toml")).unwrap()).unwrap()
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
    dns.stop().await;
}

#[tokio::test]
async fn a_domain_that_does_not_exist_fails_for_good() {
    let dns = TestDns::start(vec![]).await;
    let record = deliver(&courier(dns.address, 9), "nowhere.example.net").await;
    assert_eq!(record.outcome, Outcome::Permanent, "{record:?}");
    assert!(record.reply.contains("does not exist"), "{}", record.reply);
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
