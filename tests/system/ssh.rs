//! The engine's SSH against the box's vps (OpenSSH): first contact and pinning, password and key
//! logins, a new key installed through a first password login, the errors a newcomer meets, and
//! streamed commands and uploads.

use anyhow::{Context, Result, ensure};
use outpost_setup::ssh::{self, Credentials, Error, Stream, Target};
use outpost_system_tests::inbox::Inbox;

use crate::Scenario;

/// Scenarios with the plain vps.
pub const PLAIN: &[Scenario] = &[
    (
        "t40_first_contact_shows_the_host_key_and_a_password_login_works",
        t40_first_contact_shows_the_host_key_and_a_password_login_works,
    ),
    (
        "t41_a_key_login_and_a_new_key_installed_through_a_password_login",
        t41_a_key_login_and_a_new_key_installed_through_a_password_login,
    ),
    (
        "t42_wrong_password_wrong_key_and_unreachable_hosts_each_say_so",
        t42_wrong_password_wrong_key_and_unreachable_hosts_each_say_so,
    ),
    ("t43_a_changed_host_key_is_a_hard_stop", t43_a_changed_host_key_is_a_hard_stop),
    (
        "t44_commands_stream_their_output_and_uploads_arrive_intact",
        t44_commands_stream_their_output_and_uploads_arrive_intact,
    ),
    (
        "t45_server_checks_report_what_a_newcomer_needs_to_know",
        t45_server_checks_report_what_a_newcomer_needs_to_know,
    ),
    (
        "t46_a_sudo_user_becomes_root_with_or_without_a_password",
        t46_a_sudo_user_becomes_root_with_or_without_a_password,
    ),
];

pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

pub fn target(inbox: &Inbox) -> Target {
    Target { host: inbox.settings.vps_ip.to_string(), port: 22, user: "root".into() }
}

pub fn password(inbox: &Inbox) -> Credentials {
    Credentials::Password(inbox.settings.root_password.clone())
}

fn t40_first_contact_shows_the_host_key_and_a_password_login_works(inbox: &Inbox) -> Result<()> {
    block_on(async {
        let key = ssh::first_contact(&target(inbox)).await?;
        ensure!(key.fingerprint == inbox.settings.ssh_host_fingerprint, "{key:?}");
        ensure!(key.algorithm == "ssh-ed25519", "{key:?}");
        let session = ssh::connect(&target(inbox), &password(inbox), &key.fingerprint).await?;
        let output = session.run("id -u", b"", &mut |_, _| {}).await?;
        ensure!(output.status == Some(0) && output.stdout.trim() == "0", "{output:?}");
        session.close().await;
        Ok(())
    })
}

fn t41_a_key_login_and_a_new_key_installed_through_a_password_login(inbox: &Inbox) -> Result<()> {
    block_on(async {
        let pinned = &inbox.settings.ssh_host_fingerprint;
        let test_key = std::fs::read_to_string(&inbox.settings.ssh_key)?;
        let session = ssh::connect(
            &target(inbox),
            &Credentials::Key { private_key: test_key, passphrase: None },
            pinned,
        )
        .await?;
        session.close().await;
        // "Create a key for me": the first login by password installs it, the next uses it.
        let (private_key, line) = ssh::generate_key("outpost-test")?;
        let session = ssh::connect(&target(inbox), &password(inbox), pinned).await?;
        session.authorize_key(&line).await?;
        session.authorize_key(&line).await?;
        let copies = session
            .run(
                &format!("grep -cxF {} ~/.ssh/authorized_keys", ssh::quote(&line)),
                b"",
                &mut |_, _| {},
            )
            .await?;
        ensure!(copies.stdout.trim() == "1", "the key is added once: {copies:?}");
        ensure!(session.is_root().await?);
        session.close().await;
        let session = ssh::connect(
            &target(inbox),
            &Credentials::Key { private_key, passphrase: None },
            pinned,
        )
        .await?;
        ensure!(session.run("true", b"", &mut |_, _| {}).await?.status == Some(0));
        session.close().await;
        Ok(())
    })
}

