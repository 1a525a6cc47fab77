//! Load benchmark of the relay binary: `cargo bench -p outpost-relay --bench load` (or
//! `scripts/bench-relay`, which also raises the file limit and builds the carried binary).
//!
//! It starts the real `outpost-relay serve` as its own process (so its CPU time and memory can
//! be read from /proc), with DKIM signing and fsync on, delivering to a sink SMTP server on
//! loopback found through a DNS server on loopback. Then, with 8 concurrent clients:
//! - new session per message: connect, EHLO, STARTTLS, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT
//!   (how apps and Gmail's "Send mail as" connect);
//! - reused sessions: one authenticated session per client, many messages each;
//! - 1,000 idle TLS sessions held open on port 465;
//! - inbound (port 25): mail from example.net, DKIM-signed by it, to a catch-all at example.com,
//!   forwarded to the sink — with the SPF, DKIM, DMARC and DNSBL checks asked of the DNS server
//!   on loopback, SRS, Authentication-Results and an ARC seal; then 1,000 idle inbound sessions
//!   (STARTTLS and EHLO each);
//! - a flood of wrong-password logins: 300 at once, each from its own loopback address, with the
//!   relay's memory and threads sampled throughout and a new client timed in the middle of it.
//!
//! Environment: `RELAY_BIN` (default: the binary cargo built for this bench), `MESSAGES`
//! (default 2000 per mode), `CLIENTS` (default 8), `ARC=false` (inbound mail forwarded without
//! its ARC seal, to see what the seal costs), `FSYNC_DELAY_MS=2` (durability only: the relay runs
//! under `strace`, which adds that delay to every fsync and fdatasync — a VPS's network disk —
//! and counts them; only the submission figures are measured).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const HOST: &str = "mail.example.com";
const USER: &str = "bench@example.com";
const PASSWORD: &str = "a long benchmark password";

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Failure> {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Failure> {
    let messages: usize =
        std::env::var("MESSAGES").ok().and_then(|value| value.parse().ok()).unwrap_or(2000);
    let clients: usize =
        std::env::var("CLIENTS").ok().and_then(|value| value.parse().ok()).unwrap_or(8);
    let relay_bin = std::env::var("RELAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_outpost-relay")));
    let directory = tempfile::tempdir()?;
    let root = directory.path();

    let sink = start_sink().await?;
    // example.net: the sink's domain, and the sending domain of the inbound mail.
    let sender_key = outpost_relay::dkim::generate(outpost_relay_config::DkimAlgorithm::RsaSha256)?;
    let dns = start_dns(sink.ip(), &sender_key.txt).await?;
    let key = outpost_relay::dkim::generate(outpost_relay_config::DkimAlgorithm::RsaSha256)?;
    outpost_relay::dkim::write_new_key(&root.join("dkim.pem"), &key.private_pem)?;
    let mut users = outpost_relay::users::UsersFile::default();
    users.set(USER, PASSWORD)?;
    users.save(&root.join("users"))?;
    let (submission, submissions, inbound) = (free_port()?, free_port()?, free_port()?);
    std::fs::write(root.join("aliases"), "*@example.com: sink@example.net\n")?;
    let config = root.join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhostname = \"{HOST}\"\ndomains = [\"example.com\"]\n\
             [listeners]\nsubmission = [\"127.0.0.1:{submission}\"]\nsubmissions = [\"127.0.0.1:{submissions}\"]\n\
             inbound = [\"127.0.0.1:{inbound}\"]\n\
             [tls]\nstate_dir = \"{root}/state/tls\"\n[users]\nfile = \"{root}/users\"\n\
             [[dkim]]\ndomain = \"example.com\"\nselector = \"bench\"\nkey_file = \"{root}/dkim.pem\"\n\
             [queue]\ndir = \"{root}/queue\"\nmax_messages = 1000000\n\
             [limits]\nmax_connections = 5000\nconnections_per_address = 5000\nmessages_per_user_per_hour = 10000000\n\
             [inbound]\nowner = \"owner@example.net\"\naliases_file = \"{root}/aliases\"\n\
             srs_secrets_file = \"{root}/srs-secrets\"\nblocklists = [\"zen.example.net\"]\n\
             messages_per_address_per_hour = 100000000\narc = {arc}\n\
             [log]\nlevel = \"warn\"\n\
             [dns]\nresolvers = [\"{dns}\"]\n[delivery]\nport = {port}\nipv6 = false\n",
            root = root.display(),
            port = sink.port(),
            arc = std::env::var("ARC").map_or(true, |value| value != "false"),
        ),
    )?;
    let fsync_delay: Option<u64> =
        std::env::var("FSYNC_DELAY_MS").ok().and_then(|value| value.parse().ok());
    let fsync_log = root.join("fsync.log");
    let start = || -> Result<Relay, Failure> {
        let mut command = match fsync_delay {
            // strace's fault injection: every fsync/fdatasync returns `delay` ms late; nothing
            // else is stopped (seccomp-bpf filters the rest).
            Some(delay) => {
                let mut command = Command::new("strace");
                command
                    .args(["-f", "-qq", "--seccomp-bpf", "-e", "trace=fsync,fdatasync", "-e"])
                    .arg(format!("inject=fsync,fdatasync:delay_exit={}", delay * 1000))
                    .arg("-o")
                    .arg(&fsync_log)
                    .arg("--")
                    .arg(&relay_bin);
                command
            }
            None => Command::new(&relay_bin),
        };
        // The service's environment, as the unit gives it.
        for line in include_str!("../etc/outpost-relay.service").lines() {
            if let Some((name, value)) =
                line.strip_prefix("Environment=").and_then(|setting| setting.split_once('='))
            {
                command.env(name, value);
            }
        }
        let relay = command
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        // Ended however the benchmark ends, before its directory goes.
        Ok(Relay(relay))
    };
    let relay = start()?;
    wait_for_port(submission).await?;
    // Under strace, the relay is strace's child.
    let pid = match fsync_delay {
        Some(_) => std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", relay.0.id()))?
            .split_whitespace()
            .next()
            .ok_or("strace has no child")?
            .parse()?,
        None => relay.0.id(),
    };
    let certificate = std::fs::read(root.join("state/tls/self-signed.pem"))?;
    let connector = connector(&certificate)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_kib(pid)?;

    println!(
        "outpost-relay load benchmark: {} ({} bytes), {clients} clients, {messages} messages per mode",
        relay_bin.display(),
        std::fs::metadata(&relay_bin)?.len()
    );
    println!(
        "(DKIM RSA-2048 signing on, fsync on, delivery to a sink on loopback; client on the same machine)\n"
    );
    println!("| mode | msg/s | p50 ms | p99 ms | server CPU ms/msg |");
    println!("|---|---|---|---|---|");
    // A warm-up, so one-off costs (first AUTH's argon2, lazy setup) are not in the figures.
    measure(pid, 1, 1, submission, &connector, false).await?;
    for (name, reuse) in [("new session per message", false), ("reused sessions", true)] {
        let result = measure(pid, clients, messages, submission, &connector, reuse).await?;
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {:.2} |",
            result.rate, result.p50, result.p99, result.cpu_ms_per_message
        );
    }
    // Let deliveries drain before the idle-sessions figure.
    wait_for_empty_queue(&root.join("queue"), Duration::from_secs(120)).await;
    if let Some(delay) = fsync_delay {
        let syncs = std::fs::read_to_string(&fsync_log)?
            .lines()
            .filter(|line| line.contains("fsync(") || line.contains("fdatasync("))
            .count();
        println!(
            "\n{delay} ms added to each fsync; {syncs} fsyncs for {} messages accepted and delivered: {:.2} per message",
            2 * messages + 1,
            syncs as f64 / (2 * messages + 1) as f64
        );
        return Ok(());
    }
    let held = hold_idle_sessions(1000, submissions, &connector).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy_rss = rss_kib(pid)?;
    println!("\n| memory | RSS |\n|---|---|");
    println!("| idle | {:.1} MB |", idle_rss as f64 / 1024.0);
    println!("| {} idle TLS sessions | {:.1} MB |", held.len(), busy_rss as f64 / 1024.0);
    drop(held);

    let flood = auth_flood(pid, 300, submissions, &connector).await?;
    println!(
        "\n| {} wrong-password logins at once, from {} addresses | |\n|---|---|",
        flood.attempts, flood.attempts
    );
    println!("| peak RSS during the flood | {:.1} MB |", flood.peak_rss_kib as f64 / 1024.0);
    println!("| peak threads | {} |", flood.peak_threads);
    println!("| RSS 2 s after | {:.1} MB |", flood.after_rss_kib as f64 / 1024.0);
    println!("| a new client's greeting during the flood | {:.0} ms |", flood.greeting_ms);
    println!(
        "| replies: 535 / 454 / other | {} / {} / {} |",
        flood.refused, flood.busy, flood.other
    );

    // Inbound: what the world sends to the user's domain, checked and forwarded — in a relay
    // started afresh, so its memory figure is not the flood's (glibc keeps freed memory).
    drop(relay);
    let relay = start()?;
    let pid = relay.0.id();
    wait_for_port(inbound).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_idle = rss_kib(pid)?;
    let held = hold_idle_inbound(1000, inbound, &connector).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let inbound_rss = rss_kib(pid)?;
    println!(
        "\n| memory, a fresh relay | RSS |\n|---|---|\n| idle | {:.1} MB |\n| {} idle inbound sessions (STARTTLS + EHLO) | {:.1} MB |",
        before_idle as f64 / 1024.0,
        held.len(),
        inbound_rss as f64 / 1024.0,
    );
    drop(held);
    let signer = outpost_relay::dkim::Signer::load(&[outpost_relay_config::DkimKey {
        domain: "example.net".parse()?,
        selector: "sender".parse()?,
        algorithm: outpost_relay_config::DkimAlgorithm::RsaSha256,
        key_file: {
            let path = root.join("sender.pem");
            std::fs::write(&path, &sender_key.private_pem)?;
            path.to_str().ok_or("a UTF-8 path")?.parse()?
        },
    }])?;
    // Signed beforehand: the sender's signing is not the relay's work, nor in its figures.
    let mail: Arc<Vec<String>> = Arc::new(
        (0..messages + clients)
            .map(|number| {
                let message = format!(
                    "From: Alice <alice@example.net>\r\nTo: friend{number}@example.com\r\nSubject: inbound {number}\r\n\
                     Date: Wed, 02 Dec 2026 12:00:00 +0000\r\nMessage-ID: <{number}@example.net>\r\n\r\n{}\r\n",
                    "A typical short personal message body. ".repeat(20)
                );
                let signature = signer.sign("example.net", message.as_bytes())?;
                Ok(format!("{signature}{message}"))
            })
            .collect::<Result<_, Failure>>()?,
    );
    measure_inbound(pid, 1, 1, inbound, &connector, &mail, true).await?;
    let arc = if std::env::var("ARC").is_ok_and(|value| value == "false") { "off" } else { "seal" };
    println!(
        "\n| inbound, {clients} senders (SPF + DKIM + DMARC + DNSBL, SRS, ARC {arc}, forwarded) | msg/s | p50 ms | p99 ms | server CPU ms/msg |"
    );
    println!("|---|---|---|---|---|");
    for (name, reuse) in [("new session per message", false), ("reused sessions", true)] {
        let result =
            measure_inbound(pid, clients, messages, inbound, &connector, &mail, reuse).await?;
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {:.2} |",
            result.rate, result.p50, result.p99, result.cpu_ms_per_message
        );
    }
    drop(relay);
    Ok(())
}

