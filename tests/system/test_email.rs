//! Step 9 in the box: the engine's test email, from this machine (the desktop) through the
//! installed, certified relay to `bob@gmail.test`, read back over IMAP from the box's dovecot.
//! The app's own verdict must agree with the box's independent receiver (dkimpy, pyspf); then
//! the things a user breaks, each with its explanation.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use outpost_setup::app::{self, TestReport};
use outpost_setup::secrets::{SecretName, SecretStore};
use outpost_setup::test_email::{
    AuthResult, Delivery, DkimProblem, Finding, ImapAccount, Mailbox, Refusal, Requirement,
    Standing, SubmitFailure, TestEmail, TestMessage,
};
use outpost_system_tests::inbox::Inbox;

use crate::Scenario;
use crate::relay::TestSecrets;

/// The test message as the UI's English catalogue words it.
pub fn english(domain: &str) -> TestMessage {
    TestMessage {
        subject: format!("Outpost test email for {domain}"),
        body: format!(
            "This is a test email from Outpost, sent through your own mail server for {domain}.\n\n\
             Outpost follows it from your server to this mailbox and checks how it was received. \
             You can delete it."
        ),
    }
}

/// And as the Kazakh one does: a subject and body that are not ASCII.
fn kazakh(domain: &str) -> TestMessage {
    TestMessage {
        subject: format!("Outpost сынақ хаты: {domain}"),
        body: format!(
            "Бұл — Outpost жіберген сынақ хат, {domain} доменіне арналған өз пошта серверіңіз \
             арқылы жіберілді.\n\nOutpost оны серверіңізден осы пошта жәшігіне дейін бақылап, \
             қалай қабылданғанын тексереді. Оны жоя беруге болады."
        ),
    }
}

/// Scenarios with the systemd vps.
pub const SYSTEMD: &[Scenario] = &[(
    "t60_the_test_email_is_followed_to_the_mailbox_and_both_verdicts_agree",
    t60_the_test_email_is_followed_to_the_mailbox_and_both_verdicts_agree,
)];

