//! Installing the relay on the user's server over SSH: staged, idempotent, verified.
//!
//! Each step looks at what is there first and changes only what differs, so running the install
//! again repairs or upgrades instead of breaking, and a connection dropped halfway is finished
//! by the next run. A new binary is uploaded beside the old one, checked against the SHA-256 the
//! app carries, and only then swapped in (the previous one is kept as `outpost-relay.previous`).
//! Secrets made on the server (the SMTP password, the DKIM key) go to the OS keychain.

use outpost_relay_config::Config;

use crate::progress::Progress;
use crate::relay;
use crate::secrets::{SecretName, SecretStore};
use crate::ssh::{self, Session, quote};

/// Where things go on the server (DESIGN.md §4).
pub const BINARY: &str = "/usr/local/bin/outpost-relay";
/// The config file.
pub const CONFIG: &str = "/etc/outpost/relay.toml";
/// The systemd unit.
pub const UNIT: &str = "/etc/systemd/system/outpost-relay.service";
/// The unit's text: the repo's file, embedded.
pub const UNIT_TEXT: &str = include_str!("../../relay/etc/outpost-relay.service");

/// What to install.
#[derive(Debug, Clone)]
pub struct Input {
    /// The relay's config, as the wizard's choices made it.
    pub config: Config,
    /// The SMTP user to create (an address at one of the relay's domains).
    pub smtp_user: String,
}

/// One step of the install and whether it changed anything.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// Stable id: `binary`, `user`, `config`, `dkim`, `smtp-user`, `unit`, `service`.
    pub id: &'static str,
    /// Whether the server was changed.
    pub changed: bool,
    /// What was done or found, in plain words.
    pub detail: String,
}

/// Why the install stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SSH failed.
    #[error(transparent)]
    Ssh(#[from] ssh::Error),
    /// A command on the server failed.
    #[error("{step}: {detail}")]
    Step {
        /// The step.
        step: &'static str,
        /// What the server said.
        detail: String,
    },
    /// The keychain failed.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::Error),
    /// The upgraded relay did not start, so the previous one was put back and is running.
    #[error(
        "outpost-relay {version} did not start, so the previous version was put back and is running again; its log:\n{journal}"
    )]
    RolledBack {
        /// The version that failed.
        version: String,
        /// Its last log lines.
        journal: String,
    },
}

struct Remote<'a> {
    session: &'a Session,
    progress: &'a mut dyn FnMut(Progress),
}

impl Remote<'_> {
    /// Runs a command, streaming its output as progress; fails on a non-zero exit.
    async fn run(
        &mut self,
        step: &'static str,
        command: &str,
        stdin: &[u8],
    ) -> Result<String, Error> {
        let progress = &mut *self.progress;
        let output = self
            .session
            .run(command, stdin, &mut |_, line| progress(Progress::Log { line: line.to_string() }))
            .await?;
        if output.status != Some(0) {
            let detail = if output.stderr.trim().is_empty() {
                output.stdout.trim().to_string()
            } else {
                output.stderr.trim().to_string()
            };
            return Err(Error::Step { step, detail });
        }
        Ok(output.stdout)
    }

    /// Runs a command that may fail; returns (succeeded, stdout).
    async fn probe(&mut self, command: &str) -> Result<(bool, String), Error> {
        let output = self.session.run(command, b"", &mut |_, _| {}).await?;
        Ok((output.status == Some(0), output.stdout))
    }
}

/// A relay executable to install: the carried one, or (in tests) another.
#[derive(Debug, Clone, Copy)]
pub struct Artifact<'a> {
    /// The executable.
    pub bytes: &'a [u8],
    /// Its lower-case hex SHA-256.
    pub sha256: &'a str,
    /// Its version.
    pub version: &'a str,
}

impl Artifact<'static> {
    /// The relay this app carries.
    pub fn carried() -> Self {
        let carried = relay::carried();
        Artifact { bytes: relay::executable(), sha256: carried.sha256, version: carried.version }
    }
}

