//! `relay-conformance.md`, item by item, as raw dialogs with a relay on loopback. Each test is
//! named after its item. Port 25, aliases and SRS (25, 43–45, 54–57) are shown in `inbound.rs`,
//! ACME in `acme.rs`.

use std::time::{Duration, Instant};

use crate::support::{Dialog, HOST, PASSWORD, TestRelay, USER, message, plain};

async fn data(dialog: &mut Dialog, body: &str) -> String {
    dialog.expect("DATA", "354").await;
    dialog.send_raw(body.as_bytes()).await;
    dialog.send_raw(b".\r\n").await;
    dialog.reply().await
}

async fn envelope(dialog: &mut Dialog) {
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "250").await;
    dialog.expect("RCPT TO:<bob@example.net>", "250").await;
}

#[tokio::test]
async fn item_01_greets_with_220_and_host_name_and_on_465_after_the_handshake() {
    let relay = TestRelay::start().await;
    let (_, greeting) = Dialog::connect(relay.submission()).await;
    assert!(greeting.starts_with(&format!("220 {HOST} ESMTP")), "{greeting}");
    let (_, greeting) = Dialog::connect_tls(&relay).await;
    assert!(greeting.starts_with(&format!("220 {HOST} ESMTP")), "{greeting}");
    relay.stop().await;
}

#[tokio::test]
async fn item_02_helo_and_ehlo_need_an_argument() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("HELO", "501").await;
    dialog.expect("EHLO", "501").await;
    dialog.expect("EHLO client.example", "250").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_03_ehlo_lists_extensions_starttls_in_plain_and_auth_inside_tls() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    let plain_ehlo = dialog.expect("EHLO client.example", "250").await;
    for extension in
        ["SIZE 52428800", "8BITMIME", "PIPELINING", "SMTPUTF8", "ENHANCEDSTATUSCODES", "STARTTLS"]
    {
        assert!(plain_ehlo.contains(extension), "{extension} missing from {plain_ehlo}");
    }
    assert!(!plain_ehlo.contains("AUTH"), "AUTH offered in plain text: {plain_ehlo}");
    dialog.starttls(&relay).await;
    let tls_ehlo = dialog.expect("EHLO client.example", "250").await;
    assert!(tls_ehlo.contains("AUTH PLAIN LOGIN") && !tls_ehlo.contains("STARTTLS"), "{tls_ehlo}");
    relay.stop().await;
}

#[tokio::test]
async fn item_04_an_unknown_command_gets_500_and_the_session_goes_on() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("XYZZY", "500 5.5.1").await;
    dialog.expect("NOOP", "250").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_05_help_noop_and_no_address_disclosure() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("HELP", "214").await;
    dialog.expect("NOOP", "250").await;
    dialog.expect(&format!("VRFY {USER}"), "502").await;
    relay.stop().await;
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("EXPN staff", "502").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_06_http_as_the_first_command_is_refused_and_closed() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("GET / HTTP/1.1", "502").await;
    assert!(dialog.closed().await);
    relay.stop().await;
}

#[tokio::test]
async fn item_07_a_line_over_1000_octets_is_refused_and_closed_and_1000_is_fine() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    let exactly = format!("NOOP {}", "x".repeat(995));
    assert_eq!(exactly.len(), 1000);
    dialog.expect(&exactly, "250").await;
    let reply = dialog.command(&format!("NOOP {}", "x".repeat(996))).await;
    assert!(reply.starts_with("500"), "{reply}");
    assert!(dialog.closed().await);
    relay.stop().await;
}

#[tokio::test]
async fn item_08_three_errors_end_the_session_with_421() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("XYZZY", "500").await;
    dialog.expect("XYZZY", "500").await;
    dialog.expect("XYZZY", "500").await;
    let farewell = dialog.reply().await;
    assert!(farewell.starts_with("421 4.5.0"), "{farewell}");
    assert!(dialog.closed().await);
    relay.stop().await;
}

