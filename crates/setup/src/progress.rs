//! Progress events: what a long operation tells its caller while it runs.
//!
//! Operations take a `&mut dyn FnMut(Progress)` sink rather than a channel type, so the engine
//! does not choose the transport: the app forwards events over an IPC channel, tests collect
//! them in a `Vec`.

use serde::Serialize;

/// One event from a long operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Progress {
    /// A named stage has started.
    Stage {
        /// A stable identifier for the stage, e.g. `hash`.
        id: String,
    },
    /// How far the current stage has got, in parts of `total`.
    Advance {
        /// Units done so far.
        done: u64,
        /// Units in all.
        total: u64,
    },
    /// A line of output (from a remote command, say), secrets already masked.
    Log {
        /// The line, without its line ending.
        line: String,
    },
}

/// A progress sink that drops everything, for callers that do not care.
pub fn ignore(_: Progress) {}
