//! The admin command line: what the Outpost app runs over SSH, and what a person may run by hand.
//! Every reporting command takes `--json` for the app; passwords are read from standard input,
//! never from arguments (which other users can see in the process list).

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use outpost_relay_config::{Config, DEFAULT_PATH, DkimAlgorithm};
use serde_json::json;

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
    /// What the running relay is doing: listeners, certificate, queue, last deliveries.
    Status {
        /// The config file.
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print as JSON.
        #[arg(long)]
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
    /// Check a password (read from standard input); exits 1 if it is wrong.
    Check {
        /// The user's address.
        address: String,
    },
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
            | Command::Dkim { json: true, .. }
            | Command::Status { json: true, .. }
            | Command::Queue { json: true, .. }
            | Command::Lookup { json: true, .. }
    );
    let result = match arguments.command {
        Command::Serve { config } => serve(&config),
        Command::CheckConfig { file, json } => return check_config(&file, json),
        Command::User { action, config, json } => user(action, &config, json),
        Command::Dkim { action, config, json } => dkim(action, &config, json),
        Command::Status { config, json } => status(&config, json),
        Command::Queue { action, config, json } => queue(action, &config, json),
        Command::Lookup { names, json } => lookup(&names, json),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            if json {
                println!("{}", json!({ "ok": false, "error": format!("{error:#}") }));
            } else {
                eprintln!("error: {error:#}");
            }
            ExitCode::from(1)
        }
    }
}

fn load_config(path: &Path) -> Result<Config> {
    Config::load(path).map_err(anyhow::Error::msg)
}

fn serve(config_path: &Path) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let level = format!("{:?}", config.log.level).to_ascii_lowercase();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!("outpost_relay={level},warn")))
        .with_writer(std::io::stderr)
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
        // `queue retry` leaves a marker file in the spool; pick those up.
        let spool_dir = config.queue.dir.as_path().to_path_buf();
        let queue = relay.queue.clone();
        let watching = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = watching.cancelled() => return,
                }
                let Ok(entries) = std::fs::read_dir(&spool_dir) else { continue };
                for entry in entries.filter_map(Result::ok) {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Some(id) = name.strip_suffix(".retry") {
                        let _ = std::fs::remove_file(entry.path());
                        queue.retry_now(id);
                    }
                }
            }
        });
        relay.serve_until(stop).await;
        tracing::info!("outpost-relay stopped");
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

