//! The DNS step's engine against the box's real DNS server, with records changed during the
//! test as a user would in their DNS panel: the plan, and checks that see each change at once.

use std::net::SocketAddr;

use anyhow::{Context, Result, ensure};
use outpost_setup::dns::check::{Checker, Mismatch, Status};
use outpost_setup::dns::records::{self, DmarcPolicy, Input, Kind, Plan, Purpose};
use outpost_system_tests::inbox::Inbox;

use crate::Scenario;

/// Scenarios with the plain vps.
pub const PLAIN: &[Scenario] = &[
    (
        "t30_dns_checks_follow_the_records_as_the_user_publishes_them",
        t30_dns_checks_follow_the_records_as_the_user_publishes_them,
    ),
    (
        "t31_the_report_shows_propagation_spf_as_evaluated_and_a_delegated_subzone",
        t31_the_report_shows_propagation_spf_as_evaluated_and_a_delegated_subzone,
    ),
    (
        "t32_blocklists_are_asked_through_the_servers_own_resolver",
        t32_blocklists_are_asked_through_the_servers_own_resolver,
    ),
];

fn input(inbox: &Inbox) -> Input {
    let ipv4 = match inbox.settings.vps_ip {
        std::net::IpAddr::V4(ip) => vec![ip],
        std::net::IpAddr::V6(_) => Vec::new(),
    };
    let ipv6 = match inbox.settings.vps_ip6 {
        std::net::IpAddr::V6(ip) => vec![ip],
        std::net::IpAddr::V4(_) => Vec::new(),
    };
    Input {
        domain: "example.test".into(),
        mail_host: "mail.example.test".into(),
        ipv4,
        ipv6,
        receive_mail: false,
        dkim: vec![(
            "t30".into(),
            format!("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A{}", "Q".repeat(360)),
        )],
        dmarc: DmarcPolicy::Quarantine,
        dmarc_reports: Some("postmaster@example.test".into()),
        mta_sts_policy: None,
        tls_reports: None,
        caa: None,
        host_records: true,
    }
}

/// Publishes every zone record of the plan (PTRs in the box's reverse zones, as the provider would).
fn publish(inbox: &Inbox, plan: &Plan) -> Result<()> {
    publish_records(inbox, &plan.records)
}

/// Publishes each of `records` as a user would paste it into a DNS panel (TXT values in quoted
/// strings of at most 255 bytes), except CAA: optional, and it restricts which CA may issue, so
/// a test publishes it on purpose only.
pub(crate) fn publish_records<'a>(
    inbox: &Inbox,
    records: impl IntoIterator<Item = &'a records::Record>,
) -> Result<()> {
    for record in records.into_iter().filter(|record| record.kind != Kind::CAA) {
        let value =
            if record.kind == Kind::TXT { record.quoted_strings() } else { record.value.clone() };
        inbox.publish(&record.name, &format!("{:?}", record.kind), 60, &[&value])?;
    }
    Ok(())
}

fn states(checked: &[outpost_setup::dns::check::Checked]) -> Vec<(String, Status)> {
    checked
        .iter()
        .map(|checked| {
            (format!("{:?} {}", checked.record.kind, checked.record.name), checked.status.clone())
        })
        .collect()
}

