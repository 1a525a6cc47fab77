//! Delivery to a recipient domain's mail servers over SMTP (RFC 5321 §5): MX lookup with
//! hickory, opportunistic STARTTLS (RFC 3207, RFC 7435), and a reply per recipient.
//!
//! MX rules (conformance 40): hosts in preference order, at most [`MAX_MX`]; no MX record means
//! the domain's own A/AAAA (the implicit MX, §5.1); a null MX (RFC 7505) or a domain that does
//! not exist fails for good; a DNS failure is temporary. A TLS handshake that fails is retried
//! in plain text on the same host (41): encryption here is opportunistic, as everywhere on
//! port 25 — unless the domain publishes an MTA-STS policy in `enforce` mode (RFC 8461), in
//! which case only its listed servers are used, over TLS with a verified certificate.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use mail_send::SmtpClient;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::destinations::{Destinations, IDLE, MESSAGES_PER_CONNECTION, Turn};
use super::mta_sts::{self, Mode, Policies};
use super::{Courier, Delivery, DeliveryProblem, DeliveryRecord, Outcome};
use crate::clock::{Clock, unix_seconds};
use crate::connection::tls_version_name;

/// The most mail servers tried for one domain.
pub const MAX_MX: usize = 5;

/// Delivers over SMTP.
pub struct SmtpCourier {
    resolver: TokioResolver,
    /// The EHLO name: the relay's host name (which its PTR record should match).
    helo: String,
    port: u16,
    ipv6: bool,
    connect_timeout: Duration,
    reply_timeout: Duration,
    /// Opportunistic TLS: no certificate check (RFC 7435).
    tls: TlsConnector,
    /// Verified TLS, for domains whose MTA-STS policy is `enforce`.
    verified_tls: TlsConnector,
    /// MTA-STS policies, when honoured.
    policies: Option<Policies>,
    /// The time delivery records are stamped with.
    clock: Arc<dyn Clock>,
    /// Each recipient domain's places, open conversations and pause.
    destinations: Arc<Destinations<Open>>,
}

/// How a connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsUse {
    /// STARTTLS when offered, any certificate; plain text otherwise.
    Opportunistic,
    /// No STARTTLS (the retry after a failed handshake).
    Plain,
    /// STARTTLS required and the certificate verified for the host (MTA-STS `enforce`).
    Verified,
}

impl std::fmt::Debug for SmtpCourier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SmtpCourier")
            .field("helo", &self.helo)
            .field("port", &self.port)
            .finish()
    }
}

/// Why the courier could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up DNS resolution: {0}")]
pub struct SetupError(String);

