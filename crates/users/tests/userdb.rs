//! [`UserDb`]: lookups as Dovecot's passwd-file with `username_format` does them,
//! authentication, recipient resolution, and locked atomic edits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use users::{
    AuthFailure, EditError, Entry, EntryError, LoadError, PasswordHash, Scheme, UserDb,
    UserDbOptions, UsernameFormat,
};

fn sample_copy(dir: &Path) -> PathBuf {
    let path = dir.join("users");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/users.passwd"),
        &path,
    )
    .unwrap();
    path
}

fn full_options() -> UserDbOptions {
    UserDbOptions {
        default_domain: Some("example.org".into()),
        domains: vec!["example.org".into(), "example.net".into()],
        home_template: Some("/var/vmail/%d/%n".into()),
        recipient_delimiters: "+".into(),
        catch_all: BTreeMap::from([("example.net".into(), "carol@example.net".into())]),
        ..UserDbOptions::default()
    }
}

#[test]
fn lookups_with_full_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let db = UserDb::open(sample_copy(dir.path()), full_options()).unwrap();
    let alice = db.lookup("Alice@Example.ORG").unwrap();
    assert_eq!(alice.name, "alice@example.org");
    assert_eq!(alice.home.as_deref(), Some("/var/vmail/example.org/alice"));
    // Default domain for bare names; home from the template.
    let bob = db.lookup("bob").unwrap();
    assert_eq!(bob.name, "bob@example.org");
    assert_eq!(bob.home.as_deref(), Some("/var/vmail/example.org/bob"));
    assert!(db.lookup("carol").is_none());
    assert!(db.lookup("carol@example.net").is_some());
    // Logins take no extension and no catch-all.
    assert!(db.lookup("alice+x@example.org").is_none());
    assert!(db.lookup("nobody@example.net").is_none());
    assert!(db.lookup("alice@elsewhere.example").is_none());
}

#[test]
fn recipients_with_detail_and_catch_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = UserDb::open(sample_copy(dir.path()), full_options()).unwrap();
    let alice = db.resolve_recipient("alice+lists@example.org").unwrap();
    assert_eq!(
        (
            alice.name.as_str(),
            alice.detail.as_deref(),
            alice.catch_all
        ),
        ("alice@example.org", Some("lists"), false)
    );
    let exact = db.resolve_recipient("alice@example.org").unwrap();
    assert_eq!(exact.detail, None);
    let caught = db.resolve_recipient("whoever+x@example.net").unwrap();
    assert_eq!(
        (caught.name.as_str(), caught.catch_all),
        ("carol@example.net", true)
    );
    // example.org has no catch-all.
    assert!(db.resolve_recipient("whoever@example.org").is_none());
    assert!(db.resolve_recipient("../../etc@example.org").is_none());
}

#[test]
fn lookups_by_local_part() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    std::fs::write(&path, "alice:{PLAIN}secret\npostmaster:{PLAIN}secret\n").unwrap();
    let options = UserDbOptions {
        username_format: UsernameFormat::LocalPart,
        default_domain: Some("example.org".into()),
        domains: vec!["example.org".into(), "example.com".into()],
        home_template: Some("/var/vmail/%d/%n".into()),
        recipient_delimiters: "+-".into(),
        catch_all: BTreeMap::from([("example.com".into(), "postmaster".into())]),
        ..UserDbOptions::default()
    };
    let db = UserDb::open(&path, options).unwrap();
    let alice = db.lookup("alice@example.com").unwrap();
    assert_eq!(alice.name, "alice@example.com");
    assert_eq!(alice.home.as_deref(), Some("/var/vmail/example.com/alice"));
    assert_eq!(db.lookup("alice").unwrap().name, "alice@example.org");
    assert!(db.lookup("alice@example.net").is_none());
    let detail = db.resolve_recipient("alice-news@example.org").unwrap();
    assert_eq!(detail.detail.as_deref(), Some("news"));
    let caught = db.resolve_recipient("bob@example.com").unwrap();
    assert_eq!(
        (caught.name.as_str(), caught.catch_all),
        ("postmaster@example.com", true)
    );
}

#[test]
fn authentication() {
    let dir = tempfile::tempdir().unwrap();
    let db = UserDb::open(sample_copy(dir.path()), full_options()).unwrap();
    for login in [
        "alice",
        "bob@example.org",
        "carol@example.net",
        "postmaster",
    ] {
        let ok = db.authenticate(login, b"secret").unwrap();
        assert!(!ok.weak_scheme, "{login}");
        assert_eq!(
            db.authenticate(login, b"Secret"),
            Err(AuthFailure::Mismatch),
            "{login}"
        );
    }
    assert_eq!(
        db.authenticate("nobody", b"secret"),
        Err(AuthFailure::UnknownUser)
    );
    assert_eq!(
        db.authenticate("archive", b""),
        Err(AuthFailure::NoPassword)
    );
    // nologin: only after the password was right, so it reveals nothing to guessers.
    assert_eq!(
        db.authenticate("dave@example.net", b"wrong"),
        Err(AuthFailure::Mismatch)
    );
    assert_eq!(
        db.authenticate("dave@example.net", b"secret"),
        Err(AuthFailure::Disabled)
    );
    assert_eq!(
        db.authenticate("alice", b"secret\0junk"),
        Err(AuthFailure::Mismatch)
    );
}

