//! What the app keeps while it runs: the profile (loaded once, saved on every change), the
//! advanced settings, the keychain, and the long operation in progress (so it can be stopped).

use std::collections::HashMap;
use std::path::PathBuf;

use outpost_setup::profile::{self, Profile};
use outpost_setup::secrets::Keychain;
use outpost_setup::settings::Settings;
use tokio::sync::Mutex;

/// The keychain service name: the app's identifier.
pub const KEYCHAIN_SERVICE: &str = "org.outpost.desktop";

/// The app's state, managed by Tauri and handed to commands.
pub struct AppState {
    /// Where the profile is saved.
    pub store: profile::Store,
    /// The profile as last saved (or as loaded, if saving failed at startup).
    ///
    /// A tokio mutex because it is held across the `await` of the save: two quick clicks must
    /// write in the order they were made.
    pub profile: Mutex<Profile>,
    /// Set when the profile file could not be read at startup: where it was moved, or why.
    pub startup_notice: Option<StartupNotice>,
    /// Advanced settings (`settings.toml` beside the profile), or why they could not be read.
    pub settings: Result<Settings, String>,
    /// The OS keychain, where every secret lives.
    pub secrets: Keychain,
    /// The host keys first contact showed this run: the only ones `connect` trusts.
    pub shown_host_keys: std::sync::Arc<outpost_setup::app::ShownHostKeys>,
    /// The long operations in progress, which `cancel` stops.
    pub running: std::sync::Mutex<HashMap<tokio::task::Id, tokio::task::AbortHandle>>,
}

/// Something the user should hear about the profile at startup.
#[derive(Debug, Clone)]
pub enum StartupNotice {
    /// The file was damaged and moved aside.
    SetAside(PathBuf),
    /// The file could not be read at all; the wizard starts over and may be unable to save.
    Unreadable(String),
}

impl AppState {
    /// A copy of the profile as last saved, for an operation to work from.
    pub async fn profile(&self) -> Profile {
        self.profile.lock().await.clone()
    }

    /// Loads the profile and settings from the app's config directory.
    pub fn load(config_dir: PathBuf) -> Self {
        let settings = Settings::load(&config_dir);
        let store = profile::Store::new(config_dir);
        let (profile, startup_notice) = match store.load() {
            Ok(loaded) => (loaded.profile, loaded.set_aside.map(StartupNotice::SetAside)),
            Err(error) => (Profile::default(), Some(StartupNotice::Unreadable(error.to_string()))),
        };
        AppState {
            store,
            profile: Mutex::new(profile),
            startup_notice,
            settings,
            secrets: Keychain::new(KEYCHAIN_SERVICE),
            shown_host_keys: std::sync::Arc::default(),
            running: std::sync::Mutex::new(HashMap::new()),
        }
    }
}
