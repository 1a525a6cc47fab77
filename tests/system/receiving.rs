//! Receiving in the box: the engine sets the relay up to receive for example.test (port 25, MX,
//! a catch-all to bob@gmail.test and an alias), and the mx host, acting as Gmail's outbound
//! servers, writes to the domain. What arrives back at gmail.test is judged by the box's own
//! receiver (pyspf, dkimpy with ARC), never by Outpost's code: SPF passes for the vps through
//! the SRS sender, the original gmail.test DKIM signature survives, DMARC passes through it, and
//! the ARC chain the relay sealed verifies. Then what must be refused is: a forged bounce
//! address, a `p=reject` spoof, a blocklisted client, an unknown address (after an alias edited
//! on the server took the catch-all away, with no restart), and nothing of it is queued.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use outpost_relay_api::InboundRefusal;
use outpost_setup::app;
use outpost_setup::choices::{AliasChoice, Domain, Forwarding};
use outpost_setup::dns::check::Status;
use outpost_setup::dns::records::{DmarcPolicy, Kind};
use outpost_setup::install::Detail;
use outpost_setup::probe::Inbound;
use outpost_system_tests::inbox::{Host, Inbox, Outgoing};

use crate::Scenario;
use crate::relay::TestSecrets;

/// Scenarios with the systemd vps.
pub const SYSTEMD: &[Scenario] = &[(
    "t70_mail_to_the_domain_reaches_the_mailbox_with_srs_dkim_dmarc_and_arc_passing_there",
    t70_mail_to_the_domain_reaches_the_mailbox_with_srs_dkim_dmarc_and_arc_passing_there,
)];

