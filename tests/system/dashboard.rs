//! Step 10 in the box: the dashboard's health from one `health` call and this computer's own
//! checks, judged against what is really there — then the things that go wrong on a server
//! one lives with (a blocklist listing, outgoing port 25 blocked, a message stuck in the
//! queue, the relay stopped), each seen by the same call, and the queue's buttons.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use outpost_setup::app;
use outpost_setup::checks::Verdict;
use outpost_setup::health::{Found, Health, VersionStanding};
use outpost_setup::secrets::SecretName;
use outpost_setup::secrets::SecretStore;
use outpost_setup::test_email::{Delivery, ImapAccount, TestEmail};
use outpost_system_tests::inbox::Inbox;

use crate::Scenario;
use crate::relay::TestSecrets;

/// Scenarios with the systemd vps.
pub const SYSTEMD: &[Scenario] = &[
    (
        "t80_the_dashboard_judges_the_real_server_and_sees_what_goes_wrong",
        t80_the_dashboard_judges_the_real_server_and_sees_what_goes_wrong,
    ),
    (
        "t81_a_backup_rebuilds_the_relay_on_a_fresh_server_with_its_keys_logins_and_secrets",
        t81_a_backup_rebuilds_the_relay_on_a_fresh_server_with_its_keys_logins_and_secrets,
    ),
    (
        "t82_a_second_domain_on_the_same_relay_sends_receives_and_is_removed_cleanly",
        t82_a_second_domain_on_the_same_relay_sends_receives_and_is_removed_cleanly,
    ),
];

fn verdict(health: &Health, id: &str) -> Option<Verdict> {
    health
        .items
        .iter()
        .find(|item| serde_json::to_value(&item.found).ok().is_some_and(|found| found["id"] == id))
        .map(|item| item.verdict)
}

fn found(health: &Health, wanted: fn(&Found) -> bool) -> Result<&Found> {
    health
        .items
        .iter()
        .map(|item| &item.found)
        .find(|found| wanted(found))
        .with_context(|| format!("not among {:#?}", health.items))
}

