//! Everything the DKIM crate parses from outside: key files, DNS records, existing
//! DKIM-Signature values, and message bodies in arbitrary chunks. Never panic.
#![no_main]

use dkim::{BodyHasher, Canonicalization};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dkim::SigningKey::from_pem(data);
    let _ = dkim::existing_signature_ids(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dkim::parse_dns_record(text);
    }
    // Split the body where the first byte says, hash it both ways, and compare with one shot.
    let Some((&split, body)) = data.split_first() else { return };
    let at = usize::from(split).min(body.len());
    for canonicalization in [Canonicalization::Simple, Canonicalization::Relaxed] {
        let mut chunked = BodyHasher::new(canonicalization);
        chunked.update(&body[..at]);
        chunked.update(&body[at..]);
        let mut whole = BodyHasher::new(canonicalization);
        whole.update(body);
        assert_eq!(chunked.finish(), whole.finish(), "chunking changed the body hash");
    }
});
