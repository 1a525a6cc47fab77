//! The relay on a real server: the static binary the app carries, installed by hand the way the
//! installer will (user, files, the repo's systemd unit), sending mail that the box's mx judges
//! with implementations independent of ours.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use outpost_relay_api as api;
use outpost_setup::relay_admin::RelayAdmin;
use outpost_system_tests::inbox::{Host, Inbox};

use crate::Scenario;
use crate::selftest::publish_sender_records;

/// Scenarios with the systemd vps.
pub const SYSTEMD: &[Scenario] = &[
    (
        "t20_the_carried_relay_runs_under_systemd_with_the_repo_unit",
        t20_the_carried_relay_runs_under_systemd_with_the_repo_unit,
    ),
    (
        "t21_mail_submitted_to_the_relay_passes_dkim_spf_dmarc_and_iprev_at_the_mx",
        t21_mail_submitted_to_the_relay_passes_dkim_spf_dmarc_and_iprev_at_the_mx,
    ),
    (
        "t25_the_engine_installs_reinstalls_and_uninstalls_the_relay",
        t25_the_engine_installs_reinstalls_and_uninstalls_the_relay,
    ),
    (
        "t26_an_install_cut_off_halfway_is_finished_by_the_next_run",
        t26_an_install_cut_off_halfway_is_finished_by_the_next_run,
    ),
    (
        "t27_an_upgrade_that_does_not_start_is_rolled_back",
        t27_an_upgrade_that_does_not_start_is_rolled_back,
    ),
    (
        "t28_a_preinstalled_postfix_is_named_and_stopped_for_the_relay",
        t28_a_preinstalled_postfix_is_named_and_stopped_for_the_relay,
    ),
    (
        "t29_an_active_ufw_is_opened_and_587_is_verified_from_the_desktop",
        t29_an_active_ufw_is_opened_and_587_is_verified_from_the_desktop,
    ),
    (
        "t33_records_the_dns_step_calls_right_are_judged_pass_by_the_receiver",
        t33_records_the_dns_step_calls_right_are_judged_pass_by_the_receiver,
    ),
    (
        "t34_a_full_disk_stops_the_install_cleanly_and_says_so",
        t34_a_full_disk_stops_the_install_cleanly_and_says_so,
    ),
];

/// Submits a message from the wiz to the relay on port 587 (STARTTLS, AUTH PLAIN) with swaks,
/// to judge@gmail.test; returns swaks's transcript once the relay has queued it.
fn submit(inbox: &Inbox, user: &str, password: &str, subject: &str) -> Result<String> {
    let transcript = submit_as(inbox, user, password, user, subject)?;
    ensure!(
        transcript.contains("250 2.0.0 queued as"),
        "the relay did not queue {subject:?}: {transcript}"
    );
    Ok(transcript)
}

