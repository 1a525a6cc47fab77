//! Steps 3 and 4: connecting to the server (host key confirmed, login kept in the keychain) and
//! checking it. Every network call runs as a [`cancellable`] operation.

use std::future::Future;

use outpost_setup::app::{self, Address, LoginForm};
use outpost_setup::checks::Check;
use outpost_setup::install::MailServer;
use outpost_setup::progress::Progress;
use outpost_setup::settings::Settings;
use outpost_setup::ssh::HostKey;
use tauri::State;
use tauri::ipc::Channel;

use crate::commands::profile::{ProfileView, update};
use crate::ipc::IpcError;
use crate::state::AppState;

/// Whether this computer's keychain can keep the login, asked before the user types one.
#[tauri::command]
pub async fn keychain_state(
    state: State<'_, AppState>,
) -> Result<outpost_setup::secrets::KeychainState, IpcError> {
    Ok(state.secrets.state().await)
}

/// Runs `work` as a long operation that [`cancel`] can stop (at its next `await`); the user
/// then gets a `cancelled` error. Every engine step is idempotent, so stopping is safe.
pub async fn cancellable<T: Send + 'static>(
    state: &AppState,
    work: impl Future<Output = Result<T, IpcError>> + Send + 'static,
) -> Result<T, IpcError> {
    let task = tokio::spawn(work);
    let id = task.id();
    state
        .running
        .lock()
        .map_err(|error| IpcError::internal(error.to_string()))?
        .insert(id, task.abort_handle());
    let result = task.await;
    if let Ok(mut running) = state.running.lock() {
        running.remove(&id);
    }
    match result {
        Ok(result) => result,
        Err(error) if error.is_cancelled() => Err(IpcError::Cancelled),
        Err(error) => Err(IpcError::internal(error.to_string())),
    }
}

/// Stops the long operations in progress (the DNS step runs two at once), if any.
#[tauri::command]
pub async fn cancel(state: State<'_, AppState>) -> Result<(), IpcError> {
    let mut running =
        state.running.lock().map_err(|error| IpcError::internal(error.to_string()))?;
    for (_, task) in running.drain() {
        task.abort();
    }
    Ok(())
}

/// Sends progress events to the window; a closed channel (the window went away) stops nothing.
pub fn forward(channel: Channel<Progress>) -> impl FnMut(Progress) + Send {
    move |event| {
        let _ = channel.send(event);
    }
}

/// The advanced settings, or an error saying what is wrong with the file.
pub fn settings(state: &AppState) -> Result<Settings, IpcError> {
    state.settings.clone().map_err(|detail| IpcError::Internal { detail })
}

/// Reads the server's host key for the user to confirm before anything is sent.
#[tauri::command]
pub async fn first_contact(
    state: State<'_, AppState>,
    address: Address,
) -> Result<HostKey, IpcError> {
    let shown = state.shown_host_keys.clone();
    cancellable(&state, async move { Ok(app::first_contact(&shown, &address).await?) }).await
}

/// Makes a new ed25519 key (kept in the keychain) and returns its `authorized_keys` line.
#[tauri::command]
pub async fn new_ssh_key(state: State<'_, AppState>, address: Address) -> Result<String, IpcError> {
    Ok(app::new_key(&state.secrets, &address).await?)
}

/// Logs in with the confirmed host key and saves the server in the profile.
#[tauri::command]
pub async fn connect(
    state: State<'_, AppState>,
    address: Address,
    fingerprint: String,
    login: LoginForm,
) -> Result<ProfileView, IpcError> {
    let (secrets, shown) = (state.secrets.clone(), state.shown_host_keys.clone());
    let server = cancellable(&state, async move {
        Ok(app::connect(&secrets, &shown, &address, &fingerprint, login).await?)
    })
    .await?;
    update(&state, move |profile| profile.connected(server)).await
}

/// Runs every server check.
#[tauri::command]
pub async fn run_checks(state: State<'_, AppState>) -> Result<Vec<Check>, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    cancellable(&state, async move { Ok(app::run_checks(&profile, &secrets, &settings).await?) })
        .await
}

/// Stops and disables a preinstalled mail server (Postfix, Exim, …), streaming what it does.
#[tauri::command]
pub async fn stop_mail_servers(
    state: State<'_, AppState>,
    on_progress: Channel<Progress>,
) -> Result<Vec<MailServer>, IpcError> {
    let (profile, secrets) = (state.profile().await, state.secrets.clone());
    let mut progress = forward(on_progress);
    cancellable(&state, async move {
        Ok(app::stop_mail_servers(&profile, &secrets, &mut progress).await?)
    })
    .await
}