fn t80_the_dashboard_judges_the_real_server_and_sees_what_goes_wrong(inbox: &Inbox) -> Result<()> {
    crate::ssh::block_on(async {
        let secrets = TestSecrets::default();
        let mut profile = crate::certificate::wizard_profile(inbox, &secrets).await?;
        let trusted = crate::certificate::desktop_roots(inbox, "t80-roots.pem")?;
        let settings = outpost_setup::settings::Settings {
            // The server's port-25 probe goes to the box's mail server, never outside.
            outbound_probe: Some(format!("{}:25", inbox.settings.mx_ip)),
            ..crate::certificate::settings(inbox, &trusted)
        };
        let (_, installed) = app::install(&profile, &secrets, &settings, &mut |_| {})
            .await
            .context("the install")?;
        profile.installed = Some(installed);
        // The user publishes every record the DNS step shows, before and after the certificate.
        let publish_all = async |profile: &outpost_setup::profile::Profile| -> Result<()> {
            let report = app::dns_report(profile, &settings).await?;
            crate::dns::publish_records(inbox, report.lines.iter().map(|line| &line.checked.record))
        };
        publish_all(&profile).await?;
        let (_, choice) = app::get_certificate(&profile, &secrets, &settings, &mut |_| {})
            .await
            .context("the Certificate step")?;
        profile.certificate = Some(choice);
        publish_all(&profile).await?;
        // No listing left by an earlier scenario.
        let listing = "10.100.51.198.zen.spamhaus.org";
        inbox.remove(listing, "A")?;

        let health = async || -> Result<Health> {
            let started = std::time::Instant::now();
            let health = app::health(&profile, &secrets, &settings).await?;
            eprintln!("t80: health read and judged in {:?}", started.elapsed());
            Ok(health)
        };

        // Everything works: every item green (DNS may still be spreading to the resolver).
        let all = health().await?;
        for item in &all.items {
            let spreading =
                matches!(item.found, Found::Dns { .. }) && item.verdict == Verdict::Warn;
            ensure!(item.verdict == Verdict::Pass || spreading, "{item:#?}");
        }
        ensure!(
            matches!(found(&all, |f| matches!(f, Found::Relay { .. }))?, Found::Relay { running: true, since: Some(since) } if *since <= all.checked),
            "{:#?}",
            all.items
        );
        let Found::Ports { open, closed } = found(&all, |f| matches!(f, Found::Ports { .. }))?
        else {
            unreachable!()
        };
        ensure!(
            closed.is_empty() && [80, 443, 465, 587].iter().all(|port| open.contains(port)),
            "{open:?} {closed:?}"
        );
        let Found::Certificate { issuer, self_signed, expires, .. } =
            found(&all, |f| matches!(f, Found::Certificate { .. }))?
        else {
            unreachable!()
        };
        ensure!(
            !self_signed && issuer.contains("Pebble") && *expires > all.checked,
            "{issuer} {expires}"
        );
        ensure!(
            matches!(
                found(&all, |f| matches!(f, Found::Version { .. }))?,
                Found::Version { standing: VersionStanding::Current, .. }
            ),
            "{:#?}",
            all.items
        );
        ensure!(
            matches!(
                found(&all, |f| matches!(f, Found::Disk { .. }))?,
                Found::Disk { free_mb: Some(_), total_mb: Some(_) }
            ),
            "{:#?}",
            all.items
        );
        let Found::Dns { right, total, .. } = found(&all, |f| matches!(f, Found::Dns { .. }))?
        else {
            unreachable!()
        };
        ensure!(right == total, "{right} of {total} DNS records");

        // The test email goes out: the dashboard lists its delivery, over TLS.
        let request = TestEmail {
            to: "bob@gmail.test".into(),
            imap: Some(ImapAccount {
                host: inbox.settings.mx_ip.to_string(),
                port: 993,
                user: "bob".into(),
            }),
        };
        let words = crate::test_email::english("example.test");
        let login = request.imap.as_ref().context("imap")?.login();
        secrets.set(&SecretName::ImapPassword { login }, &inbox.settings.imap_password).await?;
        let sent =
            app::send_test_email(&profile, &secrets, &settings, &request, &words, &mut |_| {})
                .await?;
        ensure!(matches!(sent.delivery, Delivery::Delivered { .. }), "{:#?}", sent.delivery);
        // The relay writes its status every 2 s.
        let mut after = health().await?;
        for _ in 0..20 {
            if !after.deliveries.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            after = health().await?;
        }
        let delivery = after.deliveries.first().context("no delivery listed")?;
        ensure!(delivery.recipient == "bob@gmail.test", "{delivery:?}");
        ensure!(delivery.record.tls_version.as_deref() == Some("TLSv1.3"), "{delivery:?}");
        ensure!(
            matches!(found(&after, |f| matches!(f, Found::Deliveries { .. }))?, Found::Deliveries { counts } if counts.delivered >= 1),
            "{:#?}",
            after.items
        );

        // Listed on Spamhaus ZEN: red, naming the list; unlisted again, green.
        inbox.publish(listing, "A", 60, &["127.0.0.2"])?;
        let listed = health().await?;
        inbox.remove(listing, "A")?;
        ensure!(verdict(&listed, "blocklists") == Some(Verdict::Fail), "{:#?}", listed.items);
        let Found::Blocklists { listed: entries, .. } =
            found(&listed, |f| matches!(f, Found::Blocklists { .. }))?
        else {
            unreachable!()
        };
        ensure!(entries.iter().any(|entry| entry.list.name == "Spamhaus ZEN"), "{entries:?}");

        // Outgoing port 25 blocked by the "provider": the probe says so, and a message waits.
        let block = "OUTPUT -p tcp --dport 25 -j REJECT --reject-with tcp-reset";
        inbox.ssh(&format!("iptables -I {block} && ip6tables -I {block}"))?;
        let blocked = async {
            let waiting =
                app::send_test_email(&profile, &secrets, &settings, &request, &words, &mut |_| {})
                    .await?;
            ensure!(
                matches!(waiting.delivery, Delivery::Waiting { .. }),
                "{:#?}",
                waiting.delivery
            );
            health().await
        }
        .await;
        let blocked = match blocked {
            Ok(blocked) => blocked,
            Err(error) => {
                inbox.ssh(&format!("iptables -D {block}; ip6tables -D {block}"))?;
                return Err(error);
            }
        };
        ensure!(verdict(&blocked, "outbound25") == Some(Verdict::Fail), "{:#?}", blocked.items);
        ensure!(verdict(&blocked, "blocklists") == Some(Verdict::Pass), "{:#?}", blocked.items);
        // (Earlier scenarios may have left messages of their own in the queue.)
        let waiting = blocked
            .queue
            .iter()
            .find(|item| item.recipients.iter().any(|r| r.address == "bob@gmail.test"))
            .with_context(|| format!("the test email is not queued: {:?}", blocked.queue))?;
        ensure!(
            matches!(
                found(&blocked, |f| matches!(f, Found::Queue { .. }))?,
                Found::Queue { waiting, .. } if *waiting >= 1
            ),
            "{:#?}",
            blocked.items
        );
        // "Retry now" reaches the relay; "Delete" removes it, and nobody gets it.
        let id = waiting.id.clone();
        app::queue_retry(&profile, &secrets, &id).await?;
        let deleted = app::queue_delete(&profile, &secrets, &id).await;
        inbox.ssh(&format!("iptables -D {block}; ip6tables -D {block}"))?;
        ensure!(deleted?.id == id, "deleted another message");
        let mut emptied = None;
        for _ in 0..20 {
            let now = health().await?;
            if !now.queue.iter().any(|item| item.id == id) {
                emptied = Some(now);
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let emptied = emptied.context("the deleted message is still queued")?;
        ensure!(verdict(&emptied, "outbound25") == Some(Verdict::Pass), "{:#?}", emptied.items);
        let again = app::queue_delete(&profile, &secrets, &id).await;
        ensure!(again.is_err(), "a second delete found the message: {again:?}");

        // DKIM rotation. Stage 1: a new key under the next selector; the relay still signs
        // with the old one, and the switch waits for the new record.
        // On a copy of the profile (the health check above holds the original).
        let mut rotated = profile.clone();
        let rotation = app::dkim_rotation_start(&rotated, &secrets).await?;
        ensure!(
            (rotation.from.as_str(), rotation.to.as_str(), rotation.record.as_str())
                == ("outpost", "outpost2", "outpost2._domainkey.example.test"),
            "{rotation:?}"
        );
        rotated.dkim_rotation = Some(rotation.clone());
        let early = app::dkim_rotation_switch(&rotated, &secrets, &settings, &mut |_| {}).await?;
        ensure!(
            matches!(
                early,
                (
                    app::DkimSwitch::NotVisible {
                        status: outpost_setup::dns::check::Status::Missing
                    },
                    None
                )
            ),
            "{early:?}"
        );
        // The DNS step lists the new record beside the current one; published as a user would.
        publish_all(&rotated).await?;
        // Stage 2: visible at the zone's servers, so signing switches.
        let (switched, installed) =
            app::dkim_rotation_switch(&rotated, &secrets, &settings, &mut |_| {}).await?;
        let app::DkimSwitch::Switched { at } = switched else {
            anyhow::bail!("not switched: {switched:?}");
        };
        rotated.installed = installed;
        if let (Some(domain), Some(rotation)) = (&mut rotated.domain, &mut rotated.dkim_rotation) {
            domain.dkim_selector = rotation.to.clone();
            rotation.switched = Some(at);
        }
        let signed =
            app::send_test_email(&rotated, &secrets, &settings, &request, &words, &mut |_| {})
                .await?;
        ensure!(
            signed.signatures.iter().all(|signature| signature.selector == "outpost2")
                && !signed.signatures.is_empty(),
            "{:?}",
            signed.signatures
        );
        let computed = signed.computed.as_ref().context("a computed verdict")?;
        ensure!(
            computed.dkim_result() == outpost_setup::test_email::AuthResult::Pass,
            "{computed:#?}"
        );
        // The old record stays in the plan (and right) for the week after the switch.
        let dns = app::dns_report(&rotated, &settings).await?;
        let old = dns
            .lines
            .iter()
            .find(|line| line.checked.record.name == "outpost._domainkey.example.test.")
            .context("the old record left the plan")?;
        ensure!(old.checked.status == outpost_setup::dns::check::Status::Ok, "{old:?}");
        // Stage 3 waits for the week.
        let finish = app::dkim_rotation_finish(&rotated, &secrets).await;
        ensure!(
            matches!(finish, Err(app::Error::NotReady(app::Missing::OldDkimKeyInUse { until })) if until == at + 7 * 86_400),
            "{finish:?}"
        );

        // The relay stopped on the server: red, since when it was last seen.
        inbox.ssh("systemctl stop outpost-relay")?;
        let stopped = health().await;
        inbox.ssh("systemctl start outpost-relay")?;
        let stopped = stopped?;
        ensure!(
            matches!(stopped.items[0].found, Found::Relay { running: false, since: Some(_) })
                && stopped.items[0].verdict == Verdict::Fail,
            "{:#?}",
            stopped.items
        );
        ensure!(verdict(&stopped, "ports").is_none(), "ports judged of a stopped relay");
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(())
    })
}

fn t81_a_backup_rebuilds_the_relay_on_a_fresh_server_with_its_keys_logins_and_secrets(
    inbox: &Inbox,
) -> Result<()> {
    crate::ssh::block_on(async {
        let secrets = TestSecrets::default();
        let mut profile = crate::certificate::wizard_profile(inbox, &secrets).await?;
        // A domain that receives: the relay then has aliases and SRS secrets too.
        let receiving = outpost_setup::choices::Domain::new(
            "example.test",
            "",
            "alice@example.test",
            "bob@gmail.test",
            true,
            outpost_setup::dns::records::DmarcPolicy::None,
        )
        .map_err(anyhow::Error::msg)?;
        profile.domain = Some(receiving);
        let trusted = crate::certificate::desktop_roots(inbox, "t81-roots.pem")?;
        let settings = crate::certificate::settings(inbox, &trusted);
        let (_, installed) = app::install(&profile, &secrets, &settings, &mut |_| {}).await?;
        let dkim_before = installed.dkim.clone();
        profile.installed = Some(installed);
        let printer = app::UserChange::Add { address: "printer@example.test".into() };
        app::change_smtp_user(&profile, &secrets, &printer).await?;
        let files = "cat /etc/outpost/users /etc/outpost/aliases /var/lib/outpost/srs-secrets /etc/outpost/dkim/outpost.pem";
        let before = inbox.ssh(files)?;
        ensure!(before.contains("printer@example.test"), "{before}");

        // Saved on this computer, encrypted.
        let path = inbox.settings.state.join("t81.outpost-backup");
        let saved = app::save_backup(&profile, &secrets, &settings, &path).await?;
        ensure!(saved.files.len() >= 4, "{saved:?}");
        let sealed = std::fs::read(&path)?;
        ensure!(sealed.starts_with(outpost_setup::backup::MAGIC), "not a backup file");
        ensure!(
            !String::from_utf8_lossy(&sealed).contains("printer@"),
            "the backup is not encrypted"
        );
        {
            use std::os::unix::fs::PermissionsExt;
            ensure!(std::fs::metadata(&path)?.permissions().mode() & 0o777 == 0o600, "not 0600");
        }

        // The old server is gone; the same box's vps, wiped, stands in for the new one.
        let plan = app::uninstall(&profile, &secrets, &settings).await?;
        ensure!(plan.users.contains(&"printer@example.test".to_string()), "{plan:?}");
        profile.uninstalled();
        ensure!(inbox.ssh("test -e /etc/outpost && echo left || echo gone")?.trim() == "gone");

        // Restored: the same DKIM key (the published record stays right), logins, aliases and
        // SRS secrets, and the printer's password (still in this keychain) works.
        let started = std::time::Instant::now();
        let (restored, installed) =
            app::restore_backup(&profile, &secrets, &settings, &path, &mut |_| {}).await?;
        eprintln!("t81: restored {} files in {:?}", restored.files.len(), started.elapsed());
        ensure!(restored.moved_from == installed.addresses, "{restored:?}");
        ensure!(inbox.ssh(files)? == before, "the restored files differ");
        ensure!(
            installed.dkim == dkim_before,
            "{:?} after, {dkim_before:?} before",
            installed.dkim
        );
        // Both logins: the install's own too (a fresh server's install gives it a new password
        // before the backup's users file replaces it; the keychain must end with the backup's).
        for user in ["printer@example.test", "alice@example.test"] {
            let password = secrets
                .get(&outpost_setup::secrets::SecretName::SmtpPassword { user: user.into() })
                .await?
                .with_context(|| format!("{user}'s password"))?;
            let check = inbox.ssh(&format!(
                "printf '%s\\n' '{password}' | /usr/local/bin/outpost-relay user check --json -- {user}"
            ))?;
            ensure!(check.contains(r#""accepted":true"#), "{user}: {check}");
        }
        ensure!(inbox.ssh("systemctl is-active outpost-relay")?.trim() == "active");

        // Another computer's key (or a damaged file) opens nothing, and says so.
        let name = outpost_setup::secrets::SecretName::BackupKey { domain: "example.test".into() };
        let kept = secrets.get(&name).await?.context("the backup key")?;
        secrets.set(&name, &outpost_setup::backup::new_key()).await?;
        let wrong = app::restore_backup(&profile, &secrets, &settings, &path, &mut |_| {}).await;
        secrets.set(&name, &kept).await?;
        ensure!(
            matches!(wrong, Err(app::Error::Backup(outpost_setup::backup::Error::WrongKey))),
            "{wrong:?}"
        );
        Ok(())
    })
}

fn t82_a_second_domain_on_the_same_relay_sends_receives_and_is_removed_cleanly(
    inbox: &Inbox,
) -> Result<()> {
    use outpost_setup::choices::{AliasChoice, ExtraDomainForm, Field, Forwarding, Problem};
    use outpost_setup::dns::check::Status;
    use outpost_setup::dns::records::Kind;
    use outpost_system_tests::inbox::{Host, Outgoing};

    crate::ssh::block_on(async {
        let secrets = TestSecrets::default();
        let mut profile = crate::certificate::wizard_profile(inbox, &secrets).await?;
        let trusted = crate::certificate::desktop_roots(inbox, "t82-roots.pem")?;
        let settings = crate::certificate::settings(inbox, &trusted);
        let (_, installed) = app::install(&profile, &secrets, &settings, &mut |_| {}).await?;
        profile.installed = Some(installed);
        let report = app::dns_report(&profile, &settings).await?;
        crate::dns::publish_records(inbox, report.lines.iter().map(|line| &line.checked.record))?;

        // The first domain cannot be added again; nothing changes on the server.
        let form = |domain: &str| ExtraDomainForm {
            domain: domain.into(),
            sender: String::new(),
            forward_to: "bob@gmail.test".into(),
            forwarding: Forwarding {
                catch_all: false,
                aliases: vec![AliasChoice { name: "orders".into(), to: "bob@gmail.test".into() }],
            },
        };
        let twice =
            app::add_domain(&profile, &secrets, &settings, &form("Example.test"), &mut |_| {})
                .await;
        ensure!(
            matches!(&twice, Err(app::Error::Invalid(invalid)) if invalid.field == Field::Domain && invalid.problem == Problem::Duplicate),
            "{twice:?}"
        );

        // Added: its key on the server and in the keychain, a login for its sending address.
        let (extra, installed) =
            app::add_domain(&profile, &secrets, &settings, &form(" Shop.test "), &mut |_| {})
                .await
                .context("adding shop.test")?;
        ensure!(
            (extra.domain.as_str(), extra.sender.as_str()) == ("shop.test", "hello@shop.test"),
            "{extra:?}"
        );
        profile.extra_domains.push(extra);
        profile.installed = Some(installed.clone());
        ensure!(
            installed.dkim.iter().any(|(name, _)| name == "outpost._domainkey.shop.test"),
            "{:?}",
            installed.dkim
        );
        let key_file = "/etc/outpost/dkim/shop.test.outpost.pem";
        ensure!(inbox.ssh(&format!("test -s {key_file} && echo kept"))?.trim() == "kept");
        let dkim_secret = SecretName::DkimKey { record: "outpost._domainkey.shop.test".into() };
        ensure!(secrets.get(&dkim_secret).await?.is_some(), "its key is not backed up");
        let login = SecretName::SmtpPassword { user: "hello@shop.test".into() };
        let password = secrets.get(&login).await?.context("its login's password")?;

        // Its records: its own zone, pointing at the first domain's mail host; missing at
        // first, which the dashboard's DNS item names.
        let report = app::extra_dns_report(&profile, &settings, "shop.test").await?;
        let planned: Vec<(Kind, &str)> = report
            .lines
            .iter()
            .map(|line| (line.checked.record.kind, line.checked.record.name.as_str()))
            .collect();
        ensure!(
            report.zone == "shop.test"
                && planned
                    == [
                        (Kind::MX, "shop.test."),
                        (Kind::TXT, "shop.test."),
                        (Kind::TXT, "outpost._domainkey.shop.test."),
                        (Kind::TXT, "_dmarc.shop.test."),
                    ],
            "{} {planned:?}",
            report.zone
        );
        ensure!(report.verdict.next.is_some(), "{:?}", report.verdict);
        let health = app::health(&profile, &secrets, &settings).await?;
        let dns = found(&health, |f| matches!(f, Found::Dns { .. }))?;
        ensure!(
            matches!(dns, Found::Dns { first_wrong: false, further_wrong, .. } if further_wrong == &["shop.test".to_string()]),
            "{dns:?}"
        );
        crate::dns::publish_records(inbox, report.lines.iter().map(|line| &line.checked.record))?;
        let report = app::extra_dns_report(&profile, &settings, "shop.test").await?;
        ensure!(
            report.lines.iter().all(|line| line.checked.status == Status::Ok),
            "{:#?}",
            report.lines
        );

        // Its login sends as it: signed d=shop.test, and the receiver's checks pass.
        let sent = crate::relay::submit_as(
            inbox,
            "hello@shop.test",
            &password,
            "hello@shop.test",
            "t82 from shop",
        )?;
        ensure!(sent.contains("queued as"), "{sent}");
        let judged = inbox.wait_for_verdict("t82 from shop", Duration::from_secs(30))?;
        let passes = |judged: &outpost_system_tests::inbox::Verdict| {
            judged.dkim.iter().any(|dkim| dkim.domain == "shop.test" && dkim.result == "pass")
                && judged.spf.result == "pass"
                && judged.dmarc.result == "pass"
        };
        ensure!(passes(&judged), "{judged:#?}");

        // Mail to its alias is forwarded; without a catch-all, another address is refused.
        let to_shop = |to: &'static [&'static str], subject: &'static str| Outgoing {
            mail_from: "alice@gmail.test",
            from_header: "Alice <alice@gmail.test>",
            to,
            subject,
            signed: true,
        };
        let sent = inbox.send_from(Host::Mx, &to_shop(&["orders@shop.test"], "t82 orders"))?;
        ensure!(sent.data.as_deref().is_some_and(|reply| reply.starts_with("250")), "{sent:?}");
        let forwarded = inbox.wait_for_verdict("t82 orders", Duration::from_secs(20))?;
        ensure!(forwarded.rcpt_to == ["bob@gmail.test"], "{forwarded:#?}");
        let sent = inbox.send_from(Host::Mx, &to_shop(&["nobody@shop.test"], "t82 nobody"))?;
        ensure!(sent.rcpt.iter().all(|reply| reply.starts_with("550")), "{sent:?}");

        // The first domain's login may send as an address at shop.test only once allowed.
        let alice = SecretName::SmtpPassword { user: "alice@example.test".into() };
        let alice = secrets.get(&alice).await?.context("alice's password")?;
        let refused = crate::relay::submit_as(
            inbox,
            "alice@example.test",
            &alice,
            "news@shop.test",
            "t82 news",
        )?;
        ensure!(!refused.contains("queued as"), "sent as another domain unasked: {refused}");
        let allow = app::UserChange::Senders {
            address: "alice@example.test".into(),
            senders: vec![" News@Shop.test ".into()],
        };
        let users = app::change_smtp_user(&profile, &secrets, &allow).await?;
        ensure!(
            users
                .iter()
                .any(|user| user.address == "alice@example.test"
                    && user.senders == ["news@shop.test"]),
            "{users:?}"
        );
        let allowed = crate::relay::submit_as(
            inbox,
            "alice@example.test",
            &alice,
            "news@shop.test",
            "t82 news allowed",
        )?;
        ensure!(allowed.contains("queued as"), "{allowed}");
        let judged = inbox.wait_for_verdict("t82 news allowed", Duration::from_secs(30))?;
        ensure!(passes(&judged), "{judged:#?}");
        let elsewhere = app::UserChange::Senders {
            address: "alice@example.test".into(),
            senders: vec!["news@shop.test".into(), "x@gmail.test".into()],
        };
        let wrong = app::change_smtp_user(&profile, &secrets, &elsewhere).await;
        ensure!(
            matches!(&wrong, Err(app::Error::Invalid(invalid)) if invalid.field == Field::Sends && invalid.item == Some(1)),
            "{wrong:?}"
        );

        // Removed: the relay no longer has it, nor its key, login or alice's permission.
        let (removed, installed) =
            app::remove_domain(&profile, &secrets, &settings, "shop.test", &mut |_| {}).await?;
        ensure!(removed.users == ["hello@shop.test"], "{removed:?}");
        profile.extra_domains.clear();
        profile.installed = Some(installed.clone());
        ensure!(
            !installed.dkim.iter().any(|(name, _)| name.ends_with("shop.test")),
            "{:?}",
            installed.dkim
        );
        let config = inbox.ssh(&format!("cat {}", outpost_setup::install::CONFIG))?;
        ensure!(!config.contains("shop.test"), "{config}");
        ensure!(
            inbox.ssh(&format!("test -e {key_file} && echo left || echo gone"))?.trim() == "gone"
        );
        ensure!(secrets.get(&dkim_secret).await?.is_none(), "its key is still in the keychain");
        ensure!(secrets.get(&login).await?.is_none(), "its login's password is still kept");
        let users = app::smtp_users(&profile, &secrets).await?;
        ensure!(
            users.iter().all(|user| user.address != "hello@shop.test" && user.senders.is_empty()),
            "{users:?}"
        );
        // The first domain does not receive: with shop.test gone nothing does, and port 25 closes.
        let after = inbox.send_from(Host::Mx, &to_shop(&["orders@shop.test"], "t82 after"));
        ensure!(
            after.as_ref().is_err_and(|error| format!("{error:#}").contains("Connection refused")),
            "{after:?}"
        );
        ensure!(!config.contains(":25\""), "still listening on 25: {config}");
        let again =
            app::remove_domain(&profile, &secrets, &settings, "shop.test", &mut |_| {}).await;
        ensure!(
            matches!(again, Err(app::Error::NotReady(app::Missing::ExtraDomain { .. }))),
            "{again:?}"
        );
        Ok(())
    })
}
