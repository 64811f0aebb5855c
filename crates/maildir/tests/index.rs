//! The IMAP view of a folder on a real filesystem, with Dovecot's part played by hand: files
//! renamed, unlinked and added, uidlist lines appended, locks left behind.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use maildir::{
    Delivery, Folder, FolderCache, FolderIndex, IndexOptions, Layout, MailStore, MaildirError,
    MessageFlags, STATE_NAME, Uidlist,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn inbox(dir: &Path) -> Result<Folder, MaildirError> {
    let store = MailStore::new(dir.join("Maildir"), Layout::MaildirPlusPlus);
    let inbox = store.inbox();
    inbox.ensure()?;
    Ok(inbox)
}

fn folder(dir: &Path, name: &str) -> Result<Folder, MaildirError> {
    let store = MailStore::new(dir.join("Maildir"), Layout::MaildirPlusPlus);
    let f = store.folder(name)?;
    f.ensure()?;
    Ok(f)
}

fn deliver(folder: &Folder, body: &str) -> Result<PathBuf, MaildirError> {
    let mut d = Delivery::begin(folder)?;
    d.write(format!("Subject: {body}\r\n\r\n{body}\r\n").as_bytes())?;
    Ok(d.commit()?.path)
}

fn names(dir: &Path) -> Vec<String> {
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

fn uidlist_of(folder: &Folder) -> Result<Uidlist, Box<dyn std::error::Error>> {
    let data = fs::read(folder.path().join("dovecot-uidlist"))?;
    Ok(Uidlist::parse(&data).map_err(|e| e.to_string())?.0)
}

fn seen() -> MessageFlags {
    MessageFlags {
        seen: true,
        ..MessageFlags::default()
    }
}

/// Moves a directory's mtime into the past so that the index trusts it.
fn age_dir(dir: &Path, secs: u64) -> std::io::Result<()> {
    fs::File::open(dir)?.set_modified(SystemTime::now() - Duration::from_secs(secs))
}

#[test]
fn index_and_cache_can_move_to_blocking_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<FolderIndex>();
    send_sync::<FolderCache>();
}

#[test]
fn new_files_get_uids_in_timestamp_order_and_move_to_cur() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    // Created in this order, named for other arrival times.
    for name in [
        "1700000300.M1P1.host,S=5,W=5",
        "1700000100.M20P1.host,S=5,W=5",
        "1700000100.M5P1.host,S=5,W=5",
        "1700000200.4242.host,S=5,W=5",
    ] {
        fs::write(inbox.new_dir().join(name), "hello")?;
    }
    let index = FolderIndex::open(&inbox, IndexOptions::default())?;
    let order: Vec<(u32, String)> = index
        .messages()
        .iter()
        .map(|m| (m.uid, m.file_name.clone()))
        .collect();
    let expected = [
        (1, "1700000100.M5P1.host,S=5,W=5:2,"),
        (2, "1700000100.M20P1.host,S=5,W=5:2,"),
        (3, "1700000200.4242.host,S=5,W=5:2,"),
        (4, "1700000300.M1P1.host,S=5,W=5:2,"),
    ];
    assert_eq!(order, expected.map(|(u, n)| (u, n.to_owned())));
    assert!(names(&inbox.new_dir()).is_empty());
    assert_eq!(names(&inbox.cur_dir()).len(), 4);
    assert!(index.messages().iter().all(|m| m.recent && !m.in_new));
    assert_eq!(index.get(3).map(|m| (m.size, m.vsize)), Some((5, Some(5))));
    assert_eq!(index.next_uid(), 5);

    // What Dovecot reads: version 3, ordered, names without the info part.
    let text = fs::read_to_string(inbox.path().join("dovecot-uidlist"))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with(&format!("3 V{} N5 G", index.uid_validity())),
        "{header}"
    );
    assert_eq!(lines.next(), Some("1 :1700000100.M5P1.host,S=5,W=5"));
    assert_eq!(lines.count(), 3);

    let validity = index.uid_validity();
    drop(index);
    let again = FolderIndex::open(&inbox, IndexOptions::default())?;
    assert_eq!(again.uid_validity(), validity);
    assert_eq!(
        again.get(1).map(|m| m.file_name.as_str()),
        Some(expected[0].1)
    );
    assert!(
        again.messages().iter().all(|m| !m.recent),
        "recent belongs to the session that moved them"
    );
    Ok(())
}

