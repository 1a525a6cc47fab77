//! The record plan: which DNS records the user must publish, derived from their choices and
//! from what the domain already has. Pure: no network here (the checks are in `check.rs`).
//!
//! Existing records are respected: a domain never gets a second SPF record (ours is merged into
//! the one it has, keeping e.g. `include:_spf.google.com`), and an MX change that would take mail
//! away from an existing mailbox provider is a warning, not a silent plan.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// TTL for new records: short, so a mistake can be fixed quickly.
pub const TTL: u32 = 3600;

/// A DMARC policy (RFC 7489 §6.3 `p=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum DmarcPolicy {
    /// Only reports: nothing is rejected. The safe first step.
    None,
    /// Failing mail goes to spam. What the tutorial recommends once everything passes.
    Quarantine,
    /// Failing mail is refused.
    Reject,
}

impl fmt::Display for DmarcPolicy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        })
    }
}

/// What the plan is made from.
#[derive(Debug, Clone)]
pub struct Input {
    /// The user's domain, e.g. `example.com`.
    pub domain: String,
    /// The mail host name, e.g. `mail.example.com`.
    pub mail_host: String,
    /// The server's public IPv4 addresses.
    pub ipv4: Vec<Ipv4Addr>,
    /// Its public IPv6 addresses (empty when IPv6 sending is off).
    pub ipv6: Vec<Ipv6Addr>,
    /// Whether the domain's mail should arrive at this server (MX).
    pub receive_mail: bool,
    /// DKIM keys: (selector, TXT value).
    pub dkim: Vec<(String, String)>,
    /// The DMARC policy.
    pub dmarc: DmarcPolicy,
    /// Where DMARC aggregate reports go.
    pub dmarc_reports: Option<String>,
    /// The MTA-STS policy the relay serves, once it has a CA's certificate (its `_mta-sts` id
    /// is made from this very text).
    pub mta_sts_policy: Option<String>,
    /// Where TLS reports (RFC 8460) go: a mailbox the user reads.
    pub tls_reports: Option<String>,
    /// Once a CA issued: the names on the certificate and the CAA `issue` value (without flags
    /// and tag) that lets only the relay's account get the next one.
    pub caa: Option<(Vec<String>, String)>,
    /// Whether the mail host's own records (its addresses, its SPF, the PTR) are in this plan:
    /// the first domain's; a further domain on the same relay only points its MX at the host.
    pub host_records: bool,
}

/// What the domain already publishes (read by `check.rs` before planning).
#[derive(Debug, Clone, Default)]
pub struct Existing {
    /// TXT records at the domain that start with `v=spf1`.
    pub spf: Vec<String>,
    /// MX records at the domain: (preference, host).
    pub mx: Vec<(u16, String)>,
    /// TXT records at `_dmarc.<domain>` that start with `v=DMARC1`.
    pub dmarc: Vec<String>,
}

/// The record types the plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(rename = "RecordKind")]
pub enum Kind {
    /// IPv4 address.
    A,
    /// IPv6 address.
    #[allow(clippy::upper_case_acronyms)]
    AAAA,
    /// Mail exchanger.
    MX,
    /// Text (SPF, DKIM, DMARC).
    TXT,
    /// Reverse DNS: set in the VPS provider's panel, not in the domain's zone.
    PTR,
    /// Certification Authority Authorization (RFC 8659).
    CAA,
}

/// Whether a record is needed for mail to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
#[ts(rename = "RecordNeed")]
pub enum Need {
    /// Mail fails checks without it.
    Required,
    /// Better with it.
    Recommended,
    /// Worth having, with a consequence to understand first; not counted in the verdict.
    Optional,
}

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "DnsRecord")]
pub struct Record {
    /// The type.
    pub kind: Kind,
    /// The full name, with a trailing dot (`mail.example.com.`).
    pub name: String,
    /// The name as most DNS panels want it: relative to the domain, `@` for the domain itself.
    pub host: String,
    /// The value as a person pastes it (a TXT value whole, without quotes).
    pub value: String,
    /// The value's parts, for panels with a field each: MX `[preference, host]`, CAA
    /// `[flags, tag, value]`; empty for the others.
    pub fields: Vec<String>,
    /// Time to live, seconds.
    pub ttl: u32,
    /// What it is for (the UI's catalogue says it in words).
    pub purpose: Purpose,
    /// Required or recommended.
    pub need: Need,
}

