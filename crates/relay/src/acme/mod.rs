//! Certificates from an ACME CA (RFC 8555), got and renewed by the relay itself, in process.
//!
//! - The relay answers the CA's challenges on its own listeners: TLS-ALPN-01 (RFC 8737) on the
//!   HTTPS port through [`Certificates::answer_challenge`], HTTP-01 on port 80 through
//!   [`Acme::http_answer`]. It tries the one that worked last time first and falls back to the
//!   other.
//! - A first order for new names goes to the CA's staging directory first, when it has one, so a
//!   mistake (DNS pointing elsewhere, a closed port) never eats the real CA's failed-validation
//!   limit.
//! - Renewal: inside the CA's ACME Renewal Information window (RFC 9773) when it offers one,
//!   otherwise at two thirds of the lifetime with jitter. Failures wait 1 min, 2, 4, … up to 6 h
//!   (an hour at least after a rate limit); never a tight loop.
//! - A new certificate is installed into the listeners' [`Certificates`]: new connections get it,
//!   open ones keep theirs, nothing restarts. If renewal keeps failing the newest valid
//!   certificate is still served and `status` says why renewal failed.
//!
//! Files, under `<tls.state_dir>/acme/` (the service user's, 0600 except the chain):
//! `account-<ca>.json` (the account key: secret), `certificate.pem`, `certificate.key`,
//! `state.json` (last attempt, the challenge that worked, names that passed staging).

mod client;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use outpost_relay_api::{
    AcmeAttempt, AcmeFailure, AcmeFailureKind, AcmePhase, AcmeStatus, CertificateSource, Challenge,
    Renewal, RenewalReason,
};
use outpost_relay_config as config;
use outpost_safe_file as safe_file;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, unix_seconds};
use crate::tls::Certificates;

/// The longest pause between two tries after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// The first pause after a failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(60);
/// The least pause after the CA said "rate limited".
pub const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(3600);
/// How long one order may take, challenges and issuance included.
const ORDER_DEADLINE: Duration = Duration::from_secs(300);
/// How often the CA's renewal window is asked again at most (it may move it earlier).
const ARI_RECHECK: Duration = Duration::from_secs(6 * 3600);
/// The longest `Retry-After` obeyed: a CA's mistake must not silence renewal for months.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 86_400);

/// What the relay was asked to do, kept for the listeners and the admin commands.
#[derive(Debug, Clone)]
pub struct Acme {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    status: Mutex<AcmeStatus>,
    /// HTTP-01 answers: token → key authorization.
    http: RwLock<HashMap<String, String>>,
    /// `cert renew --now`.
    requested: Notify,
    /// The status changed: the status file is rewritten at once.
    changed: Arc<Notify>,
}

/// What the manager needs besides the config.
#[derive(Debug)]
pub struct Setup {
    /// The mail host (the first name on the certificate).
    pub hostname: String,
    /// The ACME settings.
    pub acme: config::Acme,
    /// `<tls.state_dir>/acme`.
    pub dir: PathBuf,
    /// Whether a TLS-ALPN-01 listener (443) is configured.
    pub https: bool,
    /// Whether an HTTP-01 listener (80) is configured.
    pub http: bool,
    /// Notified whenever the status changes.
    pub changed: Arc<Notify>,
    /// How the CA is reached: the relay's resolver and a TLS connector trusting the system's
    /// roots plus `directory_root`.
    pub client: client::Client,
}

impl Setup {
    /// The HTTPS client for a CA, from the relay's resolver and `directory_root`.
    pub fn client(
        resolver: hickory_resolver::TokioResolver,
        acme: &config::Acme,
    ) -> Result<client::Client, String> {
        let tls = crate::courier::mta_sts::verifying_connector(
            acme.directory_root.as_ref().map(|root| root.as_path()),
        )?;
        Ok(client::Client::new(resolver, tls))
    }
}

