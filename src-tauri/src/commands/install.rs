//! Step 6: installing the relay, with its log streamed to the window, then checking port 587
//! from this computer.

use outpost_setup::app::{self, InstallReport};
use outpost_setup::progress::Progress;
use tauri::State;
use tauri::ipc::Channel;

use crate::commands::profile::update;
use crate::commands::server::{cancellable, forward, settings};
use crate::ipc::IpcError;
use crate::state::AppState;

/// An SMTP password (the install's own user's when `user` is none), from the keychain, for
/// the user to see or copy into a mail program.
#[tauri::command]
pub async fn smtp_password(
    state: State<'_, AppState>,
    user: Option<String>,
) -> Result<String, IpcError> {
    Ok(app::smtp_password(&state.profile().await, &state.secrets, user.as_deref()).await?)
}

/// Installs (or repairs, or upgrades) the relay on the saved server for the saved domain.
#[tauri::command]
pub async fn install_relay(
    state: State<'_, AppState>,
    on_progress: Channel<Progress>,
) -> Result<InstallReport, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    let mut progress = forward(on_progress);
    let (report, installed) = cancellable(&state, async move {
        Ok(app::install(&profile, &secrets, &settings, &mut progress).await?)
    })
    .await?;
    update(&state, move |profile| profile.installed = Some(installed)).await?;
    Ok(report)
}