/// The relay process (or strace, with the relay its child), ended by PID when dropped.
struct Relay(std::process::Child);

impl Drop for Relay {
    fn drop(&mut self) {
        // strace leaves its tracee running when it is killed: end the relay first.
        let children = format!("/proc/{0}/task/{0}/children", self.0.id());
        if let Ok(children) = std::fs::read_to_string(children) {
            for child in children.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", child]).status();
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Measured {
    rate: f64,
    p50: f64,
    p99: f64,
    cpu_ms_per_message: f64,
}

async fn measure(
    pid: u32,
    clients: usize,
    messages: usize,
    port: u16,
    connector: &tokio_rustls::TlsConnector,
    reuse: bool,
) -> Result<Measured, Failure> {
    let cpu_before = cpu_ms(pid)?;
    let started = Instant::now();
    let per_client = messages.div_ceil(clients);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let connector = connector.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            if reuse {
                let mut session = Session::open(port, &connector).await?;
                for number in 0..per_client {
                    let begun = Instant::now();
                    session.send_message(client, number).await?;
                    latencies.push(begun.elapsed());
                }
                session.quit().await?;
            } else {
                for number in 0..per_client {
                    let begun = Instant::now();
                    let mut session = Session::open(port, &connector).await?;
                    session.send_message(client, number).await?;
                    session.quit().await?;
                    latencies.push(begun.elapsed());
                }
            }
            Ok::<_, Failure>(latencies)
        }));
    }
    summarize(pid, cpu_before, started, tasks).await
}

