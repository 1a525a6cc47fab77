//! One SMTP conversation (RFC 5321) on a submission port: greeting, EHLO, STARTTLS, AUTH, the
//! envelope and DATA, replies with enhanced status codes (RFC 3463). The numbers in comments
//! are items of `relay-conformance.md`.
//!
//! A session never delivers: an accepted message goes to the queue, and only once the queue
//! has it on disk does the client hear `250`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio_rustls::TlsAcceptor;

use crate::connection::{Connection, ReadError, TlsInfo};
use crate::data::{self, HeaderProblem};
use crate::dkim::Signer;
use crate::envelope::{self, AddressError};
use crate::limits::{AuthThrottle, SendRate};
use crate::queue::{self, PutError, Queue};
use crate::users::{Authenticator, Login};

/// RFC 5321 §4.5.3.2.7: the server waits at least five minutes for a command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest command line, without its CRLF (1). RFC 5321 §4.5.3.1.4 says 512 octets;
/// like chasquid we allow the 1000 of a text line.
pub const MAX_LINE: usize = 1000;
/// Error replies before the session is closed (8).
pub const MAX_ERRORS: u32 = 3;

/// The listener a session came in on; its mode decides the session's policy.
pub use outpost_relay_api::ListenerMode;

/// What every session shares.
pub struct Context {
    /// The greeting and EHLO name.
    pub hostname: String,
    /// The domains the relay signs and sends for.
    pub local_domains: Vec<String>,
    /// The largest message.
    pub max_message_size: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// For STARTTLS (and port 465).
    pub tls: TlsAcceptor,
    /// Checks logins.
    pub authenticator: Arc<Authenticator>,
    /// Signs local mail.
    pub signer: Arc<Signer>,
    /// Where accepted mail goes.
    pub queue: Arc<Queue>,
    /// Slows down and blocks password guessing (49).
    pub throttle: AuthThrottle,
    /// Per-user sending limit (52).
    pub send_rate: SendRate,
    /// Cancelled when the relay stops: sessions say 421 and close.
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Context").field("hostname", &self.hostname).finish_non_exhaustive()
    }
}

impl Context {
    fn is_local(&self, domain: &str) -> bool {
        self.local_domains.iter().any(|local| local.eq_ignore_ascii_case(domain))
    }
}

/// A session's state.
struct Session {
    context: Arc<Context>,
    peer: SocketAddr,
    port: ListenerMode,
    connection: Connection,
    helo: Option<String>,
    user: Option<String>,
    tls: Option<TlsInfo>,
    mail_from: Option<String>,
    recipients: Vec<String>,
    errors: u32,
    commands: u32,
    messages: u32,
}

/// Why the session ends.
enum End {
    /// QUIT, or the client went away.
    Done,
    /// We closed it, having said why.
    Closed,
    /// The relay is stopping.
    Shutdown,
}

/// Runs a session to its end.
pub async fn run(
    context: Arc<Context>,
    connection: Connection,
    peer: SocketAddr,
    port: ListenerMode,
) {
    let tls = connection.tls_info();
    let mut session = Session {
        context,
        peer,
        port,
        connection,
        helo: None,
        user: None,
        tls,
        mail_from: None,
        recipients: Vec::new(),
        errors: 0,
        commands: 0,
        messages: 0,
    };
    let started = std::time::Instant::now();
    let shutdown = session.context.shutdown.clone();
    let end = tokio::select! {
        end = session.serve() => end,
        _ = shutdown.cancelled() => End::Shutdown,
    };
    if matches!(end, End::Shutdown) {
        let _ =
            session.reply(421, "4.3.2", "the server is restarting; try again in a moment").await;
    }
    session.connection.shutdown().await;
    tracing::info!(
        peer = %session.peer, port = ?session.port, user = session.user.as_deref().unwrap_or("-"),
        tls = session.tls.as_ref().map_or("none", |tls| tls.version.as_str()), messages = session.messages,
        commands = session.commands, seconds = started.elapsed().as_secs_f32(),
        closed_by_us = !matches!(end, End::Done), "session"
    );
}

