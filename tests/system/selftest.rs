//! The box proves itself, with no Outpost code involved: DNS, SSH, ACME and mail judged by
//! implementations independent of ours. If these fail, product tests in the box mean nothing.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use outpost_system_tests::inbox::{Host, Inbox};

use crate::Scenario;

/// Scenarios with the plain vps.
pub const PLAIN: &[Scenario] = &[
    (
        "t01_records_published_are_seen_from_every_host",
        t01_records_published_are_seen_from_every_host,
    ),
    ("t02_no_host_has_a_route_out_of_the_box", t02_no_host_has_a_route_out_of_the_box),
    (
        "t03_vps_takes_the_test_key_and_the_root_password",
        t03_vps_takes_the_test_key_and_the_root_password,
    ),
    (
        "t04_writes_on_the_vps_never_reach_this_machine",
        t04_writes_on_the_vps_never_reach_this_machine,
    ),
    ("t05_pebble_issues_a_certificate_over_http01", t05_pebble_issues_a_certificate_over_http01),
    (
        "t06_signed_mail_passes_spf_dkim_dmarc_and_iprev",
        t06_signed_mail_passes_spf_dkim_dmarc_and_iprev,
    ),
    ("t07_forged_sender_fails_spf_and_dmarc", t07_forged_sender_fails_spf_and_dmarc),
    ("t08_swapped_dns_key_fails_dkim", t08_swapped_dns_key_fails_dkim),
    ("t09_imap_returns_the_stored_message", t09_imap_returns_the_stored_message),
    (
        "t98_the_leak_detector_sees_box_traffic_where_it_flows",
        t98_the_leak_detector_sees_box_traffic_where_it_flows,
    ),
];

/// Scenarios with the systemd vps.
pub const SYSTEMD: &[Scenario] = &[
    ("t10_systemd_vps_boots_and_runs_units", t10_systemd_vps_boots_and_runs_units),
    ("t11_systemd_vps_resolves_through_the_box", t11_systemd_vps_resolves_through_the_box),
];

const MAIL_HOST: &str = "mail.example.test";

fn t01_records_published_are_seen_from_every_host(inbox: &Inbox) -> Result<()> {
    inbox.publish("probe.example.test", "TXT", 60, &["\"first\""])?;
    for host in Host::ALL {
        let seen = inbox.query_from(host, "probe.example.test", "TXT")?;
        ensure!(seen == ["\"first\""], "{host:?} saw {seen:?}");
    }
    // A change is visible at once: the server is authoritative and nothing caches.
    inbox.publish("probe.example.test", "TXT", 60, &["\"second\""])?;
    ensure!(inbox.query_from(Host::Wiz, "probe.example.test", "TXT")? == ["\"second\""]);
    inbox.remove("probe.example.test", "TXT")?;
    ensure!(inbox.query_from(Host::Wiz, "probe.example.test", "TXT")?.is_empty());
    Ok(())
}

fn t02_no_host_has_a_route_out_of_the_box(inbox: &Inbox) -> Result<()> {
    for host in Host::ALL {
        for family in ["-4", "-6"] {
            let routes = inbox.exec(host, &["ip", family, "route", "show"])?;
            ensure!(!routes.contains("default"), "{host:?} has a default route: {routes}");
            for route in routes.lines() {
                ensure!(
                    route.starts_with("198.51.100.0/24")
                        || route.starts_with("2001:db8:100::/64")
                        || route.starts_with("fe80::/64"),
                    "{host:?} has a route beyond the box: {route}"
                );
            }
        }
    }
    Ok(())
}

