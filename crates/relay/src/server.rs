//! The running relay: everything the config asks for, loaded and checked before a single port
//! is opened (conformance 46), then the listeners, the queue, and a status file the admin CLI
//! reads.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use outpost_relay_api::Listener;
use outpost_relay_config::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::acme::Acme;
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::connection::{Connection, Stream};
use crate::courier::Courier;
use crate::courier::smtp::SmtpCourier;
use crate::dkim::Signer;
use crate::limits::{AuthThrottle, PerAddress, SendRate};
use crate::queue::{Postmaster, Queue, Schedule, Spool};
use crate::session::{self, Context, ListenerMode};
use crate::tls::Certificates;
use crate::users::Authenticator;

/// Why the relay would not start. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The users file is unreadable or malformed.
    #[error("users: {0}")]
    Users(#[from] crate::users::Error),
    /// A DKIM key is missing or invalid.
    #[error("{0}")]
    Dkim(#[from] crate::dkim::Error),
    /// A certificate could not be loaded or made.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::Error),
    /// A domain has no DKIM key: its mail could not be sent signed.
    #[error(
        "no [[dkim]] key for {0}: mail from it would leave unsigned (create one with `outpost-relay dkim generate`)"
    )]
    UnsignedDomain(String),
    /// The spool directory is unusable.
    #[error("queue directory {path}: {source}")]
    Spool {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A listener could not be opened.
    #[error("cannot listen on {address} ({name}): {source}")]
    Listen {
        /// The listener's name.
        name: &'static str,
        /// The address.
        address: SocketAddr,
        /// Why (often: another program already uses the port).
        #[source]
        source: std::io::Error,
    },
    /// The ACME client could not be set up (an unreadable `directory_root`, say).
    #[error("ACME: {0}")]
    Acme(String),
    /// DNS resolution could not be set up.
    #[error("{0}")]
    Courier(#[from] crate::courier::smtp::SetupError),
    /// Receiving could not be set up: the aliases file or the SRS secrets are unusable.
    #[error("inbound: {0}")]
    Inbound(String),
}

/// A started relay.
#[derive(Debug)]
pub struct Relay {
    /// The bound listeners.
    pub listeners: Vec<Listener>,
    /// The queue.
    pub queue: Arc<Queue>,
    /// The certificates in use.
    pub certificates: Certificates,
    /// The ACME manager, when the config has `[tls.acme]`.
    pub acme: Option<Acme>,
    /// Receiving, when the relay listens on port 25.
    pub inbound: Option<Arc<crate::inbound::Inbound>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Relay {
    /// Loads everything, binds the listeners and starts serving and delivering.
    pub async fn start(config: &Config) -> Result<Relay, Error> {
        Relay::start_with(config, Arc::new(SystemClock), None).await
    }

    /// Like [`Relay::start`], with a clock and, optionally, a courier of the caller's (tests).
    pub async fn start_with(
        config: &Config,
        clock: Arc<dyn Clock>,
        courier: Option<Arc<dyn Courier>>,
    ) -> Result<Relay, Error> {
        let authenticator = Arc::new(Authenticator::new(config.users.file.as_path())?);
        let signer = Arc::new(Signer::load(&config.dkim)?);
        for domain in &config.server.domains {
            if !signer.signs_for(domain.as_str()) {
                return Err(Error::UnsignedDomain(domain.to_string()));
            }
        }
        let certificates = Certificates::default();
        for files in &config.tls.certificates {
            certificates.install_files(files.chain.as_path(), files.key.as_path(), false)?;
        }
        let tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let status_changed = Arc::new(tokio::sync::Notify::new());
        // A saved ACME certificate is served at once; self-signed only until the first one.
        let (acme, has_acme_certificate) = match &config.tls.acme {
            Some(acme) => {
                let resolver = crate::courier::smtp::resolver(&config.dns)?;
                let client = crate::acme::Setup::client(resolver, acme).map_err(Error::Acme)?;
                let setup = crate::acme::Setup {
                    hostname: config.server.hostname.to_string(),
                    acme: acme.clone(),
                    dir: config.tls.state_dir.as_path().join("acme"),
                    https: !config.listeners.https.is_empty(),
                    http: !config.listeners.acme_http.is_empty(),
                    changed: status_changed.clone(),
                    client,
                };
                let (acme, usable) = crate::acme::Acme::start(
                    setup,
                    certificates.clone(),
                    clock.clone(),
                    shutdown.clone(),
                    &tasks,
                );
                (Some(acme), usable)
            }
            None => (None, false),
        };
        if config.tls.certificates.is_empty() && !has_acme_certificate {
            certificates.install_self_signed(
                config.server.hostname.as_str(),
                config.tls.state_dir.as_path(),
                clock.now(),
            )?;
        }
        let acceptor = TlsAcceptor::from(certificates.server_config()?);
        let https_acceptor = TlsAcceptor::from(certificates.https_config()?);
        let first_port = |list: &[SocketAddr]| list.first().map(SocketAddr::port);
        let site = Arc::new(crate::web::Site {
            hostname: config.server.hostname.to_string(),
            domains: config.server.domains.iter().map(ToString::to_string).collect(),
            mta_sts_policy: config.mta_sts_policy(),
            submissions_port: first_port(&config.listeners.submissions),
            submission_port: first_port(&config.listeners.submission),
            acme: acme.clone(),
        });
        let spool_dir = config.queue.dir.as_path();
        let spool = Spool::open(spool_dir)
            .map_err(|source| Error::Spool { path: spool_dir.to_path_buf(), source })?;
        let courier: Arc<dyn Courier> = match courier {
            Some(courier) => courier,
            None => Arc::new(SmtpCourier::new(config, clock.clone())?),
        };
        let first_domain = config.server.domains[0].to_string();
        let bounce_signer = signer.clone();
        let bounce_domain = first_domain.clone();
        let clock_for_status = clock.clone();
        let domains: Vec<String> = config.server.domains.iter().map(ToString::to_string).collect();
        let router = match (&config.inbound.owner, config.listeners.inbound.is_empty()) {
            (Some(owner), false) => Some(Arc::new(
                crate::inbound::Router::new(
                    domains.clone(),
                    owner.clone(),
                    config.inbound.aliases_file.as_path(),
                    config.inbound.srs_secrets_file.as_path(),
                    clock.now(),
                )
                .map_err(Error::Inbound)?,
            )),
            _ => None,
        };
        let sign_bounce: crate::queue::BounceSigner =
            Arc::new(move |bounce: &[u8]| bounce_signer.sign(&bounce_domain, bounce).ok());
        let bounces = match &router {
            // A bounce for a forwarded message goes back to its original sender, through SRS.
            Some(router) => {
                let router = router.clone();
                let clock = clock.clone();
                crate::queue::Bounces {
                    sign: sign_bounce,
                    return_path: Arc::new(move |sender: &str| {
                        router.return_path(sender, clock.now())
                    }),
                }
            }
            None => crate::queue::Bounces::to_sender(sign_bounce),
        };
        let inbound = match &router {
            Some(router) => Some(Arc::new(crate::inbound::Inbound::new(
                router.clone(),
                crate::inbound::Checker::new(
                    crate::courier::smtp::resolver(&config.dns)?,
                    config.inbound.blocklists.iter().map(ToString::to_string).collect(),
                    config.server.hostname.to_string(),
                ),
                config.inbound.arc,
                config.inbound.messages_per_address_per_hour,
                clock.clone(),
            ))),
            None => None,
        };
        let queue = Queue::new(
            spool,
            courier,
            clock,
            Schedule {
                first_retry: config.queue.first_retry.get(),
                max_retry_interval: config.queue.max_retry_interval.get(),
                delay_notice_after: config.queue.delay_notice_after.get(),
                give_up_after: config.queue.give_up_after.get(),
                max_messages: config.queue.max_messages as usize,
            },
            Postmaster {
                hostname: config.server.hostname.to_string(),
                address: format!("postmaster@{first_domain}"),
            },
            bounces,
            shutdown.clone(),
        );
        let context = Arc::new(Context {
            hostname: config.server.hostname.to_string(),
            local_domains: domains,
            max_message_size: config.limits.max_message_size.bytes() as usize,
            max_recipients: config.limits.max_recipients as usize,
            tls: acceptor,
            authenticator,
            signer,
            queue: queue.clone(),
            throttle: AuthThrottle::new(
                config.limits.auth_failures_before_block,
                config.limits.auth_block_time.get(),
            ),
            send_rate: SendRate::new(config.limits.messages_per_user_per_hour),
            password_checks: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            )),
            login_deadline: config.limits.login_deadline.get(),
            shutdown: shutdown.clone(),
            clock: clock_for_status.clone(),
            inbound: inbound.clone(),
        });

        // Bind everything before serving anything: a port in use is a startup error.
        let mut bound = Vec::new();
        for (name, list, port) in [
            ("submission", &config.listeners.submission, ListenerMode::Submission),
            ("submissions", &config.listeners.submissions, ListenerMode::Submissions),
            ("inbound", &config.listeners.inbound, ListenerMode::Inbound),
            ("https", &config.listeners.https, ListenerMode::Https),
            ("acme_http", &config.listeners.acme_http, ListenerMode::Http),
        ] {
            for address in list {
                let listener = bind(*address).map_err(|source| Error::Listen {
                    name,
                    address: *address,
                    source,
                })?;
                let local = listener.local_addr().map_err(|source| Error::Listen {
                    name,
                    address: *address,
                    source,
                })?;
                bound.push((name, local, port, listener));
            }
        }
        let resumed = queue
            .resume()
            .map_err(|source| Error::Spool { path: spool_dir.to_path_buf(), source })?;
        if resumed > 0 {
            tracing::info!(messages = resumed, "resuming delivery of queued messages");
        }
        let connections = Arc::new(Semaphore::new(config.limits.max_connections as usize));
        let per_address = PerAddress::new(config.limits.connections_per_address);
        let listeners: Vec<Listener> = bound
            .iter()
            .map(|(_, address, mode, _)| Listener { mode: *mode, address: *address })
            .collect();
        for (name, address, port, listener) in bound {
            tracing::info!(%address, listener = name, "listening");
            tasks.spawn(accept_loop(
                listener,
                port,
                Web { site: site.clone(), tls: https_acceptor.clone() },
                context.clone(),
                (connections.clone(), per_address.clone()),
                shutdown.clone(),
                tasks.clone(),
            ));
        }
        let relay = Relay { listeners, queue, certificates, acme, inbound, shutdown, tasks };
        if let Some(root) = config.tls.state_dir.as_path().parent() {
            let handles =
                crate::control::Handles { queue: relay.queue.clone(), acme: relay.acme.clone() };
            let socket = crate::control::socket_path(root);
            if let Err(error) = crate::control::listen(&socket, handles, relay.shutdown.clone()) {
                // Serving mail matters more; `queue retry` and `cert renew` will say why.
                tracing::warn!(%error, socket = %socket.display(), "cannot open the control socket");
            }
            relay.tasks.spawn(write_status_forever(
                root.join(STATUS_FILE),
                relay.snapshot_parts(),
                clock_for_status,
                status_changed,
                relay.shutdown.clone(),
            ));
        }
        Ok(relay)
    }

    fn snapshot_parts(&self) -> StatusParts {
        StatusParts {
            listeners: self.listeners.clone(),
            queue: self.queue.clone(),
            certificates: self.certificates.clone(),
            acme: self.acme.clone(),
            inbound: self.inbound.clone(),
        }
    }

    /// The address a listener is bound to (the first one of that name).
    pub fn address(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|listener| listener.mode.as_str() == name)
            .map(|listener| listener.address)
    }

    /// Stops accepting, lets sessions and deliveries stop, and waits for them (at most 10 s).
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            self.tasks.wait().await;
            self.queue.wait().await;
        })
        .await;
    }

    /// Waits until the token is cancelled, then shuts down.
    pub async fn serve_until(self, stop: CancellationToken) {
        stop.cancelled().await;
        self.shutdown().await;
    }
}