/// Like [`submit`], from the address `from` (which the login may or may not send as); returns
/// swaks's transcript whatever the relay answered.
pub(crate) fn submit_as(
    inbox: &Inbox,
    user: &str,
    password: &str,
    from: &str,
    subject: &str,
) -> Result<String> {
    let relay_ip = inbox.settings.vps_ip.to_string();
    let output = inbox.exec_output(
        Host::Wiz,
        &[
            "swaks",
            "--server",
            &relay_ip,
            "--port",
            "587",
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            user,
            "--auth-password",
            password,
            "--from",
            from,
            "--to",
            "judge@gmail.test",
            "--header",
            &format!("Subject: {subject}"),
            "--helo",
            "wiz.inbox.test",
        ],
    )?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

const UNIT: &str = include_str!("../../crates/relay/etc/outpost-relay.service");
const PASSWORD: &str = "a long test password for alice";

fn config() -> String {
    "[server]\nhostname = \"mail.example.test\"\ndomains = [\"example.test\"]\n\n\
     [[dkim]]\ndomain = \"example.test\"\nselector = \"box\"\nkey_file = \"/etc/outpost/dkim/box.pem\"\n\n\
     [queue]\nfirst_retry = \"5s\"\n"
        .to_string()
}

fn t20_the_carried_relay_runs_under_systemd_with_the_repo_unit(inbox: &Inbox) -> Result<()> {
    let share = inbox.settings.state.join("vps/share");
    std::fs::create_dir_all(&share)?;
    std::fs::write(share.join("outpost-relay"), outpost_setup::relay::executable())?;
    std::fs::write(share.join("outpost-relay.service"), UNIT)?;
    std::fs::write(share.join("relay.toml"), config())?;
    let carried = outpost_setup::relay::carried();
    let script = format!(
        "set -e\n\
         install -m 0755 /mnt/inbox/outpost-relay /usr/local/bin/outpost-relay\n\
         echo '{sha}  /usr/local/bin/outpost-relay' | sha256sum -c --quiet\n\
         id outpost >/dev/null 2>&1 || useradd --system --home-dir /var/lib/outpost --no-create-home --shell /usr/sbin/nologin outpost\n\
         install -d -m 0750 -g outpost /etc/outpost /etc/outpost/dkim\n\
         install -m 0640 -g outpost /mnt/inbox/relay.toml /etc/outpost/relay.toml\n\
         outpost-relay dkim generate --domain example.test --selector box --json > /root/dkim.json\n\
         chgrp outpost /etc/outpost/dkim/box.pem && chmod 0640 /etc/outpost/dkim/box.pem\n\
         install -m 0640 -g outpost /dev/null /etc/outpost/users\n\
         printf '%s\\n' '{PASSWORD}' | outpost-relay user add alice@example.test\n\
         install -m 0644 /mnt/inbox/outpost-relay.service /etc/systemd/system/outpost-relay.service\n\
         systemctl daemon-reload\n\
         systemctl enable --now outpost-relay.service\n",
        sha = carried.sha256
    );
    inbox.ssh(&script).context("installing the relay")?;
    // Active, listening, and `status` says so.
    let mut active = String::new();
    for _ in 0..100 {
        active = inbox.ssh("systemctl is-active outpost-relay.service || true")?;
        if active.trim() == "active"
            && inbox.ssh("outpost-relay status --json >/dev/null 2>&1 && echo yes || true")?.trim()
                == "yes"
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ensure!(
        active.trim() == "active",
        "the service is {active:?}: {}",
        inbox.ssh("journalctl -u outpost-relay --no-pager -n 30 || true")?
    );
    let status: api::Status = reply(&inbox.ssh("outpost-relay status --json")?)?;
    ensure!(status.running, "{status:?}");
    ensure!(status.version == carried.version, "{status:?}");
    let listening = |mode, address: &str| {
        status.listeners.iter().any(|listener| {
            listener.mode == mode && listener.address == address.parse().expect("an address")
        })
    };
    ensure!(
        listening(api::ListenerMode::Submission, "0.0.0.0:587")
            && listening(api::ListenerMode::Submissions, "[::]:465"),
        "{:?}",
        status.listeners
    );
    ensure!(status.certificates[0].is_self_signed(), "{status:?}");
    // The unit's sandbox is in force: the relay runs as `outpost`, not root.
    let user = inbox.ssh("ps -o user= -C outpost-relay | head -1")?;
    ensure!(user.trim() == "outpost", "the relay runs as {user:?}");
    Ok(())
}

fn t21_mail_submitted_to_the_relay_passes_dkim_spf_dmarc_and_iprev_at_the_mx(
    inbox: &Inbox,
) -> Result<()> {
    publish_sender_records(inbox)?;
    let record: api::DkimRecord = reply(&inbox.ssh("cat /root/dkim.json")?)?;
    let strings: Vec<String> =
        api::split_txt(&record.txt).iter().map(|part| format!("\"{part}\"")).collect();
    inbox.publish("box._domainkey.example.test", "TXT", 60, &[&strings.join(" ")])?;
    let subject = "t21 through the relay";
    submit(inbox, "alice@example.test", PASSWORD, subject)?;
    let verdict = inbox.wait_for_verdict(subject, Duration::from_secs(30))?;
    ensure!(verdict.dkim_result == "pass", "dkim: {:?}", verdict.dkim);
    ensure!(verdict.dkim.iter().any(|dkim| dkim.domain == "example.test"
        && dkim.selector == "box"
        && dkim.result == "pass"));
    ensure!(verdict.spf.result == "pass", "spf: {:?}", verdict.spf);
    ensure!(verdict.dmarc.result == "pass", "dmarc: {:?}", verdict.dmarc);
    ensure!(verdict.iprev.result == "pass", "iprev: {:?}", verdict.iprev);
    ensure!(verdict.helo == "mail.example.test", "helo: {}", verdict.helo);
    ensure!(
        verdict.tls.as_ref().and_then(|tls| tls.version.as_deref()) == Some("TLSv1.3"),
        "tls: {:?}",
        verdict.tls
    );
    // The delivery record the app's test-email step will read.
    let mut status: Option<api::Status> = None;
    for _ in 0..50 {
        let now: api::Status = reply(&inbox.ssh("outpost-relay status --json")?)?;
        let delivered = !now.recent_deliveries.is_empty();
        status = Some(now);
        if delivered {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = status.context("a status")?;
    let delivery = status.recent_deliveries.first().context("a delivery")?;
    ensure!(delivery.recipient == "judge@gmail.test", "{status:?}");
    ensure!(delivery.record.outcome == api::Outcome::Delivered, "{status:?}");
    ensure!(delivery.record.host.as_deref() == Some("mx.gmail.test"), "{status:?}");
    ensure!(delivery.record.tls_version.as_deref() == Some("TLSv1.3"), "{status:?}");
    Ok(())
}

/// The data of an admin command's `--json` reply (the relay's typed admin protocol).
fn reply<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    match serde_json::from_str::<api::Response<T>>(text)?.reply {
        api::Reply::Ok(data) => Ok(data),
        api::Reply::Error(error) => anyhow::bail!("the relay answered an error: {error:?}"),
    }
}

/// Secrets kept in memory for the test (the app uses the OS keychain).
#[derive(Default)]
pub(crate) struct TestSecrets(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl TestSecrets {
    /// The SMTP password the install kept for `user`.
    fn smtp_password(&self, user: &str) -> Result<String> {
        self.0
            .lock()
            .expect("lock")
            .get(&format!("smtp-password:{user}"))
            .cloned()
            .context("the SMTP password is in the keychain")
    }
}

impl outpost_setup::secrets::SecretStore for TestSecrets {
    fn set<'a>(
        &'a self,
        name: &'a outpost_setup::secrets::SecretName,
        value: &'a str,
    ) -> outpost_setup::secrets::Pending<'a, ()> {
        self.0.lock().expect("lock").insert(name.account(), value.to_string());
        Box::pin(async { Ok(()) })
    }
    fn get<'a>(
        &'a self,
        name: &'a outpost_setup::secrets::SecretName,
    ) -> outpost_setup::secrets::Pending<'a, Option<String>> {
        let value = self.0.lock().expect("lock").get(&name.account()).cloned();
        Box::pin(async move { Ok(value) })
    }
    fn delete<'a>(
        &'a self,
        name: &'a outpost_setup::secrets::SecretName,
    ) -> outpost_setup::secrets::Pending<'a, ()> {
        self.0.lock().expect("lock").remove(&name.account());
        Box::pin(async { Ok(()) })
    }
}