#[test]
fn read_only_assigns_uids_but_does_not_move() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    deliver(&inbox, "one")?;
    let options = IndexOptions {
        read_only: true,
        ..IndexOptions::default()
    };
    let index = FolderIndex::open(&inbox, options)?;
    assert_eq!(index.messages().len(), 1);
    assert!(index.messages().iter().all(|m| m.in_new && !m.recent));
    assert_eq!(names(&inbox.new_dir()).len(), 1);
    assert_eq!(uidlist_of(&inbox)?.records().len(), 1);
    let path = index.path_of(1).ok_or("uid 1")?;
    assert!(path.starts_with(inbox.new_dir()) && path.exists());

    let status = FolderIndex::status(&inbox, IndexOptions::default())?;
    assert_eq!((status.messages, status.recent, status.unseen), (1, 1, 1));
    assert_eq!(status.uid_next, 2);
    assert_eq!(names(&inbox.new_dir()).len(), 1, "STATUS moves nothing");
    Ok(())
}

#[test]
fn flag_change_by_rename_is_seen_with_a_new_modseq() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    deliver(&inbox, "one")?;
    deliver(&inbox, "two")?;
    let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
    let before = index.get(1).ok_or("uid 1")?.clone();
    let highest = index.highest_mod_seq();
    assert!(before.mod_seq > 0 && before.mod_seq <= highest);

    // Dovecot marks it seen and flagged.
    let old = index.path_of(1).ok_or("uid 1")?;
    let renamed = inbox.cur_dir().join(format!(
        "{}:2,FS",
        before.file_name.split(':').next().unwrap_or_default()
    ));
    fs::rename(&old, &renamed)?;
    let changes = index.sync()?;
    assert_eq!(changes.flags_changed, [1]);
    assert!(changes.added.is_empty() && changes.expunged.is_empty());
    let after = index.get(1).ok_or("uid 1")?;
    assert!(after.flags.seen && after.flags.flagged);
    assert!(after.mod_seq > highest);
    assert_eq!(index.highest_mod_seq(), after.mod_seq);
    assert_eq!(index.get(2).map(|m| m.mod_seq), Some(before.mod_seq));
    assert!(index.sync()?.is_empty());
    Ok(())
}

#[test]
fn expunge_by_unlinking_outside_is_seen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    for body in ["one", "two", "three"] {
        deliver(&inbox, body)?;
    }
    let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
    let highest = index.highest_mod_seq();
    fs::remove_file(index.path_of(2).ok_or("uid 2")?)?;
    let changes = index.sync()?;
    assert_eq!(changes.expunged, [2]);
    assert!(index.get(2).is_none());
    assert_eq!(index.messages().len(), 2);
    assert_eq!(index.expunged_since(highest), Some(vec![2]));
    assert!(index.highest_mod_seq() > highest);
    // A new message after that gets a new UID, never 2 again.
    deliver(&inbox, "four")?;
    assert_eq!(index.sync()?.added, [4]);
    Ok(())
}

#[test]
fn two_sessions_share_uids_and_modseqs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    for body in ["one", "two", "three"] {
        deliver(&inbox, body)?;
    }
    let mut a = FolderIndex::open(&inbox, IndexOptions::default())?;
    let mut b = FolderIndex::open(&inbox, IndexOptions::default())?;
    assert_eq!(a.uid_validity(), b.uid_validity());
    assert!(a.set_flags(1, seen())?);
    let a_mod = a.get(1).ok_or("uid 1")?.mod_seq;
    assert!(
        a.path_of(1)
            .ok_or("uid 1")?
            .to_string_lossy()
            .ends_with(":2,S")
    );
    let changes = b.sync()?;
    assert_eq!(changes.flags_changed, [1]);
    assert_eq!(
        b.get(1).map(|m| m.mod_seq),
        Some(a_mod),
        "one change, one modseq"
    );
    // Setting what is already set changes nothing.
    assert!(a.set_flags(1, seen())?);
    assert_eq!(a.get(1).map(|m| m.mod_seq), Some(a_mod));

    assert_eq!(a.expunge(&[2, 99])?, [2]);
    assert!(a.get(2).is_none());
    assert_eq!(b.sync()?.expunged, [2]);
    assert_eq!(a.expunged_since(a_mod), Some(vec![2]));
    assert_eq!(b.expunged_since(a_mod), Some(vec![2]));
    assert_eq!(a.highest_mod_seq(), b.highest_mod_seq());

    // b renames the file a knows: a finds it again by a resync.
    assert!(b.set_flags(3, seen())?);
    let flagged = MessageFlags {
        flagged: true,
        ..MessageFlags::default()
    };
    assert!(a.set_flags(3, flagged.clone())?);
    assert_eq!(a.get(3).map(|m| m.flags.clone()), Some(flagged));
    assert!(a.sync()?.flags_changed.contains(&3));
    // A message someone else expunged cannot be flagged or expunged again.
    fs::remove_file(a.path_of(1).ok_or("uid 1")?)?;
    assert!(!a.set_flags(1, MessageFlags::default())?);
    assert_eq!(a.expunge(&[1])?, Vec::<u32>::new());
    assert_eq!(
        a.sync()?.expunged,
        [1],
        "the resync's findings are reported"
    );
    Ok(())
}

