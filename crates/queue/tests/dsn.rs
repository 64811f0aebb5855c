//! Bounces and delay notices parsed back with mail-parser: the multipart/report structure,
//! the delivery-status fields per recipient, the returned headers, and who is (not) told.

use mail_parser::{MessageParser, MimeHeaders};
use queue::dsn::{self, MAX_RETURNED_HEADERS, Notice, NoticeKind};
use queue::{
    Envelope, Notify, OriginalRecipient, Queue, RecipientState, Ret, RetryPolicy, Timestamp,
};

mod common;
use common::{ARRIVAL, TestResult, new_envelope};

const HOST: &str = "mx.example.org";

fn t(s: u64) -> Timestamp {
    Timestamp::from_unix(ARRIVAL + s)
}

/// A committed message with six recipients in every state, and its data.
fn queued(
    dir: &std::path::Path,
    data: &[u8],
) -> Result<(Queue, Envelope), Box<dyn std::error::Error>> {
    let (queue, _) = Queue::open(dir)?;
    let mut new = new_envelope(
        "alice@example.net",
        &[
            "bob@example.org",
            "carol@example.org",
            "dave@example.org",
            "erin@example.org",
            "frank@example.org",
            "gina@example.org",
        ],
    );
    new.params.envid = Some("QQ314159".into());
    new.params.ret = Some(Ret::Full);
    if let Some(bob) = new.recipients.get_mut(0) {
        bob.orcpt = Some(OriginalRecipient {
            addr_type: "rfc822".into(),
            address: "Bob@Example.org".into(),
        });
    }
    if let Some(erin) = new.recipients.get_mut(3) {
        erin.notify = Some(Notify {
            never: true,
            ..Notify::default()
        });
    }
    let mut incoming = queue.receive(&new)?;
    std::io::Write::write_all(&mut incoming, data)?;
    let id = incoming.commit()?;
    let mut env = queue.load(id)?;
    let policy = RetryPolicy::default();
    let [bob, carol, dave, erin, frank, gina] = env.recipients.as_mut_slice() else {
        return Err("six recipients".into());
    };
    bob.mark_failed(
        t(10),
        "550 5.1.1 <bob@example.org>: User unknown (in reply to RCPT TO)",
    );
    carol.mark_deferred(t(10), "452 4.2.2 Mailbox full", &policy);
    dave.mark_delivered(t(10), "250 2.0.0 Ok");
    erin.mark_failed(t(10), "550 5.1.1 no such user");
    frank.mark_failed(t(10), "554 5.7.1 rejected\r\nX-Injected: yes\r\n\r\nbody");
    gina.mark_deferred(
        t(10),
        "connect to mx.example.com: Connection refused",
        &policy,
    );
    Ok((queue, env))
}

fn data() -> Vec<u8> {
    b"From: Alice <alice@example.net>\r\nTo: bob@example.org\r\nSubject: dsn test\r\n\
      Message-ID: <dsn-test@example.net>\r\n\r\nSecret-Body-Line: must not come back\r\n"
        .to_vec()
}

/// Field name and value pairs, one list per group.
type Groups = Vec<Vec<(String, String)>>;

/// The fields of a delivery-status body: the per-message group, then one per recipient.
fn status_groups(body: &str) -> Groups {
    body.split("\r\n\r\n")
        .filter(|g| !g.trim().is_empty())
        .map(|g| {
            g.split("\r\n")
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once(": ").unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect()
        })
        .collect()
}

