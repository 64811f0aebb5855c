//! `sign`: h= selection, tag order, folding, verification, byte-exact snapshots, errors.

use super::verify::verify;
use super::{assemble, testdata};
use crate::body::body_hash;
use crate::{
    Canonicalization, CanonicalizationPair, DEFAULT_OVERSIGNED_HEADERS, DEFAULT_SIGNED_HEADERS,
    SignError, SignatureTemplate, Signed, SigningKey, existing_signature_ids, sign, tags,
};

const NOW: u64 = 1_700_000_000;

fn pairs() -> Vec<CanonicalizationPair> {
    use Canonicalization::{Relaxed, Simple};
    [
        (Simple, Simple),
        (Simple, Relaxed),
        (Relaxed, Simple),
        (Relaxed, Relaxed),
    ]
    .into_iter()
    .map(|(header, body)| CanonicalizationPair { header, body })
    .collect()
}

fn template(c: CanonicalizationPair) -> SignatureTemplate {
    SignatureTemplate {
        domain: "example.com".into(),
        selector: "sel2024".into(),
        canonicalization: c,
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
    }
}

const HEADERS: &[(&[u8], &[u8])] = &[
    (
        b"Received",
        b" from a.example by b.example;\r\n\tFri, 10 Nov 2023 00:00:00 +0000",
    ),
    (b"From", b" =?UTF-8?Q?J=C3=B6rg?= <joerg@example.com>"),
    (
        b"To",
        b" Ann <ann@example.net>,\r\n  Bob <bob@example.net>   ",
    ),
    (b"Subject", " Grüße aus Köln — ünïcödé\t ".as_bytes()),
    (b"Date", b" Tue, 14 Nov 2023 22:13:20 +0000"),
    (b"Message-ID", b" <1@example.com>"),
    (b"X-Unsigned", b" not in h="),
    (b"MIME-Version", b" 1.0"),
    (b"Content-Type", b" text/plain;\r\n\tcharset=utf-8"),
];

const BODY: &[u8] = b"Hello  there,\r\n\r\n  indented \t line\r\nlast line without CRLF  \t";

fn sign_message(key: &SigningKey, t: &SignatureTemplate) -> Signed {
    sign(
        key,
        t,
        HEADERS,
        &body_hash(t.canonicalization.body, BODY),
        NOW,
    )
    .unwrap()
}

fn keys() -> Vec<SigningKey> {
    ["rfc8463-brisbane.pem", "rsa2048-pkcs1.pem"]
        .iter()
        .map(|f| SigningKey::from_pem(&testdata(f)).unwrap())
        .collect()
}

fn tag(value: &str, name: &str) -> String {
    let list = tags::parse(value.as_bytes()).unwrap();
    String::from_utf8(tags::without_fws(tags::get(&list, name).unwrap())).unwrap()
}

#[test]
fn signatures_verify_for_every_canonicalization() {
    for key in keys() {
        for c in pairs() {
            let signed = sign_message(&key, &template(c));
            let raw = assemble(&signed, HEADERS, BODY);
            verify(&raw, 0, &key.public_key_bytes())
                .unwrap_or_else(|e| panic!("{c} {}: {e}", key.algorithm()));
        }
    }
}

#[test]
fn h_lists_instances_and_oversigns() {
    let key = &keys()[0];
    let signed = sign_message(key, &template(CanonicalizationPair::default()));
    assert_eq!(
        tag(&signed.value, "h"),
        "From:From:Reply-To:Subject:Subject:Date:Date:To:To:Cc:Message-ID:Message-ID:\
         MIME-Version:MIME-Version:Content-Type:Content-Type:Content-Transfer-Encoding"
    );
    let mut t = template(CanonicalizationPair::default());
    t.headers = vec![
        "from".into(),
        "Received".into(),
        "received".into(),
        "X-Absent".into(),
    ];
    t.oversign = vec!["X-Extra".into()];
    let signed = sign(key, &t, HEADERS, &[0; 32], NOW).unwrap();
    assert_eq!(tag(&signed.value, "h"), "from:Received:X-Extra");
}

