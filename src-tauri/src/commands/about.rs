//! The About panel's data.

use outpost_setup::relay::{self, Carried};
use serde::Serialize;

use crate::ipc::IpcError;

/// What the About panel shows.
#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct About {
    /// The app's version.
    pub app_version: String,
    /// The relay the app installs on servers.
    pub relay: Carried,
}

/// The app's and the carried relay's versions.
#[tauri::command]
pub async fn about(app: tauri::AppHandle) -> Result<About, IpcError> {
    Ok(About { app_version: app.package_info().version.to_string(), relay: relay::carried() })
}
