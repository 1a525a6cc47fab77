//! What crosses the IPC boundary: the error type every command returns. Every type the UI
//! receives or sends is generated into `ui/src/lib/generated/ipc.ts` (see [`typescript`]).

mod error;
#[cfg(test)]
mod typescript;

pub use error::{IpcError, UpdateProblem};
