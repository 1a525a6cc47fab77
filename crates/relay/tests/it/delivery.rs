//! Real delivery: lettre submits on 587 and 465; the relay signs, queues, looks up the
//! recipient's MX in a real DNS server (hickory-server), delivers over STARTTLS to a real
//! receiving server (Debian's aiosmtpd), and dkimpy — an implementation independent of ours —
//! verifies the signature against the key published in that DNS.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use hickory_server::proto::rr::rdata::{A, MX, TXT};
use hickory_server::proto::rr::{Name, RData};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use outpost_relay::courier::Outcome;

use crate::support::{HOST, Options, PASSWORD, Receiver, TestDns, TestRelay, USER, record};

/// dkimpy verifies `message`, fetching keys from `dns` (nothing leaves loopback). Runs on a
/// blocking thread: the DNS server answering it lives on this test's runtime.
async fn dkimpy_verifies(message: &[u8], dns: std::net::SocketAddr) -> bool {
    let message = message.to_vec();
    tokio::task::spawn_blocking(move || dkimpy_verifies_blocking(&message, dns)).await.unwrap()
}

fn dkimpy_verifies_blocking(message: &[u8], dns: std::net::SocketAddr) -> bool {
    let script = format!(
        "import sys, dkim, dns.resolver\n\
         r = dns.resolver.Resolver(configure=False); r.nameservers = ['{ip}']; r.port = {port}\n\
         def f(name, timeout=5):\n    return b''.join(b''.join(x.strings) for x in r.resolve(name.decode().rstrip('.') + '.', 'TXT'))\n\
         sys.exit(0 if dkim.verify(sys.stdin.buffer.read(), dnsfunc=f) else 1)\n",
        ip = dns.ip(),
        port = dns.port()
    );
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 with dkimpy (apt-get install python3-dkim)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(message).unwrap();
    child.wait().unwrap().success()
}

async fn relay_and_dns(receiver: &Receiver) -> (TestRelay, TestDns) {
    let dns = TestDns::start(vec![
        record("example.net.", RData::MX(MX::new(10, Name::from_str("mx.example.net.").unwrap()))),
        record("mx.example.net.", RData::A(A(Ipv4Addr::LOCALHOST))),
        // The sender's own domain receives at the same server, so bounces can be read there.
        record("example.com.", RData::MX(MX::new(10, Name::from_str("mx.example.net.").unwrap()))),
    ])
    .await;
    let relay = TestRelay::start_with(Options {
        extra_toml: format!(
            "[dns]\nresolvers = [\"{}\"]\n[delivery]\nport = {}\nipv6 = false\n",
            dns.address, receiver.port
        ),
        real_courier: true,
        ..Default::default()
    })
    .await;
    // The key the relay signs with, published where receivers look for it.
    let key = std::fs::read_to_string(relay.directory.path().join("dkim.pem")).unwrap();
    let txt = outpost_relay::dkim::txt_for(
        &key,
        outpost_relay_config::DkimAlgorithm::RsaSha256,
        "dkim.pem",
    )
    .unwrap();
    dns.add(record(
        "outpost._domainkey.example.com.",
        RData::TXT(TXT::new(
            outpost_relay_api::split_txt(&txt).into_iter().map(str::to_string).collect(),
        )),
    ))
    .await;
    (relay, dns)
}

fn transport(relay: &TestRelay, implicit: bool) -> AsyncSmtpTransport<Tokio1Executor> {
    let parameters = TlsParameters::builder(HOST.into())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(&relay.certificate_pem()).unwrap())
        .build_rustls()
        .unwrap();
    let (port, tls) = if implicit {
        (relay.submissions().port(), Tls::Wrapper(parameters))
    } else {
        (relay.submission().port(), Tls::Required(parameters))
    };
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .tls(tls)
        .credentials(Credentials::new(USER.into(), PASSWORD.into()))
        .timeout(Some(Duration::from_secs(20)))
        .build()
}

fn email(subject: &str, to: &str) -> Message {
    Message::builder()
        .from(Mailbox::from_str(&format!("Alice <{USER}>")).unwrap())
        .to(Mailbox::from_str(to).unwrap())
        .subject(subject)
        .body(String::from(
            "Hello from the relay's delivery test.\r\n.a line that starts with a dot\r\n",
        ))
        .unwrap()
}

