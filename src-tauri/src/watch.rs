//! The background health check while the app runs — in its window, or, started at login with
//! `--tray`, quietly in the tray: every 15 minutes (`health-interval-seconds` in the advanced
//! settings), one engine call ([`app::watch`]), and an event to the window with the health and
//! what got worse. The window words it and shows the desktop notification (the catalogue owns
//! every sentence); nothing is sent when all is well or nothing got worse.

use outpost_setup::app;
use outpost_setup::health::{Health, Item};
use serde::{Deserialize, Serialize};
use tauri::menu::MenuItem;
use tauri::{AppHandle, Emitter, Manager, Wry};

use crate::ipc::IpcError;
use crate::state::AppState;

/// The event's name.
pub const EVENT: &str = "health-watch";

/// What one background check found.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Watched {
    /// The server answered: its health, and what got worse since the last check.
    Checked { health: Box<Health>, worse: Vec<Item> },
    /// The server could not be asked (the first time it happens after it could).
    Failed { error: IpcError },
}

/// Starts the checks; the first one runs at once.
pub fn start(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut before: Option<Vec<Item>> = None;
        let mut failing = false;
        loop {
            let state = app.state::<AppState>();
            let profile = state.profile().await;
            let interval = match &state.settings {
                Ok(settings) => {
                    let found =
                        app::watch(&profile, &state.secrets, settings, before.as_deref()).await;
                    match found {
                        Ok(Some((health, worse))) => {
                            failing = false;
                            before = Some(health.items.clone());
                            let _ = app
                                .emit(EVENT, Watched::Checked { health: Box::new(health), worse });
                        }
                        Ok(None) => {}
                        Err(error) if !failing => {
                            failing = true;
                            let _ = app.emit(EVENT, Watched::Failed { error: error.into() });
                        }
                        Err(_) => {}
                    }
                    settings.health_interval()
                }
                // The window already says the settings are unreadable.
                Err(_) => outpost_setup::settings::Settings::default().health_interval(),
            };
            tokio::time::sleep(interval).await;
        }
    });
}

/// Started at login (`--tray`): the window hidden behind a tray icon ("Open Outpost" shows it). A
/// desktop without a tray (or without its library) gets the window instead: never an app that
/// runs with no way to reach it.
pub fn start_quietly(app: &tauri::App) {
    if !std::env::args().any(|argument| argument == TRAY_ARGUMENT) {
        return;
    }
    // The tray library is loaded when the icon is made, and a missing one panics inside it.
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tray(app)));
    let hidden = match made {
        Ok(Ok(())) => match app.get_webview_window("main") {
            Some(window) => window.hide().map_err(|error| error.to_string()),
            None => Ok(()),
        },
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("the tray library (libayatana-appindicator3) is missing".to_string()),
    };
    if let Err(error) = hidden {
        eprintln!("outpost: no tray icon ({error}); showing the window");
    }
}

/// The tray menu's items, kept so the window can word them in the user's language
/// (`word_tray`); until it does they read in English.
pub struct TrayMenu {
    open: MenuItem<Wry>,
    quit: MenuItem<Wry>,
}

/// The tray menu's words, from the UI's catalogue.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct TrayWords {
    /// The item that shows the window.
    pub open: String,
    /// The item that ends the app.
    pub quit: String,
}

impl TrayMenu {
    /// Words the items.
    pub fn word(&self, words: &TrayWords) -> tauri::Result<()> {
        self.open.set_text(&words.open)?;
        self.quit.set_text(&words.quit)
    }
}

fn tray(app: &tauri::App) -> tauri::Result<()> {
    use tauri::menu::Menu;
    use tauri::tray::TrayIconBuilder;
    let open = MenuItem::with_id(app, "open", "Open Outpost", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &quit])?;
    let mut tray = TrayIconBuilder::new().menu(&menu).tooltip("Outpost").on_menu_event(
        |app, event| match event.id.as_ref() {
            "open" => {
                if let Some(window) = app.get_webview_window("main") {
                    let _ = window.show();
                    let _ = window.set_focus();
                }
            }
            "quit" => app.exit(0),
            _ => {}
        },
    );
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    app.manage(TrayMenu { open, quit });
    Ok(())
}

/// The argument the login item starts the app with.
pub const TRAY_ARGUMENT: &str = "--tray";