/// The clients' latencies, rate and the relay's CPU per message, once every client is done.
async fn summarize(
    pid: u32,
    cpu_before: f64,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<Result<Vec<Duration>, Failure>>>,
) -> Result<Measured, Failure> {
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    let cpu = cpu_ms(pid)? - cpu_before;
    latencies.sort();
    let percentile = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    Ok(Measured {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(0.50),
        p99: percentile(0.99),
        cpu_ms_per_message: cpu / latencies.len() as f64,
    })
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Sending servers on port 25 (STARTTLS, no AUTH): a session per message, or one per client
/// for all its messages.
async fn measure_inbound(
    pid: u32,
    clients: usize,
    messages: usize,
    port: u16,
    connector: &tokio_rustls::TlsConnector,
    mail: &Arc<Vec<String>>,
    reuse: bool,
) -> Result<Measured, Failure> {
    let cpu_before = cpu_ms(pid)?;
    let started = Instant::now();
    let per_client = messages.div_ceil(clients);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (connector, mail) = (connector.clone(), mail.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            let mut session: Option<Session> = None;
            for number in 0..per_client {
                let index = (client * per_client + number) % mail.len();
                let begun = Instant::now();
                let mut open = match session.take() {
                    Some(open) => open,
                    None => Session::starttls(port, &connector).await?,
                };
                let to = format!("friend{index}@example.com");
                open.transaction("alice@example.net", &to, &mail[index]).await?;
                if reuse {
                    session = Some(open);
                } else {
                    open.quit().await?;
                }
                latencies.push(begun.elapsed());
            }
            if let Some(open) = session {
                open.quit().await?;
            }
            Ok::<_, Failure>(latencies)
        }));
    }
    summarize(pid, cpu_before, started, tasks).await
}

