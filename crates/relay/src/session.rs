//! One SMTP conversation (RFC 5321): greeting, EHLO, STARTTLS, AUTH, the envelope and DATA,
//! replies with enhanced status codes (RFC 3463). The numbers in comments are items of
//! `docs/relay-conformance.md`.
//!
//! Protocol and policy are apart: a line becomes a [`Command`] (parsing only), each verb returns
//! an [`Outcome`] — the [`Reply`] to send and whether the session goes on — and one loop writes
//! replies and counts errors. What a listener allows (AUTH required, which recipients, whether
//! mail is signed) is its [`Policy`], decided by its [`ListenerMode`] in one place.
//!
//! A session never delivers: an accepted message goes to the queue, and only once the queue
//! has it on disk does the client hear `250`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio_rustls::TlsAcceptor;

use crate::connection::{Connection, ReadError, TlsInfo};
use crate::data::{self, HeaderProblem};
use crate::dkim::Signer;
use crate::envelope::{self, AddressError};
use crate::inbound::Routed;
use crate::limits::{AuthThrottle, SendRate};
use crate::queue::{self, PutError, Queue};
use crate::users::{Authenticator, Login};
use outpost_relay_api::InboundRefusal;

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

/// What a listener allows: everything a session decides by where it came in, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// AUTH is offered (inside TLS) and required before MAIL.
    pub authenticated: bool,
    /// Recipients: anywhere once authenticated (submission), or only at the relay's own
    /// domains (inbound, never an open relay).
    pub local_recipients_only: bool,
    /// Mail from the relay's own domains is DKIM-signed (submission); inbound mail never is.
    pub signs: bool,
}

impl Policy {
    /// The policy of a listener mode.
    pub fn of(mode: ListenerMode) -> Policy {
        match mode {
            ListenerMode::Submission | ListenerMode::Submissions => {
                Policy { authenticated: true, local_recipients_only: false, signs: true }
            }
            // The web listeners never run SMTP; the strictest policy, should one ever do.
            ListenerMode::Inbound | ListenerMode::Https | ListenerMode::Http => {
                Policy { authenticated: false, local_recipients_only: true, signs: false }
            }
        }
    }
}

/// A command line, parsed: the verb and its argument, nothing decided yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// HELO (`extended: false`) or EHLO, with the client's host name.
    Hello {
        /// EHLO.
        extended: bool,
        /// What the client says it is (may be empty: an error).
        host: &'a str,
    },
    /// STARTTLS.
    StartTls,
    /// AUTH with its mechanism and optional initial response.
    Auth(&'a str),
    /// MAIL with everything after the verb (`FROM:<…> SIZE=…`).
    Mail(&'a str),
    /// RCPT with everything after the verb.
    Rcpt(&'a str),
    /// DATA.
    Data,
    /// RSET.
    Rset,
    /// NOOP.
    Noop,
    /// HELP.
    Help,
    /// VRFY or EXPN (5: never answered).
    Verify,
    /// QUIT.
    Quit,
    /// An HTTP request line as the first command (6).
    Http,
    /// Anything else (4).
    Unknown,
}

impl<'a> Command<'a> {
    /// Parses one line (without its CRLF); `first` says whether it is the session's first
    /// command (an HTTP verb only means a browser then).
    pub fn parse(line: &'a str, first: bool) -> Command<'a> {
        let (verb, argument) = line.split_once(' ').unwrap_or((line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "HELO" => Command::Hello { extended: false, host: argument.trim() },
            "EHLO" => Command::Hello { extended: true, host: argument.trim() },
            "STARTTLS" => Command::StartTls,
            "AUTH" => Command::Auth(argument.trim()),
            "MAIL" => Command::Mail(argument),
            "RCPT" => Command::Rcpt(argument),
            "DATA" => Command::Data,
            "RSET" => Command::Rset,
            "NOOP" => Command::Noop,
            "HELP" => Command::Help,
            "VRFY" | "EXPN" => Command::Verify,
            "QUIT" => Command::Quit,
            "GET" | "POST" | "PUT" | "HEAD" | "CONNECT" | "OPTIONS" if first => Command::Http,
            _ => Command::Unknown,
        }
    }
}

/// A reply: the code, the enhanced status code (RFC 3463; empty for none) and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    enhanced: &'static str,
    lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Reply {
        Reply { code, enhanced, lines: vec![text.into()] }
    }

    /// A multi-line reply (EHLO's capabilities), without enhanced codes.
    pub fn lines(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, enhanced: "", lines }
    }

    /// A permanent failure (5xx): counted towards the session's error limit (8).
    pub fn is_error(&self) -> bool {
        self.code >= 500
    }

    /// The reply as it goes on the wire.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        for (index, line) in self.lines.iter().enumerate() {
            let separator = if index + 1 == self.lines.len() { ' ' } else { '-' };
            text.push_str(&self.code.to_string());
            text.push(separator);
            if !self.enhanced.is_empty() {
                text.push_str(self.enhanced);
                text.push(' ');
            }
            text.push_str(line);
            text.push_str("\r\n");
        }
        text
    }
}