fn field<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn parse_notice(notice: &Notice) -> Result<(String, Groups, String), String> {
    let msg = MessageParser::default()
        .parse(&notice.message)
        .ok_or("not a message")?;
    let ct = msg.content_type().ok_or("no content type")?;
    assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    assert_eq!(
        msg.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    let from = msg.from().and_then(|a| a.first()).and_then(|a| a.address());
    assert_eq!(from, Some("MAILER-DAEMON@mx.example.org"));
    let to = msg.to().and_then(|a| a.first()).and_then(|a| a.address());
    assert_eq!(to, Some(notice.to.as_str()));
    assert!(
        msg.message_id()
            .is_some_and(|id| id.ends_with("@mx.example.org"))
    );
    assert!(msg.date().is_some());

    let root = msg.parts.first().ok_or("no root part")?;
    let children = root.sub_parts().ok_or("not multipart")?;
    assert_eq!(children.len(), 3);
    let part = |i: usize| {
        children
            .get(i)
            .and_then(|&id| msg.parts.get(id as usize))
            .ok_or("missing part")
    };
    let human = part(0)?;
    assert_eq!(human.content_type().map(|c| c.ctype()), Some("text"));
    let human = human
        .text_contents()
        .ok_or("human part not text")?
        .to_string();
    let status = part(1)?;
    let status_ct = status.content_type().ok_or("no status type")?;
    assert_eq!(status_ct.ctype(), "message");
    let status = String::from_utf8(status.contents().to_vec()).map_err(|e| e.to_string())?;
    let headers = part(2)?;
    let headers_ct = headers.content_type().ok_or("no headers type")?;
    assert!(matches!(
        (headers_ct.ctype(), headers_ct.subtype()),
        ("text", Some("rfc822-headers")) | ("message", Some("global-headers"))
    ));
    let headers = String::from_utf8_lossy(headers.contents()).into_owned();
    Ok((human, status_groups(&status), headers))
}

#[test]
fn failure_notice_reports_each_failed_recipient() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (queue, mut env) = queued(dir.path(), &data())?;
    env.expire(t(5 * 86_400)); // carol and gina: pending until the lifetime ran out
    let notice = dsn::failure_notice(&env, queue.open_data(env.id)?, HOST, t(5 * 86_400))?
        .ok_or("a failure notice")?;
    assert_eq!(notice.kind, NoticeKind::Failure);
    assert_eq!(notice.to, "alice@example.net");
    assert_eq!(
        notice.recipients,
        [0, 1, 4, 5],
        "not dave (delivered), not erin (NEVER)"
    );
    assert!(!notice.eight_bit && !notice.smtputf8);
    assert!(notice.message.is_ascii());

    let (human, groups, headers) = parse_notice(&notice)?;
    for want in [
        "mx.example.org",
        "<bob@example.org>: 550 5.1.1 <bob@example.org>: User unknown (in reply to RCPT TO)",
        "<carol@example.org>: delivery time expired; last error: 452 4.2.2 Mailbox full",
        "<gina@example.org>: delivery time expired; last error: connect to mx.example.com",
        &env.id.to_string(),
    ] {
        assert!(human.contains(want), "{want:?} in {human}");
    }
    assert!(!human.contains("dave@") && !human.contains("erin@"));

    let [message, bob, carol, frank, gina] = groups.as_slice() else {
        return Err(format!("five groups: {groups:?}").into());
    };
    assert_eq!(field(message, "Reporting-MTA"), Some("dns; mx.example.org"));
    assert_eq!(field(message, "Original-Envelope-Id"), Some("QQ314159"));
    assert_eq!(
        field(message, "X-Postern-Queue-ID"),
        Some(env.id.to_string().as_str())
    );
    assert_eq!(
        field(message, "Arrival-Date"),
        Some("Wed, 25 Mar 2026 10:00:00 +0000")
    );

    assert_eq!(
        field(bob, "Final-Recipient"),
        Some("rfc822; bob@example.org")
    );
    assert_eq!(
        field(bob, "Original-Recipient"),
        Some("rfc822; Bob@Example.org")
    );
    assert_eq!(field(bob, "Action"), Some("failed"));
    assert_eq!(field(bob, "Status"), Some("5.1.1"));
    assert_eq!(
        field(bob, "Diagnostic-Code"),
        Some("smtp; 550 5.1.1 <bob@example.org>: User unknown (in reply to RCPT TO)")
    );
    assert_eq!(
        field(bob, "Last-Attempt-Date"),
        Some("Wed, 25 Mar 2026 10:00:10 +0000")
    );

    assert_eq!(field(carol, "Action"), Some("failed"));
    assert_eq!(
        field(carol, "Status"),
        Some("4.2.2"),
        "an expiry keeps the last 4xx"
    );
    assert_eq!(
        field(carol, "Diagnostic-Code"),
        Some("smtp; 452 4.2.2 Mailbox full")
    );
    assert_eq!(
        field(carol, "Last-Attempt-Date"),
        None,
        "expired, not attempted then"
    );

    assert_eq!(field(frank, "Status"), Some("5.7.1"));
    let diag = field(frank, "Diagnostic-Code").unwrap_or_default();
    assert!(diag.starts_with("smtp; 554 5.7.1 rejected") && diag.contains("X-Injected"));
    assert!(
        groups
            .iter()
            .flatten()
            .all(|(k, _)| k != "X-Injected" && k != "body")
    );

    assert_eq!(
        field(gina, "Status"),
        Some("4.4.7"),
        "no code in the last error"
    );
    assert_eq!(field(gina, "Diagnostic-Code"), None, "not an SMTP reply");

    assert!(headers.contains("Subject: dsn test\r\n"));
    assert!(headers.contains("Message-ID: <dsn-test@example.net>"));
    assert!(
        !headers.contains("Secret-Body-Line"),
        "RET=FULL still returns headers only"
    );

    // Told once: after mark_sent there is nothing left to report, and the message is done.
    notice.mark_sent(&mut env);
    assert!(dsn::failure_notice(&env, queue.open_data(env.id)?, HOST, t(0))?.is_none());
    assert!(env.is_finished());
    Ok(())
}

