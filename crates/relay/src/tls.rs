//! TLS for the listeners: certificates chosen by SNI, swappable while the relay runs (a renewed
//! certificate reaches new connections without a restart), and a self-signed certificate for
//! the host name until a real one is configured.
//!
//! Only TLS 1.2 and 1.3 are offered (conformance item 51).

use outpost_safe_file as safe_file;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::Digest;
use time::OffsetDateTime;

/// Why certificates could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file does not hold what it should.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rcgen or rustls refused.
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// What `status` says about a certificate: the admin protocol's type.
pub use outpost_relay_api::{Certificate as CertificateInfo, CertificateSource};

struct Entry {
    key: Arc<CertifiedKey>,
    info: CertificateInfo,
}

/// The certificates in use, by name. Cheap to clone; every clone sees the same certificates.
#[derive(Clone, Default)]
pub struct Certificates {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    by_name: HashMap<String, Arc<Entry>>,
    default: Option<Arc<Entry>>,
    /// TLS-ALPN-01 answers (RFC 8737), by name: served only to clients asking for `acme-tls/1`.
    challenges: HashMap<String, Arc<CertifiedKey>>,
}

/// The ALPN protocol of ACME's TLS-ALPN-01 challenge.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

impl std::fmt::Debug for Certificates {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_list().entries(self.list().iter().map(|info| &info.names)).finish()
    }
}

impl Certificates {
    /// Adds (or replaces) a certificate; it serves every name it holds, and becomes the default
    /// for clients that send no SNI when `default` is set or there is none yet.
    pub fn install(&self, key: CertifiedKey, info: CertificateInfo, default: bool) {
        let entry = Arc::new(Entry { key: Arc::new(key), info });
        let mut inner = self.inner.write().expect("certificates lock");
        for name in &entry.info.names {
            inner.by_name.insert(name.to_ascii_lowercase(), entry.clone());
        }
        if default || inner.default.is_none() {
            inner.default = Some(entry);
        }
    }

    /// Loads a PEM chain and key from files.
    pub fn install_files(
        &self,
        chain: &Path,
        key: &Path,
        default: bool,
    ) -> Result<CertificateInfo, Error> {
        let source = CertificateSource::Files { chain: chain.display().to_string() };
        let (certified, info) = load_files(chain, key, source)?;
        self.install(certified, info.clone(), default);
        Ok(info)
    }

    /// Makes a self-signed certificate for `hostname`, keeping it in `directory` so a restart
    /// serves the same one (clients that accepted it once keep accepting it).
    pub fn install_self_signed(
        &self,
        hostname: &str,
        directory: &Path,
        now: std::time::SystemTime,
    ) -> Result<CertificateInfo, Error> {
        let chain = directory.join("self-signed.pem");
        let key = directory.join("self-signed.key");
        // Installed as what it is: `status` must say self-signed, so the app pins it.
        if chain.exists()
            && key.exists()
            && let Ok((certified, info)) = load_files(&chain, &key, CertificateSource::SelfSigned)
            && info.names.iter().any(|name| name == hostname)
        {
            self.install(certified, info.clone(), true);
            return Ok(info);
        }
        let key_pair =
            rcgen::KeyPair::generate().map_err(|error| Error::Setup(error.to_string()))?;
        let mut params = rcgen::CertificateParams::new(vec![hostname.to_string()])
            .map_err(|error| Error::Setup(error.to_string()))?;
        params.distinguished_name.push(rcgen::DnType::CommonName, hostname);
        params.not_before = OffsetDateTime::from(now) - time::Duration::days(1);
        params.not_after = OffsetDateTime::from(now) + time::Duration::days(825);
        let certificate =
            params.self_signed(&key_pair).map_err(|error| Error::Setup(error.to_string()))?;
        let saved = std::fs::create_dir_all(directory).is_ok()
            && safe_file::write(
                &key,
                key_pair.serialize_pem().as_bytes(),
                safe_file::Options::PRIVATE,
            )
            .is_ok()
            && safe_file::write(
                &chain,
                certificate.pem().as_bytes(),
                safe_file::Options::PRIVATE.mode(0o644),
            )
            .is_ok();
        if !saved {
            tracing::warn!(directory = %directory.display(), "cannot keep the self-signed certificate; a new one is made at each start");
        }
        let der = certificate.der().clone();
        let info = describe(&der, CertificateSource::SelfSigned).map_err(Error::Setup)?;
        let private = PrivateKeyDer::try_from(key_pair.serialize_der())
            .map_err(|error| Error::Setup(error.to_string()))?;
        let signing = provider::sign::any_supported_type(&private)
            .map_err(|error| Error::Setup(error.to_string()))?;
        self.install(CertifiedKey::new(vec![der], signing), info.clone(), true);
        Ok(info)
    }