fn t03_vps_takes_the_test_key_and_the_root_password(inbox: &Inbox) -> Result<()> {
    ensure!(inbox.ssh("hostname")?.trim() == "vps");
    let output = ssh_with_password(inbox, &inbox.settings.root_password, "id -u")?;
    ensure!(
        output.status.success(),
        "password login failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(String::from_utf8_lossy(&output.stdout).trim() == "0");
    let wrong = ssh_with_password(inbox, "not-the-password", "true")?;
    ensure!(!wrong.status.success(), "a wrong password was accepted");
    Ok(())
}

/// Logs in to the vps as root with a password (no key), through sshpass.
fn ssh_with_password(inbox: &Inbox, password: &str, command: &str) -> Result<std::process::Output> {
    let settings = &inbox.settings;
    Command::new("sshpass")
        .args(["-p", password, "ssh", "-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=5"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", settings.ssh_known_hosts.display()))
        .arg(format!("root@{}", settings.vps_ip))
        .arg(command)
        .output()
        .context("running sshpass")
}

fn t04_writes_on_the_vps_never_reach_this_machine(inbox: &Inbox) -> Result<()> {
    inbox.ssh("echo box > /etc/outpost-selftest && mkdir -p /usr/local/lib/outpost-selftest")?;
    ensure!(inbox.ssh("cat /etc/outpost-selftest")?.trim() == "box");
    ensure!(
        !PathBuf::from("/etc/outpost-selftest").exists(),
        "a write to /etc on the vps reached this machine"
    );
    ensure!(!PathBuf::from("/usr/local/lib/outpost-selftest").exists());
    Ok(())
}

fn t05_pebble_issues_a_certificate_over_http01(inbox: &Inbox) -> Result<()> {
    let settings = &inbox.settings;
    inbox.publish(MAIL_HOST, "A", 60, &[&settings.vps_ip.to_string()])?;
    inbox.publish(MAIL_HOST, "AAAA", 60, &[&settings.vps_ip6.to_string()])?;
    let work = work_dir(inbox, "acme")?;
    let lego_path = work.join("lego");
    inbox.exec(
        Host::Vps,
        &[
            "env",
            &format!("LEGO_CA_CERTIFICATES={}", settings.box_ca.display()),
            "lego",
            "--server",
            &settings.acme_directory,
            "--email",
            "postmaster@example.test",
            "--domains",
            MAIL_HOST,
            "--http",
            "--http.port",
            ":80",
            "--accept-tos",
            "--path",
            &lego_path.display().to_string(),
            "run",
        ],
    )?;
    let certificates = lego_path.join("certificates");
    // The chain must lead to pebble's issuing root, which tests fetch from its management API.
    let root = work.join("pebble-root.pem");
    run(Command::new("curl")
        .args(["--silent", "--fail", "--max-time", "5", "--cacert"])
        .arg(&settings.box_ca)
        .arg(format!("{}/roots/0", settings.pebble_management))
        .arg("--output")
        .arg(&root))?;
    let verified = run(Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&root)
        .arg("-untrusted")
        .arg(certificates.join(format!("{MAIL_HOST}.issuer.crt")))
        .arg(certificates.join(format!("{MAIL_HOST}.crt"))))?;
    ensure!(verified.trim_end().ends_with("OK"), "{verified}");
    let names = run(Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(certificates.join(format!("{MAIL_HOST}.crt"))))?;
    ensure!(names.contains(&format!("DNS:{MAIL_HOST}")), "{names}");
    Ok(())
}

fn t06_signed_mail_passes_spf_dkim_dmarc_and_iprev(inbox: &Inbox) -> Result<()> {
    publish_sender_records(inbox)?;
    let key = dkim_key(inbox, "good")?;
    publish_dkim(inbox, "good", &key.dns_value)?;
    let message = signed_message(inbox, "t06 signed mail", "bob@gmail.test", "good", &key)?;
    send(inbox, Host::Vps, &message, "alice@example.test", "bob@gmail.test")?;
    let verdict = inbox.wait_for_verdict("t06 signed mail", Duration::from_secs(10))?;
    ensure!(verdict.spf.result == "pass", "spf: {:?}", verdict.spf);
    ensure!(verdict.dkim_result == "pass", "dkim: {:?}", verdict.dkim);
    ensure!(verdict.dkim[0].domain == "example.test" && verdict.dkim[0].selector == "good");
    ensure!(verdict.dmarc.result == "pass", "dmarc: {:?}", verdict.dmarc);
    ensure!(verdict.iprev.result == "pass", "iprev: {:?}", verdict.iprev);
    let tls = verdict.tls.as_ref().context("the message came without TLS")?;
    ensure!(tls.version.as_deref() == Some("TLSv1.3"), "tls: {tls:?}");
    let stored = inbox.stored_message(&verdict)?;
    ensure!(stored.starts_with("Authentication-Results: mx.gmail.test;"), "{stored}");
    Ok(())
}

fn t07_forged_sender_fails_spf_and_dmarc(inbox: &Inbox) -> Result<()> {
    publish_sender_records(inbox)?;
    // Sent from wiz, an address the domain's SPF does not list, and unsigned.
    let message = plain_message(inbox, "t07 forged sender", "carol@gmail.test")?;
    send(inbox, Host::Wiz, &message, "alice@example.test", "carol@gmail.test")?;
    let verdict = inbox.wait_for_verdict("t07 forged sender", Duration::from_secs(10))?;
    ensure!(verdict.spf.result == "fail", "spf: {:?}", verdict.spf);
    ensure!(verdict.dkim_result == "none", "dkim: {:?}", verdict.dkim);
    ensure!(verdict.dmarc.result == "fail", "dmarc: {:?}", verdict.dmarc);
    ensure!(verdict.dmarc.policy.as_deref() == Some("reject"));
    Ok(())
}

fn t08_swapped_dns_key_fails_dkim(inbox: &Inbox) -> Result<()> {
    publish_sender_records(inbox)?;
    let signing_key = dkim_key(inbox, "swap")?;
    let other_key = dkim_key(inbox, "other")?;
    publish_dkim(inbox, "swap", &other_key.dns_value)?;
    let message =
        signed_message(inbox, "t08 swapped key", "dave@gmail.test", "swap", &signing_key)?;
    send(inbox, Host::Vps, &message, "alice@example.test", "dave@gmail.test")?;
    let verdict = inbox.wait_for_verdict("t08 swapped key", Duration::from_secs(10))?;
    ensure!(verdict.dkim_result == "fail", "dkim: {:?}", verdict.dkim);
    // SPF still passes and aligns, so DMARC passes: the control isolates DKIM.
    ensure!(verdict.spf.result == "pass" && verdict.dmarc.result == "pass", "{verdict:?}");
    Ok(())
}

fn t09_imap_returns_the_stored_message(inbox: &Inbox) -> Result<()> {
    publish_sender_records(inbox)?;
    let message = plain_message(inbox, "t09 read back over imap", "erin@gmail.test")?;
    send(inbox, Host::Vps, &message, "alice@example.test", "erin@gmail.test")?;
    inbox.wait_for_verdict("t09 read back over imap", Duration::from_secs(10))?;
    let fetched = inbox.imap_fetch("erin", 1)?;
    ensure!(fetched.contains("Subject: t09 read back over imap"), "{fetched}");
    ensure!(fetched.contains("Authentication-Results: mx.gmail.test;"), "{fetched}");
    Ok(())
}

fn t10_systemd_vps_boots_and_runs_units(inbox: &Inbox) -> Result<()> {
    ensure!(inbox.ssh("cat /proc/1/comm")?.trim() == "systemd");
    let state = inbox.ssh("systemctl is-system-running --wait || true")?;
    ensure!(state.trim() == "running", "systemd says {state:?}");
    inbox.ssh(
        "printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' \
         > /etc/systemd/system/inbox-selftest.service && systemctl daemon-reload && \
         systemctl enable --now inbox-selftest.service",
    )?;
    ensure!(inbox.ssh("systemctl is-active inbox-selftest.service")?.trim() == "active");
    ensure!(
        !PathBuf::from("/etc/systemd/system/inbox-selftest.service").exists(),
        "the unit reached this machine"
    );
    Ok(())
}

fn t11_systemd_vps_resolves_through_the_box(inbox: &Inbox) -> Result<()> {
    let answer = inbox.ssh("dig +short +time=2 +tries=1 mx.gmail.test A")?;
    ensure!(answer.trim() == inbox.settings.mx_ip.to_string(), "{answer}");
    let mx = inbox.ssh("getent hosts mx.gmail.test")?;
    ensure!(
        mx.contains(&inbox.settings.mx_ip.to_string()) || mx.contains("2001:db8:100::25"),
        "{mx}"
    );
    Ok(())
}

/// The negative control of t99: the same capture and the same marks, on the box's own bridge,
/// must see the box's traffic — so an empty capture on the uplink means something.
fn t98_the_leak_detector_sees_box_traffic_where_it_flows(inbox: &Inbox) -> Result<()> {
    let file = work_dir(inbox, "capture")?.join("bridge.pcap");
    let capture = crate::capture::Capture::start_on("obx0", file)?;
    inbox.query_from(Host::Wiz, "mx.gmail.test", "A")?;
    let seen = capture.stop()?;
    ensure!(seen.iter().any(|line| line.contains("mx.gmail.test")), "the capture saw {seen:?}");
    Ok(())
}

// --- helpers ------------------------------------------------------------------------------------

/// The records a correctly set-up sender has: address, SPF, DMARC, and reverse DNS both ways.
pub fn publish_sender_records(inbox: &Inbox) -> Result<()> {
    let settings = &inbox.settings;
    inbox.publish(MAIL_HOST, "A", 60, &[&settings.vps_ip.to_string()])?;
    inbox.publish(MAIL_HOST, "AAAA", 60, &[&settings.vps_ip6.to_string()])?;
    inbox.publish(
        "example.test",
        "TXT",
        60,
        &["\"v=spf1 ip4:198.51.100.10 ip6:2001:db8:100::10 -all\""],
    )?;
    inbox.publish("_dmarc.example.test", "TXT", 60, &["\"v=DMARC1; p=reject\""])?;
    inbox.publish("10.100.51.198.in-addr.arpa", "PTR", 60, &["mail.example.test."])?;
    inbox.publish(
        "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa",
        "PTR",
        60,
        &["mail.example.test."],
    )
}

struct DkimKey {
    private: PathBuf,
    dns_value: String,
}

/// A new RSA key made by dkimpy's `dknewkey`.
fn dkim_key(inbox: &Inbox, name: &str) -> Result<DkimKey> {
    let work = work_dir(inbox, "dkim")?;
    let prefix = work.join(name);
    run(Command::new("dknewkey").args(["--ktype", "rsa"]).arg(&prefix).current_dir(&work))?;
    let dns_value = std::fs::read_to_string(prefix.with_extension("dns"))?.trim().to_string();
    Ok(DkimKey { private: prefix.with_extension("key"), dns_value })
}

/// Publishes a DKIM key, split into strings of at most 255 bytes as a DNS panel must.
fn publish_dkim(inbox: &Inbox, selector: &str, value: &str) -> Result<()> {
    let strings: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
        .collect();
    inbox.publish(&format!("{selector}._domainkey.example.test"), "TXT", 60, &[&strings.join(" ")])
}

fn plain_message(inbox: &Inbox, subject: &str, to: &str) -> Result<PathBuf> {
    let path = work_dir(inbox, "mail")?.join(format!("{}.eml", subject.replace(' ', "-")));
    let body = format!(
        "From: Alice <alice@example.test>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Date: Sun, 29 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{}@example.test>\r\n\r\n\
         A message from the box's self-test.\r\n",
        subject.replace(' ', ".")
    );
    std::fs::write(&path, body)?;
    Ok(path)
}

/// A message signed by dkimpy's `dkimsign` for example.test.
fn signed_message(
    inbox: &Inbox,
    subject: &str,
    to: &str,
    selector: &str,
    key: &DkimKey,
) -> Result<PathBuf> {
    let plain = plain_message(inbox, subject, to)?;
    let signed = plain.with_extension("signed.eml");
    let output = Command::new("dkimsign")
        .args([selector, "example.test"])
        .arg(&key.private)
        .stdin(std::fs::File::open(&plain)?)
        .output()
        .context("running dkimsign")?;
    ensure!(output.status.success(), "dkimsign: {}", String::from_utf8_lossy(&output.stderr));
    std::fs::write(&signed, output.stdout)?;
    Ok(signed)
}

/// Sends a message file to the mx with swaks from `host`, over STARTTLS.
fn send(inbox: &Inbox, host: Host, message: &std::path::Path, from: &str, to: &str) -> Result<()> {
    let server = inbox.settings.mx_ip.to_string();
    let data = message.display().to_string();
    let output = inbox.exec_output(
        host,
        &[
            "swaks", "--server", &server, "--tls", "--helo", MAIL_HOST, "--from", from, "--to", to,
            "--data", &data,
        ],
    )?;
    let transcript = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success() && transcript.contains("<~  250 2.0.0 OK"),
        "swaks failed:\n{transcript}"
    );
    Ok(())
}

/// A directory for this run's files, inside the box's state (shared with the plain vps).
fn work_dir(inbox: &Inbox, name: &str) -> Result<PathBuf> {
    let path = inbox.settings.state.join("selftest").join(name);
    std::fs::create_dir_all(&path)?;
    Ok(path)
}

pub fn run(command: &mut Command) -> Result<String> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    ensure!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
