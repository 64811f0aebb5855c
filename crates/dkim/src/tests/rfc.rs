//! RFC 6376 §3.4.6 canonicalization example and RFC 8463 Appendix A signatures.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::verify::{signed_data, verify};
use super::{RawMessage, testdata};
use crate::body::body_hash;
use crate::header::canonicalize_header;
use crate::{Canonicalization, SigningKey, parse_dns_record};

fn rfc6376_example(c: Canonicalization, expected_file: &str) {
    let msg = RawMessage::parse(&testdata("rfc6376-3.4.6.eml"));
    let expected = testdata(expected_file);
    let mut headers = Vec::new();
    for (n, v) in &msg.headers {
        canonicalize_header(c, n, v, &mut headers);
    }
    let split = headers.len();
    assert_eq!(headers, expected[..split], "{c} headers");
    assert_eq!(&expected[split..split + 2], b"\r\n");
    let canonical_body = &expected[split + 2..];
    assert_eq!(
        body_hash(c, &msg.body),
        <[u8; 32]>::from(Sha256::digest(canonical_body)),
        "{c} body"
    );
}

#[test]
fn rfc6376_3_4_6_relaxed() {
    rfc6376_example(Canonicalization::Relaxed, "rfc6376-3.4.6.relaxed");
}

#[test]
fn rfc6376_3_4_6_simple() {
    rfc6376_example(Canonicalization::Simple, "rfc6376-3.4.6.simple");
}

fn rfc8463_key(selector: &str) -> Vec<u8> {
    let records = String::from_utf8(testdata("rfc8463-keys.txt")).unwrap();
    let line = records
        .lines()
        .find(|l| l.starts_with(&format!("{selector}._domainkey.")))
        .unwrap();
    let (_, txt) = line.split_once(' ').unwrap();
    parse_dns_record(txt).unwrap().public_key
}

#[test]
fn rfc8463_ed25519_signature_verifies() {
    let raw = testdata("rfc8463-appendix-a.eml");
    verify(&raw, 0, &rfc8463_key("brisbane")).unwrap();
}

#[test]
fn rfc8463_rsa_signature_verifies() {
    let raw = testdata("rfc8463-appendix-a.eml");
    verify(&raw, 1, &rfc8463_key("test")).unwrap();
}

#[test]
fn rfc8463_body_hash() {
    let msg = RawMessage::parse(&testdata("rfc8463-appendix-a.eml"));
    assert_eq!(
        STANDARD.encode(body_hash(Canonicalization::Relaxed, &msg.body)),
        "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
    );
}

#[test]
fn verifier_helper_rejects_a_changed_message() {
    let raw = testdata("rfc8463-appendix-a.eml");
    let changed = String::from_utf8(raw)
        .unwrap()
        .replace("Is dinner ready?", "Is dinner ready!");
    assert!(verify(changed.as_bytes(), 0, &rfc8463_key("brisbane")).is_err());
}

#[test]
fn rfc8463_private_key_reproduces_the_published_signature() {
    let key = SigningKey::from_pem(&testdata("rfc8463-brisbane.pem")).unwrap();
    assert_eq!(key.public_key_bytes(), rfc8463_key("brisbane"));
    assert_eq!(
        key.dns_record_value(),
        "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    );
    let (data, published, _, _) = signed_data(&testdata("rfc8463-appendix-a.eml"), 0);
    assert_eq!(key.sign_data(&data).unwrap(), published);
}