/// Binds a listener; IPv6 sockets are IPv6-only so `0.0.0.0` and `[::]` can both be listed.
fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = if address.is_ipv6() { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// What the web listeners need.
#[derive(Clone)]
struct Web {
    site: Arc<crate::web::Site>,
    tls: TlsAcceptor,
}

async fn accept_loop(
    listener: TcpListener,
    port: ListenerMode,
    web: Web,
    context: Arc<Context>,
    (connections, per_address): (Arc<Semaphore>, Arc<PerAddress>),
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: wait a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tasks.spawn(refuse(stream, port, "4.3.2 too many connections; try again shortly"));
            continue;
        };
        // One address cannot take every slot: the others keep being served.
        let Some(held) = per_address.hold(peer.ip()) else {
            tasks.spawn(refuse(stream, port, "4.7.0 too many connections from your address"));
            continue;
        };
        let context = context.clone();
        let web = web.clone();
        tasks.spawn(async move {
            let stream = match port {
                ListenerMode::Http => {
                    crate::web::serve(stream, web.site, port).await;
                    drop((permit, held));
                    return;
                }
                ListenerMode::Https => {
                    match tokio::time::timeout(session::HANDSHAKE_TIMEOUT, web.tls.accept(stream))
                        .await
                    {
                        // TLS-ALPN-01: the handshake was the whole answer.
                        Ok(Ok(tls))
                            if tls.get_ref().1.alpn_protocol()
                                == Some(crate::tls::ACME_TLS_ALPN) => {}
                        Ok(Ok(tls)) => crate::web::serve(tls, web.site, port).await,
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => {}
                    }
                    drop((permit, held));
                    return;
                }
                ListenerMode::Submission | ListenerMode::Inbound => Stream::Plain(stream),
                ListenerMode::Submissions => {
                    match tokio::time::timeout(
                        session::HANDSHAKE_TIMEOUT,
                        context.tls.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                        Ok(Err(error)) => {
                            tracing::info!(%peer, %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            session::run(context, Connection::new(stream, session::COMMAND_TIMEOUT), peer, port)
                .await;
            drop((permit, held));
        });
    }
}

/// Too many connections: say so with a 421 (where the port speaks SMTP in plain text first)
/// and hang up.
async fn refuse(stream: TcpStream, port: ListenerMode, why: &'static str) {
    if matches!(port, ListenerMode::Submission | ListenerMode::Inbound) {
        let mut connection = Connection::new(Stream::Plain(stream), Duration::from_secs(5));
        let _ = connection.write(format!("421 {why}\r\n").as_bytes()).await;
        connection.shutdown().await;
    }
}

/// The file `status` reads, next to the TLS state directory (`/var/lib/outpost/status.json`).
pub const STATUS_FILE: &str = "status.json";

/// What `outpost-relay status` shows: the admin protocol's type, written as the status file.
pub use outpost_relay_api::Status;

/// What the status file is made of.
struct StatusParts {
    listeners: Vec<Listener>,
    queue: Arc<Queue>,
    certificates: Certificates,
    acme: Option<Acme>,
    inbound: Option<Arc<crate::inbound::Inbound>>,
}

async fn write_status_forever(
    path: PathBuf,
    parts: StatusParts,
    clock: Arc<dyn Clock>,
    changed: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) {
    let StatusParts { listeners, queue, certificates, acme, inbound } = parts;
    loop {
        let status = Status {
            version: crate::VERSION.into(),
            pid: std::process::id(),
            updated: unix_seconds(clock.now()),
            // The admin command decides from the file's age and the process.
            running: true,
            listeners: listeners.clone(),
            certificates: certificates.list(),
            acme: acme.as_ref().map(Acme::status),
            started: queue.started(),
            queued: queue.len(),
            last_day: queue.last_day(),
            recent_deliveries: queue
                .recent()
                .into_iter()
                .map(|(id, recipient, record)| outpost_relay_api::RecentDelivery {
                    id,
                    recipient,
                    record,
                })
                .collect(),
            inbound: inbound.as_ref().map(|inbound| inbound.status()),
        };
        if let Ok(json) = serde_json::to_vec_pretty(&status) {
            // Readable by the admin commands; not worth a directory fsync every 2 s.
            let options = outpost_safe_file::Options::PRIVATE.mode(0o644).without_directory_sync();
            if outpost_safe_file::write(&path, &json, options).is_err() {
                tracing::debug!(path = %path.display(), "cannot write the status file");
            }
        }
        // Every 2 s, and at once when the ACME work moves on (the app follows its steps).
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = changed.notified() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
