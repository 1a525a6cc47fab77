//! What crosses the IPC boundary: the error type every command returns, and the transfer types
//! the commands produce. The TypeScript mirror of both is `ui/src/lib/ipc.ts`.

mod error;

pub use error::{ErrorCode, IpcError};
