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
    /// Stable id: `binary`, `user`, `config`, `dkim`, `smtp-user`, `unit`, `firewall`, `ipv6`,
    /// `service` (in that order).
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

/// What a full file system says.
const NO_SPACE: &str = "No space left on device";

/// A server's error text, with a plain explanation in front of the ones a newcomer meets.
fn explain(detail: &str) -> String {
    if detail.contains(NO_SPACE) {
        format!(
            "the server's disk is full ({}). Free some space (or choose a bigger disk in your provider's panel), then install again; the server was left as it was before this step",
            detail.lines().find(|line| line.contains(NO_SPACE)).unwrap_or(detail).trim()
        )
    } else {
        detail.to_string()
    }
}

struct Remote<'a> {
    session: &'a Session,
    progress: &'a mut (dyn FnMut(Progress) + Send),
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
            return Err(Error::Step { step, detail: explain(&detail) });
        }
        Ok(output.stdout)
    }

    /// Uploads a file as part of `step`; a full disk is said in plain words.
    async fn upload(
        &mut self,
        step: &'static str,
        bytes: &[u8],
        path: &str,
        mode: u32,
    ) -> Result<(), Error> {
        match self.session.upload(bytes, path, mode).await {
            Err(ssh::Error::Protocol(detail)) if detail.contains(NO_SPACE) => {
                // Leave no partial file behind.
                let _ = self
                    .probe(&format!("rm -f {}", quote(&format!("{path}.outpost-upload"))))
                    .await;
                Err(Error::Step { step, detail: explain(&detail) })
            }
            other => Ok(other?),
        }
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
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<Step>, Error> {
    install_with(session, input, secrets, progress, &Artifact::carried()).await
}

/// Installs `artifact`. If an upgraded relay does not come up, the previous binary is put back
/// and started, and the error says so ([`Error::RolledBack`]).
pub async fn install_with(
    session: &Session,
    input: &Input,
    secrets: &dyn SecretStore,
    progress: &mut (dyn FnMut(Progress) + Send),
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
        remote.upload("binary", carried.bytes, &staged, 0o755).await?;
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
        remote.upload("config", wanted.as_bytes(), &staged, 0o640).await?;
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
        remote.upload("unit", UNIT_TEXT.as_bytes(), UNIT, 0o644).await?;
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

    // 7. The firewall, if one is active: open the relay's ports.
    (remote.progress)(Progress::Stage { id: "firewall".into() });
    steps.push(open_firewall(&mut remote, &firewall_ports(&input.config)).await?);

    // 8. IPv6, if wanted and switched off in the kernel.
    (remote.progress)(Progress::Stage { id: "ipv6".into() });
    // When the relay delivers over IPv6, IPv6 is switched on in the kernel if the provider's
    // image has it off (tutorial step 3).
    steps.push(enable_ipv6(&mut remote, input.config.delivery.ipv6).await?);

    // 9. Start (or restart after a change) and verify.
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

/// Where install records the firewall ports it opened, so uninstall closes only those.
const OPENED_PORTS: &str = "/etc/outpost/opened-ports";
/// The sysctl file that switches IPv6 on.
const IPV6_SYSCTL: &str = "/etc/sysctl.d/60-outpost-ipv6.conf";

/// The TCP ports the config listens on.
pub fn firewall_ports(config: &Config) -> Vec<u16> {
    let listeners = &config.listeners;
    let mut ports: Vec<u16> =
        [&listeners.submission, &listeners.submissions, &listeners.inbound, &listeners.acme_http]
            .into_iter()
            .flatten()
            .map(std::net::SocketAddr::port)
            .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Which firewall manager is active, from `ufw status` and `firewall-cmd --state` output.
fn active_firewall(ufw: &str, firewalld: &str) -> Option<&'static str> {
    if ufw.lines().next().is_some_and(|line| line.trim() == "Status: active") {
        Some("ufw")
    } else if firewalld.trim() == "running" {
        Some("firewalld")
    } else {
        None
    }
}

async fn open_firewall(remote: &mut Remote<'_>, ports: &[u16]) -> Result<Step, Error> {
    let (_, ufw) = remote.probe("ufw status 2>/dev/null").await?;
    let (_, firewalld) = remote.probe("firewall-cmd --state 2>/dev/null").await?;
    let listed = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    let Some(manager) = active_firewall(&ufw, &firewalld) else {
        return Ok(Step {
            id: "firewall",
            changed: false,
            detail: format!(
                "no firewall is active on the server; if your provider's panel has one, ports {listed} must be open there"
            ),
        });
    };
    let mut opened = Vec::new();
    for port in ports {
        let (open, _) = match manager {
            "ufw" => {
                remote.probe(&format!("ufw status | grep -Eq '^{port}(/tcp)? +ALLOW'")).await?
            }
            _ => remote.probe(&format!("firewall-cmd --permanent --query-port={port}/tcp")).await?,
        };
        if !open {
            let command = match manager {
                "ufw" => format!("ufw allow {port}/tcp comment outpost-relay"),
                _ => format!("firewall-cmd --quiet --permanent --add-port={port}/tcp"),
            };
            remote.run("firewall", &command, b"").await?;
            opened.push(*port);
        }
    }
    if opened.is_empty() {
        return Ok(Step {
            id: "firewall",
            changed: false,
            detail: format!("{manager} already lets ports {listed} in"),
        });
    }
    if manager == "firewalld" {
        remote.run("firewall", "firewall-cmd --quiet --reload", b"").await?;
    }
    let record: String = opened.iter().map(|port| format!("{manager} {port}\n")).collect();
    remote.run("firewall", &format!("printf '{record}' >> {}", quote(OPENED_PORTS)), b"").await?;
    Ok(Step {
        id: "firewall",
        changed: true,
        detail: format!(
            "opened port{} {} in {manager}",
            if opened.len() == 1 { "" } else { "s" },
            opened.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        ),
    })
}

/// Whether `sysctl -n net.ipv6.conf.{all,default}.disable_ipv6` output says IPv6 is off.
fn ipv6_disabled(sysctl: &str) -> bool {
    sysctl.lines().any(|line| line.trim() == "1")
}

async fn enable_ipv6(remote: &mut Remote<'_>, wanted: bool) -> Result<Step, Error> {
    if !wanted {
        return Ok(Step {
            id: "ipv6",
            changed: false,
            detail: "IPv6 sending is off, as you chose".into(),
        });
    }
    let (_, current) = remote
        .probe("sysctl -n net.ipv6.conf.all.disable_ipv6 net.ipv6.conf.default.disable_ipv6")
        .await?;
    if !ipv6_disabled(&current) {
        return Ok(Step { id: "ipv6", changed: false, detail: "IPv6 is on".into() });
    }
    let settings = "net.ipv6.conf.all.disable_ipv6 = 0\nnet.ipv6.conf.default.disable_ipv6 = 0\nnet.ipv6.conf.lo.disable_ipv6 = 0\n";
    remote
        .run(
            "ipv6",
            &format!("printf '{settings}' > {f} && sysctl -q -p {f}", f = quote(IPV6_SYSCTL)),
            b"",
        )
        .await?;
    Ok(Step {
        id: "ipv6",
        changed: true,
        detail: format!(
            "switched IPv6 on ({IPV6_SYSCTL}); if the server still has no public IPv6 address, your provider's panel shows how to add one"
        ),
    })
}

/// Mail servers a provider may have preinstalled, by systemd unit.
pub const OTHER_MAIL_SERVERS: [&str; 4] = ["postfix", "exim4", "sendmail", "opensmtpd"];

/// Stops and disables any preinstalled mail server (Postfix, Exim, …) so the relay can use
/// ports 25, 465 and 587. Their packages and settings stay: this is undone with
/// `systemctl enable --now <name>`. Returns the names of the ones stopped.
pub async fn stop_other_mail_servers(
    session: &Session,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<String>, Error> {
    let mut remote = Remote { session, progress };
    let mut stopped = Vec::new();
    for unit in OTHER_MAIL_SERVERS {
        let (present, _) = remote
            .probe(&format!(
                "systemctl is-active --quiet {unit} || systemctl is-enabled --quiet {unit} 2>/dev/null"
            ))
            .await?;
        if present {
            (remote.progress)(Progress::Log { line: format!("stopping {unit}") });
            remote
                .run("stop-mail-server", &format!("systemctl disable --now --quiet {unit}"), b"")
                .await?;
            stopped.push(unit.to_string());
        }
    }
    Ok(stopped)
}

/// What `outpost-relay status --json` says, as far as the app needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RelayStatus {
    /// The running relay's version.
    pub version: String,
    /// Whether it is running.
    pub running: bool,
    /// (service, address) for each listener.
    #[serde(default)]
    pub listeners: Vec<(String, String)>,
    /// The certificates it serves.
    #[serde(default)]
    pub certificates: Vec<CertificateStatus>,
    /// Messages waiting to be delivered.
    #[serde(default)]
    pub queued: usize,
}

/// One certificate the relay serves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct CertificateStatus {
    /// The names it covers.
    pub names: Vec<String>,
    /// Its expiry (RFC 3339).
    pub not_after: String,
    /// Whether the relay made it itself (until a real one is obtained).
    pub self_signed: bool,
    /// SHA-256 of the certificate, lower-case hex.
    #[serde(default)]
    pub sha256: String,
}

/// Asks the installed relay for its status.
pub async fn status(session: &Session) -> Result<RelayStatus, Error> {
    let mut ignore = |_: Progress| {};
    let mut remote = Remote { session, progress: &mut ignore };
    let text = remote
        .run("status", &format!("{BINARY} status --json --config {}", quote(CONFIG)), b"")
        .await?;
    serde_json::from_str(&text).map_err(|error| Error::Step {
        step: "status",
        detail: format!("the relay's status could not be read ({error})"),
    })
}

/// The DKIM records the installed relay's keys need: (name, TXT value).
pub async fn dkim_records(session: &Session) -> Result<Vec<(String, String)>, Error> {
    #[derive(serde::Deserialize)]
    struct Shown {
        records: Vec<ShownRecord>,
    }
    #[derive(serde::Deserialize)]
    struct ShownRecord {
        name: String,
        txt: String,
    }
    let mut ignore = |_: Progress| {};
    let mut remote = Remote { session, progress: &mut ignore };
    let text = remote
        .run("dkim", &format!("{BINARY} dkim show --json --config {}", quote(CONFIG)), b"")
        .await?;
    let shown: Shown = serde_json::from_str(&text).map_err(|error| Error::Step {
        step: "dkim",
        detail: format!("the relay's DKIM records could not be read ({error})"),
    })?;
    Ok(shown.records.into_iter().map(|record| (record.name, record.txt)).collect())
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
    // Close the firewall ports install opened (and only those), before their record goes.
    remote
        .run(
            "uninstall",
            &format!(
                "if [ -f {f} ]; then while read -r manager port; do \
                   case $manager in ufw) ufw delete allow $port/tcp >/dev/null;; \
                   firewalld) firewall-cmd --quiet --permanent --remove-port=$port/tcp && firewall-cmd --quiet --reload;; esac; \
                 done < {f}; fi; rm -f {ipv6}",
                f = quote(OPENED_PORTS),
                ipv6 = quote(IPV6_SYSCTL)
            ),
            b"",
        )
        .await?;
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
    fn the_firewall_manager_is_recognised_from_its_status() {
        assert_eq!(active_firewall("Status: active\n\nTo Action From\n", ""), Some("ufw"));
        assert_eq!(active_firewall("Status: inactive\n", "running\n"), Some("firewalld"));
        assert_eq!(active_firewall("Status: inactive\n", "not running\n"), None);
        assert_eq!(active_firewall("", ""), None, "neither installed");
    }

    #[test]
    fn the_firewall_opens_the_ports_the_relay_listens_on() {
        let config = crate::choices::Domain::new(
            "example.com",
            "",
            "",
            "",
            true,
            crate::dns::records::DmarcPolicy::None,
        )
        .unwrap()
        .relay_input()
        .config;
        assert_eq!(firewall_ports(&config), [465, 587]);
    }

    #[test]
    fn a_full_disk_is_said_in_plain_words() {
        let detail = explain(
            "writing /usr/local/bin/outpost-relay.new failed: cat: write error: No space left on device",
        );
        assert!(detail.starts_with("the server's disk is full (writing"), "{detail}");
        assert!(detail.contains("install again"));
        assert_eq!(explain("permission denied"), "permission denied");
    }

    #[test]
    fn ipv6_is_off_when_any_switch_says_so() {
        assert!(ipv6_disabled("1\n0\n"));
        assert!(ipv6_disabled("0\n1\n"));
        assert!(!ipv6_disabled("0\n0\n"));
    }

    #[test]
    fn the_relay_status_is_read_from_its_json() {
        let json = r#"{"version":"0.1.0","pid":7,"updated":1,"running":true,
            "listeners":[["submission","0.0.0.0:587"]],
            "certificates":[{"names":["mail.example.com"],"not_after":"2029-01-01T00:00:00Z",
            "self_signed":true,"source":"self-signed","sha256":"ab"}],"queued":0,"recent_deliveries":[]}"#;
        let status: RelayStatus = serde_json::from_str(json).unwrap();
        assert!(status.running);
        assert_eq!(status.certificates[0].sha256, "ab");
    }

    #[test]
    fn the_unit_installed_is_the_repo_file() {
        assert!(UNIT_TEXT.contains(
            "ExecStart=/usr/local/bin/outpost-relay serve --config /etc/outpost/relay.toml"
        ));
        assert!(UNIT_TEXT.contains(&format!("check-config {CONFIG}")));
    }
}
