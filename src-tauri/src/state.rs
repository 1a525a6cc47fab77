//! What the app keeps while it runs: the profile, loaded once and saved on every change.

use std::path::PathBuf;

use outpost_setup::profile::{self, Profile};
use tokio::sync::Mutex;

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
    /// Loads the profile from the app's config directory.
    pub fn load(config_dir: PathBuf) -> Self {
        let store = profile::Store::new(config_dir);
        let (profile, startup_notice) = match store.load() {
            Ok(loaded) => (loaded.profile, loaded.set_aside.map(StartupNotice::SetAside)),
            Err(error) => (Profile::default(), Some(StartupNotice::Unreadable(error.to_string()))),
        };
        AppState { store, profile: Mutex::new(profile), startup_notice }
    }
}
