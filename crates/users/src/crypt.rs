//! The `crypt(3)` family: SHA-crypt (`$5$`, `$6$`) and bcrypt (`$2?$`), read as libxcrypt
//! (what Dovecot's `{CRYPT}` calls on current systems) reads them.

use bcrypt::Version;
use sha_crypt::{Algorithm, Params, PasswordVerifier, ShaCrypt};

use crate::{Scheme, SchemeError};

/// The limits on `rounds=`.
const ROUNDS_MIN: u32 = 1_000;
const ROUNDS_MAX: u32 = 999_999_999;
/// crypt(3) uses at most 16 salt characters and ignores the rest.
const SALT_MAX: usize = 16;
/// The rounds used when the string has none.
const ROUNDS_DEFAULT: u32 = 5_000;

/// bcrypt cost for new hashes.
const BCRYPT_COST: u32 = 12;
/// bcrypt reads at most 72 bytes of password.
const BCRYPT_MAX_PASSWORD: usize = 72;

/// `$6$[rounds=N$]salt$hash` taken apart.
struct ShaCryptString<'a> {
    rounds: Option<u32>,
    salt: &'a str,
    hash: &'a str,
}

fn split_sha_crypt(scheme: Scheme, value: &str) -> Option<ShaCryptString<'_>> {
    let prefix = if scheme == Scheme::Sha512Crypt {
        "$6$"
    } else {
        "$5$"
    };
    let rest = value.strip_prefix(prefix)?;
    let (rounds, rest) = match rest.strip_prefix("rounds=") {
        Some(rest) => {
            let (number, rest) = rest.split_once('$')?;
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Out of range is an error, as in libxcrypt (old glibc clamped, but then wrote
            // the clamped value, so such strings never come from crypt(3) itself).
            let rounds: u32 = number.parse().ok()?;
            if !(ROUNDS_MIN..=ROUNDS_MAX).contains(&rounds) {
                return None;
            }
            (Some(rounds), rest)
        }
        None => (None, rest),
    };
    let (salt, hash) = rest.split_once('$')?;
    let hash_len = if scheme == Scheme::Sha512Crypt {
        86
    } else {
        43
    };
    let crypt_base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'/';
    if hash.len() != hash_len || !hash.bytes().all(crypt_base64) {
        return None;
    }
    let salt = match salt.char_indices().nth(SALT_MAX) {
        Some((cut, _)) => salt.get(..cut)?,
        None => salt,
    };
    Some(ShaCryptString { rounds, salt, hash })
}

pub(crate) fn sha_crypt_verify(
    scheme: Scheme,
    value: &str,
    password: &[u8],
) -> Result<bool, SchemeError> {
    let malformed = SchemeError::Malformed(scheme);
    let parts = split_sha_crypt(scheme, value).ok_or_else(|| malformed.clone())?;
    // Rebuilt in the form the library reads, with glibc's clamping and salt cut applied.
    let id = if scheme == Scheme::Sha512Crypt { 6 } else { 5 };
    let rounds = parts.rounds.unwrap_or(ROUNDS_DEFAULT);
    let normalized = format!("${id}$rounds={rounds}${}${}", parts.salt, parts.hash);
    match ShaCrypt::default().verify_password(password, normalized.as_str()) {
        Ok(()) => Ok(true),
        Err(sha_crypt::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(_) => Err(malformed),
    }
}

pub(crate) fn sha_crypt_hash(
    scheme: Scheme,
    password: &[u8],
    salt: &[u8; 12],
) -> Result<String, SchemeError> {
    use sha_crypt::password_hash::PasswordHasher;

    let algorithm = if scheme == Scheme::Sha512Crypt {
        Algorithm::Sha512Crypt
    } else {
        Algorithm::Sha256Crypt
    };
    let params = Params::new(ROUNDS_DEFAULT)
        .map_err(|error| SchemeError::Hashing(scheme, error.to_string()))?;
    let hash = ShaCrypt::new(algorithm, params)
        .hash_password_with_salt(password, salt)
        .map_err(|error| SchemeError::Hashing(scheme, error.to_string()))?
        .to_string();
    // Written like Dovecot and glibc do for the default: without "rounds=5000$".
    Ok(hash.replacen(&format!("rounds={ROUNDS_DEFAULT}$"), "", 1))
}

pub(crate) fn bcrypt_verify(value: &str, password: &[u8]) -> Result<bool, SchemeError> {
    // The truncating variant: crypt(3) reads only the first 72 bytes, so must we.
    bcrypt::verify(password, value).map_err(|_| SchemeError::Malformed(Scheme::BlfCrypt))
}

pub(crate) fn bcrypt_hash(password: &[u8], salt: &[u8; 16]) -> Result<String, SchemeError> {
    if password.len() > BCRYPT_MAX_PASSWORD {
        return Err(SchemeError::UnsuitablePassword(
            Scheme::BlfCrypt,
            "longer than 72 bytes",
        ));
    }
    let parts = bcrypt::hash_with_salt(password, BCRYPT_COST, *salt)
        .map_err(|error| SchemeError::Hashing(Scheme::BlfCrypt, error.to_string()))?;
    Ok(parts.format_for_version(Version::TwoY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_crypt_strings_are_read_like_libxcrypt() {
        let h86 = "h".repeat(86);
        let h43 = "h".repeat(43);
        let value = format!("$6$rounds=1000$0123456789abcdefXYZ${h86}");
        let parts = split_sha_crypt(Scheme::Sha512Crypt, &value).unwrap();
        assert_eq!(parts.rounds, Some(ROUNDS_MIN));
        assert_eq!(parts.salt, "0123456789abcdef");
        assert_eq!(parts.hash, h86);
        let value = format!("$5$salt${h43}");
        let parts = split_sha_crypt(Scheme::Sha256Crypt, &value).unwrap();
        assert_eq!(parts.rounds, None);
        for (scheme, bad) in [
            (Scheme::Sha512Crypt, format!("$6$rounds=999$salt${h86}")),
            (Scheme::Sha256Crypt, format!("$6$salt${h43}")),
            (Scheme::Sha512Crypt, format!("$6$rounds=x$salt${h86}")),
            (Scheme::Sha512Crypt, "$6$saltonly".to_owned()),
            (Scheme::Sha512Crypt, format!("$6$salt${h43}")),
            (Scheme::Sha256Crypt, format!("$5$salt${}!", "h".repeat(42))),
        ] {
            assert!(split_sha_crypt(scheme, &bad).is_none(), "{bad}");
        }
    }
}