#[test]
fn concurrent_sessions_never_give_one_uid_twice() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    FolderIndex::open(&inbox, IndexOptions::default())?;
    let mut handles = Vec::new();
    for t in 0..3 {
        let inbox = inbox.clone();
        handles.push(std::thread::spawn(
            move || -> Result<HashMap<String, u32>, MaildirError> {
                let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
                let mut known = HashMap::new();
                for i in 0..40 {
                    deliver(&inbox, &format!("thread {t} message {i}"))?;
                    index.sync()?;
                    for m in index.messages() {
                        let base = m.file_name.split(':').next().unwrap_or_default().to_owned();
                        if let Some(old) = known.insert(base, m.uid) {
                            assert_eq!(old, m.uid, "a file changed its UID");
                        }
                    }
                }
                Ok(known)
            },
        ));
    }
    let mut all: HashMap<String, u32> = HashMap::new();
    for h in handles {
        let known = h.join().map_err(|_| "thread panicked")??;
        for (base, uid) in known {
            if let Some(other) = all.insert(base.clone(), uid) {
                assert_eq!(other, uid, "two sessions disagree on {base}");
            }
        }
    }
    let index = FolderIndex::open(&inbox, IndexOptions::default())?;
    assert_eq!(index.messages().len(), 120);
    let uids: HashSet<u32> = index.messages().iter().map(|m| m.uid).collect();
    assert_eq!(uids.len(), 120);
    assert_eq!(uids.iter().max(), Some(&120));
    let distinct: HashSet<u32> = all.values().copied().collect();
    assert_eq!(distinct.len(), all.len(), "one UID for two files");
    let list = uidlist_of(&inbox)?;
    assert_eq!(list.records().len(), 120);
    assert!(!inbox.path().join("dovecot-uidlist.lock").exists());
    Ok(())
}

#[test]
fn stale_locks_are_removed_and_held_ones_time_out() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    deliver(&inbox, "one")?;
    let lock = inbox.path().join("dovecot-uidlist.lock");
    fs::write(&lock, "12345:some-other-host")?;
    let short = IndexOptions {
        lock_timeout: Duration::from_millis(200),
        ..IndexOptions::default()
    };
    let start = Instant::now();
    let err = FolderIndex::open(&inbox, short);
    assert!(
        matches!(err, Err(MaildirError::LockTimeout { .. })),
        "{err:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));

    // Left behind three minutes ago by a crashed process: removed.
    fs::File::options()
        .write(true)
        .open(&lock)?
        .set_modified(SystemTime::now() - Duration::from_secs(180))?;
    let index = FolderIndex::open(&inbox, short)?;
    assert_eq!(index.messages().len(), 1);
    assert!(!lock.exists());

    // A fresh-looking lock of a dead local process (the pid is ours plus a big number).
    let host = nix::unistd::gethostname()?.to_string_lossy().into_owned();
    fs::write(&lock, format!("{}:{host}", i32::MAX - 7))?;
    fs::File::options()
        .write(true)
        .open(&lock)?
        .set_modified(SystemTime::now() - Duration::from_secs(5))?;
    deliver(&inbox, "two")?;
    let index = FolderIndex::open(&inbox, short)?;
    assert_eq!(index.messages().len(), 2);
    Ok(())
}

