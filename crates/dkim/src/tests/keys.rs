//! Key loading from every supported PEM form, generation, public halves, DNS values.

use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::testdata;
use crate::{Algorithm, KeyError, SigningKey, parse_dns_record};

fn b64_file(name: &str) -> Vec<u8> {
    STANDARD.decode(testdata(name).trim_ascii()).unwrap()
}

#[test]
fn loads_pkcs1_and_pkcs8_rsa() {
    let spki = b64_file("rsa2048.spki.b64");
    let pkcs1_pub = b64_file("rsa2048.pkcs1pub.b64");
    for file in ["rsa2048-pkcs1.pem", "rsa2048-pkcs8.pem"] {
        let key = SigningKey::from_pem(&testdata(file)).unwrap();
        assert_eq!(key.algorithm(), Algorithm::RsaSha256, "{file}");
        assert_eq!(key.rsa_bits(), Some(2048));
        assert_eq!(key.public_key_bytes(), spki);
        assert!(key.matches_public_key(&spki));
        assert!(key.matches_public_key(&pkcs1_pub));
        assert!(!key.matches_public_key(&spki[..spki.len() - 1]));
        assert!(!key.matches_public_key(b""));
        assert_eq!(
            key.dns_record_value(),
            format!("v=DKIM1; k=rsa; p={}", STANDARD.encode(&spki))
        );
    }
}

#[test]
fn loads_ed25519_pkcs8_v1_and_v2() {
    let v1 = SigningKey::from_pem(&testdata("ed25519-v1.pem")).unwrap();
    assert_eq!(v1.algorithm(), Algorithm::Ed25519Sha256);
    assert_eq!(v1.rsa_bits(), None);
    assert_eq!(v1.public_key_bytes().len(), 32);

    let pair = Ed25519KeyPair::generate().unwrap();
    let v2 = pair.to_pkcs8().unwrap();
    let pem = crate::pem::encode("PRIVATE KEY", v2.as_ref());
    let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
    let record = parse_dns_record(&key.dns_record_value()).unwrap();
    assert_eq!(record.key_type.as_deref(), Some("ed25519"));
    assert!(key.matches_public_key(&record.public_key));
    assert!(!key.matches_public_key(&v1.public_key_bytes()));
}

#[test]
fn refuses_what_it_cannot_sign_with() {
    assert!(matches!(
        SigningKey::from_pem(&testdata("rsa1024-pkcs1.pem")),
        Err(KeyError::Rejected(why)) if why.contains("2048")
    ));
    assert!(matches!(
        SigningKey::from_pem(&testdata("ec-p256.pem")),
        Err(KeyError::UnsupportedPem(_))
    ));
    // An Ed25519 PKCS#8 body under the PKCS#1 label.
    let wrong = String::from_utf8(testdata("ed25519-v1.pem"))
        .unwrap()
        .replace("PRIVATE KEY", "RSA PRIVATE KEY");
    assert!(matches!(
        SigningKey::from_pem(wrong.as_bytes()),
        Err(KeyError::Rejected(_))
    ));
}

#[test]
fn generates_loadable_keys() {
    for (algorithm, bits) in [(Algorithm::Ed25519Sha256, 0), (Algorithm::RsaSha256, 2048)] {
        let (key, pem) = SigningKey::generate(algorithm, bits).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = SigningKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(again.algorithm(), algorithm);
        assert_eq!(again.public_key_bytes(), key.public_key_bytes());
        assert!(pem.lines().all(|l| l.len() <= 64));
    }
    for bits in [0, 512, 1024, 2047, 8192] {
        assert_eq!(
            SigningKey::generate(Algorithm::RsaSha256, bits).err(),
            Some(KeyError::UnsupportedRsaSize(bits))
        );
    }
}

#[test]
fn debug_hides_key_material() {
    let key = SigningKey::from_pem(&testdata("rsa2048-pkcs1.pem")).unwrap();
    assert_eq!(
        format!("{key:?}"),
        "SigningKey { algorithm: RsaSha256, bits: 2048, .. }"
    );
    let key = SigningKey::from_pem(&testdata("rfc8463-brisbane.pem")).unwrap();
    assert_eq!(
        format!("{key:?}"),
        "SigningKey { algorithm: Ed25519Sha256, .. }"
    );
}