fn t60_the_test_email_is_followed_to_the_mailbox_and_both_verdicts_agree(
    inbox: &Inbox,
) -> Result<()> {
    crate::ssh::block_on(async {
        let secrets = TestSecrets::default();
        let mut profile = crate::certificate::wizard_profile(inbox, &secrets).await?;
        // This computer trusts pebble's root (the relay's chain) and the box's CA (dovecot's).
        let trusted = crate::certificate::desktop_roots(inbox, "t60-roots.pem")?;
        let settings = crate::certificate::settings(inbox, &trusted);
        // After t50 the relay serves a CA certificate; this install (no certificate chosen yet)
        // goes back to its self-signed one (kept from before: `status` must still call it
        // self-signed) and checks 587 against the relay it just restarted.
        let (_, installed) = app::install(&profile, &secrets, &settings, &mut |_| {})
            .await
            .context("the install")?;
        profile.installed = Some(installed);
        // The user publishes every record the DNS step shows (PTRs at the "provider").
        let publish_all = async |profile: &outpost_setup::profile::Profile| -> Result<()> {
            let report = app::dns_report(profile, &settings).await?;
            crate::dns::publish_records(inbox, report.lines.iter().map(|line| &line.checked.record))
        };
        publish_all(&profile).await?;

        // Without a certificate the step says so.
        let request = TestEmail {
            to: "bob@gmail.test".into(),
            imap: Some(ImapAccount {
                // By address: this computer's own resolver is outside the box.
                host: inbox.settings.mx_ip.to_string(),
                port: 993,
                user: "bob".into(),
            }),
        };
        // The English words, as most of the sends below use them.
        let words = english("example.test");
        let early =
            app::send_test_email(&profile, &secrets, &settings, &request, &words, &mut |_| {})
                .await;
        ensure!(matches!(early, Err(app::Error::NotReady(app::Missing::Certificate))), "{early:?}");
        let (_, choice) = app::get_certificate(&profile, &secrets, &settings, &mut |_| {})
            .await
            .context("the Certificate step")?;
        profile.certificate = Some(choice);
        publish_all(&profile).await?;
        let login = request.imap.as_ref().context("imap")?.login();
        secrets
            .set(&SecretName::ImapPassword { login: login.clone() }, &inbox.settings.imap_password)
            .await?;

        let send = async |request: &TestEmail, words: &TestMessage| -> Result<TestReport> {
            let mut stages = Vec::new();
            let started = std::time::Instant::now();
            let report =
                app::send_test_email(&profile, &secrets, &settings, request, words, &mut |event| {
                    stages.push(format!("{event:?}"))
                })
                .await?;
            eprintln!("t60: test email judged in {:?}; stages {stages:?}", started.elapsed());
            Ok(report)
        };

        // All is right: delivered over TLS, signed, both verdicts pass and agree, in the inbox —
        // written in Kazakh (the words the UI gives in that language), which arrives intact.
        let report = send(&request, &kazakh("example.test")).await?;
        let Delivery::Delivered { record } = &report.delivery else {
            anyhow::bail!("not delivered: {report:#?}");
        };
        ensure!(record.tls_version.as_deref() == Some("TLSv1.3"), "{record:?}");
        ensure!(record.host.as_deref() == Some("mx.gmail.test"), "{record:?}");
        ensure!(
            report.signatures.iter().any(|s| s.domain == "example.test"),
            "{:?}",
            report.signatures
        );
        let computed = report.computed.as_ref().context("a computed verdict")?;
        ensure!(
            [computed.spf, computed.dkim_result(), computed.dmarc, computed.iprev]
                == [AuthResult::Pass; 4],
            "{computed:#?}"
        );
        let Mailbox::Found { folder, spam, verdict, received_tls, .. } = &report.mailbox else {
            anyhow::bail!("not found in the mailbox: {:#?}", report.mailbox);
        };
        ensure!(folder == "INBOX" && !spam, "{folder}");
        ensure!(
            received_tls.as_deref().is_some_and(|tls| tls.contains("TLSv1.3")),
            "{received_tls:?}"
        );
        ensure!(verdict.as_ref().is_some_and(|v| v.agrees_with(computed)), "{verdict:#?}");
        ensure!(report.agree == Some(true), "{report:#?}");
        // The box's independent receiver (dkimpy, pyspf) said the same.
        let judged =
            inbox.wait_for_verdict("Outpost сынақ хаты: example.test", Duration::from_secs(10))?;
        ensure!(
            [&judged.spf.result, &judged.dkim_result, &judged.dmarc.result, &judged.iprev.result]
                == ["pass"; 4],
            "{judged:#?}"
        );
        let standing = |report: &TestReport, requirement| {
            report.checklist.iter().find(|c| c.requirement == requirement).map(|c| c.standing)
        };
        for requirement in [
            Requirement::ReverseDns,
            Requirement::Tls,
            Requirement::Spf,
            Requirement::Dkim,
            Requirement::Dmarc,
            Requirement::WellFormed,
        ] {
            ensure!(
                standing(&report, requirement) == Some(Standing::Met),
                "{requirement:?}: {:?}",
                report.checklist
            );
        }
        ensure!(report.findings.is_empty(), "{:?}", report.findings);
        eprintln!("t60: click to judged {} ms", report.millis);
        // For BENCHMARKS.md: the delivery records and signed copy, fetched over SSH.
        let session = crate::relay::engine_session(inbox).await?;
        let admin = outpost_setup::relay_admin::RelayAdmin::new(&session);
        let fetch = std::time::Instant::now();
        let trace = admin.trace_show(&report.message_id).await?;
        eprintln!(
            "t60: trace ({} bytes signed) fetched over SSH in {:?}",
            trace.signed_base64.len() * 3 / 4,
            fetch.elapsed()
        );
        session.close().await;

        // The DKIM record cut at 255 characters by a DNS panel: named, and DMARC fails.
        let dkim = app::dns_report(&profile, &settings)
            .await?
            .lines
            .into_iter()
            .map(|line| line.checked.record)
            .find(|record| record.name.contains("._domainkey."))
            .context("the DKIM record")?;
        inbox.publish(&dkim.name, "TXT", 60, &[&format!("\"{}\"", &dkim.value[..255])])?;
        let cut = send(&request, &words).await?;
        ensure!(
            cut.findings
                .iter()
                .any(|f| matches!(f, Finding::Dkim { problem: DkimProblem::KeyCut, .. })),
            "{:?}",
            cut.findings
        );
        // Removed altogether: the key is missing; SPF still aligns, so DMARC passes.
        inbox.remove(&dkim.name, "TXT")?;
        let missing = send(&request, &words).await?;
        ensure!(
            missing
                .findings
                .iter()
                .any(|f| matches!(f, Finding::Dkim { problem: DkimProblem::KeyMissing, .. })),
            "{:?}",
            missing.findings
        );
        ensure!(missing.computed.as_ref().is_some_and(|v| v.dkim_result() != AuthResult::Pass));
        if let (Some(ours), Mailbox::Found { verdict: Some(theirs), .. }) =
            (&missing.computed, &missing.mailbox)
        {
            ensure!(ours.agrees_with(theirs), "ours {ours:#?} theirs {theirs:#?}");
        } else {
            anyhow::bail!("{:#?}", missing.mailbox);
        }
        inbox.publish(&dkim.name, "TXT", 60, &[&dkim.quoted_strings()])?;

        // DKIM gone and SPF refusing the server: DMARC fails, and the receiver files it as spam.
        let spf = app::dns_report(&profile, &settings)
            .await?
            .lines
            .into_iter()
            .map(|line| line.checked.record)
            .find(|record| record.host == "@" && record.value.starts_with("v=spf1"))
            .context("the SPF record")?;
        inbox.remove(&dkim.name, "TXT")?;
        inbox.publish(&spf.name, "TXT", 60, &["\"v=spf1 -all\""])?;
        let spam = send(&request, &words).await;
        inbox.publish(&spf.name, "TXT", 60, &[&spf.quoted_strings()])?;
        inbox.publish(&dkim.name, "TXT", 60, &[&dkim.quoted_strings()])?;
        let spam = spam?;
        ensure!(
            matches!(&spam.mailbox, Mailbox::Found { spam: true, folder, .. } if folder == "Junk"),
            "{:?}",
            spam.mailbox
        );
        ensure!(
            spam.findings.iter().any(|f| matches!(f, Finding::Spam { .. })),
            "{:?}",
            spam.findings
        );
        ensure!(spam.findings.iter().any(|f| matches!(f, Finding::Dmarc)), "{:?}", spam.findings);
        ensure!(spam.agree == Some(true), "{spam:#?}");

        // The receiver refuses as Gmail does an unauthenticated sender.
        let refuse = inbox.settings.mx_mail.parent().context("mx state")?.join("refuse");
        std::fs::write(
            &refuse,
            "550 5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users\n",
        )?;
        let refused = send(&request, &words).await;
        std::fs::remove_file(&refuse)?;
        let refused = refused?;
        ensure!(matches!(refused.delivery, Delivery::Refused { .. }), "{:#?}", refused.delivery);
        ensure!(
            refused
                .findings
                .iter()
                .any(|f| matches!(f, Finding::Refused { refusal: Refusal::Unauthenticated, .. })),
            "{:?}",
            refused.findings
        );
        ensure!(refused.mailbox == Mailbox::NotDelivered, "{:?}", refused.mailbox);

        // A wrong IMAP password: said, and nothing hangs.
        secrets.set(&SecretName::ImapPassword { login: login.clone() }, "not-the-password").await?;
        let wrong = send(&request, &words).await?;
        ensure!(matches!(wrong.mailbox, Mailbox::LoginRefused { .. }), "{:?}", wrong.mailbox);
        secrets.set(&SecretName::ImapPassword { login }, &inbox.settings.imap_password).await?;

        // The SMTP password in the keychain no longer the server's: said, with Install to repair.
        let user = profile.installed.as_ref().context("installed")?.smtp_user.to_ascii_lowercase();
        let smtp = SecretName::SmtpPassword { user };
        let kept = secrets.get(&smtp).await?.context("the SMTP password")?;
        secrets.set(&smtp, "not-the-password").await?;
        let refused_login = send(&request, &words).await;
        secrets.set(&smtp, &kept).await?;
        ensure!(
            matches!(
                refused_login,
                Err(ref error) if matches!(error.downcast_ref::<app::Error>(), Some(app::Error::Submit { failure: SubmitFailure::Login, .. }))
            ),
            "{refused_login:?}"
        );
        // The relay stopped: the submission fails, named as unreachable.
        inbox.ssh("systemctl stop outpost-relay")?;
        let stopped = send(&request, &words).await;
        inbox.ssh("systemctl start outpost-relay")?;
        ensure!(
            matches!(
                stopped,
                Err(ref error) if matches!(error.downcast_ref::<app::Error>(), Some(app::Error::Submit { failure: SubmitFailure::Unreachable, .. }))
            ),
            "{stopped:?}"
        );
        // Give the restarted relay a moment to listen again.
        tokio::time::sleep(Duration::from_secs(2)).await;

        // Outgoing port 25 blocked by the "provider": every mail server unreachable.
        let block = "OUTPUT -p tcp --dport 25 -j REJECT --reject-with tcp-reset";
        inbox.ssh(&format!("iptables -I {block} && ip6tables -I {block}"))?;
        let blocked = send(&request, &words).await;
        inbox.ssh(&format!("iptables -D {block}; ip6tables -D {block}"))?;
        let blocked = blocked?;
        ensure!(matches!(blocked.delivery, Delivery::Waiting { .. }), "{:#?}", blocked.delivery);
        ensure!(blocked.findings == [Finding::Port25Blocked], "{:?}", blocked.findings);
        Ok(())
    })
}
