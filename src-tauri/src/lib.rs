//! The Outpost desktop app: a thin Tauri shell over the setup engine ([`outpost_setup`]).
//!
//! Each command in [`commands`] reads state, makes one engine call and converts the result for
//! the UI; errors cross as [`ipc::IpcError`]. Nothing here decides anything the engine could.

mod commands;
mod ipc;
mod state;
mod watch;

use tauri::Manager;

/// Starts the app and blocks until its last window closes.
pub fn run() {
    tauri::Builder::default()
        // Choosing an SSH key file, and opening provider and blocklist pages in the browser.
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        // Desktop notifications when the server's health gets worse, and the opt-in login item
        // that starts the app quietly in the tray.
        .plugin(tauri_plugin_notification::init())
        // Updates of the app itself: signed packages from a feed (commands::update).
        .plugin(tauri_plugin_updater::Builder::new().build())
        .manage(commands::update::Offered::default())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![watch::TRAY_ARGUMENT]),
        ))
        .setup(|app| {
            let config_dir = app.path().app_config_dir()?;
            app.manage(state::AppState::load(config_dir));
            watch::start_quietly(app);
            watch::start(app.handle().clone());
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::about::about,
            commands::profile::load_profile,
            commands::profile::go_to_step,
            commands::profile::set_language,
            commands::tray::word_tray,
            commands::update::check_update,
            commands::update::install_update,
            commands::update::restart_app,
            commands::providers::providers,
            commands::providers::port25_ticket,
            commands::providers::choose_provider,
            commands::relay::verify_relay,
            commands::server::keychain_state,
            commands::server::first_contact,
            commands::server::new_ssh_key,
            commands::server::connect,
            commands::server::run_checks,
            commands::server::stop_mail_servers,
            commands::server::cancel,
            commands::domain::save_domain,
            commands::install::install_relay,
            commands::install::smtp_password,
            commands::dns::dns_report,
            commands::dns::blocklists,
            commands::certificate::get_certificate,
            commands::certificate::relay_status,
            commands::test_email::send_test_email,
            commands::test_email::save_imap_password,
            commands::test_email::send_mail_as,
            commands::dashboard::health,
            commands::dashboard::queue_retry,
            commands::dashboard::queue_delete,
            commands::dashboard::smtp_users,
            commands::dashboard::change_smtp_user,
            commands::dashboard::uninstall_plan,
            commands::dashboard::uninstall,
            commands::dashboard::dkim_rotation_start,
            commands::dashboard::dkim_rotation_switch,
            commands::dashboard::dkim_rotation_finish,
            commands::dashboard::add_domain,
            commands::dashboard::remove_domain,
            commands::dashboard::extra_dns_report,
            commands::dashboard::save_backup,
            commands::dashboard::restore_backup,
        ])
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}

#[cfg(test)]
mod tests {
    /// The names of the commands between `marker` and the next `]` in `text`.
    fn names(text: &str, marker: &str, strip: &str) -> Vec<String> {
        let start = text.find(marker).expect("marker") + marker.len();
        let end = start + text[start..].find(']').expect("list end");
        let mut names: Vec<String> = text[start..end]
            .split(',')
            .map(|item| item.trim().trim_matches('"').trim_start_matches(strip))
            .map(|item| item.rsplit("::").next().unwrap_or(item).replace('-', "_"))
            .filter(|item| !item.is_empty() && !item.contains(':'))
            .collect();
        names.sort();
        names
    }

    /// A command is named in the handler, the build script's permission list, the window's
    /// capability and the UI's calls: the four must agree, or a command is uncallable (or
    /// callable without being granted).
    #[test]
    fn every_command_is_registered_permitted_granted_and_called() {
        let handler = names(include_str!("lib.rs"), "generate_handler![", "");
        let permissions = names(include_str!("../build.rs"), ".commands(&[", "");
        let capability: serde_json::Value =
            serde_json::from_str(include_str!("../capabilities/main.json")).expect("JSON");
        let mut granted: Vec<String> = capability["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .filter_map(|permission| permission.as_str()?.strip_prefix("allow-"))
            .map(|name| name.replace('-', "_"))
            .collect();
        granted.sort();
        let ui = include_str!("../../ui/src/lib/ipc.ts");
        let mut called: Vec<String> = ui
            .split("call('")
            .skip(1)
            .filter_map(|rest| rest.split('\'').next())
            .map(str::to_string)
            .collect();
        called.sort();
        called.dedup();
        assert_eq!(handler, permissions, "build.rs lists other commands than generate_handler!");
        assert_eq!(handler, granted, "capabilities/main.json grants other commands");
        assert_eq!(handler, called, "ui/src/lib/ipc.ts calls other commands");
    }
}