    /// Answers a TLS-ALPN-01 challenge for `name`: a self-signed certificate carrying the key
    /// authorization's digest in the critical acmeIdentifier extension (RFC 8737 §3).
    pub fn answer_challenge(&self, name: &str, digest: &[u8]) -> Result<(), Error> {
        let key_pair =
            rcgen::KeyPair::generate().map_err(|error| Error::Setup(error.to_string()))?;
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()])
            .map_err(|error| Error::Setup(error.to_string()))?;
        params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
        let certificate =
            params.self_signed(&key_pair).map_err(|error| Error::Setup(error.to_string()))?;
        let private = PrivateKeyDer::try_from(key_pair.serialize_der())
            .map_err(|error| Error::Setup(error.to_string()))?;
        let signing = provider::sign::any_supported_type(&private)
            .map_err(|error| Error::Setup(error.to_string()))?;
        let key = Arc::new(CertifiedKey::new(vec![certificate.der().clone()], signing));
        self.inner
            .write()
            .expect("certificates lock")
            .challenges
            .insert(name.to_ascii_lowercase(), key);
        Ok(())
    }

    /// Stops answering TLS-ALPN-01 challenges (the order is over).
    pub fn clear_challenges(&self) {
        self.inner.write().expect("certificates lock").challenges.clear();
    }

    /// Installs a chain and key the relay obtained (PEM), as the default certificate.
    pub fn install_pem(
        &self,
        chain_pem: &[u8],
        key_pem: &[u8],
        source: CertificateSource,
    ) -> Result<CertificateInfo, String> {
        let (certified, info) = certified_key(chain_pem, key_pem, source)?;
        self.install(certified, info.clone(), true);
        Ok(info)
    }

    /// Every distinct certificate in use.
    pub fn list(&self) -> Vec<CertificateInfo> {
        let inner = self.inner.read().expect("certificates lock");
        let mut seen: Vec<CertificateInfo> = Vec::new();
        for entry in inner.by_name.values().chain(inner.default.iter()) {
            if !seen.contains(&entry.info) {
                seen.push(entry.info.clone());
            }
        }
        seen.sort_by(|a, b| a.names.cmp(&b.names));
        seen
    }

    /// A server config for the SMTP listeners: TLS 1.2 and 1.3, certificates from this store.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, Error> {
        Ok(Arc::new(self.builder()?))
    }

    /// The HTTPS listener's config: as [`Certificates::server_config`], speaking HTTP/1.1 and
    /// ACME's `acme-tls/1`.
    pub fn https_config(&self) -> Result<Arc<ServerConfig>, Error> {
        let mut config = self.builder()?;
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    fn builder(&self) -> Result<ServerConfig, Error> {
        Ok(ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|error| Error::Setup(error.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(self.clone())))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let inner = self.inner.read().expect("certificates lock");
        let name = hello.server_name().map(str::to_ascii_lowercase);
        // A CA validating TLS-ALPN-01 offers only acme-tls/1 and gets only the challenge answer.
        let acme = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if acme {
            return name.and_then(|name| inner.challenges.get(&name).cloned());
        }
        let by_name = name.and_then(|name| inner.by_name.get(&name));
        by_name.or(inner.default.as_ref()).map(|entry| entry.key.clone())
    }
}

/// A chain and key from PEM, checked to belong together; the key's problems start `key: `.
fn certified_key(
    chain_pem: &[u8],
    key_pem: &[u8],
    source: CertificateSource,
) -> Result<(CertifiedKey, CertificateInfo), String> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("not a PEM certificate chain ({error})"))?;
    let leaf = certificates.first().ok_or_else(|| "holds no certificate".to_string())?;
    let info = describe(leaf, source)?;
    let private = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|error| format!("key: not a PEM private key ({error})"))?;
    let signing = provider::sign::any_supported_type(&private)
        .map_err(|error| format!("key: unusable private key ({error})"))?;
    let certified = CertifiedKey::new(certificates, signing);
    certified
        .keys_match()
        .map_err(|error| format!("key: does not match the certificate ({error})"))?;
    Ok((certified, info))
}

