//! Step 2: the provider catalogue, the choice, and the port-25 ticket.

use outpost_setup::providers::{self, Provider};
use tauri::State;

use crate::commands::profile::ProfileView;
use crate::ipc::IpcError;
use crate::state::AppState;

/// Every provider in the catalogue.
#[tauri::command]
pub async fn providers() -> Result<Vec<Provider>, IpcError> {
    Ok(providers::catalogue())
}

/// The support ticket asking `provider` to open port 25. Before the server and domain are known
/// it uses placeholders the user replaces.
#[tauri::command]
pub async fn port25_ticket(provider: String) -> Result<String, IpcError> {
    providers::placeholder_ticket(&provider)
        .ok_or_else(|| IpcError::internal(format!("there is no provider {provider}")))
}

/// Remembers the chosen provider (`None`: "I already have a server").
#[tauri::command]
pub async fn choose_provider(
    state: State<'_, AppState>,
    provider: Option<String>,
) -> Result<ProfileView, IpcError> {
    crate::commands::profile::update(&state, |profile| profile.provider = provider).await
}