/// What a verb decided: the reply to send, and what happens to the session then.
#[derive(Debug)]
pub enum Outcome {
    /// Send the reply and read the next command.
    Reply(Reply),
    /// Send the reply and close the session (we close it, having said why).
    Close(Reply),
    /// Send the reply and end the session as the client asked (QUIT).
    Quit(Reply),
    /// Nothing to send (the verb already spoke, as STARTTLS does before its handshake); go on.
    Silent,
    /// Close without a reply (a failed TLS handshake: nothing can be said in the clear).
    Drop,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Outcome {
        Outcome::Reply(reply)
    }
}

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
    /// Password checks that may run at once (about one per core).
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// A session that has not logged in by then is closed (submission ports).
    pub login_deadline: Duration,
    /// Per-user sending limit (52).
    pub send_rate: SendRate,
    /// Cancelled when the relay stops: sessions say 421 and close.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The time, for the Received header.
    pub clock: Arc<dyn crate::clock::Clock>,
    /// Mail for our own domains (port 25), when the relay receives.
    pub inbound: Option<Arc<crate::inbound::Inbound>>,
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
    policy: Policy,
    connection: Connection,
    helo: Option<String>,
    user: Option<String>,
    tls: Option<TlsInfo>,
    mail_from: Option<String>,
    /// The addresses given at RCPT.
    rcpt_to: Vec<String>,
    /// Where the message goes: those addresses, or (inbound) where they forward to.
    recipients: Vec<crate::queue::Destination>,
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
        policy: Policy::of(port),
        connection,
        helo: None,
        user: None,
        tls,
        mail_from: None,
        rcpt_to: Vec::new(),
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
        let _ = session
            .send(&Reply::new(421, "4.3.2", "the server is restarting; try again in a moment"))
            .await;
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
        let greeting =
            Reply::new(220, "", format!("{} ESMTP Outpost relay", self.context.hostname));
        if self.send(&greeting).await.is_err() {
            return End::Done;
        }
        let started = tokio::time::Instant::now();
        loop {
            // A whole command line must arrive within COMMAND_TIMEOUT (not each byte: a client
            // trickling a byte at a time would never leave), and a client on a port that
            // requires a login must have logged in by the login deadline.
            let login_by = (self.policy.authenticated && self.user.is_none())
                .then(|| started + self.context.login_deadline);
            let line_by = tokio::time::Instant::now() + COMMAND_TIMEOUT;
            let deadline = login_by.map_or(line_by, |login_by| login_by.min(line_by));
            let read = tokio::time::timeout_at(deadline, self.connection.read_line(MAX_LINE)).await;
            let read = match read {
                Ok(read) => read,
                Err(_) if login_by.is_some_and(|login_by| login_by <= line_by) => {
                    let _ =
                        self.send(&Reply::new(421, "4.7.0", "too slow to log in; closing")).await;
                    return End::Closed;
                }
                Err(_) => Err(ReadError::Timeout),
            };
            let line = match read {
                Ok(line) => line,
                Err(ReadError::TooLong) => {
                    // (7)
                    let _ = self.send(&Reply::new(500, "5.5.2", "line too long")).await;
                    return End::Closed;
                }
                Err(ReadError::Timeout) => {
                    let _ = self.send(&Reply::new(421, "4.4.2", "timeout, closing")).await;
                    return End::Closed;
                }
                Err(ReadError::Closed | ReadError::Io(_)) => return End::Done,
            };
            self.commands += 1;
            let outcome = match self.command(Command::parse(&line, self.commands == 1)).await {
                Ok(outcome) => outcome,
                Err(_) => return End::Done,
            };
            let end = match outcome {
                Outcome::Reply(reply) => self.send(&reply).await.err().map(|_| End::Done),
                Outcome::Close(reply) => {
                    Some(self.send(&reply).await.map_or(End::Done, |()| End::Closed))
                }
                Outcome::Quit(reply) => {
                    let _ = self.send(&reply).await;
                    Some(End::Done)
                }
                Outcome::Silent => None,
                Outcome::Drop => Some(End::Closed),
            };
            if let Some(end) = end {
                return end;
            }
            if self.errors >= MAX_ERRORS {
                // (8)
                let _ = self.send(&Reply::new(421, "4.5.0", "too many errors, closing")).await;
                return End::Closed;
            }
        }
    }

    /// What a command does.
    async fn command(&mut self, command: Command<'_>) -> std::io::Result<Outcome> {
        Ok(match command {
            Command::Hello { extended, host } => self.hello(extended, host).into(),
            Command::StartTls => self.starttls().await?,
            Command::Auth(argument) => self.auth(argument).await?.into(),
            Command::Mail(argument) => self.mail(argument).await.into(),
            Command::Rcpt(argument) => self.rcpt(argument).into(),
            Command::Data => self.data().await?,
            Command::Rset => {
                // (9)
                self.reset();
                Reply::new(250, "2.0.0", "OK").into()
            }
            Command::Noop => Reply::new(250, "2.0.0", "OK").into(),
            Command::Help => {
                Reply::new(214, "2.0.0", "See RFC 5321, or ask the people who run this server")
                    .into()
            }
            // (5): no address disclosure.
            Command::Verify => Reply::new(502, "5.5.1", "not available").into(),
            // (10)
            Command::Quit => Outcome::Quit(Reply::new(221, "2.0.0", "Bye")),
            // (6): a web browser or proxy talking to a mail port; nothing good can follow.
            Command::Http => {
                Outcome::Close(Reply::new(502, "5.5.1", "this is a mail server, not a web server"))
            }
            // (4)
            Command::Unknown => Reply::new(500, "5.5.1", "unknown command").into(),
        })
    }

    /// Writes a reply; a permanent failure counts towards the error limit (8).
    async fn send(&mut self, reply: &Reply) -> std::io::Result<()> {
        if reply.is_error() {
            self.errors += 1;
        }
        self.connection.write(reply.encode().as_bytes()).await
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
        self.recipients.clear();
    }

    /// The inbound handling, on a port that receives.
    fn inbound(&self) -> Option<Arc<crate::inbound::Inbound>> {
        self.context.inbound.clone().filter(|_| self.port == ListenerMode::Inbound)
    }

    /// A refusal of inbound mail: counted for `status`, then said.
    fn refuse(&self, reason: outpost_relay_api::InboundRefusal, reply: Reply) -> Reply {
        if let Some(inbound) = self.inbound() {
            inbound.refused(reason);
            tracing::info!(peer = %self.peer, ?reason, "refused inbound mail");
        }
        reply
    }

    fn hello(&mut self, extended: bool, host: &str) -> Reply {
        let verb = if extended { "EHLO" } else { "HELO" };
        if host.is_empty() {
            // (2)
            return Reply::new(501, "5.5.4", format!("{verb} needs your host name"));
        }
        self.reset();
        self.helo = Some(host.to_string());
        if !extended {
            return Reply::new(250, "", self.context.hostname.clone());
        }
        // (3): STARTTLS only in plain text, AUTH only inside TLS (and only where it is used).
        let mut lines = vec![
            format!("{} greets {host}", self.context.hostname),
            format!("SIZE {}", self.context.max_message_size),
            "8BITMIME".into(),
            "PIPELINING".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if !self.connection.is_tls() {
            lines.push("STARTTLS".into());
        } else if self.policy.authenticated {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        Reply::lines(250, lines)
    }

    async fn starttls(&mut self) -> std::io::Result<Outcome> {
        if self.connection.is_tls() {
            // (12)
            return Ok(Reply::new(503, "5.5.1", "already using TLS").into());
        }
        self.send(&Reply::new(220, "2.0.0", "Ready to start TLS")).await?;
        // (48): anything the client sent after STARTTLS, before the handshake, is discarded.
        let dropped = self.connection.discard_buffered();
        if dropped > 0 {
            tracing::warn!(peer = %self.peer, bytes = dropped, "discarded bytes pipelined after STARTTLS");
        }
        let acceptor = self.context.tls.clone();
        if let Err(error) = self.connection.start_tls(&acceptor, HANDSHAKE_TIMEOUT).await {
            tracing::info!(peer = %self.peer, %error, "TLS handshake failed");
            return Ok(Outcome::Drop);
        }
        self.tls = self.connection.tls_info();
        // (13), RFC 3207 §4.2: forget everything learnt before TLS, EHLO included.
        self.helo = None;
        self.reset();
        Ok(Outcome::Silent)
    }

    async fn auth(&mut self, argument: &str) -> std::io::Result<Reply> {
        if !self.policy.authenticated {
            return Ok(Reply::new(503, "5.5.1", "AUTH is not offered on this port"));
        }
        if !self.connection.is_tls() {
            // (11): never a 334 in plain text.
            return Ok(Reply::new(
                503,
                "5.7.10",
                "use STARTTLS first: passwords are only accepted over TLS",
            ));
        }
        if self.helo.is_none() {
            return Ok(Reply::new(503, "5.5.1", "send EHLO first"));
        }
        if self.user.is_some() {
            // (15)
            return Ok(Reply::new(503, "5.5.1", "already authenticated"));
        }
        if self.mail_from.is_some() {
            return Ok(Reply::new(503, "5.5.1", "not during a mail transaction"));
        }
        let ip = self.peer.ip();
        let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
        let credentials = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = if initial.is_empty() {
                    self.challenge("").await?
                } else {
                    Some(initial.to_string())
                };
                match response {
                    None => return Ok(Reply::new(501, "5.0.0", "authentication cancelled")),
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
                    return Ok(Reply::new(501, "5.0.0", "authentication cancelled"));
                };
                let Some(user) = decode_text(&user) else {
                    return Ok(Reply::new(501, "5.5.2", "that is not valid base64"));
                };
                let Some(password) = self.challenge("UGFzc3dvcmQ6").await? else {
                    return Ok(Reply::new(501, "5.0.0", "authentication cancelled"));
                };
                decode_text(&password).map(|password| (user, password))
            }
            // (14)
            _ => return Ok(Reply::new(504, "5.5.4", "use AUTH PLAIN or AUTH LOGIN")),
        };
        let Some((user, password)) = credentials else {
            return Ok(Reply::new(
                501,
                "5.5.2",
                "that is not valid base64, or not user and password",
            ));
        };
        // (49): counted before the password is checked, so a burst is throttled while it runs.
        if let Err(wait) = self.context.throttle.attempt(ip, &user) {
            return Ok(Reply::new(
                454,
                "4.7.0",
                format!(
                    "too many failed logins from your address; try again in {} minutes",
                    wait.as_secs().div_ceil(60)
                ),
            ));
        }
        // A password check takes ~20 MB and a core for a while: only a few run at once, and a
        // client beyond them is told to come back instead of queueing up memory.
        // A login that succeeded a moment ago is accepted from the cache, without hashing: it
        // needs no place (a mail client's burst of new sessions is not turned away).
        let authenticator = self.context.authenticator.clone();
        let permit = if authenticator.is_cached(&user, &password) {
            None
        } else {
            match self.context.password_checks.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return Ok(Reply::new(
                        454,
                        "4.7.0",
                        "the server is busy checking passwords; try again in a moment",
                    ));
                }
            }
        };
        let checked_user = user.clone();
        let login = tokio::task::spawn_blocking(move || {
            let login = authenticator.check(&checked_user, &password);
            drop(permit);
            login
        })
        .await;
        match login {
            Ok(Ok(Login::Accepted)) => {
                // `?`: what a client typed is logged quoted and escaped, so it cannot forge a log line.
                tracing::info!(peer = %self.peer, user = ?user, "authenticated");
                self.user = Some(user.to_ascii_lowercase());
                self.context.throttle.succeeded(ip, &user);
                Ok(Reply::new(235, "2.7.0", "authenticated"))
            }
            Ok(Ok(Login::Rejected)) => {
                tracing::info!(peer = %self.peer, user = ?user, "authentication failed");
                Ok(Reply::new(535, "5.7.8", "wrong user name or password"))
            }
            Ok(Err(error)) => {
                // (16): our problem, not the client's.
                tracing::error!(%error, "cannot check logins");
                Ok(Reply::new(454, "4.7.0", "cannot check passwords right now; try again later"))
            }
            Err(error) => {
                tracing::error!(%error, "login check panicked");
                Ok(Reply::new(454, "4.7.0", "cannot check passwords right now; try again later"))
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

    async fn mail(&mut self, argument: &str) -> Reply {
        if self.helo.is_none() {
            return Reply::new(503, "5.5.1", "send EHLO first");
        }
        let user = self.user.clone();
        if self.policy.authenticated && user.is_none() {
            // (18)
            return Reply::new(530, "5.7.0", "authentication required");
        }
        if self.mail_from.is_some() {
            return Reply::new(503, "5.5.1", "nested MAIL command");
        }
        let path = match envelope::parse_path(argument, "FROM") {
            Ok(path) => path,
            Err(AddressError::TooLong) => {
                return Reply::new(501, "5.1.7", "the sender address is too long");
            }
            Err(AddressError::Invalid) => {
                return Reply::new(501, "5.1.7", "the sender address is not valid");
            }
            Err(AddressError::Syntax) => {
                return Reply::new(501, "5.5.4", "use MAIL FROM:<address>");
            }
        };
        if let Some(user) = &user
            && self.policy.authenticated
            && !path.address.is_empty()
            && !self.context.authenticator.may_send_as(user, &path.address)
        {
            // A user sends as themselves, from their own domain or as an address the users
            // file lists for them, so a leaked password cannot send as another domain (or
            // another customer of this relay).
            let domain = envelope::domain_of(user);
            return Reply::new(
                550,
                "5.7.1",
                format!(
                    "{user} can send from addresses at {domain} only, or as the addresses listed for it (outpost-relay user senders)"
                ),
            );
        }
        if path.size.is_some_and(|size| size > self.context.max_message_size as u64) {
            return Reply::new(552, "5.3.4", "the message is larger than this server accepts");
        }
        if user.as_ref().is_some_and(|user| !self.context.send_rate.allow(user)) {
            // (52)
            return Reply::new(
                451,
                "4.7.1",
                "you have sent too many messages this hour; try again later",
            );
        }
        if let Some(inbound) = self.inbound() {
            let ip = self.peer.ip();
            if let Some(listing) = inbound.checker.blocklisted(ip).await {
                return self.refuse(
                    InboundRefusal::Blocklisted,
                    Reply::new(
                        550,
                        "5.7.1",
                        format!(
                            "your address {ip} is listed by {} ({}); see https://check.spamhaus.org/",
                            listing.list, listing.code
                        ),
                    ),
                );
            }
            let block = crate::limits::client_block(ip).to_string();
            if !inbound.rate.allow(&block) {
                return self.refuse(
                    InboundRefusal::RateLimited,
                    Reply::new(
                        451,
                        "4.7.1",
                        "too many messages from your address this hour; try again later",
                    ),
                );
            }
        }
        self.mail_from = Some(path.address);
        Reply::new(250, "2.1.0", "OK")
    }

    fn rcpt(&mut self, argument: &str) -> Reply {
        if self.mail_from.is_none() {
            // (20)
            return Reply::new(503, "5.5.1", "send MAIL first");
        }
        let path = match envelope::parse_path(argument, "TO") {
            Ok(path) if !path.address.is_empty() => path,
            Ok(_) | Err(AddressError::Invalid) => {
                return Reply::new(501, "5.1.3", "the recipient address is not valid");
            }
            Err(AddressError::TooLong) => {
                return Reply::new(501, "5.1.3", "the recipient address is too long");
            }
            Err(AddressError::Syntax) => {
                return Reply::new(501, "5.5.4", "use RCPT TO:<address>");
            }
        };
        let local_only = self.policy.local_recipients_only || self.user.is_none();
        if local_only && !self.context.is_local(&envelope::domain_of(&path.address)) {
            // (24): never an open relay. (Submission needs AUTH before MAIL anyway.)
            return self
                .refuse(InboundRefusal::Relaying, Reply::new(550, "5.7.1", "relaying denied"));
        }
        if self.rcpt_to.len() >= self.context.max_recipients {
            // (26)
            return Reply::new(452, "4.5.3", "too many recipients");
        }
        let destinations = match self.inbound() {
            None => vec![crate::queue::Destination::submitted(path.address.clone())],
            Some(inbound) => {
                match inbound.router.route(&path.address, inbound.now()) {
                    Routed::Forward(destinations) => destinations,
                    Routed::NotLocal => {
                        return self.refuse(
                            InboundRefusal::Relaying,
                            Reply::new(550, "5.7.1", "relaying denied"),
                        );
                    }
                    // (25): refused now, never accepted and bounced later (no backscatter).
                    Routed::Unknown => {
                        return self.refuse(
                            InboundRefusal::UnknownRecipient,
                            Reply::new(550, "5.1.1", "no such address here"),
                        );
                    }
                    Routed::Forged(error) => {
                        return self.refuse(
                        InboundRefusal::ForgedBounceAddress,
                        Reply::new(
                            550,
                            "5.1.1",
                            format!("{error}: this server sent no mail that this could be a bounce of"),
                        ),
                    );
                    }
                    Routed::Unavailable => {
                        return Reply::new(
                            451,
                            "4.4.3",
                            "cannot look addresses up right now; try again later",
                        );
                    }
                }
            }
        };
        for destination in destinations {
            if !self
                .recipients
                .iter()
                .any(|known| known.address.eq_ignore_ascii_case(&destination.address))
            {
                self.recipients.push(destination);
            }
        }
        self.rcpt_to.push(path.address);
        Reply::new(250, "2.1.5", "OK")
    }

    async fn data(&mut self) -> std::io::Result<Outcome> {
        if self.helo.is_none() || self.mail_from.is_none() || self.rcpt_to.is_empty() {
            // (20)
            return Ok(Reply::new(503, "5.5.1", "send EHLO, MAIL and RCPT first").into());
        }
        self.send(&Reply::new(354, "", "End data with <CR><LF>.<CR><LF>")).await?;
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
                    Ok(Outcome::Close(Reply::new(421, "4.4.2", "timeout, closing")))
                }
                _ => Err(std::io::Error::other("the client went away during DATA")),
            };
        }
        let message =
            match outcome.expect("read_until returns Ok only once the reader has finished") {
                data::Outcome::Message(message) => message,
                data::Outcome::TooBig => {
                    // (31)
                    self.reset();
                    if let Some(inbound) = self.inbound() {
                        inbound.refused(outpost_relay_api::InboundRefusal::TooBig);
                    }
                    return Ok(Reply::new(
                        552,
                        "5.3.4",
                        "the message is larger than this server accepts",
                    )
                    .into());
                }
                data::Outcome::BadLineEnding => {
                    // (29), (30)
                    return Ok(Outcome::Close(Reply::new(
                        521,
                        "5.5.2",
                        "invalid line ending: lines must end with CR LF; closing",
                    )));
                }
            };
        let reply = self.accept(message).await;
        self.reset();
        Ok(reply.into())
    }

    /// Checks, signs and queues a received message, and replies.
    async fn accept(&mut self, message: Vec<u8>) -> Reply {
        let (from_domain, message_id) = match data::check_headers(&message) {
            Ok(headers) => (headers.from_domain, headers.message_id),
            Err(problem) => {
                let reply = match problem {
                    // (33)
                    HeaderProblem::Malformed(line) => Reply::new(
                        554,
                        "5.6.0",
                        format!("malformed header line: {}", printable(&line)),
                    ),
                    HeaderProblem::From => {
                        Reply::new(554, "5.6.0", "the message needs exactly one From: header")
                    }
                    // (34)
                    HeaderProblem::Loop => {
                        Reply::new(554, "5.4.6", "loop detected: too many Received headers")
                    }
                };
                return self.refuse(InboundRefusal::Malformed, reply);
            }
        };
        if let Some(inbound) = self.inbound() {
            return self.forward(&inbound, message).await;
        }
        if self.policy.signs && !self.context.is_local(&from_domain) {
            // The From: a reader sees must be one this relay signs for: never a phishing relay.
            return Reply::new(
                550,
                "5.7.1",
                format!(
                    "the From: address must be at {}; this server does not send for {}",
                    self.context.local_domains.join(", "),
                    printable(&from_domain)
                ),
            );
        }
        let id = queue::new_id(self.context.clock.now());
        // (35): no client address for authenticated users, no recipients (no BCC leak).
        let tls = self.tls.as_ref().map_or(String::new(), |tls| {
            format!(" (version={} cipher={})", tls.version, tls.cipher)
        });
        let received = format!(
            "Received: from {helo} (authenticated sender)\r\n\tby {host} (Outpost relay) with {with} id {id}{tls};\r\n\t{date}\r\n",
            helo = self.helo.as_deref().unwrap_or("unknown"),
            host = self.context.hostname,
            with = if self.tls.is_some() { "ESMTPSA" } else { "ESMTPA" },
            date = crate::clock::rfc5322(self.context.clock.now()),
        );
        let mut stored = received.into_bytes();
        stored.extend_from_slice(&message);
        if self.policy.signs && self.context.is_local(&from_domain) {
            // (42), (50): local mail leaves signed, or not at all.
            match self.context.signer.sign(&from_domain, &stored) {
                Ok(signature) => stored = [signature.as_bytes(), &stored].concat(),
                Err(error) => {
                    tracing::error!(%error, domain = ?from_domain, "DKIM signing failed; refusing the message");
                    return Reply::new(
                        451,
                        "4.7.0",
                        "cannot sign the message right now; try again later",
                    );
                }
            }
        }
        let from = self.mail_from.clone().unwrap_or_default();
        self.enqueue(id, from, stored, message_id).await
    }

    /// Checks, seals and queues a message that arrived for our domains, to be forwarded.
    async fn forward(&mut self, inbound: &crate::inbound::Inbound, message: Vec<u8>) -> Reply {
        let now = self.context.clock.now();
        let id = queue::new_id(now);
        let ip = self.peer.ip();
        let helo = self.helo.clone().unwrap_or_default();
        let mail_from = self.mail_from.clone().unwrap_or_default();
        let tls = self.tls.as_ref().map_or(String::new(), |tls| {
            format!(" (version={} cipher={})", tls.version, tls.cipher)
        });
        let only = match self.rcpt_to.as_slice() {
            [only] => format!("\r\n\tfor <{only}>"),
            _ => String::new(),
        };
        // (35) for mail from outside: the client's name and address, as every MTA records them.
        let received = format!(
            "Received: from {helo} ([{ip}])\r\n\tby {host} (Outpost relay) with {with} id {id}{tls}{only};\r\n\t{date}\r\n",
            helo = printable(&helo),
            host = self.context.hostname,
            with = if self.tls.is_some() { "ESMTPS" } else { "ESMTP" },
            date = crate::clock::rfc5322(now),
        );
        let mut stored = received.into_bytes();
        stored.extend_from_slice(&message);
        // Sealed and rewritten for the domain the mail was sent to.
        let domain = envelope::domain_of(&self.rcpt_to[0]);
        let sealing = inbound.arc.then_some((&*self.context.signer, domain.as_str()));
        let examined = inbound.checker.examine(ip, &helo, &mail_from, &stored, sealing).await;
        if let Some(refusal) = examined.refusal {
            return self.refuse(refusal.reason, Reply::new(550, "5.7.1", refusal.text));
        }
        let Some(from) = inbound.router.rewrite_sender(&mail_from, &domain, now) else {
            tracing::error!("cannot read the SRS secrets; refusing to forward for now");
            return Reply::new(451, "4.3.0", "cannot forward mail right now; try again later");
        };
        let stored = [examined.headers.as_bytes(), &stored].concat();
        let reply = self.enqueue(id.clone(), from, stored, None).await;
        if reply.code == 250 {
            inbound.forwarded(outpost_relay_api::ForwardedMessage {
                at: crate::clock::unix_seconds(now),
                id,
                from: mail_from,
                header_from: examined.header_from,
                to: self.rcpt_to.clone(),
                destinations: self.recipients.iter().map(|r| r.address.clone()).collect(),
            });
        }
        reply
    }

    /// Puts a message in the queue for this session's recipients, and replies.
    async fn enqueue(
        &mut self,
        id: String,
        from: String,
        stored: Vec<u8>,
        message_id: Option<String>,
    ) -> Reply {
        let queue = self.context.queue.clone();
        let recipients = self.recipients.clone();
        let user = self.user.clone();
        // File work on a blocking thread: the queue's fsyncs, and a test message's trace.
        // The trace first: a quick delivery must find it when the message leaves the queue.
        let queued = tokio::task::spawn_blocking(move || {
            queue.traces().keep(message_id.as_deref(), &id, &stored);
            queue.put(id.clone(), &from, &recipients, user, &stored).inspect_err(|_| {
                queue.traces().forget(&id);
            })
        })
        .await;
        match queued {
            Ok(Ok(id)) => {
                self.messages += 1;
                tracing::info!(peer = %self.peer, user = self.user.as_deref().unwrap_or("-"), %id, recipients = self.recipients.len(), inbound = self.port == ListenerMode::Inbound, "queued");
                // (27): the envelope resets and the session goes on.
                Reply::new(250, "2.0.0", format!("queued as {id}"))
            }
            // (39)
            Ok(Err(PutError::Full)) => {
                Reply::new(452, "4.3.1", "the queue is full; try again later")
            }
            Ok(Err(PutError::Io(error))) => {
                tracing::error!(%error, "cannot write to the queue");
                Reply::new(451, "4.3.0", "cannot store the message right now; try again later")
            }
            Err(error) => {
                tracing::error!(%error, "queueing panicked");
                Reply::new(451, "4.3.0", "cannot store the message right now; try again later")
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_commands_without_deciding_anything() {
        assert_eq!(
            Command::parse("ehlo client.example", false),
            Command::Hello { extended: true, host: "client.example" }
        );
        assert_eq!(Command::parse("HELO", false), Command::Hello { extended: false, host: "" });
        assert_eq!(
            Command::parse("MAIL FROM:<a@b> SIZE=10", false),
            Command::Mail("FROM:<a@b> SIZE=10")
        );
        assert_eq!(Command::parse("AUTH PLAIN AGFiYwBj", false), Command::Auth("PLAIN AGFiYwBj"));
        assert_eq!(Command::parse("expn staff", false), Command::Verify);
        assert_eq!(Command::parse("GET / HTTP/1.1", true), Command::Http);
        assert_eq!(Command::parse("GET / HTTP/1.1", false), Command::Unknown);
        assert_eq!(Command::parse("", false), Command::Unknown);
    }

    #[test]
    fn replies_encode_with_their_enhanced_codes_and_continuation_lines() {
        assert_eq!(Reply::new(250, "2.1.0", "OK").encode(), "250 2.1.0 OK\r\n");
        assert_eq!(
            Reply::new(220, "", "mail.example ESMTP").encode(),
            "220 mail.example ESMTP\r\n"
        );
        assert_eq!(
            Reply::lines(250, vec!["mail.example greets you".into(), "PIPELINING".into()]).encode(),
            "250-mail.example greets you\r\n250 PIPELINING\r\n"
        );
        assert!(
            Reply::new(550, "5.7.1", "no").is_error() && !Reply::new(452, "4.5.3", "x").is_error()
        );
    }

    #[test]
    fn each_listener_mode_has_its_policy() {
        assert!(Policy::of(ListenerMode::Submission).authenticated);
        assert_eq!(Policy::of(ListenerMode::Submission), Policy::of(ListenerMode::Submissions));
        let inbound = Policy::of(ListenerMode::Inbound);
        assert!(!inbound.authenticated && inbound.local_recipients_only && !inbound.signs);
    }
}
