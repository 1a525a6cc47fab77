//! The relay's integration tests: one binary (ripgrep's habit), one module per concern.
// Test helpers may panic: a panic is a failed test with a backtrace (clippy.toml allows it in
// test functions; this extends it to the helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Certificates from a real ACME CA (pebble): both challenges, renewal under load, failures.
mod acme;
// The admin command line, run as a process.
mod cli;
// The SMTP courier's choice of servers, against a real DNS server.
mod courier;
// The conformance list (`relay-conformance.md`), one test per item, as raw SMTP dialogs.
mod conformance;
// Real delivery: lettre submits, the relay signs and delivers to a real receiving server found
// through a real DNS server, and dkimpy verifies the signature.
mod delivery;
// Shared helpers: a relay on loopback, raw SMTP dialogs.
mod support;
// A crash right after `250`: the message survives `kill -9` and is delivered exactly once.
mod crash;
// What the relay writes to its log: plain text, and client input that cannot forge a line.
mod logs;
// Receiving on port 25: aliases, SRS, the checks before forwarding, ARC.
mod inbound;
// Properties of the DATA reader and the address parser over generated input.
mod properties;