#[tokio::test]
async fn item_09_rset_clears_the_transaction() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    dialog.expect("RSET", "250").await;
    dialog.expect("RCPT TO:<bob@example.net>", "503").await;
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "250").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_10_quit_says_221_and_closes() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("QUIT", "221").await;
    assert!(dialog.closed().await);
    relay.stop().await;
}

#[tokio::test]
async fn item_11_auth_before_tls_is_refused_without_a_challenge() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.expect("AUTH PLAIN", "503 5.7.10").await;
    dialog.expect("AUTH LOGIN", "503").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_12_starttls_twice_or_on_465_is_refused() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.starttls(&relay).await;
    dialog.expect("STARTTLS", "503").await;
    let (mut implicit, _) = Dialog::connect_tls(&relay).await;
    implicit.expect("STARTTLS", "503").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_13_starttls_resets_the_session() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.starttls(&relay).await;
    // RFC 3207 §4.2: what was said before TLS is forgotten, EHLO included.
    dialog.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "503").await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "235").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_14_unsupported_mechanisms_and_bad_base64_are_refused() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect_tls(&relay).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.expect("AUTH CRAM-MD5", "504").await;
    dialog.expect("AUTH PLAIN !!!not-base64!!!", "501").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_15_wrong_password_535_right_password_235_and_no_second_auth() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect_tls(&relay).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.expect(&format!("AUTH PLAIN {}", plain(USER, "wrong password!")), "535 5.7.8").await;
    dialog.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "235 2.7.0").await;
    dialog.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "503").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_16_a_broken_users_file_gives_a_temporary_error() {
    let relay = TestRelay::start().await;
    std::fs::write(relay.directory.path().join("users"), "this line is not a user\n").unwrap();
    let (mut dialog, _) = Dialog::connect_tls(&relay).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "454").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_17_unknown_users_and_wrong_passwords_take_the_same_time() {
    let relay = TestRelay::start().await;
    let mut timings = Vec::new();
    for user in [USER, "nobody@example.com"] {
        let (mut dialog, _) = Dialog::connect_tls(&relay).await;
        dialog.expect("EHLO client.example", "250").await;
        let started = Instant::now();
        dialog.expect(&format!("AUTH PLAIN {}", plain(user, "not the password")), "535").await;
        timings.push(started.elapsed());
    }
    for timing in &timings {
        assert!(*timing >= Duration::from_millis(100), "{timings:?}");
    }
    relay.stop().await;
}

#[tokio::test]
async fn item_18_submission_needs_auth_before_mail() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "530").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_19_implicit_tls_on_465_takes_auth_and_mail() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect_tls(&relay).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "235").await;
    envelope(&mut dialog).await;
    let reply = data(&mut dialog, &message("item 19")).await;
    assert!(reply.starts_with("250 2.0.0 queued as"), "{reply}");
    relay.stop().await;
}

#[tokio::test]
async fn item_20_commands_out_of_order_get_503() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("DATA", "503").await;
    dialog.expect("RCPT TO:<bob@example.net>", "503").await;
    relay.stop().await;
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "250").await;
    dialog.expect("DATA", "503").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_21_malformed_mail_and_rcpt_get_501() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect("MAIL LALA: <a@example.com>", "501").await;
    dialog.expect("MAIL FROM:", "501").await;
    relay.stop().await;
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "250").await;
    dialog.expect("RCPT TO:<nobody>", "501").await;
    dialog.expect("RCPT TO:<x y@example.net>", "501").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_22_the_null_reverse_path_is_accepted() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect("MAIL FROM:  <> BODY=7BIT", "250").await;
    dialog.expect("RCPT TO:<bob@example.net> NOTIFY=NEVER", "250").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_23_overlong_addresses_and_bad_domains_get_501() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "250").await;
    dialog.expect(&format!("RCPT TO:<{}@example.net>", "a".repeat(260)), "501 5.1.3").await;
    dialog.expect("RCPT TO:<bob@xn--.example>", "501").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_24_no_relaying_without_auth() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect_tls(&relay).await;
    dialog.expect("EHLO client.example", "250").await;
    // Without AUTH nothing gets as far as RCPT on the submission ports.
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "530").await;
    dialog.expect("RCPT TO:<victim@example.net>", "503").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_26_too_many_recipients_get_452() {
    let relay = TestRelay::start_with(crate::support::Options {
        extra_toml: "[limits]\nmax_recipients = 2\n".into(),
        ..Default::default()
    })
    .await;
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "250").await;
    dialog.expect("RCPT TO:<a@example.net>", "250").await;
    dialog.expect("RCPT TO:<b@example.net>", "250").await;
    dialog.expect("RCPT TO:<c@example.net>", "452 4.5.3").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_27_several_messages_on_one_connection() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    for number in 0..3 {
        envelope(&mut dialog).await;
        let reply = data(&mut dialog, &message(&format!("item 27 number {number}"))).await;
        assert!(reply.starts_with("250"), "{reply}");
    }
    assert_eq!(relay.deliveries(3).await.len(), 3);
    relay.stop().await;
}