/// Installs (or repairs, or upgrades) the carried relay. Returns every step, changed or not.
pub async fn install(
    session: &Session,
    input: &Input,
    secrets: &dyn SecretStore,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Step>, Error> {
    install_with(session, input, secrets, progress, &Artifact::carried()).await
}

/// Installs `artifact`. If an upgraded relay does not come up, the previous binary is put back
/// and started, and the error says so ([`Error::RolledBack`]).
pub async fn install_with(
    session: &Session,
    input: &Input,
    secrets: &dyn SecretStore,
    progress: &mut dyn FnMut(Progress),
    carried: &Artifact<'_>,
) -> Result<Vec<Step>, Error> {
    let mut remote = Remote { session, progress };
    let mut steps = Vec::new();
    let mut upgraded = false;

    // 1. The binary: upload beside, verify, swap; keep the previous one.
    (remote.progress)(Progress::Stage { id: "binary".into() });
    let (_, current) =
        remote.probe(&format!("sha256sum {} 2>/dev/null | cut -d' ' -f1", quote(BINARY))).await?;
    if current.trim() == carried.sha256 {
        steps.push(Step {
            id: "binary",
            changed: false,
            detail: format!("outpost-relay {} is installed", carried.version),
        });
    } else {
        let staged = format!("{BINARY}.new");
        session.upload(carried.bytes, &staged, 0o755).await?;
        remote
            .run("binary", &format!("echo {}  {} | sha256sum -c --quiet", carried.sha256, quote(&staged)), b"")
            .await
            .map_err(|_| Error::Step { step: "binary", detail: "the uploaded relay does not match the app's copy (damaged on the way?); nothing was changed".into() })?;
        // The new binary must run on this server before it replaces anything.
        let (runs, version) = remote.probe(&format!("{} --version", quote(&staged))).await?;
        if !runs || !version.starts_with("outpost-relay ") {
            let _ = remote.probe(&format!("rm -f {}", quote(&staged))).await?;
            return Err(Error::Step {
                step: "binary",
                detail: format!(
                    "the new relay does not run on this server ({}); nothing was changed",
                    version.trim()
                ),
            });
        }
        let (had_previous, _) = remote.probe(&format!("test -f {}", quote(BINARY))).await?;
        upgraded = had_previous;
        remote
            .run(
                "binary",
                &format!(
                    "if [ -f {b} ]; then cp -p {b} {b}.previous; fi && mv -f {s} {b}",
                    b = quote(BINARY),
                    s = quote(&staged)
                ),
                b"",
            )
            .await?;
        steps.push(Step {
            id: "binary",
            changed: true,
            detail: format!(
                "installed outpost-relay {} ({} bytes, SHA-256 verified)",
                carried.version,
                carried.bytes.len()
            ),
        });
    }

    // 2. The service user and directories.
    (remote.progress)(Progress::Stage { id: "user".into() });
    let (exists, _) = remote.probe("id outpost >/dev/null 2>&1").await?;
    if !exists {
        remote.run("user", "useradd --system --home-dir /var/lib/outpost --no-create-home --shell /usr/sbin/nologin outpost", b"").await?;
    }
    remote.run("user", "install -d -m 0750 -g outpost /etc/outpost /etc/outpost/dkim", b"").await?;
    steps.push(Step {
        id: "user",
        changed: !exists,
        detail: if exists {
            "the outpost user exists".into()
        } else {
            "created the outpost system user".into()
        },
    });

    // 3. The config, checked by the relay itself before it replaces the old one.
    (remote.progress)(Progress::Stage { id: "config".into() });
    let wanted = input.config.to_toml();
    let (_, current) = remote.probe(&format!("cat {} 2>/dev/null", quote(CONFIG))).await?;
    if current == wanted {
        steps.push(Step {
            id: "config",
            changed: false,
            detail: "the config is up to date".into(),
        });
    } else {
        let staged = format!("{CONFIG}.new");
        session.upload(wanted.as_bytes(), &staged, 0o640).await?;
        remote
            .run(
                "config",
                &format!(
                    "chgrp outpost {s} && {BINARY} check-config {s} >/dev/null && mv -f {s} {c}",
                    s = quote(&staged),
                    c = quote(CONFIG)
                ),
                b"",
            )
            .await?;
        steps.push(Step { id: "config", changed: true, detail: format!("wrote {CONFIG}") });
    }

    // 4. DKIM keys: made on the server, backed up to the keychain.
    (remote.progress)(Progress::Stage { id: "dkim".into() });
    let mut made = Vec::new();
    for key in &input.config.dkim {
        let path = key.key_file.to_string();
        let (present, _) = remote.probe(&format!("test -s {}", quote(&path))).await?;
        if !present {
            let algorithm = match key.algorithm {
                outpost_relay_config::DkimAlgorithm::RsaSha256 => "rsa",
                outpost_relay_config::DkimAlgorithm::Ed25519Sha256 => "ed25519",
            };
            remote
                .run(
                    "dkim",
                    &format!(
                        "{BINARY} dkim generate --domain {} --selector {} --algorithm {algorithm} --key-file {p} >/dev/null",
                        quote(key.domain.as_str()),
                        quote(key.selector.as_str()),
                        p = quote(&path)
                    ),
                    b"",
                )
                .await?;
            made.push(format!("{}._domainkey.{}", key.selector, key.domain));
        }
        // Every run, so a run cut short between making the key and this still ends right.
        remote
            .run("dkim", &format!("chgrp outpost {p} && chmod 0640 {p}", p = quote(&path)), b"")
            .await?;
        let record = format!("{}._domainkey.{}", key.selector, key.domain);
        let name = SecretName::DkimKey { record };
        if secrets.get(&name).await?.is_none() {
            let pem = remote.run("dkim", &format!("cat {}", quote(&path)), b"").await?;
            secrets.set(&name, &pem).await?;
        }
    }
    steps.push(Step {
        id: "dkim",
        changed: !made.is_empty(),
        detail: if made.is_empty() {
            "DKIM keys exist".into()
        } else {
            format!("made DKIM keys: {}", made.join(", "))
        },
    });

    // 5. The SMTP user, with a strong password kept in the keychain.
    (remote.progress)(Progress::Stage { id: "smtp-user".into() });
    let users_file = input.config.users.file.to_string();
    remote
        .run(
            "smtp-user",
            &format!(
                "test -f {u} || install -m 0640 -g outpost /dev/null {u}",
                u = quote(&users_file)
            ),
            b"",
        )
        .await?;
    let listed = remote
        .run("smtp-user", &format!("{BINARY} user list --json --config {}", quote(CONFIG)), b"")
        .await?;
    let user = input.smtp_user.to_ascii_lowercase();
    let exists = listed.contains(&format!("\"{user}\""));
    let secret = SecretName::SmtpPassword { user: user.clone() };
    let stored = secrets.get(&secret).await?;
    let changed = !exists || stored.is_none();
    if changed {
        // A user without a password in this computer's keychain gets a new one: the old one is
        // unknown here, and the app must be able to send the test email.
        let password = new_password();
        remote
            .run(
                "smtp-user",
                &format!("{BINARY} user add {} --config {}", quote(&user), quote(CONFIG)),
                format!("{password}\n").as_bytes(),
            )
            .await?;
        secrets.set(&secret, &password).await?;
    }
    steps.push(Step {
        id: "smtp-user",
        changed,
        detail: if changed {
            format!("set up {user}; its password is in your keychain")
        } else {
            format!("{user} exists")
        },
    });

    // 6. The systemd unit.
    (remote.progress)(Progress::Stage { id: "unit".into() });
    let (_, current) = remote.probe(&format!("cat {} 2>/dev/null", quote(UNIT))).await?;
    let unit_changed = current != UNIT_TEXT;
    if unit_changed {
        session.upload(UNIT_TEXT.as_bytes(), UNIT, 0o644).await?;
        remote.run("unit", "systemctl daemon-reload", b"").await?;
    }
    steps.push(Step {
        id: "unit",
        changed: unit_changed,
        detail: if unit_changed {
            format!("installed {UNIT}")
        } else {
            "the service file is up to date".into()
        },
    });

    // 7. Start (or restart after a change) and verify.
    (remote.progress)(Progress::Stage { id: "service".into() });
    let anything_changed = steps.iter().any(|step| step.changed);
    let (active, _) = remote.probe("systemctl is-active --quiet outpost-relay").await?;
    let verb = if active && anything_changed { "restart" } else { "start" };
    // A unit that fails to start makes systemctl fail too; the health check below decides.
    remote.run("service", "systemctl enable --quiet outpost-relay", b"").await?;
    let _ = remote.probe(&format!("systemctl {verb} outpost-relay")).await?;
    if !wait_running(&mut remote).await? {
        let (_, journal) =
            remote.probe("journalctl -u outpost-relay --no-pager -n 20 2>/dev/null").await?;
        if upgraded {
            remote
                .run(
                    "service",
                    &format!(
                        "mv -f {b}.previous {b} && systemctl restart outpost-relay",
                        b = quote(BINARY)
                    ),
                    b"",
                )
                .await?;
            if wait_running(&mut remote).await? {
                return Err(Error::RolledBack { version: carried.version.to_string(), journal });
            }
        }
        return Err(Error::Step {
            step: "service",
            detail: format!("the relay did not start; its last log lines:\n{journal}"),
        });
    }
    steps.push(Step {
        id: "service",
        changed: !active || anything_changed,
        detail: "the relay is running".into(),
    });
    Ok(steps)
}

/// Waits (up to 10 s) for the service to be active and report itself running.
async fn wait_running(remote: &mut Remote<'_>) -> Result<bool, Error> {
    for _ in 0..50 {
        let (ok, output) = remote
            .probe(&format!(
                "systemctl is-active --quiet outpost-relay && {BINARY} status --json --config {}",
                quote(CONFIG)
            ))
            .await?;
        if ok && output.contains("\"running\":true") {
            return Ok(true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(false)
}

/// Removes everything the install added, and the keychain entries it made.
pub async fn uninstall(
    session: &Session,
    input: &Input,
    secrets: &dyn SecretStore,
) -> Result<(), Error> {
    let mut ignore = |_: Progress| {};
    let mut remote = Remote { session, progress: &mut ignore };
    remote
        .run(
            "uninstall",
            &format!(
                "systemctl disable --now outpost-relay 2>/dev/null; rm -f {unit} {b} {b}.previous {b}.new && systemctl daemon-reload && \
                 rm -rf /etc/outpost /var/lib/outpost && (id outpost >/dev/null 2>&1 && userdel outpost || true)",
                unit = quote(UNIT),
                b = quote(BINARY)
            ),
            b"",
        )
        .await?;
    secrets
        .delete(&SecretName::SmtpPassword { user: input.smtp_user.to_ascii_lowercase() })
        .await?;
    for key in &input.config.dkim {
        secrets
            .delete(&SecretName::DkimKey {
                record: format!("{}._domainkey.{}", key.selector, key.domain),
            })
            .await?;
    }
    Ok(())
}

/// A strong random password: 24 characters from an alphabet without look-alikes.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..24).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_unambiguous() {
        let first = new_password();
        assert_eq!(first.len(), 24);
        assert!(!first.contains(['0', 'O', 'l', 'I', '1']));
        assert_ne!(first, new_password());
    }

    #[test]
    fn the_unit_installed_is_the_repo_file() {
        assert!(UNIT_TEXT.contains(
            "ExecStart=/usr/local/bin/outpost-relay serve --config /etc/outpost/relay.toml"
        ));
        assert!(UNIT_TEXT.contains(&format!("check-config {CONFIG}")));
    }
}