fn t42_wrong_password_wrong_key_and_unreachable_hosts_each_say_so(inbox: &Inbox) -> Result<()> {
    block_on(async {
        let pinned = &inbox.settings.ssh_host_fingerprint;
        let wrong =
            ssh::connect(&target(inbox), &Credentials::Password("not the password".into()), pinned)
                .await;
        ensure!(matches!(wrong, Err(Error::LoginRefused { .. })), "{wrong:?}");
        let (stranger, _) = ssh::generate_key("stranger")?;
        let wrong_key = ssh::connect(
            &target(inbox),
            &Credentials::Key { private_key: stranger, passphrase: None },
            pinned,
        )
        .await;
        ensure!(matches!(wrong_key, Err(Error::LoginRefused { .. })), "{wrong_key:?}");
        let garbage = ssh::connect(
            &target(inbox),
            &Credentials::Key { private_key: "not a key".into(), passphrase: None },
            pinned,
        )
        .await;
        ensure!(matches!(garbage, Err(Error::BadKey(_))), "{garbage:?}");
        let closed = Target { port: 2222, ..target(inbox) };
        let refused = ssh::first_contact(&closed).await;
        ensure!(
            matches!(
                &refused,
                Err(Error::Unreachable { reason: ssh::NetworkFailure::Refused, .. })
            ),
            "{refused:?}"
        );
        // An address in the box's network where no host answers.
        let nobody = Target { host: "198.51.100.99".into(), ..target(inbox) };
        let silent = ssh::first_contact(&nobody).await;
        ensure!(
            matches!(silent, Err(Error::Unreachable { .. } | Error::Timeout { .. })),
            "{silent:?}"
        );
        Ok(())
    })
}

fn t43_a_changed_host_key_is_a_hard_stop(inbox: &Inbox) -> Result<()> {
    block_on(async {
        let pinned = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let result = ssh::connect(&target(inbox), &password(inbox), pinned).await;
        match result {
            Err(Error::HostKeyChanged { expected, found }) => {
                ensure!(expected == pinned && found == inbox.settings.ssh_host_fingerprint);
                Ok(())
            }
            other => anyhow::bail!("expected a hard stop, got {other:?}"),
        }
    })
}

fn t44_commands_stream_their_output_and_uploads_arrive_intact(inbox: &Inbox) -> Result<()> {
    block_on(async {
        let session = ssh::connect(&target(inbox), &password(inbox), &inbox.settings.ssh_host_fingerprint).await?;
        let mut lines = Vec::new();
        let output = session
            .run("for i in 1 2 3; do echo line $i; done; echo oops >&2; cat; exit 3", b"from stdin\n", &mut |stream, line| lines.push((stream, line.to_string())))
            .await?;
        ensure!(output.status == Some(3), "{output:?}");
        ensure!(lines.contains(&(Stream::Stdout, "line 2".into())) && lines.contains(&(Stream::Stderr, "oops".into())), "{lines:?}");
        ensure!(lines.contains(&(Stream::Stdout, "from stdin".into())), "{lines:?}");
        let carried = outpost_setup::relay::executable();
        session.upload(carried, "/usr/local/bin/outpost-relay-upload-test", 0o755).await?;
        let check = session.run("sha256sum /usr/local/bin/outpost-relay-upload-test && stat -c %a /usr/local/bin/outpost-relay-upload-test", b"", &mut |_, _| {}).await?;
        ensure!(check.stdout.starts_with(outpost_setup::relay::carried().sha256), "{check:?}");
        ensure!(check.stdout.lines().nth(1) == Some("755"), "{check:?}");
        let version = session.run("/usr/local/bin/outpost-relay-upload-test --version", b"", &mut |_, _| {}).await?;
        ensure!(version.stdout.trim() == format!("outpost-relay {}", outpost_setup::relay::carried().version), "{version:?}");
        session.close().await;
        Ok(())
    })
    .context("streaming and upload")
}

