//! Reading the saved progress and moving between steps.

use outpost_setup::choices::{Domain, Server};
use outpost_setup::profile::{Installed, Language, Profile, Step};
use serde::Serialize;
use tauri::State;

use crate::ipc::IpcError;
use crate::state::{AppState, StartupNotice};

/// The profile as the UI sees it.
#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    /// The step on screen.
    pub step: Step,
    /// The furthest step reached.
    pub reached: Step,
    /// Where a damaged profile was moved at startup, if it was.
    pub set_aside: Option<String>,
    /// Why the profile could not be read at startup, if it could not.
    pub unreadable: Option<String>,
    /// The chosen VPS provider's id, if any.
    pub provider: Option<String>,
    /// The connected server.
    pub server: Option<Server>,
    /// The domain choices.
    pub domain: Option<Domain>,
    /// What the last install left on the server.
    pub installed: Option<Installed>,
    /// The relay gets its certificate from a CA (step 8 done).
    pub certificate: Option<outpost_setup::certificate::CertificateChoice>,
    /// The last test email's recipient and mailbox.
    pub test_email: Option<outpost_setup::test_email::TestEmail>,
    /// Whether a test email was delivered (step 9 done).
    pub test_delivered: bool,
    /// A DKIM key rotation under way.
    pub dkim_rotation: Option<outpost_setup::dkim_rotation::DkimRotation>,
    /// Further domains on the same relay.
    pub extra_domains: Vec<outpost_setup::choices::ExtraDomain>,
    /// The language the user picked; none: the system's.
    pub language: Option<Language>,
    /// The system's language, as far as the app speaks it (English otherwise).
    pub system_language: Language,
}

impl ProfileView {
    fn new(profile: &Profile, state: &AppState) -> Self {
        let (set_aside, unreadable) = match &state.startup_notice {
            Some(StartupNotice::SetAside(path)) => (Some(path.display().to_string()), None),
            Some(StartupNotice::Unreadable(reason)) => (None, Some(reason.clone())),
            None => (None, None),
        };
        ProfileView {
            step: profile.step,
            reached: profile.reached,
            set_aside,
            unreadable,
            provider: profile.provider.clone(),
            server: profile.server.clone(),
            domain: profile.domain.clone(),
            installed: profile.installed.clone(),
            certificate: profile.certificate.clone(),
            test_email: profile.test_email.clone(),
            test_delivered: profile.test_delivered,
            dkim_rotation: profile.dkim_rotation.clone(),
            extra_domains: profile.extra_domains.clone(),
            language: profile.language,
            system_language: Language::preferred(
                sys_locale::get_locales().collect::<Vec<_>>().iter().map(String::as_str),
            ),
        }
    }
}

/// The saved progress.
#[tauri::command]
pub async fn load_profile(state: State<'_, AppState>) -> Result<ProfileView, IpcError> {
    let profile = state.profile.lock().await;
    Ok(ProfileView::new(&profile, &state))
}

/// Remembers the language the user picked.
#[tauri::command]
pub async fn set_language(
    state: State<'_, AppState>,
    language: Language,
) -> Result<ProfileView, IpcError> {
    update(&state, |profile| profile.language = Some(language)).await
}

/// Moves to `step` and saves; the saved profile is what the UI shows next.
#[tauri::command]
pub async fn go_to_step(state: State<'_, AppState>, step: Step) -> Result<ProfileView, IpcError> {
    update(&state, |profile| profile.go_to(step)).await
}

/// Changes the profile, saves it, and returns what the UI should show. The change is applied
/// only once it is on disk.
pub async fn update(
    state: &AppState,
    change: impl FnOnce(&mut Profile),
) -> Result<ProfileView, IpcError> {
    let mut profile = state.profile.lock().await;
    let mut changed = profile.clone();
    change(&mut changed);
    let store = state.store.clone();
    let to_save = changed.clone();
    tauri::async_runtime::spawn_blocking(move || store.save(&to_save))
        .await
        .map_err(|error| IpcError::internal(error.to_string()))??;
    *profile = changed;
    Ok(ProfileView::new(&profile, state))
}
