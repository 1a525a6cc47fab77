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
    /// DNS resolution could not be set up.
    #[error("{0}")]
    Courier(#[from] crate::courier::smtp::SetupError),
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
        if config.tls.certificates.is_empty() {
            certificates.install_self_signed(
                config.server.hostname.as_str(),
                config.tls.state_dir.as_path(),
                clock.now(),
            )?;
        }
        let acceptor = TlsAcceptor::from(certificates.server_config()?);
        let spool_dir = config.queue.dir.as_path();
        let spool = Spool::open(spool_dir)
            .map_err(|source| Error::Spool { path: spool_dir.to_path_buf(), source })?;
        let courier: Arc<dyn Courier> = match courier {
            Some(courier) => courier,
            None => Arc::new(SmtpCourier::new(config, clock.clone())?),
        };
        let shutdown = CancellationToken::new();
        let first_domain = config.server.domains[0].to_string();
        let bounce_signer = signer.clone();
        let bounce_domain = first_domain.clone();
        let clock_for_status = clock.clone();
        let queue = Queue::new(
            spool,
            courier,
            clock,
            Schedule {
                first_retry: config.queue.first_retry.get(),
                max_retry_interval: config.queue.max_retry_interval.get(),
                give_up_after: config.queue.give_up_after.get(),
                max_messages: config.queue.max_messages as usize,
            },
            Postmaster {
                hostname: config.server.hostname.to_string(),
                address: format!("postmaster@{first_domain}"),
            },
            Arc::new(move |bounce: &[u8]| bounce_signer.sign(&bounce_domain, bounce).ok()),
            shutdown.clone(),
        );
        let context = Arc::new(Context {
            hostname: config.server.hostname.to_string(),
            local_domains: config.server.domains.iter().map(ToString::to_string).collect(),
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
        });

        // Bind everything before serving anything: a port in use is a startup error.
        let mut bound = Vec::new();
        for (name, list, port) in [
            ("submission", &config.listeners.submission, ListenerMode::Submission),
            ("submissions", &config.listeners.submissions, ListenerMode::Submissions),
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
        let tasks = TaskTracker::new();
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
                context.clone(),
                connections.clone(),
                per_address.clone(),
                shutdown.clone(),
                tasks.clone(),
            ));
        }
        let relay = Relay { listeners, queue, certificates, shutdown, tasks };
        let status_path = config.tls.state_dir.as_path().parent().map(|dir| dir.join(STATUS_FILE));
        if let Some(path) = status_path {
            relay.tasks.spawn(write_status_forever(
                path,
                relay.snapshot_parts(),
                clock_for_status,
                relay.shutdown.clone(),
            ));
        }
        Ok(relay)
    }

    fn snapshot_parts(&self) -> (Vec<Listener>, Arc<Queue>, Certificates) {
        (self.listeners.clone(), self.queue.clone(), self.certificates.clone())
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

async fn accept_loop(
    listener: TcpListener,
    port: ListenerMode,
    context: Arc<Context>,
    connections: Arc<Semaphore>,
    per_address: Arc<PerAddress>,
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
        tasks.spawn(async move {
            let stream = match port {
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

/// Too many connections: say so with a 421 (where the port speaks plain text first) and hang
/// up.
async fn refuse(stream: TcpStream, port: ListenerMode, why: &'static str) {
    if port != ListenerMode::Submissions {
        let mut connection = Connection::new(Stream::Plain(stream), Duration::from_secs(5));
        let _ = connection.write(format!("421 {why}\r\n").as_bytes()).await;
        connection.shutdown().await;
    }
}

/// The file `status` reads, next to the TLS state directory (`/var/lib/outpost/status.json`).
pub const STATUS_FILE: &str = "status.json";

/// What `outpost-relay status` shows: the admin protocol's type, written as the status file.
pub use outpost_relay_api::Status;

async fn write_status_forever(
    path: PathBuf,
    parts: (Vec<Listener>, Arc<Queue>, Certificates),
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let (listeners, queue, certificates) = parts;
    loop {
        let status = Status {
            version: crate::VERSION.into(),
            pid: std::process::id(),
            updated: unix_seconds(clock.now()),
            // The admin command decides from the file's age and the process.
            running: true,
            listeners: listeners.clone(),
            certificates: certificates.list(),
            queued: queue.len(),
            recent_deliveries: queue
                .recent()
                .into_iter()
                .map(|(id, recipient, record)| outpost_relay_api::RecentDelivery {
                    id,
                    recipient,
                    record,
                })
                .collect(),
        };
        if let Ok(json) = serde_json::to_vec_pretty(&status) {
            // Readable by the admin commands; not worth a directory fsync every 2 s.
            let options = outpost_safe_file::Options::PRIVATE.mode(0o644).without_directory_sync();
            if outpost_safe_file::write(&path, &json, options).is_err() {
                tracing::debug!(path = %path.display(), "cannot write the status file");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