/// What a record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "RecordPurpose")]
pub enum Purpose {
    /// Points the mail host name at the server (A).
    Address,
    /// Points the mail host name at the server's IPv6 address (AAAA).
    Ipv6Address,
    /// Sends the domain's mail to the server (MX).
    Mx,
    /// SPF: the server may send for the domain.
    Spf,
    /// SPF for the mail host name itself (checked at the greeting).
    SpfMailHost,
    /// DKIM: the public key of the server's signature.
    Dkim,
    /// DMARC: what receivers do with mail that fails, and where reports go.
    Dmarc,
    /// Reverse DNS of one of the server's addresses (set in the provider's panel).
    ReverseDns,
    /// Points `mta-sts.<domain>` at the server, which serves the MTA-STS policy there.
    MtaStsHost,
    /// Announces the MTA-STS policy and its version (`_mta-sts`, RFC 8461 §3.1).
    MtaSts,
    /// Where senders report TLS problems (`_smtp._tls`, RFC 8460).
    TlsReports,
    /// Points `autoconfig.<domain>` at the server, so mail programs set themselves up.
    AutoconfigHost,
    /// Lets only the relay's account at its CA get certificates for a name (CAA, RFC 8657).
    Caa,
}

impl Record {
    /// The TXT value as 255-byte character-strings, quoted, for zone files and panels that
    /// need it split (RFC 1035 §3.3.14).
    pub fn quoted_strings(&self) -> String {
        outpost_relay_api::split_txt(&self.value)
            .iter()
            .map(|part| format!("\"{}\"", part.replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Something the user should know before publishing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(rename = "DnsWarning")]
pub enum Warning {
    /// The domain already receives mail elsewhere; pointing MX here would move it.
    MxTakesMailAway {
        /// The current mail servers.
        current: Vec<String>,
    },
    /// The domain has several SPF records, which makes SPF fail everywhere (RFC 7208 §3.2).
    SeveralSpfRecords {
        /// What was found.
        found: Vec<String>,
    },
    /// The domain has several DMARC records, which receivers treat as none.
    SeveralDmarcRecords {
        /// What was found.
        found: Vec<String>,
    },
}

/// The records, and what to know before publishing them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// In the order to publish them.
    pub records: Vec<Record>,
    /// Things to read first.
    pub warnings: Vec<Warning>,
}

/// Makes the plan.
pub fn plan(input: &Input, existing: &Existing) -> Plan {
    let domain = input.domain.trim_end_matches('.').to_ascii_lowercase();
    let host = input.mail_host.trim_end_matches('.').to_ascii_lowercase();
    let fqdn = |name: &str| format!("{name}.");
    let relative = |name: &str| {
        if name == domain {
            "@".to_string()
        } else {
            name.strip_suffix(&format!(".{domain}")).unwrap_or(name).to_string()
        }
    };
    let record = |kind, name: &str, value: String, purpose, need| Record {
        kind,
        name: fqdn(name),
        host: relative(name),
        value,
        fields: Vec::new(),
        ttl: TTL,
        purpose,
        need,
    };
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    if input.host_records {
        for address in &input.ipv4 {
            let value = address.to_string();
            records.push(record(Kind::A, &host, value, Purpose::Address, Need::Required));
        }
        for address in &input.ipv6 {
            let value = address.to_string();
            records.push(record(Kind::AAAA, &host, value, Purpose::Ipv6Address, Need::Required));
        }
    }
    if input.receive_mail {
        let ours = fqdn(&host);
        let elsewhere: Vec<String> = existing
            .mx
            .iter()
            .map(|(_, exchange)| exchange.to_ascii_lowercase())
            .filter(|exchange| exchange.trim_end_matches('.') != host)
            .collect();
        if !elsewhere.is_empty() {
            warnings.push(Warning::MxTakesMailAway { current: elsewhere });
        }
        let mut mx = record(Kind::MX, &domain, format!("10 {ours}"), Purpose::Mx, Need::Required);
        mx.fields = vec!["10".into(), ours];
        records.push(mx);
    }
    records.push(record(
        Kind::TXT,
        &domain,
        merge_spf(&existing.spf, input),
        Purpose::Spf,
        Need::Required,
    ));
    if existing.spf.len() > 1 {
        warnings.push(Warning::SeveralSpfRecords { found: existing.spf.clone() });
    }
    if input.host_records {
        records.push(record(
            Kind::TXT,
            &host,
            "v=spf1 a -all".into(),
            Purpose::SpfMailHost,
            Need::Recommended,
        ));
    }
    for (selector, value) in &input.dkim {
        records.push(record(
            Kind::TXT,
            &outpost_relay_api::dkim_record_name(selector, &domain),
            value.clone(),
            Purpose::Dkim,
            Need::Required,
        ));
    }
    if existing.dmarc.len() > 1 {
        warnings.push(Warning::SeveralDmarcRecords { found: existing.dmarc.clone() });
    }
    let dmarc = match &input.dmarc_reports {
        Some(reports) => format!("v=DMARC1; p={}; rua=mailto:{reports}; fo=1", input.dmarc),
        None => format!("v=DMARC1; p={}", input.dmarc),
    };
    records.push(record(
        Kind::TXT,
        &format!("_dmarc.{domain}"),
        dmarc,
        Purpose::Dmarc,
        Need::Required,
    ));
    // Once the relay serves HTTPS with a CA's certificate: MTA-STS (its policy host and id) and
    // autoconfig. TLS reports only where someone reads them.
    if let Some(policy) = &input.mta_sts_policy {
        for (prefix, purpose) in
            [("mta-sts", Purpose::MtaStsHost), ("autoconfig", Purpose::AutoconfigHost)]
        {
            let name = format!("{prefix}.{domain}");
            for address in &input.ipv4 {
                records.push(record(
                    Kind::A,
                    &name,
                    address.to_string(),
                    purpose,
                    Need::Recommended,
                ));
            }
            for address in &input.ipv6 {
                records.push(record(
                    Kind::AAAA,
                    &name,
                    address.to_string(),
                    purpose,
                    Need::Recommended,
                ));
            }
        }
        records.push(record(
            Kind::TXT,
            &format!("_mta-sts.{domain}"),
            format!("v=STSv1; id={}", outpost_relay_api::mta_sts_id(policy)),
            Purpose::MtaSts,
            Need::Recommended,
        ));
        if let Some(reports) = &input.tls_reports {
            records.push(record(
                Kind::TXT,
                &format!("_smtp._tls.{domain}"),
                format!("v=TLSRPTv1; rua=mailto:{reports}"),
                Purpose::TlsReports,
                Need::Recommended,
            ));
        }
    }
    // At each name on the certificate, not at the domain: a CAA record applies to the names
    // below it too, and the user's website may get its certificates elsewhere.
    if let Some((names, issue)) = &input.caa {
        for name in names {
            let value = format!("0 issue \"{issue}\"");
            let mut caa = record(Kind::CAA, name, value, Purpose::Caa, Need::Optional);
            caa.fields = vec!["0".into(), "issue".into(), issue.clone()];
            records.push(caa);
        }
    }
    let ptr_name = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(_) => format!("{}.in-addr.arpa.", super::reversed(ip)),
        std::net::IpAddr::V6(_) => format!("{}.ip6.arpa.", super::reversed(ip)),
    };
    let ips = input
        .ipv4
        .iter()
        .map(|v4| std::net::IpAddr::V4(*v4))
        .chain(input.ipv6.iter().map(|v6| std::net::IpAddr::V6(*v6)));
    for ip in ips.filter(|_| input.host_records) {
        records.push(Record {
            kind: Kind::PTR,
            name: ptr_name(ip),
            host: ip.to_string(),
            value: fqdn(&host),
            fields: Vec::new(),
            ttl: TTL,
            purpose: Purpose::ReverseDns,
            need: Need::Required,
        });
    }
    Plan { records, warnings }
}

/// The domain's SPF record with our addresses in it: the existing one merged (never a second
/// record), or a new one.
fn merge_spf(existing: &[String], input: &Input) -> String {
    let ours: Vec<String> = input
        .ipv4
        .iter()
        .map(|ip| format!("ip4:{ip}"))
        .chain(input.ipv6.iter().map(|ip| format!("ip6:{ip}")))
        .collect();
    let Some(current) = existing.first() else {
        return format!("v=spf1 {} -all", ours.join(" "));
    };
    // Several records: merge their mechanisms into one (the warning says why).
    let mut terms: Vec<String> = Vec::new();
    let mut all = None;
    for record in existing {
        for term in record.split_whitespace().skip(1) {
            let lower = term.to_ascii_lowercase();
            if lower.ends_with("all")
                && matches!(lower.trim_start_matches(['+', '-', '~', '?']), "all")
            {
                all.get_or_insert(term.to_string());
            } else if !terms.iter().any(|existing| existing.eq_ignore_ascii_case(term)) {
                terms.push(term.to_string());
            }
        }
    }
    let missing: Vec<String> = ours
        .into_iter()
        .filter(|term| !terms.iter().any(|existing| existing.eq_ignore_ascii_case(term)))
        .collect();
    if missing.is_empty() && existing.len() == 1 {
        return current.clone();
    }
    let mut merged = vec!["v=spf1".to_string()];
    merged.extend(missing);
    merged.extend(terms);
    merged.push(all.unwrap_or_else(|| "~all".into()));
    merged.join(" ")
}

/// The whole plan as a zone-file fragment (PTR records as comments: they belong to the
/// provider's reverse zone).
pub fn zone_file(plan: &Plan) -> String {
    let mut text = String::from("; DNS records for your Outpost mail server\n");
    for record in &plan.records {
        let value = match record.kind {
            Kind::TXT => record.quoted_strings(),
            _ => record.value.clone(),
        };
        let line = format!("{}\t{}\tIN\t{:?}\t{}", record.name, record.ttl, record.kind, value);
        if record.kind == Kind::PTR {
            text.push_str(&format!("; set in your VPS provider's panel: {line}\n"));
        } else {
            text.push_str(&format!("{line}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Input {
        Input {
            domain: "example.com".into(),
            mail_host: "mail.example.com".into(),
            ipv4: vec!["203.0.113.10".parse().unwrap()],
            ipv6: vec!["2001:db8::10".parse().unwrap()],
            receive_mail: false,
            dkim: vec![("outpost".into(), format!("v=DKIM1; k=rsa; p={}", "A".repeat(392)))],
            dmarc: DmarcPolicy::Quarantine,
            dmarc_reports: Some("postmaster@example.com".into()),
            mta_sts_policy: None,
            tls_reports: None,
            caa: None,
            host_records: true,
        }
    }

    #[test]
    fn a_further_domain_points_at_the_first_ones_mail_host_without_its_records() {
        let input = Input {
            domain: "example.org".into(),
            receive_mail: true,
            host_records: false,
            ..input()
        };
        let plan = plan(&input, &Existing::default());
        let kinds: Vec<(Kind, &str)> =
            plan.records.iter().map(|record| (record.kind, record.host.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (Kind::MX, "@"),
                (Kind::TXT, "@"),
                (Kind::TXT, "outpost._domainkey"),
                (Kind::TXT, "_dmarc"),
            ],
            "no A, AAAA, mail-host SPF or PTR: those are in example.com's zone"
        );
        assert_eq!(find(&plan, Kind::MX, "@").value, "10 mail.example.com.");
        assert_eq!(
            find(&plan, Kind::TXT, "@").value,
            "v=spf1 ip4:203.0.113.10 ip6:2001:db8::10 -all"
        );
    }

    fn find<'a>(plan: &'a Plan, kind: Kind, host: &str) -> &'a Record {
        plan.records
            .iter()
            .find(|record| record.kind == kind && record.host == host)
            .unwrap_or_else(|| panic!("no {kind:?} {host}"))
    }

    #[test]
    fn a_fresh_domain_gets_every_record() {
        let plan = plan(&input(), &Existing::default());
        assert_eq!(find(&plan, Kind::A, "mail").value, "203.0.113.10");
        assert_eq!(find(&plan, Kind::AAAA, "mail").value, "2001:db8::10");
        assert_eq!(
            find(&plan, Kind::TXT, "@").value,
            "v=spf1 ip4:203.0.113.10 ip6:2001:db8::10 -all"
        );
        assert_eq!(find(&plan, Kind::TXT, "mail").value, "v=spf1 a -all");
        assert_eq!(
            find(&plan, Kind::TXT, "outpost._domainkey").name,
            "outpost._domainkey.example.com."
        );
        assert_eq!(
            find(&plan, Kind::TXT, "_dmarc").value,
            "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.com; fo=1"
        );
        assert_eq!(find(&plan, Kind::PTR, "203.0.113.10").name, "10.113.0.203.in-addr.arpa.");
        assert_eq!(
            find(&plan, Kind::PTR, "2001:db8::10").name,
            "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
        );
        assert!(
            plan.records.iter().all(|record| record.kind != Kind::MX),
            "no MX unless the domain receives here"
        );
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn with_a_certificate_mta_sts_autoconfig_and_tls_reports_are_planned() {
        assert!(
            plan(&input(), &Existing::default())
                .records
                .iter()
                .all(|r| r.purpose != Purpose::MtaSts),
            "no MTA-STS before HTTPS has a CA's certificate"
        );
        let policy =
            "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 604800\r\n";
        let mut with = input();
        with.mta_sts_policy = Some(policy.into());
        with.tls_reports = Some("me@gmail.test".into());
        let planned = plan(&with, &Existing::default());
        let sts = find(&planned, Kind::TXT, "_mta-sts");
        assert_eq!(sts.value, format!("v=STSv1; id={}", outpost_relay_api::mta_sts_id(policy)));
        assert_eq!(
            find(&planned, Kind::TXT, "_smtp._tls").value,
            "v=TLSRPTv1; rua=mailto:me@gmail.test"
        );
        assert_eq!(find(&planned, Kind::A, "mta-sts").value, "203.0.113.10");
        assert_eq!(find(&planned, Kind::AAAA, "autoconfig").value, "2001:db8::10");
        // A changed policy gets a new id: senders fetch it again.
        let mut enforce = with.clone();
        enforce.mta_sts_policy = Some(policy.replace("testing", "enforce"));
        assert_ne!(
            find(&plan(&enforce, &Existing::default()), Kind::TXT, "_mta-sts").value,
            sts.value
        );
        // Without a mailbox the user reads, no TLS reports.
        with.tls_reports = None;
        assert!(
            plan(&with, &Existing::default())
                .records
                .iter()
                .all(|r| r.purpose != Purpose::TlsReports)
        );
    }

    #[test]
    fn the_optional_caa_record_is_at_each_certified_name_never_at_the_domain() {
        assert!(plan(&input(), &Existing::default()).records.iter().all(|r| r.kind != Kind::CAA));
        let issue = crate::dns::caa::issue_value("letsencrypt.org", "https://ca.test/acct/1");
        let mut with = input();
        with.caa = Some((vec!["mail.example.com".into(), "mta-sts.example.com".into()], issue));
        let planned = plan(&with, &Existing::default());
        let caa: Vec<&Record> = planned.records.iter().filter(|r| r.kind == Kind::CAA).collect();
        assert_eq!(caa.iter().map(|r| r.host.as_str()).collect::<Vec<_>>(), ["mail", "mta-sts"]);
        assert!(caa.iter().all(|r| r.need == Need::Optional && r.purpose == Purpose::Caa));
        assert_eq!(caa[0].fields[..2], ["0", "issue"]);
        assert!(crate::dns::caa::same(&caa[0].value, &format!("0 issue \"{}\"", caa[0].fields[2])));
        assert!(zone_file(&planned).contains(
            "mail.example.com.\t3600\tIN\tCAA\t0 issue \"letsencrypt.org; accounturi=https://ca.test/acct/1; validationmethods=tls-alpn-01,http-01\""
        ));
    }

    #[test]
    fn an_existing_spf_is_merged_never_doubled() {
        let existing = Existing {
            spf: vec!["v=spf1 include:_spf.google.com ~all".into()],
            ..Default::default()
        };
        let plan = plan(&input(), &existing);
        assert_eq!(
            find(&plan, Kind::TXT, "@").value,
            "v=spf1 ip4:203.0.113.10 ip6:2001:db8::10 include:_spf.google.com ~all"
        );
        let spf_records = plan
            .records
            .iter()
            .filter(|record| record.host == "@" && record.value.starts_with("v=spf1"))
            .count();
        assert_eq!(spf_records, 1);
        // Already right: unchanged.
        let right = Existing {
            spf: vec!["v=spf1 ip4:203.0.113.10 ip6:2001:db8::10 mx -all".into()],
            ..Default::default()
        };
        assert_eq!(
            find(&super::plan(&input(), &right), Kind::TXT, "@").value,
            "v=spf1 ip4:203.0.113.10 ip6:2001:db8::10 mx -all"
        );
    }

    #[test]
    fn two_spf_records_become_one_with_a_warning() {
        let existing = Existing {
            spf: vec!["v=spf1 a -all".into(), "v=spf1 include:mailgun.org ~all".into()],
            ..Default::default()
        };
        let plan = plan(&input(), &existing);
        assert_eq!(
            find(&plan, Kind::TXT, "@").value,
            "v=spf1 ip4:203.0.113.10 ip6:2001:db8::10 a include:mailgun.org -all"
        );
        assert!(matches!(plan.warnings[0], Warning::SeveralSpfRecords { .. }));
    }

    #[test]
    fn moving_mail_away_from_a_mailbox_provider_is_a_warning() {
        let mut receiving = input();
        receiving.receive_mail = true;
        let existing =
            Existing { mx: vec![(1, "aspmx.l.google.com.".into())], ..Default::default() };
        let plan = plan(&receiving, &existing);
        assert_eq!(find(&plan, Kind::MX, "@").value, "10 mail.example.com.");
        assert_eq!(find(&plan, Kind::MX, "@").fields, ["10", "mail.example.com."]);
        assert_eq!(
            plan.warnings,
            vec![Warning::MxTakesMailAway { current: vec!["aspmx.l.google.com.".into()] }]
        );
    }

    #[test]
    fn the_zone_file_splits_long_txt_values_and_comments_ptr() {
        let plan = plan(&input(), &Existing::default());
        let zone = zone_file(&plan);
        let dkim_line = zone.lines().find(|line| line.starts_with("outpost._domainkey")).unwrap();
        assert!(dkim_line.contains("\" \""), "split into strings: {dkim_line}");
        assert!(zone.lines().any(|line| {
            line.starts_with("; set in your VPS provider's panel: 10.113.0.203.in-addr.arpa.")
        }));
        let dkim = find(&plan, Kind::TXT, "outpost._domainkey");
        assert!(
            dkim.quoted_strings().split("\" \"").all(|part| part.trim_matches('"').len() <= 255)
        );
    }
}