impl Acme {
    /// Loads a saved certificate into `certificates` (returns whether one covers every name)
    /// and starts the manager on `tasks`.
    pub fn start(
        setup: Setup,
        certificates: Certificates,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
        tasks: &tokio_util::task::TaskTracker,
    ) -> (Acme, bool) {
        let names = wanted_names(&setup.hostname, &setup.acme);
        let saved = Saved::load(&setup.dir);
        let current = Current::load(&setup.dir);
        let usable = current
            .as_ref()
            .is_some_and(|current| current.covers(&names) && current.not_after > clock.now());
        if let Some(current) = current.as_ref().filter(|_| usable)
            && let Err(error) = certificates.install_pem(
                &current.chain_pem,
                &current.key_pem,
                CertificateSource::Acme { directory: setup.acme.directory.clone() },
            )
        {
            tracing::warn!(%error, "the saved ACME certificate cannot be used; ordering a new one");
        }
        let status = AcmeStatus {
            directory: setup.acme.directory.clone(),
            names: names.clone(),
            phase: AcmePhase::Waiting,
            next: None,
            last_attempt: saved.last_attempt.clone(),
            challenge: saved.challenge,
            account: None,
        };
        let acme = Acme {
            shared: Arc::new(Shared {
                status: Mutex::new(status),
                http: RwLock::new(HashMap::new()),
                requested: Notify::new(),
                changed: setup.changed.clone(),
            }),
        };
        let manager = Manager {
            acme: acme.clone(),
            setup,
            names,
            certificates,
            clock,
            saved,
            current: current.filter(|_| usable),
            ari: None,
            jitter: rand::random(),
        };
        tasks.spawn(manager.run(shutdown));
        (acme, usable)
    }

    /// What `status` shows.
    pub fn status(&self) -> AcmeStatus {
        self.shared.status.lock().expect("acme status lock").clone()
    }

    /// The HTTP-01 answer for `token`, while an order waits for it.
    pub fn http_answer(&self, token: &str) -> Option<String> {
        self.shared.http.read().expect("acme http lock").get(token).cloned()
    }

    /// Orders a new certificate now (`cert renew --now`).
    pub fn renew_now(&self) {
        self.shared.requested.notify_one();
    }

    fn update(&self, change: impl FnOnce(&mut AcmeStatus)) {
        change(&mut self.shared.status.lock().expect("acme status lock"));
        self.shared.changed.notify_one();
    }
}

/// The mail host first, then the extra names, without repeats, lower case.
pub fn wanted_names(hostname: &str, acme: &config::Acme) -> Vec<String> {
    let mut names = vec![hostname.to_ascii_lowercase()];
    for name in &acme.names {
        let name = name.as_str().to_ascii_lowercase();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// What is kept between runs besides the certificate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Saved {
    last_attempt: Option<AcmeAttempt>,
    challenge: Option<Challenge>,
    /// Name sets (sorted, comma-joined) that a staging order has validated.
    staging_passed: Vec<String>,
}

impl Saved {
    fn path(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    fn load(dir: &Path) -> Saved {
        std::fs::read(Saved::path(dir))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save(&self, dir: &Path) {
        let written =
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other).and_then(|json| {
                safe_file::write(&Saved::path(dir), &json, safe_file::Options::PRIVATE)
            });
        if let Err(error) = written {
            tracing::warn!(%error, dir = %dir.display(), "cannot save the ACME state");
        }
    }
}

/// The certificate the CA issued, as saved.
#[derive(Debug, Clone)]
struct Current {
    chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
    leaf: CertificateDer<'static>,
    names: Vec<String>,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl Current {
    fn paths(dir: &Path) -> (PathBuf, PathBuf) {
        (dir.join("certificate.pem"), dir.join("certificate.key"))
    }

    fn load(dir: &Path) -> Option<Current> {
        let (chain, key) = Current::paths(dir);
        Current::parse(std::fs::read(chain).ok()?, std::fs::read(key).ok()?).ok()
    }

    fn parse(chain_pem: Vec<u8>, key_pem: Vec<u8>) -> Result<Current, String> {
        let leaf = CertificateDer::pem_slice_iter(&chain_pem)
            .next()
            .ok_or("the CA sent no certificate")?
            .map_err(|error| format!("the CA sent an unreadable certificate ({error})"))?;
        let info = crate::tls::describe(&leaf, CertificateSource::SelfSigned)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&leaf)
            .map_err(|error| format!("unreadable certificate ({error})"))?;
        let time = |t: x509_parser::time::ASN1Time| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64)
        };
        let (not_before, not_after) =
            (time(parsed.validity().not_before), time(parsed.validity().not_after));
        Ok(Current { chain_pem, key_pem, leaf, names: info.names, not_before, not_after })
    }

    fn covers(&self, names: &[String]) -> bool {
        names.iter().all(|name| self.names.contains(name))
    }

    fn save(&self, dir: &Path) -> std::io::Result<()> {
        let (chain, key) = Current::paths(dir);
        safe_file::write(&key, &self.key_pem, safe_file::Options::PRIVATE)?;
        safe_file::write(&chain, &self.chain_pem, safe_file::Options::PRIVATE.mode(0o644))
    }
}

