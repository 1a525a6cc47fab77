//! Installing the relay on the user's server over SSH: staged, idempotent, verified.
//!
//! The install is a list of [`Stage`]s, each a function of the same shape: look at what the
//! server has, change only what differs, and report a [`Step`] — whether it changed anything
//! and what it found or did, as data ([`Detail`]) for the UI to put into words. Running the
//! install again repairs or upgrades instead of breaking, and a connection dropped halfway is
//! finished by the next run. A new binary is uploaded beside the old one, checked against the
//! SHA-256 the app carries, and only then swapped in (the previous one is kept as
//! `outpost-relay.previous`). Secrets made on the server (the SMTP password, the DKIM key) go to
//! the OS keychain and never into a progress event.
//!
//! The steps run against a [`Remote`]: SSH in the app, a scripted fake in the unit tests below.

mod binary;
mod config;
mod firewall;
mod ipv6;
mod mail_servers;
mod service;
mod uninstall;

use outpost_relay_config::Config;
use serde::Serialize;

pub use crate::progress::Stage;
pub use crate::relay_admin::{BINARY, CONFIG};
pub use config::retire_smtp_user;
pub use firewall::firewall_ports;
pub use mail_servers::{MailServer, stop_other_mail_servers};
pub use uninstall::{
    KeychainEntry, Plan as UninstallPlan, forget_secrets, plan as uninstall_plan, uninstall,
};

use crate::progress::Progress;
use crate::relay;
use crate::relay_admin;
use crate::remote::Remote;
use crate::secrets::SecretStore;
use crate::ssh::{self, quote};

/// The systemd unit.
pub const UNIT: &str = "/etc/systemd/system/outpost-relay.service";
/// The unit's text: the repo's file, embedded.
pub const UNIT_TEXT: &str = include_str!("../../../relay/etc/outpost-relay.service");

/// The install's stages, in the order they run.
pub const STAGES: [Stage; 10] = [
    Stage::Binary,
    Stage::User,
    Stage::Config,
    Stage::Dkim,
    Stage::SmtpUser,
    Stage::Aliases,
    Stage::Unit,
    Stage::Firewall,
    Stage::Ipv6,
    Stage::Service,
];

/// What to install.
#[derive(Debug, Clone)]
pub struct Input {
    /// The relay's config, as the wizard's choices made it.
    pub config: Config,
    /// The SMTP user to create (an address at one of the relay's domains).
    pub smtp_user: String,
    /// The addresses the relay forwards, exactly (empty when it does not receive).
    pub aliases: Vec<outpost_relay_api::Alias>,
}

/// One stage of the install and whether it changed anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "InstallStep")]
pub struct Step {
    /// The stage.
    pub stage: Stage,
    /// Whether the server was changed.
    pub changed: bool,
    /// What was found or done.
    pub detail: Detail,
}

impl Step {
    fn new(stage: Stage, changed: bool, detail: Detail) -> Step {
        Step { stage, changed, detail }
    }
}

/// What a stage found or did, as data (the UI's catalogue words it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Detail {
    /// This version of the relay was already installed.
    BinaryCurrent { version: String },
    /// This version was uploaded, verified and swapped in.
    BinaryInstalled { version: String, bytes: u64 },
    /// The `outpost` system user existed.
    UserExists,
    /// The `outpost` system user was created.
    UserCreated,
    /// The config on the server was already this one.
    ConfigCurrent,
    /// The config was written (after the relay checked it).
    ConfigWritten { path: String },
    /// Every DKIM key existed.
    DkimPresent,
    /// These DKIM keys were made (their record names).
    DkimMade { records: Vec<String> },
    /// The SMTP user existed with its password in this computer's keychain.
    SmtpUserExists { user: String },
    /// The SMTP user was created or given a new password (in the keychain).
    SmtpUserSet { user: String },
    /// The relay does not receive mail for the domain (no forwarding mailbox was chosen).
    NotReceiving,
    /// The relay's aliases were already these.
    AliasesCurrent { count: usize },
    /// The aliases were brought in line: these added or changed, these removed.
    AliasesSet { set: Vec<String>, removed: Vec<String> },
    /// The systemd unit was already this one.
    UnitCurrent,
    /// The systemd unit was written.
    UnitInstalled { path: String },
    /// No firewall runs on the server; a provider's panel firewall may still need these.
    NoFirewall { ports: Vec<u16> },
    /// The firewall already lets these ports in.
    FirewallOpen { manager: Firewall, ports: Vec<u16> },
    /// These ports were opened.
    FirewallOpened { manager: Firewall, ports: Vec<u16> },
    /// IPv6 sending is off, as chosen.
    Ipv6NotWanted,
    /// IPv6 was on already.
    Ipv6On,
    /// IPv6 was switched on with this sysctl file.
    Ipv6SwitchedOn { file: String },
    /// The relay is running.
    Running,
}

/// A firewall manager the install knows how to open ports in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Firewall {
    /// Ubuntu's (and often Debian's) `ufw`.
    Ufw,
    /// `firewalld`.
    Firewalld,
}

