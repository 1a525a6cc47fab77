//! The Outpost desktop app: a thin Tauri shell over the setup engine ([`outpost_setup`]).
//!
//! Each command in [`commands`] reads state, makes one engine call and converts the result for
//! the UI; errors cross as [`ipc::IpcError`]. Nothing here decides anything the engine could.

mod commands;
mod ipc;
mod state;

use tauri::Manager;

/// Starts the app and blocks until its last window closes.
pub fn run() {
    tauri::Builder::default()
        // Choosing an SSH key file, and opening provider and blocklist pages in the browser.
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .setup(|app| {
            let config_dir = app.path().app_config_dir()?;
            app.manage(state::AppState::load(config_dir));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::about::about,
            commands::profile::load_profile,
            commands::profile::go_to_step,
            commands::providers::providers,
            commands::providers::port25_ticket,
            commands::providers::choose_provider,
            commands::relay::verify_relay,
            commands::server::first_contact,
            commands::server::new_ssh_key,
            commands::server::connect,
            commands::server::run_checks,
            commands::server::stop_mail_servers,
            commands::server::cancel,
            commands::domain::save_domain,
            commands::install::install_relay,
            commands::dns::dns_report,
            commands::dns::blocklists,
        ])
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}
