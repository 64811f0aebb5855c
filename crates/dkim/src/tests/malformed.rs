//! Hostile input to every parser: no panics, only errors.

use super::testdata;
use crate::{BodyHasher, Canonicalization, CanonicalizationPair, SignatureTemplate, SigningKey};
use crate::{existing_signature_ids, parse_dns_record, sign};

/// xorshift64*: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Bytes biased toward the characters parsers care about.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        const SPECIAL: &[u8] = b";=:-\r\n \t@.ABab09+/";
        (0..len)
            .map(|_| {
                let r = self.next();
                if r.is_multiple_of(3) {
                    (r >> 8) as u8
                } else {
                    SPECIAL[(r >> 8) as usize % SPECIAL.len()]
                }
            })
            .collect()
    }
}

#[test]
fn from_pem_never_panics() {
    let mut noise = Noise(0x1234_5678);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for file in [
        "rsa2048-pkcs1.pem",
        "rsa2048-pkcs8.pem",
        "ed25519-v1.pem",
        "rfc8463-brisbane.pem",
    ] {
        let good = testdata(file);
        for cut in (0..good.len()).step_by(7) {
            inputs.push(good[..cut].to_vec());
            let mut flipped = good.clone();
            flipped[cut] ^= 0x01 << (cut % 7);
            inputs.push(flipped);
        }
    }
    for _ in 0..300 {
        let n = (noise.next() % 300) as usize;
        let mut v = b"-----BEGIN PRIVATE KEY-----\n".to_vec();
        v.extend(noise.bytes(n));
        v.extend_from_slice(b"\n-----END PRIVATE KEY-----\n");
        inputs.push(v);
        inputs.push(noise.bytes(n));
    }
    inputs.push(b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n".to_vec());
    inputs.push(b"-----BEGIN -----\n-----END -----".to_vec());
    inputs.push(b"-----BEGIN PRIVATE KEY-----".to_vec());
    for input in &inputs {
        let _ = SigningKey::from_pem(input);
    }
}

#[test]
fn record_and_signature_parsers_never_panic() {
    let mut noise = Noise(0xdead_beef);
    let seeds = [
        "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5q",
        " v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel;\r\n\th=From:To; bh=abc=; b=xyz",
        "",
        ";",
        "=",
        "==;;==",
        "p",
        "p=",
        "d=\u{e9}; s=\u{1F600}",
        "v=DKIM1;;;p=====",
    ];
    let mut inputs: Vec<Vec<u8>> = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    for seed in seeds {
        for cut in 0..seed.len() {
            inputs.push(seed.as_bytes()[..cut].to_vec());
        }
    }
    for _ in 0..2000 {
        let n = (noise.next() % 120) as usize;
        inputs.push(noise.bytes(n));
    }
    for input in &inputs {
        let _ = existing_signature_ids(input);
        let _ = parse_dns_record(&String::from_utf8_lossy(input));
    }
}

#[test]
fn hashing_and_signing_noise_never_panics() {
    let key = SigningKey::from_pem(&testdata("rfc8463-brisbane.pem")).unwrap();
    let mut noise = Noise(42);
    for round in 0..200 {
        let c = if round % 2 == 0 {
            Canonicalization::Simple
        } else {
            Canonicalization::Relaxed
        };
        let mut h = BodyHasher::new(c);
        for _ in 0..(noise.next() % 8) {
            let n = (noise.next() % 64) as usize;
            h.update(&noise.bytes(n));
        }
        let body_hash = h.finish();
        let names: Vec<Vec<u8>> = (0..4).map(|_| noise.bytes(6)).collect();
        let values: Vec<Vec<u8>> = (0..4).map(|_| noise.bytes(30)).collect();
        let mut headers: Vec<(&[u8], &[u8])> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        headers.push((b"From", values[0].as_slice()));
        let template = SignatureTemplate {
            domain: String::from_utf8_lossy(&noise.bytes(8)).into_owned(),
            selector: "s".into(),
            canonicalization: CanonicalizationPair { header: c, body: c },
            headers: names
                .iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .chain(["From".to_string()])
                .collect(),
            oversign: vec![String::from_utf8_lossy(&noise.bytes(5)).into_owned()],
            identity: Some(String::from_utf8_lossy(&noise.bytes(10)).into_owned()),
            expire_after: Some(noise.next()),
        };
        let _ = sign(&key, &template, &headers, &body_hash, noise.next());
    }
}
