//! A relay on loopback for tests, with a courier that records what it is given, and a small
//! client for raw SMTP dialogs (plain or TLS).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outpost_relay::clock::SystemClock;
use outpost_relay::courier::{Courier, Delivery, DeliveryRecord, Outcome};
use outpost_relay::server::Relay;
use outpost_relay_config::Config;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const HOST: &str = "mail.example.com";
pub const USER: &str = "alice@example.com";
pub const PASSWORD: &str = "correct horse battery staple";

/// One delivery the recording courier saw: sender, recipients, message.
pub type Recorded = (String, Vec<String>, Vec<u8>);

/// A courier that records deliveries and says they worked, or holds them forever.
#[derive(Debug, Default)]
pub struct RecordingCourier {
    pub delivered: Mutex<Vec<Recorded>>,
    pub hold: bool,
}

impl Courier for RecordingCourier {
    fn deliver<'a>(
        &'a self,
        from: &'a str,
        _domain: &'a str,
        recipients: &'a [String],
        message: &'a [u8],
    ) -> Delivery<'a> {
        Box::pin(async move {
            if self.hold {
                std::future::pending::<()>().await;
            }
            self.delivered.lock().unwrap().push((
                from.to_string(),
                recipients.to_vec(),
                message.to_vec(),
            ));
            recipients
                .iter()
                .map(|_| DeliveryRecord {
                    at: 0,
                    outcome: Outcome::Delivered,
                    host: None,
                    ip: None,
                    tls_version: None,
                    tls_cipher: None,
                    reply: "250 ok".into(),
                    problem: None,
                    mta_sts: false,
                })
                .collect()
        })
    }
}

/// A relay running in this process on loopback ports.
pub struct TestRelay {
    pub relay: Option<Relay>,
    pub directory: tempfile::TempDir,
    pub courier: Arc<RecordingCourier>,
}

/// Settings a test may change from the defaults below.
#[derive(Default)]
pub struct Options {
    /// Whole sections added to the config.
    pub extra_toml: String,
    /// Lines added to its `[queue]` section.
    pub queue_toml: String,
    /// Lines added to its `[listeners]` section.
    pub listeners_toml: String,
    pub real_courier: bool,
    /// Deliveries never finish: messages stay queued.
    pub hold_deliveries: bool,
}

