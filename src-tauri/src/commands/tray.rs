//! The tray menu's words, in the user's language.

use tauri::{AppHandle, Manager};

use crate::ipc::IpcError;
use crate::watch::{TrayMenu, TrayWords};

/// Words the tray menu with the UI's catalogue (at start and after each change of language);
/// nothing to do when the app runs without a tray icon. (Tauri's menu items change themselves
/// on the thread that owns them.)
#[tauri::command]
pub async fn word_tray(app: AppHandle, words: TrayWords) -> Result<(), IpcError> {
    let Some(menu) = app.try_state::<TrayMenu>() else { return Ok(()) };
    menu.word(&words).map_err(|error| IpcError::Internal { detail: error.to_string() })
}
