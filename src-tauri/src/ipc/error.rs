//! The one error type at the IPC edge: a code and the values its sentence needs.
//!
//! `code` is stable and the UI switches on it; every sentence a user reads (title, what
//! happened, what to do) is the UI catalogue's, filled in from these typed values. Text that
//! comes from outside Outpost — a server's output, an operating system's or a library's error —
//! travels as `detail` and is shown as it is, for the curious and for bug reports.

use outpost_relay_api::AcmeFailureKind;
use outpost_setup::app::{self, Missing};
use outpost_setup::certificate::Blocker;
use outpost_setup::choices::{Field, Problem};
use outpost_setup::install::{self, Stage};
use outpost_setup::{probe, relay_admin, ssh};
use serde::Serialize;

/// An error as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "code", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum IpcError {
    /// The profile file could not be written.
    ProfileUnavailable { detail: String },
    /// The relay carried inside the app does not match its recorded digest.
    RelayDamaged { detail: String },
    /// A bug: something that should not fail did.
    Internal { detail: String },
    /// A form field needs correcting (`item`: which one, in a list of rows such as the aliases).
    InvalidInput {
        field: Field,
        problem: Problem,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        item: Option<usize>,
    },
    /// An earlier step's result is missing (no server, no login, no domain, no install).
    NotReady { missing: Missing },
    /// The server did not answer on its SSH port.
    Unreachable { host: String, port: u16, reason: ssh::NetworkFailure },
    /// A network step took too long.
    Timeout { seconds: u64 },
    /// The server's host key is not the one confirmed earlier.
    HostKeyChanged { expected: String, found: String },
    /// The window asked to trust a host key that was never shown for this server.
    HostKeyNotShown { target: String },
    /// The server refused the password or key.
    LoginRefused { user: String },
    /// The private key could not be used.
    BadKey { detail: String },
    /// Another SSH failure.
    Ssh { detail: String },
    /// A stage of the install failed on the server.
    InstallFailed { stage: Stage, reason: InstallFailure },
    /// An upgrade did not start and the previous relay was put back.
    RolledBack { version: String, journal: String },
    /// The relay on the server is older than this app needs.
    RelayOutdated { relay: u32, needed: u32 },
    /// An admin command of the relay failed.
    RelayCommand { command: String, detail: String },
    /// The OS keychain refused or did not answer.
    Keychain { detail: String },
    /// This computer has no keychain to keep secrets in (Linux without a Secret Service).
    KeychainMissing { detail: String },
    /// Port 587 could not be verified from this computer.
    SubmissionUnverified { reason: Unverified, detail: String },
    /// The user stopped the operation.
    Cancelled,
    /// DNS lookups could not run.
    Dns { domain: String, detail: String },
    /// A certificate cannot be asked for yet: each thing to fix first.
    CertificateBlocked { blockers: Vec<Blocker> },
    /// The CA did not issue the certificate (the relay keeps trying by itself, with pauses).
    CertificateRefused { kind: AcmeFailureKind, detail: String, mail_host: String },
    /// No certificate within the wait (the relay keeps trying by itself).
    CertificateTimeout { seconds: u64 },
    /// An advanced setting could not be used.
    Settings { detail: String },
    /// The relay did not take the test email on port 587.
    TestNotSubmitted { failure: outpost_setup::test_email::SubmitFailure, detail: String },
    /// A backup file is not one, or this computer's key does not open it.
    BackupUnusable { problem: BackupProblem, detail: String },
    /// The backup chosen is of another domain.
    BackupForAnotherDomain { domain: String },
    /// An update of the app was not installed.
    Update { problem: UpdateProblem, detail: String },
}

/// Why an update of the app was not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum UpdateProblem {
    /// The package does not carry a valid signature by the app's key (or was signed for another
    /// version than the feed announced): refused, nothing installed.
    Signature,
    /// The feed or the package could not be fetched.
    Download,
    /// Verified, but installing it failed (the system's permission prompt refused, say).
    Install,
    /// Anything else.
    Other,
}

