//! Delivery on a real filesystem: exact sizes, LF storage, multi-folder links, abort, cleanup.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use maildir::{
    Delivery, DeliveryOptions, Layout, MailStore, MaildirError, MessageName, Permissions,
    QuotaLimit, Usage,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A message with CRLF line ends, long lines, an empty body line, and 8-bit text.
fn sample_message(lines: usize) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(b"From: alice@example.net\r\nTo: bob@example.org\r\nSubject: test\r\n\r\n");
    for i in 0..lines {
        m.extend_from_slice(format!("line {i} {}\r\n", "x".repeat(i % 97)).as_bytes());
        if i % 13 == 0 {
            m.extend_from_slice("Grüße\r\n\r\n".as_bytes());
        }
    }
    m
}

fn lf_only(crlf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(crlf.len());
    let mut i = 0;
    while let Some(&b) = crlf.get(i) {
        if !(b == b'\r' && crlf.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
        i += 1;
    }
    out
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn streaming_in_odd_chunks_gives_exact_sizes_and_lf_content() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = MailStore::new(dir.path().join("Maildir"), Layout::MaildirPlusPlus);
    let inbox = store.inbox();
    inbox.ensure()?;
    let body = sample_message(2000);
    let prefix = b"Return-Path: <alice@example.net>\r\nDelivered-To: bob@example.org\r\n";
    let mut whole = prefix.to_vec();
    whole.extend_from_slice(&body);
    for chunk in [1, 2, 3, 7, 64, 1001, 65_537, body.len()] {
        let mut d = Delivery::begin(&inbox)?;
        d.write_header("Return-Path", "<alice@example.net>")?;
        d.write_header("Delivered-To", "bob@example.org")?;
        for piece in body.chunks(chunk) {
            d.write(piece)?;
        }
        let done = d.commit()?;
        let stored = fs::read(&done.path)?;
        assert_eq!(stored, lf_only(&whole), "chunk {chunk}");
        assert!(!stored.contains(&b'\r'));
        assert_eq!(done.size, stored.len() as u64);
        assert_eq!(done.vsize, whole.len() as u64);
        let name = MessageName::parse(&done.path.file_name().unwrap_or_default().to_string_lossy());
        assert_eq!(name.size, Some(done.size));
        assert_eq!(name.vsize, Some(done.vsize));
        assert!(
            name.unique()
                .is_some_and(|u| u.pid == Some(std::process::id()))
        );
        assert_eq!(done.path.parent(), Some(inbox.new_dir().as_path()));
    }
    assert!(entries(&inbox.tmp_dir()).is_empty());
    assert_eq!(entries(&inbox.new_dir()).len(), 8);
    Ok(())
}

#[test]
fn multi_folder_delivery_hardlinks_one_copy() -> TestResult {
    let dir = tempfile::tempdir()?;
    let bob = MailStore::new(dir.path().join("bob"), Layout::MaildirPlusPlus);
    let carol = MailStore::new(dir.path().join("carol"), Layout::Fs);
    let targets = [
        bob.inbox(),
        bob.folder("Lists.rust")?,
        carol.folder("Lists/rust")?,
    ];
    for f in &targets {
        f.ensure()?;
    }
    let msg = sample_message(50);
    let mut d = Delivery::begin(&targets[0])?;
    d.write(&msg)?;
    let results = d.commit_to(&targets)?;
    assert_eq!(results.len(), 3);
    let mut inode = None;
    for (r, f) in results.iter().zip(&targets) {
        let r = r.as_ref().map_err(|e| e.to_string())?;
        assert!(!r.copied);
        assert!(r.path.starts_with(f.new_dir()));
        let meta = fs::metadata(&r.path)?;
        assert_eq!(meta.nlink(), 3);
        assert_eq!(*inode.get_or_insert(meta.ino()), meta.ino());
        assert_eq!(fs::read(&r.path)?, lf_only(&msg));
    }
    for f in &targets {
        assert!(entries(&f.tmp_dir()).is_empty());
    }
    Ok(())
}

#[test]
fn copies_when_hardlinks_are_off_and_reports_each_folder() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = MailStore::new(dir.path().join("M"), Layout::MaildirPlusPlus);
    let inbox = store.inbox();
    let sent = store.folder("Sent")?;
    let missing = store.folder("Missing")?; // never ensured
    inbox.ensure()?;
    sent.ensure()?;
    let options = DeliveryOptions {
        hardlinks: false,
        ..DeliveryOptions::default()
    };
    let mut d = Delivery::begin_with(&inbox, options)?;
    d.write(b"Subject: x\r\n\r\nbody\r\n")?;
    let results = d.commit_to(&[inbox.clone(), missing, sent.clone()])?;
    let [Ok(a), Err(MaildirError::Io { .. }), Ok(b)] = results.as_slice() else {
        return Err(format!("unexpected {results:?}").into());
    };
    assert!(!a.copied && b.copied);
    assert_ne!(fs::metadata(&a.path)?.ino(), fs::metadata(&b.path)?.ino());
    assert_eq!((b.size, b.vsize), (a.size, a.vsize));
    assert_eq!((a.size, a.vsize), (17, 20));
    assert_eq!(fs::read(&b.path)?, b"Subject: x\n\nbody\n");
    assert!(entries(&inbox.tmp_dir()).is_empty() && entries(&sent.tmp_dir()).is_empty());
    Ok(())
}

