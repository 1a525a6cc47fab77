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
}

impl ErrorCode {
    /// Every code, for the mirror test.
    #[cfg(test)]
    pub const ALL: [ErrorCode; 3] =
        [ErrorCode::ProfileUnavailable, ErrorCode::RelayDamaged, ErrorCode::Internal];
}

impl IpcError {
    /// An error with its code, message and hint.
    pub fn new(code: ErrorCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        IpcError { code, message: message.into(), hint: hint.into() }
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