#[test]
fn weak_scheme_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    std::fs::write(&path, "u@example.org:{PLAIN}pw\n").unwrap();
    let db = UserDb::open(&path, UserDbOptions::default()).unwrap();
    assert!(db.authenticate("u@example.org", b"pw").unwrap().weak_scheme);
}

#[test]
fn edits_are_atomic_and_keep_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_copy(dir.path());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let original = std::fs::read_to_string(&path).unwrap();
    let mut db = UserDb::open(&path, full_options()).unwrap();

    let hash = PasswordHash::generate(Scheme::Sha512Crypt, b"n3w").unwrap();
    db.set_password("bob@example.org", &hash).unwrap();
    db.add(Entry::new("erin@example.org", &hash)).unwrap();
    let removed = db.delete("carol@example.net").unwrap();
    assert_eq!(removed.username, "carol@example.net");

    let text = std::fs::read_to_string(&path).unwrap();
    for line in original.lines() {
        if line.starts_with("bob@") || line.starts_with("carol@") {
            assert!(!text.contains(line));
        } else {
            assert!(text.contains(line), "lost {line:?}");
        }
    }
    assert!(text.ends_with(&format!("erin@example.org:{}\n", hash.to_field())));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    // No temporary file is left; the lock file stays (it is only ever locked).
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|name| !name.ends_with(".tmp")),
        "{names:?}"
    );
    assert!(names.contains(&"users.lock".to_owned()));

    // The in-memory state follows, and a fresh load agrees.
    assert!(db.authenticate("bob", b"n3w").is_ok());
    assert!(db.lookup("carol@example.net").is_none());
    let fresh = UserDb::open(&path, full_options()).unwrap();
    assert!(fresh.authenticate("erin", b"n3w").is_ok());

    assert!(matches!(
        db.add(Entry::new("erin@example.org", &hash)),
        Err(EditError::Entry(EntryError::Exists(_)))
    ));
    assert!(matches!(
        db.delete("nobody@example.org"),
        Err(EditError::Entry(EntryError::NotFound(_)))
    ));
}

#[test]
fn edits_see_changes_made_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_copy(dir.path());
    let hash = PasswordHash::parse("{PLAIN}x").unwrap();
    let mut first = UserDb::open(&path, full_options()).unwrap();
    let mut second = UserDb::open(&path, full_options()).unwrap();
    first.add(Entry::new("one@example.org", &hash)).unwrap();
    // `second` loaded before that add, but re-reads under the lock: nothing is lost.
    second.add(Entry::new("two@example.org", &hash)).unwrap();
    let fresh = UserDb::open(&path, full_options()).unwrap();
    assert!(fresh.lookup("one").is_some() && fresh.lookup("two").is_some());
}

#[test]
fn concurrent_editors_do_not_lose_updates() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_copy(dir.path());
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut db = UserDb::open(&path, full_options()).unwrap();
                let hash = PasswordHash::parse("{PLAIN}x").unwrap();
                for i in 0..5 {
                    db.add(Entry::new(format!("t{n}-{i}@example.org"), &hash))
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let db = UserDb::open(&path, full_options()).unwrap();
    assert_eq!(db.file().len(), 6 + 8 * 5);
}

#[test]
fn load_errors_name_the_file_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    assert!(matches!(
        UserDb::open(&path, UserDbOptions::default()),
        Err(LoadError::Io { .. })
    ));
    std::fs::write(&path, "ok:{PLAIN}x\nbad:x:0\n").unwrap();
    let error = UserDb::open(&path, UserDbOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("users: line 2: uid/gid 0 (root) is not allowed")
    );
    // A broken file on disk blocks edits instead of being overwritten.
    std::fs::write(&path, "ok:{PLAIN}x\n").unwrap();
    let mut db = UserDb::open(&path, UserDbOptions::default()).unwrap();
    std::fs::write(&path, "ok:{PLAIN}x\nbad:x:0\n").unwrap();
    let hash = PasswordHash::parse("{PLAIN}y").unwrap();
    assert!(matches!(
        db.add(Entry::new("new", &hash)),
        Err(EditError::Load(LoadError::Parse { .. }))
    ));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "ok:{PLAIN}x\nbad:x:0\n"
    );
    // Reload keeps the old contents on error.
    assert!(db.reload().is_err());
    assert!(db.lookup("ok").is_some());
}

#[test]
fn symlinked_files_are_replaced_at_their_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = sample_copy(dir.path());
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut db = UserDb::open(&link, full_options()).unwrap();
    db.delete("dave@example.net").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!std::fs::read_to_string(&target).unwrap().contains("dave@"));
    // Editors through the link and through the target share one lock file.
    assert!(dir.path().join("users.lock").exists());
    assert!(!dir.path().join("link.lock").exists());
}