/// Names, issuer, serial and validity of a DER certificate.
pub fn describe(
    der: &CertificateDer<'_>,
    source: CertificateSource,
) -> Result<CertificateInfo, String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der)
        .map_err(|error| format!("unreadable certificate ({error})"))?;
    let mut names: Vec<String> = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|extension| {
            extension
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => {
                        Some(dns.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty()
        && let Some(common_name) =
            certificate.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok())
    {
        names.push(common_name.to_ascii_lowercase());
    }
    let rfc3339 = |time: x509_parser::time::ASN1Time| {
        time.to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|error| error.to_string())
    };
    let not_after = rfc3339(certificate.validity().not_after)?;
    let not_before = rfc3339(certificate.validity().not_before)?;
    let issuer = certificate
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map_or_else(|| certificate.issuer().to_string(), str::to_string);
    let serial = certificate.raw_serial().iter().map(|byte| format!("{byte:02x}")).collect();
    let sha256 =
        sha2::Sha256::digest(der.as_ref()).iter().map(|byte| format!("{byte:02x}")).collect();
    let expires = u64::try_from(certificate.validity().not_after.timestamp()).unwrap_or(0);
    Ok(CertificateInfo { names, not_after, expires, source, sha256, issuer, serial, not_before })
}

/// A PEM chain and key read from files, with what `status` says of them.
fn load_files(
    chain: &Path,
    key: &Path,
    source: CertificateSource,
) -> Result<(CertifiedKey, CertificateInfo), Error> {
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|source| Error::Read { path: path.display().to_string(), source })
    };
    let invalid =
        |path: &Path, reason: String| Error::Invalid { path: path.display().to_string(), reason };
    let chain_pem = read(chain)?;
    let key_pem = read(key)?;
    certified_key(&chain_pem, &key_pem, source).map_err(|reason| {
        // The key's problems name the key file, the chain's the chain.
        if reason.starts_with("key: ") {
            invalid(key, reason.trim_start_matches("key: ").to_string())
        } else {
            invalid(chain, reason)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_once_and_kept() {
        let directory = tempfile::tempdir().unwrap();
        let certificates = Certificates::default();
        let first = certificates
            .install_self_signed(
                "mail.example.com",
                directory.path(),
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
            )
            .unwrap();
        assert_eq!(first.names, ["mail.example.com"]);
        assert!(first.is_self_signed());
        let pem = std::fs::read(directory.path().join("self-signed.pem")).unwrap();
        let again = Certificates::default();
        let reloaded = again
            .install_self_signed(
                "mail.example.com",
                directory.path(),
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
            )
            .unwrap();
        assert_eq!(
            std::fs::read(directory.path().join("self-signed.pem")).unwrap(),
            pem,
            "the same certificate is reused"
        );
        // After a restart it is still self-signed to `status` (the app pins it, never
        // checking it against a CA).
        assert!(reloaded.is_self_signed());
        assert!(again.list().iter().all(CertificateInfo::is_self_signed), "{:?}", again.list());
        // A new host name gets a new certificate.
        let renamed = Certificates::default()
            .install_self_signed(
                "smtp.example.com",
                directory.path(),
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
            )
            .unwrap();
        assert_eq!(renamed.names, ["smtp.example.com"]);
    }

    #[test]
    fn certificate_files_are_checked() {
        let directory = tempfile::tempdir().unwrap();
        let made = Certificates::default();
        made.install_self_signed(
            "mail.example.com",
            directory.path(),
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
        )
        .unwrap();
        let chain = directory.path().join("self-signed.pem");
        let key = directory.path().join("self-signed.key");
        let certificates = Certificates::default();
        let info = certificates.install_files(&chain, &key, true).unwrap();
        assert_eq!(info.names, ["mail.example.com"]);
        // A key that does not belong to the certificate is refused.
        let other = tempfile::tempdir().unwrap();
        Certificates::default()
            .install_self_signed(
                "other.example.com",
                other.path(),
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
            )
            .unwrap();
        let error = certificates
            .install_files(&chain, &other.path().join("self-signed.key"), true)
            .unwrap_err();
        assert!(error.to_string().contains("does not match"), "{error}");
        let error = certificates.install_files(&key, &key, true).unwrap_err();
        assert!(
            error.to_string().contains("not a PEM certificate chain")
                || error.to_string().contains("holds no certificate"),
            "{error}"
        );
    }
}
