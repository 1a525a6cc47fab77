//! The admin command line, run as a person or the app would run it.

use std::path::Path;
use std::process::{Command, Output};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/relay.example.toml");

fn relay(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outpost-relay"))
        .args(arguments)
        .output()
        .expect("the relay runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_prints_name_and_version() {
    let output = relay(&["--version"]);
    assert!(output.status.success());
    assert_eq!(text(&output.stdout), format!("outpost-relay {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn check_config_accepts_the_example_and_summarises_it() {
    let output = relay(&["check-config", EXAMPLE]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains(": valid"), "{stdout}");
    assert!(stdout.contains("host name: mail.example.com"), "{stdout}");
    assert!(stdout.contains("outpost._domainkey.example.com"), "{stdout}");
}

#[test]
fn check_config_names_file_line_and_reason() {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("relay.toml");
    std::fs::write(&file, "[server]\nhostname = \"mail.example.com\"\ndomains = [\"example.com\"]\n\n[queue]\ngive_up = \"5d\"\n")
        .unwrap();
    let output = relay(&["check-config", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let expected = format!("error: {}:6:1: unknown field `give_up`", file.display());
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn check_config_reports_json_for_the_app() {
    use outpost_relay_api::{ConfigCheck, Reply, Response};
    let read = |output: &std::process::Output| {
        let response: Response<ConfigCheck> = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(response.api, outpost_relay_api::API);
        match response.reply {
            Reply::Ok(check) => check,
            Reply::Error(error) => panic!("{error:?}"),
        }
    };
    let output = relay(&["check-config", "--json", "/nonexistent/relay.toml"]);
    assert_eq!(output.status.code(), Some(1));
    match read(&output) {
        ConfigCheck::Invalid { file, line, reason, .. } => {
            assert_eq!(file, "/nonexistent/relay.toml");
            assert_eq!(line, None);
            assert!(reason.starts_with("cannot read the file"), "{reason}");
        }
        valid => panic!("{valid:?}"),
    }

    let output = relay(&["check-config", "--json", EXAMPLE]);
    assert!(output.status.success());
    assert_eq!(
        read(&output),
        ConfigCheck::Valid {
            hostname: "mail.example.com".into(),
            domains: vec!["example.com".into()]
        }
    );
}

#[test]
fn unusable_arguments_exit_with_2_and_say_why() {
    let output = relay(&["send-all-the-mail"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("unrecognized subcommand"));
    assert!(Path::new(EXAMPLE).exists());
}

/// The unit the app installs keeps systemd's own exposure rating low (1.4 of 10 with systemd
/// 252; see ARCHITECTURE.md): what is left is what a mail server needs (the network, ports
/// below 1024).
#[test]
fn the_unit_is_hardened() {
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/outpost-relay.service");
    let text = std::fs::read_to_string(unit).unwrap();
    for directive in [
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "RemoveIPC=true",
        "PrivateMounts=true",
        "MemoryMax=",
        "TasksMax=",
    ] {
        assert!(text.contains(directive), "{directive} is missing");
    }
    let rated = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=15", unit])
        .output()
        .expect("systemd-analyze (Debian's systemd package) runs");
    assert!(rated.status.success(), "{}", String::from_utf8_lossy(&rated.stdout));
}

/// A relay whose deliveries wait, with one message submitted to it: its queue id.
async fn held_message(subject: &str) -> (crate::support::TestRelay, String) {
    use crate::support::{Dialog, Options, TestRelay, USER, message};
    let running =
        TestRelay::start_with(Options { hold_deliveries: true, ..Options::default() }).await;
    let mut dialog = Dialog::logged_in(&running).await;
    dialog.expect(&format!("MAIL FROM:<{USER}>"), "250").await;
    dialog.expect("RCPT TO:<bob@example.net>", "250").await;
    dialog.expect("DATA", "354").await;
    dialog.send_raw(message(subject).as_bytes()).await;
    let reply = dialog.command(".").await;
    let id = reply.trim().rsplit(' ').next().unwrap().to_string();
    (running, id)
}

#[tokio::test]
async fn queue_retry_reaches_the_running_relay_over_its_control_socket() {
    let (running, id) = held_message("retry me").await;
    // A planted link where the old marker file went: nothing follows it any more.
    let victim = running.directory.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, running.queue_dir().join(format!("{id}.retry"))).unwrap();
    let config = running.config_file();
    let config = config.to_str().unwrap();
    let output = tokio::task::spawn_blocking({
        let (config, id) = (config.to_string(), id.clone());
        move || relay(&["queue", "retry", "--json", "--config", &config, "--", &id])
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}{}", text(&output.stdout), text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), format!(r#"{{"api":2,"ok":{{"id":"{id}"}}}}"#));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // Without ACME, `cert renew` says what is missing.
    let output = tokio::task::spawn_blocking({
        let config = config.to_string();
        move || relay(&["cert", "renew", "--now", "--json", "--config", &config])
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains(r#""kind":"not-configured""#),
        "{}",
        text(&output.stdout)
    );
    let mut running = running;
    running.relay.take().unwrap().shutdown().await;
    // A stopped relay is named as such.
    let output = relay(&["queue", "retry", "--json", "--config", config, "--", &id]);
    assert!(text(&output.stdout).contains(r#""kind":"not-running""#), "{}", text(&output.stdout));
}

/// The dashboard's one reply (`health`): the status with its start and last day, the queue,
/// disk and memory, the port-25 probe (a real aiosmtpd greets; a closed port does not); then
/// `queue delete` removes the held message for good, and a second delete finds nothing.
#[tokio::test]
async fn health_reports_the_dashboard_in_one_reply_and_queue_delete_removes_a_message() {
    use crate::support::Receiver;
    use outpost_relay_api::{Health, QueueDeleted, QueueItem, Reply, Response};
    let (running, id) = held_message("delete me").await;
    let receiver = Receiver::start("");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = running.config_file().to_str().unwrap().to_string();
    let admin = |arguments: Vec<String>| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let mut all: Vec<String> = arguments;
            let split = all.iter().position(|word| word == "--").unwrap_or(all.len());
            all.splice(split..split, ["--json".to_string(), "--config".to_string(), config]);
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            relay(&all)
        })
    };
    let ok = |output: Output| {
        let text = text(&output.stdout);
        assert!(output.status.success(), "{text}");
        text
    };
    let health = |probe: String| {
        let admin = &admin;
        async move {
            let output = admin(vec!["health".into(), "--probe".into(), probe]).await.unwrap();
            let response: Response<Health> = serde_json::from_str(&ok(output)).unwrap();
            match response.reply {
                Reply::Ok(health) => health,
                Reply::Error(error) => panic!("{error:?}"),
            }
        }
    };
    let reached = health(format!("127.0.0.1:{}", receiver.port)).await;
    let status = reached.status.as_ref().expect("a status");
    assert!(status.running);
    assert!(status.started > 0 && status.started <= status.updated, "{status:?}");
    assert_eq!(status.last_day.delivered, 0);
    assert_eq!(reached.queue.iter().map(|item| item.id.as_str()).collect::<Vec<_>>(), [&id]);
    assert!(reached.server.disk_free_mb.is_some_and(|free| free > 0), "{:?}", reached.server);
    assert!(reached.server.disk_total_mb >= reached.server.disk_free_mb);
    assert!(reached.server.memory_available_mb.is_some_and(|mb| mb > 0), "{:?}", reached.server);
    let outbound = reached.outbound.unwrap();
    assert!(outbound.reachable, "{outbound:?}");
    let refused = health(closed.to_string()).await.outbound.unwrap();
    assert!(!refused.reachable);
    assert!(refused.detail.as_deref().unwrap_or("").contains("refused"), "{refused:?}");

    let output = admin(vec!["queue".into(), "delete".into(), "--".into(), id.clone()]).await;
    let deleted: Response<QueueDeleted> = serde_json::from_str(&ok(output.unwrap())).unwrap();
    assert_eq!(deleted.reply, Reply::Ok(QueueDeleted { id: id.clone() }));
    let mut left = vec![];
    for _ in 0..100 {
        let output = admin(vec!["queue".into(), "list".into()]).await.unwrap();
        let list: Response<outpost_relay_api::QueueList> =
            serde_json::from_str(&ok(output)).unwrap();
        let Reply::Ok(list) = list.reply else { panic!("queue list failed") };
        left = list.items.into_iter().map(|item: QueueItem| item.id).collect::<Vec<_>>();
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(left.is_empty(), "still queued: {left:?}");
    let output = admin(vec!["queue".into(), "delete".into(), "--".into(), id.clone()]).await;
    let output = output.unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains(r#""kind":"not-found""#), "{}", text(&output.stdout));
    running.stop().await;
}

/// The app's test email: announced with `trace watch`, submitted, then `trace show` gives the
/// exact signed bytes and the delivery records after the message has left the queue; a message
/// nobody announced leaves no trace.
#[tokio::test]
async fn trace_keeps_only_the_announced_message_as_signed_and_its_delivery() {
    use crate::support::{Dialog, TestRelay, USER, message};
    let running = TestRelay::start().await;
    let config = running.config_file().to_str().unwrap().to_string();
    let admin = |arguments: Vec<String>| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            // Options first: everything after `--` is the Message-ID.
            let mut all = vec!["--json".to_string(), "--config".to_string(), config];
            all.splice(0..0, arguments[..2].iter().cloned());
            all.extend(arguments[2..].iter().cloned());
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            relay(&all)
        })
    };
    let watched =
        admin(vec!["trace".into(), "watch".into(), "--".into(), "<traced@example.com>".into()])
            .await
            .unwrap();
    assert!(watched.status.success(), "{}", text(&watched.stdout));
    assert!(
        text(&watched.stdout).contains(r#""messageId":"traced@example.com""#),
        "{}",
        text(&watched.stdout)
    );
    for subject in ["traced", "not traced"] {
        let mut dialog = Dialog::logged_in(&running).await;
        dialog.expect(&format!("MAIL FROM:<{USER}>"), "250").await;
        dialog.expect("RCPT TO:<bob@example.net>", "250").await;
        dialog.expect("DATA", "354").await;
        dialog.send_raw(message(subject).as_bytes()).await;
        dialog.expect(".", "250").await;
    }
    running.deliveries(2).await;
    // Delivered: the trace outlives the spool entry.
    let mut shown = None;
    for _ in 0..100 {
        let output =
            admin(vec!["trace".into(), "show".into(), "--".into(), "traced@example.com".into()])
                .await
                .unwrap();
        let response: outpost_relay_api::Response<outpost_relay_api::Trace> =
            serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|error| panic!("{error}: {}", text(&output.stdout)));
        if let outpost_relay_api::Reply::Ok(trace) = response.reply
            && trace.finished
        {
            shown = Some(trace);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let trace = shown.expect("a finished trace within 5 s");
    use base64::Engine;
    let signed = base64::engine::general_purpose::STANDARD.decode(&trace.signed_base64).unwrap();
    let delivered = running.courier.delivered.lock().unwrap().clone();
    assert!(delivered.iter().any(|(_, _, bytes)| *bytes == signed), "the very bytes delivered");
    assert!(text(&signed).starts_with("DKIM-Signature:"), "signed: {}", text(&signed));
    let recipient = &trace.item.recipients[0];
    assert_eq!(recipient.address, "bob@example.net");
    assert_eq!(recipient.status, outpost_relay_api::RecipientStatus::Delivered);
    assert!(!recipient.records.is_empty());
    // Not announced: nothing kept.
    let output =
        admin(vec!["trace".into(), "show".into(), "--".into(), "not.traced@example.com".into()])
            .await
            .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains(r#""kind":"not-found""#), "{}", text(&output.stdout));
    let traces: Vec<_> = std::fs::read_dir(running.queue_dir().join("traces")).unwrap().collect();
    assert_eq!(traces.len(), 3, "one message's three files");
    running.stop().await;
}

/// Writes a config of `sections` (`{root}` in them is `directory`) and returns a runner of the
/// admin `command` with it, answering in JSON.
fn admin_json(
    directory: &std::path::Path,
    sections: &str,
    command: &'static str,
) -> impl Fn(&[&str]) -> Output {
    let config = directory.join("relay.toml");
    std::fs::write(&config, sections.replace("{root}", &directory.display().to_string())).unwrap();
    let config = config.to_str().unwrap().to_string();
    move |arguments: &[&str]| {
        let mut all = vec![command, "--config", config.as_str(), "--json"];
        all.extend_from_slice(arguments);
        relay(&all)
    }
}

#[test]
fn a_users_extra_senders_are_set_listed_and_cleared_as_typed_json() {
    use outpost_relay_api::{Reply, Response, UserList, UserSenders};
    let directory = tempfile::tempdir().unwrap();
    let mut users = outpost_relay::users::UsersFile::default();
    users.set("alice@example.com", "correct horse battery").unwrap();
    users.save(&directory.path().join("users")).unwrap();
    let run = admin_json(
        directory.path(),
        "[server]\nhostname = \"mail.example.com\"\ndomains = [\"example.com\", \"example.org\"]\n\
         [users]\nfile = \"{root}/users\"\n",
        "user",
    );
    let set: Response<UserSenders> = serde_json::from_slice(
        &run(&["senders", "--", "alice@example.com", "Alerts@example.org"]).stdout,
    )
    .unwrap();
    let Reply::Ok(set) = set.reply else { panic!("{:?}", set.reply) };
    assert_eq!(set.senders, ["alerts@example.org"]);
    let listed: Response<UserList> = serde_json::from_slice(&run(&["list"]).stdout).unwrap();
    let Reply::Ok(list) = listed.reply else { panic!("{:?}", listed.reply) };
    assert_eq!(list.users, ["alice@example.com"]);
    assert_eq!(list.senders["alice@example.com"], ["alerts@example.org"]);
    // Refused: a domain this relay does not serve, an option-like address, an unknown user.
    for arguments in [
        vec!["senders", "--", "alice@example.com", "ceo@bank.test"],
        vec!["senders", "--", "alice@example.com", "-h@example.org"],
        vec!["senders", "--", "nobody@example.com", "x@example.org"],
    ] {
        let output = run(&arguments);
        assert_eq!(output.status.code(), Some(1), "{arguments:?}: {}", text(&output.stdout));
    }
    let cleared: Response<UserSenders> =
        serde_json::from_slice(&run(&["senders", "--", "alice@example.com"]).stdout).unwrap();
    let Reply::Ok(cleared) = cleared.reply else { panic!("{:?}", cleared.reply) };
    assert!(cleared.senders.is_empty());
    let listed: Response<UserList> = serde_json::from_slice(&run(&["list"]).stdout).unwrap();
    let Reply::Ok(list) = listed.reply else { panic!("{:?}", listed.reply) };
    assert!(list.senders.is_empty());
}

#[test]
fn aliases_are_added_listed_changed_and_removed_as_typed_json() {
    use outpost_relay_api::{AliasAction, AliasChange, AliasList, Reply, Response};
    let directory = tempfile::tempdir().unwrap();
    let run = admin_json(
        directory.path(),
        "[server]\nhostname = \"mail.example.com\"\ndomains = [\"example.com\"]\n\
         [inbound]\nowner = \"me@gmail.test\"\naliases_file = \"{root}/aliases\"\n\
         srs_secrets_file = \"{root}/srs-secrets\"\n",
        "alias",
    );
    let config = directory.path().join("relay.toml");
    let config = config.to_str().unwrap();
    let change = |output: Output| -> AliasChange {
        let response: Response<AliasChange> = serde_json::from_slice(&output.stdout).unwrap();
        match response.reply {
            Reply::Ok(change) => change,
            Reply::Error(error) => panic!("{error:?}"),
        }
    };
    assert_eq!(
        change(run(&["add", "Hello@example.com", "me@gmail.test"])).action,
        AliasAction::Added
    );
    assert_eq!(
        change(run(&["add", "*@example.com", "me@gmail.test", "friend@example.org"])).action,
        AliasAction::Added
    );
    assert_eq!(
        change(run(&["add", "hello@example.com", "other@gmail.test"])).action,
        AliasAction::Changed
    );
    let listed: Response<AliasList> = serde_json::from_slice(&run(&["list"]).stdout).unwrap();
    let Reply::Ok(list) = listed.reply else { panic!("{:?}", listed.reply) };
    assert_eq!(list.owner.as_deref(), Some("me@gmail.test"));
    assert_eq!(list.aliases.len(), 2);
    assert_eq!(list.aliases[0].address, "hello@example.com");
    assert_eq!(list.aliases[0].destinations, ["other@gmail.test"]);
    assert_eq!(list.aliases[1].destinations, ["me@gmail.test", "friend@example.org"]);
    // Refused with the reason: another domain, an SRS-shaped name, a bad destination, a missing alias.
    for (arguments, kind) in [
        (vec!["add", "x@other.test", "me@gmail.test"], "invalid-argument"),
        (vec!["add", "SRS0=x@example.com", "me@gmail.test"], "invalid-argument"),
        (vec!["add", "x@example.com", "not an address"], "invalid-argument"),
        (vec!["remove", "nobody@example.com"], "not-found"),
    ] {
        let output = run(&arguments);
        assert_eq!(output.status.code(), Some(1), "{arguments:?}");
        assert!(
            text(&output.stdout).contains(&format!("\"kind\":\"{kind}\"")),
            "{arguments:?}: {}",
            text(&output.stdout)
        );
    }
    assert_eq!(change(run(&["remove", "HELLO@example.com"])).action, AliasAction::Removed);
    // The text form, for a person.
    let people = relay(&["alias", "--config", config, "list"]);
    assert_eq!(
        text(&people.stdout),
        "*@example.com → me@gmail.test, friend@example.org\npostmaster@, abuse@ → me@gmail.test (unless listed above)\n"
    );
    // SRS rotation keeps the old secrets verifying (the first run makes the first secret too).
    let rotated = relay(&["srs", "--config", config, "rotate"]);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let rotated = relay(&["srs", "--config", config, "rotate"]);
    assert_eq!(
        text(&rotated.stdout),
        "signing with a new secret; 2 older one(s) still verify bounces\n"
    );
}