#[tokio::test]
async fn item_28_dot_stuffing_is_undone() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    let body = format!("{}..stuffed line\r\n..\r\n", message("item 28"));
    assert!(data(&mut dialog, &body).await.starts_with("250"));
    let delivered = relay.deliveries(1).await;
    let text = String::from_utf8_lossy(&delivered[0].2).into_owned();
    assert!(text.ends_with("Hello.\r\n.stuffed line\r\n.\r\n"), "{text}");
    relay.stop().await;
}

#[tokio::test]
async fn item_29_bare_lf_before_the_terminator_is_refused_and_closed() {
    for smuggled in ["\n.\n", "xxx\n.\n"] {
        let relay = TestRelay::start().await;
        let mut dialog = Dialog::logged_in(&relay).await;
        envelope(&mut dialog).await;
        dialog.expect("DATA", "354").await;
        dialog
            .send_raw(
                format!(
                    "{}{smuggled}MAIL FROM:<evil@example.com>\r\n\r\n.\r\n",
                    message("item 29")
                )
                .as_bytes(),
            )
            .await;
        let reply = dialog.reply().await;
        assert!(reply.starts_with("521 5.5.2"), "{reply}");
        assert!(dialog.closed().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(relay.courier.delivered.lock().unwrap().is_empty(), "nothing may be queued");
        relay.stop().await;
    }
}

#[tokio::test]
async fn item_30_bare_cr_in_data_is_refused() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    let reply = data(&mut dialog, &format!("{}abc\rdef\r\n", message("item 30"))).await;
    assert!(reply.starts_with("521"), "{reply}");
    relay.stop().await;
}

#[tokio::test]
async fn item_31_an_oversized_message_gets_552_and_the_session_goes_on() {
    let relay = TestRelay::start_with(crate::support::Options {
        extra_toml: "[limits]\nmax_message_size = \"2 KiB\"\n".into(),
        ..Default::default()
    })
    .await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    let big = format!("{}{}\r\n", message("item 31"), "x".repeat(4000));
    let reply = data(&mut dialog, &big).await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    // The limit is per message: a small one goes through on the same connection.
    envelope(&mut dialog).await;
    assert!(data(&mut dialog, &message("item 31 small")).await.starts_with("250"));
    relay.stop().await;
}

#[tokio::test]
async fn item_32_smuggling_inside_an_oversized_message_is_not_executed() {
    let relay = TestRelay::start_with(crate::support::Options {
        extra_toml: "[limits]\nmax_message_size = \"1 KiB\"\n".into(),
        ..Default::default()
    })
    .await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    dialog.expect("DATA", "354").await;
    dialog
        .send_raw(
            format!("{}{}\n.\nHELP\r\n.\r\n", message("item 32"), "x".repeat(2000)).as_bytes(),
        )
        .await;
    let reply = dialog.reply().await;
    assert!(reply.starts_with("521"), "{reply}");
    assert!(!reply.contains("214"), "HELP must not have run: {reply}");
    relay.stop().await;
}

