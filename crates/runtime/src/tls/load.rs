//! Reading the certificate chain and private key into a rustls server configuration, with one
//! error for each way the files can be wrong, naming the file.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig, SupportedProtocolVersion};

use super::{TlsSettings, TlsVersion, x509};

/// A certificate or key file that cannot be served: which file, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct TlsError {
    file: TlsFile,
    path: PathBuf,
    problem: TlsProblem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsFile {
    Cert,
    Key,
}

impl TlsError {
    /// The settings key the problem belongs to: `cert_file` or `key_file`.
    pub fn config_key(&self) -> &'static str {
        match self.file {
            TlsFile::Cert => "cert_file",
            TlsFile::Key => "key_file",
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn problem(&self) -> &TlsProblem {
        &self.problem
    }
}

/// What is wrong with a certificate or key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsProblem {
    #[error("cannot read: {0}{hint}", hint = permission_hint(.0))]
    Read(io::Error),
    #[error("not valid PEM: {0}")]
    Pem(String),
    #[error(
        "no certificate found: expected PEM blocks \"-----BEGIN CERTIFICATE-----\", the server's certificate first, then its intermediates"
    )]
    NoCertificate,
    #[error("is DER, not PEM: convert it with `openssl x509 -inform der -in FILE -out FILE.pem`")]
    Der,
    #[error("the first certificate is not valid X.509: {0}")]
    BadCertificate(String),
    #[error(
        "no private key found: expected PEM \"-----BEGIN PRIVATE KEY-----\", \"-----BEGIN RSA PRIVATE KEY-----\" or \"-----BEGIN EC PRIVATE KEY-----\""
    )]
    NoKey,
    #[error(
        "the private key is encrypted: a daemon cannot ask for the passphrase; store it decrypted (`openssl pkey -in FILE -out FILE.plain`), readable only by root and the daemon's group"
    )]
    EncryptedKey,
    #[error("unsupported private key (RSA, ECDSA and Ed25519 keys work): {0}")]
    UnsupportedKey(String),
    #[error(
        "does not match the first certificate in {} (the server's certificate must come first, then its intermediates)",
        cert.display()
    )]
    KeyMismatch { cert: PathBuf },
    #[error("rejected by rustls: {0}")]
    Rejected(String),
}

fn permission_hint(error: &io::Error) -> &'static str {
    if error.kind() == io::ErrorKind::PermissionDenied {
        " (reloads run as the daemon's user, which must be able to read it)"
    } else {
        ""
    }
}

/// What the log and `--check-config` say about a loaded certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// DNS names from subjectAltName, or the subject's common name when there are none.
    pub names: Vec<String>,
    /// Certificates in the chain file, the server's own included.
    pub chain_length: usize,
    not_after: Option<x509::Time>,
}

impl CertificateSummary {
    /// When the server's certificate expires, if its validity could be read.
    pub fn not_after(&self) -> Option<SystemTime> {
        self.not_after.map(x509::Time::to_system_time)
    }

    /// `not_after` as RFC 3339 (`2026-12-22T08:44:45Z`), or `unknown`.
    pub fn not_after_text(&self) -> String {
        self.not_after
            .map_or_else(|| "unknown".to_string(), |time| time.to_string())
    }
}

impl fmt::Display for CertificateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = if self.names.is_empty() {
            "no names".to_string()
        } else {
            self.names.join(", ")
        };
        write!(
            f,
            "{names}; {} certificate(s) in the chain; expires {}",
            self.chain_length,
            self.not_after_text()
        )
    }
}

/// A usable pair: the configuration handshakes use, and what it serves.
#[derive(Debug)]
pub(super) struct Loaded {
    pub config: Arc<ServerConfig>,
    pub summary: CertificateSummary,
}

