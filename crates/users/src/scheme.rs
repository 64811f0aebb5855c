//! Dovecot password schemes: parsing `{SCHEME}hash` fields, verifying passwords against
//! them, and hashing new passwords.
//!
//! Verification compares in constant time: the Argon2, SHA-crypt and bcrypt libraries do so
//! themselves, and `{PLAIN}` compares SHA-256 digests with `subtle`, which also hides the
//! length.

use std::fmt;
use std::str::FromStr;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::crypt;

/// A password scheme Postern can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `{ARGON2ID}$argon2id$v=19$m=..,t=..,p=..$salt$hash` (libsodium's format). The default.
    Argon2id,
    /// `{ARGON2I}$argon2i$...`.
    Argon2i,
    /// `{SHA512-CRYPT}$6$[rounds=N$]salt$hash`.
    Sha512Crypt,
    /// `{SHA256-CRYPT}$5$[rounds=N$]salt$hash`.
    Sha256Crypt,
    /// `{BLF-CRYPT}$2y$cost$...` (also `$2a$`, `$2b$`, `$2x$`): bcrypt.
    BlfCrypt,
    /// `{CRYPT}`, or no scheme at all (Dovecot's default for passwd-files): whatever
    /// `crypt(3)` string follows; of those, `$6$`, `$5$` and `$2?$` are supported.
    Crypt,
    /// `{PLAIN}` (also `{CLEAR}`, `{CLEARTEXT}`): the password itself. Weak.
    Plain,
}

/// The scheme for new hashes.
pub const DEFAULT_SCHEME: Scheme = Scheme::Argon2id;

impl Scheme {
    /// The canonical name, as written between braces.
    pub fn name(self) -> &'static str {
        match self {
            Self::Argon2id => "ARGON2ID",
            Self::Argon2i => "ARGON2I",
            Self::Sha512Crypt => "SHA512-CRYPT",
            Self::Sha256Crypt => "SHA256-CRYPT",
            Self::BlfCrypt => "BLF-CRYPT",
            Self::Crypt => "CRYPT",
            Self::Plain => "PLAIN",
        }
    }

    /// Looks up a scheme name (case-insensitive, with Dovecot's aliases for PLAIN).
    pub fn from_name(name: &str) -> Option<Self> {
        let all = [
            Self::Argon2id,
            Self::Argon2i,
            Self::Sha512Crypt,
            Self::Sha256Crypt,
            Self::BlfCrypt,
            Self::Crypt,
            Self::Plain,
        ];
        if name.eq_ignore_ascii_case("CLEAR") || name.eq_ignore_ascii_case("CLEARTEXT") {
            return Some(Self::Plain);
        }
        all.into_iter()
            .find(|scheme| scheme.name().eq_ignore_ascii_case(name))
    }

    /// Whether a stolen file gives the passwords away (or nearly): only `PLAIN`.
    pub fn is_weak(self) -> bool {
        self == Self::Plain
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = SchemeError;

    fn from_str(name: &str) -> Result<Self, SchemeError> {
        Self::from_name(name).ok_or_else(|| SchemeError::UnknownScheme(name.to_owned()))
    }
}

/// What can be wrong with a stored hash, or with hashing a new password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemeError {
    /// A `{SCHEME}` Postern does not implement (Dovecot has many more).
    #[error("unsupported password scheme {0:?}")]
    UnknownScheme(String),
    /// A `{CRYPT}` (or scheme-less) hash of a kind Postern does not implement (DES, MD5,
    /// yescrypt...).
    #[error("unsupported crypt(3) hash type {0:?}")]
    UnsupportedCrypt(String),
    /// The hash does not have the scheme's format.
    #[error("malformed {0} hash")]
    Malformed(Scheme),
    /// The password cannot be hashed with this scheme (bcrypt: longer than 72 bytes).
    #[error("password unsuitable for {0}: {1}")]
    UnsuitablePassword(Scheme, &'static str),
    /// New hashes cannot use this scheme (`CRYPT` is not one algorithm).
    #[error("cannot create new {0} hashes")]
    NotForNewHashes(Scheme),
    /// The system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// The hashing library refused its input.
    #[error("{0} hashing failed: {1}")]
    Hashing(Scheme, String),
}

/// A stored password: scheme plus encoded hash. `Debug` hides the hash (for `{PLAIN}` it
/// is the password); [`to_field`](Self::to_field) gives the passwd-file form.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    scheme: Scheme,
    value: String,
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasswordHash({{{}}}<redacted>)", self.scheme)
    }
}

impl PasswordHash {
    /// Parses a passwd-file password field: `{SCHEME}value`, or a bare `crypt(3)` string
    /// (Dovecot's default scheme for passwd-files is CRYPT). Checks only the scheme and the
    /// obvious shape; a corrupt hash is reported when verified.
    pub fn parse(field: &str) -> Result<Self, SchemeError> {
        let (scheme, value) = match field
            .strip_prefix('{')
            .and_then(|rest| rest.split_once('}'))
        {
            Some((name, value)) => (name.parse::<Scheme>()?, value),
            None => (Scheme::Crypt, field),
        };
        let hash = Self {
            scheme,
            value: value.to_owned(),
        };
        hash.check_shape()?;
        Ok(hash)
    }

