//! The queue on a real filesystem: receive and commit, load/list/open_data, update and remove
//! ordering, recovery at open, the lock, and a delivery cycle across a restart.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use queue::{
    CorruptReason, Envelope, Notify, Queue, QueueError, RecipientState, RetryPolicy, Timestamp, dsn,
};

mod common;
use common::{TestResult, message, names, new_envelope};

#[test]
fn receive_commit_load_list_and_read_back() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("spool/postern");
    let (queue, recovery) = Queue::open(&root)?;
    assert_eq!(recovery, queue::Recovery::default());
    for d in ["", "tmp", "data", "env", "corrupt"] {
        let mode = fs::metadata(root.join(d))?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{d}");
    }

    let mut ids = Vec::new();
    let mut bodies = Vec::new();
    for n in 0..3 {
        let body = message(&format!("m{n}"), 1000 * n + 1);
        let mut incoming = queue.receive(&new_envelope(
            "alice@example.net",
            &["bob@example.org", "carol@example.org"],
        ))?;
        let id = incoming.id();
        for chunk in body.chunks(777) {
            incoming.write_all(chunk)?;
        }
        assert_eq!(incoming.size(), body.len() as u64);
        assert_eq!(incoming.commit()?, id);
        ids.push(id);
        bodies.push(body);
    }
    assert!(
        ids.windows(2).all(|w| w.first() < w.get(1)),
        "ids sort by arrival"
    );
    assert_eq!(queue.list()?, ids);
    assert!(names(&root.join("tmp")).is_empty());

    for (id, body) in ids.iter().zip(&bodies) {
        let env = queue.load(*id)?;
        assert_eq!(env.id, *id);
        assert_eq!(env.sender, "alice@example.net");
        assert_eq!(env.origin.protocol, "ESMTPS");
        assert_eq!(env.recipients.len(), 2);
        for r in &env.recipients {
            assert_eq!(
                r.state,
                RecipientState::Pending {
                    attempts: 0,
                    next_attempt: Timestamp::from_unix(common::ARRIVAL),
                    last_reply: None,
                }
            );
        }
        let mut data = Vec::new();
        queue.open_data(*id)?.read_to_end(&mut data)?;
        assert_eq!(&data, body);
        for f in [root.join("env"), root.join("data")] {
            let mode = fs::metadata(f.join(id.to_string()))?.permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
    Ok(())
}

#[test]
fn an_uncommitted_message_leaves_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (queue, _) = Queue::open(dir.path())?;
    let env = new_envelope("a@example.net", &["b@example.org"]);
    {
        let mut dropped = queue.receive(&env)?;
        dropped.write_all(&message("dropped", 10_000))?;
    }
    let mut aborted = queue.receive(&env)?;
    aborted.write_all(&message("aborted", 10))?;
    aborted.abort()?;
    assert!(queue.list()?.is_empty());
    for d in ["tmp", "data", "env"] {
        assert!(names(&dir.path().join(d)).is_empty(), "{d}");
    }
    Ok(())
}

#[test]
fn envelopes_that_cannot_be_stored_are_refused_before_any_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (queue, _) = Queue::open(dir.path())?;
    let mut no_rcpt = new_envelope("a@example.net", &[]);
    assert!(matches!(
        queue.receive(&no_rcpt),
        Err(QueueError::Invalid(_))
    ));
    no_rcpt.recipients = new_envelope("", &[""]).recipients;
    assert!(matches!(
        queue.receive(&no_rcpt),
        Err(QueueError::Invalid(_))
    ));
    let mut bad_notify = new_envelope("a@example.net", &["b@example.org"]);
    if let Some(r) = bad_notify.recipients.first_mut() {
        r.notify = Some(Notify {
            never: true,
            delay: true,
            ..Notify::default()
        });
    }
    assert!(matches!(
        queue.receive(&bad_notify),
        Err(QueueError::Invalid(_))
    ));
    assert!(names(&dir.path().join("data")).is_empty());

    // Recipients removed at the end of DATA (a milter's DELRCPT) down to none: no commit.
    let mut incoming = queue.receive(&new_envelope("a@example.net", &["b@example.org"]))?;
    incoming.write_all(b"Subject: x\r\n\r\n")?;
    incoming.envelope_mut().recipients.clear();
    assert!(matches!(incoming.commit(), Err(QueueError::Invalid(_))));
    assert!(names(&dir.path().join("data")).is_empty());
    assert!(queue.list()?.is_empty());
    Ok(())
}

