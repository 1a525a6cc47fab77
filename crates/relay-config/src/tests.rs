//! Tests of parsing, checking and writing the config file.

use std::path::Path;

use super::*;

const EXAMPLE: &str = include_str!("../../relay/etc/relay.example.toml");

const MINIMAL: &str = r#"
[server]
hostname = "mail.example.com"
domains = ["example.com"]
"#;

fn parse(source: &str) -> Result<Config, Error> {
    Config::parse(source, Path::new("relay.toml"))
}

/// Asserts that `source` is refused at `line` with a reason containing `reason`.
fn check_refused(source: &str, line: usize, reason: &str) {
    let error = parse(source).expect_err("the config should be refused");
    assert_eq!(error.file, Path::new("relay.toml"));
    let (found_line, _) = error.position.unwrap_or_else(|| panic!("no position in `{error}`"));
    assert_eq!(found_line, line, "wrong line in `{error}`");
    assert!(error.reason.contains(reason), "`{error}` should mention `{reason}`");
    assert!(error.to_string().starts_with(&format!("relay.toml:{line}:")), "{error}");
}

#[test]
fn the_example_file_is_valid_and_spells_out_the_defaults() {
    let example = parse(EXAMPLE).unwrap();
    let minimal = parse(MINIMAL).unwrap();
    assert_eq!(example.listeners, minimal.listeners);
    assert_eq!(example.tls, minimal.tls);
    assert_eq!(example.users, minimal.users);
    assert_eq!(example.queue, minimal.queue);
    assert_eq!(example.limits, minimal.limits);
    assert_eq!(example.log, minimal.log);
    assert_eq!(example.dns, minimal.dns);
    assert_eq!(example.delivery, minimal.delivery);
    assert_eq!(example.dkim.len(), 1);
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.server.hostname.as_str(), "mail.example.com");
    assert_eq!(config.listeners.submission.len(), 2);
    assert!(config.listeners.inbound.is_empty());
    assert_eq!(config.queue.give_up_after.get().as_secs(), 5 * 86_400);
    assert_eq!(config.limits.max_message_size.bytes(), 50 << 20);
    assert_eq!(config.log.level, LogLevel::Info);
}

#[test]
fn writing_and_reading_back_gives_the_same_config() {
    let config = parse(EXAMPLE).unwrap();
    let written = config.to_toml();
    assert!(written.starts_with("# outpost-relay configuration"));
    assert_eq!(parse(&written).unwrap(), config);
}

#[test]
fn unknown_fields_are_refused_where_they_stand() {
    check_refused(
        "[server]\nhostname = \"mail.example.com\"\ndomains = [\"example.com\"]\nhostnme = \"x\"\n",
        4,
        "unknown field `hostnme`",
    );
    check_refused(&format!("{MINIMAL}\n[queue]\nretries = 3\n"), 7, "unknown field `retries`");
}

#[test]
fn syntax_errors_name_the_line() {
    check_refused("[server]\nhostname = \"mail.example.com\ndomains = []\n", 2, "");
}

#[test]
fn a_bad_value_is_blamed_on_its_own_line() {
    check_refused(
        "[server]\nhostname = \"mail..example.com\"\ndomains = [\"example.com\"]\n",
        2,
        "empty label",
    );
    check_refused(&format!("{MINIMAL}[queue]\ngive_up_after = \"5 weeks\"\n"), 6, "unknown unit");
    check_refused(&format!("{MINIMAL}[users]\nfile = \"users.txt\"\n"), 6, "relative path");
    check_refused(&format!("{MINIMAL}[listeners]\nsubmission = [\"587\"]\n"), 6, "socket address");
    check_refused(&format!("{MINIMAL}[log]\nlevel = \"loud\"\n"), 6, "unknown variant `loud`");
}

#[test]
fn a_missing_required_value_is_named() {
    let error = parse("[server]\nhostname = \"mail.example.com\"\n").unwrap_err();
    assert!(error.reason.contains("missing field `domains`"), "{error}");
    let error = parse("").unwrap_err();
    assert!(error.reason.contains("missing field `server`"), "{error}");
}

#[test]
fn relations_between_values_are_checked_and_located() {
    let dkim_elsewhere = format!(
        "{MINIMAL}\n[[dkim]]\ndomain = \"example.com\"\nselector = \"a\"\nkey_file = \"/k1\"\n\n\
         [[dkim]]\ndomain = \"other.com\"\nselector = \"a\"\nkey_file = \"/k2\"\n"
    );
    check_refused(&dkim_elsewhere, 12, "dkim[1].domain: `other.com` is not one of server.domains");

    let dkim_twice = format!(
        "{MINIMAL}[[dkim]]\ndomain = \"example.com\"\nselector = \"a\"\nkey_file = \"/k1\"\n\
         [[dkim]]\ndomain = \"example.com\"\nselector = \"a\"\nkey_file = \"/k2\"\n"
    );
    check_refused(&dkim_twice, 11, "used twice");

    check_refused(
        "[server]\nhostname = \"mail.example.com\"\ndomains = []\n",
        3,
        "at least one domain",
    );
    check_refused(
        &format!(
            "{MINIMAL}[listeners]\nsubmission = [\"0.0.0.0:587\"]\nsubmissions = [\"0.0.0.0:587\"]\n"
        ),
        7,
        "listed twice",
    );
    check_refused(
        &format!("{MINIMAL}[listeners]\nsubmission = []\nsubmissions = []\n"),
        5,
        "every listener is empty",
    );
    check_refused(&format!("{MINIMAL}[queue]\nfirst_retry = \"3h\"\n"), 6, "max_retry_interval");
    check_refused(&format!("{MINIMAL}[limits]\nmax_recipients = 0\n"), 6, "at least 1");
}

