//! The wizard's workflows, callable without a window: each is what one button does, from the
//! saved choices to a result, so the desktop shell's commands are one call and a conversion.
//!
//! Every workflow reconnects from the profile's server and the keychain's login rather than
//! keeping a session open: a session would die with the laptop's sleep, and a connect takes
//! 0.1–1 s. Every step they call is idempotent, so stopping one at any `await` is safe.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use outpost_relay_api::{self as api};
use serde::{Deserialize, Serialize};

use crate::certificate::{self, Blocker, CertificateChoice, Tls};
use crate::checks::{self, Check};
use crate::choices::{
    Domain, ExtraDomain, ExtraDomainForm, Field, Invalid, Login, Problem, Server,
};
use crate::dns::{blocklists, report};
use crate::install::{self, MailServer, Stage, Step};
use crate::probe::{self, Submission};
use crate::profile::{Installed, Profile};
use crate::progress::Progress;
use crate::relay_admin::{self, RelayAdmin};
use crate::secrets::{self, SecretName, SecretStore};
use crate::settings::Settings;
use crate::ssh::{self, Credentials, HostKey, Session, Target};
use crate::test_email;

/// Why a workflow stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field to correct.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// What the workflow needs from an earlier step is missing.
    #[error("not ready: {0:?}")]
    NotReady(Missing),
    /// SSH failed.
    #[error(transparent)]
    Ssh(#[from] ssh::Error),
    /// The keychain failed.
    #[error(transparent)]
    Secrets(#[from] secrets::Error),
    /// The install stopped.
    #[error(transparent)]
    Install(#[from] install::Error),
    /// An admin command of the relay failed.
    #[error(transparent)]
    Admin(#[from] relay_admin::Error),
    /// Port 587 could not be verified from this computer.
    #[error(transparent)]
    Probe(#[from] probe::Error),
    /// The relay runs but reports no certificate to check port 587 against.
    #[error("the relay reports no certificate")]
    NoCertificate,
    /// The DNS lookups could not run.
    #[error("looking up {domain}: {error}")]
    Dns {
        /// The domain.
        domain: String,
        /// Why.
        error: crate::dns::check::Error,
    },
    /// `connect` was asked to trust a host key that first contact did not show for this server.
    #[error("the host key {fingerprint} was not shown for {target}")]
    HostKeyNotShown {
        /// `host:port`.
        target: String,
        /// The fingerprint asked for.
        fingerprint: String,
    },
    /// The saved choices make no valid relay config (a hand-edited profile, say).
    #[error("the saved choices make no valid relay config: {0}")]
    Config(outpost_relay_config::Error),
    /// A backup could not be made, read or put back.
    #[error(transparent)]
    Backup(#[from] crate::backup::Error),
    /// The backup is of another domain than the one chosen.
    #[error("the backup is for {domain}")]
    BackupForAnotherDomain {
        /// Its domain.
        domain: String,
    },
    /// A certificate cannot be asked for yet: what to fix first.
    #[error("a certificate cannot be asked for yet: {0:?}")]
    CertificateBlocked(Vec<Blocker>),
    /// The CA did not issue one.
    #[error("the CA did not issue a certificate for {mail_host} ({:?}): {}", .failure.kind, .failure.detail)]
    Acme {
        /// Why.
        failure: api::AcmeFailure,
        /// The name asked for.
        mail_host: String,
    },
    /// No certificate after the longest wait.
    #[error("no certificate after {seconds} s (the relay was at {phase:?})")]
    CertificateTimeout {
        /// The wait.
        seconds: u64,
        /// What the relay was doing.
        phase: api::AcmePhase,
    },
    /// An advanced setting could not be used (an unreadable file, say).
    #[error("{0}")]
    Settings(String),
    /// The relay did not take the test email on port 587.
    #[error("the relay did not take the test email: {detail}")]
    Submit {
        /// Why, as data.
        failure: crate::test_email::SubmitFailure,
        /// lettre's words.
        detail: String,
    },
}

/// What an earlier step should have left, and has not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Missing {
    /// No server is connected yet.
    Server,
    /// The server's login is no longer in the keychain.
    Login {
        /// `user@host`.
        login: String,
    },
    /// The domain is not chosen yet.
    Domain,
    /// The relay is not installed yet.
    Install,
    /// No DKIM key rotation is under way (or it has not switched yet).
    DkimRotation,
    /// The old DKIM key may still verify mail sent before the switch until `until`.
    OldDkimKeyInUse {
        /// Seconds since the epoch (the server's clock).
        until: u64,
    },
    /// The relay has no certificate from a CA yet (step 8).
    Certificate,
    /// No further domain of this name is on the relay.
    ExtraDomain {
        /// The name asked for.
        domain: String,
    },
}

/// Where to connect, as typed on the Connect screen.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// The host name or IP address (an `ssh://`, a `user@` and a trailing `/` are tolerated).
    pub host: String,
    /// The SSH port.
    pub port: u16,
    /// The login user.
    pub user: String,
}

/// The longest host name (RFC 1035) or IPv6 literal accepted.
const MAX_HOST: usize = 253;
/// The longest login user name accepted (Linux allows 32).
const MAX_USER: usize = 64;

impl Address {
    /// The SSH target, or the field to correct.
    pub fn target(&self) -> Result<Target, Invalid> {
        let host = self.host.trim().trim_start_matches("ssh://").trim_end_matches('/');
        let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
        if host.is_empty() {
            return Err(Invalid::new(Field::Host, Problem::Empty));
        }
        if host.len() > MAX_HOST {
            return Err(Invalid::new(Field::Host, Problem::TooLong { max: MAX_HOST }));
        }
        if host.contains(char::is_whitespace) || host.contains(['/', '\\', '\'', '"', '`', '$']) {
            return Err(Invalid::new(Field::Host, Problem::NotAHost));
        }
        if self.port == 0 {
            return Err(Invalid::new(Field::Port, Problem::Empty));
        }
        let user = self.user.trim();
        if user.is_empty() {
            return Err(Invalid::new(Field::User, Problem::Empty));
        }
        if user.len() > MAX_USER {
            return Err(Invalid::new(Field::User, Problem::TooLong { max: MAX_USER }));
        }
        if user.contains(char::is_whitespace) {
            return Err(Invalid::new(Field::User, Problem::HasSpace));
        }
        Ok(Target { host: host.to_string(), port: self.port, user: user.to_string() })
    }
}

/// How to log in, as chosen on the Connect screen. Never logged: the password and key
/// passphrase go straight to SSH and the keychain.
#[derive(Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct LoginForm {
    /// Password, key file or a new key.
    pub kind: Login,
    /// The password (for a password login, or to add a new key once).
    #[ts(optional)]
    pub password: Option<String>,
    /// The private key file's path (`~/` allowed).
    #[ts(optional)]
    pub key_file: Option<String>,
    /// The key's passphrase, if it has one.
    #[ts(optional)]
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("LoginForm").field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// The host keys first contact showed, per server: `connect` trusts only one of these, so the
/// rule "only the fingerprint the user was shown" holds whatever the window sends.
#[derive(Debug, Default)]
pub struct ShownHostKeys(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl ShownHostKeys {
    fn key(target: &Target) -> String {
        format!("{}:{}", target.host.to_ascii_lowercase(), target.port)
    }

    fn remember(&self, target: &Target, fingerprint: &str) {
        let mut shown = self.0.lock().expect("host keys lock");
        shown.insert(Self::key(target), fingerprint.to_string());
    }

    fn was_shown(&self, target: &Target, fingerprint: &str) -> bool {
        let shown = self.0.lock().expect("host keys lock");
        shown.get(&Self::key(target)).is_some_and(|seen| seen == fingerprint)
    }
}

/// Reads the server's host key for the user to confirm before anything is sent, and remembers
/// it as the one `connect` may trust.
pub async fn first_contact(shown: &ShownHostKeys, address: &Address) -> Result<HostKey, Error> {
    let target = address.target()?;
    let key = ssh::first_contact(&target).await?;
    shown.remember(&target, &key.fingerprint);
    Ok(key)
}

/// Makes a new ed25519 key for `user@host`, keeps its private half in the keychain, and returns
/// the `authorized_keys` line to paste into the provider's panel (or to add with the password).
pub async fn new_key(secrets: &dyn SecretStore, address: &Address) -> Result<String, Error> {
    let target = address.target()?;
    let login = format!("{}@{}", target.user, target.host);
    let (private_key, line) = ssh::generate_key(&format!("outpost:{login}"))?;
    secrets.set(&SecretName::SshKey { login }, &private_key).await?;
    Ok(line)
}

/// Logs in with the confirmed host key and returns the server to save; the password or key
/// goes to the keychain. For a new key with a password given, the password logs in once to
/// add the key, and the key is used from then on (the password is not kept).
pub async fn connect(
    secrets: &dyn SecretStore,
    shown: &ShownHostKeys,
    address: &Address,
    fingerprint: &str,
    form: LoginForm,
) -> Result<Server, Error> {
    let target = address.target()?;
    if !shown.was_shown(&target, fingerprint) {
        let target = ShownHostKeys::key(&target);
        return Err(Error::HostKeyNotShown { target, fingerprint: fingerprint.to_string() });
    }
    let login = format!("{}@{}", target.user, target.host);
    let password = form.password.filter(|password| !password.is_empty());
    let (credentials, keep) = match form.kind {
        Login::Password => {
            let password = password.clone().ok_or(Invalid::new(Field::Password, Problem::Empty))?;
            let keep = (SecretName::SshPassword { login: login.clone() }, password.clone());
            (Credentials::Password(password), keep)
        }
        Login::Key => {
            let unlocked = load_key(form.key_file.as_deref().unwrap_or(""), form.passphrase)?;
            let keep = (SecretName::SshKey { login: login.clone() }, unlocked.clone());
            (Credentials::Key { private_key: unlocked, passphrase: None }, keep)
        }
        Login::NewKey => {
            let name = SecretName::SshKey { login: login.clone() };
            let private_key = secrets
                .get(&name)
                .await?
                .ok_or(Invalid::new(Field::NewKey, Problem::KeyNotMade))?;
            (
                Credentials::Key { private_key: private_key.clone(), passphrase: None },
                (name, private_key),
            )
        }
    };
    // A new key with the password given: the password logs in once to add the key's line.
    if let (Login::NewKey, Some(password), Credentials::Key { private_key, .. }) =
        (form.kind, password, &credentials)
    {
        let line = ssh::public_line(private_key)?;
        let session = ssh::connect(&target, &Credentials::Password(password), fingerprint).await?;
        let added = session.authorize_key(&line).await;
        session.close().await;
        added?;
    }
    let session = open_target(&target, &credentials, fingerprint).await;
    match session {
        Ok(session) => session.close().await,
        Err(Error::Ssh(ssh::Error::NotRoot { user, reason })) => {
            let problem = Problem::CannotBecomeRoot { user, reason };
            return Err(Invalid::new(Field::User, problem).into());
        }
        Err(error) => return Err(error),
    }
    secrets.set(&keep.0, &keep.1).await?;
    // The other way of logging in is no longer used: it leaves the keychain.
    let unused = match form.kind {
        Login::Password => SecretName::SshKey { login: login.clone() },
        Login::Key | Login::NewKey => SecretName::SshPassword { login: login.clone() },
    };
    secrets.delete(&unused).await?;
    Ok(Server {
        host: target.host,
        port: target.port,
        user: target.user,
        fingerprint: fingerprint.to_string(),
        login: form.kind,
    })
}

/// Reads and unlocks a private key file; the error names the field to correct.
fn load_key(path: &str, passphrase: Option<String>) -> Result<String, Invalid> {
    let path = path.trim();
    if path.is_empty() {
        return Err(Invalid::new(Field::KeyFile, Problem::Empty));
    }
    let path = expand_home(path);
    let text = std::fs::read_to_string(&path).map_err(|error| {
        let problem =
            Problem::Unreadable { path: path.display().to_string(), reason: error.to_string() };
        Invalid::new(Field::KeyFile, problem)
    })?;
    if text.trim_start().starts_with("ssh-") {
        return Err(Invalid::new(Field::KeyFile, Problem::PublicKeyFile));
    }
    let passphrase = passphrase.filter(|passphrase| !passphrase.is_empty());
    ssh::unlock_key(&text, passphrase.as_deref()).map_err(|_| {
        let problem =
            if passphrase.is_none() { Problem::PassphraseNeeded } else { Problem::PassphraseWrong };
        Invalid::new(Field::Passphrase, problem)
    })
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The saved server and its login from the keychain.
pub async fn saved_login(
    profile: &Profile,
    secrets: &dyn SecretStore,
) -> Result<(Server, Credentials), Error> {
    let server = profile.server.clone().ok_or(Error::NotReady(Missing::Server))?;
    let login = server.login_name();
    let secret = match server.login {
        Login::Password => SecretName::SshPassword { login: login.clone() },
        Login::Key | Login::NewKey => SecretName::SshKey { login: login.clone() },
    };
    let value = secrets.get(&secret).await?.ok_or(Error::NotReady(Missing::Login { login }))?;
    let credentials = match server.login {
        Login::Password => Credentials::Password(value),
        Login::Key | Login::NewKey => Credentials::Key { private_key: value, passphrase: None },
    };
    Ok((server, credentials))
}

/// The password sudo may ask for: the login's, for a password login.
fn sudo_password(credentials: &Credentials) -> Option<&str> {
    match credentials {
        Credentials::Password(password) => Some(password),
        Credentials::Key { .. } => None,
    }
}

async fn open_target(
    target: &Target,
    credentials: &Credentials,
    fingerprint: &str,
) -> Result<Session, Error> {
    let mut session = ssh::connect(target, credentials, fingerprint).await?;
    if let Err(error) = session.become_root(sudo_password(credentials)).await {
        session.close().await;
        return Err(error.into());
    }
    Ok(session)
}

/// Connects to the saved server, with commands running as root (through sudo if needed).
pub async fn open(server: &Server, credentials: &Credentials) -> Result<Session, Error> {
    let target = Target { host: server.host.clone(), port: server.port, user: server.user.clone() };
    open_target(&target, credentials, &server.fingerprint).await
}

/// Runs `work` on a session to the saved server, and closes the session whatever happens.
async fn with_session<T>(
    profile: &Profile,
    secrets: &dyn SecretStore,
    work: impl AsyncFnOnce(&Session) -> Result<T, Error>,
) -> Result<T, Error> {
    let (server, credentials) = saved_login(profile, secrets).await?;
    let session = open(&server, &credentials).await?;
    let result = work(&session).await;
    session.close().await;
    result
}

/// Runs every server check.
pub async fn run_checks(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
) -> Result<Vec<Check>, Error> {
    let mut settings = settings.checks();
    // Once the domain is chosen, reverse DNS is compared with its mail host.
    settings.mail_host = profile.domain.as_ref().map(|domain| domain.mail_host.to_string());
    with_session(profile, secrets, async |session| Ok(checks::run_all(session, &settings).await?))
        .await
}

/// Stops and disables a preinstalled mail server (Postfix, Exim, …), streaming what it does.
pub async fn stop_mail_servers(
    profile: &Profile,
    secrets: &dyn SecretStore,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<MailServer>, Error> {
    with_session(profile, secrets, async |session| {
        Ok(install::stop_other_mail_servers(session, progress).await?)
    })
    .await
}

/// What the install did and what is now on the server.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct InstallReport {
    /// Every stage, changed or not.
    pub steps: Vec<Step>,
    /// The running relay's status.
    pub status: api::Status,
    /// What a mail client sees on port 587, checked from this computer.
    pub submission: Submission,
    /// What sending servers see on port 25, when the relay receives for the domain.
    pub inbound: Option<probe::Inbound>,
    /// The SMTP user (its password is in the keychain).
    pub smtp_user: String,
    /// How long it took, in milliseconds.
    #[ts(type = "number")]
    pub millis: u64,
}

/// Installs (or repairs, or upgrades) the relay on the saved server for the saved domain,
/// verifies it from this computer, and returns the report and what to remember of it.
pub async fn install(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(InstallReport, Installed), Error> {
    let started = std::time::Instant::now();
    let domain = profile.domain.clone().ok_or(Error::NotReady(Missing::Domain))?;
    // A certificate from a CA, once step 8 has got one, stays set up.
    let input = relay_input(profile, settings)?;
    let acme_root = match &profile.certificate {
        Some(_) => acme_directory_root(settings)?,
        None => None,
    };
    let (server, _) = saved_login(profile, secrets).await?;
    // An SMTP user from an earlier install with another sending address is not used any more.
    let retired = profile
        .installed
        .as_ref()
        .map(|installed| installed.smtp_user.clone())
        .filter(|old| !old.eq_ignore_ascii_case(&input.smtp_user));
    let (steps, status, dkim, addresses) = with_session(profile, secrets, async |session| {
        upload_acme_root(session, acme_root.as_deref()).await?;
        let steps = install::install(session, &input, secrets, progress).await?;
        if let Some(old) = &retired {
            install::retire_smtp_user(session, secrets, old).await?;
        }
        // Each further domain's sending address has a login of its own.
        for extra in &profile.extra_domains {
            crate::users::ensure(session, secrets, &extra.sender).await?;
        }
        progress(Progress::Stage { id: Stage::Verify });
        let admin = RelayAdmin::new(session);
        let status = admin.status().await?;
        let dkim = admin.dkim_records().await?;
        let addresses = checks::public_addresses(session).await?;
        Ok((steps, status, dkim, addresses))
    })
    .await?;
    let certificate = status.certificates.first().ok_or(Error::NoCertificate)?;
    let trust = trust(certificate, settings, domain.mail_host.as_str())?;
    let submission = probe::submission(&server.host, 587, &trust).await?;
    let inbound = match domain.receives() {
        true => Some(probe::inbound(&server.host, &trust).await?),
        false => None,
    };
    let installed = Installed {
        relay_version: status.version.clone(),
        addresses,
        dkim: dkim.iter().map(|record| (record.name(), record.txt.clone())).collect(),
        smtp_user: input.smtp_user.clone(),
    };
    let report = InstallReport {
        steps,
        status,
        submission,
        inbound,
        smtp_user: input.smtp_user,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    Ok((report, installed))
}

/// How this computer checks the relay's certificate: by its SHA-256 while self-signed, by its
/// chain once a CA issued it.
fn trust(
    certificate: &api::Certificate,
    settings: &Settings,
    mail_host: &str,
) -> Result<probe::Trust, Error> {
    Ok(match certificate.source {
        api::CertificateSource::SelfSigned => probe::Trust::Pinned(certificate.sha256.clone()),
        _ => probe::Trust::Chain {
            extra_roots: settings.trusted_roots().map_err(Error::Settings)?,
            name: mail_host.to_string(),
        },
    })
}

/// The ACME directory's root from the advanced settings (test CAs only), read on this computer.
fn acme_directory_root(settings: &Settings) -> Result<Option<Vec<u8>>, Error> {
    let Some(path) = &settings.acme_directory_root else { return Ok(None) };
    std::fs::read(path).map(Some).map_err(|error| {
        Error::Settings(format!("cannot read acme-directory-root {}: {error}", path.display()))
    })
}

/// Puts the ACME directory's root where the relay's config says it is.
async fn upload_acme_root(session: &Session, pem: Option<&[u8]>) -> Result<(), Error> {
    let Some(pem) = pem else { return Ok(()) };
    session.upload(pem, crate::settings::ACME_DIRECTORY_ROOT, 0o644).await?;
    Ok(())
}

/// What the Certificate step got.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct CertificateReport {
    /// The certificate the relay serves now.
    pub certificate: api::Certificate,
    /// The relay's ACME state: the next renewal and why then.
    pub acme: api::AcmeStatus,
    /// Port 587 as a mail program sees it, the chain verified.
    pub submission: Submission,
    /// The ports this computer saw the certificate on, its chain verified (465, 443).
    pub verified_ports: Vec<u16>,
    /// Ports 80 or 443 that this computer could not reach (the CA used the other).
    pub closed_ports: Vec<u16>,
    /// How long it took, in milliseconds.
    #[ts(type = "number")]
    pub millis: u64,
}

/// The longest wait for the CA.
pub const CERTIFICATE_WAIT: std::time::Duration = std::time::Duration::from_secs(180);

/// Gets the relay a certificate from the CA: checks what must hold first (DNS, CAA, ports),
/// opens ports 80 and 443 and checks them from this computer, switches ACME on and follows the
/// relay's order until the certificate is served, then verifies its chain on 587, 465 and 443.
pub async fn get_certificate(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(CertificateReport, CertificateChoice), Error> {
    let started = std::time::Instant::now();
    let (domain, installed) = domain_and_install(profile)?;
    let (server, _) = saved_login(profile, secrets).await?;
    let mail_host = domain.mail_host.to_string();
    let extra_roots = settings.trusted_roots().map_err(Error::Settings)?;
    let acme_root = acme_directory_root(settings)?;
    let acme = settings.acme();
    let acme_directory = acme.directory.clone();

    progress(Progress::Stage { id: Stage::CertificateChecks });
    let dns_error = |error| Error::Dns { domain: domain.domain.to_string(), error };
    let checker = crate::dns::check::Checker::new(&settings.dns_finders).map_err(dns_error)?;
    let ca = settings.caa_identity();
    // What the server has now: the ports in use, and the relay's account at the CA if an
    // earlier certificate made one (a CAA `accounturi` may name it).
    let (ports, account) = with_session(profile, secrets, async |session| {
        let ports = checks::listening(session).await?;
        let status = RelayAdmin::new(session).status().await?;
        let account = status
            .acme
            .filter(|acme| acme.directory == acme_directory)
            .and_then(|acme| acme.account);
        // A server restored from a backup has its account's file before ACME is switched on.
        let account = match account {
            Some(account) => Some(account),
            None => certificate::stored_account(session, &acme_directory).await?,
        };
        Ok((ports, account))
    })
    .await?;
    let asking = ca.as_deref().map(|ca| certificate::Asking { ca, account: account.as_deref() });
    let mut blockers =
        certificate::dns_blockers(&checker, &mail_host, &installed.addresses, asking).await;
    blockers.extend(certificate::ports_taken(&ports));
    if !blockers.is_empty() {
        return Err(Error::CertificateBlocked(blockers));
    }
    let names =
        certificate::extra_names(&checker, domain.domain.as_str(), &installed.addresses, asking)
            .await;

    // The web ports first, still self-signed: checked from outside before any CA is asked. A
    // relay that has its certificate already keeps serving it (its web ports are open).
    progress(Progress::Stage { id: Stage::CertificatePorts });
    let web = match &profile.certificate {
        Some(earlier) => Tls::Acme { acme: &acme, names: &earlier.names },
        None => Tls::Web,
    };
    let web = domain.relay_input(&profile.extra_domains, web).map_err(Error::Config)?;
    with_session(profile, secrets, async |session| {
        install::install(session, &web, secrets, &mut crate::progress::ignore).await?;
        Ok(())
    })
    .await?;
    let mut closed_ports = Vec::new();
    for port in [80, 443] {
        if !certificate::reachable(&server.host, port).await {
            closed_ports.push(port);
        }
    }
    if closed_ports.len() == 2 {
        let blockers = closed_ports.iter().map(|&port| Blocker::PortClosed { port }).collect();
        return Err(Error::CertificateBlocked(blockers));
    }

    progress(Progress::Stage { id: Stage::CertificateOrder });
    let with_acme =
        domain.relay_input(&profile.extra_domains, Tls::Acme { acme: &acme, names: &names });
    let with_acme = with_acme.map_err(Error::Config)?;
    let (certificate, acme_status) = with_session(profile, secrets, async |session| {
        upload_acme_root(session, acme_root.as_deref()).await?;
        let since = server_time(session).await?;
        install::install(session, &with_acme, secrets, &mut crate::progress::ignore).await?;
        let followed = follow_order(&RelayAdmin::new(session), &mail_host, since, progress).await?;
        // The account's key, kept where the user's other secrets are.
        certificate::backup_accounts(session, secrets, &server.host).await?;
        Ok(followed)
    })
    .await?;

    progress(Progress::Stage { id: Stage::CertificateServed });
    let trust = probe::Trust::Chain { extra_roots, name: mail_host.clone() };
    let submission = probe::submission(&server.host, 587, &trust).await?;
    let mut verified_ports = Vec::new();
    // Port 25's STARTTLS serves the same certificate (when the internet can reach it at all:
    // the install step says when it cannot).
    if domain.receives()
        && matches!(probe::inbound(&server.host, &trust).await?, probe::Inbound::Open { .. })
    {
        verified_ports.push(25);
    }
    for port in [465, 443] {
        if closed_ports.contains(&port) {
            continue;
        }
        let stream = tokio::net::TcpStream::connect((server.host.as_str(), port)).await.map_err(
            |error| probe::Error::Unreachable {
                host: server.host.clone(),
                port,
                reason: error.to_string(),
            },
        )?;
        probe::handshake(&server.host, port, &trust, stream).await?;
        verified_ports.push(port);
    }
    let report = CertificateReport {
        certificate,
        acme: acme_status,
        submission,
        verified_ports,
        closed_ports,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    // The optional CAA record names the CA and this account (only known CAs: the identity).
    let caa = ca
        .zip(report.acme.account.clone())
        .map(|(issuer, account)| certificate::CaaPin { issuer, account });
    Ok((report, CertificateChoice { names, caa }))
}

/// The server's clock (seconds since the epoch): the relay's times are on it, not on ours.
async fn server_time(session: &Session) -> Result<u64, Error> {
    let output = session.run("date +%s", b"", &mut |_, _| {}).await?;
    Ok(output.stdout.trim().parse().unwrap_or(0))
}

/// Follows the relay's order through its status until the CA's certificate for `mail_host` is
/// served, the relay reports a failure after `since`, or [`CERTIFICATE_WAIT`] passes.
/// How long [`follow_order`] waits, once the certificate is served, for its renewal plan.
const PLAN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn follow_order<R: crate::remote::Remote>(
    admin: &RelayAdmin<'_, R>,
    mail_host: &str,
    since: u64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(api::Certificate, api::AcmeStatus), Error> {
    let deadline = std::time::Instant::now() + CERTIFICATE_WAIT;
    let mut nudged = false;
    let mut shown = Stage::CertificateOrder;
    let mut phase = api::AcmePhase::Waiting;
    let mut issued_at = None;
    while std::time::Instant::now() < deadline {
        let status = admin.status().await?;
        if let Some(acme) = &status.acme {
            phase = acme.phase;
            let stage = match acme.phase {
                api::AcmePhase::Answering { .. } => Some(Stage::CertificateChallenge),
                api::AcmePhase::Validated => Some(Stage::CertificateIssue),
                _ => None,
            };
            if let Some(stage) = stage
                && stage != shown
            {
                // Steps are never skipped on screen, even when the CA was quicker than a look.
                if stage == Stage::CertificateIssue && shown == Stage::CertificateOrder {
                    progress(Progress::Stage { id: Stage::CertificateChallenge });
                }
                progress(Progress::Stage { id: stage });
                shown = stage;
            }
            let issued = status.certificates.iter().find(|certificate| {
                matches!(certificate.source, api::CertificateSource::Acme { .. })
                    && certificate.names.iter().any(|name| name == mail_host)
            });
            if let Some(certificate) = issued {
                // The relay serves the certificate a moment before its ACME manager plans the
                // renewal: wait for the plan (briefly), so the step shows when it will renew.
                let planned = acme.phase == api::AcmePhase::Waiting
                    && acme.next.as_ref().is_some_and(|next| {
                        !matches!(
                            next.reason,
                            api::RenewalReason::Missing | api::RenewalReason::Requested
                        )
                    });
                if planned
                    || issued_at.is_some_and(|at: std::time::Instant| at.elapsed() > PLAN_WAIT)
                {
                    return Ok((certificate.clone(), acme.clone()));
                }
                issued_at.get_or_insert_with(std::time::Instant::now);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            if let Some(attempt) = &acme.last_attempt
                && attempt.at >= since
                && let Some(failure) = &attempt.failure
            {
                let mail_host = mail_host.to_string();
                return Err(Error::Acme { failure: failure.clone(), mail_host });
            }
            // A relay pausing after an earlier failure tries again now: the user asked.
            let pausing =
                acme.next.as_ref().is_some_and(|next| next.reason == api::RenewalReason::Retry);
            if pausing && !nudged && acme.phase == api::AcmePhase::Waiting {
                admin.cert_renew().await?;
                nudged = true;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(Error::CertificateTimeout { seconds: CERTIFICATE_WAIT.as_secs(), phase })
}

/// What Gmail's "Send mail as" dialog asks for, and whether its confirmation message has come
/// through the relay's forward yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SendMailAs {
    /// The address to add in Gmail ("Email address").
    pub address: String,
    /// "SMTP Server".
    pub smtp_server: String,
    /// "Port".
    pub port: u16,
    /// "Username" (the password is in the keychain: `smtp_password`).
    pub user: String,
    /// Where the domain's mail is forwarded: Gmail's confirmation arrives there. `None`: the
    /// relay does not receive, so the confirmation cannot reach Gmail through it.
    pub forward_to: Option<String>,
    /// Gmail's confirmation message, once the relay has forwarded it.
    pub confirmation: Option<api::ForwardedMessage>,
}

/// The "Send mail as" settings for the saved domain, and the latest message the relay forwarded
/// from Gmail's confirmation sender (read from the relay's status when it receives).
pub async fn send_mail_as(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
) -> Result<SendMailAs, Error> {
    let domain = profile.domain.as_ref().ok_or(Error::NotReady(Missing::Domain))?;
    let installed = profile.installed.as_ref().ok_or(Error::NotReady(Missing::Install))?;
    let confirmation = match domain.receives() {
        true => gmail_confirmation(&relay_status(profile, secrets).await?, settings),
        false => None,
    };
    Ok(SendMailAs {
        address: domain.sender.clone(),
        smtp_server: domain.mail_host.to_string(),
        port: 587,
        user: installed.smtp_user.clone(),
        forward_to: domain.forward_to.clone(),
        confirmation,
    })
}

/// The newest forwarded message from Gmail's confirmation sender (an address at google.com).
fn gmail_confirmation(status: &api::Status, settings: &Settings) -> Option<api::ForwardedMessage> {
    let domain = settings.gmail_confirmation_domain();
    let from_gmail = |address: &str| {
        address.rsplit_once('@').is_some_and(|(_, at)| at.eq_ignore_ascii_case(domain))
    };
    let inbound = status.inbound.as_ref()?;
    inbound
        .recent
        .iter()
        .rev()
        .find(|message| from_gmail(&message.header_from) || from_gmail(&message.from))
        .cloned()
}

/// What the relay reports now (its certificates and their renewal, the queue).
pub async fn relay_status(
    profile: &Profile,
    secrets: &dyn SecretStore,
) -> Result<api::Status, Error> {
    with_session(profile, secrets, async |session| Ok(RelayAdmin::new(session).status().await?))
        .await
}

/// The dashboard's health: one `health` call over SSH (status, queue, disk and memory, port 25
/// outwards, blocklists) while this computer tries the relay's ports and re-checks the DNS
/// records at the zone's servers; then every item judged.
pub async fn health(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
) -> Result<crate::health::Health, Error> {
    use crate::health;
    let (domain, installed) = domain_and_install(profile)?;
    let host = profile.server.as_ref().ok_or(Error::NotReady(Missing::Server))?.host.clone();
    let probe = settings.checks().outbound_probe;
    let server = with_session(profile, secrets, async |session| {
        let reading =
            health::read(session, &probe, &installed.addresses, domain.domain.as_str()).await?;
        Ok(reading)
    });
    let (reading, reports) = tokio::join!(server, all_dns_reports(profile, settings));
    let reading = reading?;
    let listeners =
        reading.health.status.as_ref().map(|status| status.listeners.clone()).unwrap_or_default();
    let running = reading.health.status.as_ref().is_some_and(|status| status.running);
    let ports = if running { health::try_ports(&host, &listeners).await } else { Vec::new() };
    let verdicts = reports
        .iter()
        .map(|(name, report)| {
            let verdict = report.as_ref().map(|r| r.verdict.clone()).map_err(Error::to_string);
            (name.clone(), verdict)
        })
        .collect();
    let dns = reports.into_iter().next().and_then(|(_, report)| report.ok());
    let context = health::Context {
        mail_host: domain.mail_host.to_string(),
        carried: crate::relay::carried().version.to_string(),
        ports,
        dns: verdicts,
    };
    Ok(health::Health {
        checked: reading.health.now,
        items: health::judge(&reading, &context),
        deliveries: health::deliveries(&reading),
        queue: reading.health.queue,
        dns,
    })
}

/// The relay's config and users as the saved choices make them (what install and uninstall act on).
fn relay_input(profile: &Profile, settings: &Settings) -> Result<install::Input, Error> {
    let domain = profile.domain.clone().ok_or(Error::NotReady(Missing::Domain))?;
    let acme = settings.acme();
    let tls = match &profile.certificate {
        Some(choice) => Tls::Acme { acme: &acme, names: &choice.names },
        None => Tls::SelfSigned,
    };
    domain.relay_input(&profile.extra_domains, tls).map_err(Error::Config)
}

/// The DKIM records of a rotation under way (both keys are on the server and in the keychain).
fn rotation_records(profile: &Profile) -> Vec<String> {
    profile
        .dkim_rotation
        .iter()
        .flat_map(|rotation| [rotation.old_record.clone(), rotation.record.clone()])
        .collect()
}

/// Exactly what "Uninstall" would remove from the server and this computer's keychain.
pub async fn uninstall_plan(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
) -> Result<install::UninstallPlan, Error> {
    uninstalling(profile, secrets, settings, false).await
}

/// Removes the relay and everything the install made from the server, and its secrets from the
/// keychain (the server's login stays: the wizard can install again). Returns what it removed.
pub async fn uninstall(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
) -> Result<install::UninstallPlan, Error> {
    uninstalling(profile, secrets, settings, true).await
}

/// The uninstall's plan, read from the server and the keychain, and — when `remove` — all of it
/// removed.
async fn uninstalling(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    remove: bool,
) -> Result<install::UninstallPlan, Error> {
    let input = relay_input(profile, settings)?;
    let (server, _) = saved_login(profile, secrets).await?;
    let other_dkim = rotation_records(profile);
    with_session(profile, secrets, async |session| {
        let plan =
            install::uninstall_plan(session, &input, secrets, &server.host, &other_dkim).await?;
        if remove {
            install::uninstall(session, &input, secrets).await?;
            install::forget_secrets(&plan, secrets, &server.host).await?;
        }
        Ok(plan)
    })
    .await
}

/// What a backup holds, for the dashboard to say.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupSaved {
    /// The files it holds (their paths on the server).
    pub files: Vec<String>,
    /// Its size in bytes.
    #[ts(type = "number")]
    pub bytes: u64,
}

/// The files a backup keeps for these choices: the users, aliases and SRS secrets, and every
/// DKIM key (a rotation's other one too).
fn backup_paths(profile: &Profile, input: &install::Input) -> Vec<String> {
    let config = &input.config;
    let mut paths = vec![
        config.users.file.to_string(),
        config.inbound.aliases_file.to_string(),
        config.inbound.srs_secrets_file.to_string(),
    ];
    paths.extend(config.dkim.iter().map(|key| key.key_file.to_string()));
    if let Some(rotation) = &profile.dkim_rotation {
        let (selector, _) = rotation.other_record();
        paths.push(crate::dkim_rotation::key_file(&selector));
    }
    paths.dedup();
    paths
}

/// "Save a backup": the relay's files read from the server, sealed with this domain's backup
/// key (made and kept in the keychain the first time), written to `path` (0600).
pub async fn save_backup(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    path: &Path,
) -> Result<BackupSaved, Error> {
    let (domain, installed) = domain_and_install(profile)?;
    let input = relay_input(profile, settings)?;
    let paths = backup_paths(profile, &input);
    let (server, _) = saved_login(profile, secrets).await?;
    let (files, users) = with_session(profile, secrets, async |session| {
        let files = crate::backup::read(session, &paths, certificate::ACME_DIR).await?;
        let users = RelayAdmin::new(session).users().await?.users;
        Ok((files, users))
    })
    .await?;
    let mut passwords = Vec::new();
    for user in users {
        if let Some(password) =
            secrets.get(&SecretName::SmtpPassword { user: user.clone() }).await?
        {
            passwords.push((user, password));
        }
    }
    let name = SecretName::BackupKey { domain: domain.domain.to_string() };
    let key = match secrets.get(&name).await? {
        Some(key) => key,
        None => {
            let key = crate::backup::new_key();
            secrets.set(&name, &key).await?;
            key
        }
    };
    let contents = crate::backup::Contents {
        domain: domain.domain.to_string(),
        server: server.host.clone(),
        addresses: installed.addresses.clone(),
        dkim_selector: domain.dkim_selector.clone(),
        dkim_rotation: profile.dkim_rotation.clone(),
        passwords,
        files,
    };
    let sealed = crate::backup::seal(&contents, &key)?;
    outpost_safe_file::write(path, &sealed, outpost_safe_file::Options::PRIVATE).map_err(
        |error| {
            Error::Backup(crate::backup::Error::File {
                path: path.display().to_string(),
                detail: error.to_string(),
            })
        },
    )?;
    Ok(BackupSaved {
        files: contents.files.iter().map(|file| file.path.clone()).collect(),
        bytes: sealed.len() as u64,
    })
}

/// What a restore did, and what the move changes.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Restored {
    /// The files put back.
    pub files: Vec<String>,
    /// The old server's addresses (the DNS records and PTR named these).
    #[ts(as = "Vec<String>")]
    pub moved_from: Vec<IpAddr>,
    /// The DKIM selector the restored relay signs with (the old server's).
    pub dkim_selector: String,
    /// The old server's DKIM rotation under way, if one was.
    pub dkim_rotation: Option<crate::dkim_rotation::DkimRotation>,
}

/// "Restore from a backup" on a new server: the install, then the backup's files in place (the
/// DKIM keys' keychain copies too), the relay restarted, and the install run once more so what
/// the app remembers (the DKIM records) is the restored server's.
pub async fn restore_backup(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    path: &Path,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(Restored, Installed), Error> {
    let domain = profile.domain.clone().ok_or(Error::NotReady(Missing::Domain))?;
    let bytes = std::fs::read(path).map_err(|error| {
        Error::Backup(crate::backup::Error::File {
            path: path.display().to_string(),
            detail: error.to_string(),
        })
    })?;
    let name = SecretName::BackupKey { domain: domain.domain.to_string() };
    let key = secrets.get(&name).await?.ok_or(Error::Backup(crate::backup::Error::WrongKey))?;
    let contents = crate::backup::open(&bytes, &key)?;
    if contents.domain != domain.domain.as_str() {
        return Err(Error::BackupForAnotherDomain { domain: contents.domain });
    }
    // The restored server signs with the old one's key (and keeps its rotation's other one).
    let mut restoring = profile.clone();
    if let Some(domain) = &mut restoring.domain {
        domain.dkim_selector = contents.dkim_selector.clone();
    }
    restoring.dkim_rotation = contents.dkim_rotation.clone();
    let (_, first) = install(&restoring, secrets, settings, progress).await?;
    let mut installed_profile = restoring.clone();
    installed_profile.installed = Some(first);
    // Each key file's record, as the config names them (every domain's, the rotation's other).
    let mut keys: Vec<(String, String)> = relay_input(&installed_profile, settings)?
        .config
        .dkim
        .iter()
        .map(|key| {
            let record = api::dkim_record_name(key.selector.as_str(), key.domain.as_str());
            (key.key_file.to_string(), record)
        })
        .collect();
    if let Some(rotation) = &contents.dkim_rotation {
        let (selector, _) = rotation.other_record();
        let record = api::dkim_record_name(&selector, domain.domain.as_str());
        keys.push((crate::dkim_rotation::key_file(&selector), record));
    }
    with_session(profile, secrets, async |session| {
        crate::backup::put_back(session, &contents.files).await?;
        // The users file is the backup's now: the logins' passwords are the backup's too (the
        // install above gave a fresh server's own user a new one, which the file just replaced).
        for (user, password) in &contents.passwords {
            secrets.set(&SecretName::SmtpPassword { user: user.clone() }, password).await?;
        }
        for file in &contents.files {
            let Some((_, record)) = keys.iter().find(|(path, _)| *path == file.path) else {
                continue;
            };
            use base64::Engine;
            let pem =
                base64::engine::general_purpose::STANDARD.decode(&file.data).unwrap_or_default();
            let record = record.clone();
            secrets.set(&SecretName::DkimKey { record }, &String::from_utf8_lossy(&pem)).await?;
        }
        session.run("systemctl restart outpost-relay", b"", &mut |_, _| {}).await?;
        Ok(())
    })
    .await?;
    let (_, installed) = install(&installed_profile, secrets, settings, progress).await?;
    let restored = Restored {
        files: contents.files.iter().map(|file| file.path.clone()).collect(),
        moved_from: contents.addresses,
        dkim_selector: contents.dkim_selector,
        dkim_rotation: contents.dkim_rotation,
    };
    Ok((restored, installed))
}

/// One background check while the app runs: the health, and what got worse since `before`
/// (the last check's items) for a notification. Nothing to check before the install.
pub async fn watch(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    before: Option<&[crate::health::Item]>,
) -> Result<Option<(crate::health::Health, Vec<crate::health::Item>)>, Error> {
    if profile.installed.is_none() {
        return Ok(None);
    }
    let health = health(profile, secrets, settings).await?;
    let worse = crate::health::worse(before, &health.items);
    Ok(Some((health, worse)))
}

/// Rotation, stage 1: a new DKIM key on the server under the next selector, its record to
/// publish; the relay goes on signing with the current key. A rotation already under way is
/// returned as it is.
pub async fn dkim_rotation_start(
    profile: &Profile,
    secrets: &dyn SecretStore,
) -> Result<crate::dkim_rotation::DkimRotation, Error> {
    use crate::dkim_rotation::{self, DkimRotation};
    if let Some(rotation) = &profile.dkim_rotation {
        return Ok(rotation.clone());
    }
    let (domain, installed) = domain_and_install(profile)?;
    let from = domain.dkim_selector.clone();
    let to = dkim_rotation::next_selector(&from);
    let old_record = api::dkim_record_name(&from, domain.domain.as_str());
    let old_value = installed
        .dkim
        .iter()
        .find(|(name, _)| *name == old_record)
        .map(|(_, value)| value.clone())
        .ok_or(Error::NotReady(Missing::Install))?;
    let (record, value) = with_session(profile, secrets, async |session| {
        Ok(dkim_rotation::make_key(session, secrets, domain.domain.as_str(), &to).await?)
    })
    .await?;
    Ok(DkimRotation { from, to, record, value, old_record, old_value, switched: None })
}

/// How stage 2 of a rotation went.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum DkimSwitch {
    /// The new record is not (right) at the zone's servers yet: nothing changed.
    NotVisible {
        /// What the zone's servers have at its name.
        status: crate::dns::check::Status,
    },
    /// The relay signs with the new key now.
    Switched {
        /// When (the server's clock).
        at: u64,
    },
}

/// Rotation, stage 2: once the new record is visible at the zone's own servers, the relay
/// switches to the new key (an install with the new selector: the config and a restart).
/// Returns the outcome and, when switched, what to remember of the install.
pub async fn dkim_rotation_switch(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(DkimSwitch, Option<Installed>), Error> {
    let rotation = profile.dkim_rotation.clone().ok_or(Error::NotReady(Missing::DkimRotation))?;
    let report = dns_report(profile, settings).await?;
    let wanted = format!("{}.", rotation.record);
    let status = report
        .lines
        .iter()
        .find(|line| line.checked.record.name == wanted)
        .map_or(crate::dns::check::Status::Missing, |line| line.checked.status.clone());
    if status != crate::dns::check::Status::Ok {
        return Ok((DkimSwitch::NotVisible { status }, None));
    }
    let mut switched = profile.clone();
    let domain = switched.domain.as_mut().ok_or(Error::NotReady(Missing::Domain))?;
    domain.dkim_selector = rotation.to.clone();
    let (report, installed) = install(&switched, secrets, settings, progress).await?;
    Ok((DkimSwitch::Switched { at: report.status.updated }, Some(installed)))
}

/// Rotation, stage 3: a week after the switch (by the server's clock) the old key leaves the
/// server and the keychain, and its record may be removed from DNS.
pub async fn dkim_rotation_finish(
    profile: &Profile,
    secrets: &dyn SecretStore,
) -> Result<(), Error> {
    let rotation = profile.dkim_rotation.clone().ok_or(Error::NotReady(Missing::DkimRotation))?;
    let until = rotation.old_record_until().ok_or(Error::NotReady(Missing::DkimRotation))?;
    with_session(profile, secrets, async |session| {
        let now = RelayAdmin::new(session).status().await?.updated;
        if now < until {
            return Err(Error::NotReady(Missing::OldDkimKeyInUse { until }));
        }
        Ok(crate::dkim_rotation::forget_old(session, secrets, &rotation).await?)
    })
    .await
}

/// "Retry now" on a queued message.
pub async fn queue_retry(
    profile: &Profile,
    secrets: &dyn SecretStore,
    id: &str,
) -> Result<api::QueueRetry, Error> {
    with_session(profile, secrets, async |session| Ok(RelayAdmin::new(session).retry(id).await?))
        .await
}

/// "Delete" on a queued message (after the user confirmed): it leaves the queue undelivered.
pub async fn queue_delete(
    profile: &Profile,
    secrets: &dyn SecretStore,
    id: &str,
) -> Result<api::QueueDeleted, Error> {
    with_session(profile, secrets, async |session| Ok(RelayAdmin::new(session).delete(id).await?))
        .await
}

/// An SMTP user's password (the install's own when `user` is none), read from the keychain
/// when the user asks to see or copy it (for a mail program); never kept anywhere else.
pub async fn smtp_password(
    profile: &Profile,
    secrets: &dyn SecretStore,
    user: Option<&str>,
) -> Result<String, Error> {
    let installed = profile.installed.as_ref().ok_or(Error::NotReady(Missing::Install))?;
    let user = user.unwrap_or(&installed.smtp_user).to_ascii_lowercase();
    let login = user.clone();
    secrets
        .get(&SecretName::SmtpPassword { user })
        .await?
        .ok_or(Error::NotReady(Missing::Login { login }))
}

/// The SMTP users on the server, the install's own first.
pub async fn smtp_users(
    profile: &Profile,
    secrets: &dyn SecretStore,
) -> Result<Vec<crate::users::User>, Error> {
    let (_, installed) = domain_and_install(profile)?;
    with_session(profile, secrets, async |session| {
        Ok(crate::users::list(session, secrets, &installed.smtp_user).await?)
    })
    .await
}

/// What a users button does.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum UserChange {
    /// Adds a user with a new password.
    Add {
        /// The address typed.
        address: String,
    },
    /// Gives a user a new password.
    NewPassword {
        /// The user.
        address: String,
    },
    /// Removes a user (never the install's own).
    Remove {
        /// The user.
        address: String,
    },
    /// Replaces the addresses at the relay's other domains a user may also send as.
    Senders {
        /// The user.
        address: String,
        /// The addresses as typed (none: only the user's own domain).
        senders: Vec<String>,
    },
}

/// Adds, re-passwords or removes an SMTP user, then lists them all again.
pub async fn change_smtp_user(
    profile: &Profile,
    secrets: &dyn SecretStore,
    change: &UserChange,
) -> Result<Vec<crate::users::User>, Error> {
    use crate::users;
    let (_, installed) = domain_and_install(profile)?;
    let domains = profile.domain_names();
    with_session(profile, secrets, async |session| {
        match change {
            UserChange::Add { address } => {
                users::add(session, secrets, address, &domains).await?;
            }
            UserChange::Senders { address, senders } => {
                users::set_senders(session, address, senders, &domains).await?;
            }
            UserChange::NewPassword { address } => {
                users::set_password(session, secrets, address).await?;
            }
            UserChange::Remove { address } => {
                users::remove(session, secrets, address, &installed.smtp_user).await?;
            }
        }
        Ok(users::list(session, secrets, &installed.smtp_user).await?)
    })
    .await
}

/// The domain and the install, both needed by the DNS step.
fn domain_and_install(profile: &Profile) -> Result<(Domain, Installed), Error> {
    match (&profile.domain, &profile.installed) {
        (Some(domain), Some(installed)) => Ok((domain.clone(), installed.clone())),
        (None, _) => Err(Error::NotReady(Missing::Domain)),
        (_, None) => Err(Error::NotReady(Missing::Install)),
    }
}

/// Every record: planned from what the domain has, asked of its own DNS servers and of public
/// resolvers, with SPF evaluated and a verdict.
pub async fn dns_report(profile: &Profile, settings: &Settings) -> Result<report::Report, Error> {
    let (domain, installed) = domain_and_install(profile)?;
    let mut input = domain.dns_input(&installed, profile.certificate.as_ref());
    // During a DKIM rotation both keys' records are published: the new one before the switch,
    // the old one for a week after.
    if let Some(rotation) = &profile.dkim_rotation {
        input.dkim.push(rotation.other_record());
    }
    checked_report(&input, settings).await
}

/// The plan for `input`, checked at its zone's servers and the public resolvers.
async fn checked_report(
    input: &crate::dns::records::Input,
    settings: &Settings,
) -> Result<report::Report, Error> {
    let settings = report::Settings {
        finders: settings.dns_finders.clone(),
        public_resolvers: settings.public_resolvers.clone(),
    };
    report::report(input, &settings)
        .await
        .map_err(|error| Error::Dns { domain: input.domain.clone(), error })
}

/// A further domain's records (the dashboard's "Domains"), planned and checked like the first
/// domain's at the DNS step.
pub async fn extra_dns_report(
    profile: &Profile,
    settings: &Settings,
    name: &str,
) -> Result<report::Report, Error> {
    let (domain, installed) = domain_and_install(profile)?;
    let extra = extra_domain(profile, name)?;
    checked_report(&domain.extra_dns_input(extra, &installed), settings).await
}

/// Every domain's report, the first domain's first, checked at the same time.
async fn all_dns_reports(
    profile: &Profile,
    settings: &Settings,
) -> Vec<(String, Result<report::Report, Error>)> {
    let first = profile.domain.as_ref().map_or(String::new(), |domain| domain.domain.to_string());
    let extra = profile.extra_domains.iter().map(|extra| async move {
        let name = extra.domain.to_string();
        let report = extra_dns_report(profile, settings, &name).await;
        (name, report)
    });
    let (first_report, extra) =
        tokio::join!(dns_report(profile, settings), futures_util::future::join_all(extra));
    std::iter::once((first, first_report)).chain(extra).collect()
}

/// One of the profile's further domains, by name.
fn extra_domain<'a>(profile: &'a Profile, name: &str) -> Result<&'a ExtraDomain, Error> {
    profile
        .extra_domains
        .iter()
        .find(|extra| extra.domain.as_str().eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::NotReady(Missing::ExtraDomain { domain: name.to_string() }))
}

/// "Add a domain": the form checked against the domains the relay has, then an install with it
/// (its DKIM key made and backed up, the config and aliases brought in line) and a login for its
/// sending address. Returns the domain as added, what to remember of the install and the login.
pub async fn add_domain(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    form: &ExtraDomainForm,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(ExtraDomain, Installed), Error> {
    let (domain, _) = domain_and_install(profile)?;
    let extra = domain.check_extra(&profile.extra_domains, form)?;
    let mut adding = profile.clone();
    adding.extra_domains.push(extra.clone());
    let (_, installed) = install(&adding, secrets, settings, progress).await?;
    Ok((extra, installed))
}

/// What removing a further domain took away besides its records.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DomainRemoved {
    /// The domain.
    pub domain: String,
    /// The logins at it that were removed (their passwords left the keychain too).
    pub users: Vec<String>,
}

/// "Remove" on a further domain: an install without it (the relay stops sending and receiving
/// for it, its aliases go), then its logins, its key on the server and in the keychain, and any
/// login's permission to send as one of its addresses. Its DNS records may then be deleted.
pub async fn remove_domain(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    name: &str,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(DomainRemoved, Installed), Error> {
    domain_and_install(profile)?;
    let extra = extra_domain(profile, name)?.clone();
    let mut removing = profile.clone();
    removing.extra_domains.retain(|other| other.domain != extra.domain);
    let (_, installed) = install(&removing, secrets, settings, progress).await?;
    let at = format!("@{}", extra.domain);
    let key_file =
        crate::dkim_rotation::extra_key_file(extra.domain.as_str(), &extra.dkim_selector);
    let users = with_session(profile, secrets, async |session| {
        let admin = RelayAdmin::new(session);
        let list = admin.users().await?;
        let mut removed = Vec::new();
        for user in list.users.iter().filter(|user| user.ends_with(&at)) {
            crate::users::remove(session, secrets, user, &installed.smtp_user).await?;
            removed.push(user.clone());
        }
        for (user, senders) in &list.senders {
            if removed.contains(user) || !senders.iter().any(|sender| sender.ends_with(&at)) {
                continue;
            }
            let kept: Vec<String> =
                senders.iter().filter(|sender| !sender.ends_with(&at)).cloned().collect();
            admin.set_senders(user, &kept).await?;
        }
        session.run(&format!("rm -f {}", ssh::quote(&key_file)), b"", &mut |_, _| {}).await?;
        Ok(removed)
    })
    .await?;
    let record = api::dkim_record_name(&extra.dkim_selector, extra.domain.as_str());
    secrets.delete(&SecretName::DkimKey { record }).await?;
    Ok((DomainRemoved { domain: extra.domain.to_string(), users }, installed))
}

/// The server's addresses and the domain on the common blocklists, asked through the server's
/// own resolver.
pub async fn blocklists(
    profile: &Profile,
    secrets: &dyn SecretStore,
) -> Result<Vec<blocklists::Entry>, Error> {
    let (domain, installed) = domain_and_install(profile)?;
    let addresses: Vec<IpAddr> = installed.addresses.clone();
    with_session(profile, secrets, async |session| {
        blocklists::check(session, &addresses, domain.domain.as_str()).await.map_err(|error| {
            match error {
                blocklists::Error::Admin(error) => Error::Admin(error),
            }
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmails_confirmation_is_the_newest_message_forwarded_from_google() {
        let forwarded = |at: u64, from: &str, header_from: &str| api::ForwardedMessage {
            at,
            id: format!("id{at}"),
            from: from.into(),
            header_from: header_from.into(),
            to: vec!["hello@example.com".into()],
            destinations: vec!["me@gmail.com".into()],
        };
        let status = api::Status {
            version: "1".into(),
            pid: 1,
            updated: 1,
            running: true,
            listeners: Vec::new(),
            certificates: Vec::new(),
            acme: None,
            started: 0,
            queued: 0,
            recent_deliveries: Vec::new(),
            last_day: api::DeliveryCounts::default(),
            inbound: Some(api::InboundStatus {
                since: 0,
                forwarded: 3,
                refused: Vec::new(),
                recent: vec![
                    forwarded(1, "SRS0=x@google.com", "mail-noreply@google.com"),
                    forwarded(2, "friend@example.org", "friend@example.org"),
                    forwarded(3, "bounce@Google.COM", "Gmail Team <x>"),
                ],
            }),
        };
        let settings = Settings::default();
        assert_eq!(gmail_confirmation(&status, &settings).map(|m| m.at), Some(3));
        let elsewhere = Settings {
            gmail_confirmation_domain: Some("gmail.test".into()),
            ..Settings::default()
        };
        assert_eq!(gmail_confirmation(&status, &elsewhere), None);
    }
    use crate::secrets::MemoryStore;

    fn address(host: &str, port: u16, user: &str) -> Address {
        Address { host: host.into(), port, user: user.into() }
    }

    #[test]
    fn addresses_are_cleaned_up_and_checked() {
        let target = address(" ssh://root@203.0.113.7/ ", 22, "root").target().unwrap();
        assert_eq!(target.host, "203.0.113.7");
        let field = |a: Address| a.target().unwrap_err();
        assert_eq!(field(address("", 22, "root")), Invalid::new(Field::Host, Problem::Empty));
        assert_eq!(field(address("a b", 22, "root")).problem, Problem::NotAHost);
        assert_eq!(field(address("$(reboot)", 22, "root")).problem, Problem::NotAHost);
        assert_eq!(
            field(address(&"a".repeat(100_000), 22, "root")),
            Invalid::new(Field::Host, Problem::TooLong { max: MAX_HOST })
        );
        assert_eq!(field(address("h", 0, "root")).field, Field::Port);
        assert_eq!(field(address("h", 22, " ")).field, Field::User);
    }

    #[test]
    fn key_files_say_what_is_wrong_with_them() {
        let directory = tempfile::tempdir().unwrap();
        let public = directory.path().join("id_ed25519.pub");
        std::fs::write(&public, "ssh-ed25519 AAAA me@laptop\n").unwrap();
        assert_eq!(
            load_key(public.to_str().unwrap(), None).unwrap_err().problem,
            Problem::PublicKeyFile
        );
        let missing = directory.path().join("nothing");
        assert!(matches!(
            load_key(missing.to_str().unwrap(), None).unwrap_err().problem,
            Problem::Unreadable { .. }
        ));
        assert_eq!(load_key(" ", None).unwrap_err(), Invalid::new(Field::KeyFile, Problem::Empty));
        let (private, _) = ssh::generate_key("test").unwrap();
        let file = directory.path().join("id_ed25519");
        std::fs::write(&file, &private).unwrap();
        assert_eq!(load_key(file.to_str().unwrap(), None).unwrap(), private);
    }

    #[tokio::test]
    async fn a_new_key_must_be_made_before_connecting_with_it() {
        let secrets = MemoryStore::default();
        let form =
            LoginForm { kind: Login::NewKey, password: None, key_file: None, passphrase: None };
        let shown = ShownHostKeys::default();
        shown.remember(&address("198.51.100.10", 22, "root").target().unwrap(), "SHA256:x");
        let error =
            connect(&secrets, &shown, &address("198.51.100.10", 22, "root"), "SHA256:x", form)
                .await
                .unwrap_err();
        assert!(matches!(
            error,
            Error::Invalid(Invalid { field: Field::NewKey, problem: Problem::KeyNotMade, .. })
        ));
        let line = new_key(&secrets, &address("198.51.100.10", 22, "root")).await.unwrap();
        assert!(line.starts_with("ssh-ed25519 "));
        let stored = secrets.get(&SecretName::SshKey { login: "root@198.51.100.10".into() }).await;
        assert!(stored.unwrap().unwrap().contains("OPENSSH PRIVATE KEY"));
    }

    #[tokio::test]
    async fn connect_trusts_only_a_fingerprint_first_contact_showed_for_that_server() {
        let secrets = MemoryStore::default();
        let shown = ShownHostKeys::default();
        let server = address("198.51.100.10", 22, "root");
        let form = || LoginForm {
            kind: Login::Password,
            password: Some("pw".into()),
            key_file: None,
            passphrase: None,
        };
        // Nothing shown yet: refused before any connection is made.
        let never = connect(&secrets, &shown, &server, "SHA256:made-up", form()).await;
        assert!(matches!(never, Err(Error::HostKeyNotShown { .. })), "{never:?}");
        // Shown for another server: still refused.
        shown.remember(&address("203.0.113.7", 22, "root").target().unwrap(), "SHA256:other");
        let elsewhere = connect(&secrets, &shown, &server, "SHA256:other", form()).await;
        assert!(matches!(elsewhere, Err(Error::HostKeyNotShown { .. })), "{elsewhere:?}");
        let login = SecretName::SshPassword { login: "root@198.51.100.10".into() };
        assert_eq!(secrets.get(&login).await.unwrap(), None, "nothing was kept");
    }

    fn status_with(acme: &str, certificates: &str) -> String {
        format!(
            r#"{{"api":1,"ok":{{"version":"0.1.0","pid":7,"updated":1,"running":true,"listeners":[],"certificates":[{certificates}],"acme":{acme},"queued":0,"recentDeliveries":[]}}}}"#
        )
    }

    const ACME_CERTIFICATE: &str = r#"{"names":["mail.example.com"],"notAfter":"2027-03-01T00:00:00Z","source":{"kind":"acme","directory":"https://ca/dir"},"sha256":"ab","issuer":"Pebble Intermediate CA","serial":"01","notBefore":"2026-12-01T00:00:00Z"}"#;

    #[tokio::test]
    async fn following_an_order_ends_with_the_certificate_and_names_each_step() {
        use crate::remote::fake::FakeServer;
        let acme = r#"{"directory":"https://ca/dir","names":["mail.example.com"],"phase":{"step":"waiting"},"next":{"at":9,"reason":"two-thirds"},"lastAttempt":{"at":5,"directory":"https://ca/dir","failuresInARow":0}}"#;
        let server = FakeServer::new().answer("'status'", 0, &status_with(acme, ACME_CERTIFICATE));
        let mut events = Vec::new();
        let (certificate, status) =
            follow_order(&RelayAdmin::new(&server), "mail.example.com", 1, &mut |e| events.push(e))
                .await
                .unwrap();
        assert_eq!(certificate.issuer, "Pebble Intermediate CA");
        assert_eq!(status.next.unwrap().reason, api::RenewalReason::TwoThirds);
        // A self-signed certificate for the name does not count as issued.
        let answering = r#"{"directory":"d","names":["mail.example.com"],"phase":{"step":"answering","challenge":"tls-alpn01"}}"#;
        let self_signed = r#"{"names":["mail.example.com"],"notAfter":"x","source":{"kind":"self-signed"},"sha256":"cd"}"#;
        let server = FakeServer::new().answer("'status'", 0, &status_with(answering, self_signed));
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(1200),
            follow_order(&RelayAdmin::new(&server), "mail.example.com", 1, &mut |e| events.push(e)),
        )
        .await;
        assert!(waiting.is_err(), "still following while the CA checks");
        assert_eq!(events, [Progress::Stage { id: Stage::CertificateChallenge }]);
    }

    #[tokio::test]
    async fn a_failure_after_the_order_started_stops_with_the_cas_reason_an_older_one_does_not() {
        use crate::remote::fake::FakeServer;
        let failed = |at: u64| {
            format!(
                r#"{{"directory":"d","names":["mail.example.com"],"phase":{{"step":"waiting"}},"next":{{"at":999,"reason":"retry"}},"lastAttempt":{{"at":{at},"directory":"https://staging/dir","failure":{{"kind":"challenge-failed","detail":"connection refused"}},"failuresInARow":1}}}}"#
            )
        };
        let server = FakeServer::new().answer("'status'", 0, &status_with(&failed(100), ""));
        let error = follow_order(&RelayAdmin::new(&server), "mail.example.com", 50, &mut |_| {})
            .await
            .unwrap_err();
        let Error::Acme { failure, mail_host } = error else { panic!("{error:?}") };
        assert_eq!(failure.kind, api::AcmeFailureKind::ChallengeFailed);
        assert_eq!(mail_host, "mail.example.com");
        // A failure from before this order: the relay pauses, so it is asked to try now, once.
        let server = FakeServer::new().answer("'status'", 0, &status_with(&failed(10), "")).answer(
            "'cert' 'renew'",
            0,
            r#"{"api":1,"ok":{"names":["mail.example.com"]}}"#,
        );
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(1500),
            follow_order(&RelayAdmin::new(&server), "mail.example.com", 50, &mut |_| {}),
        )
        .await;
        let renewals = server.commands().iter().filter(|c| c.contains("'renew'")).count();
        assert_eq!(renewals, 1, "{:?}", server.commands());
    }

    #[tokio::test]
    async fn workflows_say_which_earlier_step_is_missing() {
        let secrets = MemoryStore::default();
        let profile = Profile::default();
        assert!(matches!(
            saved_login(&profile, &secrets).await,
            Err(Error::NotReady(Missing::Server))
        ));
        let server = Server {
            host: "198.51.100.10".into(),
            port: 22,
            user: "root".into(),
            fingerprint: "SHA256:x".into(),
            login: Login::Password,
        };
        let profile = Profile { server: Some(server), ..Profile::default() };
        assert!(matches!(
            saved_login(&profile, &secrets).await,
            Err(Error::NotReady(Missing::Login { login })) if login == "root@198.51.100.10"
        ));
        assert!(matches!(
            dns_report(&profile, &Settings::default()).await,
            Err(Error::NotReady(Missing::Domain))
        ));
    }
}

/// What the test email showed, hop by hop.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct TestReport {
    /// The message's Message-ID (without brackets).
    pub message_id: String,
    /// The recipient.
    pub to: String,
    /// Submitted: what the relay said, and the TLS this computer verified on port 587.
    pub submitted: test_email::Submitted,
    /// The TLS this computer saw on port 587 just before.
    pub submission: probe::Submission,
    /// The relay's queue id.
    pub queue_id: String,
    /// Signed: the DKIM signatures the relay added.
    pub signatures: Vec<test_email::DkimVerdict>,
    /// Delivered (or not yet, or refused).
    pub delivery: test_email::Delivery,
    /// Judged here as a receiver would, on the very bytes sent.
    #[ts(optional)]
    pub computed: Option<test_email::Verdict>,
    /// Judged by the receiver, read back from the mailbox.
    pub mailbox: test_email::Mailbox,
    /// Whether both verdicts say the same (when both exist).
    #[ts(optional)]
    pub agree: Option<bool>,
    /// What went wrong or is worth knowing, each with its fix.
    pub findings: Vec<test_email::Finding>,
    /// Gmail's sender requirements.
    pub checklist: Vec<test_email::Checked>,
    /// From the click to the verdict, milliseconds.
    pub millis: u64,
}

/// Sends a test email through the relay and follows it: submitted on 587 from this computer,
/// signed and delivered by the relay (its trace over SSH), judged here on the bytes it sent,
/// and read back from the recipient's mailbox over IMAP when one is given. The message says
/// `words` (the UI's, in the user's language).
pub async fn send_test_email(
    profile: &Profile,
    secrets: &dyn SecretStore,
    settings: &Settings,
    request: &test_email::TestEmail,
    words: &test_email::TestMessage,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<TestReport, Error> {
    use test_email::{Delivery, Mailbox};
    let started = std::time::Instant::now();
    let (domain, installed) = domain_and_install(profile)?;
    if profile.certificate.is_none() {
        return Err(Error::NotReady(Missing::Certificate));
    }
    let to = crate::choices::email_address(&request.to)
        .map_err(|problem| Error::Invalid(Invalid::new(Field::TestRecipient, problem)))?;
    if let Some(account) = &request.imap
        && account.host.parse::<IpAddr>().is_err()
    {
        crate::choices::domain_name(&account.host)
            .map_err(|problem| Error::Invalid(Invalid::new(Field::ImapHost, problem)))?;
    }
    // The login is read once, by the session below.
    let server = profile.server.clone().ok_or(Error::NotReady(Missing::Server))?;
    let mail_host = domain.mail_host.to_string();
    let extra_roots = settings.trusted_roots().map_err(Error::Settings)?;
    let user = installed.smtp_user.to_ascii_lowercase();
    let password = secrets
        .get(&SecretName::SmtpPassword { user: user.clone() })
        .await?
        .ok_or(Error::NotReady(Missing::Install))?;
    let token: String = (0..16).map(|_| format!("{:x}", rand::random::<u8>() % 16)).collect();
    let message_id = format!("outpost-test-{token}@{}", domain.domain);

    progress(Progress::Stage { id: Stage::TestSubmit });
    let session_work = async |session: &Session| -> Result<TestReport, Error> {
        let admin = RelayAdmin::new(session);
        // A stopped relay is a submission that cannot happen: Install starts it again.
        admin.trace_watch(&message_id).await.map_err(|error| match error {
            relay_admin::Error::Relay { error, .. } if error.kind == api::ErrorKind::NotRunning => {
                Error::Submit {
                    failure: test_email::SubmitFailure::Unreachable,
                    detail: error.message,
                }
            }
            other => other.into(),
        })?;
        let trust =
            probe::Trust::Chain { extra_roots: extra_roots.clone(), name: mail_host.clone() };
        // A relay that does not answer on 587 is a submission that failed: Install repairs it.
        let submission =
            probe::submission(&server.host, 587, &trust).await.map_err(|error| match error {
                probe::Error::Unreachable { .. } | probe::Error::Timeout { .. } => Error::Submit {
                    failure: test_email::SubmitFailure::Unreachable,
                    detail: error.to_string(),
                },
                other => Error::Probe(other),
            })?;
        let submitted = test_email::submit(
            &server.host,
            &mail_host,
            &extra_roots,
            &user,
            &password,
            &to,
            &message_id,
            words,
        )
        .await
        .map_err(|(failure, detail)| Error::Submit { failure, detail })?;

        // The relay's trace: signed at once, delivered (or not) after the first attempt.
        let deadline = std::time::Instant::now() + test_email::DELIVERY_WAIT;
        let mut signed_shown = false;
        let (trace, delivery) = loop {
            let trace = match admin.trace_show(&message_id).await {
                Ok(trace) => Some(trace),
                Err(crate::relay_admin::Error::Relay { error, .. })
                    if error.kind == api::ErrorKind::NotFound =>
                {
                    None
                }
                Err(error) => return Err(error.into()),
            };
            if let Some(trace) = trace {
                if !signed_shown {
                    progress(Progress::Stage { id: Stage::TestSign });
                    progress(Progress::Stage { id: Stage::TestDeliver });
                    signed_shown = true;
                }
                let delivery = Delivery::of(&trace.item, &to);
                let settled = match &delivery {
                    Some(Delivery::Waiting { record, .. }) => record.is_some(),
                    Some(_) => true,
                    None => false,
                };
                if (settled || std::time::Instant::now() >= deadline)
                    && let Some(delivery) = delivery
                {
                    break (trace, delivery);
                }
            } else if std::time::Instant::now() >= deadline {
                return Err(Error::Admin(crate::relay_admin::Error::NoReply {
                    command: "trace show",
                    detail: "the relay kept no trace of the test email".into(),
                }));
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        use base64::Engine as _;
        let signed =
            base64::engine::general_purpose::STANDARD.decode(&trace.signed_base64).map_err(
                |error| Error::Settings(format!("the relay's trace is unreadable: {error}")),
            )?;

        progress(Progress::Stage { id: Stage::TestJudge });
        // The receiver saw the server's address of the family it was reached over.
        let family_v6 = delivery.record().and_then(|r| r.ip).map(|ip| ip.is_ipv6());
        let ip = installed
            .addresses
            .iter()
            .find(|ip| family_v6.is_none_or(|v6| ip.is_ipv6() == v6))
            .or(installed.addresses.first())
            .copied();
        let mut computed = match (&delivery, ip) {
            (Delivery::Delivered { .. }, Some(ip)) => {
                match crate::dns::authenticator(&settings.dns_finders) {
                    Ok(authenticator) => {
                        test_email::judge(&authenticator, &signed, ip, &mail_host, &trace.item.from)
                            .await
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        // A key problem named precisely: what the zone's own servers publish at the record,
        // against the record the relay's key needs.
        if let Some(verdict) = computed.as_mut()
            && let Ok(checker) = crate::dns::check::Checker::new(&settings.dns_finders)
        {
            for signature in &mut verdict.dkim {
                let name = api::dkim_record_name(&signature.selector, &signature.domain);
                let expected = installed.dkim.iter().find(|(record, _)| *record == name);
                if let (Some(problem), Some((_, expected))) = (signature.problem, expected) {
                    let published = checker
                        .values(&name, hickory_resolver::proto::rr::RecordType::TXT)
                        .await
                        .unwrap_or_default();
                    signature.problem =
                        Some(test_email::refine_dkim(problem, &published, expected));
                }
            }
        }
        let listed =
            match blocklists::check(session, &installed.addresses, domain.domain.as_str()).await {
                Ok(entries) => Some(
                    entries
                        .iter()
                        .any(|entry| matches!(entry.listing, blocklists::Listing::Listed { .. })),
                ),
                Err(_) => None,
            };
        let findings = test_email::findings(&delivery, computed.as_ref());
        let checklist = test_email::checklist(&delivery, computed.as_ref(), listed, &signed);
        let signatures = test_email::signatures(&signed);
        Ok(TestReport {
            message_id: message_id.clone(),
            to: to.clone(),
            submitted,
            submission,
            queue_id: trace.queue_id,
            signatures,
            delivery,
            computed,
            mailbox: Mailbox::NotAsked,
            agree: None,
            findings,
            checklist,
            millis: 0,
        })
    };
    let mut report = with_session(profile, secrets, session_work).await?;

    // The receiver's own verdict, from the mailbox.
    report.mailbox = match (&request.imap, &report.delivery) {
        (None, _) => Mailbox::NotAsked,
        (Some(_), delivery) if !matches!(delivery, Delivery::Delivered { .. }) => {
            Mailbox::NotDelivered
        }
        (Some(account), _) => {
            progress(Progress::Stage { id: Stage::TestMailbox });
            let login = account.login();
            match secrets.get(&SecretName::ImapPassword { login: login.clone() }).await? {
                None => Mailbox::NoPassword { login },
                Some(password) => {
                    test_email::read_back(
                        account,
                        &password,
                        &extra_roots,
                        &format!("<{message_id}>"),
                        test_email::MAILBOX_WAIT,
                    )
                    .await
                }
            }
        }
    };
    if let Mailbox::Found { folder, spam, verdict, .. } = &report.mailbox {
        if *spam {
            report.findings.push(test_email::Finding::Spam { folder: folder.clone() });
        }
        if let (Some(theirs), Some(ours)) = (verdict, &report.computed) {
            report.agree = Some(ours.agrees_with(theirs));
        }
    }
    report.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// Keeps a mailbox's password in the keychain for the test email's read-back.
pub async fn save_imap_password(
    secrets: &dyn SecretStore,
    account: &test_email::ImapAccount,
    password: &str,
) -> Result<(), Error> {
    secrets.set(&SecretName::ImapPassword { login: account.login() }, password).await?;
    Ok(())
}