/// Why an install stage failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum InstallFailure {
    /// The server's disk is full (`detail`: the server's line saying so); nothing was left.
    DiskFull { detail: String },
    /// The uploaded relay is not the app's copy.
    Damaged,
    /// The new relay does not run on this server (`detail`: what running it printed).
    DoesNotRun { detail: String },
    /// The relay did not start (`detail`: its last log lines).
    DidNotStart { detail: String },
    /// The relay runs but reports no certificate.
    NoCertificate,
    /// A command failed (`detail`: what the server said).
    Command { detail: String },
    /// The saved choices make no valid relay config.
    Config { detail: String },
}

/// What went wrong checking port 587 from this computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Unverified {
    /// Nothing answered on the port (a firewall, most likely).
    Closed,
    /// Something else than the relay answered (its certificate is not the relay's).
    WrongCertificate,
    /// The certificate's chain does not lead to a root this computer trusts.
    Untrusted,
    /// Anything else.
    Other,
}

impl IpcError {
    /// A failure that only a bug explains (a background task that panicked, say).
    pub fn internal(detail: impl Into<String>) -> Self {
        IpcError::Internal { detail: detail.into() }
    }
}

impl From<outpost_setup::profile::Error> for IpcError {
    fn from(error: outpost_setup::profile::Error) -> Self {
        IpcError::ProfileUnavailable { detail: error.to_string() }
    }
}

impl From<outpost_setup::relay::IntegrityError> for IpcError {
    fn from(error: outpost_setup::relay::IntegrityError) -> Self {
        IpcError::RelayDamaged { detail: error.to_string() }
    }
}

impl From<outpost_setup::choices::Invalid> for IpcError {
    fn from(invalid: outpost_setup::choices::Invalid) -> Self {
        IpcError::InvalidInput {
            field: invalid.field,
            problem: invalid.problem,
            item: invalid.item,
        }
    }
}

impl From<ssh::Error> for IpcError {
    fn from(error: ssh::Error) -> Self {
        use ssh::Error as E;
        match error {
            E::Unreachable { host, port, reason } => IpcError::Unreachable { host, port, reason },
            E::Timeout { after, .. } => IpcError::Timeout { seconds: after.as_secs() },
            E::HostKeyChanged { expected, found } => IpcError::HostKeyChanged { expected, found },
            E::LoginRefused { user } => IpcError::LoginRefused { user },
            E::BadKey(detail) => IpcError::BadKey { detail },
            E::NotRoot { user, reason } => IpcError::InvalidInput {
                field: Field::User,
                problem: Problem::CannotBecomeRoot { user, reason },
                item: None,
            },
            E::Protocol(detail) => IpcError::Ssh { detail },
        }
    }
}

impl From<install::Error> for IpcError {
    fn from(error: install::Error) -> Self {
        use install::Error as E;
        let failed = |stage, reason| IpcError::InstallFailed { stage, reason };
        match error {
            E::Ssh(error) => error.into(),
            E::Secrets(error) => error.into(),
            E::Admin(error) => error.into(),
            E::RolledBack { version, journal } => IpcError::RolledBack { version, journal },
            E::Failed { stage, detail } => failed(stage, InstallFailure::Command { detail }),
            E::DiskFull { stage, detail } => failed(stage, InstallFailure::DiskFull { detail }),
            E::Damaged => failed(Stage::Binary, InstallFailure::Damaged),
            E::DoesNotRun { output } => {
                failed(Stage::Binary, InstallFailure::DoesNotRun { detail: output })
            }
            E::DidNotStart { journal } => {
                failed(Stage::Service, InstallFailure::DidNotStart { detail: journal })
            }
        }
    }
}

impl From<relay_admin::Error> for IpcError {
    fn from(error: relay_admin::Error) -> Self {
        use relay_admin::Error as E;
        match error {
            E::Ssh(error) => error.into(),
            E::UpgradeNeeded { relay, needed } => IpcError::RelayOutdated { relay, needed },
            E::Relay { command, error } => {
                IpcError::RelayCommand { command: command.into(), detail: error.message }
            }
            E::NoReply { command, detail } | E::Unreadable { command, detail } => {
                IpcError::RelayCommand { command: command.into(), detail }
            }
        }
    }
}

