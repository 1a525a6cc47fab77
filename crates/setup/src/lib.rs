//! Outpost's setup engine: everything the wizard does, callable and testable without a window.
//!
//! Brief overview:
//! - [`relay`]: the relay binary the app carries ([`relay::Carried`]), its version and
//!   SHA-256 known without running it, and an integrity check that reports progress;
//! - [`profile`]: the wizard's persisted, non-secret state ([`profile::Profile`],
//!   [`profile::Step`]) in a file the app keeps in the OS's config directory;
//! - [`progress`]: the events long operations report while they run;
//! - [`dns`]: the record plan (SPF merged, never doubled; DKIM split for panels) and live checks
//!   asked of the zone's authoritative servers.
//!
//! - [`choices`]: the server and domain the user chose, checked as typed, and the relay config
//!   they make;
//! - [`ssh`], [`checks`], [`install`]: connecting with a pinned host key, checking the server,
//!   installing the relay (staged, idempotent, rolled back on failure);
//! - [`probe`]: port 587 checked from the user's computer, STARTTLS with the relay's own
//!   certificate;
//! - [`secrets`], [`providers`]: the keychain behind a trait; the VPS provider catalogue.
//!
//! Later parts (certificates, test mail) live here too. This crate knows nothing about Tauri or any UI: the app is a thin shell over it.

pub mod app;
pub mod backup;
pub mod certificate;
pub mod checks;
pub mod choices;
pub mod dkim_rotation;
pub mod dns;
pub mod health;
pub mod install;
pub mod probe;
pub mod profile;
pub mod progress;
pub mod providers;
pub mod relay;
pub mod relay_admin;
pub mod remote;
pub mod secrets;
pub mod settings;
pub mod ssh;
pub mod test_email;
pub mod users;
