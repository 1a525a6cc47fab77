//! Receiving on port 25 for the relay's own domains: aliases and the catch-all, SRS, the checks
//! before forwarding (SPF, DKIM, DMARC, a DNS blocklist) against a real DNS server, the ARC seal,
//! bounces back through SRS, and nothing unknown accepted. Conformance 25, 43–45.

use std::net::{IpAddr, Ipv4Addr};

use hickory_server::proto::rr::RData;
use hickory_server::proto::rr::rdata::{A, TXT};
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use outpost_relay_api::InboundRefusal;

use crate::support::{Dialog, Options, TestDns, TestRelay, record};

/// The sender's domain: SPF for 127.0.0.1, DKIM, DMARC `p=none`; `strict.example.net` has
/// `p=reject`. The relay's domain is example.com; its aliases forward to example.org.
async fn setup() -> (TestRelay, TestDns, outpost_relay::dkim::Signer) {
    let sender_key =
        outpost_relay::dkim::generate(outpost_relay_config::DkimAlgorithm::RsaSha256).unwrap();
    let dns = TestDns::start(vec![
        txt("example.net.", "v=spf1 ip4:127.0.0.1 -all"),
        txt("_dmarc.example.net.", "v=DMARC1; p=none"),
        txt("sender._domainkey.example.net.", &sender_key.txt),
        txt("strict.example.net.", "v=spf1 ip4:127.0.0.1 -all"),
        txt("_dmarc.strict.example.net.", "v=DMARC1; p=reject"),
        // 127.0.0.4 is "listed"; 127.0.0.5 gets the list's "your resolver is refused" code.
        record("4.0.0.127.zen.example.net.", RData::A(A(Ipv4Addr::new(127, 0, 0, 2)))),
        record("5.0.0.127.zen.example.net.", RData::A(A(Ipv4Addr::new(127, 255, 255, 254)))),
    ])
    .await;
    let relay = TestRelay::start_with(Options {
        listeners_toml: "inbound = [\"127.0.0.1:0\"]\n".into(),
        extra_toml: format!(
            "[dns]\nresolvers = [\"{}\"]\n[inbound]\nowner = \"owner@example.org\"\n\
             aliases_file = \"{{root}}/aliases\"\nsrs_secrets_file = \"{{root}}/srs-secrets\"\n\
             blocklists = [\"zen.example.net\"]\n",
            dns.address
        ),
        ..Default::default()
    })
    .await;
    // The relay's key, where the destination looks for the ARC seal's key.
    let key = std::fs::read_to_string(relay.directory.path().join("dkim.pem")).unwrap();
    let relay_txt = outpost_relay::dkim::txt_for(
        &key,
        outpost_relay_config::DkimAlgorithm::RsaSha256,
        "dkim.pem",
    )
    .unwrap();
    dns.add(txt("outpost._domainkey.example.com.", &relay_txt)).await;
    std::fs::write(
        directory_of(&relay).join("keys.json"),
        serde_json::json!({
            "outpost._domainkey.example.com": relay_txt,
            "sender._domainkey.example.net": sender_key.txt,
        })
        .to_string(),
    )
    .unwrap();
    let directory = relay.directory.path();
    std::fs::write(directory.join("sender.pem"), &sender_key.private_pem).unwrap();
    let signer = outpost_relay::dkim::Signer::load(&[outpost_relay_config::DkimKey {
        domain: "example.net".parse().unwrap(),
        selector: "sender".parse().unwrap(),
        algorithm: outpost_relay_config::DkimAlgorithm::RsaSha256,
        key_file: directory.join("sender.pem").to_str().unwrap().parse().unwrap(),
    }])
    .unwrap();
    set_aliases(&relay, "hello@example.com: friend@example.org\n");
    (relay, dns, signer)
}

fn txt(name: &str, text: &str) -> hickory_server::proto::rr::Record {
    // Long values (a 2048-bit key) in strings of at most 255 bytes, as DNS requires.
    let parts = text.as_bytes().chunks(255).map(|part| String::from_utf8_lossy(part).into());
    record(name, RData::TXT(TXT::new(parts.collect())))
}

fn set_aliases(relay: &TestRelay, text: &str) {
    // Written aside and renamed, as `alias add` does.
    let path = relay.directory.path().join("aliases");
    std::fs::write(path.with_extension("new"), text).unwrap();
    std::fs::rename(path.with_extension("new"), path).unwrap();
}

fn message(from: &str, subject: &str) -> String {
    format!(
        "From: {from}\r\nTo: hello@example.com\r\nSubject: {subject}\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\nMessage-ID: <{}@example.net>\r\n\r\nHello from outside.\r\n",
        subject.replace(' ', ".")
    )
}

