//! Error types: one enum per fallible job (keys, signing, parsing names).

use thiserror::Error;

/// Loading, generating or parsing a key (private PEM or public DNS record).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// No `-----BEGIN ...-----` block this crate can read.
    #[error("no PEM private key found (expected \"RSA PRIVATE KEY\" or \"PRIVATE KEY\")")]
    NoPem,
    /// A PEM block whose label is known but not supported (encrypted, OpenSSH, EC, ...).
    #[error("unsupported PEM block \"{0}\"")]
    UnsupportedPem(String),
    /// PEM framing or base64 is broken.
    #[error("malformed PEM: {0}")]
    MalformedPem(&'static str),
    /// The DER inside the PEM is not a key aws-lc accepts.
    #[error("key rejected: {0}")]
    Rejected(String),
    /// RSA size outside what can be generated or used.
    #[error(
        "unsupported RSA key size {0} bits (aws-lc-rs supports 2048, 3072 and 4096 for generation, 2048..=8192 for loading)"
    )]
    UnsupportedRsaSize(usize),
    /// Key generation failed inside aws-lc.
    #[error("key generation failed")]
    Generate,
    /// A DKIM DNS key record (`v=DKIM1; k=...; p=...`) is malformed.
    #[error("malformed DKIM key record: {0}")]
    Record(String),
}

/// Producing a DKIM-Signature.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The template cannot produce a valid signature (bad d=, s=, i=, header name, x=).
    #[error("invalid signature template: {0}")]
    Template(String),
    /// The signing primitive failed inside aws-lc.
    #[error("signing failed in the crypto library")]
    Crypto,
}

/// Parsing an algorithm or canonicalization name.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown {what} {value:?}")]
pub struct ParseError {
    pub(crate) what: &'static str,
    pub(crate) value: String,
}