/// The relay's resolver: `[dns].resolvers`, or the system's (`/etc/resolv.conf`). Every name
/// the relay looks up goes through one of these (never getaddrinfo: the binary is static).
pub fn resolver(dns: &outpost_relay_config::Dns) -> Result<TokioResolver, SetupError> {
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(5);
    options.attempts = 2;
    let builder = if dns.resolvers.is_empty() {
        Resolver::builder_tokio().map_err(|error| SetupError(error.to_string()))?
    } else {
        let servers = dns
            .resolvers
            .iter()
            .map(|address| {
                let mut server = NameServerConfig::udp_and_tcp(address.ip());
                for connection in server.connections.iter_mut() {
                    connection.port = address.port();
                }
                server
            })
            .collect();
        Resolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    builder.with_options(options).build().map_err(|error| SetupError(error.to_string()))
}

impl SmtpCourier {
    /// A courier using `resolvers` (or the system's, when empty).
    pub fn new(
        config: &outpost_relay_config::Config,
        clock: Arc<dyn Clock>,
    ) -> Result<SmtpCourier, SetupError> {
        let resolver = resolver(&config.dns)?;
        // Opportunistic TLS verifies no certificate (RFC 7435 §4.1): a check that fails would only
        // make us fall back to plain text.
        let tls = mail_send::smtp::tls::build_tls_connector(true).map_err(SetupError)?;
        let verified_tls = mta_sts::verifying_connector(
            config.delivery.extra_roots.as_ref().map(|path| path.as_path()),
        )
        .map_err(SetupError)?;
        let policies = config
            .delivery
            .mta_sts
            .then(|| Policies::new(config.delivery.https_port, verified_tls.clone()));
        Ok(SmtpCourier {
            resolver,
            helo: config.server.hostname.to_string(),
            port: config.delivery.port,
            ipv6: config.delivery.ipv6,
            connect_timeout: config.delivery.connect_timeout.get(),
            reply_timeout: config.delivery.reply_timeout.get(),
            tls,
            verified_tls,
            policies,
            clock,
            destinations: Arc::new(Destinations::new(
                config.delivery.connections_per_domain as usize,
            )),
        })
    }

    /// The servers to try, in order, or the outcome that makes trying pointless.
    async fn mail_servers(&self, domain: &str) -> Result<Vec<String>, (Outcome, String)> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let mut records: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                        _ => None,
                    })
                    .collect();
                records.sort();
                if records.len() == 1 && records[0].1.trim_end_matches('.').is_empty() {
                    return Err((
                        Outcome::Permanent,
                        format!("{domain} accepts no mail (null MX, RFC 7505)"),
                    ));
                }
                if records.is_empty() {
                    return Ok(vec![fqdn]);
                }
                Ok(records.into_iter().take(MAX_MX).map(|(_, host)| host).collect())
            }
            Err(error) if error.is_nx_domain() => {
                Err((Outcome::Permanent, format!("the domain {domain} does not exist")))
            }
            // No MX record: the domain itself is the mail server (RFC 5321 §5.1).
            Err(error) if error.is_no_records_found() => Ok(vec![fqdn]),
            Err(error) => Err((
                Outcome::Temporary,
                format!("looking up the mail servers of {domain} failed: {error}"),
            )),
        }
    }

    async fn addresses(&self, host: &str) -> Vec<IpAddr> {
        let mut addresses = Vec::new();
        let families: &[RecordType] =
            if self.ipv6 { &[RecordType::AAAA, RecordType::A] } else { &[RecordType::A] };
        for family in families {
            if let Ok(lookup) = self.resolver.lookup(host, *family).await {
                addresses.extend(lookup.answers().iter().filter_map(|record| match &record.data {
                    RData::A(address) => Some(IpAddr::V4(address.0)),
                    RData::AAAA(address) => Some(IpAddr::V6(address.0)),
                    _ => None,
                }));
            }
        }
        addresses
    }

    async fn deliver_all(
        &self,
        from: &str,
        domain: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Vec<DeliveryRecord> {
        let fail_all = |outcome, reply: String, problem: DeliveryProblem, mta_sts: bool| {
            let now = unix_seconds(self.clock.now());
            recipients
                .iter()
                .map(|_| DeliveryRecord {
                    at: now,
                    outcome,
                    host: None,
                    ip: None,
                    tls_version: None,
                    tls_cipher: None,
                    reply: reply.clone(),
                    problem: Some(problem.clone()),
                    mta_sts,
                })
                .collect()
        };
        let turn = self.destinations.enter(domain, self.clock.now()).await;
        if let Some(paused) = turn.paused(self.clock.now()) {
            return fail_all(
                Outcome::Temporary,
                format!(
                    "not tried: {domain} recently answered \"{}\", so Outpost waits before trying it again",
                    paused.said
                ),
                DeliveryProblem::Deferred { until: paused.until },
                false,
            );
        }
        let mut hosts = match self.mail_servers(domain).await {
            Ok(hosts) => hosts,
            Err((outcome, reason)) => {
                return fail_all(outcome, reason, DeliveryProblem::NoMailServer, false);
            }
        };
        // RFC 8461 §4: under an `enforce` policy, only listed servers, only over verified TLS.
        let enforced = match &self.policies {
            Some(policies) => policies
                .lookup(&self.resolver, domain)
                .await
                .filter(|policy| policy.mode == Mode::Enforce),
            None => None,
        };
        if let Some(policy) = &enforced {
            hosts.retain(|host| policy.allows(host));
            if hosts.is_empty() {
                return fail_all(
                    Outcome::Temporary,
                    format!("none of the mail servers of {domain} is listed in its MTA-STS policy"),
                    DeliveryProblem::Policy,
                    true,
                );
            }
        }
        let first_try = if enforced.is_some() { TlsUse::Verified } else { TlsUse::Opportunistic };
        // A conversation left open by the last message to this domain goes first — one that
        // meets this message's TLS rules (an `enforce` policy wants a verified one to a listed
        // server).
        let usable = |open: &Open| match &enforced {
            Some(policy) => open.verified && policy.allows(&open.host),
            None => true,
        };
        while let Some(open) = turn.take_idle(self.clock.now(), usable) {
            // None: the server closed it while it waited; try the next, or a new one.
            if let Some(done) = self.converse(open, from, recipients, message).await {
                return self.finish(&turn, domain, done);
            }
        }
        let mut last_problem = format!("no mail server of {domain} could be reached");
        // A greeting that said "try later" (421 or another 4xx), if one did.
        let mut busy = None;
        for host in &hosts {
            let host_name = host.trim_end_matches('.').to_string();
            let addresses = self.addresses(host).await;
            if addresses.is_empty() {
                last_problem = format!("{host_name} has no address");
                continue;
            }
            for ip in addresses {
                let target = SocketAddr::new(ip, self.port);
                let open = match self.open(&host_name, target, first_try).await {
                    Ok(open) => Ok(open),
                    Err(Attempt::TlsFailed(reason)) if first_try == TlsUse::Verified => {
                        Err(Attempt::TlsFailed(reason))
                    }
                    Err(Attempt::TlsFailed(reason)) => {
                        tracing::info!(host = %host_name, %ip, %reason, "STARTTLS failed; retrying in plain text");
                        self.open(&host_name, target, TlsUse::Plain).await
                    }
                    Err(other) => Err(other),
                };
                match open {
                    Ok(open) => {
                        // A new conversation always ends with records.
                        if let Some(done) = self.converse(open, from, recipients, message).await {
                            return self.finish(&turn, domain, done);
                        }
                    }
                    Err(Attempt::Busy(reply)) => {
                        last_problem = format!("{host_name} [{ip}] greeted with {reply}");
                        busy = Some(reply);
                    }
                    Err(Attempt::TlsFailed(reason) | Attempt::Unreachable(reason)) => {
                        last_problem = reason
                    }
                }
            }
        }
        if let Some(reply) = busy {
            let paused = turn.pause(self.clock.now(), &reply);
            tracing::info!(%domain, %reply, until = paused.until, "the domain said to try later; leaving it alone for a while");
        }
        let (problem, mta_sts) = match enforced {
            Some(_) => (DeliveryProblem::Policy, true),
            None => (DeliveryProblem::Unreachable, false),
        };
        fail_all(Outcome::Temporary, last_problem, problem, mta_sts)
    }

    /// After a conversation: keep it open for the domain's next message when it can carry one,
    /// pause the domain when it said "try later", and hand back the records.
    fn finish(&self, turn: &Turn<Open>, domain: &str, done: Conversation) -> Vec<DeliveryRecord> {
        let Conversation { records, open, busy } = done;
        if records.iter().any(|record| record.outcome == Outcome::Delivered) {
            turn.delivered();
        }
        if let Some(reply) = busy {
            let paused = turn.pause(self.clock.now(), &reply);
            tracing::info!(%domain, %reply, until = paused.until, "the domain said to try later; leaving it alone for a while");
        }
        if let Some(open) = open {
            if open.messages < MESSAGES_PER_CONNECTION {
                turn.keep(open, self.clock.now());
                self.close_when_idle(domain);
            } else {
                tokio::spawn(open.quit());
            }
        }
        records
    }

    /// Closes the domain's conversations that are still idle after [`IDLE`].
    fn close_when_idle(&self, domain: &str) {
        let (destinations, clock, domain) =
            (self.destinations.clone(), self.clock.clone(), domain.to_string());
        tokio::spawn(async move {
            clock.sleep(IDLE).await;
            for open in destinations.expired(&domain, clock.now()) {
                open.quit().await;
            }
        });
    }

    /// Connects to one server address, reads its greeting, says EHLO and, as `tls_use` says,
    /// STARTTLS: a conversation ready for a message.
    async fn open(&self, host: &str, target: SocketAddr, tls_use: TlsUse) -> Result<Open, Attempt> {
        let unreachable = |what: &str, error: &dyn std::fmt::Display| {
            Attempt::Unreachable(format!("{host} [{}]: {what}: {error}", target.ip()))
        };
        let mut client = SmtpClient::connect(target, self.connect_timeout)
            .await
            .map_err(|error| unreachable("connecting", &error))?;
        client.timeout = self.reply_timeout;
        let banner =
            client.read().await.map_err(|error| unreachable("reading the greeting", &error))?;
        if banner.code() / 100 == 4 {
            return Err(Attempt::Busy(reply_text(&banner)));
        }
        if banner.code() / 100 != 2 {
            return Err(Attempt::Unreachable(format!(
                "{host} [{}] greeted with {}",
                target.ip(),
                reply_text(&banner)
            )));
        }
        let capabilities =
            client.ehlo(&self.helo).await.map_err(|error| unreachable("EHLO", &error))?;
        let offers_tls = capabilities.has_capability(smtp_proto::EXT_START_TLS);
        if tls_use == TlsUse::Verified && !offers_tls {
            return Err(Attempt::TlsFailed(format!(
                "{host} [{}] does not offer STARTTLS, which its domain's MTA-STS policy requires",
                target.ip()
            )));
        }
        let open = |client, tls: (Option<String>, Option<String>)| Open {
            client,
            host: host.to_string(),
            ip: target.ip(),
            tls,
            verified: tls_use == TlsUse::Verified,
            messages: 0,
        };
        if tls_use == TlsUse::Plain || !offers_tls {
            return Ok(open(Client::Plain(client), (None, None)));
        }
        let connector = if tls_use == TlsUse::Verified { &self.verified_tls } else { &self.tls };
        let mut client = client.start_tls(connector, host).await.map_err(|error| {
            Attempt::TlsFailed(format!("{host} [{}]: STARTTLS: {error}", target.ip()))
        })?;
        let connection = client.tls_connection();
        let tls = (
            connection.protocol_version().map(tls_version_name),
            connection.negotiated_cipher_suite().map(|suite| format!("{:?}", suite.suite())),
        );
        client
            .ehlo(&self.helo)
            .await
            .map_err(|error| unreachable("EHLO after STARTTLS", &error))?;
        Ok(open(Client::Tls(Box::new(client)), tls))
    }

    /// One message over an open conversation; `None` if a reused one turned out closed before
    /// anything was said.
    async fn converse(
        &self,
        mut open: Open,
        from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Option<Conversation> {
        let reused = open.messages > 0;
        let context = Context {
            reused,
            host: open.host.clone(),
            ip: open.ip,
            tls: open.tls.clone(),
            mta_sts: open.verified,
        };
        let ended = match &mut open.client {
            Client::Plain(client) => {
                self.transaction(client, &context, from, recipients, message).await
            }
            Client::Tls(client) => {
                self.transaction(client.as_mut(), &context, from, recipients, message).await
            }
        };
        open.messages += 1;
        let Ended { records, reusable, busy } = ended?;
        let open = match reusable {
            true => Some(open),
            false => {
                open.quit().await;
                None
            }
        };
        Some(Conversation { records, open, busy })
    }

    /// MAIL, RCPT for each recipient, DATA: a record per recipient, and whether the
    /// conversation can carry another message.
    async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        client: &mut SmtpClient<T>,
        context: &Context,
        from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Option<Ended> {
        let record = |outcome, reply: String, problem: Option<DeliveryProblem>| DeliveryRecord {
            at: unix_seconds(self.clock.now()),
            outcome,
            host: Some(context.host.clone()),
            ip: Some(context.ip),
            tls_version: context.tls.0.clone(),
            tls_cipher: context.tls.1.clone(),
            reply,
            problem,
            mta_sts: context.mta_sts,
        };
        let refused = |reply: &smtp_proto::Response<String>| {
            record(classify(reply.code()), reply_text(reply), Some(reply_problem(reply)))
        };
        let broke = |what: &str, error: mail_send::Error| {
            let record = record(
                Outcome::Temporary,
                format!("{what} failed: {error}"),
                Some(DeliveryProblem::Interrupted),
            );
            Some(Ended {
                records: recipients.iter().map(|_| record.clone()).collect(),
                reusable: false,
                busy: None,
            })
        };
        let mail = match client.cmd(format!("MAIL FROM:<{from}>\r\n")).await {
            Ok(reply) => reply,
            // On a reused conversation, the server may have closed it while it was idle.
            Err(_) if context.reused => return None,
            Err(error) => return broke("MAIL FROM", error),
        };
        if mail.code() / 100 != 2 {
            // A "later" to the sender is about the relay, not one recipient: the domain pauses.
            let busy = (mail.code() / 100 == 4).then(|| reply_text(&mail));
            let reusable = mail.code() != 421 && rset(client).await;
            return Some(Ended {
                records: recipients.iter().map(|_| refused(&mail)).collect(),
                reusable,
                busy,
            });
        }
        let mut results: Vec<Option<DeliveryRecord>> = Vec::with_capacity(recipients.len());
        let mut closing = None;
        for recipient in recipients {
            match client.cmd(format!("RCPT TO:<{recipient}>\r\n")).await {
                Ok(reply) if reply.code() / 100 == 2 => results.push(None),
                Ok(reply) => {
                    if reply.code() == 421 {
                        closing = Some(reply_text(&reply));
                    }
                    results.push(Some(refused(&reply)));
                    if closing.is_some() {
                        break;
                    }
                }
                Err(error) => return broke("RCPT TO", error),
            }
        }
        if let Some(reply) = closing {
            // 421: the server is closing the conversation; the rest were not asked.
            let rest = record(
                Outcome::Temporary,
                reply.clone(),
                Some(DeliveryProblem::Reply { code: 421, enhanced: None }),
            );
            let mut records: Vec<DeliveryRecord> =
                results.into_iter().map(|result| result.unwrap_or_else(|| rest.clone())).collect();
            records.resize(recipients.len(), rest);
            return Some(Ended { records, reusable: false, busy: Some(reply) });
        }
        if results.iter().all(Option::is_some) {
            let reusable = rset(client).await;
            return Some(Ended {
                records: results.into_iter().flatten().collect(),
                reusable,
                busy: None,
            });
        }
        let final_reply = async {
            let data = client.cmd(b"DATA\r\n").await?;
            if data.code() != 354 {
                return Ok::<_, mail_send::Error>((refused(&data), data.code()));
            }
            // mail-send ends the data with CRLF "." CRLF itself: the message's own final CRLF
            // is that first CRLF (RFC 5321 §4.1.1.4), or the recipient gets a line more.
            client.write_message(message.strip_suffix(b"\r\n").unwrap_or(message)).await?;
            let reply = client.read().await?;
            Ok(if reply.code() / 100 == 2 {
                (record(Outcome::Delivered, reply_text(&reply), None), reply.code())
            } else {
                (refused(&reply), reply.code())
            })
        }
        .await;
        let (final_reply, code) = match final_reply {
            Ok(answer) => answer,
            Err(error) => return broke("sending the message", error),
        };
        let busy = (code == 421).then(|| final_reply.reply.clone());
        let reusable = match code / 100 {
            2 => true,
            _ => code != 421 && rset(client).await,
        };
        Some(Ended {
            records: results
                .into_iter()
                .map(|result| result.unwrap_or_else(|| final_reply.clone()))
                .collect(),
            reusable,
            busy,
        })
    }
}

/// A reply as text: code, enhanced status code (when the server sent one), message.
fn reply_text(reply: &smtp_proto::Response<String>) -> String {
    let [class, subject, detail] = reply.esc;
    if class == 0 {
        format!("{} {}", reply.code(), reply.message())
    } else {
        format!("{} {class}.{subject}.{detail} {}", reply.code(), reply.message())
    }
}

/// A refusal as data: its code and enhanced code.
fn reply_problem(reply: &smtp_proto::Response<String>) -> DeliveryProblem {
    let [class, subject, detail] = reply.esc;
    let enhanced = (class != 0).then(|| format!("{class}.{subject}.{detail}"));
    DeliveryProblem::Reply { code: reply.code(), enhanced }
}

/// 4xx is temporary, 5xx permanent (RFC 5321 §4.2.1).
fn classify(code: u16) -> Outcome {
    if code / 100 == 5 { Outcome::Permanent } else { Outcome::Temporary }
}

/// Why a server address did not lead to a conversation.
enum Attempt {
    /// The TLS handshake failed: worth retrying in plain text.
    TlsFailed(String),
    /// Could not connect, or the server would not talk.
    Unreachable(String),
    /// The server greeted with "try later" (4xx): the domain pauses.
    Busy(String),
}

/// An SMTP client over plain TCP or TLS.
enum Client {
    Plain(SmtpClient<TcpStream>),
    Tls(Box<SmtpClient<TlsStream<TcpStream>>>),
}

/// A conversation with one server, greeted and ready for a message.
pub struct Open {
    client: Client,
    host: String,
    ip: IpAddr,
    /// TLS version and cipher, when encrypted.
    tls: (Option<String>, Option<String>),
    /// The certificate was verified for the host (MTA-STS `enforce`).
    verified: bool,
    /// Messages it has carried.
    messages: u32,
}

impl std::fmt::Debug for Open {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Open")
            .field("host", &self.host)
            .field("ip", &self.ip)
            .field("messages", &self.messages)
            .finish_non_exhaustive()
    }
}