#[test]
fn envelope_changes_before_commit_are_stored_under_the_same_id() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (queue, _) = Queue::open(dir.path())?;
    let mut incoming = queue.receive(&new_envelope("a@example.net", &["b@example.org"]))?;
    let id = incoming.id();
    incoming.write_all(b"Subject: x\r\n\r\nbody\r\n")?;
    let env = incoming.envelope_mut();
    env.sender = "rewritten@example.net".into();
    env.held = true;
    env.id = "0000000000000000".parse()?; // restored at commit
    assert_eq!(incoming.commit()?, id);
    let env = queue.load(id)?;
    assert_eq!(
        (env.sender.as_str(), env.held),
        ("rewritten@example.net", true)
    );
    Ok(())
}

#[test]
fn update_replaces_and_remove_goes_envelope_first() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_path_buf();
    let (queue, _) = Queue::open(&root)?;
    let mut incoming = queue.receive(&new_envelope("a@example.net", &["b@example.org"]))?;
    incoming.write_all(&message("u", 5))?;
    let id = incoming.commit()?;

    let mut env = queue.load(id)?;
    let now = Timestamp::from_unix(common::ARRIVAL + 60);
    for r in &mut env.recipients {
        r.mark_deferred(now, "451 4.3.0 busy", &RetryPolicy::default());
    }
    queue.update(&env)?;
    assert_eq!(queue.load(id)?, env);
    assert!(names(&root.join("tmp")).is_empty());

    queue.remove(id)?;
    assert!(matches!(queue.load(id), Err(QueueError::NotFound(i)) if i == id));
    assert!(matches!(queue.open_data(id), Err(QueueError::NotFound(_))));
    assert!(matches!(queue.remove(id), Err(QueueError::NotFound(_))));
    // A late update must not bring back an envelope without its data.
    assert!(matches!(queue.update(&env), Err(QueueError::NotFound(_))));
    assert!(names(&root.join("env")).is_empty());
    assert!(names(&root.join("data")).is_empty());

    // A remove interrupted between its two steps: the envelope is gone, the data not yet.
    let mut incoming = queue.receive(&new_envelope("a@example.net", &["b@example.org"]))?;
    incoming.write_all(&message("half-removed", 5))?;
    let id = incoming.commit()?;
    fs::remove_file(root.join("env").join(id.to_string()))?;
    drop(queue);
    let (queue, recovery) = Queue::open(&root)?;
    assert_eq!(recovery.orphan_data_removed, 1);
    assert!(queue.list()?.is_empty());
    assert!(names(&root.join("data")).is_empty());
    Ok(())
}

#[test]
fn open_cleans_leftovers_and_moves_bad_envelopes_aside() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_path_buf();
    let (good, missing, mismatched, garbage) = {
        let (queue, _) = Queue::open(&root)?;
        let commit = |subject: &str| -> Result<_, Box<dyn std::error::Error>> {
            let mut incoming = queue.receive(&new_envelope("a@example.net", &["b@example.org"]))?;
            incoming.write_all(&message(subject, 3))?;
            Ok(incoming.commit()?)
        };
        (
            commit("good")?,
            commit("missing")?,
            commit("mismatch")?,
            commit("garbage")?,
        )
    };
    let env = root.join("env");
    let data = root.join("data");
    fs::remove_file(data.join(missing.to_string()))?;
    let text = fs::read_to_string(env.join(good.to_string()))?;
    fs::write(env.join(mismatched.to_string()), &text)?;
    fs::write(
        env.join(garbage.to_string()),
        "version = 1\nthis is not toml [[[",
    )?;
    fs::write(env.join("notes.txt"), "an administrator's file")?;
    fs::write(root.join("tmp/69C3B2200000A001.0"), "half an envelope")?;
    fs::write(data.join("69C3B2200000B001"), "a receive that died")?;

    let (queue, recovery) = Queue::open(&root)?;
    assert_eq!(queue.list()?, [good]);
    assert_eq!(recovery.queued, 1);
    assert_eq!(recovery.tmp_removed, 1);
    assert_eq!(recovery.orphan_data_removed, 1);
    assert_eq!(recovery.missing_data(), 1);
    let mut corrupt: Vec<(String, CorruptReason)> = recovery
        .corrupt
        .iter()
        .map(|c| (c.name.clone(), c.reason.clone()))
        .collect();
    corrupt.sort_by(|a, b| a.0.cmp(&b.0));
    let reason = |name: &str| {
        corrupt
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
    };
    assert_eq!(corrupt.len(), 4);
    assert_eq!(reason("notes.txt"), Some(CorruptReason::BadName));
    assert_eq!(
        reason(&missing.to_string()),
        Some(CorruptReason::DataMissing)
    );
    assert!(
        matches!(reason(&mismatched.to_string()), Some(CorruptReason::Unreadable(m)) if m.contains("holds id"))
    );
    assert!(matches!(
        reason(&garbage.to_string()),
        Some(CorruptReason::Unreadable(_))
    ));
    // Nothing is deleted: the envelopes, and the data of the unreadable ones, are kept.
    let kept = names(&root.join("corrupt"));
    for name in [
        format!("{missing}.env"),
        format!("{mismatched}.env"),
        format!("{mismatched}.data"),
        format!("{garbage}.env"),
        format!("{garbage}.data"),
        "notes.txt.env".to_string(),
    ] {
        assert!(kept.contains(&name), "{name} in {kept:?}");
    }
    assert_eq!(names(&data), [good.to_string()]);

    // The same names again: nothing in corrupt/ is replaced.
    fs::write(env.join("notes.txt"), "again")?;
    drop(queue);
    let (_queue, recovery) = Queue::open(&root)?;
    assert_eq!(
        recovery.corrupt.first().map(|c| c.moved_to.clone()),
        Some(root.join("corrupt/notes.txt.env.1"))
    );
    assert_eq!(
        fs::read_to_string(root.join("corrupt/notes.txt.env"))?,
        "an administrator's file"
    );
    Ok(())
}