#[test]
fn delay_notice_for_pending_recipients() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (queue, mut env) = queued(dir.path(), &data())?;
    let policy = RetryPolicy::default();
    let until = policy.retry_until(&env);
    let notice = dsn::delay_notice(&env, queue.open_data(env.id)?, HOST, t(4 * 3600), until)?
        .ok_or("a delay notice")?;
    assert_eq!(notice.kind, NoticeKind::Delay);
    assert_eq!(notice.recipients, [1, 5]);
    let (human, groups, _) = parse_notice(&notice)?;
    assert!(human.contains("keeps trying\r\nuntil Mon, 30 Mar 2026 10:00:00 +0000."));
    let [_, carol, gina] = groups.as_slice() else {
        return Err(format!("three groups: {groups:?}").into());
    };
    assert_eq!(field(carol, "Action"), Some("delayed"));
    assert_eq!(field(carol, "Status"), Some("4.2.2"));
    assert_eq!(
        field(carol, "Will-Retry-Until"),
        Some("Mon, 30 Mar 2026 10:00:00 +0000")
    );
    assert_eq!(field(gina, "Status"), Some("4.0.0"));
    notice.mark_sent(&mut env);
    assert!(
        env.recipients
            .iter()
            .enumerate()
            .all(|(i, r)| r.delay_sent == (i == 1 || i == 5))
    );
    assert!(dsn::delay_notice(&env, queue.open_data(env.id)?, HOST, t(0), until)?.is_none());
    Ok(())
}

#[test]
fn a_bounce_is_never_bounced() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (queue, mut env) = queued(dir.path(), &data())?;
    env.sender = String::new();
    env.expire(t(0));
    let data = || queue.open_data(env.id);
    assert!(dsn::failure_notice(&env, data()?, HOST, t(0))?.is_none());
    assert!(dsn::delay_notice(&env, data()?, HOST, t(0), t(1))?.is_none());
    assert!(env.is_finished(), "nothing owed to the null sender");
    Ok(())
}

#[test]
fn utf8_addresses_and_headers_use_the_rfc6533_types() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut data = "Subject: Grüße aus Köln\r\nFrom: jörg@bücher.example\r\n\r\nbody\r\n"
        .as_bytes()
        .to_vec();
    data.extend_from_slice(b"more\r\n");
    let (queue, mut env) = queued(dir.path(), &data)?;
    env.sender = "jörg@bücher.example".into();
    env.params.smtputf8 = true;
    if let Some(r) = env.recipients.get_mut(0) {
        r.address = "用户@例子.广告".into();
    }
    let notice =
        dsn::failure_notice(&env, queue.open_data(env.id)?, HOST, t(0))?.ok_or("a notice")?;
    assert!(notice.smtputf8 && notice.eight_bit);
    let new = notice.new_envelope(t(0));
    assert!(new.sender.is_empty() && new.params.smtputf8);
    assert_eq!(new.params.body, Some(queue::Body::EightBitMime));
    let msg = MessageParser::default()
        .parse(&notice.message)
        .ok_or("parse")?;
    let types: Vec<String> = msg
        .parts
        .iter()
        .filter_map(|p| p.content_type())
        .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
        .collect();
    assert!(
        types.contains(&"message/global-delivery-status".to_string()),
        "{types:?}"
    );
    assert!(
        types.contains(&"message/global-headers".to_string()),
        "{types:?}"
    );
    let text = String::from_utf8_lossy(&notice.message);
    assert!(text.contains("Final-Recipient: utf-8; 用户@例子.广告"));
    assert!(text.contains("Subject: Grüße aus Köln"));
    Ok(())
}

#[test]
fn returned_headers_are_bounded() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut data = Vec::new();
    for i in 0..5000 {
        data.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(60)).as_bytes());
    }
    data.extend_from_slice(b"\r\nbody\r\n");
    let (queue, env) = queued(dir.path(), &data)?;
    let notice =
        dsn::failure_notice(&env, queue.open_data(env.id)?, HOST, t(0))?.ok_or("a notice")?;
    let (_, _, headers) = parse_notice(&notice)?;
    assert!(headers.len() as u64 <= MAX_RETURNED_HEADERS);
    assert!(headers.len() as u64 > MAX_RETURNED_HEADERS - 200);
    assert!(headers.starts_with("X-Filler-0: "));
    assert!(
        headers.ends_with("y\r\n") || headers.ends_with('y'),
        "cut at a line end"
    );
    assert!(matches!(
        env.recipients.first().map(|r| &r.state),
        Some(RecipientState::Failed { .. })
    ));
    Ok(())
}
