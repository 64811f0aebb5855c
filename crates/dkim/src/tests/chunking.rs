//! Body hashing: split-invariance and the canonicalization traps, against a naive reference.

use sha2::{Digest, Sha256};

use crate::body::body_hash;
use crate::{BodyHasher, Canonicalization};

const BOTH: [Canonicalization; 2] = [Canonicalization::Simple, Canonicalization::Relaxed];

/// Whole-buffer canonicalization, written as directly from RFC 6376 §3.4.3/§3.4.4 as possible.
fn reference(c: Canonicalization, body: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        lines.push(rest[..i].to_vec());
        rest = &rest[i + 2..];
    }
    if !rest.is_empty() {
        lines.push(rest.to_vec());
    }
    if c == Canonicalization::Relaxed {
        for line in &mut lines {
            let mut out = Vec::new();
            let mut in_wsp = false;
            for &b in line.iter() {
                if b == b' ' || b == b'\t' {
                    in_wsp = true;
                } else {
                    if in_wsp {
                        out.push(b' ');
                    }
                    in_wsp = false;
                    out.push(b);
                }
            }
            *line = out;
        }
    }
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    if lines.is_empty() {
        return if c == Canonicalization::Simple {
            b"\r\n".to_vec()
        } else {
            Vec::new()
        };
    }
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

const BODIES: &[&[u8]] = &[
    b"",
    b"\r\n",
    b"\r\n\r\n\r\n",
    b"abc",
    b"abc\r\n",
    b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n\r\n\r\n",
    b" C \r\nD \t E\r\n\r\n\r\n",
    b"a \t \r\n \t \r\n\t\r\n",
    b"a\rb\r\n\r",
    b"a \r b\r\r\n\r\r\n",
    b"line\nbare lf \n\r\n\n",
    b"\r\n\r\nx  \r\n  y\t\r\n\r\n",
    b"trailing ws only line   ",
    b"\t\t",
    b"\r",
    b"x\r\n \r\n",
    b"one two  three\tfour \r\nfive six\r\n a b",
    b"a b c \r\n d",
];

#[test]
fn one_shot_matches_reference() {
    for c in BOTH {
        for body in BODIES {
            assert_eq!(
                body_hash(c, body),
                sha(&reference(c, body)),
                "{c} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

#[test]
fn every_split_gives_the_same_hash() {
    for c in BOTH {
        for body in BODIES {
            let whole = body_hash(c, body);
            for i in 0..=body.len() {
                for j in i..=body.len() {
                    let mut h = BodyHasher::new(c);
                    h.update(&body[..i]);
                    h.update(&[]);
                    h.update(&body[i..j]);
                    h.update(&body[j..]);
                    assert_eq!(h.finish(), whole, "{c} {body:?} split at {i},{j}");
                }
            }
            let mut h = BodyHasher::new(c);
            for b in body.iter() {
                h.update(std::slice::from_ref(b));
            }
            assert_eq!(h.finish(), whole, "{c} {body:?} byte by byte");
        }
    }
}

#[test]
fn traps_have_the_rfc_results() {
    use Canonicalization::{Relaxed, Simple};
    let cases: &[(Canonicalization, &[u8], &[u8])] = &[
        (Simple, b"", b"\r\n"),
        (Relaxed, b"", b""),
        (Simple, b"\r\n\r\n", b"\r\n"),
        (Relaxed, b"\r\n\r\n", b""),
        (Relaxed, b"a\r\n  \r\n\t\r\n", b"a\r\n"),
        (Simple, b"a\r\n  \r\n", b"a\r\n  \r\n"),
        (Simple, b"abc", b"abc\r\n"),
        (Relaxed, b"abc  ", b"abc\r\n"),
        (Relaxed, b"   ", b""),
        (Simple, b"a\rb", b"a\rb\r\n"),
        (Relaxed, b"a \rb\r\n", b"a \rb\r\n"),
        (Relaxed, b"a\r", b"a\r\r\n"),
        (Simple, b"a\nb\n", b"a\nb\n\r\n"),
        (Relaxed, b"a \n", b"a \n\r\n"),
        (Relaxed, b"\r\n\r\n x \r\n", b"\r\n\r\n x\r\n"),
    ];
    for (c, body, canonical) in cases {
        assert_eq!(body_hash(*c, body), sha(canonical), "{c} {body:?}");
    }
}

#[test]
fn empty_body_hashes_are_the_well_known_values() {
    use base64::Engine as _;
    let b64 = |h: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(h);
    assert_eq!(
        b64(body_hash(Canonicalization::Relaxed, b"")),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
    assert_eq!(
        b64(body_hash(Canonicalization::Simple, b"")),
        "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="
    );
}

#[test]
fn many_empty_lines_are_counted_not_buffered() {
    for c in BOTH {
        let mut h = BodyHasher::new(c);
        h.update(b"x\r\n");
        let blank = b"\r\n".repeat(4096);
        for _ in 0..256 {
            h.update(&blank);
        }
        assert_eq!(h.finish(), sha(b"x\r\n"), "{c} trailing");

        // The same lines in the middle of a body are all released, in the right number.
        let mut h = BodyHasher::new(c);
        h.update(b"x\r\n");
        for _ in 0..10 {
            h.update(&blank);
        }
        h.update(b"y\r\n");
        let mut expected = b"x\r\n".to_vec();
        expected.extend_from_slice(&b"\r\n".repeat(40960));
        expected.extend_from_slice(b"y\r\n");
        assert_eq!(h.finish(), sha(&expected), "{c} middle");
    }
}

#[test]
fn long_lines_across_chunks() {
    let mut body = Vec::new();
    for i in 0..2000u32 {
        body.extend_from_slice(format!("word{i}  \t").as_bytes());
        if i % 97 == 0 {
            body.extend_from_slice(b" \r\n");
        }
    }
    for c in BOTH {
        let whole = sha(&reference(c, &body));
        for size in [1, 7, 64, 4095, 16384, 100_000] {
            let mut h = BodyHasher::new(c);
            for chunk in body.chunks(size) {
                h.update(chunk);
            }
            assert_eq!(h.finish(), whole, "{c} chunk {size}");
        }
    }
}