impl From<outpost_setup::secrets::Error> for IpcError {
    fn from(error: outpost_setup::secrets::Error) -> Self {
        use outpost_setup::secrets::Error as E;
        match error {
            E::Unavailable(_) => IpcError::KeychainMissing { detail: error.to_string() },
            E::Timeout(_) | E::Failed(_) => IpcError::Keychain { detail: error.to_string() },
        }
    }
}

impl From<probe::Error> for IpcError {
    fn from(error: probe::Error) -> Self {
        let reason = match &error {
            probe::Error::Unreachable { .. } | probe::Error::Timeout { .. } => Unverified::Closed,
            probe::Error::WrongCertificate { .. } => Unverified::WrongCertificate,
            probe::Error::Untrusted { .. } => Unverified::Untrusted,
            _ => Unverified::Other,
        };
        IpcError::SubmissionUnverified { reason, detail: error.to_string() }
    }
}

impl From<app::Error> for IpcError {
    fn from(error: app::Error) -> Self {
        use app::Error as E;
        match error {
            E::Invalid(invalid) => invalid.into(),
            E::NotReady(missing) => IpcError::NotReady { missing },
            E::Ssh(error) => error.into(),
            E::Secrets(error) => error.into(),
            E::Install(error) => error.into(),
            E::Admin(error) => error.into(),
            E::Probe(error) => error.into(),
            E::NoCertificate => IpcError::InstallFailed {
                stage: Stage::Verify,
                reason: InstallFailure::NoCertificate,
            },
            E::Dns { domain, error } => IpcError::Dns { domain, detail: error.to_string() },
            E::HostKeyNotShown { target, .. } => IpcError::HostKeyNotShown { target },
            E::Config(error) => IpcError::InstallFailed {
                stage: Stage::Config,
                reason: InstallFailure::Config { detail: error.to_string() },
            },
            E::CertificateBlocked(blockers) => IpcError::CertificateBlocked { blockers },
            E::Acme { failure, mail_host } => IpcError::CertificateRefused {
                kind: failure.kind,
                detail: failure.detail,
                mail_host,
            },
            E::CertificateTimeout { seconds, .. } => IpcError::CertificateTimeout { seconds },
            E::Settings(detail) => IpcError::Settings { detail },
            E::Submit { failure, detail } => IpcError::TestNotSubmitted { failure, detail },
            E::Backup(error) => {
                use outpost_setup::backup::Error as B;
                let detail = error.to_string();
                let problem = match error {
                    B::Ssh(error) => return error.into(),
                    B::NotABackup => BackupProblem::NotABackup,
                    B::WrongKey => BackupProblem::WrongKey,
                    B::File { .. } => BackupProblem::File,
                };
                IpcError::BackupUnusable { problem, detail }
            }
            E::BackupForAnotherDomain { domain } => IpcError::BackupForAnotherDomain { domain },
        }
    }
}

/// What is wrong with a backup file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum BackupProblem {
    /// Not an Outpost backup.
    NotABackup,
    /// This computer's key does not open it (made elsewhere, or damaged).
    WrongKey,
    /// A file could not be read or written.
    File,
}

impl From<tauri::Error> for IpcError {
    fn from(error: tauri::Error) -> Self {
        IpcError::internal(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialize_with_their_code_and_values() {
        let json = serde_json::to_value(IpcError::internal("boom")).unwrap();
        assert_eq!(json, serde_json::json!({ "code": "internal", "detail": "boom" }));
        let json = serde_json::to_value(IpcError::from(outpost_setup::choices::Invalid::new(
            Field::MailHost,
            Problem::OutsideDomain { domain: "example.com".into() },
        )))
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "code": "invalidInput",
                "field": "mailHost",
                "problem": { "kind": "outsideDomain", "domain": "example.com" }
            })
        );
        assert_eq!(
            serde_json::to_value(IpcError::Cancelled).unwrap(),
            serde_json::json!({ "code": "cancelled" })
        );
    }
}
