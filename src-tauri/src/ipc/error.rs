//! The one error type at the IPC edge: `{ code, message, hint }`.
//!
//! `code` is stable and the UI switches on it (its English title lives in the UI's message
//! catalogue); `message` says what happened and `hint` what to do, both in plain words.

use serde::Serialize;

/// An error as the UI receives it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpcError {
    /// What kind of failure, for the UI to branch on.
    pub code: ErrorCode,
    /// What happened.
    pub message: String,
    /// What the user can do about it.
    pub hint: String,
    /// For `invalidInput`: the form field to correct.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Stable error codes. Mirrored by `ErrorCode` in `ui/src/lib/ipc.ts`; a test keeps them equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// The profile file could not be written.
    ProfileUnavailable,
    /// The relay carried inside the app does not match its recorded digest.
    RelayDamaged,
    /// A bug: something that should not fail did.
    Internal,
    /// A form field needs correcting (`field` says which).
    InvalidInput,
    /// No server has been connected yet, or its saved login is gone.
    NotConnected,
    /// The server did not answer on its SSH port.
    Unreachable,
    /// A network step took too long.
    Timeout,
    /// The server's host key is not the one confirmed earlier.
    HostKeyChanged,
    /// The server refused the password or key.
    LoginRefused,
    /// The private key file could not be used.
    BadKey,
    /// Another SSH failure.
    Ssh,
    /// A step of the install failed on the server.
    InstallFailed,
    /// An upgrade did not start and the previous relay was put back.
    RolledBack,
    /// The OS keychain refused or did not answer.
    Keychain,
    /// Port 587 could not be verified from this computer.
    SubmissionUnverified,
    /// The user stopped the operation.
    Cancelled,
    /// DNS lookups could not run.
    Dns,
}

impl ErrorCode {
    /// Every code, for the mirror test.
    #[cfg(test)]
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::ProfileUnavailable,
        ErrorCode::RelayDamaged,
        ErrorCode::Internal,
        ErrorCode::InvalidInput,
        ErrorCode::NotConnected,
        ErrorCode::Unreachable,
        ErrorCode::Timeout,
        ErrorCode::HostKeyChanged,
        ErrorCode::LoginRefused,
        ErrorCode::BadKey,
        ErrorCode::Ssh,
        ErrorCode::InstallFailed,
        ErrorCode::RolledBack,
        ErrorCode::Keychain,
        ErrorCode::SubmissionUnverified,
        ErrorCode::Cancelled,
        ErrorCode::Dns,
    ];
}

impl IpcError {
    /// An error with its code, message and hint.
    pub fn new(code: ErrorCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        IpcError { code, message: message.into(), hint: hint.into(), field: None }
    }

    /// A form field to correct.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        IpcError {
            field: Some(field.into()),
            ..IpcError::new(ErrorCode::InvalidInput, message, "")
        }
    }

    /// The operation was stopped by the user.
    pub fn cancelled() -> Self {
        IpcError::new(
            ErrorCode::Cancelled,
            "Stopped.",
            "Nothing is left half-done: every step checks what is already there, so running it again picks up where it stopped.",
        )
    }

    /// A failure that only a bug explains (a background task that panicked, say).
    pub fn internal(message: impl Into<String>) -> Self {
        IpcError::new(
            ErrorCode::Internal,
            message,
            "This is a bug in Outpost. Restart the app; nothing on your server was changed by this.",
        )
    }
}

impl From<outpost_setup::profile::Error> for IpcError {
    fn from(error: outpost_setup::profile::Error) -> Self {
        IpcError::new(
            ErrorCode::ProfileUnavailable,
            format!("Outpost could not save your progress: {error}."),
            "Make sure your disk is not full and that you can write to that folder, then try again.",
        )
    }
}

impl From<outpost_setup::relay::IntegrityError> for IpcError {
    fn from(error: outpost_setup::relay::IntegrityError) -> Self {
        IpcError::new(
            ErrorCode::RelayDamaged,
            format!("{error}."),
            "Your copy of Outpost is damaged. Download and install it again before setting up a server.",
        )
    }
}

impl From<outpost_setup::choices::Invalid> for IpcError {
    fn from(invalid: outpost_setup::choices::Invalid) -> Self {
        IpcError::invalid(invalid.field, invalid.message)
    }
}