impl Session {
    async fn serve(&mut self) -> End {
        // (1): on 465 the handshake is already done.
        if self
            .reply(220, "", &format!("{} ESMTP Outpost relay", self.context.hostname))
            .await
            .is_err()
        {
            return End::Done;
        }
        loop {
            let line = match self.connection.read_line(MAX_LINE).await {
                Ok(line) => line,
                Err(ReadError::TooLong) => {
                    // (7)
                    let _ = self.reply(500, "5.5.2", "line too long").await;
                    return End::Closed;
                }
                Err(ReadError::Timeout) => {
                    let _ = self.reply(421, "4.4.2", "timeout, closing").await;
                    return End::Closed;
                }
                Err(ReadError::Closed | ReadError::Io(_)) => return End::Done,
            };
            self.commands += 1;
            let (verb, argument) = line.split_once(' ').unwrap_or((&line, ""));
            let verb = verb.to_ascii_uppercase();
            let result = match verb.as_str() {
                "HELO" | "EHLO" => self.hello(&verb, argument.trim()).await,
                "STARTTLS" => self.starttls().await,
                "AUTH" => self.auth(argument.trim()).await,
                "MAIL" => self.mail(argument).await,
                "RCPT" => self.rcpt(argument).await,
                "DATA" => self.data().await,
                "RSET" => {
                    // (9)
                    self.reset();
                    self.reply(250, "2.0.0", "OK").await
                }
                "NOOP" => self.reply(250, "2.0.0", "OK").await,
                "HELP" => {
                    self.reply(214, "2.0.0", "See RFC 5321, or ask the people who run this server")
                        .await
                }
                // (5): no address disclosure.
                "VRFY" | "EXPN" => self.reply(502, "5.5.1", "not available").await,
                "QUIT" => {
                    // (10)
                    let _ = self.reply(221, "2.0.0", "Bye").await;
                    return End::Done;
                }
                // (6): a web browser or proxy talking to a mail port; nothing good can follow.
                "GET" | "POST" | "PUT" | "HEAD" | "CONNECT" | "OPTIONS" if self.commands == 1 => {
                    let _ =
                        self.reply(502, "5.5.1", "this is a mail server, not a web server").await;
                    return End::Closed;
                }
                // (4)
                _ => self.reply(500, "5.5.1", "unknown command").await,
            };
            match result {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => return End::Closed,
                Err(_) => return End::Done,
            }
            if self.errors >= MAX_ERRORS {
                // (8)
                let _ = self.reply(421, "4.5.0", "too many errors, closing").await;
                return End::Closed;
            }
        }
    }

    async fn reply(&mut self, code: u16, enhanced: &str, text: &str) -> std::io::Result<Flow> {
        if code >= 500 {
            self.errors += 1;
        }
        let line = if enhanced.is_empty() {
            format!("{code} {text}\r\n")
        } else {
            format!("{code} {enhanced} {text}\r\n")
        };
        self.connection.write(line.as_bytes()).await?;
        Ok(Flow::Continue)
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
    }