/// A message from `from`, DKIM-signed by example.net when `signer` is given.
fn signed(signer: Option<&outpost_relay::dkim::Signer>, from: &str, subject: &str) -> String {
    let message = message(from, subject);
    match signer {
        Some(signer) => {
            format!("{}{message}", signer.sign("example.net", message.as_bytes()).unwrap())
        }
        None => message,
    }
}

/// One SMTP transaction from `client`: the reply to each of MAIL, RCPT… and (when every RCPT was
/// taken) DATA's final reply.
async fn send(
    relay: &TestRelay,
    client: Ipv4Addr,
    mail_from: &str,
    rcpt_to: &[&str],
    message: &str,
) -> Vec<String> {
    let (mut dialog, greeting) =
        Dialog::connect_from(IpAddr::V4(client), relay.relay().address("inbound").unwrap()).await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    let ehlo = dialog.expect("EHLO mx.example.net", "250").await;
    assert!(ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"), "no AUTH on port 25: {ehlo}");
    let mut replies = vec![dialog.command(&format!("MAIL FROM:<{mail_from}>")).await];
    if !replies[0].starts_with("250") {
        return replies;
    }
    let mut all = true;
    for rcpt in rcpt_to {
        let reply = dialog.command(&format!("RCPT TO:<{rcpt}>")).await;
        all &= reply.starts_with("250");
        replies.push(reply);
    }
    if all {
        dialog.expect("DATA", "354").await;
        dialog.send_raw(format!("{message}.\r\n").as_bytes()).await;
        replies.push(dialog.reply().await);
    }
    dialog.command("QUIT").await;
    replies
}

fn refused(relay: &TestRelay, reason: InboundRefusal) -> u64 {
    let status = relay.relay().inbound.as_ref().unwrap().status();
    status.refused.iter().find(|count| count.reason == reason).map_or(0, |count| count.count)
}

fn authenticator(dns: &TestDns) -> MessageAuthenticator {
    let mut server = hickory_resolver::config::NameServerConfig::udp_and_tcp(dns.address.ip());
    for connection in server.connections.iter_mut() {
        connection.port = dns.address.port();
    }
    let config = hickory_resolver::config::ResolverConfig::from_name_servers(vec![server]);
    MessageAuthenticator::new(config, hickory_resolver::config::ResolverOpts::default()).unwrap()
}

#[tokio::test]
async fn a_signed_message_is_forwarded_with_srs_its_dkim_intact_checked_and_arc_sealed() {
    let (relay, dns, signer) = setup().await;
    let original = signed(Some(&signer), "Alice <alice@example.net>", "hello there");
    let replies =
        send(&relay, Ipv4Addr::LOCALHOST, "alice@example.net", &["Hello@Example.com"], &original)
            .await;
    assert!(replies.last().unwrap().starts_with("250 2.0.0 queued as"), "{replies:?}");
    let (from, to, delivered) = relay.deliveries(1).await.remove(0);
    assert_eq!(to, ["friend@example.org"]);
    assert!(
        from.starts_with("SRS0=") && from.ends_with("=example.net=alice@example.com"),
        "{from}"
    );
    let text = String::from_utf8_lossy(&delivered).to_string();
    // Our headers on top; the original after them, byte for byte.
    assert!(delivered.ends_with(original.as_bytes()), "the message was altered:\n{text}");
    for header in [
        "ARC-Seal: i=1; a=rsa-sha256; s=outpost; d=example.com; cv=none",
        "ARC-Message-Signature: i=1",
        "ARC-Authentication-Results: i=1; mail.example.com",
        "Authentication-Results: mail.example.com",
    ] {
        assert!(text.contains(header), "no {header:?} in:\n{text}");
    }
    assert!(
        text.contains("dkim=pass") && text.contains("spf=pass") && text.contains("dmarc=pass"),
        "{text}"
    );
    assert!(text.contains("Received: from mx.example.net ([127.0.0.1])"), "{text}");
    // What the destination sees: the original DKIM still passes, and the ARC chain verifies.
    let authenticator = authenticator(&dns);
    let message = AuthenticatedMessage::parse(&delivered).unwrap();
    let dkim = authenticator.verify_dkim(&message).await;
    assert!(
        dkim.iter().any(|output| output.result() == &DkimResult::Pass
            && output.signature().unwrap().d == "example.net"),
        "{dkim:?}"
    );
    let arc = authenticator.verify_arc(&message).await;
    assert_eq!(arc.result(), &DkimResult::Pass, "the ARC chain does not verify");
    // And an independent verifier (dkimpy) agrees on both.
    assert_eq!(dkimpy(&relay, &delivered), "dkim=True arc=pass", "dkimpy's verdict");
    let status = relay.relay().inbound.as_ref().unwrap().status();
    assert_eq!(status.forwarded, 1);
    assert_eq!(status.recent[0].to, ["Hello@Example.com"]);
    assert_eq!(status.recent[0].header_from, "alice@example.net");
    assert_eq!(status.recent[0].destinations, ["friend@example.org"]);
    relay.stop().await;
    dns.stop().await;
}

#[tokio::test]
async fn unknown_addresses_are_refused_at_rcpt_until_an_edit_on_disk_adds_a_catch_all() {
    let (relay, dns, signer) = setup().await;
    let message = signed(Some(&signer), "alice@example.net", "who is there");
    let replies =
        send(&relay, Ipv4Addr::LOCALHOST, "alice@example.net", &["nobody@example.com"], &message)
            .await;
    assert!(replies[1].starts_with("550 5.1.1"), "{replies:?}");
    let replies =
        send(&relay, Ipv4Addr::LOCALHOST, "alice@example.net", &["someone@example.org"], &message)
            .await;
    assert!(
        replies[1].starts_with("550 5.7.1 relaying denied"),
        "never an open relay: {replies:?}"
    );
    assert!(relay.relay().queue.is_empty(), "nothing was queued");
    assert_eq!(refused(&relay, InboundRefusal::UnknownRecipient), 1);
    assert_eq!(refused(&relay, InboundRefusal::Relaying), 1);
    // postmaster@ always exists and goes to the owner.
    let replies = send(
        &relay,
        Ipv4Addr::LOCALHOST,
        "alice@example.net",
        &["postmaster@example.com"],
        &message,
    )
    .await;
    assert!(replies.last().unwrap().starts_with("250"), "{replies:?}");
    assert_eq!(relay.deliveries(1).await[0].1, ["owner@example.org"]);
    // Conformance 44, 45: a catch-all written to the file works without a restart.
    set_aliases(
        &relay,
        "hello@example.com: friend@example.org\n*@example.com: catchall@example.org\n",
    );
    let replies = send(
        &relay,
        Ipv4Addr::LOCALHOST,
        "alice@example.net",
        &["nobody@example.com", "hello@example.com"],
        &message,
    )
    .await;
    assert!(replies.last().unwrap().starts_with("250"), "{replies:?}");
    let deliveries = relay.deliveries(2).await;
    let mut to = deliveries[1].1.clone();
    to.sort();
    assert_eq!(to, ["catchall@example.org", "friend@example.org"]);
    // A broken file is "try again later", never "no such user" (conformance 25).
    set_aliases(&relay, "this is not an alias line\n");
    let replies =
        send(&relay, Ipv4Addr::LOCALHOST, "alice@example.net", &["hello@example.com"], &message)
            .await;
    assert!(replies[1].starts_with("451 4.4.3"), "{replies:?}");
    relay.stop().await;
    dns.stop().await;
}

#[tokio::test]
async fn bounces_to_our_srs_addresses_reach_the_original_sender_and_forgeries_are_refused() {
    let (relay, dns, signer) = setup().await;
    let message = signed(Some(&signer), "alice@example.net", "first");
    send(&relay, Ipv4Addr::LOCALHOST, "alice@example.net", &["hello@example.com"], &message).await;
    let srs = relay.deliveries(1).await[0].0.clone();
    // The destination bounces it: a DSN from the null sender to the SRS address.
    let bounce =
        "From: MAILER-DAEMON@example.org\r\nTo: x\r\nSubject: Undelivered\r\n\r\nno such user\r\n";
    let replies = send(&relay, Ipv4Addr::LOCALHOST, "", &[&srs], bounce).await;
    assert!(replies.last().unwrap().starts_with("250"), "{replies:?}");
    let (from, to, _) = relay.deliveries(2).await.remove(1);
    assert_eq!((from.as_str(), to.as_slice()), ("", ["alice@example.net".to_string()].as_slice()));
    // A forged one, and one with its hash changed, are refused at RCPT.
    let forged = srs.replacen("SRS0=", "SRS0=Zz", 1);
    for address in [forged.as_str(), "SRS0=abcd=AA=example.net=mallory@example.com"] {
        let replies = send(&relay, Ipv4Addr::LOCALHOST, "", &[address], bounce).await;
        assert!(replies[1].starts_with("550 5.1.1"), "{address}: {replies:?}");
    }
    assert_eq!(refused(&relay, InboundRefusal::ForgedBounceAddress), 2);
    relay.stop().await;
    dns.stop().await;
}

#[tokio::test]
async fn spoofs_spf_failures_and_listed_clients_are_refused_in_the_session() {
    let (relay, dns, signer) = setup().await;
    let spoof = signed(None, "CEO <ceo@strict.example.net>", "wire the money");
    // From an address SPF does not allow, unsigned, at a domain with p=reject.
    let replies = send(
        &relay,
        Ipv4Addr::new(127, 0, 0, 3),
        "ceo@strict.example.net",
        &["hello@example.com"],
        &spoof,
    )
    .await;
    let last = replies.last().unwrap();
    assert!(last.starts_with("550 5.7.1") && last.contains("DMARC"), "{replies:?}");
    // SPF fail with p=none, unsigned: refused for SPF.
    let unsigned = signed(None, "alice@example.net", "unsigned");
    let replies = send(
        &relay,
        Ipv4Addr::new(127, 0, 0, 3),
        "alice@example.net",
        &["hello@example.com"],
        &unsigned,
    )
    .await;
    let last = replies.last().unwrap();
    assert!(last.starts_with("550 5.7.1") && last.contains("SPF"), "{replies:?}");
    // The same from the wrong address but with an aligned DKIM signature: forwarded.
    let good = signed(Some(&signer), "alice@example.net", "signed");
    let replies = send(
        &relay,
        Ipv4Addr::new(127, 0, 0, 3),
        "alice@example.net",
        &["hello@example.com"],
        &good,
    )
    .await;
    assert!(replies.last().unwrap().starts_with("250"), "{replies:?}");
    // A listed client is refused at MAIL; a list's error code never counts as listed.
    let replies = send(
        &relay,
        Ipv4Addr::new(127, 0, 0, 4),
        "alice@example.net",
        &["hello@example.com"],
        &good,
    )
    .await;
    assert!(
        replies[0].starts_with("550 5.7.1") && replies[0].contains("zen.example.net"),
        "{replies:?}"
    );
    let replies = send(
        &relay,
        Ipv4Addr::new(127, 0, 0, 5),
        "alice@example.net",
        &["hello@example.com"],
        &good,
    )
    .await;
    assert!(replies.last().unwrap().starts_with("250"), "{replies:?}");
    assert_eq!(refused(&relay, InboundRefusal::DmarcReject), 1);
    assert_eq!(refused(&relay, InboundRefusal::SpfFail), 1);
    assert_eq!(refused(&relay, InboundRefusal::Blocklisted), 1);
    assert_eq!(relay.deliveries(2).await.len(), 2, "only the two good messages were forwarded");
    relay.stop().await;
    dns.stop().await;
}

#[tokio::test]
async fn the_srs_rewrite_is_the_reference_implementations() {
    // Debian's `srs` (Perl Mail::SRS, the reference design) and ours agree both ways today.
    let secret = "a secret for the cross-check";
    let ours = outpost_relay::inbound::Secrets::from_secrets(&[secret.as_bytes()]);
    let now = outpost_relay::clock::Clock::now(&outpost_relay::clock::SystemClock);
    let run = |arguments: &[&str]| {
        let output = std::process::Command::new("/usr/bin/srs")
            .arg(format!("--secret={secret}"))
            .args(arguments)
            .output()
            .expect("Debian's srs (apt-get install srs; tests/inbox/inbox deps installs it)");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    for sender in [
        "alice@gmail.test",
        "SRS0=abcd=TT=gmail.test=alice@other.test",
        "Bob.Smith+x@Sub.Example.NET",
    ] {
        let perl = run(&["--alias=example.com", "--forward", sender]);
        assert_eq!(ours.forward(sender, "example.com", now), perl, "{sender}");
        assert_eq!(ours.reverse(&perl, now).unwrap(), run(&["--reverse", &perl]), "{perl}");
    }
}

fn directory_of(relay: &TestRelay) -> std::path::PathBuf {
    relay.directory.path().to_path_buf()
}

/// dkimpy's DKIM and ARC verdicts on `message`, with the test's keys as its DNS.
fn dkimpy(relay: &TestRelay, message: &[u8]) -> String {
    use std::io::Write;
    const SCRIPT: &str = r#"
import json, sys, dkim
keys = json.load(open(sys.argv[1]))
def dnsfunc(name, timeout=5):
    name = (name.decode() if isinstance(name, bytes) else name).rstrip(".")
    return keys.get(name, "").encode()
message = sys.stdin.buffer.read()
cv, _, comment = dkim.arc_verify(message, dnsfunc=dnsfunc)
print("dkim=%s arc=%s" % (dkim.verify(message, dnsfunc=dnsfunc), cv.decode()), comment if cv != b"pass" else "")
"#;
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .arg(directory_of(relay).join("keys.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with dkimpy (apt-get install python3-dkim)");
    child.stdin.take().unwrap().write_all(message).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