/// `count` sending servers that said EHLO after STARTTLS on port 25, then nothing more.
async fn hold_idle_inbound(
    count: usize,
    port: u16,
    connector: &tokio_rustls::TlsConnector,
) -> Result<Vec<Session>, Failure> {
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        held.push(Session::starttls(port, connector).await?);
    }
    Ok(held)
}

/// An authenticated submission session (587, STARTTLS, AUTH PLAIN), or a sending server's
/// session on port 25 (STARTTLS, no AUTH).
struct Session {
    stream: BufReader<Box<dyn Io>>,
}

impl Session {
    async fn open(port: u16, connector: &tokio_rustls::TlsConnector) -> Result<Session, Failure> {
        let mut session = Session::starttls(port, connector).await?;
        use base64::Engine;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASSWORD}"));
        session
            .stream
            .get_mut()
            .write_all(format!("AUTH PLAIN {credentials}\r\n").as_bytes())
            .await?;
        expect(&mut session.stream, "235").await?;
        Ok(session)
    }

    /// Connected, encrypted with STARTTLS, and greeted again with EHLO.
    async fn starttls(
        port: u16,
        connector: &tokio_rustls::TlsConnector,
    ) -> Result<Session, Failure> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        let mut plain = BufReader::new(tcp);
        expect(&mut plain, "220").await?;
        plain.get_mut().write_all(b"EHLO bench.example\r\n").await?;
        expect(&mut plain, "250").await?;
        plain.get_mut().write_all(b"STARTTLS\r\n").await?;
        expect(&mut plain, "220").await?;
        let tls = connector.connect(HOST.try_into()?, plain.into_inner()).await?;
        let mut stream: BufReader<Box<dyn Io>> = BufReader::new(Box::new(tls));
        stream.get_mut().write_all(b"EHLO bench.example\r\n").await?;
        expect(&mut stream, "250").await?;
        Ok(Session { stream })
    }

    /// One message: the envelope pipelined, then the (already dot-safe) message after 354.
    async fn transaction(&mut self, from: &str, to: &str, message: &str) -> Result<(), Failure> {
        self.stream
            .get_mut()
            .write_all(format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n").as_bytes())
            .await?;
        expect(&mut self.stream, "250").await?;
        expect(&mut self.stream, "250").await?;
        expect(&mut self.stream, "354").await?;
        self.stream.get_mut().write_all(message.as_bytes()).await?;
        self.stream.get_mut().write_all(b".\r\n").await?;
        expect(&mut self.stream, "250").await?;
        Ok(())
    }

    async fn send_message(&mut self, client: usize, number: usize) -> Result<(), Failure> {
        let body = format!(
            "From: Bench <{USER}>\r\nTo: sink@example.net\r\nSubject: load {client}-{number}\r\n\
             Date: Sun, 29 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{client}.{number}@example.com>\r\n\r\n{}\r\n.\r\n",
            "A typical short transactional message body. ".repeat(20)
        );
        // PIPELINING: envelope in one write, then the body after 354.
        self.stream
            .get_mut()
            .write_all(
                format!("MAIL FROM:<{USER}>\r\nRCPT TO:<sink@example.net>\r\nDATA\r\n").as_bytes(),
            )
            .await?;
        expect(&mut self.stream, "250").await?;
        expect(&mut self.stream, "250").await?;
        expect(&mut self.stream, "354").await?;
        self.stream.get_mut().write_all(body.as_bytes()).await?;
        expect(&mut self.stream, "250").await?;
        Ok(())
    }

    async fn quit(mut self) -> Result<(), Failure> {
        self.stream.get_mut().write_all(b"QUIT\r\n").await?;
        expect(&mut self.stream, "221").await?;
        Ok(())
    }
}