impl From<outpost_setup::ssh::Error> for IpcError {
    fn from(error: outpost_setup::ssh::Error) -> Self {
        use outpost_setup::ssh::Error as E;
        match &error {
            E::Unreachable { host, port, reason } => IpcError::new(
                ErrorCode::Unreachable,
                format!("Outpost cannot reach {host} on port {port} ({reason})."),
                "Check the address for typos (your provider's panel shows it) and that the server is switched on. A brand-new server can take a few minutes before it answers; try again shortly.",
            ),
            E::Timeout { .. } => IpcError::new(
                ErrorCode::Timeout,
                format!("The server did not answer in time: {error}."),
                "Check that the address is right and that your internet connection works, then try again. A firewall in your provider's panel may be blocking SSH (port 22).",
            ),
            E::HostKeyChanged { expected, found } => IpcError::new(
                ErrorCode::HostKeyChanged,
                format!(
                    "This server's identity has changed since you confirmed it (it was {expected}, now it is {found}). Outpost stopped and sent nothing."
                ),
                "If you reinstalled the server or got a new one at the same address, that explains it: connect again and confirm the new fingerprint. If you did not, someone may be intercepting the connection: do not continue, and ask your provider.",
            ),
            E::LoginRefused { user } => IpcError::new(
                ErrorCode::LoginRefused,
                format!("The server refused the login for “{user}”."),
                "Check the user name (usually root) and the password or key. The provider's welcome email has them; many panels can reset the root password.",
            ),
            E::BadKey(reason) => IpcError::new(
                ErrorCode::BadKey,
                format!("Outpost cannot use this private key: {reason}."),
                "Choose the private key file (not the .pub file). If the key has a passphrase, type it in the passphrase field.",
            ),
            E::NotRoot { user, reason } => IpcError::invalid(
                "user",
                format!(
                    "“{user}” signed in, but Outpost needs to install a system service and “{user}” cannot become root ({reason}). Sign in as root, or give this user sudo rights (for a key login, sudo without a password)."
                ),
            ),
            E::Protocol(reason) => IpcError::new(
                ErrorCode::Ssh,
                format!("The SSH connection failed: {reason}."),
                "Try again. If it keeps failing, restart the server from your provider's panel.",
            ),
        }
    }
}

impl From<outpost_setup::install::Error> for IpcError {
    fn from(error: outpost_setup::install::Error) -> Self {
        use outpost_setup::install::Error as E;
        match error {
            E::Ssh(error) => error.into(),
            E::Secrets(error) => error.into(),
            E::RolledBack { version, journal } => IpcError::new(
                ErrorCode::RolledBack,
                format!(
                    "The new relay ({version}) did not start, so the previous one was put back and is running.\n{journal}"
                ),
                "Your mail keeps working. Please report this with the log above.",
            ),
            E::Step { step, detail } => IpcError::new(
                ErrorCode::InstallFailed,
                format!("The install stopped at “{step}”: {detail}"),
                "Nothing is left half-done: fix what the message says (a full disk, say), then press Install again; it continues from where it stopped.",
            ),
        }
    }
}

impl From<outpost_setup::secrets::Error> for IpcError {
    fn from(error: outpost_setup::secrets::Error) -> Self {
        IpcError::new(
            ErrorCode::Keychain,
            format!("Your computer's keychain did not work: {error}."),
            "Unlock your keychain (on Linux: the login keyring, often unlocked when you log in) and try again. Outpost never writes secrets to files instead.",
        )
    }
}

impl From<outpost_setup::probe::Error> for IpcError {
    fn from(error: outpost_setup::probe::Error) -> Self {
        use outpost_setup::probe::Error as E;
        let hint = match &error {
            E::Unreachable { .. } | E::Timeout { .. } => {
                "The relay runs, but port 587 is closed between here and the server: open TCP ports 587 and 465 in your provider's firewall (in its panel), then press Install again to re-check. Some home and office networks block 587 too."
            }
            E::WrongCertificate { .. } => {
                "Something between this computer and the server answered instead of your relay. Try from another network; if it persists, do not send passwords through this connection."
            }
            _ => {
                "Press Install again to re-check. If it keeps failing, please report it with this message."
            }
        };
        IpcError::new(
            ErrorCode::SubmissionUnverified,
            format!(
                "The relay is installed and running, but checking it from here failed: {error}."
            ),
            hint,
        )
    }
}

impl From<tauri::Error> for IpcError {
    fn from(error: tauri::Error) -> Self {
        IpcError::internal(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TypeScript union must list exactly the Rust codes, so the UI can title every error.
    #[test]
    fn error_codes_are_mirrored_in_typescript() {
        let typescript = include_str!("../../../ui/src/lib/ipc.ts");
        let union_start = typescript.find("export type ErrorCode =").expect("ErrorCode in ipc.ts");
        let union = &typescript[union_start..];
        let union = &union[..union.find(';').expect("the union ends with `;`")];
        let mut mirrored: Vec<&str> = union.split('\'').skip(1).step_by(2).collect();
        let mut codes: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|code| serde_json::to_value(code).unwrap().as_str().unwrap().to_string())
            .collect();
        mirrored.sort_unstable();
        codes.sort_unstable();
        assert_eq!(mirrored, codes);
    }

    #[test]
    fn errors_serialize_with_code_message_and_hint() {
        let error = IpcError::internal("boom");
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["code"], "internal");
        assert_eq!(json["message"], "boom");
        assert!(json["hint"].as_str().unwrap().contains("bug"));
    }
}