/// Why the install stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SSH failed.
    #[error(transparent)]
    Ssh(#[from] ssh::Error),
    /// The keychain failed.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::Error),
    /// An admin command of the relay failed.
    #[error(transparent)]
    Admin(#[from] relay_admin::Error),
    /// A command on the server failed.
    #[error("{stage:?}: {detail}")]
    Failed {
        /// The stage.
        stage: Stage,
        /// What the server said.
        detail: String,
    },
    /// The server's disk is full; the stage left nothing behind.
    #[error("{stage:?}: the server's disk is full ({detail})")]
    DiskFull {
        /// The stage.
        stage: Stage,
        /// The server's line that says so.
        detail: String,
    },
    /// The uploaded binary is not the app's copy; nothing was changed.
    #[error("the uploaded relay does not match the app's copy")]
    Damaged,
    /// The new binary does not run on this server; nothing was changed.
    #[error("the new relay does not run on this server: {output}")]
    DoesNotRun {
        /// What running it printed.
        output: String,
    },
    /// The relay did not start.
    #[error("the relay did not start; its log:\n{journal}")]
    DidNotStart {
        /// Its last log lines.
        journal: String,
    },
    /// The upgraded relay did not start, so the previous one was put back and is running.
    #[error(
        "outpost-relay {version} did not start, so the previous version was put back; its log:\n{journal}"
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

/// A server's failure for `stage`: a full disk is its own error.
fn failure(stage: Stage, detail: &str) -> Error {
    match detail.lines().find(|line| line.contains(NO_SPACE)) {
        Some(line) => Error::DiskFull { stage, detail: line.trim().to_string() },
        None => Error::Failed { stage, detail: detail.to_string() },
    }
}

/// What every stage works with.
struct Context<'a, R> {
    remote: &'a R,
    progress: &'a mut (dyn FnMut(Progress) + Send),
    input: &'a Input,
    secrets: &'a dyn SecretStore,
    artifact: &'a Artifact<'a>,
    /// Set by the binary stage when it replaced an earlier relay (so a failed start rolls back).
    upgraded: bool,
}

impl<R: Remote> Context<'_, R> {
    /// Runs a command, streaming its output as progress; fails on a non-zero exit. Never use it
    /// for a command that prints a secret: see [`Context::read_secret`].
    async fn run(&mut self, stage: Stage, command: &str, stdin: &[u8]) -> Result<String, Error> {
        let progress = &mut *self.progress;
        let output = self
            .remote
            .run(command, stdin, &mut |_, line| progress(Progress::Log { line: line.to_string() }))
            .await?;
        check(stage, output)
    }

    /// Reads a file holding a secret: nothing it prints becomes a progress event.
    async fn read_secret(&mut self, stage: Stage, path: &str) -> Result<String, Error> {
        let output = self.remote.run(&format!("cat {}", quote(path)), b"", &mut |_, _| {}).await?;
        check(stage, output)
    }

    /// Uploads a file as part of `stage`; a full disk is said as such and leaves nothing.
    async fn upload(
        &mut self,
        stage: Stage,
        bytes: &[u8],
        path: &str,
        mode: u32,
    ) -> Result<(), Error> {
        match self.remote.upload(bytes, path, mode).await {
            Err(ssh::Error::Protocol(detail)) if detail.contains(NO_SPACE) => {
                let _ = self
                    .probe(&format!("rm -f {}", quote(&format!("{path}.outpost-upload"))))
                    .await;
                Err(failure(stage, &detail))
            }
            other => Ok(other?),
        }
    }

    /// Runs a command that may fail, silently; returns (succeeded, stdout).
    async fn probe(&mut self, command: &str) -> Result<(bool, String), Error> {
        let output = self.remote.run(command, b"", &mut |_, _| {}).await?;
        Ok((output.status == Some(0), output.stdout))
    }
}

fn check(stage: Stage, output: ssh::Output) -> Result<String, Error> {
    if output.status == Some(0) {
        return Ok(output.stdout);
    }
    let detail =
        if output.stderr.trim().is_empty() { output.stdout.trim() } else { output.stderr.trim() };
    Err(failure(stage, detail))
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
pub async fn install<R: Remote>(
    remote: &R,
    input: &Input,
    secrets: &dyn SecretStore,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<Step>, Error> {
    install_with(remote, input, secrets, progress, &Artifact::carried()).await
}

/// Installs `artifact`. If an upgraded relay does not come up, the previous binary is put back
/// and started, and the error says so ([`Error::RolledBack`]).
pub async fn install_with<R: Remote>(
    remote: &R,
    input: &Input,
    secrets: &dyn SecretStore,
    progress: &mut (dyn FnMut(Progress) + Send),
    artifact: &Artifact<'_>,
) -> Result<Vec<Step>, Error> {
    let mut context = Context { remote, progress, input, secrets, artifact, upgraded: false };
    let mut steps: Vec<Step> = Vec::with_capacity(STAGES.len());
    for stage in STAGES {
        (context.progress)(Progress::Stage { id: stage });
        let step = match stage {
            Stage::Binary => binary::install(&mut context).await?,
            Stage::User => service::user(&mut context).await?,
            Stage::Config => config::config(&mut context).await?,
            Stage::Dkim => config::dkim(&mut context).await?,
            Stage::SmtpUser => config::smtp_user(&mut context).await?,
            Stage::Aliases => config::aliases(&mut context).await?,
            Stage::Unit => service::unit(&mut context).await?,
            Stage::Firewall => firewall::open(&mut context).await?,
            Stage::Ipv6 => ipv6::enable(&mut context).await?,
            Stage::Service => {
                let changed = steps.iter().any(|step| step.changed);
                service::start(&mut context, changed).await?
            }
            Stage::Hash
            | Stage::Verify
            | Stage::StopMailServers
            | Stage::Uninstall
            | Stage::CertificateChecks
            | Stage::CertificatePorts
            | Stage::CertificateOrder
            | Stage::CertificateChallenge
            | Stage::CertificateIssue
            | Stage::CertificateServed
            | Stage::TestSubmit
            | Stage::TestSign
            | Stage::TestDeliver
            | Stage::TestJudge
            | Stage::TestMailbox => {
                unreachable!("STAGES lists install stages only")
            }
        };
        steps.push(step);
    }
    Ok(steps)
}

/// A strong random password: 24 characters from an alphabet without look-alikes.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..24).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests;
