//! Progress events: what a long operation tells its caller while it runs.
//!
//! Operations take a `&mut dyn FnMut(Progress)` sink rather than a channel type, so the engine
//! does not choose the transport: the app forwards events over an IPC channel, tests collect
//! them in a `Vec`.

use serde::Serialize;

/// One event from a long operation.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Progress {
    /// A stage has started.
    Stage {
        /// Which one.
        id: Stage,
    },
    /// How far the current stage has got, in parts of `total`.
    Advance {
        /// Units done so far.
        done: u64,
        /// Units in all.
        total: u64,
    },
    /// A line of output (from a remote command, say), secrets already masked.
    Log {
        /// The line, without its line ending.
        line: String,
    },
}

/// Every stage a long operation reports, spelled once: the UI's catalogue names each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Re-hashing the carried relay.
    Hash,
    /// Install: the binary uploaded, verified and swapped in.
    Binary,
    /// Install: the service user and directories.
    User,
    /// Install: the config file, checked by the relay.
    Config,
    /// Install: DKIM keys made and backed up.
    Dkim,
    /// Install: the SMTP user and its password.
    SmtpUser,
    /// Install: the addresses the relay forwards (its aliases).
    Aliases,
    /// Install: the systemd unit.
    Unit,
    /// Install: the firewall's ports.
    Firewall,
    /// Install: IPv6 switched on when wanted.
    Ipv6,
    /// Install: the service started and running.
    Service,
    /// After the install: the relay's status read and port 587 checked from this computer.
    Verify,
    /// Stopping a preinstalled mail server.
    StopMailServers,
    /// Removing the relay.
    Uninstall,
    /// Certificate: the mail host's DNS, the CAA records and the server's ports 80 and 443.
    CertificateChecks,
    /// Certificate: ports 80 and 443 opened on the server and reached from this computer.
    CertificatePorts,
    /// Certificate: the relay places its order with the CA.
    CertificateOrder,
    /// Certificate: the relay answers the CA's challenge; the CA checks.
    CertificateChallenge,
    /// Certificate: the CA has checked the names and issues the certificate.
    CertificateIssue,
    /// Certificate: served on every port, checked from this computer.
    CertificateServed,
    /// Test email: sent from this computer through port 587.
    TestSubmit,
    /// Test email: the relay signed it (DKIM).
    TestSign,
    /// Test email: the relay delivers it to the recipient's server.
    TestDeliver,
    /// Test email: judged here as a receiver would.
    TestJudge,
    /// Test email: read back from the recipient's mailbox.
    TestMailbox,
}

/// A progress sink that drops everything, for callers that do not care.
pub fn ignore(_: Progress) {}