#[test]
fn a_second_process_cannot_open_the_same_queue() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (queue, _) = Queue::open(dir.path())?;
    assert!(matches!(
        Queue::open(dir.path()),
        Err(QueueError::Locked { .. })
    ));
    let incoming = queue.receive(&new_envelope("a@example.net", &["b@example.org"]))?;
    drop(queue);
    // A message still being received keeps the queue open.
    assert!(matches!(
        Queue::open(dir.path()),
        Err(QueueError::Locked { .. })
    ));
    drop(incoming);
    Queue::open(dir.path())?;
    Ok(())
}

/// The queue manager's cycle over two restarts: a delivered recipient is never due again, a
/// deferred one waits for its backoff, a permanent failure bounces once, then the message goes.
#[test]
fn delivery_cycle_across_restarts() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_path_buf();
    let policy = RetryPolicy::default();
    let t = |s: u64| Timestamp::from_unix(common::ARRIVAL + s);
    let id = {
        let (queue, _) = Queue::open(&root)?;
        let mut incoming = queue.receive(&new_envelope(
            "alice@example.net",
            &["bob@example.org", "x@example.com"],
        ))?;
        incoming.write_all(&message("cycle", 20))?;
        incoming.commit()?
    };

    // First pass: bob accepted, x deferred; then the process dies.
    {
        let (queue, _) = Queue::open(&root)?;
        let mut env = queue.load(id)?;
        assert_eq!(env.due(t(1)).collect::<Vec<_>>(), [0, 1]);
        let [bob, x] = env.recipients.as_mut_slice() else {
            return Err("two recipients".into());
        };
        bob.mark_delivered(t(1), "250 2.0.0 Ok");
        x.mark_deferred(t(1), "451 4.4.1 connection timed out", &policy);
        queue.update(&env)?;
    }

    // Second pass, after a restart: only x, and only after its backoff.
    let (queue, recovery) = Queue::open(&root)?;
    assert_eq!(recovery.queued, 1);
    let mut env: Envelope = queue.load(id)?;
    assert_eq!(env.due(t(2)).count(), 0);
    assert_eq!(env.next_attempt(), Some(t(301)));
    assert_eq!(env.due(t(301)).collect::<Vec<_>>(), [1]);
    if let Some(x) = env.recipients.get_mut(1) {
        x.mark_failed(
            t(301),
            "550 5.1.1 <x@example.com>: User unknown (in reply to RCPT TO)",
        );
    }
    let notice = dsn::failure_notice(&env, queue.open_data(id)?, "mx.example.org", t(301))?
        .ok_or("a bounce is due")?;
    assert_eq!(notice.recipients, [1]);
    assert_eq!(notice.to, "alice@example.net");
    let mut bounce = queue.receive(&notice.new_envelope(t(301)))?;
    bounce.write_all(&notice.message)?;
    let bounce_id = bounce.commit()?;
    notice.mark_sent(&mut env);
    assert!(env.is_finished());
    queue.remove(id)?;
    assert_eq!(queue.list()?, [bounce_id]);

    // The bounce itself can fail: it is dropped, not bounced.
    let mut bounce_env = queue.load(bounce_id)?;
    assert!(bounce_env.is_null_sender());
    assert_eq!(
        bounce_env.recipients.first().map(|r| r.address.as_str()),
        Some("alice@example.net")
    );
    bounce_env.expire(t(10 * 86_400));
    assert!(
        dsn::failure_notice(
            &bounce_env,
            queue.open_data(bounce_id)?,
            "mx.example.org",
            t(0)
        )?
        .is_none()
    );
    assert!(bounce_env.is_finished());
    Ok(())
}

/// The MTA shares the queue between tasks and moves a message being received into
/// `spawn_blocking`.
#[test]
fn queue_and_incoming_cross_threads() {
    fn shared<T: Send + Sync>() {}
    fn moved<T: Send>() {}
    shared::<Queue>();
    moved::<queue::Incoming>();
}