#[test]
fn keywords_are_assigned_in_dovecot_keywords() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    deliver(&inbox, "one")?;
    // Written by Dovecot earlier.
    fs::write(inbox.path().join("dovecot-keywords"), "0 Junk\n2 $label1\n")?;
    let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
    assert_eq!(index.keyword_names(), ["Junk", "", "$label1"]);
    assert_eq!(index.keyword_index("junk", false)?, Some(0));
    assert_eq!(index.keyword_index("$Forwarded", false)?, None);
    assert_eq!(index.keyword_index("$Forwarded", true)?, Some(1));
    assert_eq!(index.keyword_index("$Label2", true)?, Some(3));
    assert_eq!(
        fs::read_to_string(inbox.path().join("dovecot-keywords"))?,
        "0 Junk\n1 $Forwarded\n2 $label1\n3 $Label2\n"
    );
    assert!(!inbox.path().join("dovecot-keywords.lock").exists());
    assert!(!inbox.path().join("dovecot-uidlist.lock").exists());
    assert!(index.keyword_index("two words", true).is_err());

    let mut flags = seen();
    flags.set_keyword(1, true);
    flags.set_keyword(3, true);
    assert!(index.set_flags(1, flags)?);
    assert!(
        index
            .path_of(1)
            .ok_or("uid 1")?
            .to_string_lossy()
            .ends_with(":2,Sbd")
    );

    let other = FolderIndex::open(&inbox, IndexOptions::default())?;
    assert_eq!(
        other.keyword_names().get(3).map(String::as_str),
        Some("$Label2")
    );
    assert_eq!(
        FolderIndex::folder_keyword_index(&inbox, "$forwarded", false, IndexOptions::default())?,
        Some(1)
    );
    Ok(())
}

#[test]
fn dovecot_appended_uids_are_taken_as_they_are() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    deliver(&inbox, "one")?;
    let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
    // Dovecot saw a new file, gave it UID 7 (its next_uid was higher) and appended the line.
    let name = "1800000000.M1P99.dovecot,S=3,W=3";
    fs::write(inbox.cur_dir().join(format!("{name}:2,S")), "abc")?;
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(inbox.path().join("dovecot-uidlist"))?;
    std::io::Write::write_all(&mut file, format!("7 :{name}\n").as_bytes())?;
    drop(file);
    let changes = index.sync()?;
    assert_eq!(changes.added, [7]);
    assert_eq!(index.next_uid(), 8);
    assert!(index.get(7).is_some_and(|m| m.flags.seen && m.size == 3));
    deliver(&inbox, "two")?;
    assert_eq!(index.sync()?.added, [8]);
    Ok(())
}

#[test]
fn lost_uidlist_changes_uidvalidity() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    deliver(&inbox, "one")?;
    let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
    let old = index.uid_validity();
    fs::remove_file(inbox.path().join("dovecot-uidlist"))?;
    match index.sync() {
        Err(MaildirError::UidValidityChanged { old: o, new }) => {
            assert_eq!(o, old);
            assert!(new > old);
        }
        other => return Err(format!("expected UidValidityChanged, got {other:?}").into()),
    }
    let reopened = FolderIndex::open(&inbox, IndexOptions::default())?;
    assert!(reopened.uid_validity() > old);
    assert_eq!(reopened.messages().len(), 1);
    Ok(())
}

#[test]
fn lost_state_file_never_lowers_modseqs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    for body in ["one", "two"] {
        deliver(&inbox, body)?;
    }
    let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
    for i in 0..30 {
        let flags = if i % 2 == 0 {
            seen()
        } else {
            MessageFlags::default()
        };
        index.set_flags(1, flags)?;
    }
    let high = index.highest_mod_seq();
    drop(index);
    fs::remove_file(inbox.path().join(STATE_NAME))?;
    let index = FolderIndex::open(&inbox, IndexOptions::default())?;
    assert!(index.messages().iter().all(|m| m.mod_seq > high));
    assert!(index.highest_mod_seq() > high);
    assert_eq!(
        index.expunged_since(high),
        None,
        "expunges before the loss are unknown"
    );
    assert_eq!(index.expunged_since(index.highest_mod_seq()), Some(vec![]));
    Ok(())
}

