//! Puts the relay into the engine: builds `outpost-relay` as a static x86_64 Linux executable
//! (or takes a prebuilt one from `OUTPOST_RELAY_BIN`), copies it into `OUT_DIR`, and records its
//! version and SHA-256 so the app knows what it carries without running it.
//!
//! The relay is built by a nested `cargo build` with its own target directory: its flags
//! (`+crt-static`, `--target`) must not leak into the app's build, and a separate target
//! directory keeps the two builds from waiting on each other's lock.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The platform the carried relay runs on. Only x86_64 Linux for now (see ARCHITECTURE.md).
const RELAY_TARGET: &str = "x86_64-unknown-linux-gnu";
/// Must match the start of `outpost_relay::VERSION_STAMP`.
const STAMP_PREFIX: &[u8] = b"outpost-relay-version:";

fn main() {
    println!("cargo:rerun-if-env-changed=OUTPOST_RELAY_BIN");
    let relay = match env::var_os("OUTPOST_RELAY_BIN") {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            path
        }
        None => build_relay(),
    };
    let bytes = fs::read(&relay).unwrap_or_else(|error| {
        fail(&format!("cannot read the relay at {}: {error}", relay.display()))
    });
    let version = read_stamp(&bytes).unwrap_or_else(|| {
        fail(&format!(
            "{} carries no version stamp; is it an outpost-relay binary?",
            relay.display()
        ))
    });
    let sha256: String = Sha256::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("outpost-relay"), &bytes)
        .unwrap_or_else(|error| fail(&format!("cannot copy the relay into OUT_DIR: {error}")));
    println!("cargo:rustc-env=OUTPOST_RELAY_VERSION={version}");
    println!("cargo:rustc-env=OUTPOST_RELAY_SHA256={sha256}");
    println!("cargo:rustc-env=OUTPOST_RELAY_TARGET={RELAY_TARGET}");
}

/// Builds the relay with the `relay` profile and returns the executable's path.
fn build_relay() -> PathBuf {
    let host = env::var("HOST").unwrap_or_default();
    if host != RELAY_TARGET {
        fail(&format!(
            "the carried relay is an {RELAY_TARGET} executable and this machine is {host}; \
             build it on x86_64 Linux (`cargo build -p outpost-relay --profile relay --target \
             {RELAY_TARGET}` with RUSTFLAGS='-C target-feature=+crt-static') and point \
             OUTPOST_RELAY_BIN at it"
        ));
    }
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir.join("../..");
    for watched in ["crates/relay", "crates/relay-config", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }
    let target_dir = relay_target_dir();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--package",
            "outpost-relay",
            "--bin",
            "outpost-relay",
            "--profile",
            "relay",
        ])
        .args(["--target", RELAY_TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings are for the app, not for the relay: clear them.
    for (name, _) in env::vars_os() {
        let name = name.to_string_lossy();
        let outer = name.starts_with("CARGO_FEATURE_")
            || name.starts_with("CARGO_CFG_")
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*name,
                "RUSTFLAGS"
                    | "CARGO_ENCODED_RUSTFLAGS"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "CARGO_TARGET_DIR"
                    | "CARGO_BUILD_TARGET"
                    | "OUT_DIR"
                    | "TARGET"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
            );
        if outer {
            command.env_remove(&*name);
        }
    }
    // glibc static-pie: runs on any x86_64 Linux without shared libraries. The relay resolves
    // names with hickory, never getaddrinfo, so static glibc's NSS limitation does not bite.
    command.env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static");
    let status =
        command.status().unwrap_or_else(|error| fail(&format!("cannot run cargo: {error}")));
    if !status.success() {
        fail(&format!("building the static relay failed ({status}); its errors are above"));
    }
    target_dir.join(RELAY_TARGET).join("relay").join("outpost-relay")
}

/// `<target>/relay-static`, next to the outer build's profile directories, shared by every
/// profile of the outer build so the relay is built once.
fn relay_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>[/<triple>]/<profile>/build/<package>-<hash>/out.
    let profile_dir: &Path = out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(Path::parent)
        .unwrap_or_else(|| fail("unexpected OUT_DIR layout"));
    profile_dir.parent().unwrap_or(profile_dir).join("relay-static")
}

/// Finds `outpost-relay-version:<version>;` in the binary: the first occurrence of the prefix
/// that is followed by a well-formed version and `;`.
fn read_stamp(bytes: &[u8]) -> Option<String> {
    bytes
        .windows(STAMP_PREFIX.len())
        .enumerate()
        .filter(|(_, window)| *window == STAMP_PREFIX)
        .find_map(|(start, _)| {
            let rest = &bytes[start + STAMP_PREFIX.len()..];
            let end = rest.iter().take(64).position(|&byte| byte == b';')?;
            let version = std::str::from_utf8(&rest[..end]).ok()?;
            let well_formed = !version.is_empty()
                && version
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b".-+".contains(&byte));
            well_formed.then(|| version.to_string())
        })
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
