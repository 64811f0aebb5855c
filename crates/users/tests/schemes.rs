//! Password schemes against Dovecot: its hashes verify here, and ours verify in
//! `doveadm pw -t` (skipped with a message when doveadm is not installed).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

use users::{PasswordHash, Scheme, SchemeError};

fn vectors() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/hashes.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (password, field) = line.split_once('\t').unwrap();
            (password.to_owned(), field.to_owned())
        })
        .collect()
}

#[test]
fn dovecot_and_crypt_vectors_verify() {
    let vectors = vectors();
    assert!(vectors.len() >= 25);
    for (password, field) in vectors {
        let hash = PasswordHash::parse(&field).unwrap_or_else(|e| panic!("{field}: {e}"));
        assert_eq!(hash.verify(password.as_bytes()), Ok(true), "{field}");
        let wrong = format!("x{password}");
        assert_eq!(hash.verify(wrong.as_bytes()), Ok(false), "{field}");
        assert_eq!(hash.verify(b""), Ok(false), "{field}");
        assert_eq!(hash.is_weak(), hash.scheme() == Scheme::Plain);
    }
}

#[test]
fn bcrypt_reads_only_72_bytes_like_crypt() {
    let (password, field) = vectors()
        .into_iter()
        .find(|(password, field)| password.len() > 72 && field.starts_with("{BLF-CRYPT}"))
        .unwrap();
    let hash = PasswordHash::parse(&field).unwrap();
    let longer = format!("{password}whatever");
    assert_eq!(hash.verify(longer.as_bytes()), Ok(true));
    assert!(matches!(
        PasswordHash::generate(Scheme::BlfCrypt, longer.as_bytes()),
        Err(SchemeError::UnsuitablePassword(..))
    ));
}

#[test]
fn parse_errors() {
    assert_eq!(
        PasswordHash::parse("{SSHA512}abc"),
        Err(SchemeError::UnknownScheme("SSHA512".into()))
    );
    assert_eq!(
        PasswordHash::parse("{SHA512-CRYPT}$5$abc$def"),
        Err(SchemeError::Malformed(Scheme::Sha512Crypt))
    );
    assert_eq!(
        PasswordHash::parse("$1$md5$hash"),
        Err(SchemeError::UnsupportedCrypt("$1$".into()))
    );
    assert_eq!(
        PasswordHash::parse("{CRYPT}abDEScrypt"),
        Err(SchemeError::UnsupportedCrypt("DES".into()))
    );
    // Shape passes, contents do not: reported at verification, never as a mismatch.
    let broken = PasswordHash::parse("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$!!$!!").unwrap();
    assert_eq!(
        broken.verify(b"secret"),
        Err(SchemeError::Malformed(Scheme::Argon2id))
    );
    let broken = PasswordHash::parse("{SHA512-CRYPT}$6$salt$tooshort").unwrap();
    assert!(broken.verify(b"secret").is_err());
    let broken = PasswordHash::parse("{BLF-CRYPT}$2y$05$short").unwrap();
    assert!(broken.verify(b"secret").is_err());
    // Scheme names are case-insensitive and PLAIN has aliases.
    assert_eq!(
        PasswordHash::parse("{cleartext}pw").unwrap().scheme(),
        Scheme::Plain
    );
}

#[test]
fn debug_hides_hashes() {
    let hash = PasswordHash::parse("{PLAIN}hunter2").unwrap();
    assert_eq!(format!("{hash:?}"), "PasswordHash({PLAIN}<redacted>)");
}

const GENERATED: &[Scheme] = &[
    Scheme::Argon2id,
    Scheme::Argon2i,
    Scheme::Sha512Crypt,
    Scheme::Sha256Crypt,
    Scheme::BlfCrypt,
    Scheme::Plain,
];

#[test]
fn generated_hashes_verify_and_look_like_dovecots() {
    for &scheme in GENERATED {
        let hash = PasswordHash::generate(scheme, "pässword".as_bytes()).unwrap();
        assert_eq!(hash.verify("pässword".as_bytes()), Ok(true), "{scheme}");
        assert_eq!(hash.verify(b"password"), Ok(false), "{scheme}");
        let field = hash.to_field();
        assert_eq!(PasswordHash::parse(&field).unwrap(), hash);
        let expected_prefix = match scheme {
            Scheme::Argon2id => "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$",
            Scheme::Argon2i => "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$",
            Scheme::Sha512Crypt => "{SHA512-CRYPT}$6$",
            Scheme::Sha256Crypt => "{SHA256-CRYPT}$5$",
            Scheme::BlfCrypt => "{BLF-CRYPT}$2y$12$",
            _ => "{PLAIN}",
        };
        assert!(field.starts_with(expected_prefix), "{field}");
        assert!(!field.contains("rounds="), "{field}");
    }
    // Fresh salt every time.
    let a = PasswordHash::generate(Scheme::Sha512Crypt, b"x").unwrap();
    let b = PasswordHash::generate(Scheme::Sha512Crypt, b"x").unwrap();
    assert_ne!(a, b);
    assert_eq!(
        PasswordHash::generate(Scheme::Crypt, b"x"),
        Err(SchemeError::NotForNewHashes(Scheme::Crypt))
    );
}

fn doveadm() -> Option<&'static str> {
    let path = "/usr/bin/doveadm";
    if Path::new(path).exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {path} not installed; cannot check our hashes against Dovecot");
        None
    }
}

#[test]
fn doveadm_accepts_our_hashes() {
    let Some(doveadm) = doveadm() else { return };
    for &scheme in GENERATED {
        for password in ["secret", "pässwörd ünïcode"] {
            let field = PasswordHash::generate(scheme, password.as_bytes())
                .unwrap()
                .to_field();
            let run = |candidate: &str| {
                Command::new(doveadm)
                    .args(["pw", "-t", &field, "-p", candidate])
                    .output()
                    .unwrap()
            };
            let output = run(password);
            assert!(
                output.status.success(),
                "doveadm rejected {field}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(String::from_utf8_lossy(&output.stdout).contains("(verified)"));
            assert!(
                !run("wrong").status.success(),
                "doveadm accepted a wrong password"
            );
        }
    }
}
