//! The admin command line: what the Outpost app runs over SSH, and what a person may run by hand.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use outpost_relay_config::Config;

/// The small SMTP relay that Outpost installs on your server.
#[derive(Debug, Parser)]
#[command(name = "outpost-relay", version = crate::version(), about, long_about = None)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a config file and say what it sets up, or exactly what is wrong with it.
    CheckConfig {
        /// The config file.
        #[arg(default_value = outpost_relay_config::DEFAULT_PATH)]
        file: PathBuf,
        /// Print the result as JSON (for the Outpost app).
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line and returns the process exit code: 0 for success, 1 when the command
/// found a problem, 2 for unusable arguments.
pub fn main(arguments: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let arguments = match Arguments::try_parse_from(arguments) {
        Ok(arguments) => arguments,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match arguments.command {
        Command::CheckConfig { file, json } => check_config(&file, json),
    }
}

fn check_config(file: &std::path::Path, json: bool) -> ExitCode {
    let result = Config::load(file);
    let mut stdout = std::io::stdout().lock();
    match (&result, json) {
        (Ok(config), false) => {
            let _ = writeln!(stdout, "{}: valid", file.display());
            let _ = writeln!(stdout, "  host name: {}", config.server.hostname);
            let domains: Vec<String> =
                config.server.domains.iter().map(ToString::to_string).collect();
            let _ = writeln!(stdout, "  sends for: {}", domains.join(", "));
            for (name, address) in config.listeners.all() {
                let _ = writeln!(stdout, "  listens:   {address} ({name})");
            }
            for key in &config.dkim {
                let _ = writeln!(stdout, "  dkim:      {}._domainkey.{}", key.selector, key.domain);
            }
        }
        (Err(error), false) => eprintln!("error: {error}"),
        (_, true) => {
            let report = match &result {
                Ok(config) => serde_json::json!({ "valid": true, "config": config }),
                Err(error) => serde_json::json!({
                    "valid": false,
                    "file": error.file,
                    "line": error.position.map(|(line, _)| line),
                    "column": error.position.map(|(_, column)| column),
                    "reason": error.reason,
                }),
            };
            let _ = writeln!(stdout, "{report}");
        }
    }
    if result.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