fn check_config(file: &Path, json: bool) -> ExitCode {
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
                Ok(config) => json!({ "valid": true, "config": config }),
                Err(error) => json!({
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

/// Reads a password: the first line of standard input.
fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        bail!(
            "no password on standard input (pipe it in: `printf '%s\\n' \"$PASSWORD\" | outpost-relay user add ...`)"
        );
    }
    Ok(password)
}

fn user(action: UserAction, config_path: &Path, json: bool) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let path = config.users.file.as_path();
    let mut users = UsersFile::load(path)?;
    match action {
        UserAction::Add { address } => {
            let password = read_password()?;
            let existed = users.addresses().any(|existing| existing.eq_ignore_ascii_case(&address));
            users.set(&address, &password)?;
            users.save(path)?;
            let action = if existed { "password changed" } else { "added" };
            report(
                json,
                json!({ "ok": true, "user": address.to_ascii_lowercase(), "action": action }),
                &format!("{address}: {action}"),
            );
        }
        UserAction::Remove { address } => {
            users.remove(&address)?;
            users.save(path)?;
            report(
                json,
                json!({ "ok": true, "user": address.to_ascii_lowercase(), "action": "removed" }),
                &format!("{address}: removed"),
            );
        }
        UserAction::List => {
            let list: Vec<&str> = users.addresses().collect();
            report(json, json!({ "ok": true, "users": list }), &list.join("\n"));
        }
        UserAction::Check { address } => {
            let password = read_password()?;
            let accepted = Authenticator::new(path)?.check(&address, &password)? == Login::Accepted;
            let text = if accepted { "the password is right" } else { "wrong user or password" };
            report(json, json!({ "ok": accepted, "user": address.to_ascii_lowercase() }), text);
            if !accepted {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn dkim(action: DkimAction, config_path: &Path, json: bool) -> Result<ExitCode> {
    match action {
        DkimAction::Generate { domain, selector, algorithm, key_file } => {
            let algorithm = match algorithm {
                Algorithm::Rsa => DkimAlgorithm::RsaSha256,
                Algorithm::Ed25519 => DkimAlgorithm::Ed25519Sha256,
            };
            let domain: outpost_relay_config::DomainName =
                domain.parse().map_err(anyhow::Error::msg)?;
            let selector: outpost_relay_config::Selector =
                selector.parse().map_err(anyhow::Error::msg)?;
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
            print_record(
                json,
                &domain.to_string(),
                &selector.to_string(),
                algorithm,
                &key_file,
                &generated.txt,
            );
        }
        DkimAction::Show => {
            let config = load_config(config_path)?;
            let mut records = Vec::new();
            for key in &config.dkim {
                let path = key.key_file.to_string();
                let text = std::fs::read_to_string(key.key_file.as_path())
                    .with_context(|| format!("reading {path}"))?;
                let txt = crate::dkim::txt_for(&text, key.algorithm, &path)?;
                records.push(record_json(
                    key.domain.as_str(),
                    key.selector.as_str(),
                    key.algorithm,
                    key.key_file.as_path(),
                    &txt,
                ));
                if !json {
                    print_record(
                        false,
                        key.domain.as_str(),
                        key.selector.as_str(),
                        key.algorithm,
                        key.key_file.as_path(),
                        &txt,
                    );
                }
            }
            if json {
                println!("{}", json!({ "ok": true, "records": records }));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn record_json(
    domain: &str,
    selector: &str,
    algorithm: DkimAlgorithm,
    key_file: &Path,
    txt: &str,
) -> serde_json::Value {
    json!({
        "name": format!("{selector}._domainkey.{domain}"),
        "domain": domain,
        "selector": selector,
        "algorithm": algorithm,
        "key_file": key_file,
        "txt": txt,
        "txt_strings": crate::dkim::split_txt(txt),
    })
}

fn print_record(
    json: bool,
    domain: &str,
    selector: &str,
    algorithm: DkimAlgorithm,
    key_file: &Path,
    txt: &str,
) {
    if json {
        println!(
            "{}",
            json!({ "ok": true, "record": record_json(domain, selector, algorithm, key_file, txt) })
        );
        return;
    }
    println!("{selector}._domainkey.{domain}  TXT");
    println!("  whole value: {txt}");
    let strings: Vec<String> =
        crate::dkim::split_txt(txt).iter().map(|part| format!("\"{part}\"")).collect();
    println!("  as 255-byte strings: {}", strings.join(" "));
    println!("  private key: {}", key_file.display());
}

fn lookup(names: &[String], json: bool) -> Result<ExitCode> {
    use hickory_resolver::Resolver;
    use hickory_resolver::proto::rr::RData;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let results = runtime.block_on(async {
        let mut options = hickory_resolver::config::ResolverOpts::default();
        options.timeout = std::time::Duration::from_secs(4);
        options.attempts = 2;
        // Ask again every time: a listing may have just changed.
        options.cache_size = 0;
        let resolver = Resolver::builder_tokio()
            .map_err(|error| anyhow::anyhow!("cannot read /etc/resolv.conf: {error}"))?
            .with_options(options)
            .build()
            .map_err(|error| anyhow::anyhow!("cannot set up DNS: {error}"))?;
        let mut results = Vec::new();
        for name in names {
            let fqdn = format!("{}.", name.trim_end_matches('.'));
            let result = match resolver.ipv4_lookup(fqdn.as_str()).await {
                Ok(lookup) => {
                    let answers: Vec<String> = lookup
                        .answers()
                        .iter()
                        .filter_map(|record| match &record.data {
                            RData::A(address) => Some(address.0.to_string()),
                            _ => None,
                        })
                        .collect();
                    json!({ "name": name, "outcome": "answer", "answers": answers })
                }
                Err(error) if error.is_nx_domain() || error.is_no_records_found() => {
                    json!({ "name": name, "outcome": "nxdomain", "answers": [] })
                }
                Err(error) => json!({ "name": name, "outcome": "error", "answers": [], "detail": error.to_string() }),
            };
            results.push(result);
        }
        anyhow::Ok(results)
    })?;
    if json {
        println!("{}", json!({ "ok": true, "results": results }));
    } else {
        for result in &results {
            let answers = result["answers"].as_array().map(|answers| {
                answers.iter().filter_map(|answer| answer.as_str()).collect::<Vec<_>>().join(", ")
            });
            match result["outcome"].as_str() {
                Some("answer") => println!(
                    "{}: {}",
                    result["name"].as_str().unwrap_or(""),
                    answers.unwrap_or_default()
                ),
                Some("nxdomain") => {
                    println!("{}: no such name", result["name"].as_str().unwrap_or(""))
                }
                _ => println!(
                    "{}: lookup failed ({})",
                    result["name"].as_str().unwrap_or(""),
                    result["detail"].as_str().unwrap_or("")
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(config_path: &Path, json: bool) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let path = config
        .tls
        .state_dir
        .as_path()
        .parent()
        .map(|dir| dir.join(crate::server::STATUS_FILE))
        .context("the TLS state directory has no parent")?;
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("the relay has not written {} (is it running?)", path.display())
    })?;
    let status: crate::server::Status =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let age =
        crate::clock::unix_seconds(std::time::SystemTime::now()).saturating_sub(status.updated);
    let running = age < 10 && Path::new(&format!("/proc/{}", status.pid)).exists();
    if json {
        let mut value = serde_json::to_value(&status)?;
        value["running"] = json!(running);
        value["ok"] = json!(true);
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "outpost-relay {}: {}",
        status.version,
        if running { "running" } else { "NOT running (status is stale)" }
    );
    for (name, address) in &status.listeners {
        println!("  listening on {address} ({name})");
    }
    for certificate in &status.certificates {
        let kind = if certificate.self_signed {
            " — self-signed: mail clients will warn until a real certificate is set up"
        } else {
            ""
        };
        println!(
            "  certificate for {} until {}{kind}",
            certificate.names.join(", "),
            certificate.not_after
        );
    }
    println!("  queued messages: {}", status.queued);
    for delivery in status.recent_deliveries.iter().rev().take(10) {
        let record = &delivery.record;
        println!(
            "  {} → {}: {:?} via {} [{}] {} — {}",
            delivery.id,
            delivery.recipient,
            record.outcome,
            record.host.as_deref().unwrap_or("-"),
            record.ip.as_deref().unwrap_or("-"),
            record.tls_version.as_deref().unwrap_or("no TLS"),
            record.reply
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn queue(action: QueueAction, config_path: &Path, json: bool) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let spool = Spool::open(config.queue.dir.as_path())?;
    let items = spool.load()?;
    match action {
        QueueAction::List => {
            if json {
                println!("{}", json!({ "ok": true, "items": items }));
            } else if items.is_empty() {
                println!("the queue is empty");
            } else {
                for item in &items {
                    let pending: Vec<&str> = item
                        .recipients
                        .iter()
                        .filter(|r| r.status == RecipientStatus::Pending)
                        .map(|r| r.address.as_str())
                        .collect();
                    println!(
                        "{}  from <{}>  attempts {}  waiting for {}",
                        item.id,
                        item.from,
                        item.attempts,
                        pending.join(", ")
                    );
                }
            }
        }
        QueueAction::Show { id } => {
            let item = find(&items, &id)?;
            if json {
                println!("{}", json!({ "ok": true, "item": item }));
            } else {
                println!(
                    "{}  from <{}>  accepted {}  attempts {}",
                    item.id, item.from, item.created, item.attempts
                );
                for recipient in &item.recipients {
                    println!("  {}: {:?}", recipient.address, recipient.status);
                    for record in &recipient.records {
                        println!(
                            "    {} {:?} {} [{}] {} — {}",
                            record.at,
                            record.outcome,
                            record.host.as_deref().unwrap_or("-"),
                            record.ip.as_deref().unwrap_or("-"),
                            record.tls_version.as_deref().unwrap_or("no TLS"),
                            record.reply
                        );
                    }
                }
            }
        }
        QueueAction::Retry { id } => {
            find(&items, &id)?;
            std::fs::write(spool.dir().join(format!("{id}.retry")), b"")
                .context("asking the relay to retry")?;
            report(
                json,
                json!({ "ok": true, "id": id }),
                &format!("{id}: the relay will try again within a second"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn find<'a>(items: &'a [Item], id: &str) -> Result<&'a Item> {
    items
        .iter()
        .find(|item| item.id == id)
        .with_context(|| format!("no queued message {id} (it may have been delivered)"))
}

fn report(json: bool, value: serde_json::Value, text: &str) {
    if json {
        println!("{value}");
    } else if !text.is_empty() {
        println!("{text}");
    }
}
