//! `outpost-relay`: the small SMTP relay that the Outpost app installs on a user's server.
//!
//! Brief overview, in the order mail flows (modelled on chasquid):
//! - [`server::Relay`] loads and checks everything, then listens on 587/465;
//! - [`session`] runs one SMTP conversation (STARTTLS, AUTH, envelope, [`data`]);
//! - [`queue::Queue`] keeps accepted mail on disk until delivered, retried or bounced;
//! - [`courier::smtp::SmtpCourier`] delivers to recipients' mail servers (MX, STARTTLS, MTA-STS);
//! - [`acme`] gets and renews the certificate, answering challenges on [`web`]'s listeners,
//!   which also serve the MTA-STS policy and mail-client autoconfig;
//! - [`cli`] is the admin command line the app runs over SSH; it reaches the running relay
//!   through [`control`]'s socket.
//!
//! This crate never depends on the setup engine; both share only [`outpost_relay_config`], the
//! definition of the config file.

pub mod acme;
pub mod cli;
pub mod clock;
pub mod connection;
pub mod control;
pub mod courier;
pub mod data;
pub mod dkim;
pub mod envelope;
pub mod inbound;
pub mod limits;
pub mod queue;
pub mod server;
pub mod session;
pub mod tls;
pub mod users;
pub mod watched;
pub mod web;

/// The relay's version, as Cargo knows it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A marker the desktop app's build reads out of this binary's bytes, so that the app knows
/// which relay it carries without running it. The format is `<prefix><version>;`.
///
/// It is used at run time (see [`version`]) so that the linker keeps it.
pub const VERSION_STAMP: &str = concat!("outpost-relay-version:", env!("CARGO_PKG_VERSION"), ";");

/// The version read from the stamp at run time, which keeps the stamp in the binary.
pub fn version() -> &'static str {
    let stamp: &'static str = std::hint::black_box(VERSION_STAMP);
    stamp
        .split_once(':')
        .and_then(|(_, rest)| rest.strip_suffix(';'))
        .expect("VERSION_STAMP is `<prefix>:<version>;`")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stamp_carries_the_version() {
        assert_eq!(super::version(), super::VERSION);
    }
}
