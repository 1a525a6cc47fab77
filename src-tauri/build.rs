//! Generates Tauri's context and the permissions for the app's own commands.

fn main() {
    // Listing the commands makes each one a permission that a capability must grant
    // (capabilities/main.json), instead of every command being callable by default.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "about",
        "load_profile",
        "go_to_step",
        "set_language",
        "word_tray",
        "check_update",
        "install_update",
        "restart_app",
        "verify_relay",
        "providers",
        "port25_ticket",
        "choose_provider",
        "keychain_state",
        "first_contact",
        "new_ssh_key",
        "connect",
        "run_checks",
        "stop_mail_servers",
        "cancel",
        "save_domain",
        "install_relay",
        "smtp_password",
        "get_certificate",
        "relay_status",
        "send_test_email",
        "send_mail_as",
        "save_imap_password",
        "dns_report",
        "blocklists",
        "health",
        "queue_retry",
        "queue_delete",
        "smtp_users",
        "change_smtp_user",
        "uninstall_plan",
        "uninstall",
        "dkim_rotation_start",
        "dkim_rotation_switch",
        "dkim_rotation_finish",
        "add_domain",
        "remove_domain",
        "extra_dns_report",
        "save_backup",
        "restore_backup",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build failed to generate the app context");
}