fn t30_dns_checks_follow_the_records_as_the_user_publishes_them(inbox: &Inbox) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let finder = SocketAddr::new(inbox.settings.dns_ip, 53);
        let checker = Checker::new(&[finder])?;
        // Start from a clean domain.
        for (name, kind) in [
            ("mail.example.test", "A"),
            ("mail.example.test", "AAAA"),
            ("mail.example.test", "TXT"),
            ("example.test", "TXT"),
            ("_dmarc.example.test", "TXT"),
            ("t30._domainkey.example.test", "TXT"),
            ("10.100.51.198.in-addr.arpa", "PTR"),
            ("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR"),
        ] {
            inbox.remove(name, kind)?;
        }
        let existing = checker.existing("example.test").await?;
        let plan = records::plan(&input(inbox), &existing);
        let missing = checker.check(&plan).await;
        ensure!(
            missing.iter().all(|checked| checked.status == Status::Missing),
            "{:?}",
            states(&missing)
        );

        // The user pastes everything: every record is right, PTRs forward-confirmed.
        publish(inbox, &plan)?;
        let right = checker.check(&plan).await;
        ensure!(right.iter().all(|checked| checked.status == Status::Ok), "{:?}", states(&right));

        // A DNS panel that cut the DKIM value at 255 characters.
        let dkim = plan
            .records
            .iter()
            .find(|record| record.name.starts_with("t30._domainkey"))
            .context("DKIM record")?;
        inbox.publish(&dkim.name, "TXT", 60, &[&format!("\"{}\"", &dkim.value[..255])])?;
        let checked = checker.check(&plan).await;
        let state = &checked
            .iter()
            .find(|checked| checked.record.name == dkim.name)
            .context("DKIM check")?
            .status;
        ensure!(
            state == &Status::Different { why: Mismatch::CutShort { length: 255 } },
            "{state:?}"
        );

        // A second SPF record: conflicting.
        inbox
            .dns_update(&["update add example.test 60 TXT \"v=spf1 include:mailgun.org ~all\""])?;
        let checked = checker.check(&plan).await;
        let spf = checked
            .iter()
            .find(|checked| {
                checked.record.name == "example.test." && checked.record.kind == Kind::TXT
            })
            .context("SPF check")?;
        ensure!(matches!(spf.status, Status::Conflicting { .. }), "{:?}", spf.status);

        // A PTR that names a host which does not point back.
        inbox.publish("10.100.51.198.in-addr.arpa", "PTR", 60, &["wiz.inbox.test."])?;
        let checked = checker.check(&plan).await;
        let ptr = checked
            .iter()
            .find(|checked| checked.record.name == "10.100.51.198.in-addr.arpa.")
            .context("PTR check")?;
        ensure!(matches!(ptr.status, Status::Different { .. }), "{:?}", ptr.status);

        // An existing SPF with an include is merged, not doubled: plan again from what is there.
        inbox.publish("example.test", "TXT", 60, &["\"v=spf1 include:_spf.google.com ~all\""])?;
        let merged = records::plan(&input(inbox), &checker.existing("example.test").await?);
        let spf = merged
            .records
            .iter()
            .find(|record| record.name == "example.test." && record.kind == Kind::TXT)
            .context("SPF")?;
        ensure!(
            spf.value
                == "v=spf1 ip4:198.51.100.10 ip6:2001:db8:100::10 include:_spf.google.com ~all",
            "{}",
            spf.value
        );
        // Leave the box as the other scenarios expect it.
        crate::selftest::publish_sender_records(inbox)?;
        Ok(())
    })
}

fn t31_the_report_shows_propagation_spf_as_evaluated_and_a_delegated_subzone(
    inbox: &Inbox,
) -> Result<()> {
    use outpost_setup::dns::report::{self, Settings};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let settings = Settings {
            finders: vec![SocketAddr::new(inbox.settings.dns_ip, 53)],
            public_resolvers: vec![SocketAddr::new(inbox.settings.res_ip, 53)],
        };
        // A domain one label down, delegated to servers of its own.
        let mut sub = input(inbox);
        sub.domain = "sub.example.test".into();
        sub.mail_host = "mail.sub.example.test".into();
        for (name, kind) in [
            ("mail.sub.example.test", "A"),
            ("mail.sub.example.test", "AAAA"),
            ("mail.sub.example.test", "TXT"),
            ("sub.example.test", "TXT"),
            ("_dmarc.sub.example.test", "TXT"),
            ("t30._domainkey.sub.example.test", "TXT"),
        ] {
            inbox.remove(name, kind)?;
        }
        let empty = report::report(&sub, &settings).await?;
        ensure!(empty.zone == "sub.example.test", "the delegated zone is found: {}", empty.zone);
        // The next thing to publish is the first line: the mail host's address (A).
        let next = empty.verdict.next.context("something to fix")?;
        ensure!(
            empty.verdict.right < empty.verdict.total
                && empty.lines[next].checked.record.purpose == Purpose::Address
                && empty.lines[next].checked.status == Status::Missing,
            "{:?}",
            empty.verdict
        );
        ensure!(
            empty.spf.iter().all(|spf| spf.result == "none"),
            "no SPF record yet: {:?}",
            empty.spf
        );

        // An old SPF record that a receiver's resolver has just looked up (and caches for its
        // 60 s TTL). The user then publishes everything: right at once at the zone's servers,
        // still the old value in the cache.
        inbox.publish("sub.example.test", "TXT", 60, &["\"v=spf1 ip4:203.0.113.99 -all\""])?;
        let res = inbox.settings.res_ip.to_string();
        inbox.exec(
            outpost_system_tests::inbox::Host::Wiz,
            &["dig", "+short", &format!("@{res}"), "TXT", "sub.example.test"],
        )?;
        let plan = records::plan(&sub, &records::Existing::default());
        publish(inbox, &plan)?;
        let published = report::report(&sub, &settings).await?;
        let spf_line = published
            .lines
            .iter()
            .find(|line| line.checked.record.purpose == Purpose::Spf)
            .context("the SPF line")?;
        ensure!(spf_line.checked.status == Status::Ok, "{:?}", spf_line.checked.status);
        let spreading =
            spf_line.propagation.as_ref().context("the cache still has the old answer")?;
        ensure!(
            spreading.seen_by == 0
                && spreading.asked == 1
                && (1..=60).contains(&spreading.visible_within),
            "{spreading:?}"
        );
        ensure!(
            published.verdict.next.is_none()
                && published.verdict.right == published.verdict.total
                && published.verdict.spreading >= 1,
            "{:?}",
            published.verdict
        );
        // SPF as a receiver evaluates it (mail-auth): pass for both of the vps's addresses.
        ensure!(published.spf.len() == 2, "{:?}", published.spf);
        ensure!(published.spf.iter().all(|spf| spf.result == "pass"), "{:?}", published.spf);
        ensure!(published.zone_file.contains("mail.sub.example.test."));

        // An SPF record that does not list the server fails the evaluation.
        inbox.publish("sub.example.test", "TXT", 60, &["\"v=spf1 ip4:203.0.113.99 -all\""])?;
        let wrong = report::report(&sub, &settings).await?;
        ensure!(wrong.spf.iter().all(|spf| spf.result == "fail"), "{:?}", wrong.spf);

        // A CNAME where the DMARC record belongs hides it, and is named as the cause.
        inbox.remove("_dmarc.sub.example.test", "TXT")?;
        inbox.publish("_dmarc.sub.example.test", "CNAME", 60, &["dmarc.elsewhere.test."])?;
        let shadowed = report::report(&sub, &settings).await?;
        inbox.remove("_dmarc.sub.example.test", "CNAME")?;
        let dmarc = shadowed
            .lines
            .iter()
            .find(|line| line.checked.record.purpose == Purpose::Dmarc)
            .context("the DMARC line")?;
        ensure!(
            dmarc.checked.status
                == Status::Conflicting {
                    why: Mismatch::Alias { target: "dmarc.elsewhere.test".into() }
                },
            "{:?}",
            dmarc.checked.status
        );
        Ok(())
    })
}