    async fn hello(&mut self, verb: &str, host: &str) -> std::io::Result<Flow> {
        if host.is_empty() {
            // (2)
            return self.reply(501, "5.5.4", &format!("{verb} needs your host name")).await;
        }
        self.reset();
        self.helo = Some(host.to_string());
        if verb == "HELO" {
            return self.reply(250, "", &self.context.hostname.clone()).await;
        }
        // (3): STARTTLS only in plain text, AUTH only inside TLS.
        let mut lines = vec![
            format!("{} greets {host}", self.context.hostname),
            format!("SIZE {}", self.context.max_message_size),
            "8BITMIME".into(),
            "PIPELINING".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if self.connection.is_tls() {
            lines.push("AUTH PLAIN LOGIN".into());
        } else {
            lines.push("STARTTLS".into());
        }
        let mut text = String::new();
        for (index, line) in lines.iter().enumerate() {
            let separator = if index + 1 == lines.len() { ' ' } else { '-' };
            text.push_str(&format!("250{separator}{line}\r\n"));
        }
        self.connection.write(text.as_bytes()).await?;
        Ok(Flow::Continue)
    }

    async fn starttls(&mut self) -> std::io::Result<Flow> {
        if self.connection.is_tls() {
            // (12)
            return self.reply(503, "5.5.1", "already using TLS").await;
        }
        self.reply(220, "2.0.0", "Ready to start TLS").await?;
        // (48): anything the client sent after STARTTLS, before the handshake, is discarded.
        let dropped = self.connection.discard_buffered();
        if dropped > 0 {
            tracing::warn!(peer = %self.peer, bytes = dropped, "discarded bytes pipelined after STARTTLS");
        }
        let acceptor = self.context.tls.clone();
        if let Err(error) = self.connection.start_tls(&acceptor, HANDSHAKE_TIMEOUT).await {
            tracing::info!(peer = %self.peer, %error, "TLS handshake failed");
            return Ok(Flow::Close);
        }
        self.tls = self.connection.tls_info();
        // (13), RFC 3207 §4.2: forget everything learnt before TLS, EHLO included.
        self.helo = None;
        self.reset();
        Ok(Flow::Continue)
    }

    async fn auth(&mut self, argument: &str) -> std::io::Result<Flow> {
        if !self.connection.is_tls() {
            // (11): never a 334 in plain text.
            return self
                .reply(503, "5.7.10", "use STARTTLS first: passwords are only accepted over TLS")
                .await;
        }
        if self.helo.is_none() {
            return self.reply(503, "5.5.1", "send EHLO first").await;
        }
        if self.user.is_some() {
            // (15)
            return self.reply(503, "5.5.1", "already authenticated").await;
        }
        if self.mail_from.is_some() {
            return self.reply(503, "5.5.1", "not during a mail transaction").await;
        }
        let ip = self.peer.ip();
        if let Some(wait) = self.context.throttle.blocked(ip) {
            // (49)
            return self
                .reply(
                    454,
                    "4.7.0",
                    &format!(
                        "too many failed logins from your address; try again in {} minutes",
                        wait.as_secs().div_ceil(60)
                    ),
                )
                .await;
        }
        let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
        let credentials = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = if initial.is_empty() {
                    self.challenge("").await?
                } else {
                    Some(initial.to_string())
                };
                match response {
                    None => return self.reply(501, "5.0.0", "authentication cancelled").await,
                    Some(response) => decode_plain(&response),
                }
            }
            "LOGIN" => {
                // (47)
                let user = if initial.is_empty() {
                    self.challenge("VXNlcm5hbWU6").await?
                } else {
                    Some(initial.to_string())
                };
                let Some(user) = user else {
                    return self.reply(501, "5.0.0", "authentication cancelled").await;
                };
                let Some(user) = decode_text(&user) else {
                    return self.reply(501, "5.5.2", "that is not valid base64").await;
                };
                let Some(password) = self.challenge("UGFzc3dvcmQ6").await? else {
                    return self.reply(501, "5.0.0", "authentication cancelled").await;
                };
                decode_text(&password).map(|password| (user, password))
            }
            // (14)
            _ => return self.reply(504, "5.5.4", "use AUTH PLAIN or AUTH LOGIN").await,
        };
        let Some((user, password)) = credentials else {
            return self
                .reply(501, "5.5.2", "that is not valid base64, or not user and password")
                .await;
        };
        let authenticator = self.context.authenticator.clone();
        let checked_user = user.clone();
        let login =
            tokio::task::spawn_blocking(move || authenticator.check(&checked_user, &password))
                .await;
        match login {
            Ok(Ok(Login::Accepted)) => {
                tracing::info!(peer = %self.peer, user = %user, "authenticated");
                self.user = Some(user.to_ascii_lowercase());
                self.context.throttle.succeeded(ip);
                self.reply(235, "2.7.0", "authenticated").await
            }
            Ok(Ok(Login::Rejected)) => {
                tracing::info!(peer = %self.peer, user = %user, "authentication failed");
                self.context.throttle.failed(ip);
                self.reply(535, "5.7.8", "wrong user name or password").await
            }
            Ok(Err(error)) => {
                // (16): our problem, not the client's.
                tracing::error!(%error, "cannot check logins");
                self.reply(454, "4.7.0", "cannot check passwords right now; try again later").await
            }
            Err(error) => {
                tracing::error!(%error, "login check panicked");
                self.reply(454, "4.7.0", "cannot check passwords right now; try again later").await
            }
        }
    }

    /// Sends a 334 challenge and reads the answer; `None` if the client cancelled with `*`.
    async fn challenge(&mut self, prompt: &str) -> std::io::Result<Option<String>> {
        self.connection.write(format!("334 {prompt}\r\n").as_bytes()).await?;
        match self.connection.read_line(MAX_LINE).await {
            Ok(line) if line.trim() == "*" => Ok(None),
            Ok(line) => Ok(Some(line.trim().to_string())),
            Err(ReadError::Io(error)) => Err(error),
            Err(_) => Err(std::io::Error::other("the client went away during AUTH")),
        }
    }

    async fn mail(&mut self, argument: &str) -> std::io::Result<Flow> {
        if self.helo.is_none() {
            return self.reply(503, "5.5.1", "send EHLO first").await;
        }
        let Some(user) = self.user.clone() else {
            // (18)
            return self.reply(530, "5.7.0", "authentication required").await;
        };
        if self.mail_from.is_some() {
            return self.reply(503, "5.5.1", "nested MAIL command").await;
        }
        let path = match envelope::parse_path(argument, "FROM") {
            Ok(path) => path,
            Err(AddressError::TooLong) => {
                return self.reply(501, "5.1.7", "the sender address is too long").await;
            }
            Err(AddressError::Invalid) => {
                return self.reply(501, "5.1.7", "the sender address is not valid").await;
            }
            Err(AddressError::Syntax) => {
                return self.reply(501, "5.5.4", "use MAIL FROM:<address>").await;
            }
        };
        if !path.address.is_empty() && !self.context.is_local(&envelope::domain_of(&path.address)) {
            return self
                .reply(
                    550,
                    "5.7.1",
                    &format!(
                        "you can send from addresses at {} only",
                        self.context.local_domains.join(", ")
                    ),
                )
                .await;
        }
        if path.size.is_some_and(|size| size > self.context.max_message_size as u64) {
            return self
                .reply(552, "5.3.4", "the message is larger than this server accepts")
                .await;
        }
        if !self.context.send_rate.allow(&user) {
            // (52)
            return self
                .reply(451, "4.7.1", "you have sent too many messages this hour; try again later")
                .await;
        }
        self.mail_from = Some(path.address);
        self.reply(250, "2.1.0", "OK").await
    }

    async fn rcpt(&mut self, argument: &str) -> std::io::Result<Flow> {
        if self.mail_from.is_none() {
            // (20)
            return self.reply(503, "5.5.1", "send MAIL first").await;
        }
        let path = match envelope::parse_path(argument, "TO") {
            Ok(path) if !path.address.is_empty() => path,
            Ok(_) | Err(AddressError::Invalid) => {
                return self.reply(501, "5.1.3", "the recipient address is not valid").await;
            }
            Err(AddressError::TooLong) => {
                return self.reply(501, "5.1.3", "the recipient address is too long").await;
            }
            Err(AddressError::Syntax) => {
                return self.reply(501, "5.5.4", "use RCPT TO:<address>").await;
            }
        };
        if self.user.is_none() && !self.context.is_local(&envelope::domain_of(&path.address)) {
            // (24): never an open relay. (Submission needs AUTH before MAIL anyway.)
            return self.reply(550, "5.7.1", "relaying denied").await;
        }
        if self.recipients.len() >= self.context.max_recipients {
            // (26)
            return self.reply(452, "4.5.3", "too many recipients").await;
        }
        self.recipients.push(path.address);
        self.reply(250, "2.1.5", "OK").await
    }

    async fn data(&mut self) -> std::io::Result<Flow> {
        if self.helo.is_none() || self.mail_from.is_none() || self.recipients.is_empty() {
            // (20)
            return self.reply(503, "5.5.1", "send EHLO, MAIL and RCPT first").await;
        }
        self.reply(354, "", "End data with <CR><LF>.<CR><LF>").await?;
        let mut reader = data::Reader::new(self.context.max_message_size);
        let mut outcome = None;
        let read = self
            .connection
            .read_until(|bytes| {
                let (result, used) = reader.feed(bytes)?;
                outcome = Some(result);
                Some(used)
            })
            .await;
        if let Err(error) = read {
            return match error {
                ReadError::Timeout => {
                    let _ = self.reply(421, "4.4.2", "timeout, closing").await;
                    Ok(Flow::Close)
                }
                _ => Err(std::io::Error::other("the client went away during DATA")),
            };
        }
        let message = match outcome
            .expect("read_until returns Ok only once the reader has finished")
        {
            data::Outcome::Message(message) => message,
            data::Outcome::TooBig => {
                // (31)
                self.reset();
                return self
                    .reply(552, "5.3.4", "the message is larger than this server accepts")
                    .await;
            }
            data::Outcome::BadLineEnding => {
                // (29), (30)
                let _ = self
                    .reply(521, "5.5.2", "invalid line ending: lines must end with CR LF; closing")
                    .await;
                return Ok(Flow::Close);
            }
        };
        let result = self.accept(message).await;
        self.reset();
        result
    }

    /// Checks, signs and queues a received message, and replies.
    async fn accept(&mut self, message: Vec<u8>) -> std::io::Result<Flow> {
        let from_domain = match data::check_headers(&message) {
            Ok(domain) => domain,
            // (33)
            Err(HeaderProblem::Malformed(line)) => {
                return self
                    .reply(554, "5.6.0", &format!("malformed header line: {}", printable(&line)))
                    .await;
            }
            Err(HeaderProblem::From) => {
                return self
                    .reply(554, "5.6.0", "the message needs exactly one From: header")
                    .await;
            }
            // (34)
            Err(HeaderProblem::Loop) => {
                return self.reply(554, "5.4.6", "loop detected: too many Received headers").await;
            }
        };
        let id = queue::new_id();
        // (35): no client address for authenticated users, no recipients (no BCC leak).
        let tls = self.tls.as_ref().map_or(String::new(), |tls| {
            format!(" (version={} cipher={})", tls.version, tls.cipher)
        });
        let received = format!(
            "Received: from {helo} (authenticated sender)\r\n\tby {host} (Outpost relay) with {with} id {id}{tls};\r\n\t{date}\r\n",
            helo = self.helo.as_deref().unwrap_or("unknown"),
            host = self.context.hostname,
            with = if self.tls.is_some() { "ESMTPSA" } else { "ESMTPA" },
            date = crate::clock::rfc5322(SystemTime::now()),
        );
        let mut stored = received.into_bytes();
        stored.extend_from_slice(&message);
        if self.context.is_local(&from_domain) {
            // (42), (50): local mail leaves signed, or not at all.
            match self.context.signer.sign(&from_domain, &stored) {
                Ok(signature) => stored = [signature.as_bytes(), &stored].concat(),
                Err(error) => {
                    tracing::error!(%error, domain = %from_domain, "DKIM signing failed; refusing the message");
                    return self
                        .reply(451, "4.7.0", "cannot sign the message right now; try again later")
                        .await;
                }
            }
        }
        let queue = self.context.queue.clone();
        let from = self.mail_from.clone().unwrap_or_default();
        let recipients: Vec<crate::queue::Destination> =
            self.recipients.iter().map(crate::queue::Destination::submitted).collect();
        let user = self.user.clone();
        let queued =
            tokio::task::spawn_blocking(move || queue.put(id, &from, &recipients, user, &stored))
                .await;
        match queued {
            Ok(Ok(id)) => {
                self.messages += 1;
                tracing::info!(peer = %self.peer, user = self.user.as_deref().unwrap_or("-"), %id, recipients = self.recipients.len(), "queued");
                // (27): the envelope resets and the session goes on.
                self.reply(250, "2.0.0", &format!("queued as {id}")).await
            }
            // (39)
            Ok(Err(PutError::Full)) => {
                self.reply(452, "4.3.1", "the queue is full; try again later").await
            }
            Ok(Err(PutError::Io(error))) => {
                tracing::error!(%error, "cannot write to the queue");
                self.reply(451, "4.3.0", "cannot store the message right now; try again later")
                    .await
            }
            Err(error) => {
                tracing::error!(%error, "queueing panicked");
                self.reply(451, "4.3.0", "cannot store the message right now; try again later")
                    .await
            }
        }
    }
}

/// What the command loop does after a command.
enum Flow {
    Continue,
    Close,
}

/// `authzid NUL authcid NUL password` (RFC 4616); an authzid must be empty or the same user.
fn decode_plain(response: &str) -> Option<(String, String)> {
    let decoded = BASE64.decode(response.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let mut parts = decoded.split('\0');
    let (authorize, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || user.is_empty() || (!authorize.is_empty() && authorize != user) {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

fn decode_text(response: &str) -> Option<String> {
    String::from_utf8(BASE64.decode(response.trim()).ok()?).ok()
}

/// A header line shortened and stripped of controls, to quote back safely.
fn printable(line: &str) -> String {
    line.chars().filter(|c| !c.is_control()).take(60).collect()
}

/// The block of addresses a throttle counts together: the address itself for IPv4, the /64
/// for IPv6 (one customer usually has a whole /64).
pub fn client_block(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
    }
}
