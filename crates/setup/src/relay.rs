//! The relay the app carries: the static `outpost-relay` executable built into this crate by
//! `build.rs`, with its version and SHA-256 recorded at build time.
//!
//! Knowing the version and digest without running the binary matters: the desktop may not be
//! Linux, and the install step compares the digest with what it uploaded to the server.

use sha2::{Digest, Sha256};

use crate::progress::Progress;

/// The executable's bytes, exactly as uploaded to a server.
const BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/outpost-relay"));

/// What the app knows about the relay it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Carried {
    /// The relay's version, read from the stamp inside the binary.
    pub version: &'static str,
    /// Lower-case hex SHA-256 of the executable.
    pub sha256: &'static str,
    /// The platform it runs on, as a Rust target triple.
    pub target: &'static str,
    /// Its size in bytes.
    #[ts(type = "number")]
    pub size: u64,
}

/// The relay this build carries.
pub fn carried() -> Carried {
    Carried {
        version: env!("OUTPOST_RELAY_VERSION"),
        sha256: env!("OUTPOST_RELAY_SHA256"),
        target: env!("OUTPOST_RELAY_TARGET"),
        size: BYTES.len() as u64,
    }
}

/// The executable itself.
pub fn executable() -> &'static [u8] {
    BYTES
}

/// The carried executable does not match the digest recorded when the app was built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the carried relay is damaged: its SHA-256 is {found}, but the app was built with {expected}"
)]
pub struct IntegrityError {
    /// The digest recorded at build time.
    pub expected: String,
    /// The digest of the bytes now in memory.
    pub found: String,
}

/// Hashes the carried executable again and compares it with the recorded digest, reporting
/// progress in 1 MiB steps. The install step runs the same comparison on the server.
pub fn verify(progress: &mut dyn FnMut(Progress)) -> Result<Carried, IntegrityError> {
    verify_bytes(BYTES, carried(), progress)
}

fn verify_bytes(
    bytes: &[u8],
    carried: Carried,
    progress: &mut dyn FnMut(Progress),
) -> Result<Carried, IntegrityError> {
    const CHUNK: usize = 1 << 20;
    progress(Progress::Stage { id: crate::progress::Stage::Hash });
    let total = bytes.len() as u64;
    let mut hasher = Sha256::new();
    let mut done = 0;
    for chunk in bytes.chunks(CHUNK) {
        hasher.update(chunk);
        done += chunk.len() as u64;
        progress(Progress::Advance { done, total });
    }
    let found = hex(&hasher.finalize());
    if found == carried.sha256 {
        Ok(carried)
    } else {
        Err(IntegrityError { expected: carried.sha256.to_string(), found })
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_carried_relay_is_a_static_linux_executable() {
        let bytes = executable();
        assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
        assert_eq!(bytes[4], 2, "not a 64-bit ELF file");
        assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), 62, "not x86_64 (EM_X86_64)");
        let interpreter = b"/lib64/ld-linux-x86-64.so.2";
        assert!(
            !bytes.windows(interpreter.len()).any(|window| window == interpreter),
            "the relay asks for the dynamic loader, so it is not statically linked"
        );
        assert!(carried().size > 100_000);
    }

    #[test]
    fn the_recorded_version_is_the_workspace_version() {
        // The relay and the engine are built from one workspace version.
        assert_eq!(carried().version, env!("CARGO_PKG_VERSION"));
        assert_eq!(carried().target, "x86_64-unknown-linux-gnu");
    }

    #[test]
    fn verification_recomputes_the_digest_and_reports_progress() {
        let mut events = Vec::new();
        let verified = verify(&mut |event| events.push(event)).unwrap();
        assert_eq!(verified.sha256.len(), 64);
        assert_eq!(events.first(), Some(&Progress::Stage { id: crate::progress::Stage::Hash }));
        let total = carried().size;
        assert_eq!(events.last(), Some(&Progress::Advance { done: total, total }));
        assert!(events.len() > 2, "a multi-megabyte binary reports more than one step");
    }

    #[test]
    fn a_damaged_executable_is_detected() {
        let mut damaged = executable().to_vec();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0xff;
        let error = verify_bytes(&damaged, carried(), &mut crate::progress::ignore).unwrap_err();
        assert_eq!(error.expected, carried().sha256);
        assert_ne!(error.found, error.expected);
        assert!(error.to_string().starts_with("the carried relay is damaged"));
    }
}