/// Reads and checks both files and builds the configuration. Each configuration has its own
/// session cache: a session made with the old certificate does not resume after a renewal
/// (which may have been a key rotation).
pub(super) fn load(settings: &TlsSettings) -> Result<Loaded, TlsError> {
    let cert_error = |problem| TlsError {
        file: TlsFile::Cert,
        path: settings.cert_file.clone(),
        problem,
    };
    let key_error = |problem| TlsError {
        file: TlsFile::Key,
        path: settings.key_file.clone(),
        problem,
    };

    let cert_pem =
        std::fs::read(&settings.cert_file).map_err(|e| cert_error(TlsProblem::Read(e)))?;
    let chain = certificates(&cert_pem).map_err(cert_error)?;
    let key_pem = std::fs::read(&settings.key_file).map_err(|e| key_error(TlsProblem::Read(e)))?;
    let key = private_key(&key_pem).map_err(key_error)?;

    let summary = summarize(&chain).map_err(cert_error)?;
    let provider = provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| key_error(TlsProblem::UnsupportedKey(e.to_string())))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key type cannot report its public half; the handshake will tell.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(key_error(TlsProblem::KeyMismatch {
                cert: settings.cert_file.clone(),
            }));
        }
        Err(e) => return Err(cert_error(TlsProblem::BadCertificate(e.to_string()))),
    }

    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(settings.min_version))
        .map_err(|e| cert_error(TlsProblem::Rejected(e.to_string())))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneCertificate(Arc::new(certified))));
    Ok(Loaded {
        config: Arc::new(config),
        summary,
    })
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsProblem> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsProblem::Pem(describe(&e)))?;
    if chain.is_empty() {
        // A DER certificate starts with a SEQUENCE with a two-byte length.
        return Err(if pem.starts_with(&[0x30, 0x82]) {
            TlsProblem::Der
        } else {
            TlsProblem::NoCertificate
        });
    }
    Ok(chain)
}

fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsProblem> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            let encrypted = contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
                || contains(pem, b"Proc-Type: 4,ENCRYPTED");
            Err(if encrypted {
                TlsProblem::EncryptedKey
            } else {
                TlsProblem::NoKey
            })
        }
        // Legacy encrypted PEM carries headers the parser does not accept.
        Err(_) if contains(pem, b"Proc-Type: 4,ENCRYPTED") => Err(TlsProblem::EncryptedKey),
        Err(e) => Err(TlsProblem::Pem(describe(&e))),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// pki-types prints the markers as byte arrays; an operator wants the text.
fn describe(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!(
                "missing \"-----END {}-----\"",
                String::from_utf8_lossy(end_marker)
            )
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed line {:?}", String::from_utf8_lossy(line))
        }
        other => other.to_string(),
    }
}

fn summarize(chain: &[CertificateDer<'static>]) -> Result<CertificateSummary, TlsProblem> {
    let Some(leaf) = chain.first() else {
        return Err(TlsProblem::NoCertificate);
    };
    let parsed = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| TlsProblem::BadCertificate(e.to_string()))?;
    let facts = x509::inspect(leaf.as_ref());
    let mut names: Vec<String> = parsed.valid_dns_names().map(str::to_string).collect();
    if names.is_empty() {
        names.extend(facts.common_name);
    }
    Ok(CertificateSummary {
        names,
        chain_length: chain.len(),
        not_after: facts.not_after,
    })
}

/// An explicit provider rather than the process default, so a second provider compiled in by
/// some other dependency cannot make the builder panic.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

static TLS12_AND_LATER: [&SupportedProtocolVersion; 2] =
    [&rustls::version::TLS13, &rustls::version::TLS12];
static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];

fn versions(min: TlsVersion) -> &'static [&'static SupportedProtocolVersion] {
    match min {
        TlsVersion::Tls12 => &TLS12_AND_LATER,
        TlsVersion::Tls13 => &TLS13_ONLY,
    }
}

/// One certificate for every client, whatever name it asks for (SMTP clients rarely send SNI).
#[derive(Debug)]
struct OneCertificate(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