#[test]
fn abort_and_drop_leave_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = MailStore::new(dir.path().join("M"), Layout::Fs);
    let inbox = store.inbox();
    inbox.ensure()?;
    let mut d = Delivery::begin(&inbox)?;
    d.write(b"partial")?;
    assert_eq!(entries(&inbox.tmp_dir()).len(), 1);
    d.abort()?;
    {
        let mut d = Delivery::begin(&inbox)?;
        d.write(b"partial")?;
    }
    for sub in ["tmp", "new", "cur"] {
        assert!(entries(&inbox.path().join(sub)).is_empty(), "{sub}");
    }
    Ok(())
}

#[test]
fn header_injection_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = MailStore::new(dir.path().join("M"), Layout::Fs).inbox();
    inbox.ensure()?;
    let mut d = Delivery::begin(&inbox)?;
    assert!(matches!(
        d.write_header("Delivered-To", "bob@example.org\r\nBcc: x"),
        Err(MaildirError::InvalidHeader { .. })
    ));
    assert!(d.write_header("X-A:B", "v").is_err());
    d.write_header("Delivered-To", "bob+tag@example.org")?;
    let done = d.commit()?;
    assert_eq!(
        fs::read(&done.path)?,
        b"Delivered-To: bob+tag@example.org\n"
    );
    Ok(())
}

#[test]
fn begin_in_missing_folder_fails_cleanly() {
    let store = MailStore::new("/nonexistent/postern-maildir-test", Layout::MaildirPlusPlus);
    assert!(matches!(
        Delivery::begin(&store.inbox()),
        Err(MaildirError::Io { op: "create", .. })
    ));
}

#[test]
fn clean_tmp_removes_only_old_leftovers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = MailStore::new(dir.path().join("M"), Layout::MaildirPlusPlus);
    store.ensure_special_folders()?;
    let inbox = store.inbox();
    let sent = store.folder("Sent")?;
    fs::write(inbox.tmp_dir().join("1.M1P1.crashed"), b"half a message")?;
    fs::write(sent.tmp_dir().join("2.M1P1.crashed"), b"half")?;
    let open = Delivery::begin(&inbox)?;
    assert_eq!(store.clean_all_tmp(maildir::DOVECOT_TMP_AGE)?, 0);
    std::thread::sleep(Duration::from_millis(2100));
    let mut fresh = Delivery::begin(&sent)?;
    fresh.write(b"still writing")?;
    // Everything idle for over a second goes, including the idle open delivery; the one
    // created just now stays.
    assert_eq!(store.clean_all_tmp(Duration::from_secs(1))?, 3);
    assert_eq!(entries(&sent.tmp_dir()).len(), 1);
    // The open delivery lost its file: commit reports it, nothing appears in new/.
    assert!(open.commit().is_err());
    assert!(entries(&inbox.new_dir()).is_empty());
    fresh.commit()?;
    Ok(())
}

#[test]
fn quota_usage_from_names_with_stat_fallback() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = MailStore::new(dir.path().join("M"), Layout::Fs);
    store.ensure_special_folders()?;
    for (folder, text) in [("INBOX", "a\r\n"), ("INBOX", "bb\r\n"), ("Sent", "ccc\r\n")] {
        let mut d = Delivery::begin(&store.folder(folder)?)?;
        d.write(text.as_bytes())?;
        d.commit()?;
    }
    // A file some other tool delivered without S=, already seen (in cur/ with flags).
    fs::write(store.root().join("Trash/cur/5.M1P1.other:2,S"), b"12345")?;
    let usage = store.usage()?;
    assert_eq!(
        usage,
        Usage {
            bytes: 2 + 3 + 4 + 5,
            messages: 4
        }
    );
    assert_eq!(
        store.inbox().usage()?,
        Usage {
            bytes: 5,
            messages: 2
        }
    );
    let limit = QuotaLimit {
        bytes: Some(20),
        messages: None,
    };
    assert!(limit.allows(usage, 6) && !limit.allows(usage, 7));
    let limit = QuotaLimit {
        bytes: None,
        messages: Some(4),
    };
    assert!(!limit.allows(usage, 0));
    Ok(())
}

#[test]
fn delivered_file_is_private_and_owned_when_root() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = nix::unistd::geteuid().is_root();
    let store = MailStore::new(dir.path().join("M"), Layout::MaildirPlusPlus).with_permissions(
        Permissions {
            owner: Some((5000, 5001)),
            ..Permissions::default()
        },
    );
    let sent = store.folder("Sent")?;
    sent.ensure()?;
    let mut d = Delivery::begin(&sent)?;
    d.write(b"x\r\n")?;
    let done = d.commit()?;
    let meta = fs::metadata(&done.path)?;
    assert_eq!(meta.mode() & 0o777, 0o600);
    if root {
        for p in [
            done.path.clone(),
            store.root().to_path_buf(),
            sent.cur_dir(),
        ] {
            let m = fs::metadata(&p)?;
            assert_eq!((m.uid(), m.gid()), (5000, 5001), "{}", p.display());
        }
    } else {
        eprintln!("not root: ownership not checked");
    }
    Ok(())
}
