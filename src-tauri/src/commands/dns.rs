//! Step 7: the records to publish, checked live, and the blocklists.

use outpost_setup::app;
use outpost_setup::dns::blocklists::Entry;
use outpost_setup::dns::report::Report;
use tauri::State;

use crate::commands::server::{cancellable, settings};
use crate::ipc::IpcError;
use crate::state::AppState;

/// Every record: planned from what the domain has, asked of its own DNS servers and of public
/// resolvers, with SPF evaluated and a verdict.
#[tauri::command]
pub async fn dns_report(state: State<'_, AppState>) -> Result<Report, IpcError> {
    let (profile, settings) = (state.profile().await, settings(&state)?);
    cancellable(&state, async move { Ok(app::dns_report(&profile, &settings).await?) }).await
}

/// The server's addresses and the domain on the common blocklists, asked through the server's
/// own resolver.
#[tauri::command]
pub async fn blocklists(state: State<'_, AppState>) -> Result<Vec<Entry>, IpcError> {
    let (profile, secrets) = (state.profile().await, state.secrets.clone());
    cancellable(&state, async move { Ok(app::blocklists(&profile, &secrets).await?) }).await
}
