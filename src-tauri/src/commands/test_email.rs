//! Step 9: the test email, followed hop by hop in the window.

use outpost_setup::app::{self, TestReport};
use outpost_setup::progress::Progress;
use outpost_setup::test_email::{ImapAccount, TestEmail, TestMessage};
use tauri::State;
use tauri::ipc::Channel;

use crate::commands::profile::update;
use crate::commands::server::{cancellable, forward, settings};
use crate::ipc::IpcError;
use crate::state::AppState;

/// Sends a test email saying `words` (the catalogue's) and follows it; remembers the recipient
/// and mailbox for next time, and that the step is done once a message was delivered.
#[tauri::command]
pub async fn send_test_email(
    state: State<'_, AppState>,
    request: TestEmail,
    words: TestMessage,
    on_progress: Channel<Progress>,
) -> Result<TestReport, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    let mut progress = forward(on_progress);
    let asked = request.clone();
    let report = cancellable(&state, async move {
        Ok(app::send_test_email(&profile, &secrets, &settings, &asked, &words, &mut progress)
            .await?)
    })
    .await?;
    let delivered =
        matches!(report.delivery, outpost_setup::test_email::Delivery::Delivered { .. });
    update(&state, move |profile| {
        profile.test_email = Some(request);
        profile.test_delivered |= delivered;
    })
    .await?;
    Ok(report)
}

/// Keeps a mailbox's IMAP password in the keychain (never in the profile).
#[tauri::command]
pub async fn save_imap_password(
    state: State<'_, AppState>,
    account: ImapAccount,
    password: String,
) -> Result<(), IpcError> {
    Ok(app::save_imap_password(&state.secrets, &account, &password).await?)
}

/// What Gmail's "Send mail as" dialog needs, and whether Gmail's confirmation has been
/// forwarded yet (the screen asks again while the user waits for it).
#[tauri::command]
pub async fn send_mail_as(state: State<'_, AppState>) -> Result<app::SendMailAs, IpcError> {
    let (profile, secrets, settings) =
        (state.profile().await, state.secrets.clone(), settings(&state)?);
    cancellable(&state, async move { Ok(app::send_mail_as(&profile, &secrets, &settings).await?) })
        .await
}