/// Reads one reply (all its lines) and checks its code.
async fn expect<S: AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
    code: &str,
) -> Result<(), Failure> {
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Err(format!("the relay closed the connection while {code} was expected").into());
        }
        if !line.starts_with(code) {
            return Err(format!("expected {code}, got {line:?}").into());
        }
        if line.as_bytes().get(3) == Some(&b' ') {
            return Ok(());
        }
    }
}

async fn hold_idle_sessions(
    count: usize,
    port: u16,
    connector: &tokio_rustls::TlsConnector,
) -> Result<Vec<Box<dyn Io>>, Failure> {
    let mut held: Vec<Box<dyn Io>> = Vec::with_capacity(count);
    for _ in 0..count {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let tls = connector.connect(HOST.try_into()?, tcp).await?;
        let mut stream = BufReader::new(tls);
        expect(&mut stream, "220").await?;
        stream.get_mut().write_all(b"EHLO idle.example\r\n").await?;
        expect(&mut stream, "250").await?;
        held.push(Box::new(stream.into_inner()));
    }
    Ok(held)
}

fn connector(certificate: &[u8]) -> Result<tokio_rustls::TlsConnector, Failure> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(certificate) {
        roots.add(certificate?)?;
    }
    let config =
        rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A sink mail server: says yes to everything, reads DATA to its end.