/// A root SSH session to the vps, through the engine.
pub(crate) async fn engine_session(inbox: &Inbox) -> Result<outpost_setup::ssh::Session> {
    let pinned = &inbox.settings.ssh_host_fingerprint;
    Ok(outpost_setup::ssh::connect(
        &crate::ssh::target(inbox),
        &crate::ssh::password(inbox),
        pinned,
    )
    .await?)
}

fn engine_input() -> Result<outpost_setup::install::Input> {
    let text = "[server]\nhostname = \"mail.example.test\"\ndomains = [\"example.test\"]\n\n\
                [[dkim]]\ndomain = \"example.test\"\nselector = \"engine\"\nkey_file = \"/etc/outpost/dkim/engine.pem\"\n";
    let config = outpost_relay_config::Config::parse(text, std::path::Path::new("wizard"))
        .map_err(anyhow::Error::msg)?;
    Ok(outpost_setup::install::Input {
        config,
        smtp_user: "alice@example.test".into(),
        aliases: Vec::new(),
    })
}

fn t25_the_engine_installs_reinstalls_and_uninstalls_the_relay(inbox: &Inbox) -> Result<()> {
    use outpost_setup::install;
    crate::ssh::block_on(async {
        let session = engine_session(inbox).await?;
        let input = engine_input()?;
        let secrets = TestSecrets::default();
        // Start from a server without the relay (t20 installed one by hand).
        install::uninstall(&session, &input, &secrets).await?;
        ensure!(
            inbox
                .ssh("test -e /usr/local/bin/outpost-relay || test -e /etc/outpost || echo gone")?
                .trim()
                == "gone"
        );

        let started = std::time::Instant::now();
        let mut stages = Vec::new();
        let mut events = Vec::new();
        let steps = install::install(&session, &input, &secrets, &mut |event| {
            if let outpost_setup::progress::Progress::Stage { id } = &event {
                stages.push(*id);
            }
            events.push(format!("{event:?}"));
        })
        .await?;
        let took = started.elapsed();
        ensure!(stages == install::STAGES, "progress reported every stage: {stages:?}");
        // No firewall is active and IPv6 is on in the vps, and this relay does not receive (no
        // aliases to set): those three have nothing to do.
        let idle = [install::Stage::Firewall, install::Stage::Ipv6, install::Stage::Aliases];
        ensure!(
            steps.iter().all(|step| step.changed != idle.contains(&step.stage)),
            "a fresh install changes everything else: {steps:?}"
        );
        ensure!(inbox.ssh("systemctl is-active outpost-relay")?.trim() == "active");
        let password = secrets.smtp_password("alice@example.test")?;
        ensure!(
            secrets
                .0
                .lock()
                .expect("lock")
                .get("dkim-key:engine._domainkey.example.test")
                .is_some_and(|pem| pem.contains("PRIVATE KEY"))
        );
        // What the Install screen's live log shows carries no secret: every event was looked at.
        ensure!(
            events.iter().all(|event| !event.contains("PRIVATE KEY") && !event.contains(&password)),
            "a secret reached the progress events"
        );
        eprintln!("t25: install took {:.1} s", took.as_secs_f64());

        // The installed relay accepts an authenticated submission.
        let transcript = submit(inbox, "alice@example.test", &password, "t25 engine install")?;
        ensure!(transcript.contains("235 2.7.0"), "{transcript}");

        // A second run changes nothing.
        let again = install::install(&session, &input, &secrets, &mut |_| {}).await?;
        ensure!(again.iter().all(|step| !step.changed), "{again:?}");

        // The server checks know Outpost's relay: its own ports are no conflict, and a stopped
        // relay is named (no mail goes out while it is stopped).
        use outpost_setup::checks::{self, Finding, Verdict};
        let carried = outpost_setup::relay::carried();
        let settings = checks::Settings {
            outbound_probe: format!("{}:25", inbox.settings.mx_ip),
            mail_host: None,
        };
        let find = |results: &[checks::Check], relay: bool| {
            results
                .iter()
                .find(|check| {
                    matches!(check.found, Finding::Relay { .. }) == relay
                        && (relay || matches!(check.found, Finding::Ports { .. }))
                })
                .cloned()
        };
        let running = checks::run_all(&session, &settings).await?;
        let ports = find(&running, false).context("ports")?;
        ensure!(ports.verdict == Verdict::Pass, "the relay's own ports: {ports:?}");
        let relay = find(&running, true).context("relay")?;
        ensure!(
            relay.found == Finding::Relay { version: Some(carried.version.into()), running: true },
            "{relay:?}"
        );
        inbox.ssh("systemctl stop outpost-relay")?;
        let stopped = find(&checks::run_all(&session, &settings).await?, true).context("relay")?;
        ensure!(
            stopped.verdict == Verdict::Warn
                && matches!(stopped.found, Finding::Relay { running: false, .. }),
            "{stopped:?}"
        );

        // Uninstall removes what install added, keychain entries included.
        install::uninstall(&session, &input, &secrets).await?;
        ensure!(inbox.ssh("systemctl is-active outpost-relay || true")?.trim() != "active");
        ensure!(inbox.ssh("test -e /usr/local/bin/outpost-relay || test -e /etc/outpost || id outpost >/dev/null 2>&1 || echo gone")?.trim() == "gone");
        ensure!(secrets.0.lock().expect("lock").is_empty(), "keychain entries left behind");
        session.close().await;
        Ok(())
    })
}

