//! Local mail and queue control: the `sendmail` entry point as cron, mailx and scripts use
//! it (LF line ends, `-t`, bare names, `-bs`), the daemon telling which uid submitted, and
//! `postern-mta queue list|show|hold|release|flush|delete` with the daemon running and
//! stopped. Runs postern-mta in front of postern-mda; needs root for `setpriv` (`tests/run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use postern_tests::mta_stack::{MtaOptions, MtaStack};
use postern_tests::wait_until;
use postern_tests::workdir::WorkDir;

fn stack(work: &WorkDir) -> MtaStack {
    let aliases = work.path().join("aliases");
    std::fs::write(&aliases, "root: alice\npostmaster: root\n").unwrap();
    MtaStack::start(
        work.path(),
        &MtaOptions {
            mta: vec![format!("aliases = \"{}\"", aliases.display())],
            // Deferred mail is retried only when flushed.
            backoff: Some("1h".into()),
            ..MtaOptions::default()
        },
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sendmail_takes_cron_style_mail_and_names_the_submitting_uid() {
    let work = WorkDir::new("mta-sendmail");
    let stack = stack(&work);

    // What cron writes: LF line ends, a bare local name, no From/Date/Message-ID, and a
    // line holding one dot that -i keeps.
    let cron = b"To: root\nBcc: bob\nSubject: Cron <root@host> run-parts /etc/cron.daily\n\nline one\n.\nline three\n";
    let out = stack.sendmail(&["-t", "-i", "-F", "Cron Daemon"], cron, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alice = stack.wait_for("alice@example.org", 1);
    let mail = &alice[0];
    assert!(mail.contains("(Postern, from userid 0)"), "{mail}");
    assert!(
        mail.contains("From: Cron Daemon <root@example.org>\n"),
        "{mail}"
    );
    assert!(mail.contains("\nDate: "), "{mail}");
    assert!(mail.contains("\nMessage-ID: <"), "{mail}");
    assert!(!mail.contains("Bcc:"), "Bcc must not be delivered: {mail}");
    assert!(mail.ends_with("\n\nline one\n.\nline three\n"), "{mail}");
    // Bcc'd bob got it too.
    let bob = stack.wait_for("bob@example.org", 1);
    assert!(!bob[0].contains("Bcc:"));
    assert!(stack.mta.log_text().contains("uid=0 (root)"));

    // Without -i a lone dot ends the message (mailx and old scripts rely on it); an
    // ordinary user submits as themselves; a full From header is kept.
    let out = stack.sendmail(
        &["alice@example.org"],
        b"From: Nobody <nobody@example.org>\nSubject: dot\n\nbefore\n.\nafter\n",
        Some(65534),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alice = stack.wait_for("alice@example.org", 2);
    let dot = alice
        .iter()
        .find(|m| m.contains("Subject: dot"))
        .expect("second message");
    assert!(dot.contains("(Postern, from userid 65534)"), "{dot}");
    assert!(dot.contains("Return-Path: <nobody@example.org>"), "{dot}");
    assert!(dot.ends_with("\n\nbefore\n"), "{dot}");

    // An unknown local recipient is refused at once: a nonzero exit and the reason.
    let out = stack.sendmail(&["nosuchuser"], b"Subject: x\n\nx\n", None);
    assert_eq!(out.status.code(), Some(67), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("550 5.1.1"),
        "{}",
        text(&out.stderr)
    );
    let out = stack.sendmail(&["-t"], b"Subject: nobody to send to\n\nx\n", None);
    assert_eq!(out.status.code(), Some(64));

    // -bs: SMTP on standard input and output, as some MUAs use it.
    let session = b"EHLO localhost\r\nMAIL FROM:<root@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: over -bs\r\n\r\nhello\r\n.\r\nQUIT\r\n";
    let out = stack.sendmail(&["-bs"], session, None);
    let transcript = text(&out.stdout);
    assert!(
        transcript.contains("250 2.0.0 Ok: queued as"),
        "{transcript}"
    );
    assert!(transcript.contains("221"), "{transcript}");
    let bob = stack.wait_for("bob@example.org", 2);
    assert!(bob.iter().any(|m| m.contains("Subject: over -bs")));
}

#[test]
fn sendmail_fails_with_tempfail_when_the_daemon_is_down() {
    let work = WorkDir::new("mta-sendmail-down");
    let mut stack = stack(&work);
    stack.mta.child.kill().unwrap();
    stack.mta.child.wait().unwrap();
    let out = stack.sendmail(&["alice@example.org"], b"Subject: x\n\nx\n", None);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not sent"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn queue_list_show_hold_release_flush_delete() {
    let work = WorkDir::new("mta-queue");
    let mut stack = stack(&work);
    // Mail for a remote domain waits in the queue (outbound delivery comes later).
    let out = stack.sendmail(
        &[
            "-f",
            "alice@example.org",
            "far@remote.test",
            "near@remote.test",
        ],
        b"Subject: waiting\n\nx\n",
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = || text(&stack.command(&["queue", "list"]).stdout);
    assert!(
        wait_until(Duration::from_secs(10), || listed().contains("(451 4.4.0")),
        "{}",
        listed()
    );
    let list = listed();
    assert!(list.starts_with("-Queue ID-"), "{list}");
    assert!(list.contains("far@remote.test") && list.contains("near@remote.test"));
    assert!(list.ends_with("-- 1 Kbytes in 1 Request.\n"), "{list}");
    let id = list.lines().nth(1).unwrap()[..16].to_string();

    let show = text(&stack.command(&["queue", "show", &id]).stdout);
    assert!(show.contains("sender:    <alice@example.org>"), "{show}");
    assert!(
        show.contains("<far@remote.test> pending, 1 attempts"),
        "{show}"
    );
    assert!(show.contains("Subject: waiting"), "{show}");

    let out = stack.command(&["queue", "hold", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1 messages held"));
    assert!(listed().contains(&format!("{id}!")), "{}", listed());
    assert!(text(&stack.command(&["queue", "show", &id]).stdout).contains("(held)"));
    // A flush leaves held mail alone; release puts it back.
    assert!(stack.command(&["queue", "flush"]).status.success());
    assert!(listed().contains(&format!("{id}!")));
    assert!(stack.command(&["queue", "release", &id]).status.success());
    assert!(!listed().contains(&format!("{id}!")), "{}", listed());
    // Flush tries deferred recipients now: a second attempt is recorded.
    assert!(stack.command(&["queue", "flush", &id]).status.success());
    assert!(
        wait_until(Duration::from_secs(10), || text(
            &stack.command(&["queue", "show", &id]).stdout
        )
        .contains("pending, 2 attempts")),
        "{}",
        text(&stack.command(&["queue", "show", &id]).stdout)
    );

    // Bad requests say why, with sysexits codes.
    let out = stack.command(&["queue", "show", "nonsense"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("not a queue id"));
    let out = stack.command(&["queue", "delete", "0000000000000000"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not queued"),
        "{}",
        text(&out.stderr)
    );

    // The daemon stopped: the command reads and changes the queue directory itself, and
    // the daemon finds the change when it starts again.
    stack.mta.child.kill().unwrap();
    stack.mta.child.wait().unwrap();
    let out = stack.command(&["queue", "list"]);
    assert!(text(&out.stdout).contains(&id), "{}", text(&out.stderr));
    let out = stack.command(&["queue", "delete", "ALL"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1 messages deleted"));
    assert_eq!(
        text(&stack.command(&["queue", "list"]).stdout),
        "Mail queue is empty\n"
    );
    // mailq's spelling, through sendmail -bp.
    let out = stack.sendmail(&["-bp"], b"", None);
    assert_eq!(text(&out.stdout), "Mail queue is empty\n");
}

/// Mail that cannot be delivered within the queue lifetime comes back to its sender as an
/// RFC 3464 report; a bounce that cannot be delivered is dropped, never bounced.
#[test]
fn expired_mail_bounces_to_the_sender_and_bounces_never_bounce() {
    let work = WorkDir::new("mta-bounce");
    let stack = MtaStack::start(
        work.path(),
        &MtaOptions {
            queue: vec!["lifetime = \"3s\"".into()],
            ..MtaOptions::default()
        },
    );
    let out = stack.sendmail(
        &["-f", "alice@example.org", "far@remote.test"],
        b"Subject: to nowhere\nMessage-ID: <nowhere@test>\n\nx\n",
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = stack.sendmail(
        &["-f", "", "far@remote.test"],
        b"Subject: a bounce itself\n\nx\n",
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alice = stack.wait_for("alice@example.org", 1);
    let report = &alice[0];
    assert!(report.contains("Return-Path: <>"), "{report}");
    assert!(
        report.contains("report-type=\"delivery-status\""),
        "{report}"
    );
    assert!(
        report.contains("Final-Recipient: rfc822; far@remote.test"),
        "{report}"
    );
    assert!(report.contains("Action: failed"), "{report}");
    assert!(report.contains("Message-ID: <nowhere@test>"), "{report}");
    assert!(
        wait_until(Duration::from_secs(20), || stack.queue_is_empty()),
        "{}",
        text(&stack.command(&["queue", "list"]).stdout)
    );
    // Still one message: the null-sender mail expired without a report to anyone.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(stack.messages(&stack.maildir("alice@example.org")).len(), 1);
    let log = stack.mta.log_text();
    assert!(log.contains("message expired in the queue"), "{log}");
}

fn signal(stack: &MtaStack, name: &str) {
    let status = std::process::Command::new("kill")
        .args(["-s", name, &stack.mta.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// SIGHUP re-reads the aliases (a broken file keeps the running set); SIGTERM lets the
/// transaction in progress finish with its 250, refuses new work, and what was queued stays
/// queued for the next start.
#[test]
fn sighup_reloads_aliases_and_sigterm_finishes_the_transaction_in_progress() {
    use std::io::{Read, Write};
    let work = WorkDir::new("mta-signals");
    let mut stack = stack(&work);
    let aliases = work.path().join("aliases");
    let out = stack.sendmail(&["root"], b"Subject: one\n\nx\n", None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    stack.wait_for("alice@example.org", 1);

    std::fs::write(&aliases, "root: bob\n").unwrap();
    signal(&stack, "HUP");
    assert!(wait_until(Duration::from_secs(10), || stack
        .mta
        .log_text()
        .contains("configuration reloaded")));
    let out = stack.sendmail(&["root"], b"Subject: two\n\nx\n", None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    stack.wait_for("bob@example.org", 1);

    std::fs::write(&aliases, "this line is not an alias\n").unwrap();
    signal(&stack, "HUP");
    assert!(wait_until(Duration::from_secs(10), || stack
        .mta
        .log_text()
        .contains("reload failed, keeping the running configuration")));
    let out = stack.sendmail(&["root"], b"Subject: three\n\nx\n", None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    stack.wait_for("bob@example.org", 2);

    // SIGTERM in the middle of a message: it still gets its 250.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", stack.smtp_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let read_reply = |s: &mut std::net::TcpStream| {
        let mut buffer = [0u8; 4096];
        let n = s.read(&mut buffer).unwrap_or(0);
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    assert!(read_reply(&mut s).starts_with("220"));
    s.write_all(b"EHLO client.example.net\r\n").unwrap();
    assert!(read_reply(&mut s).contains("250 "));
    s.write_all(b"MAIL FROM:<x@example.net>\r\n").unwrap();
    assert!(read_reply(&mut s).starts_with("250"));
    s.write_all(b"RCPT TO:<alice@example.org>\r\n").unwrap();
    assert!(read_reply(&mut s).starts_with("250"));
    s.write_all(b"DATA\r\n").unwrap();
    assert!(read_reply(&mut s).starts_with("354"));
    s.write_all(b"Subject: during shutdown\r\n\r\nfirst half\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    signal(&stack, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"second half\r\n.\r\n").unwrap();
    let reply = read_reply(&mut s);
    assert!(reply.starts_with("250 2.0.0 Ok: queued as"), "{reply}");
    let _ = s.write_all(b"MAIL FROM:<x@example.net>\r\n");
    let after = read_reply(&mut s);
    assert!(after.is_empty() || after.starts_with("421"), "{after}");
    assert!(
        wait_until(Duration::from_secs(15), || matches!(
            stack.mta.child.try_wait(),
            Ok(Some(_))
        )),
        "postern-mta did not exit on SIGTERM"
    );
    // Accepted is accepted: delivered now or waiting in the queue for the next start.
    let delivered = stack
        .messages(&stack.maildir("alice@example.org"))
        .iter()
        .any(|m| m.contains("during shutdown"));
    let queued = text(&stack.command(&["queue", "list"]).stdout).contains("x@example.net");
    assert!(
        delivered || queued,
        "the accepted message is neither delivered nor queued (the queue command works with the aliases file still broken)"
    );
    std::fs::write(&aliases, "root: bob\n").unwrap();
    stack.restart_mta("mta-2.log");
    assert!(wait_until(Duration::from_secs(20), || stack
        .messages(&stack.maildir("alice@example.org"))
        .iter()
        .any(|m| m.contains("during shutdown"))));
}