async fn start_sink() -> Result<SocketAddr, Failure> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let _ = stream.get_mut().write_all(b"220 sink ESMTP\r\n").await;
                let mut line = String::new();
                let mut in_data = false;
                loop {
                    line.clear();
                    match stream.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let reply: &[u8] = if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            b"250 2.0.0 ok\r\n"
                        } else {
                            continue;
                        }
                    } else {
                        match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                            Some("EHLO") => b"250-sink\r\n250 PIPELINING\r\n",
                            Some("DATA") => {
                                in_data = true;
                                b"354 go\r\n"
                            }
                            Some("QUIT") => {
                                let _ = stream.get_mut().write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        }
                    };
                    if stream.get_mut().write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(address)
}

/// A DNS server: example.net's MX is the sink; example.net sends the inbound mail (SPF allows
/// loopback, its DKIM key is `sender`, DMARC `p=reject`); `zen.example.net` is a blocklist that
/// lists nobody.
async fn start_dns(sink: std::net::IpAddr, dkim_txt: &str) -> Result<SocketAddr, Failure> {
    use hickory_server::net::runtime::TokioRuntimeProvider;
    use hickory_server::proto::rr::rdata::{A, MX, SOA, TXT};
    use hickory_server::proto::rr::{LowerName, Name, RData, Record};
    use hickory_server::store::in_memory::InMemoryZoneHandler;
    use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
    let origin = Name::from_str("example.net.")?;
    let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
    );
    let soa = SOA::new(
        Name::from_str("ns.example.net.")?,
        Name::from_str("root.example.net.")?,
        1,
        3600,
        600,
        86400,
        60,
    );
    zone.upsert_mut(Record::from_rdata(origin.clone(), 300, RData::SOA(soa)), 1);
    zone.upsert_mut(
        Record::from_rdata(
            origin.clone(),
            300,
            RData::MX(MX::new(10, Name::from_str("mx.example.net.")?)),
        ),
        1,
    );
    let text = |name: &str, value: &str| -> Result<Record, Failure> {
        // At most 255 bytes per string, as DNS requires (a 2048-bit key is longer).
        let parts = value.as_bytes().chunks(255).map(|part| String::from_utf8_lossy(part).into());
        Ok(Record::from_rdata(Name::from_str(name)?, 300, RData::TXT(TXT::new(parts.collect()))))
    };
    zone.upsert_mut(text("example.net.", "v=spf1 ip4:127.0.0.0/8 -all")?, 1);
    zone.upsert_mut(text("sender._domainkey.example.net.", dkim_txt)?, 1);
    zone.upsert_mut(text("_dmarc.example.net.", "v=DMARC1; p=reject")?, 1);
    let std::net::IpAddr::V4(sink) = sink else { return Err("the sink is on IPv4".into()) };
    zone.upsert_mut(
        Record::from_rdata(Name::from_str("mx.example.net.")?, 300, RData::A(A(sink))),
        1,
    );
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    // The TCP port of the UDP port's number may be taken (a listener, a connection's own end):
    // a few are tried (bounded), as the tests' DNS server does.
    let mut sockets = None;
    for _ in 0..50 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => {
                sockets = Some((udp, tcp));
                break;
            }
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(error) => return Err(error.into()),
        }
    }
    let (udp, tcp) = sockets.ok_or("no port free for both UDP and TCP in 50 tries")?;
    let address = udp.local_addr()?;
    let mut server = hickory_server::Server::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 4096);
    // Kept running for the whole benchmark.
    std::mem::forget(server);
    Ok(address)
}

fn free_port() -> Result<u16, Failure> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_for_port(port: u16) -> Result<(), Failure> {
    for _ in 0..500 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("the relay did not listen on {port}").into())
}