fn t26_an_install_cut_off_halfway_is_finished_by_the_next_run(inbox: &Inbox) -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use outpost_setup::install;
    use outpost_setup::progress::Progress;
    crate::ssh::block_on(async {
        let session = engine_session(inbox).await?;
        let input = engine_input()?;
        let secrets = TestSecrets::default();
        install::uninstall(&session, &input, &secrets).await?;
        // Cut the connection as soon as the install reaches the DKIM step.
        let reached = Arc::new(AtomicBool::new(false));
        let flag = reached.clone();
        let mut on_progress = move |event: Progress| {
            if event == (Progress::Stage { id: install::Stage::Dkim }) {
                flag.store(true, Ordering::SeqCst);
            }
        };
        tokio::select! {
            result = install::install(&session, &input, &secrets, &mut on_progress) => anyhow::bail!("the install finished before it could be cut: {result:?}"),
            _ = async { while !reached.load(Ordering::SeqCst) { tokio::time::sleep(std::time::Duration::from_millis(5)).await } } => {}
        }
        drop(session); // the connection goes, mid-install
        ensure!(
            inbox.ssh("systemctl is-active outpost-relay || true")?.trim() != "active",
            "nothing was started yet"
        );
        // The next run finishes the job.
        let session = engine_session(inbox).await?;
        let steps = install::install(&session, &input, &secrets, &mut |_| {}).await?;
        ensure!(
            steps
                .iter()
                .find(|step| step.stage == install::Stage::Binary)
                .is_some_and(|step| !step.changed),
            "the binary was already in place: {steps:?}"
        );
        ensure!(inbox.ssh("systemctl is-active outpost-relay")?.trim() == "active");
        let again = install::install(&session, &input, &secrets, &mut |_| {}).await?;
        ensure!(again.iter().all(|step| !step.changed), "{again:?}");
        install::uninstall(&session, &input, &secrets).await?;
        session.close().await;
        Ok(())
    })
}

