//! `kill -9` the relay right after it said `250`; start it again; the message is delivered,
//! once (conformance 36, chasquid t-03).

use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use hickory_server::proto::rr::rdata::{A, MX};
use hickory_server::proto::rr::{Name, RData};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::support::{HOST, PASSWORD, Receiver, TestDns, USER, record};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn serve(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_outpost-relay"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_for_port(port: u16) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the relay did not listen on {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_survives_kill_9_after_250_and_is_delivered_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    let dns = TestDns::start(vec![
        record("example.net.", RData::MX(MX::new(10, Name::from_str("mx.example.net.").unwrap()))),
        record("mx.example.net.", RData::A(A(std::net::Ipv4Addr::LOCALHOST))),
    ])
    .await;
    let key =
        outpost_relay::dkim::generate(outpost_relay_config::DkimAlgorithm::Ed25519Sha256).unwrap();
    outpost_relay::dkim::write_new_key(&root.join("dkim.pem"), &key.private_pem).unwrap();
    let mut users = outpost_relay::users::UsersFile::default();
    users.set(USER, PASSWORD).unwrap();
    users.save(&root.join("users")).unwrap();
    let (submission, delivery) = (free_port(), free_port());
    let config = root.join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhostname = \"{HOST}\"\ndomains = [\"example.com\"]\n\
             [listeners]\nsubmission = [\"127.0.0.1:{submission}\"]\nsubmissions = []\n\
             [tls]\nstate_dir = \"{root}/state/tls\"\n[users]\nfile = \"{root}/users\"\n\
             [[dkim]]\ndomain = \"example.com\"\nselector = \"ed\"\nalgorithm = \"ed25519-sha256\"\nkey_file = \"{root}/dkim.pem\"\n\
             [queue]\ndir = \"{root}/queue\"\nfirst_retry = \"1s\"\nmax_retry_interval = \"1s\"\n\
             [dns]\nresolvers = [\"{dns}\"]\n[delivery]\nport = {delivery}\nipv6 = false\n",
            root = root.display(),
            dns = dns.address,
        ),
    )
    .unwrap();

    // The recipient's server is down, so the message stays queued.
    let mut relay = serve(&config);
    wait_for_port(submission).await;
    let certificate = std::fs::read(root.join("state/tls/self-signed.pem")).unwrap();
    let tls = TlsParameters::builder(HOST.into())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(&certificate).unwrap())
        .build_rustls()
        .unwrap();
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(submission)
        .tls(Tls::Required(tls))
        .credentials(Credentials::new(USER.into(), PASSWORD.into()))
        .build();
    let message = Message::builder()
        .from(USER.parse().unwrap())
        .to("bob@example.net".parse().unwrap())
        .subject("survives a crash")
        .body(String::from("Still here.\r\n"))
        .unwrap();
    let reply = mailer.send(message).await.unwrap();
    assert_eq!(u16::from(reply.code()), 250);
    relay.kill().unwrap(); // SIGKILL: no chance to clean up
    relay.wait().unwrap();
    let queued = std::fs::read_dir(root.join("queue"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().file_name().to_string_lossy().ends_with(".msg"))
        .count();
    assert_eq!(queued, 1, "the accepted message is on disk");

    // The recipient's server comes back, and so does the relay.
    let receiver = Receiver::start_on(delivery, "");
    let mut relay = serve(&config);
    let (delivered, _) = receiver.message(1).await;
    assert!(String::from_utf8_lossy(&delivered).contains("Subject: survives a crash"));
    // Exactly once: give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.count(), 1);
    let left = std::fs::read_dir(root.join("queue")).unwrap().count();
    assert_eq!(left, 0, "the spool is empty once delivered");
    relay.kill().unwrap();
    relay.wait().unwrap();
    dns.stop().await;
}