#[tokio::test]
async fn item_33_unparseable_headers_get_554() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    let reply =
        data(&mut dialog, "From: alice@example.com\r\nthis is not a header\r\n\r\nbody\r\n").await;
    assert!(reply.starts_with("554 5.6.0"), "{reply}");
    relay.stop().await;
}

#[tokio::test]
async fn item_35_a_received_header_without_client_ip_or_recipients() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "250").await;
    dialog.expect("RCPT TO:<bob@example.net>", "250").await;
    dialog.expect("RCPT TO:<secret-bcc@example.org>", "250").await;
    assert!(data(&mut dialog, &message("item 35")).await.starts_with("250"));
    let delivered = relay.deliveries(1).await;
    let text = String::from_utf8_lossy(&delivered[0].2).into_owned();
    let received: String = text
        .split("\r\n")
        .skip_while(|line| !line.starts_with("Received:"))
        .take(3)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(received.contains("by mail.example.com (Outpost relay) with ESMTPSA"), "{received}");
    assert!(received.contains("version=TLSv1.3"), "{received}");
    assert!(!received.contains("127.0.0.1"), "client address leaked: {received}");
    assert!(!text.contains("secret-bcc"), "a Bcc recipient leaked");
    relay.stop().await;
}

#[tokio::test]
async fn item_36_the_message_is_on_disk_when_250_arrives() {
    let relay = TestRelay::start_with(crate::support::Options {
        hold_deliveries: true,
        ..Default::default()
    })
    .await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    let reply = data(&mut dialog, &message("item 36")).await;
    assert!(reply.starts_with("250 2.0.0 queued as "), "{reply}");
    let id = reply.trim().rsplit(' ').next().unwrap().to_string();
    let queue = relay.queue_dir();
    assert!(queue.join(format!("{id}.msg")).exists());
    let state = outpost_relay::queue::Spool::open(&queue).unwrap().item(&id).unwrap();
    assert_eq!(state.from, USER);
    assert_eq!(state.recipients[0].address, "bob@example.net");
    relay.stop().await;
}

#[tokio::test]
async fn item_39_a_full_queue_answers_4xx_at_data() {
    let relay = TestRelay::start_with(crate::support::Options {
        queue_toml: "max_messages = 1\n".into(),
        hold_deliveries: true,
        ..Default::default()
    })
    .await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    assert!(data(&mut dialog, &message("item 39 first")).await.starts_with("250"));
    envelope(&mut dialog).await;
    let reply = data(&mut dialog, &message("item 39 second")).await;
    assert!(reply.starts_with("452 4.3.1"), "{reply}");
    relay.stop().await;
}

#[tokio::test]
async fn item_42_local_mail_is_signed() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    assert!(data(&mut dialog, &message("item 42")).await.starts_with("250"));
    let delivered = relay.deliveries(1).await;
    let text = String::from_utf8_lossy(&delivered[0].2).into_owned();
    assert!(text.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"), "{text}");
    assert!(text.contains("d=example.com") && text.contains("s=outpost"), "{text}");
    relay.stop().await;
}

#[tokio::test]
async fn item_47_auth_login_works_too() {
    use base64::Engine;
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect_tls(&relay).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.expect("AUTH LOGIN", "334 VXNlcm5hbWU6").await;
    dialog.expect(&encode(USER), "334 UGFzc3dvcmQ6").await;
    dialog.expect(&encode(PASSWORD), "235").await;
    relay.stop().await;
}

#[tokio::test]
async fn item_48_bytes_pipelined_after_starttls_are_discarded() {
    let relay = TestRelay::start().await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("EHLO client.example", "250").await;
    // The CVE-2011-0411 shape: STARTTLS and a command in one packet.
    dialog.send_raw(b"STARTTLS\r\nRSET\r\n").await;
    let reply = dialog.reply().await;
    assert!(reply.starts_with("220"), "{reply}");
    let tcp = dialog.take_tcp();
    let mut tls = relay.tls_connector().connect(HOST.try_into().unwrap(), tcp).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"NOOP\r\n").await.unwrap();
    let mut buffer = [0u8; 256];
    let read =
        tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buffer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&buffer[..read]);
    // Only the NOOP's reply: no reply to a pre-handshake RSET inside TLS.
    assert_eq!(answer, "250 2.0.0 OK\r\n");
    relay.stop().await;
}

