//! The `outpost-relay` command: parses arguments and hands over to [`outpost_relay::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    outpost_relay::cli::main(std::env::args_os())
}