impl TestRelay {
    pub async fn start() -> TestRelay {
        TestRelay::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> TestRelay {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        let key =
            outpost_relay::dkim::generate(outpost_relay_config::DkimAlgorithm::RsaSha256).unwrap();
        outpost_relay::dkim::write_new_key(&root.join("dkim.pem"), &key.private_pem).unwrap();
        let mut users = outpost_relay::users::UsersFile::default();
        users.set(USER, PASSWORD).unwrap();
        users.save(&root.join("users")).unwrap();
        let text = format!(
            "[server]\nhostname = \"{HOST}\"\ndomains = [\"example.com\"]\n\
             [listeners]\nsubmission = [\"127.0.0.1:0\"]\nsubmissions = [\"127.0.0.1:0\"]\n{listeners}\
             [tls]\nstate_dir = \"{root}/tls\"\n[users]\nfile = \"{root}/users\"\n\
             [[dkim]]\ndomain = \"example.com\"\nselector = \"outpost\"\nkey_file = \"{root}/dkim.pem\"\n\
             [queue]\ndir = \"{root}/queue\"\n{queue}{extra}",
            root = root.display(),
            queue = options.queue_toml,
            listeners = options.listeners_toml,
            // `{root}` in a test's own sections is this relay's directory.
            extra = options.extra_toml.replace("{root}", &root.display().to_string()),
        );
        // Also on disk, for the admin commands run as processes.
        std::fs::write(root.join("relay.toml"), &text).unwrap();
        let config = Config::parse(&text, std::path::Path::new("test.toml")).unwrap();
        let courier =
            Arc::new(RecordingCourier { hold: options.hold_deliveries, ..Default::default() });
        let chosen: Option<Arc<dyn Courier>> =
            if options.real_courier { None } else { Some(courier.clone()) };
        let relay = Relay::start_with(&config, Arc::new(SystemClock), chosen).await.unwrap();
        TestRelay { relay: Some(relay), directory, courier }
    }

    pub fn relay(&self) -> &Relay {
        self.relay.as_ref().unwrap()
    }

    pub fn submission(&self) -> std::net::SocketAddr {
        self.relay().address("submission").unwrap()
    }

    pub fn submissions(&self) -> std::net::SocketAddr {
        self.relay().address("submissions").unwrap()
    }

    /// The self-signed certificate the relay made, for clients to trust.
    pub fn certificate_pem(&self) -> Vec<u8> {
        std::fs::read(self.directory.path().join("tls/self-signed.pem")).unwrap()
    }

    /// The config file, for the admin commands.
    pub fn config_file(&self) -> PathBuf {
        self.directory.path().join("relay.toml")
    }

    pub fn queue_dir(&self) -> PathBuf {
        self.directory.path().join("queue")
    }

    /// Waits until the courier has seen `count` deliveries.
    pub async fn deliveries(&self, count: usize) -> Vec<Recorded> {
        for _ in 0..500 {
            let delivered = self.courier.delivered.lock().unwrap().clone();
            if delivered.len() >= count {
                return delivered;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {count} deliveries arrived");
    }

    pub fn tls_connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in
            rustls::pki_types::CertificateDer::pem_slice_iter(&self.certificate_pem())
        {
            roots.add(certificate.unwrap()).unwrap();
        }
        let config =
            rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    pub async fn stop(mut self) {
        if let Some(relay) = self.relay.take() {
            relay.shutdown().await;
        }
    }
}

use rustls::pki_types::pem::PemObject;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A raw SMTP client: send lines, read replies.
pub struct Dialog {
    stream: Option<Box<dyn Io>>,
    tcp: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl Dialog {
    /// Connects and reads the greeting.
    pub async fn connect(address: std::net::SocketAddr) -> (Dialog, String) {
        let tcp = TcpStream::connect(address).await.unwrap();
        let mut dialog = Dialog { stream: None, tcp: Some(tcp), buffer: Vec::new() };
        let greeting = dialog.reply().await;
        (dialog, greeting)
    }

    /// Connects from the local address `from` (any of 127.0.0.0/8) and reads the greeting.
    pub async fn connect_from(
        from: std::net::IpAddr,
        address: std::net::SocketAddr,
    ) -> (Dialog, String) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
        let tcp = socket.connect(address).await.unwrap();
        let mut dialog = Dialog { stream: None, tcp: Some(tcp), buffer: Vec::new() };
        let greeting = dialog.reply().await;
        (dialog, greeting)
    }

    /// Connects with TLS from the start (port 465) and reads the greeting.
    pub async fn connect_tls(relay: &TestRelay) -> (Dialog, String) {
        let tcp = TcpStream::connect(relay.submissions()).await.unwrap();
        let tls = relay.tls_connector().connect(HOST.try_into().unwrap(), tcp).await.unwrap();
        let mut dialog = Dialog { stream: Some(Box::new(tls)), tcp: None, buffer: Vec::new() };
        let greeting = dialog.reply().await;
        (dialog, greeting)
    }

    fn io(&mut self) -> &mut (dyn Io + '_) {
        match (&mut self.stream, &mut self.tcp) {
            (Some(stream), _) => stream.as_mut(),
            (None, Some(tcp)) => tcp,
            _ => unreachable!(),
        }
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io().write_all(bytes).await.unwrap();
    }

    /// Sends a command line (CRLF added).
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Reads one (possibly multi-line) reply; empty if the server closed the connection.
    pub async fn reply(&mut self) -> String {
        let mut text = String::new();
        loop {
            let line = match self.line().await {
                Some(line) => line,
                None => return text,
            };
            text.push_str(&line);
            text.push('\n');
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return text;
            }
        }
    }

    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(position) = self.buffer.iter().position(|&byte| byte == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=position).collect();
                return Some(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(10), self.io().read(&mut chunk))
                .await
                .expect("the relay did not answer within 10 s");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(read) => self.buffer.extend_from_slice(&chunk[..read]),
            }
        }
    }

    /// Sends a command and returns the reply.
    pub async fn command(&mut self, line: &str) -> String {
        self.send(line).await;
        self.reply().await
    }

    /// Sends a command and asserts the reply starts with `expected`.
    pub async fn expect(&mut self, line: &str, expected: &str) -> String {
        let reply = self.command(line).await;
        assert!(reply.starts_with(expected), "{line:?} got {reply:?}, expected {expected:?}");
        reply
    }

    /// The plain TCP stream, for a test that does its own TLS.
    pub fn take_tcp(&mut self) -> TcpStream {
        self.tcp.take().expect("a plain connection")
    }

    /// Whether the server has closed the connection.
    pub async fn closed(&mut self) -> bool {
        self.line().await.is_none()
    }

    /// STARTTLS and the handshake.
    pub async fn starttls(&mut self, relay: &TestRelay) {
        self.expect("STARTTLS", "220").await;
        let tcp = self.tcp.take().expect("STARTTLS on a plain connection");
        let tls = relay.tls_connector().connect(HOST.try_into().unwrap(), tcp).await.unwrap();
        self.stream = Some(Box::new(tls));
    }

    /// EHLO, STARTTLS, EHLO, AUTH PLAIN as alice: ready for MAIL.
    pub async fn logged_in(relay: &TestRelay) -> Dialog {
        let (mut dialog, _) = Dialog::connect(relay.submission()).await;
        dialog.expect("EHLO client.example", "250").await;
        dialog.starttls(relay).await;
        dialog.expect("EHLO client.example", "250").await;
        dialog.expect(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)), "235").await;
        dialog
    }
}

