//! Step 5: the domain and what to do with it.

use outpost_setup::choices::{Domain, Forwarding};
use outpost_setup::dns::records::DmarcPolicy;
use serde::Deserialize;
use tauri::State;

use crate::commands::profile::{ProfileView, update};
use crate::ipc::IpcError;
use crate::state::AppState;

/// The "Your domain" form, as typed.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DomainForm {
    domain: String,
    mail_host: String,
    sender: String,
    forward_to: String,
    forwarding: Forwarding,
    ipv6: bool,
    dmarc: DmarcPolicy,
}

/// Checks the form and saves it; a field to correct comes back as `invalidInput` with its name.
#[tauri::command]
pub async fn save_domain(
    state: State<'_, AppState>,
    form: DomainForm,
) -> Result<ProfileView, IpcError> {
    let domain = Domain::new(
        &form.domain,
        &form.mail_host,
        &form.sender,
        &form.forward_to,
        form.ipv6,
        form.dmarc,
    )?
    .with_forwarding(form.forwarding)?;
    update(&state, move |profile| profile.choose_domain(domain)).await
}
