//! Throughput figures (ignored by default). Run in release:
//! `cargo test -p dkim --release --test throughput -- --ignored --nocapture`

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use dkim::{
    BodyHasher, Canonicalization, CanonicalizationPair, DEFAULT_OVERSIGNED_HEADERS,
    DEFAULT_SIGNED_HEADERS, SignatureTemplate, SigningKey, sign,
};

const BODY_BYTES: usize = 50 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Mail-like text: 70-odd character lines, double spaces, a trailing space now and then.
fn body() -> Vec<u8> {
    let line = b"Lorem ipsum dolor sit amet,  consectetur adipiscing elit, sed do eiusmod \r\n";
    let mut body = Vec::with_capacity(BODY_BYTES + line.len());
    while body.len() < BODY_BYTES {
        body.extend_from_slice(line);
        body.extend_from_slice(b"tempor incididunt\tut labore et dolore magna aliqua.\r\n\r\n");
    }
    body.truncate(BODY_BYTES);
    body
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn body_hash_throughput() {
    let body = body();
    let start = Instant::now();
    std::hint::black_box(<sha2::Sha256 as sha2::Digest>::digest(&body));
    let raw = body.len() as f64 / (1024.0 * 1024.0) / start.elapsed().as_secs_f64();
    println!("plain SHA-256 : {raw:8.0} MB/s (the ceiling)");
    for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let mut h = BodyHasher::new(c);
            for chunk in body.chunks(CHUNK) {
                h.update(chunk);
            }
            std::hint::black_box(h.finish());
            best = best.min(start.elapsed());
        }
        let mb_s = body.len() as f64 / (1024.0 * 1024.0) / best.as_secs_f64();
        println!(
            "body hash {c:>7}: {mb_s:8.0} MB/s (50 MB in {:.1} ms, {} KiB chunks)",
            best.as_secs_f64() * 1e3,
            CHUNK / 1024
        );
    }
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn signs_per_second() {
    let headers: Vec<(&[u8], &[u8])> = vec![
        (b"From", b" Alice <alice@example.com>"),
        (b"To", b" Bob <bob@example.net>"),
        (b"Subject", b" Quarterly report"),
        (b"Date", b" Tue, 14 Nov 2023 22:13:20 +0000"),
        (b"Message-ID", b" <bench@example.com>"),
        (b"MIME-Version", b" 1.0"),
        (b"Content-Type", b" text/plain; charset=utf-8"),
    ];
    let template = SignatureTemplate {
        domain: "example.com".into(),
        selector: "bench".into(),
        canonicalization: CanonicalizationPair::default(),
        headers: DEFAULT_SIGNED_HEADERS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        oversign: DEFAULT_OVERSIGNED_HEADERS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        identity: None,
        expire_after: None,
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    for (label, file) in [
        ("RSA-2048", "rsa2048-pkcs1.pem"),
        ("Ed25519", "ed25519-v1.pem"),
    ] {
        let key = SigningKey::from_pem(&std::fs::read(dir.join(file)).unwrap()).unwrap();
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_secs(2) {
            std::hint::black_box(
                sign(
                    &key,
                    &template,
                    &headers,
                    &[7; 32],
                    1_700_000_000 + u64::from(n),
                )
                .unwrap(),
            );
            n += 1;
        }
        let per_s = f64::from(n) / start.elapsed().as_secs_f64();
        println!(
            "sign {label:>8}: {per_s:8.0} signatures/s (one thread, full sign() incl. header canonicalization)"
        );
    }
}
