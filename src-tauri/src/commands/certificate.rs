//! Step 8: the relay gets its certificate from a CA, followed step by step in the window.

use outpost_relay_api::Status;
use outpost_setup::app::{self, CertificateReport};
use outpost_setup::progress::Progress;
use tauri::State;
use tauri::ipc::Channel;

use crate::commands::profile::update;
use crate::commands::server::{cancellable, forward, settings};
use crate::ipc::IpcError;
use crate::state::AppState;

/// Checks what a CA needs, opens ports 80 and 443, and has the relay get its certificate;
/// remembers the choice so later installs keep it.
#[tauri::command]
pub async fn get_certificate(
    state: State<'_, AppState>,
    on_progress: Channel<Progress>,
) -> Result<CertificateReport, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    let mut progress = forward(on_progress);
    let (report, choice) = cancellable(&state, async move {
        Ok(app::get_certificate(&profile, &secrets, &settings, &mut progress).await?)
    })
    .await?;
    update(&state, move |profile| profile.certificate = Some(choice)).await?;
    Ok(report)
}

/// What the relay on the server reports now: its certificates and their renewal.
#[tauri::command]
pub async fn relay_status(state: State<'_, AppState>) -> Result<Status, IpcError> {
    let (profile, secrets) = (state.profile().await, state.secrets.clone());
    cancellable(&state, async move { Ok(app::relay_status(&profile, &secrets).await?) }).await
}
