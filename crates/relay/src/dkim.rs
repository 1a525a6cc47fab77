//! DKIM keys and signing (RFC 6376; Ed25519 per RFC 8463), with mail-auth doing the crypto.
//!
//! Keys are PEM files: RSA as PKCS#1 (`BEGIN RSA PRIVATE KEY`), Ed25519 as PKCS#8
//! (`BEGIN PRIVATE KEY`). The TXT record publishes RSA keys as SubjectPublicKeyInfo, the form
//! every verifier accepts (OpenDKIM and older dkimpy reject the bare PKCS#1 key that
//! RFC 6376 §3.6.1 literally describes; STACK.md §6).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::generate::DkimKeyPair;
use mail_auth::dkim::{DkimSigner, Done};
use outpost_relay_config::{DkimAlgorithm, DkimKey};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

/// The headers we sign, when present (RFC 6376 §5.4.1's recommendations). `From` is required.
const SIGNED_HEADERS: [&str; 14] = [
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Why a key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the key file failed.
    #[error("cannot read the DKIM key {path}: {source}")]
    Read {
        /// The key file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a key of the configured algorithm.
    #[error("the DKIM key {path} is not a valid {algorithm} private key: {reason}")]
    Invalid {
        /// The key file.
        path: String,
        /// The configured algorithm.
        algorithm: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// Key generation or signing failed.
    #[error("DKIM {0}")]
    Crypto(String),
}

/// A freshly made key pair.
#[derive(Debug)]
pub struct Generated {
    /// The private key, PEM.
    pub private_pem: String,
    /// The value of the `<selector>._domainkey` TXT record.
    pub txt: String,
}

/// Makes a new key pair: RSA-2048 or Ed25519.
pub fn generate(algorithm: DkimAlgorithm) -> Result<Generated, Error> {
    match algorithm {
        DkimAlgorithm::RsaSha256 => {
            let pair = DkimKeyPair::generate_rsa(2048)
                .map_err(|error| Error::Crypto(format!("key generation failed: {error}")))?;
            Ok(Generated {
                private_pem: pem("RSA PRIVATE KEY", pair.private_key()),
                txt: rsa_txt(pair.public_key()),
            })
        }
        DkimAlgorithm::Ed25519Sha256 => {
            let pair = DkimKeyPair::generate_ed25519()
                .map_err(|error| Error::Crypto(format!("key generation failed: {error}")))?;
            Ok(Generated {
                private_pem: pem("PRIVATE KEY", pair.private_key()),
                txt: ed25519_txt(pair.public_key()),
            })
        }
    }
}

/// The TXT record value for the key in `pem_text`.
pub fn txt_for(pem_text: &str, algorithm: DkimAlgorithm, path: &str) -> Result<String, Error> {
    Ok(match load(pem_text, algorithm, path)? {
        Key::Rsa(key) => rsa_txt(&key.public_key()),
        Key::Ed25519(key) => ed25519_txt(&key.public_key()),
    })
}

fn rsa_txt(pkcs1_public: &[u8]) -> String {
    format!("v=DKIM1; k=rsa; p={}", BASE64.encode(spki_from_pkcs1(pkcs1_public)))
}

fn ed25519_txt(raw_public: &[u8]) -> String {
    format!("v=DKIM1; k=ed25519; p={}", BASE64.encode(raw_public))
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) with the
/// rsaEncryption algorithm identifier (RFC 8017 A.1).
fn spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    const RSA_ENCRYPTION: [u8; 15] =
        [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let mut bit_string = vec![0x00];
    bit_string.extend_from_slice(pkcs1);
    let mut body = RSA_ENCRYPTION.to_vec();
    body.extend(der(0x03, &bit_string));
    der(0x30, &body)
}

/// One DER element: tag, definite length, contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = contents.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes: Vec<u8> =
            length.to_be_bytes().into_iter().skip_while(|byte| *byte == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

fn pem(label: &str, der: &[u8]) -> String {
    let encoded = BASE64.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

fn pem_body(text: &str) -> Result<Vec<u8>, String> {
    let body: String = text.lines().filter(|line| !line.starts_with("-----")).collect();
    BASE64.decode(body.trim()).map_err(|error| format!("bad base64: {error}"))
}

enum Key {
    Rsa(RsaKey<Sha256>),
    Ed25519(Ed25519Key),
}

fn load(pem_text: &str, algorithm: DkimAlgorithm, path: &str) -> Result<Key, Error> {
    let invalid =
        |algorithm, reason: String| Error::Invalid { path: path.to_string(), algorithm, reason };
    match algorithm {
        DkimAlgorithm::RsaSha256 => {
            // PKCS#1 or PKCS#8, whichever the PEM label says.
            let der = PrivateKeyDer::from_pem_slice(pem_text.as_bytes()).map_err(|error| {
                invalid("rsa-sha256", format!("not a PEM private key ({error})"))
            })?;
            RsaKey::<Sha256>::from_key_der(der)
                .map(Key::Rsa)
                .map_err(|error| invalid("rsa-sha256", error.to_string()))
        }
        DkimAlgorithm::Ed25519Sha256 => {
            let der = pem_body(pem_text).map_err(|reason| invalid("ed25519-sha256", reason))?;
            Ed25519Key::from_pkcs8_der(&der)
                .map(Key::Ed25519)
                .map_err(|error| invalid("ed25519-sha256", error.to_string()))
        }
    }
}

/// One configured key, ready to sign.
enum KeySigner {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// One configured key, ready to seal (ARC, RFC 8617).
enum KeySealer {
    Rsa(ArcSealer<RsaKey<Sha256>, Done>),
    Ed25519(ArcSealer<Ed25519Key, Done>),
}

/// Signs mail with every key configured for its domain, and seals forwarded mail with the
/// domain's first key.
pub struct Signer {
    keys: Vec<(String, KeySigner)>,
    /// Per domain, sealers that differ only in extra (absent) header names: see [`Signer::seal`].
    sealers: Vec<(String, Sealers)>,
}

/// A domain's sealer variants, and the one that last made a set without the bad fold: the
/// folds fall where the set's fixed-length fields put them, so that one almost always works
/// again and each message is sealed once, not once per variant tried.
struct Sealers {
    variants: Vec<KeySealer>,
    last_good: std::sync::atomic::AtomicUsize,
}

/// Header names added to the ARC-Message-Signature's list, one more per try, to move where its
/// lines fold (absent headers sign as empty, RFC 6376 §5.4).
const SEAL_PADDING: [&str; 2] = ["Sender", "Keywords"];

impl std::fmt::Debug for Signer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let domains: Vec<&str> = self.keys.iter().map(|(domain, _)| domain.as_str()).collect();
        formatter.debug_struct("Signer").field("domains", &domains).finish()
    }
}

impl Signer {
    /// Loads every key in the config; any unreadable or invalid key is an error (the relay
    /// refuses to start rather than send unsigned mail).
    pub fn load(keys: &[DkimKey]) -> Result<Signer, Error> {
        let mut loaded = Vec::new();
        let mut sealers = Vec::new();
        for key in keys {
            let path = key.key_file.to_string();
            let text = std::fs::read_to_string(key.key_file.as_path())
                .map_err(|source| Error::Read { path: path.clone(), source })?;
            let domain = key.domain.as_str().to_string();
            let selector = key.selector.as_str().to_string();
            if !sealers.iter().any(|(known, _)| *known == domain) {
                let mut variants = Vec::new();
                for padding in 0..=SEAL_PADDING.len() {
                    let headers = SIGNED_HEADERS
                        .iter()
                        .copied()
                        .chain(["DKIM-Signature"])
                        .chain(SEAL_PADDING[..padding].iter().copied());
                    variants.push(match load(&text, key.algorithm, &path)? {
                        Key::Rsa(rsa) => KeySealer::Rsa(
                            ArcSealer::from_key(rsa)
                                .domain(domain.clone())
                                .selector(selector.clone())
                                .headers(headers),
                        ),
                        Key::Ed25519(ed25519) => KeySealer::Ed25519(
                            ArcSealer::from_key(ed25519)
                                .domain(domain.clone())
                                .selector(selector.clone())
                                .headers(headers),
                        ),
                    });
                }
                let last_good = std::sync::atomic::AtomicUsize::new(0);
                sealers.push((domain.clone(), Sealers { variants, last_good }));
            }
            let signer = match load(&text, key.algorithm, &path)? {
                Key::Rsa(rsa) => KeySigner::Rsa(
                    DkimSigner::from_key(rsa)
                        .domain(domain.clone())
                        .selector(selector)
                        .headers(SIGNED_HEADERS),
                ),
                Key::Ed25519(ed25519) => KeySigner::Ed25519(
                    DkimSigner::from_key(ed25519)
                        .domain(domain.clone())
                        .selector(selector)
                        .headers(SIGNED_HEADERS),
                ),
            };
            loaded.push((domain, signer));
        }
        Ok(Signer { keys: loaded, sealers })
    }

    /// The ARC set (`ARC-Seal`, `ARC-Message-Signature`, `ARC-Authentication-Results`, each
    /// ending in CRLF) to prepend to a message forwarded through `domain`, recording `results`.
    /// `None` when there is no key for the domain or the chain cannot be sealed (it already
    /// failed: RFC 8617 §5.1.2 says not to extend a failed chain).
    pub fn seal(
        &self,
        domain: &str,
        message: &mail_auth::AuthenticatedMessage<'_>,
        results: &mail_auth::AuthenticationResults<'_>,
        arc: &mail_auth::ArcOutput<'_>,
    ) -> Option<String> {
        use std::sync::atomic::Ordering;
        let (_, sealers) =
            self.sealers.iter().find(|(key_domain, _)| key_domain.eq_ignore_ascii_case(domain))?;
        if !arc.can_be_sealed() {
            return None;
        }
        // mail-auth may fold a header right before the `;` that closes its `b=` value. RFC 6376
        // §3.7 removes that whitespace when verifying, but dkimpy (and with it other verifiers)
        // keeps it, and the signature fails there: such a set is made again with the header
        // list one name longer, which moves the folds.
        let variants = &sealers.variants;
        let first = sealers.last_good.load(Ordering::Relaxed) % variants.len();
        let mut sealed = None;
        for index in (0..variants.len()).map(|offset| (first + offset) % variants.len()) {
            let sealer = &variants[index];
            let set = match sealer {
                KeySealer::Rsa(sealer) => sealer.seal(message, results, arc),
                KeySealer::Ed25519(sealer) => sealer.seal(message, results, arc),
            };
            match set {
                Ok(set) => {
                    let text = set.to_header();
                    let folded_before_close = text.contains("\r\n\t;\r\n");
                    sealed = Some(text);
                    if !folded_before_close {
                        sealers.last_good.store(index, Ordering::Relaxed);
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, domain, "cannot ARC-seal a forwarded message; forwarding it unsealed");
                    return None;
                }
            }
        }
        sealed
    }

    /// Whether a key exists for `domain`.
    pub fn signs_for(&self, domain: &str) -> bool {
        self.keys.iter().any(|(key_domain, _)| key_domain.eq_ignore_ascii_case(domain))
    }

    /// The `DKIM-Signature` headers (each ending in CRLF) to prepend to `message` for `domain`.
    /// An error means the message must not be sent (the client gets a 4xx).
    pub fn sign(&self, domain: &str, message: &[u8]) -> Result<String, Error> {
        let mut headers = String::new();
        for (_, signer) in
            self.keys.iter().filter(|(key_domain, _)| key_domain.eq_ignore_ascii_case(domain))
        {
            let signature = match signer {
                KeySigner::Rsa(signer) => signer.sign(message),
                KeySigner::Ed25519(signer) => signer.sign(message),
            }
            .map_err(|error| Error::Crypto(format!("signing failed: {error}")))?;
            headers.push_str(&signature.to_header());
        }
        if headers.is_empty() {
            return Err(Error::Crypto(format!("no key for {domain}")));
        }
        Ok(headers)
    }
}

/// Writes a new private key file readable only by its owner, refusing to overwrite one.
pub fn write_new_key(path: &Path, private_pem: &str) -> std::io::Result<()> {
    let options = outpost_safe_file::Options::PRIVATE.existing(outpost_safe_file::Existing::Keep);
    outpost_safe_file::write(path, private_pem.as_bytes(), options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::common::verify::DomainKey;

    #[test]
    fn rsa_keys_publish_spki_and_reload_from_pem() {
        let generated = generate(DkimAlgorithm::RsaSha256).unwrap();
        assert!(generated.private_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        // SubjectPublicKeyInfo of a 2048-bit key starts "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A".
        assert!(
            generated.txt.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"),
            "{}",
            generated.txt
        );
        assert_eq!(
            txt_for(&generated.private_pem, DkimAlgorithm::RsaSha256, "k").unwrap(),
            generated.txt
        );
        let parts = outpost_relay_api::split_txt(&generated.txt);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|part| part.len() <= 255));
        assert_eq!(parts.concat(), generated.txt);
        // mail-auth's own parser accepts the published record.
        assert!(DomainKey::parse(generated.txt.as_bytes()).is_ok());
    }

    #[test]
    fn ed25519_keys_round_trip() {
        let generated = generate(DkimAlgorithm::Ed25519Sha256).unwrap();
        assert!(generated.private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(generated.txt.starts_with("v=DKIM1; k=ed25519; p="));
        assert_eq!(
            txt_for(&generated.private_pem, DkimAlgorithm::Ed25519Sha256, "k").unwrap(),
            generated.txt
        );
    }

    #[test]
    fn a_key_of_the_wrong_kind_is_named_in_the_error() {
        let ed = generate(DkimAlgorithm::Ed25519Sha256).unwrap();
        let error = txt_for(&ed.private_pem, DkimAlgorithm::RsaSha256, "/etc/outpost/dkim/x.pem")
            .err()
            .unwrap();
        assert!(
            error.to_string().starts_with(
                "the DKIM key /etc/outpost/dkim/x.pem is not a valid rsa-sha256 private key"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_domain_with_rsa_and_ed25519_keys_gets_both_signatures() {
        let directory = tempfile::tempdir().unwrap();
        let mut keys = Vec::new();
        for (selector, algorithm) in
            [("rsa", DkimAlgorithm::RsaSha256), ("ed", DkimAlgorithm::Ed25519Sha256)]
        {
            let path = directory.path().join(format!("{selector}.pem"));
            write_new_key(&path, &generate(algorithm).unwrap().private_pem).unwrap();
            keys.push(DkimKey {
                domain: "example.com".parse().unwrap(),
                selector: selector.parse().unwrap(),
                algorithm,
                key_file: path.display().to_string().parse().unwrap(),
            });
        }
        let signer = Signer::load(&keys).unwrap();
        let headers = signer
            .sign("example.com", b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n")
            .unwrap();
        assert_eq!(headers.matches("DKIM-Signature:").count(), 2, "{headers}");
        assert!(
            headers.contains("a=rsa-sha256") && headers.contains("a=ed25519-sha256"),
            "{headers}"
        );
        assert!(!signer.signs_for("example.org"));
        assert!(
            signer.sign("example.org", b"From: a@example.org\r\n\r\n").is_err(),
            "no key, no signature, no mail"
        );
        // Writing a key never overwrites one.
        assert!(write_new_key(&directory.path().join("rsa.pem"), "x").is_err());
    }

    #[test]
    fn der_lengths_use_the_long_form_past_127_bytes() {
        assert_eq!(der(0x04, &[0; 3]), [0x04, 3, 0, 0, 0]);
        assert_eq!(&der(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }
}