/// The AUTH PLAIN initial response.
pub fn plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

/// A small valid message.
pub fn message(subject: &str) -> String {
    format!(
        "From: Alice <{USER}>\r\nTo: bob@example.net\r\nSubject: {subject}\r\nDate: Sun, 29 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{}@example.com>\r\n\r\nHello.\r\n",
        subject.replace(' ', ".")
    )
}

/// A real authoritative DNS server (hickory-server) on loopback, for the relay's resolver and
/// for dkimpy, with zones `example.net.` and `example.com.` whose records can change at run time.
pub struct TestDns {
    pub address: std::net::SocketAddr,
    server: hickory_server::Server<hickory_server::zone_handler::Catalog>,
    zones: Vec<
        std::sync::Arc<
            hickory_server::store::in_memory::InMemoryZoneHandler<
                hickory_server::net::runtime::TokioRuntimeProvider,
            >,
        >,
    >,
}

/// A UDP and a TCP socket on one free port: the UDP port is the system's choice, and another
/// test may hold the TCP port of that number (a listener, or a connection's own end), so a few
/// ports are tried (bounded).
async fn dns_sockets() -> (tokio::net::UdpSocket, tokio::net::TcpListener) {
    for _ in 0..50 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        match tokio::net::TcpListener::bind(udp.local_addr().unwrap()).await {
            Ok(tcp) => return (udp, tcp),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(error) => panic!("the test DNS server's TCP socket: {error}"),
        }
    }
    panic!("no port free for both UDP and TCP in 50 tries");
}

