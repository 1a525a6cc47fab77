//! Whole-system tests, run in the internet in a box (`tests/inbox`).
//!
//! This binary has its own `main` (no libtest harness): it brings the box up once per vps mode,
//! runs that mode's scenarios one at a time and in order (they share the box's DNS and mail),
//! and always brings the box down again. Run it with `cargo test -p outpost-system-tests`; it
//! needs root and the box's packages (`tests/inbox/inbox deps`). If the box cannot be built, the
//! run fails and says why: it never skips.
//!
//! Scenarios are numbered like chasquid's `t-NN` and each file says what it proves.

mod capture;
mod certificate;
mod dashboard;
mod dns;
mod receiving;
mod relay;
mod selftest;
mod ssh;
mod test_email;

use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Trial};
use outpost_system_tests::inbox::{Inbox, VpsMode};

/// A scenario: a name and a body that gets the box.
pub type Scenario = (&'static str, fn(&Inbox) -> anyhow::Result<()>);

fn main() -> ExitCode {
    let mut arguments = Arguments::from_args();
    // One box, shared DNS and mailboxes: scenarios run one at a time.
    arguments.test_threads = Some(1);

    let systemd: Vec<Scenario> = selftest::SYSTEMD
        .iter()
        .chain(relay::SYSTEMD)
        .chain(certificate::SYSTEMD)
        .chain(test_email::SYSTEMD)
        .chain(receiving::SYSTEMD)
        .chain(dashboard::SYSTEMD)
        .copied()
        .collect();
    let plain: Vec<Scenario> =
        selftest::PLAIN.iter().chain(dns::PLAIN).chain(ssh::PLAIN).copied().collect();
    let phases: [(VpsMode, &[Scenario]); 2] =
        [(VpsMode::Plain, &plain), (VpsMode::Systemd, &systemd)];
    if arguments.list {
        for (_, scenarios) in phases {
            libtest_mimic::run(&arguments, trials(scenarios, None)).exit_if_failed();
        }
        return ExitCode::SUCCESS;
    }
    // Start from nothing: no keys, mail or records left by an earlier run.
    if let Err(error) = Inbox::purge() {
        eprintln!("system tests: clearing an earlier box failed:\n{error:#}");
        return ExitCode::FAILURE;
    }
    // Watch the machine's real uplink for the whole run: nothing of the box may pass it.
    let capture = capture::Capture::start();
    let mut failed = false;
    for (mode, scenarios) in phases {
        let selected = scenarios.iter().any(|(name, _)| match &arguments.filter {
            Some(filter) if arguments.exact => name == filter,
            Some(filter) => name.contains(filter.as_str()),
            None => true,
        });
        if !selected {
            continue;
        }
        eprintln!("system tests: bringing the box up with a {mode:?} vps");
        let inbox = match Inbox::up(mode) {
            Ok(inbox) => Arc::new(inbox),
            Err(error) => {
                eprintln!(
                    "system tests: the box could not be built, so nothing was tested:\n{error:#}"
                );
                let _ = Inbox::down();
                return ExitCode::FAILURE;
            }
        };
        let conclusion = libtest_mimic::run(&arguments, trials(scenarios, Some(inbox)));
        if let Err(error) = Inbox::down() {
            eprintln!("system tests: bringing the box down failed: {error:#}");
            failed = true;
        }
        failed |= conclusion.has_failed();
    }
    let leak_check = Trial::test("t99_no_packet_of_the_box_crossed_the_uplink", move || {
        capture.and_then(capture::Capture::finish).map_err(|error| format!("{error:#}").into())
    });
    failed |= libtest_mimic::run(&arguments, vec![leak_check]).has_failed();
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn trials(scenarios: &[Scenario], inbox: Option<Arc<Inbox>>) -> Vec<Trial> {
    scenarios
        .iter()
        .map(|&(name, body)| {
            let inbox = inbox.clone();
            Trial::test(name, move || {
                let inbox = inbox.ok_or("the box is not up")?;
                body(&inbox).map_err(|error| format!("{error:#}").into())
            })
        })
        .collect()
}