#[tokio::test]
async fn item_49_repeated_failures_block_that_client_for_a_while() {
    let relay = TestRelay::start_with(crate::support::Options {
        extra_toml: "[limits]\nauth_failures_before_block = 2\n".into(),
        ..Default::default()
    })
    .await;
    for _ in 0..2 {
        let (mut dialog, _) = Dialog::connect_tls(&relay).await;
        dialog.expect("EHLO client.example", "250").await;
        dialog.expect(&format!("AUTH PLAIN {}", plain(USER, "guess guess guess")), "535").await;
    }
    let (mut dialog, _) = Dialog::connect_tls(&relay).await;
    dialog.expect("EHLO client.example", "250").await;
    // Even the right password is refused while the block lasts, and says so.
    let reply = dialog.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "454 4.7.0").await;
    assert!(reply.contains("try again in"), "{reply}");
    relay.stop().await;
}

#[tokio::test]
async fn item_50_a_local_domain_without_a_working_key_stops_the_relay_from_starting() {
    // The strongest form of "never unsigned": the relay will not run at all. (A signing failure
    // at run time answers 451; its path in `session::accept` is the only way past the signer.)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path().display();
    let text = format!(
        "[server]\nhostname = \"{HOST}\"\ndomains = [\"example.com\", \"example.org\"]\n\
         [listeners]\nsubmission = [\"127.0.0.1:0\"]\nsubmissions = []\n[tls]\nstate_dir = \"{root}/tls\"\n\
         [users]\nfile = \"{root}/users\"\n[queue]\ndir = \"{root}/queue\"\n\
         [[dkim]]\ndomain = \"example.com\"\nselector = \"s\"\nkey_file = \"{root}/missing.pem\"\n"
    );
    let config =
        outpost_relay_config::Config::parse(&text, std::path::Path::new("t.toml")).unwrap();
    let error = outpost_relay::server::Relay::start(&config).await.unwrap_err().to_string();
    assert!(error.contains("missing.pem"), "{error}");
    std::fs::write(
        directory.path().join("missing.pem"),
        outpost_relay::dkim::generate(outpost_relay_config::DkimAlgorithm::RsaSha256)
            .unwrap()
            .private_pem,
    )
    .unwrap();
    let error = outpost_relay::server::Relay::start(&config).await.unwrap_err().to_string();
    assert!(error.starts_with("no [[dkim]] key for example.org"), "{error}");
}

#[tokio::test]
async fn item_51_only_tls_12_and_13() {
    let relay = TestRelay::start().await;
    let (dialog, _) = Dialog::connect_tls(&relay).await;
    drop(dialog);
    // A client that offers only TLS 1.2 is served; the server config lists nothing older
    // (rustls has no TLS 1.0/1.1 at all).
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(&relay.certificate_pem()) {
        roots.add(certificate.unwrap()).unwrap();
    }
    use rustls::pki_types::pem::PemObject;
    let config = rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS12])
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(relay.submissions()).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(HOST.try_into().unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    relay.stop().await;
}

#[tokio::test]
async fn item_52_a_user_over_the_hourly_limit_gets_4xx() {
    let relay = TestRelay::start_with(crate::support::Options {
        extra_toml: "[limits]\nmessages_per_user_per_hour = 1\n".into(),
        ..Default::default()
    })
    .await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    assert!(data(&mut dialog, &message("item 52")).await.starts_with("250"));
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "451 4.7.1").await;
    relay.stop().await;
}

#[tokio::test]
async fn sending_from_a_domain_the_relay_does_not_serve_is_refused() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect("MAIL FROM:<ceo@bank.example>", "550 5.7.1").await;
    relay.stop().await;
}

