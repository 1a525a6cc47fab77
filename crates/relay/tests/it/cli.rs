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
