use super::*;
use crate::progress::Progress;
use crate::remote::fake::FakeServer;
use crate::secrets::{MemoryStore, SecretName};

const ARTIFACT: Artifact<'static> =
    Artifact { bytes: b"\x7fELF relay", sha256: "abc123", version: "9.9.9" };
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END PRIVATE KEY-----\n";
const RUNNING: &str = r#"{"api":1,"ok":{"version":"9.9.9","pid":7,"updated":1,"running":true,"listeners":[],"certificates":[],"queued":0,"recentDeliveries":[]}}"#;

fn input() -> Input {
    crate::choices::Domain::new(
        "example.com",
        "",
        "",
        "",
        false,
        crate::dns::records::DmarcPolicy::None,
    )
    .unwrap()
    .relay_input(&[], crate::certificate::Tls::SelfSigned)
    .unwrap()
}

/// A server where nothing of Outpost's is installed yet.
fn fresh_server() -> FakeServer {
    FakeServer::new()
        .answer("cat ", 0, "")
        .answer("sha256sum", 0, "")
        .answer("sha256sum -c", 0, "")
        .answer("--version", 0, "outpost-relay 9.9.9\n")
        .answer("test -f '/usr/local/bin/outpost-relay'", 1, "")
        .answer("id outpost", 1, "")
        .answer("'check-config'", 0, r#"{"api":1,"ok":{"kind":"valid","hostname":"mail.example.com","domains":["example.com"]}}"#)
        .answer("test -s", 1, "")
        .answer("'dkim' 'generate'", 0, r#"{"api":1,"ok":{"domain":"example.com","selector":"outpost","algorithm":"rsa-sha256","keyFile":"/etc/outpost/dkim/outpost.pem","txt":"v=DKIM1; k=rsa; p=AB"}}"#)
        .answer("cat '/etc/outpost/dkim/outpost.pem'", 0, KEY)
        .answer("'user' 'list'", 0, r#"{"api":1,"ok":{"users":[]}}"#)
        .answer("'user' 'add'", 0, r#"{"api":1,"ok":{"user":"hello@example.com","action":"added"}}"#)
        .answer("'status'", 0, RUNNING)
        .answer("MainPID", 0, "7\n")
}

/// A server where this very install already ran.
fn installed_server(input: &Input) -> FakeServer {
    FakeServer::new()
        .answer("sha256sum", 0, "abc123\n")
        .answer("id outpost", 0, "uid=999(outpost)")
        .answer("cat '/etc/outpost/relay.toml'", 0, &input.config.to_toml())
        .answer("test -s", 0, "")
        .answer("'user' 'list'", 0, r#"{"api":1,"ok":{"users":["hello@example.com"]}}"#)
        .answer("cat '/etc/systemd/system/outpost-relay.service'", 0, UNIT_TEXT)
        .answer("'status'", 0, RUNNING)
        .answer("MainPID", 0, "7\n")
}

async fn run(
    server: &FakeServer,
    secrets: &MemoryStore,
) -> (Result<Vec<Step>, Error>, Vec<Progress>) {
    let mut events = Vec::new();
    let result =
        install_with(server, &input(), secrets, &mut |event| events.push(event), &ARTIFACT).await;
    (result, events)
}

#[tokio::test]
async fn a_fresh_server_gets_every_stage_in_order() {
    let server = fresh_server();
    let secrets = MemoryStore::default();
    let (result, events) = run(&server, &secrets).await;
    let steps = result.unwrap();
    let stages: Vec<Stage> = steps.iter().map(|step| step.stage).collect();
    assert_eq!(stages, STAGES);
    let announced: Vec<Stage> = events
        .iter()
        .filter_map(|event| match event {
            Progress::Stage { id } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(announced, STAGES, "each stage is announced before it runs");
    assert_eq!(steps[0].detail, Detail::BinaryInstalled { version: "9.9.9".into(), bytes: 10 });
    assert_eq!(
        steps[3].detail,
        Detail::DkimMade { records: vec!["outpost._domainkey.example.com".into()] }
    );
    assert_eq!(steps[5].detail, Detail::NotReceiving);
    assert_eq!(steps[7].detail, Detail::NoFirewall { ports: vec![465, 587] });
    assert_eq!(steps[8].detail, Detail::Ipv6NotWanted);
    assert!(
        steps
            .iter()
            .filter(|step| ![Stage::Aliases, Stage::Firewall, Stage::Ipv6].contains(&step.stage))
            .all(|step| step.changed)
    );
    // The binary went beside the old one and was verified before the swap.
    let commands = server.commands();
    let verified = commands.iter().position(|c| c.contains("sha256sum -c")).unwrap();
    let swapped = commands
        .iter()
        .position(|c| c.contains("mv -f '/usr/local/bin/outpost-relay.new'"))
        .unwrap();
    assert!(verified < swapped);
    assert_eq!(server.uploads()[0], "/usr/local/bin/outpost-relay.new");
    // The secrets went to the keychain.
    let dkim = SecretName::DkimKey { record: "outpost._domainkey.example.com".into() };
    assert_eq!(secrets.get(&dkim).await.unwrap().as_deref(), Some(KEY));
    let smtp = SecretName::SmtpPassword { user: "hello@example.com".into() };
    assert_eq!(secrets.get(&smtp).await.unwrap().unwrap().len(), 24);
}

#[tokio::test]
async fn no_progress_event_carries_a_secret() {
    let server = fresh_server();
    let secrets = MemoryStore::default();
    let (result, events) = run(&server, &secrets).await;
    result.unwrap();
    let smtp = SecretName::SmtpPassword { user: "hello@example.com".into() };
    let password = secrets.get(&smtp).await.unwrap().unwrap();
    for event in &events {
        let text = format!("{event:?}");
        assert!(!text.contains("PRIVATE KEY") && !text.contains("MIIsecret"), "{text}");
        assert!(!text.contains(&password), "{text}");
    }
    // The password reached the relay on standard input, never on a command line.
    for request in server.requests() {
        if let crate::remote::fake::Request::Run { command, .. } = request {
            assert!(!command.contains(&password), "{command}");
        }
    }
}

#[tokio::test]
async fn a_second_run_changes_nothing() {
    let input = input();
    let server = installed_server(&input);
    let secrets = MemoryStore::default();
    for record in ["outpost._domainkey.example.com"] {
        secrets.set(&SecretName::DkimKey { record: record.into() }, KEY).await.unwrap();
    }
    let smtp = SecretName::SmtpPassword { user: "hello@example.com".into() };
    secrets.set(&smtp, "kept").await.unwrap();
    let (result, _) = run(&server, &secrets).await;
    let steps = result.unwrap();
    assert!(steps.iter().all(|step| !step.changed), "{steps:#?}");
    assert!(server.uploads().is_empty());
    let commands = server.commands();
    assert!(
        !commands.iter().any(|c| c.contains("restart")
            || c.contains("'user' 'add'")
            || c.contains("'dkim' 'generate'")),
        "{commands:#?}"
    );
    assert_eq!(secrets.get(&smtp).await.unwrap().as_deref(), Some("kept"));
}

#[tokio::test]
async fn a_full_disk_is_its_own_error_and_names_the_stage() {
    let server = fresh_server().fail(
        "install -d",
        "install: cannot create directory '/etc/outpost': No space left on device",
    );
    let (result, _) = run(&server, &MemoryStore::default()).await;
    match result {
        Err(Error::DiskFull { stage: Stage::User, detail }) => {
            assert!(detail.contains("No space left"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_binary_that_does_not_run_changes_nothing() {
    let server = fresh_server().answer("--version", 126, "cannot execute binary file");
    let (result, _) = run(&server, &MemoryStore::default()).await;
    assert!(matches!(result, Err(Error::DoesNotRun { .. })), "{result:?}");
    let commands = server.commands();
    assert!(commands.iter().any(|c| c == "rm -f '/usr/local/bin/outpost-relay.new'"));
    assert!(!commands.iter().any(|c| c.contains("mv -f")), "{commands:#?}");
}

#[test]
fn passwords_are_long_random_and_unambiguous() {
    let first = new_password();
    assert_eq!(first.len(), 24);
    assert!(!first.contains(['0', 'O', 'l', 'I', '1']));
    assert_ne!(first, new_password());
}

#[test]
fn the_firewall_opens_the_ports_the_relay_listens_on() {
    assert_eq!(firewall_ports(&input().config), [465, 587]);
}

#[test]
fn the_unit_installed_is_the_repo_file() {
    assert!(
        UNIT_TEXT.contains(
            "ExecStart=/usr/local/bin/outpost-relay serve --config /etc/outpost/relay.toml"
        )
    );
    assert!(UNIT_TEXT.contains(&format!("check-config {CONFIG}")));
}

#[tokio::test]
async fn a_retired_smtp_user_leaves_the_server_and_the_keychain() {
    let secrets = MemoryStore::default();
    let old = SecretName::SmtpPassword { user: "old@example.com".into() };
    secrets.set(&old, "old password").await.unwrap();
    let server = FakeServer::new()
        .answer(
            "'user' 'list'",
            0,
            r#"{"api":1,"ok":{"users":["old@example.com","hello@example.com"]}}"#,
        )
        .answer(
            "'user' 'remove'",
            0,
            r#"{"api":1,"ok":{"user":"old@example.com","action":"removed"}}"#,
        );
    retire_smtp_user(&server, &secrets, "old@example.com").await.unwrap();
    assert!(
        server
            .commands()
            .iter()
            .any(|c| c.ends_with("-- 'old@example.com'") && c.contains("'user' 'remove'"))
    );
    assert_eq!(secrets.get(&old).await.unwrap(), None);
    // Gone already: nothing to remove on the server, and no error.
    let gone = FakeServer::new().answer("'user' 'list'", 0, r#"{"api":1,"ok":{"users":[]}}"#);
    retire_smtp_user(&gone, &secrets, "old@example.com").await.unwrap();
    assert!(!gone.commands().iter().any(|c| c.contains("'user' 'remove'")));
}

#[tokio::test]
async fn the_aliases_on_the_server_are_made_exactly_the_wizards() {
    let domain = crate::choices::Domain::new(
        "example.com",
        "",
        "",
        "me@gmail.com",
        false,
        crate::dns::records::DmarcPolicy::None,
    )
    .unwrap()
    .with_forwarding(crate::choices::Forwarding {
        catch_all: true,
        aliases: vec![crate::choices::AliasChoice {
            name: "shop".into(),
            to: "me@shop.example".into(),
        }],
    })
    .unwrap();
    let input = domain.relay_input(&[], crate::certificate::Tls::SelfSigned).unwrap();
    // On the server: an alias the wizard no longer has, the catch-all as wanted, shop missing.
    let server = installed_server(&input)
        .answer("'alias' 'list'", 0, r#"{"api":1,"ok":{"aliases":[{"address":"old@example.com","destinations":["x@gmail.com"]},{"address":"*@example.com","destinations":["me@gmail.com"]}],"owner":"me@gmail.com"}}"#)
        .answer("'alias' 'remove'", 0, r#"{"api":1,"ok":{"address":"old@example.com","action":"removed"}}"#)
        .answer("'alias' 'add'", 0, r#"{"api":1,"ok":{"address":"shop@example.com","action":"added"}}"#);
    let secrets = MemoryStore::default();
    secrets
        .set(&SecretName::SmtpPassword { user: "hello@example.com".into() }, "pw")
        .await
        .unwrap();
    let steps = install_with(&server, &input, &secrets, &mut |_| {}, &ARTIFACT).await.unwrap();
    let step = steps.iter().find(|step| step.stage == Stage::Aliases).unwrap();
    assert_eq!(
        step.detail,
        Detail::AliasesSet {
            set: vec!["shop@example.com".into()],
            removed: vec!["old@example.com".into()]
        }
    );
    let commands = server.commands();
    assert!(
        commands
            .iter()
            .any(|c| c.contains("install -m 0640 -g outpost /dev/null '/etc/outpost/aliases'"))
    );
    assert!(
        commands.iter().any(|c| c.contains("'alias' 'add'")
            && c.ends_with("-- 'shop@example.com' 'me@shop.example'"))
    );
    assert!(
        !commands.iter().any(|c| c.contains("'alias' 'add'") && c.contains("'*@example.com'")),
        "the catch-all was right already"
    );
}

#[tokio::test]
async fn the_uninstall_plan_names_everything_it_removes_and_the_secrets_go_with_it() {
    let input = input();
    let secrets = MemoryStore::default();
    let names = [
        SecretName::SmtpPassword { user: "hello@example.com".into() },
        SecretName::SmtpPassword { user: "printer@example.com".into() },
        SecretName::DkimKey { record: "outpost._domainkey.example.com".into() },
        SecretName::AcmeAccounts { server: "198.51.100.10".into() },
    ];
    for name in &names {
        secrets.set(name, "secret").await.unwrap();
    }
    let kept = SecretName::SshPassword { login: "root@198.51.100.10".into() };
    secrets.set(&kept, "root password").await.unwrap();
    let server = FakeServer::new()
        .answer("cat '/etc/outpost/opened-ports'", 0, "ufw 587\nufw 465\nufw 587\nipv6-file\n")
        .answer("'queue' 'list'", 0, r#"{"api":2,"ok":{"items":[]}}"#)
        .answer(
            "'user' 'list'",
            0,
            r#"{"api":2,"ok":{"users":["hello@example.com","printer@example.com"]}}"#,
        );
    let plan = uninstall_plan(&server, &input, &secrets, "198.51.100.10", &[]).await.unwrap();
    assert_eq!(plan.firewall, [465, 587]);
    assert_eq!(plan.ipv6_file.as_deref(), Some("/etc/sysctl.d/60-outpost-ipv6.conf"));
    assert_eq!(plan.users, ["hello@example.com", "printer@example.com"]);
    assert_eq!(
        plan.keychain,
        [
            KeychainEntry::SmtpPassword { user: "hello@example.com".into() },
            KeychainEntry::SmtpPassword { user: "printer@example.com".into() },
            KeychainEntry::DkimKey { record: "outpost._domainkey.example.com".into() },
            KeychainEntry::AcmeAccounts,
        ]
    );
    assert!(plan.paths.iter().any(|path| path == "/etc/outpost"));
    assert!(
        server.commands().iter().all(|command| !command.contains("rm ")),
        "the plan only reads"
    );
    forget_secrets(&plan, &secrets, "198.51.100.10").await.unwrap();
    for name in &names {
        assert_eq!(secrets.get(name).await.unwrap(), None, "{name:?}");
    }
    assert!(secrets.get(&kept).await.unwrap().is_some(), "the server's login stays");
    // A relay already gone: no queue or users to report, and the plan still says the rest.
    let gone = FakeServer::new()
        .fail("'queue' 'list'", "outpost-relay: not found")
        .fail("'user' 'list'", "outpost-relay: not found");
    let plan = uninstall_plan(&gone, &input, &secrets, "198.51.100.10", &[]).await.unwrap();
    assert_eq!((plan.queued, plan.users.len(), plan.keychain.len()), (0, 0, 0));
    assert_eq!(plan.system_user, "outpost");
}
