//! A minimal DKIM verifier built on this crate's canonicalization, for checking vectors.

use aws_lc_rs::signature::{
    ED25519, RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::RawMessage;
use crate::body::body_hash;
use crate::header::{canonicalize_header, select};
use crate::{CanonicalizationPair, tags};

/// The DKIM-Signature value with the b= value removed (FWS inside it included).
fn strip_b(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut first = true;
    for element in value.split(|&b| b == b';') {
        if !first {
            out.push(b';');
        }
        first = false;
        let is_b = element
            .iter()
            .position(|&b| b == b'=')
            .is_some_and(|eq| element[..eq].trim_ascii() == b"b");
        if is_b {
            let eq = element.iter().position(|&b| b == b'=').unwrap();
            out.extend_from_slice(&element[..=eq]);
        } else {
            out.extend_from_slice(element);
        }
    }
    out
}

/// What the signature at `index` (among DKIM-Signature fields) signs, and its parsed tags.
pub(crate) fn signed_data(raw: &[u8], index: usize) -> (Vec<u8>, Vec<u8>, String, RawMessage) {
    let msg = RawMessage::parse(raw);
    let (name, value) = msg
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"dkim-signature"))
        .nth(index)
        .expect("no such signature")
        .clone();
    let list = tags::parse(&value).expect("tag list");
    let c: CanonicalizationPair =
        std::str::from_utf8(tags::get(&list, "c").unwrap_or(b"simple/simple"))
            .unwrap()
            .parse()
            .unwrap();
    let h = tags::without_fws(tags::get(&list, "h").expect("h="));
    let h = String::from_utf8(h).unwrap();
    let names: Vec<&str> = h.split(':').collect();
    let refs = msg.header_refs();
    let mut data = Vec::new();
    for (n, v) in select(&refs, &names) {
        canonicalize_header(c.header, n, v, &mut data);
    }
    canonicalize_header(c.header, &name, &strip_b(&value), &mut data);
    data.truncate(data.len() - 2);

    let bh = STANDARD
        .decode(tags::without_fws(tags::get(&list, "bh").unwrap()))
        .unwrap();
    assert_eq!(bh, body_hash(c.body, &msg.body), "bh= mismatch");
    let b = STANDARD
        .decode(tags::without_fws(tags::get(&list, "b").unwrap()))
        .unwrap();
    let a = String::from_utf8(tags::get(&list, "a").unwrap().to_vec()).unwrap();
    drop(list);
    (data, b, a, msg)
}

/// Verifies signature `index` of `raw` against the decoded p= `public_key`.
pub(crate) fn verify(raw: &[u8], index: usize, public_key: &[u8]) -> Result<(), String> {
    let (data, b, a, _) = signed_data(raw, index);
    let result = match a.as_str() {
        "ed25519-sha256" => {
            UnparsedPublicKey::new(&ED25519, public_key).verify(&Sha256::digest(&data), &b)
        }
        "rsa-sha256" => {
            UnparsedPublicKey::new(&RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, public_key)
                .verify(&data, &b)
        }
        other => return Err(format!("a={other}")),
    };
    result.map_err(|_| "signature does not verify".to_string())
}