/// The CA's suggested renewal window, and when to ask again.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: SystemTime,
    end: SystemTime,
    asked: SystemTime,
    recheck: Duration,
}

/// When the next order is due. Pure, so every rule is tested without a CA: `jitter` is a number
/// in [0, 1) that spreads renewals of many servers over the window.
fn next_due(
    now: SystemTime,
    current: Option<(SystemTime, SystemTime)>,
    last_attempt: Option<&AcmeAttempt>,
    renew_after: Option<Duration>,
    window: Option<(SystemTime, SystemTime)>,
    jitter: f64,
) -> (SystemTime, RenewalReason) {
    if let Some(attempt) = last_attempt
        && let Some(failure) = &attempt.failure
    {
        let doublings = attempt.failures_in_a_row.saturating_sub(1).min(16);
        let mut pause = (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF);
        if failure.kind == AcmeFailureKind::RateLimited {
            pause = pause.max(RATE_LIMIT_BACKOFF);
        }
        // ±10 %: servers that failed together do not retry together.
        let pause = pause.mul_f64(0.9 + 0.2 * jitter);
        let ended = SystemTime::UNIX_EPOCH + Duration::from_secs(attempt.at);
        // Never before the CA's own `Retry-After` (capped: a week at most).
        let asked = attempt.retry_after.map(|at| {
            (SystemTime::UNIX_EPOCH + Duration::from_secs(at)).min(ended + MAX_RETRY_AFTER)
        });
        return ((ended + pause).max(asked.unwrap_or(ended)), RenewalReason::Retry);
    }
    let Some((not_before, not_after)) = current else {
        return (now, RenewalReason::Missing);
    };
    if let Some(after) = renew_after {
        return (not_before + after, RenewalReason::Configured);
    }
    if let Some((start, end)) = window {
        let span = end.duration_since(start).unwrap_or_default();
        return (start + span.mul_f64(jitter), RenewalReason::CaWindow);
    }
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    // Two thirds in, minus up to a thirtieth of the lifetime.
    let at = not_before + lifetime.mul_f64(2.0 / 3.0) - lifetime.mul_f64(jitter / 30.0);
    (at, RenewalReason::TwoThirds)
}

struct Manager {
    acme: Acme,
    setup: Setup,
    names: Vec<String>,
    certificates: Certificates,
    clock: Arc<dyn Clock>,
    saved: Saved,
    current: Option<Current>,
    ari: Option<Window>,
    /// Where in its renewal window this relay renews (0..1), so relays do not renew together.
    jitter: f64,
}

impl Manager {
    async fn run(mut self, shutdown: CancellationToken) {
        if let Err(error) = std::fs::create_dir_all(&self.setup.dir) {
            tracing::warn!(%error, dir = %self.setup.dir.display(), "cannot create the ACME directory");
        }
        let jitter = self.jitter;
        let mut requested = false;
        loop {
            let (at, reason) = if requested {
                (self.clock.now(), RenewalReason::Requested)
            } else {
                self.refresh_window().await;
                next_due(
                    self.clock.now(),
                    self.current.as_ref().map(|c| (c.not_before, c.not_after)),
                    self.saved.last_attempt.as_ref(),
                    self.setup.acme.renew_after.map(|d| d.get()),
                    self.ari.map(|w| (w.start, w.end)),
                    jitter,
                )
            };
            self.acme.update(|status| {
                status.phase = AcmePhase::Waiting;
                status.next = Some(Renewal { at: unix_seconds(at), reason });
            });
            let now = self.clock.now();
            if at > now {
                // Wake at the due time, or sooner to ask the CA's window again.
                let wait = at.duration_since(now).unwrap_or_default().min(ARI_RECHECK);
                tokio::select! {
                    _ = self.clock.sleep(wait) => {}
                    _ = self.acme.shared.requested.notified() => requested = true,
                    _ = shutdown.cancelled() => return,
                }
                continue;
            }
            requested = false;
            tokio::select! {
                _ = self.attempt() => {}
                _ = shutdown.cancelled() => {
                    self.clear_answers();
                    return;
                }
            }
        }
    }

