//! The relay's log is read in the journal by people who must be able to trust it: no terminal
//! colour codes, and nothing a client types can start a line of its own.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::support::{Dialog, HOST, TestRelay, plain};

/// Every log line the relay writes in this test binary, for the tests below to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_user_name_with_a_newline_cannot_forge_a_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("outpost_relay=info"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect_tls(&relay).await;
    dialog.expect("EHLO client.example", "250").await;
    let forged = "mallory\nINFO outpost_relay::session: authenticated user=admin";
    dialog.expect(&format!("AUTH PLAIN {}", plain(forged, "guess")), "535").await;
    relay.stop().await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let failed = text
        .lines()
        .find(|line| line.contains("authentication failed"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(failed.contains(r#"user="mallory\nINFO"#), "the name is quoted and escaped: {failed}");
    assert!(
        !text.lines().any(|line| line.starts_with("INFO outpost_relay::session: authenticated")),
        "no forged line: {text}"
    );
}

#[test]
fn the_journal_gets_no_terminal_colour_codes() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    let key =
        outpost_relay::dkim::generate(outpost_relay_config::DkimAlgorithm::Ed25519Sha256).unwrap();
    outpost_relay::dkim::write_new_key(&root.join("dkim.pem"), &key.private_pem).unwrap();
    let config = root.join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhostname = \"{HOST}\"\ndomains = [\"example.com\"]\n\
             [listeners]\nsubmission = [\"127.0.0.1:0\"]\nsubmissions = [\"127.0.0.1:0\"]\n\
             [tls]\nstate_dir = \"{root}/state/tls\"\n[users]\nfile = \"{root}/users\"\n\
             [[dkim]]\ndomain = \"example.com\"\nselector = \"ed\"\nalgorithm = \"ed25519-sha256\"\nkey_file = \"{root}/dkim.pem\"\n\
             [queue]\ndir = \"{root}/queue\"\n",
            root = root.display(),
        ),
    )
    .unwrap();
    std::fs::write(root.join("users"), "").unwrap();
    let mut relay = Command::new(env!("CARGO_BIN_EXE_outpost-relay"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = relay.stderr.take().unwrap();
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = received.recv_timeout(std::time::Duration::from_secs(10)) {
        let started = line.contains("outpost-relay started");
        lines.push(line);
        if started || lines.len() > 20 {
            break;
        }
    }
    // A scanner's handshakes with a name no client may send (an address as SNI, RFC 6066 §3):
    // the TLS library's warning about each must not fill the journal.
    let submissions = lines
        .iter()
        .find(|line| line.contains("listener=\"submissions\""))
        .and_then(|line| line.split("address=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string);
    if let Some(address) = &submissions {
        for _ in 0..5 {
            let _ = Command::new("openssl")
                .args(["s_client", "-connect", address, "-servername", "198.51.100.7"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl runs (Debian package openssl; ./dev test installs it)");
        }
    }
    while let Ok(line) = received.recv_timeout(std::time::Duration::from_millis(500)) {
        lines.push(line);
    }
    let _ = relay.kill();
    let _ = relay.wait();
    assert!(lines.iter().any(|line| line.contains("outpost-relay started")), "{lines:#?}");
    assert!(submissions.is_some(), "the submissions listener is logged: {lines:#?}");
    assert!(lines.iter().all(|line| !line.contains('\u{1b}')), "{lines:#?}");
    let handshakes = lines.iter().filter(|line| line.contains("port=Submissions")).count();
    assert_eq!(handshakes, 5, "the scanner's handshakes happened: {lines:#?}");
    assert!(
        lines.iter().all(|line| !line.to_ascii_lowercase().contains("illegal sni")),
        "{lines:#?}"
    );
}