#[test]
fn tags_come_in_the_documented_order() {
    let key = &keys()[0];
    let mut t = template(CanonicalizationPair::default());
    t.identity = Some("joerg@mail.example.com".into());
    t.expire_after = Some(86400);
    let signed = sign_message(key, &t);
    assert_eq!(signed.name, "DKIM-Signature");
    let unfolded = signed.value.replace("\r\n\t", " ");
    assert!(
        unfolded
            .starts_with(" v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=sel2024;")
    );
    assert!(!unfolded.contains(" l="));
    let list = tags::parse(signed.value.as_bytes()).unwrap();
    let names: Vec<&[u8]> = list.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            &b"v"[..],
            b"a",
            b"c",
            b"d",
            b"s",
            b"i",
            b"t",
            b"x",
            b"h",
            b"bh",
            b"b"
        ]
    );
    assert_eq!(tag(&signed.value, "t"), NOW.to_string());
    assert_eq!(tag(&signed.value, "x"), (NOW + 86400).to_string());
    assert_eq!(tag(&signed.value, "i"), "joerg@mail.example.com");
}

#[test]
fn folding_stays_within_78_columns() {
    for key in keys() {
        let mut t = template(CanonicalizationPair::default());
        t.headers
            .extend((0..40).map(|i| format!("X-Long-Header-Name-{i}")));
        let signed = sign_message(&key, &t);
        let full = format!("{}:{}", signed.name, signed.value);
        for (i, line) in full.split("\r\n").enumerate() {
            assert!(line.len() <= 78, "{line:?}");
            assert!(i == 0 || line.starts_with('\t'), "{line:?}");
            assert!(!line.contains('\n') && !line.contains('\r'));
        }
        assert!(!signed.value.ends_with(char::is_whitespace));
    }
}

#[test]
fn ed25519_signature_is_byte_exact() {
    let key = &keys()[0];
    for c in pairs() {
        let mut t = template(c);
        t.identity = Some("@example.com".into());
        t.expire_after = Some(3600);
        let first = sign_message(key, &t);
        assert_eq!(first.value, sign_message(key, &t).value);
        let file = format!("snapshot-ed25519-{}-{}.txt", c.header, c.body);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(&file);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &first.value).unwrap();
        }
        assert_eq!(
            first.value,
            String::from_utf8(testdata(&file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn template_errors() {
    let key = &keys()[0];
    let err = |t: SignatureTemplate| sign(key, &t, HEADERS, &[0; 32], NOW).unwrap_err();
    let base = template(CanonicalizationPair::default());
    for bad in ["", "exa mple.com", "a;b", "x=y"] {
        let mut t = base.clone();
        t.domain = bad.into();
        assert!(matches!(err(t), SignError::Template(_)), "{bad:?}");
    }
    let mut t = base.clone();
    t.identity = Some("user@example.org".into());
    assert!(matches!(err(t), SignError::Template(_)));
    let mut t = base.clone();
    t.identity = Some("user@notexample.com".into());
    assert!(matches!(err(t), SignError::Template(_)));
    let mut t = base.clone();
    t.headers = vec!["Subject".into()];
    t.oversign.clear();
    assert!(matches!(err(t), SignError::Template(_)));
    let mut t = base.clone();
    t.headers.push("Bad:Name".into());
    assert!(matches!(err(t), SignError::Template(_)));
    let mut t = base.clone();
    t.expire_after = Some(0);
    assert!(matches!(err(t), SignError::Template(_)));
}

#[test]
fn identity_is_quoted_printable() {
    let key = &keys()[0];
    let mut t = template(CanonicalizationPair::default());
    t.identity = Some("a;b=c d@example.com".into());
    let signed = sign(key, &t, HEADERS, &[0; 32], NOW).unwrap();
    assert_eq!(tag(&signed.value, "i"), "a=3Bb=3Dc=20d@example.com");
}

#[test]
fn existing_signature_ids_reads_d_and_s() {
    let key = &keys()[0];
    let signed = sign_message(key, &template(CanonicalizationPair::default()));
    assert_eq!(
        existing_signature_ids(signed.value.as_bytes()),
        Some(("example.com".into(), "sel2024".into()))
    );
    assert_eq!(
        existing_signature_ids(b" v=1; d=Example.COM.;\r\n\ts=Sel; b=x"),
        Some(("example.com".into(), "Sel".into()))
    );
    assert_eq!(existing_signature_ids(b"v=1; s=x"), None);
    assert_eq!(existing_signature_ids(b"v=1; d=; s=x"), None);
    assert_eq!(existing_signature_ids(b"d=a; d=b; s=x"), None);
}
