//! The tray menu's words, in the user's language.

use tauri::{AppHandle, Manager};

use crate::ipc::IpcError;
use crate::watch::{TrayMenu, TrayWords};

/// Words the tray menu with the UI's catalogue (at start and after each change of language);
/// what its items say now, or none when the app runs without a tray icon. (Tauri's menu items
/// change themselves on the thread that owns them.)
#[tauri::command]
pub async fn word_tray(app: AppHandle, words: TrayWords) -> Result<Option<TrayWords>, IpcError> {
    let Some(menu) = app.try_state::<TrayMenu>() else { return Ok(None) };
    menu.word(&words).map(Some).map_err(|error| IpcError::Internal { detail: error.to_string() })
}