fn t27_an_upgrade_that_does_not_start_is_rolled_back(inbox: &Inbox) -> Result<()> {
    use outpost_setup::install;
    use sha2::{Digest, Sha256};
    crate::ssh::block_on(async {
        let session = engine_session(inbox).await?;
        let input = engine_input()?;
        let secrets = TestSecrets::default();
        install::install(&session, &input, &secrets, &mut |_| {}).await?;
        // A "new version" that answers every command but cannot serve: it passes the checks made
        // before the swap and fails only once systemd starts it.
        inbox.ssh("cp /usr/local/bin/outpost-relay /usr/local/bin/outpost-relay.real")?;
        let broken: &[u8] = b"#!/bin/sh\nif [ \"$1\" = serve ]; then echo 'cannot serve' >&2; exit 1; fi\nexec /usr/local/bin/outpost-relay.real \"$@\"\n";
        let sha: String = Sha256::digest(broken).iter().map(|byte| format!("{byte:02x}")).collect();
        let artifact = install::Artifact { bytes: broken, sha256: &sha, version: "9.9.9-broken" };
        let result =
            install::install_with(&session, &input, &secrets, &mut |_| {}, &artifact).await;
        ensure!(
            matches!(&result, Err(install::Error::RolledBack { version, .. }) if version == "9.9.9-broken"),
            "{result:?}"
        );
        let carried = outpost_setup::relay::carried();
        ensure!(
            inbox.ssh("sha256sum /usr/local/bin/outpost-relay")?.starts_with(carried.sha256),
            "the previous binary is back"
        );
        ensure!(inbox.ssh("systemctl is-active outpost-relay")?.trim() == "active", "and running");
        install::uninstall(&session, &input, &secrets).await?;
        inbox.ssh("rm -f /usr/local/bin/outpost-relay.real")?;
        session.close().await;
        Ok(())
    })
}