async fn wait_for_empty_queue(directory: &std::path::Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let left = std::fs::read_dir(directory).map(|entries| entries.count()).unwrap_or(0);
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The process's user + system CPU time in milliseconds (/proc/PID/stat, fields 14 and 15).
fn cpu_ms(pid: u32) -> Result<f64, Failure> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = &stat[stat.rfind(')').ok_or("odd /proc stat")? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // USER_HZ is 100 on Linux.
    Ok(ticks * 10.0)
}

struct Flood {
    attempts: usize,
    peak_rss_kib: u64,
    peak_threads: u64,
    after_rss_kib: u64,
    greeting_ms: f64,
    refused: usize,
    busy: usize,
    other: usize,
}

/// `count` clients, each from its own address in 127.0.1.0/24 and up, try a wrong password at
/// the same moment; the relay's memory and threads are sampled meanwhile, and a new client from
/// yet another address is timed to its greeting.
async fn auth_flood(
    pid: u32,
    count: usize,
    port: u16,
    connector: &tokio_rustls::TlsConnector,
) -> Result<Flood, Failure> {
    use base64::Engine;
    let address = |index: usize| -> std::net::IpAddr {
        std::net::Ipv4Addr::new(127, 0, 1 + (index / 250) as u8, 1 + (index % 250) as u8).into()
    };
    let connect = |from: std::net::IpAddr| async move {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await
    };
    // Every client logs in up to the point of AUTH, then all send it together.
    let start = Arc::new(tokio::sync::Barrier::new(count + 1));
    let mut clients = Vec::new();
    for index in 0..count {
        let (connector, start) = (connector.clone(), start.clone());
        let tcp = connect(address(index)).await?;
        clients.push(tokio::spawn(async move {
            let tls = connector.connect(HOST.try_into()?, tcp).await?;
            let mut stream = BufReader::new(tls);
            expect(&mut stream, "220").await?;
            stream.get_mut().write_all(b"EHLO flood.example\r\n").await?;
            expect(&mut stream, "250").await?;
            start.wait().await;
            let guess = base64::engine::general_purpose::STANDARD
                .encode(format!("\0{USER}\0guess {index}"));
            stream.get_mut().write_all(format!("AUTH PLAIN {guess}\r\n").as_bytes()).await?;
            let mut line = String::new();
            stream.read_line(&mut line).await?;
            Ok::<String, Failure>(line)
        }));
    }
    start.wait().await;
    let sampling = tokio::spawn(async move {
        let (mut rss, mut threads) = (0, 0);
        for _ in 0..150 {
            rss = rss.max(rss_kib(pid).unwrap_or(0));
            threads = threads.max(threads_of(pid).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (rss, threads)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    let tcp = connect(address(count + 10)).await?;
    let mut newcomer = BufReader::new(connector.connect(HOST.try_into()?, tcp).await?);
    expect(&mut newcomer, "220").await?;
    let greeting_ms = asked.elapsed().as_secs_f64() * 1000.0;
    let (mut refused, mut busy, mut other) = (0, 0, 0);
    for client in clients {
        match client.await?? {
            line if line.starts_with("535") => refused += 1,
            line if line.starts_with("454") => busy += 1,
            _ => other += 1,
        }
    }
    let (peak_rss_kib, peak_threads) = sampling.await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Flood {
        attempts: count,
        peak_rss_kib,
        peak_threads,
        after_rss_kib: rss_kib(pid)?,
        greeting_ms,
        refused,
        busy,
        other,
    })
}

/// Threads of a process (/proc/PID/status Threads).
fn threads_of(pid: u32) -> Result<u64, Failure> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|line| line.starts_with("Threads:")).ok_or("no Threads")?;
    Ok(line.split_whitespace().nth(1).ok_or("odd Threads")?.parse()?)
}

/// Resident memory in KiB (/proc/PID/status VmRSS).
fn rss_kib(pid: u32) -> Result<u64, Failure> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).ok_or("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("odd VmRSS")?.parse()?)
}