#[test]
fn sync_is_cheap_when_nothing_changed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    deliver(&inbox, "one")?;
    FolderIndex::open(&inbox, IndexOptions::default())?;
    age_dir(&inbox.new_dir(), 60)?;
    age_dir(&inbox.cur_dir(), 60)?;
    fs::File::options()
        .write(true)
        .open(inbox.path().join("dovecot-uidlist"))?
        .set_modified(SystemTime::now() - Duration::from_secs(60))?;
    let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
    assert!(index.sync()?.is_empty());
    // A change that leaves every stamp as it was is not looked for: no directory was read.
    let cur_mtime = fs::metadata(inbox.cur_dir())?.modified()?;
    let path = index.path_of(1).ok_or("uid 1")?;
    fs::rename(&path, inbox.cur_dir().join("1.M1P1.sneaky:2,"))?;
    fs::File::open(inbox.cur_dir())?.set_modified(cur_mtime)?;
    assert!(index.sync()?.is_empty());
    age_dir(&inbox.cur_dir(), 30)?;
    let changes = index.sync()?;
    assert_eq!(changes.expunged, [1]);
    assert_eq!(changes.added, [2]);
    Ok(())
}

#[test]
fn copy_keeps_flags_keywords_and_date_and_reports_uids() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    let archive = folder(dir.path(), "Archive")?;
    for body in ["one", "two", "three"] {
        deliver(&inbox, body)?;
    }
    deliver(&archive, "already there")?;
    let mut dest_session = FolderIndex::open(&archive, IndexOptions::default())?;
    let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
    let kw = index.keyword_index("$Project", true)?.ok_or("keyword")?;
    let mut flags = seen();
    flags.set_keyword(kw, true);
    index.set_flags(2, flags)?;
    let date_2 = index.get(2).ok_or("uid 2")?.internal_date;

    let (validity, uids) = index.copy_to(&[3, 2, 42], &archive, IndexOptions::default())?;
    assert_eq!(uids, [2, 3]);
    let seen_by_session = dest_session.sync()?;
    assert_eq!(
        seen_by_session.added, uids,
        "a session on the destination sees the UIDs"
    );
    let dest = FolderIndex::open(&archive, IndexOptions::default())?;
    assert_eq!(dest.uid_validity(), validity);
    assert_eq!(dest.messages().len(), 3);
    let copy = dest.get(3).ok_or("copy of uid 2")?;
    assert!(copy.flags.seen);
    let dest_kw = dest
        .keyword_names()
        .iter()
        .position(|n| n == "$Project")
        .ok_or("keyword in dest")?;
    assert!(copy.flags.has_keyword(dest_kw));
    assert_eq!(copy.internal_date, date_2);
    assert_eq!(copy.size, index.get(2).map_or(0, |m| m.size));
    assert!(
        dest_session.get(2).is_some_and(|m| m.recent),
        "an unflagged copy is recent for the session that moves it"
    );
    let source_body = fs::read(index.path_of(2).ok_or("uid 2")?)?;
    assert_eq!(fs::read(dest.path_of(3).ok_or("uid 3")?)?, source_body);

    // A message expunged meanwhile: nothing is copied.
    fs::remove_file(index.path_of(1).ok_or("uid 1")?)?;
    let before = names(&archive.cur_dir()).len() + names(&archive.new_dir()).len();
    match index.copy_to(&[3, 1], &archive, IndexOptions::default()) {
        Err(MaildirError::Expunged { uids }) => assert_eq!(uids, [1]),
        other => return Err(format!("expected Expunged, got {other:?}").into()),
    }
    let after = names(&archive.cur_dir()).len() + names(&archive.new_dir()).len();
    assert_eq!(before, after);
    Ok(())
}

