//! Updates of the app itself, with Tauri's updater plugin: the feed named in `tauri.conf.json`
//! (or the advanced settings' `update-feed`, with its `update-public-key`, for an organisation's
//! own feed) is asked for a newer version; a package is installed only once its minisign
//! signature verifies against the public key (the plugin's `download` checks it, and `install`
//! again), and the version it was signed for is the one the feed announced.

use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_updater::{Update, UpdaterExt};
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;

use crate::ipc::{IpcError, UpdateProblem};
use crate::state::AppState;

/// The update last offered, kept for `install_update`.
#[derive(Default)]
pub struct Offered(Mutex<Option<Update>>);

/// A newer Outpost, as the feed describes it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOffer {
    /// The version offered.
    pub version: String,
    /// The version running now.
    pub current_version: String,
    /// What's new, as the release wrote it (plain text).
    pub notes: Option<String>,
    /// When it was released (RFC 3339), if the feed says.
    pub date: Option<String>,
}

/// How an install is going.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum UpdateProgress {
    /// Bytes downloaded so far, of `total` when the server said.
    Downloading { received: u64, total: Option<u64> },
    /// The signature verified; the package is being installed.
    Installing,
}

/// Asks the feed whether a newer Outpost exists.
#[tauri::command]
pub async fn check_update(
    app: AppHandle,
    state: State<'_, AppState>,
    offered: State<'_, Offered>,
) -> Result<Option<UpdateOffer>, IpcError> {
    let settings = state.settings.clone().map_err(|detail| IpcError::Settings { detail })?;
    let mut builder = app.updater_builder();
    if let Some(feed) = &settings.update_feed {
        let url = feed.parse().map_err(|error| IpcError::Settings {
            detail: format!("update-feed {feed:?} is not a URL: {error}"),
        })?;
        builder = builder.endpoints(vec![url]).map_err(update_error)?;
    }
    if let Some(key) = &settings.update_public_key {
        builder = builder.pubkey(key.clone());
    }
    let update = builder.build().map_err(update_error)?.check().await.map_err(update_error)?;
    let offer = update.as_ref().map(|update| UpdateOffer {
        version: update.version.clone(),
        current_version: update.current_version.clone(),
        notes: update.body.clone(),
        date: update.date.and_then(|date| date.format(&Rfc3339).ok()),
    });
    *offered.0.lock().await = update;
    Ok(offer)
}

/// Downloads the offered update, verifies its signature and installs it (the system asks for an
/// administrator's permission); the new version runs after a restart.
#[tauri::command]
pub async fn install_update(
    offered: State<'_, Offered>,
    on_progress: Channel<UpdateProgress>,
) -> Result<String, IpcError> {
    let update = offered
        .0
        .lock()
        .await
        .clone()
        .ok_or_else(|| IpcError::internal("no update was offered"))?;
    let mut received = 0u64;
    let bytes = update
        .download(
            |chunk, total| {
                received += chunk as u64;
                let _ = on_progress.send(UpdateProgress::Downloading { received, total });
            },
            || {},
        )
        .await
        .map_err(update_error)?;
    let _ = on_progress.send(UpdateProgress::Installing);
    let version = update.version.clone();
    tokio::task::spawn_blocking(move || update.install(bytes))
        .await
        .map_err(|error| IpcError::internal(error.to_string()))?
        .map_err(update_error)?;
    Ok(version)
}

/// Starts the app again (after an update was installed).
#[tauri::command]
pub fn restart_app(app: AppHandle) {
    app.restart();
}

/// The plugin's error, classified for the UI.
fn update_error(error: tauri_plugin_updater::Error) -> IpcError {
    use tauri_plugin_updater::Error as E;
    let problem = match &error {
        E::Minisign(_)
        | E::SignedVersionMismatch { .. }
        | E::MissingSignedVersion
        | E::SignatureUtf8(_) => UpdateProblem::Signature,
        E::Reqwest(_) | E::Network(_) | E::ReleaseNotFound | E::InsecureTransportProtocol => {
            UpdateProblem::Download
        }
        E::PackageInstallFailed | E::InvalidUpdaterFormat | E::Io(_) => UpdateProblem::Install,
        _ => UpdateProblem::Other,
    };
    IpcError::Update { problem, detail: error.to_string() }
}
