//! The commands the UI can call, one module per concern. Each reads state, makes one engine
//! call, and converts the result for the UI.

pub mod about;
pub mod certificate;
pub mod dashboard;
pub mod dns;
pub mod domain;
pub mod install;
pub mod profile;
pub mod providers;
pub mod relay;
pub mod server;
pub mod test_email;
pub mod tray;
pub mod update;