    /// Asks the CA for its renewal window when it offers one (and has not been asked lately).
    async fn refresh_window(&mut self) {
        let Some(current) = &self.current else { return };
        let now = self.clock.now();
        if let Some(window) = self.ari
            && now.duration_since(window.asked).unwrap_or_default() < window.recheck
        {
            return;
        }
        let Ok(id) = CertificateIdentifier::try_from(&current.leaf) else { return };
        let Ok(account) = self.account(&self.setup.acme.directory.clone()).await else { return };
        match account.renewal_info(&id).await {
            Ok((info, recheck)) => {
                let time = |t: time::OffsetDateTime| SystemTime::from(t);
                self.ari = Some(Window {
                    start: time(info.suggested_window.start),
                    end: time(info.suggested_window.end),
                    asked: now,
                    recheck: recheck.clamp(Duration::from_secs(60), ARI_RECHECK),
                });
            }
            Err(error) => {
                tracing::debug!(%error, "no renewal window from the CA; renewing at two thirds");
                self.ari = None;
            }
        }
    }

    /// One try: staging first for names that never passed there, then the real CA.
    async fn attempt(&mut self) {
        let key = {
            let mut sorted = self.names.clone();
            sorted.sort();
            sorted.join(",")
        };
        let mut directory = self.setup.acme.directory.clone();
        let mut result = Ok(());
        // A `Retry-After` left from an earlier request (a refused ARI query) is not this try's.
        self.setup.client.take_retry_after();
        if let Some(staging) = self.setup.acme.staging_directory.clone()
            && !self.saved.staging_passed.contains(&key)
        {
            tracing::info!(names = ?self.names, %staging, "trying a first order at the CA's staging directory");
            directory = staging.clone();
            result = self.order(&staging, false).await.map(|_| ());
            if result.is_ok() {
                self.saved.staging_passed.push(key);
                directory = self.setup.acme.directory.clone();
            }
        }
        let production = self.setup.acme.directory.clone();
        let mut issued = None;
        if result.is_ok() {
            result = match self.order(&production, true).await {
                Ok(Some(current)) => current
                    .save(&self.setup.dir)
                    .map(|()| issued = Some(current))
                    .map_err(|error| AcmeFailure {
                        kind: AcmeFailureKind::Other,
                        detail: format!("cannot save the certificate: {error}"),
                    }),
                Ok(None) => Ok(()),
                Err(failure) => Err(failure),
            };
        }
        let failures_in_a_row = match &result {
            Ok(()) => 0,
            Err(_) => self.saved.last_attempt.as_ref().map_or(0, |a| a.failures_in_a_row) + 1,
        };
        let failure = result.err();
        let retry_after = self
            .setup
            .client
            .take_retry_after()
            .filter(|_| failure.is_some())
            .map(|retry_after| unix_seconds(retry_after.at(self.clock.now())));
        match &failure {
            Some(failure) => tracing::warn!(
                kind = ?failure.kind, detail = %failure.detail, %directory, failures_in_a_row,
                "getting a certificate failed; the current one (if any) stays in service"
            ),
            None => tracing::info!(names = ?self.names, "certificate issued and in service"),
        }
        let attempt = AcmeAttempt {
            at: unix_seconds(self.clock.now()),
            directory,
            failure,
            failures_in_a_row,
            retry_after,
        };
        self.saved.last_attempt = Some(attempt.clone());
        self.saved.save(&self.setup.dir);
        // The status first, then the certificate: whoever sees the new certificate in `status`
        // also sees how it was got and when it will be renewed.
        let next = issued.as_ref().map(|current| {
            let (at, reason) = next_due(
                self.clock.now(),
                Some((current.not_before, current.not_after)),
                Some(&attempt),
                self.setup.acme.renew_after.map(|d| d.get()),
                None,
                self.jitter,
            );
            Renewal { at: unix_seconds(at), reason }
        });
        self.acme.update(|status| {
            status.last_attempt = Some(attempt);
            status.challenge = self.saved.challenge;
            if next.is_some() {
                status.next = next;
            }
        });
        if let Some(current) = issued {
            self.put_in_service(current, &production);
        }
    }

