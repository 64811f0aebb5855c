//! The passwd-file format: fields, extra fields, errors with line numbers, and rewrites that
//! keep everything not edited byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use users::{
    Entry, EntryError, ExtraField, Owner, ParseError, ParseErrorKind, PasswdFile, PasswordHash,
};

fn sample() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/users.passwd")).unwrap()
}

#[test]
fn parses_the_sample() {
    let file = PasswdFile::parse(&sample()).unwrap();
    assert_eq!(file.len(), 6);
    let alice = file.get("alice@example.org").unwrap();
    assert_eq!(alice.uid, Some(Owner::Id(5000)));
    assert_eq!(alice.home, "/var/vmail/example.org/alice");
    // The extra field contains ':' and '=' and survives the split on ':'.
    assert_eq!(alice.extra("userdb_quota_rule"), Some("*:storage=1G"));
    assert_eq!(
        alice.userdb_fields().collect::<Vec<_>>(),
        [("quota_rule", Some("*:storage=1G"))]
    );
    let bob = file.get("bob@example.org").unwrap();
    assert_eq!(bob.uid, Some(Owner::Name("vmail".into())));
    assert_eq!(bob.gecos, "Bob Builder");
    let carol = file.get("carol@example.net").unwrap();
    assert_eq!((carol.uid.as_ref(), carol.home.as_str()), (None, ""));
    let dave = file.get("dave@example.net").unwrap();
    assert_eq!(dave.extra("nologin"), Some(""));
    assert_eq!(dave.extra("reason"), Some("moved"));
    let archive = file.get("archive@example.org").unwrap();
    assert_eq!(archive.password().unwrap(), None);
    assert!(format!("{dave:?}").contains("<redacted>"));
    assert!(!format!("{dave:?}").contains("secret"));
}

#[test]
fn rewrite_without_edits_is_identical() {
    let bytes = sample();
    assert_eq!(PasswdFile::parse(&bytes).unwrap().to_bytes(), bytes);
}

#[test]
fn edits_keep_comments_and_other_lines() {
    let bytes = sample();
    let mut file = PasswdFile::parse(&bytes).unwrap();
    let hash = PasswordHash::parse("{PLAIN}new").unwrap();
    let mut bob = file.get("bob@example.org").unwrap().clone();
    bob.set_password(&hash);
    file.replace(bob).unwrap();
    file.remove("carol@example.net").unwrap();
    let mut erin = Entry::new("erin@example.org", &hash);
    erin.extra_fields.push(ExtraField {
        key: "userdb_quota_rule".into(),
        value: Some("*:storage=2G".into()),
    });
    file.insert(erin).unwrap();
    let text = String::from_utf8(file.to_bytes()).unwrap();
    let expected = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("carol@"))
        .map(|line| {
            if line.starts_with("bob@") {
                "bob@example.org:{PLAIN}new:vmail:vmail:Bob Builder".to_owned()
            } else {
                line.to_owned()
            }
        })
        .chain(["erin@example.org:{PLAIN}new::::::userdb_quota_rule=*:storage=2G".to_owned()])
        .map(|line| line + "\n")
        .collect::<String>();
    assert_eq!(text, expected);
    // And what was written reads back the same.
    let again = PasswdFile::parse(text.as_bytes()).unwrap();
    assert_eq!(
        again.entries().collect::<Vec<_>>(),
        file.entries().collect::<Vec<_>>()
    );
}

#[test]
fn reports_every_bad_line() {
    let text = b"# ok\n\
        alice::0:5000\n\
        bob:x:5000:\n\
        :nobody\n\
        alice:y\n\
        \xffbad\n\
        carol:z:::::: =value\n\
        \x20\x20indented:z\n\
        dave:z:12notaname\n\
        bob:again\n";
    let errors = PasswdFile::parse(text).unwrap_err();
    let lines: Vec<usize> = errors.0.iter().map(|error| error.line).collect();
    assert_eq!(lines, [2, 4, 6, 7, 8, 9, 10]);
    assert_eq!(
        errors.0[0],
        ParseError {
            line: 2,
            kind: ParseErrorKind::Invalid("uid/gid 0 (root) is not allowed")
        }
    );
    assert_eq!(errors.0[2].kind, ParseErrorKind::InvalidUtf8);
    assert_eq!(
        errors.0[6].kind,
        ParseErrorKind::DuplicateUser {
            user: "bob".into(),
            first_line: 3
        }
    );
    // Line 5 repeats alice, whose line 2 was itself rejected: not reported twice.
    assert!(errors.to_string().starts_with("line 2: uid/gid 0"));
}

#[test]
fn old_format_mail_field() {
    let file = PasswdFile::parse(b"u:{PLAIN}p:5000:5000::/home/u:::maildir:~/Maildir\n").unwrap();
    assert_eq!(
        file.get("u").unwrap().extra("userdb_mail"),
        Some("maildir:~/Maildir")
    );
}

#[test]
fn invalid_edits_are_refused() {
    let mut file = PasswdFile::default();
    let hash = PasswordHash::parse("{PLAIN}a:b").unwrap();
    assert_eq!(
        file.insert(Entry::new("u", &hash)),
        Err(EntryError::Invalid(
            "password contains ':' or a control character"
        ))
    );
    let hash = PasswordHash::parse("{PLAIN}ok").unwrap();
    assert!(file.insert(Entry::new("a b", &hash)).is_err());
    file.insert(Entry::new("u", &hash)).unwrap();
    assert_eq!(
        file.insert(Entry::new("u", &hash)),
        Err(EntryError::Exists("u".into()))
    );
    let mut entry = Entry::new("u", &hash);
    entry.home = "/x\n".into();
    assert!(file.replace(entry).is_err());
    assert_eq!(
        file.replace(Entry::new("v", &hash)),
        Err(EntryError::NotFound("v".into()))
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let alphabet = b"ab:{}$# =\n\r\t0159@.\xff";
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|i| alphabet[((state >> (i % 60)) as usize + i) % alphabet.len()])
            .collect();
        if let Ok(file) = PasswdFile::parse(&bytes) {
            let again = PasswdFile::parse(&file.to_bytes()).unwrap();
            assert_eq!(again.len(), file.len());
            for entry in file.entries() {
                let _ = entry.password();
            }
        }
    }
}