#[tokio::test]
async fn a_user_may_send_as_the_extra_addresses_the_users_file_lists_for_them_and_no_others() {
    let relay = TestRelay::start().await;
    let path = relay.directory.path().join("users");
    let mut users = outpost_relay::users::UsersFile::load(&path).unwrap();
    // Saved while the relay runs: it sees the change without a restart.
    users.set_senders(USER, &["alerts@example.org".into()]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    users.save(&path).unwrap();
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect("MAIL FROM:<alerts@example.org>", "250").await;
    dialog.expect("RSET", "250").await;
    let refused = dialog.expect("MAIL FROM:<boss@example.org>", "550 5.7.1").await;
    assert!(refused.contains("user senders"), "{refused}");
    relay.stop().await;
}

#[tokio::test]
async fn a_from_header_at_a_domain_the_relay_does_not_serve_is_refused_and_nothing_is_queued() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    envelope(&mut dialog).await;
    let phishing = "From: Security <security@bank.test>\r\nTo: bob@example.net\r\nSubject: verify your account\r\n\r\nClick here.\r\n";
    let reply = data(&mut dialog, phishing).await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    assert!(reply.contains("bank.test"), "{reply}");
    assert_eq!(std::fs::read_dir(relay.queue_dir()).unwrap().count(), 0, "nothing was queued");
    // The session goes on: the same user's own mail is accepted.
    envelope(&mut dialog).await;
    assert!(data(&mut dialog, &message("after the refusal")).await.starts_with("250"));
    relay.stop().await;
}

#[tokio::test]
async fn a_user_may_use_any_address_at_their_own_domain_as_the_sender() {
    let relay = TestRelay::start().await;
    let mut dialog = Dialog::logged_in(&relay).await;
    dialog.expect("MAIL FROM:<newsletter@example.com>", "250").await;
    dialog.expect("RSET", "250").await;
    dialog.expect("MAIL FROM:<>", "250").await;
    relay.stop().await;
}

/// A relay whose `[limits]` section is `limits`.
async fn relay_with_limits(limits: &str) -> TestRelay {
    TestRelay::start_with(crate::support::Options {
        extra_toml: format!("[limits]\n{limits}\n"),
        ..Default::default()
    })
    .await
}

/// TLS sessions that have said EHLO, ready for AUTH.
async fn greeted(relay: &TestRelay, count: usize) -> Vec<Dialog> {
    let mut dialogs = Vec::new();
    for _ in 0..count {
        let (mut dialog, _) = Dialog::connect_tls(relay).await;
        dialog.expect("EHLO client.example", "250").await;
        dialogs.push(dialog);
    }
    dialogs
}

#[tokio::test]
async fn a_burst_of_guesses_is_counted_while_it_runs_not_after() {
    let relay = relay_with_limits("auth_failures_before_block = 2").await;
    let mut dialogs = greeted(&relay, 6).await;
    // Every guess is on the wire before the first password check has finished.
    for dialog in &mut dialogs {
        dialog.send(&format!("AUTH PLAIN {}", plain(USER, "guess"))).await;
    }
    let mut replies = Vec::new();
    for dialog in &mut dialogs {
        replies.push(dialog.reply().await);
    }
    let checked = replies.iter().filter(|reply| reply.starts_with("535")).count();
    assert!(checked <= 2, "at most the allowed number of guesses is checked: {replies:#?}");
    assert!(
        replies.iter().all(|reply| reply.starts_with("535") || reply.starts_with("454 4.7.0")),
        "{replies:#?}"
    );
    assert!(
        replies.iter().filter(|reply| reply.contains("too many failed logins")).count() >= 4,
        "{replies:#?}"
    );
    relay.stop().await;
}

