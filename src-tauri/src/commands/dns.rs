//! Step 7: the records to publish, checked live, and the blocklists.

use outpost_setup::dns::blocklists::{self, Entry};
use outpost_setup::dns::report::{self, Report};
use tauri::State;

use crate::commands::server::{cancellable, open, saved_login, settings};
use crate::ipc::{ErrorCode, IpcError};
use crate::state::AppState;

fn not_installed() -> IpcError {
    IpcError::new(
        ErrorCode::NotConnected,
        "The relay is not installed yet, so Outpost does not know your server's addresses and DKIM key.",
        "Go back to the Install step and install the relay first.",
    )
}

/// Every record: planned from what the domain has, asked of its own DNS servers and of public
/// resolvers, with SPF evaluated and a one-sentence verdict.
#[tauri::command]
pub async fn dns_report(state: State<'_, AppState>) -> Result<Report, IpcError> {
    let (domain, installed) = {
        let profile = state.profile.lock().await;
        (profile.domain.clone(), profile.installed.clone())
    };
    let (Some(domain), Some(installed)) = (domain, installed) else { return Err(not_installed()) };
    let input = domain.dns_input(&installed);
    let advanced = settings(&state)?;
    let settings = report::Settings {
        finders: advanced.dns_finders.clone(),
        public_resolvers: advanced.public_resolvers.clone(),
    };
    cancellable(&state, async move {
        report::report(&input, &settings).await.map_err(|error| {
            IpcError::new(
                ErrorCode::Dns,
                format!("Outpost could not look up {}: {error}.", input.domain),
                "Check the domain's spelling in “Your domain”. A domain bought minutes ago can take up to an hour before its name servers answer.",
            )
        })
    })
    .await
}

/// The server's addresses and the domain on the common blocklists, asked through the server's
/// own resolver.
#[tauri::command]
pub async fn blocklists(state: State<'_, AppState>) -> Result<Vec<Entry>, IpcError> {
    let (server, credentials) = saved_login(&state).await?;
    let (domain, installed) = {
        let profile = state.profile.lock().await;
        (profile.domain.clone(), profile.installed.clone())
    };
    let (Some(domain), Some(installed)) = (domain, installed) else { return Err(not_installed()) };
    let addresses: Vec<std::net::IpAddr> =
        installed.addresses.iter().filter_map(|address| address.parse().ok()).collect();
    cancellable(&state, async move {
        let session = open(&server, &credentials).await?;
        let result = blocklists::check(&session, &addresses, &domain.domain).await;
        session.close().await;
        result.map_err(|error| match error {
            blocklists::Error::Ssh(error) => error.into(),
            blocklists::Error::Lookup(detail) => IpcError::new(
                ErrorCode::Dns,
                format!("The blocklist lookups on your server failed: {detail}."),
                "Press Install again to repair the relay, then check again.",
            ),
        })
    })
    .await
}
