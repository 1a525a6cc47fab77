//! Step 10: the dashboard — the server's health at a glance, and the queue's buttons.

use outpost_relay_api::{QueueDeleted, QueueRetry};
use outpost_setup::app::{self, DkimSwitch, UserChange};
use outpost_setup::choices::ExtraDomainForm;
use outpost_setup::dns::report::Report;
use outpost_setup::health::Health;
use outpost_setup::install::UninstallPlan;
use outpost_setup::progress::Progress;
use outpost_setup::users::User;
use tauri::State;
use tauri::ipc::Channel;

use crate::commands::profile::{ProfileView, update};
use crate::commands::server::{cancellable, forward, settings};
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

/// DKIM rotation, stage 1: a new key on the server, its record to publish.
#[tauri::command]
pub async fn dkim_rotation_start(state: State<'_, AppState>) -> Result<ProfileView, IpcError> {
    let (profile, secrets) = (state.profile().await, state.secrets.clone());
    let rotation =
        cancellable(&state, async move { Ok(app::dkim_rotation_start(&profile, &secrets).await?) })
            .await?;
    update(&state, move |profile| profile.dkim_rotation = Some(rotation)).await
}

/// DKIM rotation, stage 2: signing switches to the new key once its record is visible.
#[tauri::command]
pub async fn dkim_rotation_switch(
    state: State<'_, AppState>,
    on_progress: Channel<Progress>,
) -> Result<(DkimSwitch, ProfileView), IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    let mut progress = forward(on_progress);
    let (outcome, installed) = cancellable(&state, async move {
        Ok(app::dkim_rotation_switch(&profile, &secrets, &settings, &mut progress).await?)
    })
    .await?;
    let at = match outcome {
        DkimSwitch::Switched { at } => Some(at),
        DkimSwitch::NotVisible { .. } => None,
    };
    let view = update(&state, move |profile| {
        if let (Some(at), Some(installed)) = (at, installed) {
            if let (Some(rotation), Some(domain)) =
                (&mut profile.dkim_rotation, &mut profile.domain)
            {
                domain.dkim_selector = rotation.to.clone();
                rotation.switched = Some(at);
            }
            profile.installed = Some(installed);
        }
    })
    .await?;
    Ok((outcome, view))
}

/// DKIM rotation, stage 3: a week after the switch, the old key goes.
#[tauri::command]
pub async fn dkim_rotation_finish(state: State<'_, AppState>) -> Result<ProfileView, IpcError> {
    let (profile, secrets) = (state.profile().await, state.secrets.clone());
    cancellable(&state, async move { Ok(app::dkim_rotation_finish(&profile, &secrets).await?) })
        .await?;
    update(&state, |profile| profile.dkim_rotation = None).await
}

/// "Save a backup" to `path` (a file this computer's user chose).
#[tauri::command]
pub async fn save_backup(
    state: State<'_, AppState>,
    path: String,
) -> Result<app::BackupSaved, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    cancellable(&state, async move {
        Ok(app::save_backup(&profile, &secrets, &settings, std::path::Path::new(&path)).await?)
    })
    .await
}

/// "Restore from a backup" onto the connected (new) server: installs, then puts the backup's
/// files back.
#[tauri::command]
pub async fn restore_backup(
    state: State<'_, AppState>,
    path: String,
    on_progress: Channel<Progress>,
) -> Result<(app::Restored, ProfileView), IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    let mut progress = forward(on_progress);
    let (restored, installed) = cancellable(&state, async move {
        let path = std::path::Path::new(&path);
        Ok(app::restore_backup(&profile, &secrets, &settings, path, &mut progress).await?)
    })
    .await?;
    let (selector, rotation) = (restored.dkim_selector.clone(), restored.dkim_rotation.clone());
    let view = update(&state, move |profile| {
        if let Some(domain) = &mut profile.domain {
            domain.dkim_selector = selector;
        }
        profile.dkim_rotation = rotation;
        profile.installed = Some(installed);
    })
    .await?;
    Ok((restored, view))
}

/// "Add a domain": checked, installed on the relay (its key made, its aliases set, a login for
/// its sending address), then remembered.
#[tauri::command]
pub async fn add_domain(
    state: State<'_, AppState>,
    form: ExtraDomainForm,
    on_progress: Channel<Progress>,
) -> Result<ProfileView, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    let mut progress = forward(on_progress);
    let (extra, installed) = cancellable(&state, async move {
        Ok(app::add_domain(&profile, &secrets, &settings, &form, &mut progress).await?)
    })
    .await?;
    update(&state, move |profile| {
        profile.extra_domains.retain(|other| other.domain != extra.domain);
        profile.extra_domains.push(extra);
        profile.installed = Some(installed);
    })
    .await
}

/// "Remove" on a further domain, once the user confirmed.
#[tauri::command]
pub async fn remove_domain(
    state: State<'_, AppState>,
    domain: String,
    on_progress: Channel<Progress>,
) -> Result<(app::DomainRemoved, ProfileView), IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    let mut progress = forward(on_progress);
    let (removed, installed) = cancellable(&state, async move {
        Ok(app::remove_domain(&profile, &secrets, &settings, &domain, &mut progress).await?)
    })
    .await?;
    let name = removed.domain.clone();
    let view = update(&state, move |profile| {
        profile.extra_domains.retain(|other| other.domain.as_str() != name);
        profile.installed = Some(installed);
    })
    .await?;
    Ok((removed, view))
}

/// A further domain's records, checked.
#[tauri::command]
pub async fn extra_dns_report(
    state: State<'_, AppState>,
    domain: String,
) -> Result<Report, IpcError> {
    let (profile, settings) = (state.profile().await, settings(&state)?);
    cancellable(
        &state,
        async move { Ok(app::extra_dns_report(&profile, &settings, &domain).await?) },
    )
    .await
}