    /// Serves `current` from now on (new connections get it; open ones keep theirs).
    fn put_in_service(&mut self, current: Current, directory: &str) {
        let source = CertificateSource::Acme { directory: directory.to_string() };
        match self.certificates.install_pem(&current.chain_pem, &current.key_pem, source) {
            Ok(_) => {
                self.current = Some(current);
                self.ari = None;
            }
            Err(detail) => {
                tracing::warn!(%detail, "the new certificate cannot be served; the current one stays");
                let failure = AcmeFailure { kind: AcmeFailureKind::Other, detail };
                if let Some(attempt) = &mut self.saved.last_attempt {
                    attempt.failure = Some(failure);
                    attempt.failures_in_a_row += 1;
                }
                self.saved.save(&self.setup.dir);
                let attempt = self.saved.last_attempt.clone();
                self.acme.update(|status| status.last_attempt = attempt);
            }
        }
    }

    /// The account at `directory`: the saved one, or a new one (saved 0600 before use).
    async fn account(&self, directory: &str) -> Result<Account, AcmeFailure> {
        let builder = Account::builder_with_http(Box::new(self.setup.client.clone()));
        let path = self.setup.dir.join(account_file(directory));
        let production = directory == self.setup.acme.directory;
        let known = |account: Account| {
            if production {
                let id = account.id().to_string();
                self.acme.update(|status| status.account = Some(id));
            }
            account
        };
        if let Ok(bytes) = std::fs::read(&path)
            && let Ok(credentials) = serde_json::from_slice::<AccountCredentials>(&bytes)
        {
            return builder.from_credentials(credentials).await.map(known).map_err(classify);
        }
        let contact = self.setup.acme.contact.as_ref().map(|c| format!("mailto:{c}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new = NewAccount {
            contact: &contacts,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, credentials) =
            builder.create(&new, directory.to_string(), None).await.map_err(classify)?;
        let json = serde_json::to_vec(&credentials).map_err(|error| AcmeFailure {
            kind: AcmeFailureKind::Other,
            detail: error.to_string(),
        })?;
        safe_file::write(&path, &json, safe_file::Options::PRIVATE).map_err(|error| {
            AcmeFailure {
                kind: AcmeFailureKind::Other,
                detail: format!("cannot save the ACME account ({}): {error}", path.display()),
            }
        })?;
        Ok(known(account))
    }

    /// An order at `directory`, trying the remembered challenge first, then the other. Returns
    /// the certificate when `keep` (a staging certificate is thrown away).
    async fn order(&mut self, directory: &str, keep: bool) -> Result<Option<Current>, AcmeFailure> {
        let account = self.account(directory).await?;
        let mut kinds: Vec<Challenge> = Vec::new();
        if self.setup.https {
            kinds.push(Challenge::TlsAlpn01);
        }
        if self.setup.http {
            kinds.push(Challenge::Http01);
        }
        if let Some(worked) = self.saved.challenge
            && let Some(position) = kinds.iter().position(|kind| *kind == worked)
        {
            kinds.swap(0, position);
        }
        let mut last = None;
        for kind in kinds {
            let outcome =
                tokio::time::timeout(ORDER_DEADLINE, self.order_with(&account, kind)).await;
            self.clear_answers();
            let outcome = outcome.unwrap_or_else(|_| {
                Err(AcmeFailure {
                    kind: AcmeFailureKind::Timeout,
                    detail: format!("the CA did not finish within {} s", ORDER_DEADLINE.as_secs()),
                })
            });
            match outcome {
                Ok((current, answered)) => {
                    // A CA reusing earlier authorizations asked for no challenge: nothing
                    // learnt about which one works.
                    if answered {
                        self.saved.challenge = Some(kind);
                    }
                    return Ok(keep.then_some(current));
                }
                // Only a failed challenge is worth trying the other way; the rest would fail
                // the same.
                Err(failure) if failure.kind == AcmeFailureKind::ChallengeFailed => {
                    tracing::info!(challenge = ?kind, detail = %failure.detail, "challenge failed; trying the other one");
                    last = Some(failure);
                }
                Err(failure) => return Err(failure),
            }
        }
        Err(last.unwrap_or(AcmeFailure {
            kind: AcmeFailureKind::Other,
            detail: "no challenge listener (listeners.https or listeners.acme_http)".into(),
        }))
    }

    /// One order answering `kind` challenges; also says whether any challenge was asked.
    async fn order_with(
        &self,
        account: &Account,
        kind: Challenge,
    ) -> Result<(Current, bool), AcmeFailure> {
        let challenge_type = match kind {
            Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            Challenge::Http01 => ChallengeType::Http01,
        };
        self.acme.update(|status| status.phase = AcmePhase::Ordering);
        let identifiers: Vec<Identifier> =
            self.names.iter().map(|name| Identifier::Dns(name.clone())).collect();
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await.map_err(classify)?;
        let mut answered = false;
        {
            let mut authorizations = order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization = authorization.map_err(classify)?;
                match authorization.status {
                    AuthorizationStatus::Valid => continue,
                    AuthorizationStatus::Pending => {}
                    other => {
                        return Err(AcmeFailure {
                            kind: AcmeFailureKind::Refused,
                            detail: format!("the CA's authorization is {other:?}"),
                        });
                    }
                }
                let name = authorization.identifier().to_string();
                let mut challenge =
                    authorization.challenge(challenge_type.clone()).ok_or_else(|| AcmeFailure {
                        kind: AcmeFailureKind::Refused,
                        detail: format!("the CA does not offer {kind:?} for {name}"),
                    })?;
                let key_authorization = challenge.key_authorization();
                match kind {
                    Challenge::Http01 => {
                        self.acme.shared.http.write().expect("acme http lock").insert(
                            challenge.token.clone(),
                            key_authorization.as_str().to_string(),
                        );
                    }
                    Challenge::TlsAlpn01 => self
                        .certificates
                        .answer_challenge(&name, key_authorization.digest().as_ref())
                        .map_err(|error| AcmeFailure {
                            kind: AcmeFailureKind::Other,
                            detail: error.to_string(),
                        })?,
                }
                challenge.set_ready().await.map_err(classify)?;
                answered = true;
            }
        }
        self.acme.update(|status| status.phase = AcmePhase::Answering { challenge: kind });
        let retry = RetryPolicy::new().timeout(Duration::from_secs(120));
        let state = order.poll_ready(&retry).await.map_err(classify)?;
        if state != OrderStatus::Ready {
            // The CA's reason is on the failed challenge.
            let mut detail = format!("the order is {state:?}");
            let mut failure_kind = AcmeFailureKind::ChallengeFailed;
            let mut authorizations = order.authorizations();
            while let Some(Ok(mut authorization)) = authorizations.next().await {
                if let Ok(state) = authorization.refresh().await
                    && let Some(problem) =
                        state.challenges.iter().find_map(|challenge| challenge.error.as_ref())
                {
                    let classified = classify_problem(problem);
                    failure_kind = match classified.kind {
                        AcmeFailureKind::Refused => AcmeFailureKind::ChallengeFailed,
                        other => other,
                    };
                    detail = classified.detail;
                    break;
                }
            }
            return Err(AcmeFailure { kind: failure_kind, detail });
        }
        self.acme.update(|status| status.phase = AcmePhase::Validated);
        let other = |detail: String| AcmeFailure { kind: AcmeFailureKind::Other, detail };
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|error| other(error.to_string()))?;
        let mut params = rcgen::CertificateParams::new(self.names.clone())
            .map_err(|error| other(error.to_string()))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(|error| other(error.to_string()))?;
        order.finalize_csr(csr.der()).await.map_err(classify)?;
        let chain = order.poll_certificate(&retry).await.map_err(classify)?;
        let current =
            Current::parse(chain.into_bytes(), key.serialize_pem().into_bytes()).map_err(other)?;
        Ok((current, answered))
    }

    fn clear_answers(&self) {
        self.certificates.clear_challenges();
        self.acme.shared.http.write().expect("acme http lock").clear();
    }
}