#[test]
fn sizes_may_be_plain_numbers() {
    let config = parse(&format!("{MINIMAL}[limits]\nmax_message_size = 1048576\n")).unwrap();
    assert_eq!(config.limits.max_message_size, ByteSize::mib(1));
}

#[test]
fn load_reports_an_unreadable_file() {
    let error = Config::load(Path::new("/nonexistent/relay.toml")).unwrap_err();
    assert_eq!(error.position, None);
    assert!(
        error.to_string().starts_with("/nonexistent/relay.toml: cannot read the file"),
        "{error}"
    );
}

#[test]
fn port_80_without_acme_is_allowed() {
    // Port 80 without ACME only redirects to HTTPS: allowed (the app checks the ports are
    // reachable before it asks for a certificate).
    parse(&format!("{MINIMAL}[listeners]\nacme_http = [\"0.0.0.0:80\"]\n")).unwrap();
}

#[test]
fn acme_needs_a_challenge_listener_an_https_directory_and_no_certificate_files() {
    check_refused(
        &format!("{MINIMAL}[tls.acme]\ndirectory = \"https://ca.example/dir\"\n"),
        5,
        "need listeners.https (port 443) or listeners.acme_http",
    );
    let listening = "[listeners]\nhttps = [\"0.0.0.0:443\"]\n";
    check_refused(
        &format!("{MINIMAL}{listening}[tls.acme]\ndirectory = \"http://ca.example/dir\"\n"),
        8,
        "not an https:// URL",
    );
    check_refused(
        &format!("{MINIMAL}{listening}[tls.acme]\ncontact = \"mailto:me@example.com\"\n"),
        8,
        "without mailto:",
    );
    let config =
        parse(&format!("{MINIMAL}{listening}[tls.acme]\nnames = [\"mta-sts.example.com\"]\n"))
            .unwrap();
    let acme = config.tls.acme.as_ref().unwrap();
    assert_eq!(acme.directory, Acme::LETS_ENCRYPT, "Let's Encrypt unless told otherwise");
    assert_eq!(acme.names[0].as_str(), "mta-sts.example.com");
    assert_eq!(config.mta_sts.mode, MtaStsMode::Testing, "MTA-STS starts in testing mode");
    assert_eq!(parse(&config.to_toml()).unwrap(), config, "what is written is what is read");
}

#[test]
fn a_config_built_in_memory_is_checked_like_a_file() {
    let server = Server {
        hostname: "mail.example.com".parse().unwrap(),
        domains: vec!["example.com".parse().unwrap()],
    };
    let config = Config::new(server.clone());
    config.check().unwrap();
    assert_eq!(parse(&config.to_toml()).unwrap(), config, "what is built is what is parsed");
    let error = Config::new(Server { domains: Vec::new(), ..server }).check().unwrap_err();
    assert!(error.reason.starts_with("server.domains: list at least one domain"), "{error}");
}

#[test]
fn receiving_needs_an_owner_outside_the_relays_own_domains() {
    let listening = "[listeners]\ninbound = [\"0.0.0.0:25\"]\n";
    let error = parse(&format!("{MINIMAL}{listening}")).unwrap_err();
    assert!(error.reason.contains("inbound.owner"), "{error}");
    let own =
        parse(&format!("{MINIMAL}{listening}[inbound]\nowner = \"me@example.com\"\n")).unwrap_err();
    assert!(own.reason.contains("only forwards"), "{own}");
    let config =
        parse(&format!("{MINIMAL}{listening}[inbound]\nowner = \"Me@Mail.Example.NET\"\n"))
            .unwrap();
    let owner = config.inbound.owner.unwrap();
    assert_eq!(owner.to_string(), "Me@mail.example.net");
    assert_eq!(config.inbound.blocklists[0].as_str(), "zen.spamhaus.org");
    assert!(config.inbound.arc);
    for bad in ["nobody", "a b@example.net", "@example.net", "a@localhost", "a..b@example.net"] {
        let text = format!("{MINIMAL}{listening}[inbound]\nowner = \"{bad}\"\n");
        assert!(parse(&text).is_err(), "{bad} was accepted");
    }
}
