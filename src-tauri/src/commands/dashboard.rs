//! Step 10: the dashboard — the server's health at a glance, and the queue's buttons.

use outpost_relay_api::{QueueDeleted, QueueRetry};
use outpost_setup::app::{self, UserChange};
use outpost_setup::health::Health;
use outpost_setup::install::UninstallPlan;
use outpost_setup::users::User;
use tauri::State;

use crate::commands::profile::{ProfileView, update};
use crate::commands::server::{cancellable, settings};
use crate::ipc::IpcError;
use crate::state::AppState;

/// Everything the dashboard shows, read and judged now.
#[tauri::command]
pub async fn health(state: State<'_, AppState>) -> Result<Health, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    cancellable(&state, async move { Ok(app::health(&profile, &secrets, &settings).await?) }).await
}

/// "Retry now" on a queued message.
#[tauri::command]
pub async fn queue_retry(state: State<'_, AppState>, id: String) -> Result<QueueRetry, IpcError> {
    let (profile, secrets) = (state.profile().await, state.secrets.clone());
    cancellable(&state, async move { Ok(app::queue_retry(&profile, &secrets, &id).await?) }).await
}

/// "Delete" on a queued message, once the user confirmed.
#[tauri::command]
pub async fn queue_delete(
    state: State<'_, AppState>,
    id: String,
) -> Result<QueueDeleted, IpcError> {
    let (profile, secrets) = (state.profile().await, state.secrets.clone());
    cancellable(&state, async move { Ok(app::queue_delete(&profile, &secrets, &id).await?) }).await
}

/// The SMTP users on the server.
#[tauri::command]
pub async fn smtp_users(state: State<'_, AppState>) -> Result<Vec<User>, IpcError> {
    let (profile, secrets) = (state.profile().await, state.secrets.clone());
    cancellable(&state, async move { Ok(app::smtp_users(&profile, &secrets).await?) }).await
}

/// Adds, re-passwords or removes an SMTP user; returns them all.
#[tauri::command]
pub async fn change_smtp_user(
    state: State<'_, AppState>,
    change: UserChange,
) -> Result<Vec<User>, IpcError> {
    let (profile, secrets) = (state.profile().await, state.secrets.clone());
    cancellable(
        &state,
        async move { Ok(app::change_smtp_user(&profile, &secrets, &change).await?) },
    )
    .await
}

/// Exactly what "Uninstall" would remove, for the user to confirm.
#[tauri::command]
pub async fn uninstall_plan(state: State<'_, AppState>) -> Result<UninstallPlan, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    cancellable(
        &state,
        async move { Ok(app::uninstall_plan(&profile, &secrets, &settings).await?) },
    )
    .await
}

/// Removes the relay from the server and its secrets from the keychain; the wizard goes back to
/// the Install step.
#[tauri::command]
pub async fn uninstall(state: State<'_, AppState>) -> Result<ProfileView, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    cancellable(&state, async move { Ok(app::uninstall(&profile, &secrets, &settings).await?) })
        .await?;
    update(&state, |profile| profile.uninstalled()).await
}
