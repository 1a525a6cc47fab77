//! The admin command line: what the Outpost app runs over SSH, and what a person may run by hand.
//! Every reporting command takes `--json` for the app and then prints one
//! [`outpost_relay_api::Response`]: the admin protocol, defined once in `outpost-relay-api`.
//! Passwords are read from standard input, never from arguments (which other users can see in
//! the process list).

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use outpost_relay_api as api;
use outpost_relay_config::{Config, DEFAULT_PATH, DkimAlgorithm};
use serde::Serialize;

use crate::queue::{Item, Spool, Status as RecipientStatus};
use crate::users::{Authenticator, Login, UsersFile};

/// The small SMTP relay that Outpost installs on your server.
#[derive(Debug, Parser)]
#[command(name = "outpost-relay", version = crate::version(), about, long_about = None)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Look names up (A records) through this server's own resolver, the way a DNS blocklist
    /// sees it: prints each answer, or that the name does not exist, or why the lookup failed.
    Lookup {
        /// The names to look up.
        #[arg(required = true)]
        names: Vec<String>,
        /// Print the results as JSON (for the Outpost app).
        #[arg(long)]
        json: bool,
    },
    /// Run the relay (what systemd starts).
    Serve {
        /// The config file.
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Check a config file and say what it sets up, or exactly what is wrong with it.
    CheckConfig {
        /// The config file.
        #[arg(default_value = DEFAULT_PATH)]
        file: PathBuf,
        /// Print the result as JSON (for the Outpost app).
        #[arg(long)]
        json: bool,
    },
    /// Manage SMTP users (passwords are read from standard input).
    User {
        #[command(subcommand)]
        action: UserAction,
        /// The config file (for the users file's location).
        #[arg(long, global = true, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print results as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Addresses at your domains and where their mail is forwarded (port 25). Changes take
    /// effect at once, without a restart.
    Alias {
        #[command(subcommand)]
        action: AliasAction,
        /// The config file (for the aliases file's location).
        #[arg(long, global = true, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print results as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// The secret that signs forwarded mail's rewritten sender addresses (SRS).
    Srs {
        #[command(subcommand)]
        action: SrsAction,
        /// The config file (for the secrets file's location).
        #[arg(long, global = true, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print results as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Make and show DKIM keys.
    Dkim {
        #[command(subcommand)]
        action: DkimAction,
        /// The config file.
        #[arg(long, global = true, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print results as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Everything the Outpost app's dashboard shows, in one reply: the status, the queue, disk
    /// and memory, whether this server reaches a mail server on port 25 (`--probe`), and the
    /// names given looked up as `lookup` does (blocklists).
    Health {
        /// A mail server to reach on port 25, `host:port`.
        #[arg(long)]
        probe: Option<String>,
        /// Names to look up (after `--`).
        names: Vec<String>,
        /// The config file.
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// What the running relay is doing: listeners, certificate, queue, last deliveries.
    Status {
        /// The config file.
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The certificate: renew it now (it renews by itself; this is for "Renew now").
    Cert {
        #[command(subcommand)]
        action: CertAction,
        /// The config file.
        #[arg(long, global = true, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print results as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Follow a test message: keep it as signed and sent, with its delivery records (the
    /// Outpost app's test email).
    Trace {
        #[command(subcommand)]
        action: TraceAction,
        /// The config file.
        #[arg(long, global = true, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print results as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Look at and nudge the queue.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
        /// The config file.
        #[arg(long, global = true, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print results as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Add a user, or change their password (read from standard input).
    Add {
        /// The user's address, e.g. you@example.com.
        address: String,
    },
    /// Remove a user.
    Remove {
        /// The user's address.
        address: String,
    },
    /// List users.
    List,
    /// Let a user also send as these addresses outside their own domain (at another of this
    /// relay's domains); none clears the list.
    Senders {
        /// The user's address.
        address: String,
        /// The addresses, e.g. alerts@example.org.
        senders: Vec<String>,
    },
    /// Check a password (read from standard input); exits 1 if it is wrong.
    Check {
        /// The user's address.
        address: String,
    },
}

#[derive(Debug, Subcommand)]
enum AliasAction {
    /// Forward an address (or `*@domain`, every other address there) to one or more others;
    /// replaces the destinations of an existing alias.
    Add {
        /// The address at one of your domains, e.g. hello@example.com, or *@example.com.
        address: String,
        /// Where its mail goes, e.g. you@gmail.com.
        #[arg(required = true)]
        destinations: Vec<String>,
    },
    /// Stop accepting mail for an address.
    Remove {
        /// The address.
        address: String,
    },
    /// List the aliases.
    List,
}

#[derive(Debug, Subcommand)]
enum SrsAction {
    /// Start signing with a new secret; the old ones keep verifying bounces for 21 days.
    Rotate,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Algorithm {
    Rsa,
    Ed25519,
}

#[derive(Debug, Subcommand)]
enum DkimAction {
    /// Make a new key and print the DNS record to publish.
    Generate {
        /// The signing domain.
        #[arg(long)]
        domain: String,
        /// The selector (the record goes at <selector>._domainkey.<domain>).
        #[arg(long)]
        selector: String,
        /// RSA-2048 (what every receiver checks) or Ed25519 (sent alongside RSA).
        #[arg(long, value_enum, default_value = "rsa")]
        algorithm: Algorithm,
        /// Where to write the private key (default /etc/outpost/dkim/<selector>.pem).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Show the DNS records for the configured keys.
    Show,
}

#[derive(Debug, Subcommand)]
enum CertAction {
    /// Ask the CA for a new certificate; `status` follows the order.
    Renew {
        /// Now, whatever the renewal schedule says (the only mode there is: required so the
        /// command reads as what it does).
        #[arg(long, required = true)]
        now: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TraceAction {
    /// Keep the next message submitted with this Message-ID (for 15 minutes from now).
    Watch {
        /// The Message-ID.
        message_id: String,
    },
    /// What became of it: the signed message and every delivery attempt (kept for an hour).
    Show {
        /// The Message-ID.
        message_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum QueueAction {
    /// List queued messages.
    List,
    /// Show one message's envelope and every delivery attempt.
    Show {
        /// The queue id.
        id: String,
    },
    /// Ask the running relay to try a message again now.
    Retry {
        /// The queue id.
        id: String,
    },
    /// Remove a message from the queue without delivering it; nobody is told.
    Delete {
        /// The queue id.
        id: String,
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
    let json = matches!(
        &arguments.command,
        Command::CheckConfig { json: true, .. }
            | Command::User { json: true, .. }
            | Command::Alias { json: true, .. }
            | Command::Srs { json: true, .. }
            | Command::Dkim { json: true, .. }
            | Command::Status { json: true, .. }
            | Command::Health { json: true, .. }
            | Command::Queue { json: true, .. }
            | Command::Trace { json: true, .. }
            | Command::Cert { json: true, .. }
            | Command::Lookup { json: true, .. }
    );
    let output = Output { json };
    let result = match arguments.command {
        Command::Serve { config } => serve(&config),
        Command::CheckConfig { file, .. } => return check_config(&file, output),
        Command::User { action, config, .. } => user(action, &config, output),
        Command::Alias { action, config, .. } => alias(action, &config, output),
        Command::Srs { action, config, .. } => srs(action, &config, output),
        Command::Dkim { action, config, .. } => dkim(action, &config, output),
        Command::Status { config, .. } => status(&config, output),
        Command::Health { probe, names, config, .. } => health(&config, probe, &names, output),
        Command::Queue { action, config, .. } => queue(action, &config, output),
        Command::Trace { action, config, .. } => trace(action, &config, output),
        Command::Cert { action, config, .. } => cert(action, &config, output),
        Command::Lookup { names, .. } => lookup(&names, output),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let kind = error.downcast_ref::<Failure>().map_or(api::ErrorKind::Other, |f| f.kind);
            if json {
                let message = format!("{error:#}");
                output.print(&api::Response::<()>::error(api::AdminError { kind, message }));
            } else {
                eprintln!("error: {error:#}");
            }
            ExitCode::from(1)
        }
    }
}

/// A failure of a known kind, for the admin protocol's error envelope.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Failure {
    kind: api::ErrorKind,
    message: String,
}

fn failure(kind: api::ErrorKind, message: impl Into<String>) -> anyhow::Error {
    Failure { kind, message: message.into() }.into()
}

/// Where a command's result goes: a typed JSON reply for the app, or text for a person.
#[derive(Debug, Clone, Copy)]
struct Output {
    json: bool,
}

impl Output {
    /// Prints the reply as one JSON line.
    fn print<T: Serialize>(self, response: &api::Response<T>) {
        match serde_json::to_string(response) {
            Ok(line) => println!("{line}"),
            Err(error) => eprintln!("error: cannot encode the reply: {error}"),
        }
    }

    /// Prints `data` as the JSON reply, or `text()` for a person.
    fn report<T: Serialize>(self, data: T, text: impl FnOnce(&T) -> String) {
        if self.json {
            self.print(&api::Response::ok(data));
        } else {
            let text = text(&data);
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }
}

fn load_config(path: &Path) -> Result<Config> {
    Config::load(path).map_err(|error| failure(api::ErrorKind::Config, error.to_string()))
}

fn serve(config_path: &Path) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let level = format!("{:?}", config.log.level).to_ascii_lowercase();
    tracing_subscriber::fmt()
        // rustls warns once per odd handshake (a scanner's address as SNI, say): one line per
        // connection is the session's own; the library's are kept to real errors.
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "outpost_relay={level},rustls=error,warn"
        )))
        .with_writer(std::io::stderr)
        // The journal stores bytes as they come: no terminal colour codes in it.
        .with_ansi(false)
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let relay = crate::server::Relay::start(&config).await?;
        tracing::info!(version = crate::VERSION, hostname = %config.server.hostname, "outpost-relay started");
        let stop = tokio_util::sync::CancellationToken::new();
        let signals = stop.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut terminate), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            tokio::select! { _ = terminate.recv() => {}, _ = interrupt.recv() => {} }
            signals.cancel();
        });
        relay.serve_until(stop).await;
        tracing::info!("outpost-relay stopped");
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

fn check_config(file: &Path, output: Output) -> ExitCode {
    let result = Config::load(file);
    let report = match &result {
        Ok(config) => api::ConfigCheck::Valid {
            hostname: config.server.hostname.to_string(),
            domains: config.server.domains.iter().map(ToString::to_string).collect(),
        },
        Err(error) => api::ConfigCheck::Invalid {
            file: error.file.display().to_string(),
            line: error.position.map(|(line, _)| line),
            column: error.position.map(|(_, column)| column),
            reason: error.reason.clone(),
        },
    };
    match (&result, output.json) {
        (_, true) => output.print(&api::Response::ok(report)),
        (Ok(config), false) => {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}: valid", file.display());
            let _ = writeln!(stdout, "  host name: {}", config.server.hostname);
            let domains: Vec<String> =
                config.server.domains.iter().map(ToString::to_string).collect();
            let _ = writeln!(stdout, "  sends for: {}", domains.join(", "));
            for (name, address) in config.listeners.all() {
                let _ = writeln!(stdout, "  listens:   {address} ({name})");
            }
            for key in &config.dkim {
                let name = api::dkim_record_name(key.selector.as_str(), key.domain.as_str());
                let _ = writeln!(stdout, "  dkim:      {name}");
            }
        }
        (Err(error), false) => eprintln!("error: {error}"),
    }
    if result.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Reads a password: the first line of standard input.
fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err(failure(
            api::ErrorKind::InvalidArgument,
            "no password on standard input (pipe it in: `printf '%s\\n' \"$PASSWORD\" | outpost-relay user add ...`)",
        ));
    }
    Ok(password)
}

fn user(action: UserAction, config_path: &Path, output: Output) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let path = config.users.file.as_path();
    let mut users = UsersFile::load(path)?;
    let changed = |change: &api::UserChange| {
        let action = match change.action {
            api::UserAction::Added => "added",
            api::UserAction::PasswordChanged => "password changed",
            api::UserAction::Removed => "removed",
        };
        format!("{}: {action}", change.user)
    };
    match action {
        UserAction::Add { address } => {
            let password = read_password()?;
            let existed = users.addresses().any(|existing| existing.eq_ignore_ascii_case(&address));
            users.set(&address, &password)?;
            users.save(path)?;
            let action =
                if existed { api::UserAction::PasswordChanged } else { api::UserAction::Added };
            output.report(api::UserChange { user: address.to_ascii_lowercase(), action }, changed);
        }
        UserAction::Remove { address } => {
            users.remove(&address)?;
            users.save(path)?;
            let action = api::UserAction::Removed;
            output.report(api::UserChange { user: address.to_ascii_lowercase(), action }, changed);
        }
        UserAction::List => {
            let senders = users
                .senders()
                .map(|(user, senders)| (user.to_string(), senders.to_vec()))
                .collect();
            let users = users.addresses().map(str::to_string).collect();
            output.report(api::UserList { users, senders }, |list| {
                list.users
                    .iter()
                    .map(|user| match list.senders.get(user) {
                        Some(senders) => format!("{user} (also sends as {})", senders.join(", ")),
                        None => user.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        UserAction::Senders { address, senders } => {
            // Mail from elsewhere would be refused at its From: anyway.
            for sender in &senders {
                at_our_domain(&config, sender)?;
            }
            let senders = users.set_senders(&address, &senders)?;
            users.save(path)?;
            let user = address.trim().to_ascii_lowercase();
            output.report(api::UserSenders { user, senders }, |kept| {
                match kept.senders.is_empty() {
                    true => format!("{}: sends as its own domain only", kept.user),
                    false => format!("{}: also sends as {}", kept.user, kept.senders.join(", ")),
                }
            });
        }
        UserAction::Check { address } => {
            let password = read_password()?;
            let accepted = Authenticator::new(path)?.check(&address, &password)? == Login::Accepted;
            let user = address.to_ascii_lowercase();
            output.report(api::PasswordCheck { user, accepted }, |check| {
                if check.accepted { "the password is right" } else { "wrong user or password" }
                    .to_string()
            });
            if !accepted {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses (`invalid-argument`) an address that is not at one of the relay's domains.
fn at_our_domain(config: &Config, address: &str) -> Result<()> {
    let domain = address.rsplit_once('@').map_or("", |(_, domain)| domain);
    if config.server.domains.iter().any(|ours| ours.as_str().eq_ignore_ascii_case(domain)) {
        return Ok(());
    }
    let ours: Vec<String> = config.server.domains.iter().map(ToString::to_string).collect();
    Err(failure(
        api::ErrorKind::InvalidArgument,
        format!("`{address}` is not at one of this relay's domains ({})", ours.join(", ")),
    ))
}

fn alias(action: AliasAction, config_path: &Path, output: Output) -> Result<ExitCode> {
    use crate::inbound::aliases::{Aliases, Error as AliasError};
    let config = load_config(config_path)?;
    let path = config.inbound.aliases_file.as_path();
    let kind = |error: &AliasError| match error {
        AliasError::Io { .. } => api::ErrorKind::Io,
        AliasError::NoSuchAlias(_) => api::ErrorKind::NotFound,
        AliasError::Malformed { .. } => api::ErrorKind::Config,
        AliasError::Invalid(_) => api::ErrorKind::InvalidArgument,
    };
    let fail = |error: AliasError| failure(kind(&error), error.to_string());
    let mut aliases = Aliases::load(path).map_err(fail)?;
    let changed = |change: &api::AliasChange| {
        let action = match change.action {
            api::AliasAction::Added => "added",
            api::AliasAction::Changed => "changed",
            api::AliasAction::Removed => "removed",
        };
        format!("{}: {action}", change.address)
    };
    match action {
        AliasAction::Add { address, destinations } => {
            at_our_domain(&config, &address)?;
            if crate::inbound::srs::is_srs(address.rsplit_once('@').map_or("", |(local, _)| local))
            {
                return Err(failure(
                    api::ErrorKind::InvalidArgument,
                    "addresses starting SRS0 or SRS1 are the relay's own bounce addresses",
                ));
            }
            let existed = aliases.set(&address, &destinations).map_err(fail)?;
            aliases.save(path).map_err(fail)?;
            let action = if existed { api::AliasAction::Changed } else { api::AliasAction::Added };
            output.report(
                api::AliasChange { address: address.trim().to_lowercase(), action },
                changed,
            );
        }
        AliasAction::Remove { address } => {
            aliases.remove(&address).map_err(fail)?;
            aliases.save(path).map_err(fail)?;
            let action = api::AliasAction::Removed;
            output.report(
                api::AliasChange { address: address.trim().to_lowercase(), action },
                changed,
            );
        }
        AliasAction::List => {
            let owner = config.inbound.owner.as_ref().map(ToString::to_string);
            output.report(api::AliasList { aliases: aliases.list(), owner }, |list| {
                let mut lines: Vec<String> = list
                    .aliases
                    .iter()
                    .map(|alias| format!("{} → {}", alias.address, alias.destinations.join(", ")))
                    .collect();
                if let Some(owner) = &list.owner {
                    lines.push(format!("postmaster@, abuse@ → {owner} (unless listed above)"));
                }
                lines.join("\n")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn srs(action: SrsAction, config_path: &Path, output: Output) -> Result<ExitCode> {
    use crate::clock::Clock;
    use crate::inbound::Secrets;
    let config = load_config(config_path)?;
    let path = config.inbound.srs_secrets_file.as_path();
    let io =
        |error: crate::inbound::srs::SecretsError| failure(api::ErrorKind::Io, error.to_string());
    match action {
        SrsAction::Rotate => {
            let now = crate::clock::SystemClock.now();
            let rotated = Secrets::load_or_create(path, now).map_err(io)?.rotated(now);
            rotated.save(path, outpost_safe_file::Existing::ReplaceKeepingOwner).map_err(io)?;
            let report = api::SrsRotation { secrets: rotated.len(), made: rotated.newest_made() };
            output.report(report, |report| {
                format!(
                    "signing with a new secret; {} older one(s) still verify bounces",
                    report.secrets - 1
                )
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn dkim(action: DkimAction, config_path: &Path, output: Output) -> Result<ExitCode> {
    match action {
        DkimAction::Generate { domain, selector, algorithm, key_file } => {
            let algorithm = match algorithm {
                Algorithm::Rsa => DkimAlgorithm::RsaSha256,
                Algorithm::Ed25519 => DkimAlgorithm::Ed25519Sha256,
            };
            let invalid = |reason: String| failure(api::ErrorKind::InvalidArgument, reason);
            let domain: outpost_relay_config::DomainName = domain.parse().map_err(invalid)?;
            let selector: outpost_relay_config::Selector = selector.parse().map_err(invalid)?;
            let key_file = key_file
                .unwrap_or_else(|| PathBuf::from(format!("/etc/outpost/dkim/{selector}.pem")));
            if let Some(directory) = key_file.parent() {
                std::fs::create_dir_all(directory)
                    .with_context(|| format!("creating {}", directory.display()))?;
            }
            let generated = crate::dkim::generate(algorithm)?;
            crate::dkim::write_new_key(&key_file, &generated.private_pem).with_context(|| {
                format!("writing {} (an existing key is never overwritten)", key_file.display())
            })?;
            let record = api::DkimRecord {
                domain: domain.to_string(),
                selector: selector.to_string(),
                algorithm,
                key_file: key_file.display().to_string(),
                txt: generated.txt,
            };
            output.report(record, describe_record);
        }
        DkimAction::Show => {
            let config = load_config(config_path)?;
            let mut records = Vec::new();
            for key in &config.dkim {
                let path = key.key_file.to_string();
                let text = std::fs::read_to_string(key.key_file.as_path())
                    .with_context(|| format!("reading {path}"))?;
                records.push(api::DkimRecord {
                    domain: key.domain.to_string(),
                    selector: key.selector.to_string(),
                    algorithm: key.algorithm,
                    txt: crate::dkim::txt_for(&text, key.algorithm, &path)?,
                    key_file: path,
                });
            }
            output.report(api::DkimRecords { records }, |shown| {
                shown.records.iter().map(describe_record).collect::<Vec<_>>().join("\n")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_record(record: &api::DkimRecord) -> String {
    let strings: Vec<String> =
        api::split_txt(&record.txt).iter().map(|part| format!("\"{part}\"")).collect();
    format!(
        "{}  TXT\n  whole value: {}\n  as 255-byte strings: {}\n  private key: {}",
        record.name(),
        record.txt,
        strings.join(" "),
        record.key_file
    )
}

/// This server's own resolver (`/etc/resolv.conf`), asking afresh every time.
fn server_resolver() -> Result<hickory_resolver::TokioResolver> {
    let mut options = hickory_resolver::config::ResolverOpts::default();
    options.timeout = std::time::Duration::from_secs(4);
    options.attempts = 2;
    // Ask again every time: a listing may have just changed.
    options.cache_size = 0;
    hickory_resolver::Resolver::builder_tokio()
        .map_err(|error| anyhow::anyhow!("cannot read /etc/resolv.conf: {error}"))?
        .with_options(options)
        .build()
        .map_err(|error| anyhow::anyhow!("cannot set up DNS: {error}"))
}

/// Each name's A records, or that it does not exist, or why the lookup failed.
async fn look_up(resolver: &hickory_resolver::TokioResolver, names: &[String]) -> Vec<api::Lookup> {
    use hickory_resolver::proto::rr::RData;
    let mut results = Vec::new();
    for name in names {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let outcome = match resolver.ipv4_lookup(fqdn.as_str()).await {
            Ok(lookup) => api::LookupOutcome::Answer {
                answers: lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::A(address) => Some(address.0),
                        _ => None,
                    })
                    .collect(),
            },
            Err(error) if error.is_nx_domain() || error.is_no_records_found() => {
                api::LookupOutcome::NoSuchName
            }
            Err(error) => api::LookupOutcome::Failed { detail: error.to_string() },
        };
        results.push(api::Lookup { name: name.clone(), outcome });
    }
    results
}

fn lookup(names: &[String], output: Output) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let results =
        runtime.block_on(async { anyhow::Ok(look_up(&server_resolver()?, names).await) })?;
    output.report(api::Lookups { results }, |lookups| {
        let lines: Vec<String> = lookups
            .results
            .iter()
            .map(|lookup| match &lookup.outcome {
                api::LookupOutcome::Answer { answers } => {
                    let answers: Vec<String> = answers.iter().map(ToString::to_string).collect();
                    format!("{}: {}", lookup.name, answers.join(", "))
                }
                api::LookupOutcome::NoSuchName => format!("{}: no such name", lookup.name),
                api::LookupOutcome::Failed { detail } => {
                    format!("{}: lookup failed ({detail})", lookup.name)
                }
            })
            .collect();
        lines.join("\n")
    });
    Ok(ExitCode::SUCCESS)
}

/// The directory of the status file and the control socket (`/var/lib/outpost`).
fn state_root(config: &Config) -> Result<&Path> {
    config.tls.state_dir.as_path().parent().context("the TLS state directory has no parent")
}

/// Asks the running relay over its control socket.
fn ask(config: &Config, request: &api::ControlRequest) -> Result<api::ControlReply> {
    let socket = crate::control::socket_path(state_root(config)?);
    crate::control::ask(&socket, request).map_err(|error| failure(error.kind, error.message))
}

fn cert(action: CertAction, config_path: &Path, output: Output) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let CertAction::Renew { now: _ } = action;
    let Some(acme) = &config.tls.acme else {
        return Err(failure(
            api::ErrorKind::NotConfigured,
            "the relay does not get its certificate over ACME: add [tls.acme] to the config",
        ));
    };
    ask(&config, &api::ControlRequest::CertRenew)?;
    let names = crate::acme::wanted_names(config.server.hostname.as_str(), acme);
    output.report(api::CertRenewal { names }, |renewal| {
        format!(
            "asking the CA for a new certificate for {}; `outpost-relay status` follows it",
            renewal.names.join(", ")
        )
    });
    Ok(ExitCode::SUCCESS)
}

fn status(config_path: &Path, output: Output) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    output.report(read_status(&config)?, describe_status);
    Ok(ExitCode::SUCCESS)
}

/// The status the relay last wrote, `running` only if it is fresh and its process exists.
fn read_status(config: &Config) -> Result<api::Status> {
    let path = state_root(config)?.join(crate::server::STATUS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|error| {
        failure(
            api::ErrorKind::NotRunning,
            format!("the relay has not written {} (is it running?): {error}", path.display()),
        )
    })?;
    let mut status: crate::server::Status =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let now = crate::clock::unix_seconds(crate::clock::Clock::now(&crate::clock::SystemClock));
    let age = now.saturating_sub(status.updated);
    status.running = age < 10 && Path::new(&format!("/proc/{}", status.pid)).exists();
    Ok(status)
}

fn health(
    config_path: &Path,
    probe: Option<String>,
    names: &[String],
    output: Output,
) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let status = match read_status(&config) {
        Ok(status) => Some(status),
        Err(error) if error.downcast_ref::<Failure>().is_some() => None,
        Err(error) => return Err(error),
    };
    let queue = Spool::open(config.queue.dir.as_path())?.load()?;
    let server = server_room(config.queue.dir.as_path());
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let (outbound, lookups) = runtime.block_on(async {
        let resolver = server_resolver()?;
        let outbound = async {
            match &probe {
                Some(target) => Some(reach_port_25(&resolver, target).await),
                None => None,
            }
        };
        anyhow::Ok(tokio::join!(outbound, look_up(&resolver, names)))
    })?;
    let now = crate::clock::unix_seconds(crate::clock::Clock::now(&crate::clock::SystemClock));
    let health = api::Health { now, status, queue, server, outbound, lookups };
    output.report(health, |health| {
        let mut lines = vec![match &health.status {
            Some(status) => describe_status(status),
            None => "the relay has never run".to_string(),
        }];
        let mb = |value: Option<u64>| value.map_or("?".to_string(), |value| format!("{value} MiB"));
        lines.push(format!(
            "  disk free: {} of {}; memory available: {} of {}",
            mb(health.server.disk_free_mb),
            mb(health.server.disk_total_mb),
            mb(health.server.memory_available_mb),
            mb(health.server.memory_total_mb)
        ));
        if let Some(outbound) = &health.outbound {
            lines.push(format!(
                "  port 25 to {}: {}",
                outbound.target,
                match (&outbound.reachable, &outbound.detail) {
                    (true, _) => "reachable".to_string(),
                    (false, detail) =>
                        format!("NOT reachable ({})", detail.as_deref().unwrap_or("?")),
                }
            ));
        }
        lines.join("\n")
    });
    Ok(ExitCode::SUCCESS)
}

/// Free and total space for `directory`'s file system, and memory from `/proc/meminfo`.
fn server_room(directory: &Path) -> api::ServerRoom {
    const MIB: u64 = 1024 * 1024;
    let disk = rustix::fs::statvfs(directory).ok();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = |key: &str| {
        meminfo.lines().find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            let kib: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib / 1024)
        })
    };
    api::ServerRoom {
        disk_free_mb: disk.as_ref().map(|disk| disk.f_bavail * disk.f_frsize / MIB),
        disk_total_mb: disk.as_ref().map(|disk| disk.f_blocks * disk.f_frsize / MIB),
        memory_available_mb: memory("MemAvailable"),
        memory_total_mb: memory("MemTotal"),
    }
}

/// Whether a mail server at `target` (`host:port`) greets this server within 10 s: what a
/// provider blocking outgoing port 25 prevents.
async fn reach_port_25(
    resolver: &hickory_resolver::TokioResolver,
    target: &str,
) -> api::OutboundProbe {
    use tokio::io::AsyncReadExt;
    let unreachable = |detail: String| api::OutboundProbe {
        target: target.to_string(),
        reachable: false,
        detail: Some(detail),
    };
    let Some((host, port)) = target.rsplit_once(':') else {
        return unreachable("not host:port".into());
    };
    let Ok(port) = port.parse::<u16>() else {
        return unreachable(format!("{port:?} is not a port"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<std::net::IpAddr> = match host.parse() {
        Ok(address) => vec![address],
        Err(_) => match resolver.lookup_ip(format!("{}.", host.trim_end_matches('.'))).await {
            Ok(found) => found.iter().collect(),
            Err(error) => return unreachable(format!("{host}: {error}")),
        },
    };
    let mut last = format!("{host} has no address");
    for address in addresses {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect((address, port)).await?;
            let mut greeting = [0u8; 3];
            stream.read_exact(&mut greeting).await?;
            std::io::Result::Ok(greeting)
        };
        match tokio::time::timeout(std::time::Duration::from_secs(10), attempt).await {
            Ok(Ok(greeting)) if greeting.starts_with(b"2") => {
                return api::OutboundProbe {
                    target: target.to_string(),
                    reachable: true,
                    detail: None,
                };
            }
            Ok(Ok(greeting)) => {
                last = format!("{address} answered {:?}", String::from_utf8_lossy(&greeting))
            }
            Ok(Err(error)) => last = format!("{address}: {error}"),
            Err(_) => last = format!("{address}: no answer within 10 s"),
        }
    }
    unreachable(last)
}

fn describe_status(status: &api::Status) -> String {
    let mut lines = vec![format!(
        "outpost-relay {}: {}",
        status.version,
        if status.running { "running" } else { "NOT running (status is stale)" }
    )];
    for listener in &status.listeners {
        lines.push(format!("  listening on {} ({})", listener.address, listener.mode.as_str()));
    }
    for certificate in &status.certificates {
        let kind = if certificate.is_self_signed() {
            " — self-signed: mail clients will warn until a real certificate is set up"
        } else {
            ""
        };
        lines.push(format!(
            "  certificate for {} from {} until {}{kind}",
            certificate.names.join(", "),
            if certificate.issuer.is_empty() { "?" } else { &certificate.issuer },
            certificate.not_after
        ));
    }
    if let Some(acme) = &status.acme {
        lines.push(format!("  ACME ({}): {:?}", acme.directory, acme.phase));
        if let Some(next) = &acme.next {
            let at = time::OffsetDateTime::from_unix_timestamp(next.at as i64)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_else(|| next.at.to_string());
            lines.push(format!("    next order: {at} ({:?})", next.reason));
        }
        if let Some(attempt) = &acme.last_attempt {
            match &attempt.failure {
                Some(failure) => lines.push(format!(
                    "    last try FAILED ({} in a row, {:?}): {}",
                    attempt.failures_in_a_row, failure.kind, failure.detail
                )),
                None => lines.push("    last try: issued".to_string()),
            }
        }
    }
    lines.push(format!("  queued messages: {}", status.queued));
    if let Some(inbound) = &status.inbound {
        lines.push(format!("  forwarded since start: {}", inbound.forwarded));
        for refused in &inbound.refused {
            lines.push(format!("    refused ({:?}): {}", refused.reason, refused.count));
        }
    }
    for delivery in status.recent_deliveries.iter().rev().take(10) {
        lines.push(format!(
            "  {} → {}: {}",
            delivery.id,
            delivery.recipient,
            attempt(&delivery.record)
        ));
    }
    lines.join("\n")
}

/// One delivery attempt in a line: outcome, server, address, TLS and reply.
fn attempt(record: &api::DeliveryRecord) -> String {
    format!(
        "{:?} via {} [{}] {} — {}",
        record.outcome,
        record.host.as_deref().unwrap_or("-"),
        record.ip.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
        record.tls_version.as_deref().unwrap_or("no TLS"),
        record.reply
    )
}

fn queue(action: QueueAction, config_path: &Path, output: Output) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let spool = Spool::open(config.queue.dir.as_path())?;
    let items = spool.load()?;
    match action {
        QueueAction::List => output.report(api::QueueList { items }, |list| {
            if list.items.is_empty() {
                return "the queue is empty".to_string();
            }
            let lines: Vec<String> = list
                .items
                .iter()
                .map(|item| {
                    let pending: Vec<&str> = item
                        .recipients
                        .iter()
                        .filter(|r| r.status == RecipientStatus::Pending)
                        .map(|r| r.address.as_str())
                        .collect();
                    format!(
                        "{}  from <{}>  attempts {}  waiting for {}",
                        item.id,
                        item.from,
                        item.attempts,
                        pending.join(", ")
                    )
                })
                .collect();
            lines.join("\n")
        }),
        QueueAction::Show { id } => {
            let item = find(&items, &id)?.clone();
            output.report(item, |item| {
                let mut lines = vec![format!(
                    "{}  from <{}>  accepted {}  attempts {}",
                    item.id, item.from, item.created, item.attempts
                )];
                for recipient in &item.recipients {
                    lines.push(format!("  {}: {:?}", recipient.address, recipient.status));
                    for record in &recipient.records {
                        lines.push(format!("    {} {}", record.at, attempt(record)));
                    }
                }
                lines.join("\n")
            });
        }
        QueueAction::Retry { id } => {
            find(&items, &id)?;
            ask(&config, &api::ControlRequest::QueueRetry { id: id.clone() })?;
            output.report(api::QueueRetry { id }, |retry| {
                format!("{}: the relay is trying again now", retry.id)
            });
        }
        QueueAction::Delete { id } => {
            find(&items, &id)?;
            ask(&config, &api::ControlRequest::QueueDelete { id: id.clone() })?;
            output.report(api::QueueDeleted { id }, |deleted| {
                format!("{}: deleted from the queue, undelivered", deleted.id)
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn trace(action: TraceAction, config_path: &Path, output: Output) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let unexpected = || failure(api::ErrorKind::Other, "the relay answered something else");
    match action {
        TraceAction::Watch { message_id } => {
            let api::ControlReply::Watching(watch) =
                ask(&config, &api::ControlRequest::TraceWatch { message_id })?
            else {
                return Err(unexpected());
            };
            output.report(watch, |watch| {
                format!(
                    "keeping the next message <{}> submitted before {}",
                    watch.message_id, watch.until
                )
            });
        }
        TraceAction::Show { message_id } => {
            let api::ControlReply::Traced(trace) =
                ask(&config, &api::ControlRequest::TraceShow { message_id })?
            else {
                return Err(unexpected());
            };
            output.report(*trace, |trace| {
                let mut lines = vec![format!(
                    "<{}>: queue id {}, accepted {}{}",
                    trace.message_id,
                    trace.queue_id,
                    trace.accepted,
                    if trace.finished { ", finished" } else { "" }
                )];
                for recipient in &trace.item.recipients {
                    lines.push(format!("  {}: {:?}", recipient.address, recipient.status));
                    for record in &recipient.records {
                        lines.push(format!("    {} {}", record.at, attempt(record)));
                    }
                }
                lines.join("\n")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn find<'a>(items: &'a [Item], id: &str) -> Result<&'a Item> {
    items.iter().find(|item| item.id == id).ok_or_else(|| {
        failure(
            api::ErrorKind::NotFound,
            format!("no queued message {id} (it may have been delivered)"),
        )
    })
}
