//! Step 6: installing the relay, with its log streamed to the window, then checking port 587
//! from this computer.

use outpost_setup::checks;
use outpost_setup::install::{self, RelayStatus, Step};
use outpost_setup::probe::{self, Submission};
use outpost_setup::profile::Installed;
use outpost_setup::progress::Progress;
use serde::Serialize;
use tauri::State;
use tauri::ipc::Channel;

use crate::commands::profile::update;
use crate::commands::server::{cancellable, open, saved_login};
use crate::ipc::{ErrorCode, IpcError};
use crate::state::AppState;

/// What the install did and what is now on the server.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Every step, changed or not.
    pub steps: Vec<Step>,
    /// The running relay's status.
    pub status: RelayStatus,
    /// What a mail client sees on port 587, checked from this computer.
    pub submission: Submission,
    /// The SMTP user (its password is in the keychain).
    pub smtp_user: String,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// Installs (or repairs, or upgrades) the relay on the saved server for the saved domain.
#[tauri::command]
pub async fn install_relay(
    state: State<'_, AppState>,
    on_progress: Channel<Progress>,
) -> Result<Report, IpcError> {
    let (server, credentials) = saved_login(&state).await?;
    let domain = state.profile.lock().await.domain.clone().ok_or_else(|| {
        IpcError::new(
            ErrorCode::InstallFailed,
            "Outpost does not know your domain yet.",
            "Go back to the “Your domain” step and fill it in.",
        )
    })?;
    let input = domain.relay_input();
    let secrets = state.secrets.clone();
    let started = std::time::Instant::now();
    let (report, installed) = cancellable(&state, async move {
        let session = open(&server, &credentials).await?;
        let result = async {
            let steps = install::install(&session, &input, &secrets, &mut |event| {
                let _ = on_progress.send(event);
            })
            .await?;
            let _ = on_progress.send(Progress::Stage { id: "verify".into() });
            let status = install::status(&session).await?;
            let dkim = install::dkim_records(&session).await?;
            let addresses = checks::public_addresses(&session).await?;
            Ok::<_, IpcError>((steps, status, dkim, addresses))
        }
        .await;
        session.close().await;
        let (steps, status, dkim, addresses) = result?;
        let certificate = status.certificates.first().ok_or_else(|| {
            IpcError::new(
                ErrorCode::InstallFailed,
                "The relay runs but reports no certificate.",
                "Press Install again; if it persists, please report it.",
            )
        })?;
        let submission = probe::submission(&server.host, 587, &certificate.sha256).await?;
        let installed = Installed {
            relay_version: status.version.clone(),
            addresses: addresses.iter().map(ToString::to_string).collect(),
            dkim,
            smtp_user: input.smtp_user.clone(),
        };
        let report = Report {
            steps,
            status,
            submission,
            smtp_user: input.smtp_user,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        Ok((report, installed))
    })
    .await?;
    update(&state, move |profile| profile.installed = Some(installed)).await?;
    Ok(report)
}