impl TestDns {
    pub async fn start(records: Vec<hickory_server::proto::rr::Record>) -> TestDns {
        use hickory_server::net::runtime::TokioRuntimeProvider;
        use hickory_server::proto::rr::rdata::SOA;
        use hickory_server::proto::rr::{LowerName, Name, RData, Record};
        use hickory_server::store::in_memory::InMemoryZoneHandler;
        use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
        use std::str::FromStr;

        let mut catalog = Catalog::new();
        let mut zones = Vec::new();
        // The top-level zones too, as on the internet: a lookup above the test's domains (a
        // DMARC tree walk asks `_dmarc.net`) gets "no such name", not "refused".
        for zone in ["example.net.", "example.com.", "net.", "com."] {
            let origin = Name::from_str(zone).unwrap();
            let mut handler = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
                origin.clone(),
                ZoneType::Primary,
                AxfrPolicy::Deny,
            );
            let soa = SOA::new(
                Name::from_str("ns.example.net.").unwrap(),
                Name::from_str("root.example.net.").unwrap(),
                1,
                3600,
                600,
                86400,
                5,
            );
            handler.upsert_mut(Record::from_rdata(origin.clone(), 60, RData::SOA(soa)), 1);
            for record in records.iter().filter(|record| origin.zone_of(&record.name)) {
                handler.upsert_mut(record.clone(), 1);
            }
            let handler = std::sync::Arc::new(handler);
            catalog.upsert(LowerName::new(&origin), vec![handler.clone()]);
            zones.push(handler);
        }
        let (udp, tcp) = dns_sockets().await;
        let address = udp.local_addr().unwrap();
        let mut server = hickory_server::Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 4096);
        TestDns { address, server, zones }
    }

    /// Publishes a record, as a user would in their DNS panel.
    pub async fn add(&self, record: hickory_server::proto::rr::Record) {
        for zone in &self.zones {
            use hickory_server::zone_handler::ZoneHandler;
            if hickory_server::proto::rr::Name::from(zone.origin().clone()).zone_of(&record.name) {
                zone.upsert(record.clone(), 2).await;
            }
        }
    }

    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}

/// A record for [`TestDns`].
pub fn record(
    name: &str,
    data: hickory_server::proto::rr::RData,
) -> hickory_server::proto::rr::Record {
    use std::str::FromStr;
    hickory_server::proto::rr::Record::from_rdata(
        hickory_server::proto::rr::Name::from_str(name).unwrap(),
        60,
        data,
    )
}

/// The receiving server, a child process ended by PID when dropped.
pub struct Receiver {
    child: std::process::Child,
    directory: tempfile::TempDir,
    pub port: u16,
}

impl Receiver {
    pub fn start(refuse: &str) -> Receiver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Receiver::start_on(port, refuse)
    }

    /// On a chosen port.
    pub fn start_on(port: u16, refuse: &str) -> Receiver {
        let certificate =
            rcgen::generate_simple_self_signed(vec!["mx.example.net".into()]).unwrap();
        Receiver::start_with(
            port,
            refuse,
            &certificate.cert.pem(),
            &certificate.signing_key.serialize_pem(),
        )
    }

    /// On a chosen port, with a given certificate and key (PEM).
    pub fn start_with(port: u16, refuse: &str, certificate_pem: &str, key_pem: &str) -> Receiver {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(directory.path().join("cert.pem"), certificate_pem).unwrap();
        std::fs::write(directory.path().join("key.pem"), key_pem).unwrap();
        let mail = directory.path().join("mail");
        std::fs::create_dir(&mail).unwrap();
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/receiver.py"))
            .arg(port.to_string())
            .arg(&mail)
            .arg(directory.path().join("cert.pem"))
            .arg(directory.path().join("key.pem"))
            .arg(refuse)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3 with aiosmtpd (apt-get install python3-aiosmtpd)");
        let mut ready = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the receiver did not start");
        Receiver { child, directory, port }
    }

    /// Waits for message number `number` (1-based) and returns its bytes and envelope.
    pub async fn message(&self, number: usize) -> (Vec<u8>, serde_json::Value) {
        let base = self.directory.path().join("mail").join(number.to_string());
        for _ in 0..1000 {
            if base.with_extension("json").exists() {
                let envelope =
                    serde_json::from_slice(&std::fs::read(base.with_extension("json")).unwrap())
                        .unwrap();
                return (std::fs::read(base.with_extension("eml")).unwrap(), envelope);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("message {number} never reached the receiver");
    }

    /// How many connections the receiver has been given.
    pub fn connections(&self) -> usize {
        std::fs::read_to_string(self.directory.path().join("connections"))
            .map_or(0, |text| text.trim().parse().unwrap())
    }

    /// How many messages have arrived.
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.directory.path().join("mail"))
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|extension| extension == "json")
            })
            .count()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
