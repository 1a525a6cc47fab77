//! The real keychain: on Linux the Secret Service (gnome-keyring here), reached over D-Bus.
//! `./dev test` runs this under `dbus-run-session` with a throw-away, unlocked keyring; without
//! a session bus it fails and says how to run it — it never silently passes.

use outpost_setup::secrets::{Keychain, SecretName, SecretStore};

#[tokio::test(flavor = "multi_thread")]
async fn secrets_round_trip_through_the_os_keychain() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run under `dbus-run-session` with an unlocked gnome-keyring-daemon (./dev test does)"
    );
    // A service name of its own, so a developer's real secrets are never touched.
    let keychain = Keychain::new(format!("org.outpost.desktop.test-{}", std::process::id()));
    let name = SecretName::SmtpPassword { user: "alice@example.com".into() };
    keychain.set(&name, "correct horse battery staple").await.expect("storing a secret");
    assert_eq!(keychain.get(&name).await.unwrap().as_deref(), Some("correct horse battery staple"));
    keychain.set(&name, "a new password").await.unwrap();
    assert_eq!(keychain.get(&name).await.unwrap().as_deref(), Some("a new password"));
    keychain.delete(&name).await.unwrap();
    assert_eq!(keychain.get(&name).await.unwrap(), None);
    keychain.delete(&name).await.expect("deleting what is gone is fine");
}