impl Open {
    /// Says goodbye, without waiting long for the answer.
    async fn quit(mut self) {
        let bye = async {
            match &mut self.client {
                Client::Plain(client) => client.cmd(b"QUIT\r\n").await.map(drop),
                Client::Tls(client) => client.cmd(b"QUIT\r\n").await.map(drop),
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), bye).await;
    }
}

/// What a delivery record says about the conversation.
struct Context {
    /// It carried a message before this one.
    reused: bool,
    host: String,
    ip: IpAddr,
    tls: (Option<String>, Option<String>),
    mta_sts: bool,
}

/// How a transaction ended: records for every recipient, whether another message may follow
/// on this conversation, and the reply if the server said "try later" to the relay as a whole.
struct Ended {
    records: Vec<DeliveryRecord>,
    reusable: bool,
    busy: Option<String>,
}

/// A message's conversation, as [`SmtpCourier::converse`] hands it on: the records, the
/// conversation if it may carry another message, and the reply if the server said "try later".
struct Conversation {
    records: Vec<DeliveryRecord>,
    open: Option<Open>,
    busy: Option<String>,
}

/// RSET, so the conversation can start another transaction; false if it did not work.
async fn rset<T: AsyncRead + AsyncWrite + Unpin>(client: &mut SmtpClient<T>) -> bool {
    client.cmd(b"RSET\r\n").await.is_ok_and(|reply| reply.code() / 100 == 2)
}

impl Courier for SmtpCourier {
    fn deliver<'a>(
        &'a self,
        from: &'a str,
        domain: &'a str,
        recipients: &'a [String],
        message: &'a [u8],
    ) -> Delivery<'a> {
        Box::pin(self.deliver_all(from, domain, recipients, message))
    }
}
