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
//! Later parts (SSH, server checks, install, DNS, certificates, test mail, the keychain) live
//! here too. This crate knows nothing about Tauri or any UI: the app is a thin shell over it.

pub mod checks;
pub mod dns;
pub mod install;
pub mod profile;
pub mod progress;
pub mod providers;
pub mod relay;
pub mod secrets;
pub mod ssh;