#[tokio::test]
async fn submitted_mail_is_signed_delivered_over_tls_and_verified_by_dkimpy() {
    let receiver = Receiver::start("");
    let (relay, dns) = relay_and_dns(&receiver).await;
    for (number, implicit) in [(1, false), (2, true)] {
        let reply = transport(&relay, implicit)
            .send(email(&format!("delivery test {number}"), "bob@example.net"))
            .await
            .unwrap();
        assert_eq!(u16::from(reply.code()), 250);
        let (message, envelope) = receiver.message(number).await;
        assert_eq!(envelope["from"], USER);
        assert_eq!(envelope["to"][0], "bob@example.net");
        assert_eq!(envelope["helo"], HOST);
        assert_eq!(envelope["tls"], "TLSv1.3", "delivered over STARTTLS");
        let text = String::from_utf8_lossy(&message);
        assert!(
            text.contains("\r\n.a line that starts with a dot\r\n"),
            "dot-stuffing survived both hops: {text}"
        );
        assert!(
            dkimpy_verifies(&message, dns.address).await,
            "dkimpy rejected the signature:\n{text}"
        );
    }
    // The delivery record the app's test-email step reads.
    let mut recent = Vec::new();
    for _ in 0..200 {
        recent = relay.relay().queue.recent();
        if recent.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, recipient, record) = recent.last().unwrap();
    assert_eq!(recipient, "bob@example.net");
    assert_eq!(record.outcome, Outcome::Delivered);
    assert_eq!(record.host.as_deref(), Some("mx.example.net"));
    assert_eq!(record.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(record.tls_version.as_deref(), Some("TLSv1.3"));
    assert!(record.reply.starts_with("250"), "{}", record.reply);
    relay.stop().await;
    dns.stop().await;
}

#[tokio::test]
async fn a_refused_recipient_bounces_at_once_while_another_is_still_being_retried() {
    let receiver = Receiver::start("nobody");
    let (relay, dns) = relay_and_dns(&receiver).await;
    // down.example.net's server is an address where nothing listens: a temporary failure.
    dns.add(record(
        "down.example.net.",
        RData::MX(MX::new(10, Name::from_str("mx.down.example.net.").unwrap())),
    ))
    .await;
    dns.add(record("mx.down.example.net.", RData::A(A(Ipv4Addr::new(127, 0, 0, 2))))).await;
    let message = Message::builder()
        .from(Mailbox::from_str(&format!("Alice <{USER}>")).unwrap())
        .to(Mailbox::from_str("nobody@example.net").unwrap())
        .to(Mailbox::from_str("slow@down.example.net").unwrap())
        .subject("one refused, one slow")
        .body(String::from("Hello.\r\n"))
        .unwrap();
    transport(&relay, false).send(message).await.unwrap();
    // The bounce comes now, for the refused recipient only; the other is still queued.
    let (bounce, envelope) = receiver.message(1).await;
    assert_eq!(envelope["to"][0], USER);
    let text = String::from_utf8_lossy(&bounce).into_owned();
    assert!(
        text.contains("Final-Recipient: rfc822; nobody@example.net\r\nAction: failed"),
        "{text}"
    );
    assert!(!text.contains("Final-Recipient: rfc822; slow@down.example.net"), "{text}");
    // The message's state on disk says so too (saved right after the bounce was queued).
    let spool = outpost_relay::queue::Spool::open(&relay.queue_dir()).unwrap();
    let mut saved = None;
    for _ in 0..100 {
        let items = spool.load().unwrap();
        let original = items.into_iter().find(|item| item.from == USER).expect("still queued");
        if original.recipients.iter().any(|r| r.address == "nobody@example.net" && r.bounced) {
            saved = Some(original);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let original = saved.expect("the refused recipient is marked bounced");
    let slow = original.recipients.iter().find(|r| r.address == "slow@down.example.net").unwrap();
    assert_eq!(slow.status, outpost_relay_api::RecipientStatus::Pending);
    relay.stop().await;
    dns.stop().await;
}

#[tokio::test]
async fn a_refused_recipient_bounces_to_the_sender_with_the_original() {
    let receiver = Receiver::start("nobody");
    let (relay, dns) = relay_and_dns(&receiver).await;
    transport(&relay, false).send(email("to be refused", "nobody@example.net")).await.unwrap();
    // The refused message never arrives; the bounce does, as message 1.
    let (bounce, envelope) = receiver.message(1).await;
    assert_eq!(envelope["from"], "<>", "bounces come from the null sender");
    assert_eq!(envelope["to"][0], USER);
    let text = String::from_utf8_lossy(&bounce).into_owned();
    assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status"), "{text}");
    assert!(
        text.contains("Final-Recipient: rfc822; nobody@example.net\r\nAction: failed"),
        "{text}"
    );
    assert!(text.contains("550 5.1.1 no such user here"), "the remote reply is quoted: {text}");
    assert!(text.contains("Status: 5.1.1"), "the enhanced status is carried over: {text}");
    assert!(text.contains("Subject: to be refused"), "the original is attached: {text}");
    assert!(dkimpy_verifies(&bounce, dns.address).await, "the bounce is signed too");
    let recent = relay.relay().queue.recent();
    let (_, _, record) =
        recent.iter().find(|(_, recipient, _)| recipient == "nobody@example.net").unwrap();
    assert_eq!(record.outcome, Outcome::Permanent);
    assert_eq!(
        record.problem,
        Some(outpost_relay_api::DeliveryProblem::Reply {
            code: 550,
            enhanced: Some("5.1.1".into())
        }),
        "the refusal as data: {record:?}"
    );
    relay.stop().await;
    dns.stop().await;
}