fn t28_a_preinstalled_postfix_is_named_and_stopped_for_the_relay(inbox: &Inbox) -> Result<()> {
    use outpost_setup::checks::{self, Verdict};
    use outpost_setup::install;
    crate::ssh::block_on(async {
        let session = engine_session(inbox).await?;
        // The machine's Postfix (masked in the vps like every unit the machine enables) is
        // what a provider's image would have running.
        inbox.ssh(
            "systemctl unmask --quiet postfix postfix@- && systemctl enable --now --quiet postfix",
        )?;
        let settings = checks::Settings {
            outbound_probe: format!("{}:25", inbox.settings.mx_ip),
            mail_host: None,
        };
        let mut ports = None;
        for _ in 0..50 {
            let found = checks::run_all(&session, &settings).await?;
            let check = found
                .into_iter()
                .find(|check| matches!(check.found, checks::Finding::Ports { .. }))
                .context("ports")?;
            if check.verdict == Verdict::Fail {
                ports = Some(check);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ports = ports.context("Postfix on port 25 was never reported")?;
        // Named as the Postfix the install can stop (the screen's "stop it for me" button).
        ensure!(
            matches!(&ports.found, checks::Finding::Ports { busy } if busy.iter().any(|port|
                port.port == 25 && port.mail_server == Some(install::MailServer::Postfix))),
            "{ports:?}"
        );

        let mut log = Vec::new();
        let stopped = install::stop_other_mail_servers(&session, &mut |event| {
            log.push(format!("{event:?}"));
        })
        .await?;
        ensure!(stopped == [install::MailServer::Postfix], "{stopped:?}");
        ensure!(log.iter().any(|line| line.contains("disable --now postfix")), "{log:?}");
        ensure!(inbox.ssh("systemctl is-enabled postfix || true")?.trim() == "disabled");
        let after = checks::run_all(&session, &settings).await?;
        let ports = after
            .iter()
            .find(|check| matches!(check.found, checks::Finding::Ports { .. }))
            .context("ports")?;
        ensure!(ports.verdict == Verdict::Pass, "{ports:?}");
        // Nothing left to stop: a second run is a no-op.
        ensure!(install::stop_other_mail_servers(&session, &mut |_| {}).await?.is_empty());
        session.close().await;
        Ok(())
    })
}

fn t29_an_active_ufw_is_opened_and_587_is_verified_from_the_desktop(inbox: &Inbox) -> Result<()> {
    use outpost_setup::{install, probe};
    crate::ssh::block_on(async {
        let session = engine_session(inbox).await?;
        let input = engine_input()?;
        let secrets = TestSecrets::default();
        install::uninstall(&session, &input, &secrets).await?;
        inbox.ssh("ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null")?;
        let result = async {
            let steps = install::install(&session, &input, &secrets, &mut |_| {}).await?;
            let firewall = steps
                .iter()
                .find(|step| step.stage == install::Stage::Firewall)
                .context("a firewall step")?;
            ensure!(
                firewall.changed
                    && firewall.detail
                        == install::Detail::FirewallOpened {
                            manager: install::Firewall::Ufw,
                            ports: vec![465, 587]
                        },
                "{firewall:?}"
            );
            let rules = inbox.ssh("ufw status")?;
            ensure!(rules.contains("587/tcp") && rules.contains("465/tcp"), "{rules}");

            // From this machine (the user's desktop), through the firewall: STARTTLS with the
            // relay's own certificate, and AUTH only after TLS.
            let status = RelayAdmin::new(&session).status().await?;
            let certificate = status.certificates.first().context("a certificate")?;
            ensure!(certificate.is_self_signed() && certificate.sha256.len() == 64, "{status:?}");
            let host = inbox.settings.vps_ip.to_string();
            let seen =
                probe::submission(&host, 587, &probe::Trust::Pinned(certificate.sha256.clone()))
                    .await?;
            ensure!(seen.tls_version == "TLSv1_3", "{seen:?}");
            ensure!(!seen.auth_before_tls && seen.auth.contains(&"PLAIN".to_string()), "{seen:?}");
            // Another certificate (something in between answering) is refused by name.
            let wrong = probe::submission(&host, 587, &probe::Trust::Pinned("0".repeat(64))).await;
            ensure!(matches!(wrong, Err(probe::Error::WrongCertificate { .. })), "{wrong:?}");

            let again = install::install(&session, &input, &secrets, &mut |_| {}).await?;
            ensure!(again.iter().all(|step| !step.changed), "{again:?}");
            install::uninstall(&session, &input, &secrets).await?;
            let rules = inbox.ssh("ufw status")?;
            ensure!(!rules.contains("587") && !rules.contains("465"), "closed again: {rules}");
            Ok(())
        }
        .await;
        inbox.ssh("ufw --force disable >/dev/null")?;
        session.close().await;
        result
    })
}

fn t33_records_the_dns_step_calls_right_are_judged_pass_by_the_receiver(
    inbox: &Inbox,
) -> Result<()> {
    use outpost_setup::choices::Domain;
    use outpost_setup::dns::check::Status;
    use outpost_setup::dns::records::{DmarcPolicy, Kind};
    use outpost_setup::dns::report::{self, Settings};
    use outpost_setup::{checks, install, profile};
    crate::ssh::block_on(async {
        let session = engine_session(inbox).await?;
        // What the wizard does: the domain's choices, the install, then the DNS step.
        let domain = Domain::new(
            "example.test",
            "",
            "alice@example.test",
            "",
            true,
            DmarcPolicy::Quarantine,
        )
        .map_err(anyhow::Error::msg)?;
        let input = domain.relay_input(&[], outpost_setup::certificate::Tls::SelfSigned)?;
        let secrets = TestSecrets::default();
        install::install(&session, &input, &secrets, &mut |_| {}).await?;
        let admin = RelayAdmin::new(&session);
        let installed = profile::Installed {
            relay_version: admin.status().await?.version,
            addresses: checks::public_addresses(&session).await?,
            dkim: admin
                .dkim_records()
                .await?
                .iter()
                .map(|record| (record.name(), record.txt.clone()))
                .collect(),
            smtp_user: input.smtp_user.clone(),
        };
        let dns = domain.dns_input(&installed, None);
        let settings = Settings {
            finders: vec![std::net::SocketAddr::new(inbox.settings.dns_ip, 53)],
            public_resolvers: vec![std::net::SocketAddr::new(inbox.settings.res_ip, 53)],
        };
        // The user publishes what the step shows, as shown.
        for line in report::report(&dns, &settings).await?.lines {
            let record = &line.checked.record;
            let value = if record.kind == Kind::TXT {
                record.quoted_strings()
            } else {
                record.value.clone()
            };
            inbox.publish(&record.name, &format!("{:?}", record.kind), 60, &[&value])?;
        }
        let right = report::report(&dns, &settings).await?;
        ensure!(
            right.lines.iter().all(|line| line.checked.status == Status::Ok),
            "{:?}",
            right
                .lines
                .iter()
                .map(|line| (line.checked.record.purpose, &line.checked.status))
                .collect::<Vec<_>>()
        );
        ensure!(
            right.verdict.next.is_none() && right.verdict.right == right.verdict.total,
            "{:?}",
            right.verdict
        );
        ensure!(right.spf.iter().all(|spf| spf.result == "pass"), "{:?}", right.spf);

        // And the receiver agrees: mail through the relay passes everything it checks.
        let password = secrets.smtp_password("alice@example.test")?;
        let subject = "t33 what the DNS step promised";
        submit(inbox, "alice@example.test", &password, subject)?;
        let verdict = inbox.wait_for_verdict(subject, Duration::from_secs(30))?;
        let result = (|| {
            ensure!(
                verdict.dkim.iter().any(|dkim| dkim.selector == "outpost" && dkim.result == "pass"),
                "dkim: {:?}",
                verdict.dkim
            );
            ensure!(verdict.spf.result == "pass", "spf: {:?}", verdict.spf);
            ensure!(verdict.dmarc.result == "pass", "dmarc: {:?}", verdict.dmarc);
            ensure!(verdict.iprev.result == "pass", "iprev: {:?}", verdict.iprev);
            Ok(())
        })();
        install::uninstall(&session, &input, &secrets).await?;
        session.close().await;
        result
    })
}

fn t34_a_full_disk_stops_the_install_cleanly_and_says_so(inbox: &Inbox) -> Result<()> {
    use outpost_setup::install;
    crate::ssh::block_on(async {
        let session = engine_session(inbox).await?;
        let input = engine_input()?;
        let secrets = TestSecrets::default();
        install::uninstall(&session, &input, &secrets).await?;
        // A file system with room for 1 MB where the 8 MB relay goes.
        inbox.ssh("mount -t tmpfs -o size=1m tmpfs /usr/local/bin")?;
        let full = install::install(&session, &input, &secrets, &mut |_| {}).await;
        let left = inbox.ssh(
            "ls -A /usr/local/bin; test -e /etc/systemd/system/outpost-relay.service && echo unit; \
             id outpost >/dev/null 2>&1 && echo user; true",
        );
        inbox.ssh("umount /usr/local/bin")?;
        ensure!(
            matches!(&full, Err(install::Error::DiskFull { stage: install::Stage::Binary, detail })
                if detail.contains("No space left on device")),
            "{full:?}"
        );
        ensure!(left?.trim().is_empty(), "nothing half-installed is left behind");
        // With room again, the same install completes.
        install::install(&session, &input, &secrets, &mut |_| {}).await?;
        ensure!(inbox.ssh("systemctl is-active outpost-relay")?.trim() == "active");
        install::uninstall(&session, &input, &secrets).await?;
        session.close().await;
        Ok(())
    })
}