fn t70_mail_to_the_domain_reaches_the_mailbox_with_srs_dkim_dmarc_and_arc_passing_there(
    inbox: &Inbox,
) -> Result<()> {
    crate::ssh::block_on(async {
        let secrets = TestSecrets::default();
        let mut profile = crate::certificate::wizard_profile(inbox, &secrets).await?;
        // The tutorial's choice: everything to the existing mailbox, plus one alias elsewhere.
        let domain = Domain::new(
            "example.test",
            "",
            "alice@example.test",
            "bob@gmail.test",
            true,
            DmarcPolicy::None,
        )
        .map_err(anyhow::Error::msg)?
        .with_forwarding(Forwarding {
            catch_all: true,
            aliases: vec![AliasChoice { name: "shop".into(), to: "carol@gmail.test".into() }],
        })
        .map_err(anyhow::Error::msg)?;
        profile.domain = Some(domain);
        let trusted = inbox.settings.state.join("t70-roots.pem");
        std::fs::write(&trusted, std::fs::read(&inbox.settings.box_ca)?)?;
        let settings = app_settings(inbox, &trusted);
        let (report, installed) = app::install(&profile, &secrets, &settings, &mut |_| {})
            .await
            .context("the install")?;
        let aliases =
            report.steps.iter().find(|step| step.stage == outpost_setup::progress::Stage::Aliases);
        ensure!(
            aliases.is_some_and(
                |step| matches!(&step.detail, Detail::AliasesSet { set, .. } if set.len() == 2)
            ),
            "{aliases:?}"
        );
        // Checked from outside: the banner and STARTTLS on 25, and no AUTH there.
        ensure!(matches!(report.inbound, Some(Inbound::Open { .. })), "{:?}", report.inbound);
        profile.installed = Some(installed);

        // The DNS step now plans (and checks) the MX record; the user publishes everything.
        let dns = app::dns_report(&profile, &settings).await?;
        let mx = dns.lines.iter().find(|line| line.checked.record.kind == Kind::MX);
        ensure!(
            mx.is_some_and(|line| line.checked.record.value.contains("mail.example.test")),
            "no MX planned: {dns:#?}"
        );
        crate::dns::publish_records(inbox, dns.lines.iter().map(|line| &line.checked.record))?;
        let dns = app::dns_report(&profile, &settings).await?;
        ensure!(
            dns.lines
                .iter()
                .any(|line| line.checked.record.kind == Kind::MX
                    && line.checked.status == Status::Ok),
            "the MX record is not checked as published: {dns:#?}"
        );

        // Gmail writes to an address nobody set up: the catch-all forwards it to bob.
        let from_gmail = |to: &'static [&'static str], subject: &'static str| Outgoing {
            mail_from: "alice@gmail.test",
            from_header: "Alice <alice@gmail.test>",
            to,
            subject,
            signed: true,
        };
        let sent =
            inbox.send_from(Host::Mx, &from_gmail(&["anything@example.test"], "t70 catch-all"))?;
        ensure!(sent.data.as_deref().is_some_and(|reply| reply.starts_with("250")), "{sent:?}");
        let judged = inbox.wait_for_verdict("t70 catch-all", Duration::from_secs(20))?;
        ensure!(judged.rcpt_to == ["bob@gmail.test"], "{judged:#?}");
        ensure!(
            judged.mail_from.starts_with("SRS0=")
                && judged.mail_from.ends_with("=gmail.test=alice@example.test"),
            "the envelope sender was not rewritten: {judged:#?}"
        );
        ensure!(
            judged.spf.result == "pass" && judged.spf.domain == "example.test",
            "{:#?}",
            judged.spf
        );
        ensure!(
            judged.dkim.iter().any(|dkim| dkim.domain == "gmail.test" && dkim.result == "pass"),
            "the original signature did not survive: {:#?}",
            judged.dkim
        );
        ensure!(judged.dmarc.result == "pass", "{:#?}", judged.dmarc);
        ensure!(judged.arc.result == "pass", "the ARC chain: {:#?}", judged.arc);
        let stored = inbox.stored_message(&judged)?;
        ensure!(stored.contains("Authentication-Results: mail.example.test;"), "{stored}");
        ensure!(stored.contains("ARC-Seal: i=1;") && stored.contains("d=example.test"), "{stored}");
        let common = stored
            .bytes()
            .rev()
            .zip(sent.message.bytes().rev())
            .take_while(|(a, b)| a == b)
            .count();
        ensure!(
            common == sent.message.len(),
            "the message was altered on the way: it agrees for its last {common} bytes; sent {:?}, stored {:?}",
            &sent.message[..sent.message.len() - common],
            &stored[stored.len().saturating_sub(common + 200)..stored.len() - common]
        );

        // The alias goes to its own destination.
        let sent = inbox.send_from(Host::Mx, &from_gmail(&["Shop@example.test"], "t70 alias"))?;
        ensure!(sent.data.as_deref().is_some_and(|reply| reply.starts_with("250")), "{sent:?}");
        let judged_alias = inbox.wait_for_verdict("t70 alias", Duration::from_secs(20))?;
        ensure!(judged_alias.rcpt_to == ["carol@gmail.test"], "{judged_alias:#?}");

        // A bounce to the SRS address reaches the original sender.
        let bounce = Outgoing {
            mail_from: "",
            from_header: "Mail Delivery Subsystem <mailer-daemon@gmail.test>",
            to: &[judged.mail_from.as_str()],
            subject: "t70 bounce",
            signed: true,
        };
        let sent = inbox.send_from(Host::Mx, &bounce)?;
        ensure!(sent.data.as_deref().is_some_and(|reply| reply.starts_with("250")), "{sent:?}");
        let returned = inbox.wait_for_verdict("t70 bounce", Duration::from_secs(20))?;
        ensure!(
            returned.rcpt_to == ["alice@gmail.test"]
                && ["", "<>"].contains(&returned.mail_from.as_str()),
            "{returned:#?}"
        );
        // A forged one is refused at RCPT.
        let forged = judged.mail_from.replacen("SRS0=", "SRS0=Qq", 1);
        let sent = inbox.send_from(
            Host::Mx,
            &Outgoing { to: &[forged.as_str()], subject: "t70 forged", ..bounce },
        )?;
        ensure!(sent.rcpt.first().is_some_and(|reply| reply.starts_with("550 5.1.1")), "{sent:?}");

        // A client on the blocklist (Spamhaus ZEN in the box) is refused at MAIL.
        let listed = "20.100.51.198.zen.spamhaus.org";
        inbox.publish(listed, "A", 5, &["127.0.0.4"])?;
        let sent =
            inbox.send_from(Host::Ca, &from_gmail(&["anything@example.test"], "t70 listed"))?;
        inbox.remove(listed, "A")?;
        ensure!(
            sent.mail.as_deref().is_some_and(
                |reply| reply.starts_with("550 5.7.1") && reply.contains("zen.spamhaus.org")
            ),
            "{sent:?}"
        );
        // A spoof of gmail.test (p=reject) from elsewhere, unsigned, is refused at DATA.
        let spoof = Outgoing {
            mail_from: "ceo@gmail.test",
            from_header: "CEO <ceo@gmail.test>",
            to: &["anything@example.test"],
            subject: "t70 spoof",
            signed: false,
        };
        let sent = inbox.send_from(Host::Wiz, &spoof)?;
        ensure!(
            sent.data
                .as_deref()
                .is_some_and(|reply| reply.starts_with("550 5.7.1") && reply.contains("DMARC")),
            "{sent:?}"
        );

        // The catch-all removed on the server by hand: unknown addresses are refused at once.
        inbox.ssh("/usr/local/bin/outpost-relay alias remove '*@example.test'")?;
        let sent =
            inbox.send_from(Host::Mx, &from_gmail(&["nobody@example.test"], "t70 unknown"))?;
        ensure!(sent.rcpt.first().is_some_and(|reply| reply.starts_with("550 5.1.1")), "{sent:?}");

        // Nothing refused was queued; the status counts each refusal and the forwards.
        // (The relay writes its status every 2 s.)
        let mut status = app::relay_status(&profile, &secrets).await?;
        for _ in 0..10 {
            let counted = status.inbound.as_ref().context("inbound status")?;
            if counted.refused.iter().any(|count| count.reason == InboundRefusal::UnknownRecipient)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            status = app::relay_status(&profile, &secrets).await?;
        }
        let counted = status.inbound.as_ref().context("inbound status")?;
        ensure!(counted.forwarded >= 3, "{counted:#?}");
        for reason in [
            InboundRefusal::ForgedBounceAddress,
            InboundRefusal::Blocklisted,
            InboundRefusal::DmarcReject,
            InboundRefusal::UnknownRecipient,
        ] {
            ensure!(
                counted.refused.iter().any(|count| count.reason == reason),
                "{reason:?}: {counted:#?}"
            );
        }
        ensure!(
            inbox.verdicts()?.iter().all(|verdict| !verdict
                .subject
                .as_deref()
                .is_some_and(|subject| ["t70 listed", "t70 spoof", "t70 unknown", "t70 forged"]
                    .contains(&subject))),
            "a refused message was delivered"
        );
        // The Send-mail-as screen sees the forwarded message from the "Gmail" confirmation sender.
        let send_mail_as = app::send_mail_as(&profile, &secrets, &settings).await?;
        ensure!(
            send_mail_as.smtp_server == "mail.example.test" && send_mail_as.port == 587,
            "{send_mail_as:?}"
        );
        ensure!(
            send_mail_as
                .confirmation
                .as_ref()
                .is_some_and(|message| message.header_from.ends_with("@gmail.test")),
            "{send_mail_as:#?}"
        );
        // The install again: the catch-all is put back, exactly as the wizard has it.
        let (report, _) = app::install(&profile, &secrets, &settings, &mut |_| {}).await?;
        let aliases =
            report.steps.iter().find(|step| step.stage == outpost_setup::progress::Stage::Aliases);
        ensure!(
            aliases.is_some_and(|step| matches!(&step.detail, Detail::AliasesSet { set, removed } if set == &["*@example.test".to_string()] && removed.is_empty())),
            "{aliases:?}"
        );
        Ok(())
    })
}

/// The box's settings, with "Gmail's" confirmation sender at gmail.test.
fn app_settings(inbox: &Inbox, trusted: &std::path::Path) -> outpost_setup::settings::Settings {
    outpost_setup::settings::Settings {
        gmail_confirmation_domain: Some("gmail.test".into()),
        ..crate::certificate::settings(inbox, trusted)
    }
}