    /// Hashes `password` with `scheme` and a fresh random salt, with Dovecot's parameters:
    /// Argon2id m=64 MiB, t=3, p=1 (Argon2i m=32 MiB, t=4), SHA-crypt 5000 rounds, bcrypt
    /// cost 12 (Dovecot's 5 is too cheap today, and any cost verifies).
    pub fn generate(scheme: Scheme, password: &[u8]) -> Result<Self, SchemeError> {
        let value = match scheme {
            Scheme::Argon2id | Scheme::Argon2i => argon2_hash(scheme, password)?,
            Scheme::Sha512Crypt | Scheme::Sha256Crypt => {
                crypt::sha_crypt_hash(scheme, password, &random::<12>()?)?
            }
            Scheme::BlfCrypt => crypt::bcrypt_hash(password, &random::<16>()?)?,
            Scheme::Plain => String::from_utf8(password.to_vec())
                .map_err(|_| SchemeError::UnsuitablePassword(Scheme::Plain, "not UTF-8"))?,
            Scheme::Crypt => return Err(SchemeError::NotForNewHashes(scheme)),
        };
        Ok(Self { scheme, value })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Whether the scheme is weak ([`Scheme::is_weak`]).
    pub fn is_weak(&self) -> bool {
        self.scheme.is_weak()
    }

    /// The passwd-file field: `{SCHEME}value`.
    pub fn to_field(&self) -> String {
        format!("{{{}}}{}", self.scheme, self.value)
    }

    /// Whether `password` matches, in constant time. `Err` means the stored hash is unusable
    /// (never that the password is wrong).
    pub fn verify(&self, password: &[u8]) -> Result<bool, SchemeError> {
        match self.scheme {
            Scheme::Argon2id | Scheme::Argon2i => argon2_verify(self.scheme, &self.value, password),
            Scheme::Sha512Crypt | Scheme::Sha256Crypt => {
                crypt::sha_crypt_verify(self.scheme, &self.value, password)
            }
            Scheme::BlfCrypt => crypt::bcrypt_verify(&self.value, password),
            Scheme::Crypt => match crypt_kind(&self.value) {
                Some(scheme) => Self {
                    scheme,
                    value: self.value.clone(),
                }
                .verify(password),
                None => Err(unsupported_crypt(&self.value)),
            },
            Scheme::Plain => {
                let stored = Sha256::digest(self.value.as_bytes());
                let given = Sha256::digest(password);
                Ok(bool::from(stored.as_slice().ct_eq(given.as_slice())))
            }
        }
    }

    fn check_shape(&self) -> Result<(), SchemeError> {
        let ok = match self.scheme {
            Scheme::Argon2id | Scheme::Argon2i => {
                self.value.starts_with("$argon2id$") || self.value.starts_with("$argon2i$")
            }
            Scheme::Sha512Crypt => self.value.starts_with("$6$"),
            Scheme::Sha256Crypt => self.value.starts_with("$5$"),
            Scheme::BlfCrypt => crypt_kind(&self.value) == Some(Scheme::BlfCrypt),
            Scheme::Crypt => {
                if crypt_kind(&self.value).is_none() {
                    return Err(unsupported_crypt(&self.value));
                }
                true
            }
            Scheme::Plain => true,
        };
        if ok {
            Ok(())
        } else {
            Err(SchemeError::Malformed(self.scheme))
        }
    }
}

/// The scheme a `crypt(3)` string belongs to, by its prefix.
fn crypt_kind(value: &str) -> Option<Scheme> {
    if value.starts_with("$6$") {
        Some(Scheme::Sha512Crypt)
    } else if value.starts_with("$5$") {
        Some(Scheme::Sha256Crypt)
    } else if ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|prefix| value.starts_with(prefix))
    {
        Some(Scheme::BlfCrypt)
    } else {
        None
    }
}

/// Names the hash type by its `$id$` prefix only: the rest is secret-ish.
fn unsupported_crypt(value: &str) -> SchemeError {
    let id = match value
        .strip_prefix('$')
        .and_then(|rest| rest.split_once('$'))
    {
        Some((id, _)) => format!("${id}$"),
        None => "DES".to_owned(),
    };
    SchemeError::UnsupportedCrypt(id)
}

fn random<const N: usize>() -> Result<[u8; N], SchemeError> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).map_err(|error| SchemeError::Random(error.to_string()))?;
    Ok(bytes)
}

/// Argon2 parameters as Dovecot (libsodium) writes them: (m KiB, t, p).
fn argon2_params(scheme: Scheme) -> (u32, u32, u32) {
    match scheme {
        Scheme::Argon2i => (32 * 1024, 4, 1),
        _ => (64 * 1024, 3, 1),
    }
}

fn argon2_hash(scheme: Scheme, password: &[u8]) -> Result<String, SchemeError> {
    let (m, t, p) = argon2_params(scheme);
    let algorithm = if scheme == Scheme::Argon2i {
        argon2::Algorithm::Argon2i
    } else {
        argon2::Algorithm::Argon2id
    };
    let failed = |error: &dyn fmt::Display| SchemeError::Hashing(scheme, error.to_string());
    let params = argon2::Params::new(m, t, p, Some(32)).map_err(|e| failed(&e))?;
    let hasher = Argon2::new(algorithm, argon2::Version::V0x13, params);
    let hash = hasher
        .hash_password_with_salt(password, &random::<16>()?)
        .map_err(|e| failed(&e))?;
    Ok(hash.to_string())
}

fn argon2_verify(scheme: Scheme, value: &str, password: &[u8]) -> Result<bool, SchemeError> {
    // Like libsodium, the variant comes from the string, whichever of the two schemes.
    let hash = argon2::PasswordHash::new(value).map_err(|_| SchemeError::Malformed(scheme))?;
    match Argon2::default().verify_password(password, &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(_) => Err(SchemeError::Malformed(scheme)),
    }
}