/// One account file per CA: a test CA's account never mixes with Let's Encrypt's.
fn account_file(directory: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(directory.as_bytes());
    let short: String = digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    format!("account-{short}.json")
}

fn classify(error: instant_acme::Error) -> AcmeFailure {
    match error {
        instant_acme::Error::Api(problem) => classify_problem(&problem),
        instant_acme::Error::Timeout(_) => AcmeFailure {
            kind: AcmeFailureKind::Timeout,
            detail: "the CA did not finish in time".into(),
        },
        instant_acme::Error::Http(_)
        | instant_acme::Error::InvalidUri(_)
        | instant_acme::Error::Other(_) => {
            AcmeFailure { kind: AcmeFailureKind::CaUnreachable, detail: format!("{error:#}") }
        }
        other => AcmeFailure { kind: AcmeFailureKind::Other, detail: other.to_string() },
    }
}

/// RFC 8555 §6.7 error types, sorted into what the user can do about them.
fn classify_problem(problem: &instant_acme::Problem) -> AcmeFailure {
    let kind_of =
        |kind: &str| match kind.strip_prefix("urn:ietf:params:acme:error:").unwrap_or(kind) {
            "rateLimited" => AcmeFailureKind::RateLimited,
            "caa" => AcmeFailureKind::Caa,
            "dns" => AcmeFailureKind::Dns,
            "connection" | "incorrectResponse" | "tls" | "unauthorized" => {
                AcmeFailureKind::ChallengeFailed
            }
            _ => AcmeFailureKind::Refused,
        };
    // A subproblem names the identifier at fault and is more precise.
    let mut kind = problem.r#type.as_deref().map_or(AcmeFailureKind::Refused, kind_of);
    for sub in &problem.subproblems {
        if let Some(sub_kind) = sub.r#type.as_deref().map(kind_of)
            && sub_kind != AcmeFailureKind::Refused
        {
            kind = sub_kind;
            break;
        }
    }
    AcmeFailure { kind, detail: problem.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    const DAY: u64 = 86_400;

    fn failed(at: u64, in_a_row: u32, kind: AcmeFailureKind) -> AcmeAttempt {
        AcmeAttempt {
            at,
            directory: "https://ca.test/dir".into(),
            failure: Some(AcmeFailure { kind, detail: "x".into() }),
            failures_in_a_row: in_a_row,
            retry_after: None,
        }
    }

    #[test]
    fn without_a_certificate_the_order_is_now() {
        assert_eq!(
            next_due(at(1000), None, None, None, None, 0.5),
            (at(1000), RenewalReason::Missing)
        );
    }

    #[test]
    fn renewal_is_at_two_thirds_of_the_lifetime_less_some_jitter() {
        let current = Some((at(0), at(90 * DAY)));
        assert_eq!(
            next_due(at(1), current, None, None, None, 0.0),
            (at(60 * DAY), RenewalReason::TwoThirds)
        );
        let (late, _) = next_due(at(1), current, None, None, None, 0.999);
        assert!(late < at(60 * DAY) && late > at(57 * DAY), "{late:?}");
    }

    #[test]
    fn a_window_from_the_ca_wins_over_two_thirds_and_the_config_over_both() {
        let current = Some((at(0), at(90 * DAY)));
        let window = Some((at(40 * DAY), at(42 * DAY)));
        assert_eq!(
            next_due(at(1), current, None, None, window, 0.5),
            (at(41 * DAY), RenewalReason::CaWindow)
        );
        assert_eq!(
            next_due(at(1), current, None, Some(Duration::from_secs(30)), window, 0.5),
            (at(30), RenewalReason::Configured)
        );
    }

    #[test]
    fn failures_back_off_from_a_minute_to_six_hours_never_in_a_tight_loop() {
        let current = Some((at(0), at(90 * DAY)));
        let pause = |in_a_row, kind| {
            let attempt = failed(10_000, in_a_row, kind);
            let (due, reason) = next_due(at(10_000), current, Some(&attempt), None, None, 0.5);
            assert_eq!(reason, RenewalReason::Retry);
            due.duration_since(at(10_000)).unwrap().as_secs()
        };
        assert_eq!(pause(1, AcmeFailureKind::ChallengeFailed), 60);
        assert_eq!(pause(2, AcmeFailureKind::ChallengeFailed), 120);
        assert_eq!(pause(5, AcmeFailureKind::ChallengeFailed), 960);
        assert_eq!(pause(40, AcmeFailureKind::ChallengeFailed), 6 * 3600);
        assert_eq!(pause(1, AcmeFailureKind::RateLimited), 3600, "a rate limit waits an hour");
        // Jitter stays within ±10 %.
        let attempt = failed(0, 3, AcmeFailureKind::Dns);
        let (low, _) = next_due(at(0), None, Some(&attempt), None, None, 0.0);
        let (high, _) = next_due(at(0), None, Some(&attempt), None, None, 0.999);
        assert_eq!(low, at(216));
        assert!(high > at(263) && high <= at(264), "{high:?}");
    }

    #[test]
    fn the_cas_retry_after_is_obeyed_up_to_a_week() {
        let mut attempt = failed(10_000, 1, AcmeFailureKind::RateLimited);
        let due =
            |attempt: &AcmeAttempt| next_due(at(10_000), None, Some(attempt), None, None, 0.5);
        // Later than the hour a rate limit waits anyway: the CA's time.
        attempt.retry_after = Some(10_000 + 5 * 3600);
        assert_eq!(due(&attempt), (at(10_000 + 5 * 3600), RenewalReason::Retry));
        // Sooner than the backoff: the backoff.
        attempt.retry_after = Some(10_060);
        assert_eq!(due(&attempt), (at(10_000 + 3600), RenewalReason::Retry));
        // Months away (a CA's mistake): a week at most.
        attempt.retry_after = Some(10_000 + 90 * DAY);
        assert_eq!(due(&attempt), (at(10_000 + 7 * DAY), RenewalReason::Retry));
    }

    #[test]
    fn the_cas_error_types_become_what_the_user_can_act_on() {
        let problem = |kind: &str| {
            serde_json::from_value::<instant_acme::Problem>(serde_json::json!({
                "type": kind, "detail": "d", "status": 403
            }))
            .unwrap()
        };
        for (kind, expected) in [
            ("urn:ietf:params:acme:error:rateLimited", AcmeFailureKind::RateLimited),
            ("urn:ietf:params:acme:error:caa", AcmeFailureKind::Caa),
            ("urn:ietf:params:acme:error:dns", AcmeFailureKind::Dns),
            ("urn:ietf:params:acme:error:connection", AcmeFailureKind::ChallengeFailed),
            ("urn:ietf:params:acme:error:unauthorized", AcmeFailureKind::ChallengeFailed),
            ("urn:ietf:params:acme:error:malformed", AcmeFailureKind::Refused),
        ] {
            assert_eq!(classify_problem(&problem(kind)).kind, expected, "{kind}");
        }
        let nested: instant_acme::Problem = serde_json::from_value(serde_json::json!({
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "subproblems": [{"type": "urn:ietf:params:acme:error:caa", "detail": "CAA forbids"}]
        }))
        .unwrap();
        assert_eq!(classify_problem(&nested).kind, AcmeFailureKind::Caa);
    }

    #[test]
    fn names_start_with_the_mail_host_without_repeats() {
        let mut acme = config::Acme::lets_encrypt_with_staging();
        acme.names =
            vec!["MTA-STS.example.com".parse().unwrap(), "mail.example.com".parse().unwrap()];
        assert_eq!(
            wanted_names("mail.example.com", &acme),
            ["mail.example.com", "mta-sts.example.com"]
        );
        assert_ne!(account_file("https://a/dir"), account_file("https://b/dir"));
    }
}