#[test]
fn append_sets_date_sizes_flags_and_uid() -> TestResult {
    let dir = tempfile::tempdir()?;
    let sent = folder(dir.path(), "Sent")?;
    let tmp = sent.tmp_dir().join("1700000000.M1P2Q3.client");
    fs::write(&tmp, "Subject: hi\r\n\r\nbody\nbare lf\r\n")?;
    let date = 1_600_000_000;
    let (validity, uid) =
        FolderIndex::append_file(&sent, &tmp, &seen(), Some(date), IndexOptions::default())?;
    assert_eq!(uid, 1);
    assert!(!tmp.exists());
    assert_eq!(
        names(&sent.cur_dir()),
        ["1700000000.M1P2Q3.client,S=29,W=30:2,S"]
    );
    // As Delivery::seal leaves it: the name with sizes is kept (and W= trusted).
    let mut d = Delivery::begin(&sent)?;
    d.write(b"Subject: sealed\r\n\r\nbody\r\n")?;
    let sealed = d.seal()?;
    let (_, uid_sealed) =
        FolderIndex::append_file(&sent, &sealed.path, &seen(), None, IndexOptions::default())?;
    assert_eq!(uid_sealed, 2);
    let sealed_name = sealed
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?");
    assert!(sent.cur_dir().join(format!("{sealed_name}:2,S")).exists());
    fs::remove_file(sent.cur_dir().join(format!("{sealed_name}:2,S")))?;

    let tmp2 = sent.tmp_dir().join("upload");
    fs::write(&tmp2, "x")?;
    let (_, uid2) = FolderIndex::append_file(
        &sent,
        &tmp2,
        &MessageFlags::default(),
        None,
        IndexOptions::default(),
    )?;
    assert_eq!(uid2, 3);
    assert_eq!(names(&sent.new_dir()).len(), 1);

    let index = FolderIndex::open(&sent, IndexOptions::default())?;
    assert_eq!(index.uid_validity(), validity);
    let m = index.get(1).ok_or("uid 1")?;
    assert_eq!((m.internal_date, m.size, m.vsize), (date, 29, Some(30)));
    assert!(m.flags.seen);
    let mtime = fs::metadata(index.path_of(1).ok_or("uid 1")?)?
        .modified()?
        .duration_since(UNIX_EPOCH)?
        .as_secs();
    assert_eq!(mtime, 1_600_000_000);

    let status = FolderIndex::status(&sent, IndexOptions::default())?;
    assert_eq!(status.messages, 2);
    assert_eq!(status.unseen, 1);
    assert_eq!(status.recent, 0, "the open above moved the second to cur/");
    assert_eq!(status.uid_next, 4);
    assert_eq!(status.size, 30 + 1);
    assert_eq!(status.highest_mod_seq, index.highest_mod_seq());
    Ok(())
}

#[test]
fn cache_survives_reopen_and_ignores_torn_or_foreign_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    let path = inbox.path().join("postern-imap-cache");
    let mut cache = FolderCache::open(&inbox, 77);
    assert!(cache.is_empty());
    cache.insert(1, b"(\"envelope one\")".to_vec());
    cache.insert(2, vec![0u8; 1000]);
    cache.save()?;
    cache.insert(3, b"three".to_vec());
    cache.insert(1, b"one, again".to_vec());
    cache.save()?;
    let reopened = FolderCache::open(&inbox, 77);
    assert_eq!(reopened.get(1), Some(&b"one, again"[..]));
    assert_eq!(reopened.get(2).map(<[u8]>::len), Some(1000));
    assert_eq!(reopened.get(3), Some(&b"three"[..]));
    assert!(
        FolderCache::open(&inbox, 78).is_empty(),
        "another UIDVALIDITY"
    );

    // A torn append: the records before it are kept, the torn one is not.
    let len = fs::metadata(&path)?.len();
    fs::File::options()
        .write(true)
        .open(&path)?
        .set_len(len - 3)?;
    let mut torn = FolderCache::open(&inbox, 77);
    assert_eq!(torn.get(3), None);
    assert_eq!(torn.get(2).map(<[u8]>::len), Some(1000));
    torn.insert(4, b"four".to_vec());
    torn.retain(|uid| uid != 2);
    torn.save()?;
    let fixed = FolderCache::open(&inbox, 77);
    assert_eq!(fixed.get(4), Some(&b"four"[..]));
    assert_eq!(fixed.get(2), None);
    assert_eq!(fixed.len(), 2);

    // Garbage is an empty cache, never an error.
    fs::write(&path, b"PIMCACH1garbage")?;
    assert!(FolderCache::open(&inbox, 77).is_empty());
    fs::write(&path, b"")?;
    let mut empty = FolderCache::open(&inbox, 77);
    assert!(empty.is_empty());
    empty.insert(9, b"nine".to_vec());
    empty.save()?;
    assert_eq!(FolderCache::open(&inbox, 77).get(9), Some(&b"nine"[..]));
    Ok(())
}

