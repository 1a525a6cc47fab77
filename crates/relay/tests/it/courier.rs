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
