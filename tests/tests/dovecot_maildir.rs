//! Interop: a private stock Dovecot (IMAP and doveadm) reads what the maildir crate delivers,
//! in both folder layouts, and folders Dovecot creates land where the crate looks for them.
//! Needs root (Dovecot's mail processes run as the mail owner) and Dovecot (`tests/run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use maildir::{Delivered, Delivery, Folder, Layout, MailStore, Permissions};
use postern_tests::dovecot::{DovecotBuilder, VMAIL_UID, as_crlf, passwd_line};
use postern_tests::workdir::WorkDir;

fn deliver(folders: &[Folder], message: &[u8], chunk: usize) -> Vec<Delivered> {
    let mut d = Delivery::begin(&folders[0]).unwrap();
    d.write_header("Return-Path", "<alice@example.net>")
        .unwrap();
    for piece in message.chunks(chunk) {
        d.write(piece).unwrap();
    }
    d.commit_to(folders)
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

fn home(dir: &Path, user: &str) -> std::path::PathBuf {
    let home = dir.join(user);
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(VMAIL_UID), Some(VMAIL_UID)).unwrap();
    home
}

#[test]
fn dovecot_reads_our_deliveries_in_both_layouts() {
    let work = WorkDir::new("dovecot-maildir");
    let dir = work.path();
    let perms = Permissions {
        owner: Some((VMAIL_UID, VMAIL_UID)),
        ..Permissions::default()
    };
    let (bob_home, carol_home) = (home(dir, "bob"), home(dir, "carol"));
    let bob =
        MailStore::new(bob_home.join("Maildir"), Layout::MaildirPlusPlus).with_permissions(perms);
    let carol = MailStore::new(carol_home.join("Maildir"), Layout::Fs).with_permissions(perms);
    bob.ensure_special_folders().unwrap();
    carol.ensure_special_folders().unwrap();
    let folder = |store: &MailStore, name: &str| {
        let f = store.folder(name).unwrap();
        f.ensure().unwrap();
        f
    };
    let (b_inbox, b_lists, b_cafe) = (
        bob.inbox(),
        folder(&bob, "Lists.rust"),
        folder(&bob, "Café"),
    );
    let (c_inbox, c_lists, c_draft, c_sent) = (
        carol.inbox(),
        folder(&carol, "Lists/rust"),
        folder(&carol, "Entwürfe"),
        folder(&carol, "Sent"),
    );

    let plain =
        "From: alice@example.net\r\nSubject: Grüße\r\n\r\nHallo Bob,\r\n\r\n.dot\r\nbye\r\n";
    let odd = b"Subject: odd\r\n\r\nbare lf\nbare cr\rcrlf\r\ndouble cr\r\r\nlf first\n\r\nno final newline";
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..20_000 {
        big.extend_from_slice(format!("{i:08} {}\r\n", "y".repeat(i % 50)).as_bytes());
    }
    let mut expected: Vec<(&str, &str, Delivered)> = Vec::new();
    for d in deliver(std::slice::from_ref(&b_inbox), plain.as_bytes(), 5) {
        expected.push(("bob", "INBOX", d));
    }
    let shared = deliver(
        &[b_lists.clone(), c_inbox.clone(), c_lists.clone()],
        plain.as_bytes(),
        3,
    );
    for (d, (user, mailbox)) in shared.into_iter().zip([
        ("bob", "Lists.rust"),
        ("carol", "INBOX"),
        ("carol", "Lists/rust"),
    ]) {
        expected.push((user, mailbox, d));
    }
    for d in deliver(&[b_cafe.clone(), c_draft.clone()], odd, 7) {
        let (user, mailbox) = if d.folder == b_cafe.path() {
            ("bob", "Café")
        } else {
            ("carol", "Entwürfe")
        };
        expected.push((user, mailbox, d));
    }
    for d in deliver(std::slice::from_ref(&c_sent), &big, 4093) {
        expected.push(("carol", "Sent", d));
    }
    // Expected IMAP bytes, from the stored files, before Dovecot moves them to cur/.
    let stored: Vec<Vec<u8>> = expected
        .iter()
        .map(|(_, _, d)| std::fs::read(&d.path).unwrap())
        .collect();

    let dovecot = DovecotBuilder::new(&dir.join("dovecot"))
        .passwd([
            passwd_line(
                "bob",
                "{PLAIN}secret",
                &bob_home.display().to_string(),
                "userdb_mail=maildir:~/Maildir",
            ),
            passwd_line(
                "carol",
                "{PLAIN}secret",
                &carol_home.display().to_string(),
                "userdb_mail=maildir:~/Maildir:LAYOUT=fs",
            ),
        ])
        .imap()
        .start();
    let view = dovecot.read_mail("secret", &["bob", "carol"]);

    // Every folder we created is listed, with the layout's separator.
    let specials = ["INBOX", "Sent", "Drafts", "Junk", "Trash", "Archive"];
    for (user, own) in [
        ("bob", ["Lists.rust", "Café"]),
        ("carol", ["Lists/rust", "Entwürfe"]),
    ] {
        let listed = view.folders.get(user).cloned().unwrap_or_default();
        for name in specials.iter().chain(&own) {
            assert!(
                listed.iter().any(|n| n == name),
                "{user} lacks {name}: {listed:?}"
            );
        }
    }

    // Every message has the sizes in its name and the content we stored.
    let count: usize = view.messages.values().map(Vec::len).sum();
    assert_eq!(count, expected.len(), "{:?}", view.messages.keys());
    for ((user, mailbox, d), file) in expected.iter().zip(&stored) {
        let seen = view
            .messages
            .get(&(user.to_string(), mailbox.to_string()))
            .and_then(|list| list.first())
            .unwrap_or_else(|| panic!("Dovecot did not show {user}/{mailbox}"));
        let served = as_crlf(file);
        assert_eq!(seen.physical, Some(d.size), "{user}/{mailbox} S");
        assert_eq!(seen.virtual_size, Some(d.vsize), "{user}/{mailbox} W");
        assert_eq!(seen.rfc822_size, d.vsize, "{user}/{mailbox} RFC822.SIZE");
        assert_eq!(served.len() as u64, d.vsize, "{user}/{mailbox}");
        assert!(seen.body == served, "{user}/{mailbox} body");
        // doveadm reads the file itself, checking it against S=.
        assert_eq!(
            seen.text.as_deref(),
            Some(file.as_slice()),
            "{user}/{mailbox} text"
        );
    }
    let plain_served = format!("Return-Path: <alice@example.net>\r\n{plain}");
    let bob_inbox = &view.messages[&("bob".to_string(), "INBOX".to_string())][0];
    assert_eq!(bob_inbox.body, plain_served.as_bytes());

    // Folders Dovecot creates land where we would put them (mUTF-7, layout).
    dovecot
        .doveadm(&["mailbox", "create", "-u", "bob", "Ünïcødé.Sub"])
        .unwrap();
    dovecot
        .doveadm(&["mailbox", "create", "-u", "carol", "Žluť/kůň"])
        .unwrap();
    let created = bob.folder("Ünïcødé.Sub").unwrap();
    assert!(created.exists(), "{}", created.path().display());
    assert!(created.path().join("maildirfolder").is_file());
    let created = carol.folder("Žluť/kůň").unwrap();
    assert!(created.exists(), "{}", created.path().display());

    let log = dovecot.log();
    assert!(!log.contains("Error"), "dovecot log has errors:\n{log}");
}