/// Server checks on the plain vps (no systemd), then with a program on port 25.
fn t45_server_checks_report_what_a_newcomer_needs_to_know(inbox: &Inbox) -> Result<()> {
    use outpost_setup::checks::{self, Verdict};
    block_on(async {
        let session =
            ssh::connect(&target(inbox), &password(inbox), &inbox.settings.ssh_host_fingerprint)
                .await?;
        let settings = checks::Settings {
            outbound_probe: format!("{}:25", inbox.settings.mx_ip),
            mail_host: None,
        };
        let results = checks::run_all(&session, &settings).await?;
        // The check's id, as the UI's catalogue keys it.
        let id = |check: &checks::Check| {
            serde_json::to_value(&check.found)
                .ok()
                .and_then(|found| found["id"].as_str().map(str::to_string))
        };
        let verdict = |wanted: &str| {
            results
                .iter()
                .find(|check| id(check).as_deref() == Some(wanted))
                .map(|check| check.verdict)
        };
        ensure!(verdict("os") == Some(Verdict::Pass), "{results:?}");
        ensure!(verdict("arch") == Some(Verdict::Pass), "{results:?}");
        ensure!(
            verdict("systemd") == Some(Verdict::Fail),
            "the plain vps has no systemd: {results:?}"
        );
        ensure!(verdict("ports") == Some(Verdict::Pass), "{results:?}");
        ensure!(verdict("addresses") == Some(Verdict::Pass), "{results:?}");
        ensure!(verdict("outbound25") == Some(Verdict::Pass), "{results:?}");
        ensure!(
            verdict("disk") == Some(Verdict::Pass) && verdict("memory") == Some(Verdict::Pass),
            "{results:?}"
        );
        let public = results
            .iter()
            .find_map(|check| match &check.found {
                checks::Finding::Addresses { public, .. } => Some(public.clone()),
                _ => None,
            })
            .context("addresses")?;
        ensure!(
            public.contains(&inbox.settings.vps_ip) && public.contains(&inbox.settings.vps_ip6),
            "{public:?}"
        );
        // Something listening on port 25 is named.
        session
            .run("setsid python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"0.0.0.0\", 25)); s.listen(); time.sleep(60)' </dev/null >/dev/null 2>&1 &", b"", &mut |_, _| {})
            .await?;
        let mut busy = None;
        for _ in 0..50 {
            let results = checks::run_all(&session, &settings).await?;
            let ports = results
                .into_iter()
                .find(|check| matches!(check.found, checks::Finding::Ports { .. }))
                .context("ports")?;
            if ports.verdict == Verdict::Fail {
                busy = Some(ports);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let busy = busy.context("the listener on port 25 was never reported")?;
        ensure!(
            busy.found
                == checks::Finding::Ports {
                    busy: vec![checks::BusyPort {
                        port: 25,
                        program: Some("python3".into()),
                        mail_server: None
                    }]
                },
            "{busy:?}"
        );
        session.run("listener_pid=$(ss -Hltnp 'sport = :25' | grep -o 'pid=[0-9]*' | cut -d= -f2); kill $listener_pid", b"", &mut |_, _| {}).await?;
        session.close().await;
        Ok(())
    })
}

fn t46_a_sudo_user_becomes_root_with_or_without_a_password(inbox: &Inbox) -> Result<()> {
    // Users as providers make them (on the vps's copy-on-write /etc and /home).
    inbox.ssh(
        "id deploy >/dev/null 2>&1 || useradd -m -s /bin/bash deploy; \
         id ops >/dev/null 2>&1 || useradd -m -s /bin/bash ops; \
         id guest >/dev/null 2>&1 || useradd -m -s /bin/bash guest; \
         printf 'deploy:deploy-pw\\nops:ops-pw\\nguest:guest-pw\\n' | chpasswd; \
         printf 'deploy ALL=(ALL) ALL\\n' > /etc/sudoers.d/deploy; \
         printf 'ops ALL=(ALL) NOPASSWD: ALL\\n' > /etc/sudoers.d/ops; \
         chmod 0440 /etc/sudoers.d/deploy /etc/sudoers.d/ops",
    )?;
    let as_user = |user: &str| Target { user: user.into(), ..target(inbox) };
    let pinned = &inbox.settings.ssh_host_fingerprint;
    block_on(async {
        for (user, password) in [("deploy", "deploy-pw"), ("ops", "ops-pw")] {
            let mut session =
                ssh::connect(&as_user(user), &Credentials::Password(password.into()), pinned)
                    .await?;
            ensure!(!session.is_root().await?, "{user} starts as itself");
            session.become_root(Some(password)).await?;
            ensure!(session.is_root().await?, "{user} is root through sudo");
            // Standard input still reaches the command after sudo has read its password.
            let echoed = session.run("cat", b"the data\n", &mut |_, _| {}).await?;
            ensure!(echoed.stdout == "the data\n", "{user}: {echoed:?}");
            // Uploads to root-only places work, and the file belongs to root.
            session.upload(b"secret", "/root/outpost-sudo-test", 0o600).await?;
            let owner = session
                .run(
                    "stat -c %U /root/outpost-sudo-test && rm /root/outpost-sudo-test",
                    b"",
                    &mut |_, _| {},
                )
                .await?;
            ensure!(owner.stdout.trim() == "root", "{user}: {owner:?}");
            session.close().await;
        }
        // A key login with password-only sudo, and a user without sudo, are refused by name.
        let mut session =
            ssh::connect(&as_user("guest"), &Credentials::Password("guest-pw".into()), pinned)
                .await?;
        let refused = session.become_root(Some("guest-pw")).await;
        ensure!(
            matches!(&refused, Err(ssh::Error::NotRoot { user, .. }) if user == "guest"),
            "{refused:?}"
        );
        session.close().await;
        let mut session =
            ssh::connect(&as_user("deploy"), &Credentials::Password("deploy-pw".into()), pinned)
                .await?;
        let without_password = session.become_root(None).await;
        ensure!(
            matches!(without_password, Err(ssh::Error::NotRoot { .. })),
            "{without_password:?}"
        );
        session.close().await;
        Ok(())
    })
}
