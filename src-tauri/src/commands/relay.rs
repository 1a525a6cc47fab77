//! The carried relay's integrity check, which streams its progress.

use outpost_setup::progress::Progress;
use outpost_setup::relay::{self, Carried};
use tauri::ipc::Channel;

use crate::ipc::IpcError;

/// Hashes the carried relay again and compares it with the digest recorded at build time,
/// sending progress events over `on_progress` as it goes.
#[tauri::command]
pub async fn verify_relay(on_progress: Channel<Progress>) -> Result<Carried, IpcError> {
    let verified = tauri::async_runtime::spawn_blocking(move || {
        // A closed channel (the window went away) is no reason to stop checking.
        relay::verify(&mut |event| {
            let _ = on_progress.send(event);
        })
    })
    .await
    .map_err(|error| IpcError::internal(error.to_string()))??;
    Ok(verified)
}
