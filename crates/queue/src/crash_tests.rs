//! A crash at every step of a commit or an update, simulated by stopping there and leaving
//! the files as they are, then reopening: either the message is fully queued (envelope and
//! complete data) or not at all, and `open` leaves nothing behind.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::envelope::{MailParams, NewEnvelope, NewRecipient, Origin};
use crate::incoming::CommitStep;
use crate::queue::Queue;
use crate::time::Timestamp;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn new_envelope() -> NewEnvelope {
    NewEnvelope {
        arrival: Timestamp::from_unix(1_774_432_800),
        sender: "alice@example.net".into(),
        params: MailParams::default(),
        origin: Origin {
            listener: "smtp".into(),
            protocol: "ESMTP".into(),
            ..Origin::default()
        },
        held: false,
        recipients: vec![
            NewRecipient::new("bob@example.org"),
            NewRecipient::new("carol@example.org"),
        ],
    }
}

fn message() -> Vec<u8> {
    let mut m = b"From: alice@example.net\r\nSubject: crash\r\n\r\n".to_vec();
    for i in 0..20_000 {
        m.extend_from_slice(format!("line {i}\r\n").as_bytes());
    }
    m
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

#[test]
fn a_commit_stopped_at_any_step_is_all_or_nothing() -> TestResult {
    let msg = message();
    let steps = [
        None,
        Some(CommitStep::EnvelopeWritten),
        Some(CommitStep::DataSynced),
        Some(CommitStep::DataDirSynced),
        Some(CommitStep::Renamed),
        Some(CommitStep::Done),
    ];
    for step in steps {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("queue");
        let id = {
            let (queue, _) = Queue::open(&root)?;
            let mut incoming = queue.receive(&new_envelope())?;
            let (first, rest) = msg.split_at(msg.len() / 2);
            incoming.write_all(first)?;
            match step {
                // Died while DATA was still arriving: part of it in the file, part buffered.
                None => {
                    incoming.write_all(&rest[..1000])?;
                    incoming.flush()?;
                    let id = incoming.id();
                    crate::incoming::tests_abandon(incoming);
                    id
                }
                Some(step) => {
                    incoming.write_all(rest)?;
                    incoming.commit_until(step)?
                }
            }
        };
        let committed = matches!(step, Some(CommitStep::Renamed | CommitStep::Done));
        let (queue, recovery) = Queue::open(&root)?;
        assert!(names(&root.join("tmp")).is_empty(), "{step:?}");
        assert!(recovery.corrupt.is_empty(), "{step:?}");
        if committed {
            assert_eq!(queue.list()?, [id], "{step:?}");
            assert_eq!(recovery.queued, 1);
            assert_eq!(recovery.orphan_data_removed, 0);
            assert_eq!(fs::read(root.join("data").join(id.to_string()))?, msg);
            let env = queue.load(id)?;
            assert_eq!(env.recipients.len(), 2);
        } else {
            assert!(queue.list()?.is_empty(), "{step:?}");
            assert!(names(&root.join("data")).is_empty(), "{step:?}");
            assert!(names(&root.join("env")).is_empty(), "{step:?}");
            assert_eq!(recovery.queued, 0);
            assert_eq!(recovery.orphan_data_removed, 1, "{step:?}");
            let tmp_expected = usize::from(matches!(
                step,
                Some(
                    CommitStep::EnvelopeWritten
                        | CommitStep::DataSynced
                        | CommitStep::DataDirSynced
                )
            ));
            assert_eq!(recovery.tmp_removed, tmp_expected, "{step:?}");
        }
    }
    Ok(())
}

#[test]
fn an_update_stopped_before_its_rename_keeps_the_old_envelope() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("queue");
    let (id, old) = {
        let (queue, _) = Queue::open(&root)?;
        let mut incoming = queue.receive(&new_envelope())?;
        incoming.write_all(&message())?;
        let id = incoming.commit()?;
        let old = queue.load(id)?;
        let mut new = old.clone();
        new.held = true;
        // The first half of update: the new envelope is in tmp/, fsynced, never renamed.
        let text = crate::format::to_text(&new)?;
        queue.inner_for_tests().write_tmp_envelope(id, &text)?;
        (id, old)
    };
    let (queue, recovery) = Queue::open(&root)?;
    assert_eq!(recovery.tmp_removed, 1);
    assert_eq!(queue.load(id)?, old);
    Ok(())
}