#[test]
fn cache_appends_of_two_sessions_are_merged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    let mut a = FolderCache::open(&inbox, 5);
    a.insert(1, b"a1".to_vec());
    a.save()?;
    let mut b = FolderCache::open(&inbox, 5);
    b.insert(2, b"b2".to_vec());
    b.save()?;
    a.insert(3, b"a3".to_vec());
    a.save()?;
    let c = FolderCache::open(&inbox, 5);
    assert_eq!(
        (c.get(1), c.get(2), c.get(3)),
        (Some(&b"a1"[..]), Some(&b"b2"[..]), Some(&b"a3"[..]))
    );
    Ok(())
}

#[test]
fn large_folder_opens_fast() -> TestResult {
    const N: usize = 100_000;
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    let cur = inbox.cur_dir();
    let start = Instant::now();
    for i in 0..N {
        let flags = if i % 3 == 0 { "S" } else { "" };
        let name = format!(
            "{}.M{}P7.host,S=10,W=11:2,{flags}",
            1_700_000_000 + i / 10,
            i
        );
        fs::File::create(cur.join(name))?;
    }
    println!("created {N} files in {:?}", start.elapsed());

    let start = Instant::now();
    let index = FolderIndex::open(&inbox, IndexOptions::default())?;
    let first = start.elapsed();
    assert_eq!(index.messages().len(), N);
    assert_eq!(index.get(1).map(|m| m.size), Some(10));
    drop(index);

    let start = Instant::now();
    let mut index = FolderIndex::open(&inbox, IndexOptions::default())?;
    let second = start.elapsed();
    assert_eq!(index.messages().len(), N);
    let start = Instant::now();
    let changes = index.sync()?;
    let resync = start.elapsed();
    assert!(changes.is_empty());
    let start = Instant::now();
    let status = FolderIndex::status(&inbox, IndexOptions::default())?;
    let status_time = start.elapsed();
    assert_eq!(status.messages as usize, N);
    println!(
        "{N} messages: first open {first:?} (assigns UIDs, stats for dates), reopen {second:?}, \
         sync {resync:?} (a full scan: the directories changed seconds ago), status {status_time:?}"
    );
    assert!(first < Duration::from_secs(5), "first open took {first:?}");
    assert!(second < Duration::from_secs(5), "reopen took {second:?}");
    Ok(())
}

/// Every parser of on-disk state, fed samples with random damage: nothing may panic, and a
/// folder whose files are garbage still opens.
#[test]
fn hostile_state_files_never_panic() -> TestResult {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let samples: [&[u8]; 4] = [
        b"3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n25006 W3 :1.M2P3.h,S=2:2,S\n",
        b"1 1275660208 25\n3 1.M1.h:2,S\n",
        b"0 Junk\n1 $Forwarded\n25 z\n",
        b"postern-imap-state 1 V7\nm 1 5 1700000000 S *00000000\n",
    ];
    let dir = tempfile::tempdir()?;
    let inbox = inbox(dir.path())?;
    deliver(&inbox, "one")?;
    for round in 0..400 {
        let sample = samples
            .get(round % samples.len())
            .copied()
            .unwrap_or_default();
        let mut data = sample.to_vec();
        for _ in 0..(next() % 6) {
            let len = data.len().max(1) as u64;
            let at = usize::try_from(next() % len).unwrap_or(0);
            match next() % 4 {
                0 => data.truncate(at),
                1 => data.insert(at.min(data.len()), (next() & 0xff) as u8),
                2 => {
                    if let Some(b) = data.get_mut(at) {
                        *b = (next() & 0xff) as u8;
                    }
                }
                _ => data.extend_from_slice(&data.clone()),
            }
        }
        let _ = Uidlist::parse(&data);
        let _ = maildir::Keywords::parse(&data);
        let _ = MessageFlags::from_info(std::str::from_utf8(&data).ok());
        fs::write(inbox.path().join("dovecot-keywords"), &data)?;
        fs::write(inbox.path().join(STATE_NAME), &data)?;
        fs::write(inbox.path().join("postern-imap-cache"), &data)?;
        let _ = FolderCache::open(&inbox, 1_275_660_208);
        if round % 50 == 0 {
            fs::write(inbox.path().join("dovecot-uidlist"), &data)?;
            match FolderIndex::open(&inbox, IndexOptions::default()) {
                Ok(index) => assert_eq!(index.messages().len(), 1),
                Err(e) => return Err(format!("round {round}: {e}").into()),
            }
        }
    }
    Ok(())
}