fn t32_blocklists_are_asked_through_the_servers_own_resolver(inbox: &Inbox) -> Result<()> {
    use outpost_setup::dns::blocklists::{self, Listing};
    crate::ssh::block_on(async {
        let session = outpost_setup::ssh::connect(
            &crate::ssh::target(inbox),
            &crate::ssh::password(inbox),
            &inbox.settings.ssh_host_fingerprint,
        )
        .await?;
        // The relay's `lookup` command is what asks; put the carried relay where install does.
        session
            .upload(outpost_setup::relay::executable(), outpost_setup::install::BINARY, 0o755)
            .await?;
        // The box's ZEN lists the vps's IPv4 address.
        inbox.publish("10.100.51.198.zen.spamhaus.org", "A", 60, &["127.0.0.2"])?;
        let addresses = [inbox.settings.vps_ip, inbox.settings.vps_ip6];
        let result = blocklists::check(&session, &addresses, "example.test").await;
        inbox.remove("10.100.51.198.zen.spamhaus.org", "A")?;
        session.run("rm -f /usr/local/bin/outpost-relay", b"", &mut |_, _| {}).await?;
        session.close().await;
        let entries = result?;
        let find = |list: &str, subject: &str| {
            entries
                .iter()
                .find(|entry| entry.list.name == list && entry.subject == subject)
                .map(|entry| entry.listing.clone())
        };
        let vps = inbox.settings.vps_ip.to_string();
        ensure!(
            find("Spamhaus ZEN", &vps) == Some(Listing::Listed { codes: vec!["127.0.0.2".into()] }),
            "{entries:?}"
        );
        ensure!(
            find("Spamhaus ZEN", &inbox.settings.vps_ip6.to_string()) == Some(Listing::NotListed),
            "{entries:?}"
        );
        ensure!(
            find("Spamhaus DBL", "example.test")
                == Some(Listing::CouldNotCheck { why: blocklists::Unchecked::Refused }),
            "127.255.255.254 means could not check: {entries:?}"
        );
        ensure!(find("SpamCop", &vps) == Some(Listing::NotListed), "{entries:?}");
        ensure!(
            entries.len() == 9,
            "4 address lists × 2 addresses + DBL for the domain: {entries:?}"
        );
        Ok(())
    })
}