#[tokio::test]
async fn only_a_few_password_checks_run_at_once_and_the_rest_are_told_to_come_back() {
    let relay = relay_with_limits("auth_failures_before_block = 1000").await;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut dialogs = greeted(&relay, cores + 4).await;
    for dialog in &mut dialogs {
        dialog.send(&format!("AUTH PLAIN {}", plain(USER, "guess"))).await;
    }
    let mut replies = Vec::new();
    for dialog in &mut dialogs {
        replies.push(dialog.reply().await);
    }
    let busy = replies
        .iter()
        .filter(|reply| reply.starts_with("454 4.7.0") && reply.contains("busy"))
        .count();
    assert!(busy >= 4, "each check holds its place for at least 100 ms: {replies:#?}");
    assert!(
        replies.iter().filter(|reply| reply.starts_with("535")).count() <= cores,
        "{replies:#?}"
    );
    // The burst is over: a login works again.
    let (mut dialog, _) = Dialog::connect_tls(&relay).await;
    dialog.expect("EHLO client.example", "250").await;
    dialog.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "235").await;
    relay.stop().await;
}

#[tokio::test]
async fn one_users_login_does_not_forgive_the_guesses_at_another_users_password() {
    let relay = relay_with_limits("auth_failures_before_block = 3").await;
    let users = relay.directory.path().join("users");
    let mut file = outpost_relay::users::UsersFile::load(&users).unwrap();
    file.set("bob@example.com", "bob's own password").unwrap();
    file.save(&users).unwrap();
    async fn guess(dialog: &mut Dialog) -> String {
        dialog.command(&format!("AUTH PLAIN {}", plain("bob@example.com", "guess"))).await
    }
    let mut dialogs = greeted(&relay, 5).await;
    assert!(guess(&mut dialogs[0]).await.starts_with("535"));
    assert!(guess(&mut dialogs[1]).await.starts_with("535"));
    dialogs[2].expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "235").await;
    assert!(guess(&mut dialogs[3]).await.starts_with("535"));
    let refused = guess(&mut dialogs[4]).await;
    assert!(refused.starts_with("454 4.7.0"), "{refused}");
    relay.stop().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_connection_and_others_are_still_served() {
    let relay = relay_with_limits("connections_per_address = 3").await;
    let hog: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        let (dialog, greeting) = Dialog::connect_from(hog, relay.submission()).await;
        assert!(greeting.starts_with("220"), "{greeting}");
        held.push(dialog);
    }
    let (_, refused) = Dialog::connect_from(hog, relay.submission()).await;
    assert!(refused.starts_with("421 4.7.0"), "{refused}");
    let (_, other) = Dialog::connect_from("127.0.0.2".parse().unwrap(), relay.submission()).await;
    assert!(other.starts_with("220"), "another address is served: {other}");
    drop(held.pop());
    // The closed connection's place is free again (the relay notices the close at once).
    let mut greeting = String::new();
    for _ in 0..50 {
        greeting = Dialog::connect_from(hog, relay.submission()).await.1;
        if greeting.starts_with("220") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(greeting.starts_with("220"), "{greeting}");
    relay.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_log_in_in_time_is_closed_even_when_it_trickles() {
    let relay = relay_with_limits("login_deadline = \"1s\"").await;
    let (mut dialog, _) = Dialog::connect(relay.submission()).await;
    dialog.expect("EHLO client.example", "250").await;
    // A byte at a time, each well within the command timeout: the deadline still ends it.
    for byte in b"NOOP" {
        dialog.send_raw(&[*byte]).await;
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    let reply = dialog.reply().await;
    assert!(reply.starts_with("421 4.7.0"), "{reply}");
    assert!(dialog.closed().await);
    relay.stop().await;
}

#[tokio::test]
async fn a_burst_of_new_sessions_by_a_user_who_just_logged_in_is_not_turned_away() {
    let relay = relay_with_limits("auth_failures_before_block = 1000").await;
    let (mut first, _) = Dialog::connect_tls(&relay).await;
    first.expect("EHLO client.example", "250").await;
    first.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "235").await;
    // A mail client opening many sessions at once: the logins come from the cache, no hashing.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut dialogs = greeted(&relay, cores + 4).await;
    for dialog in &mut dialogs {
        dialog.send(&format!("AUTH PLAIN {}", plain(USER, PASSWORD))).await;
    }
    for dialog in &mut dialogs {
        let reply = dialog.reply().await;
        assert!(reply.starts_with("235"), "{reply}");
    }
    relay.stop().await;
}
