//! Queue control: what `postern-mta queue list|show|flush|delete|hold|release` asks for, the
//! one-line request it sends over the control socket, and carrying it out on the queue.
//!
//! The daemon runs [`execute`] with its scheduler, so an operator's change never races a
//! delivery of the same message (both claim the message first). With the daemon stopped,
//! the command opens the queue itself and runs the same code without a scheduler.
//!
//! Wire form: the client writes one line (`LIST`, `SHOW <id>`, `FLUSH [<id>...]`,
//! `DELETE ALL|<id>...`, `HOLD ALL|<id>...`, `RELEASE ALL|<id>...`); the server answers one
//! status line, `OK <summary>` or `ERR <reason>`, then the text to print, and closes.

use std::time::{Duration, Instant};

use queue::{QueueId, RecipientState, Timestamp};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tracing::info;

use crate::queue_view::{self, Entry};
use crate::scheduler::Scheduler;
use crate::spool::Spool;

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;
/// How long a change waits for a delivery of the message to finish.
const CLAIM_WAIT: Duration = Duration::from_secs(10);
/// Largest header section `show` prints.
const SHOW_HEADER_LIMIT: usize = 256 * 1024;

/// Which messages a change applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    All,
    Ids(Vec<QueueId>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    List,
    Show(QueueId),
    /// Try now, deferred recipients included (`postqueue -f`, `-i`).
    Flush(Target),
    /// Remove without a bounce (`postsuper -d`).
    Delete(Target),
    /// Leave alone until released (`postsuper -h`).
    Hold(Target),
    Release(Target),
}

impl Request {
    pub fn parse(line: &str) -> Result<Request, String> {
        let mut words = line.split_ascii_whitespace();
        let verb = words.next().unwrap_or_default().to_ascii_uppercase();
        let rest: Vec<&str> = words.collect();
        let target = |rest: &[&str]| -> Result<Target, String> {
            match rest {
                [] => Err("which messages? give queue ids or ALL".into()),
                [all] if all.eq_ignore_ascii_case("all") => Ok(Target::All),
                ids => ids
                    .iter()
                    .map(|id| id.parse::<QueueId>().map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Target::Ids),
            }
        };
        match (verb.as_str(), rest.as_slice()) {
            ("LIST", []) => Ok(Request::List),
            ("SHOW", [id]) => id.parse().map(Request::Show).map_err(|e| e.to_string()),
            ("SHOW", _) => Err("show takes one queue id".into()),
            ("FLUSH", []) => Ok(Request::Flush(Target::All)),
            ("FLUSH", rest) => target(rest).map(Request::Flush),
            ("DELETE", rest) => target(rest).map(Request::Delete),
            ("HOLD", rest) => target(rest).map(Request::Hold),
            ("RELEASE", rest) => target(rest).map(Request::Release),
            _ => Err(format!("unknown request {line:?}")),
        }
    }

    pub fn to_line(&self) -> String {
        let target = |t: &Target| match t {
            Target::All => "ALL".to_string(),
            Target::Ids(ids) => ids
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        };
        match self {
            Request::List => "LIST".into(),
            Request::Show(id) => format!("SHOW {id}"),
            Request::Flush(t) => format!("FLUSH {}", target(t)),
            Request::Delete(t) => format!("DELETE {}", target(t)),
            Request::Hold(t) => format!("HOLD {}", target(t)),
            Request::Release(t) => format!("RELEASE {}", target(t)),
        }
    }
}

/// What a request produced: a one-line summary and the text to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub summary: String,
    pub text: String,
}

/// Carries out `request` (blocking file I/O). `scheduler` is the running daemon's, `None`
/// when the command works on the queue of a stopped daemon.
pub fn execute(
    request: &Request,
    spool: &Spool,
    scheduler: Option<&Scheduler>,
) -> Result<Done, String> {
    match request {
        Request::List => {
            let mut entries = Vec::new();
            for id in spool.list().map_err(|e| e.to_string())? {
                // A message finishing meanwhile is simply not listed.
                if let Some(entry) = entry(spool, scheduler, id) {
                    entries.push(entry);
                }
            }
            Ok(Done {
                summary: format!("{} messages", entries.len()),
                text: queue_view::list(&entries),
            })
        }
        Request::Show(id) => {
            let entry = entry(spool, scheduler, *id).ok_or_else(|| format!("{id}: not queued"))?;
            let data = spool.open_data(id).map_err(|e| format!("{id}: {e}"))?;
            let header =
                queue_view::header_section(&mut std::io::BufReader::new(data), SHOW_HEADER_LIMIT)
                    .map_err(|e| format!("{id}: {e}"))?;
            Ok(Done {
                summary: id.to_string(),
                text: queue_view::show(&entry, &header),
            })
        }
        Request::Flush(target) => change(spool, scheduler, target, "flushed", |envelope| {
            if envelope.held {
                return Change::Skip;
            }
            let now = Timestamp::now();
            for r in &mut envelope.recipients {
                if let RecipientState::Pending { next_attempt, .. } = &mut r.state {
                    *next_attempt = now;
                }
            }
            Change::Update { wake: true }
        }),
        Request::Delete(target) => change(spool, scheduler, target, "deleted", |_| Change::Remove),
        Request::Hold(target) => change(spool, scheduler, target, "held", |envelope| {
            envelope.held = true;
            Change::Update { wake: false }
        }),
        Request::Release(target) => change(spool, scheduler, target, "released", |envelope| {
            envelope.held = false;
            Change::Update { wake: true }
        }),
    }
}

fn entry(spool: &Spool, scheduler: Option<&Scheduler>, id: QueueId) -> Option<Entry> {
    let envelope = spool.load(&id).ok()?;
    let size = spool
        .open_data(&id)
        .ok()
        .and_then(|f| f.metadata().ok())
        .map_or(0, |m| m.len());
    Some(Entry {
        envelope,
        size,
        active: scheduler.is_some_and(|s| s.is_active(&id)),
    })
}

enum Change {
    Update {
        wake: bool,
    },
    Remove,
    /// Not for this request (a held message is not flushed).
    Skip,
}

/// Applies `edit` to each targeted message while holding its claim; logs each one.
fn change(
    spool: &Spool,
    scheduler: Option<&Scheduler>,
    target: &Target,
    what: &str,
    mut edit: impl FnMut(&mut queue::Envelope) -> Change,
) -> Result<Done, String> {
    let ids = match target {
        Target::All => spool.list().map_err(|e| e.to_string())?,
        Target::Ids(ids) => ids.clone(),
    };
    let mut done = 0usize;
    let mut problems = Vec::new();
    for id in ids {
        if let Some(scheduler) = scheduler
            && !claim(scheduler, id)
        {
            problems.push(format!("{id}: being delivered, try again"));
            continue;
        }
        let result = (|| -> Result<Option<bool>, String> {
            let mut envelope = spool.load(&id).map_err(|_| format!("{id}: not queued"))?;
            match edit(&mut envelope) {
                Change::Skip => Ok(None),
                Change::Remove => {
                    spool.remove(&id).map_err(|e| format!("{id}: {e}"))?;
                    if let Some(s) = scheduler {
                        s.forget(&id);
                    }
                    Ok(Some(false))
                }
                Change::Update { wake } => {
                    spool.update(&envelope).map_err(|e| format!("{id}: {e}"))?;
                    if envelope.held
                        && let Some(s) = scheduler
                    {
                        s.forget(&id);
                    }
                    Ok(Some(wake && !envelope.held))
                }
            }
        })();
        if let Some(s) = scheduler {
            // Woken only once unclaimed, or the queue run would find it busy and wait.
            s.unclaim(&id);
            if result == Ok(Some(true)) {
                s.wake(&id);
            }
        }
        match result {
            Ok(None) => {}
            Ok(Some(_)) => {
                info!(queue_id = %id, "{what} by the operator");
                done += 1;
            }
            Err(e) => problems.push(e),
        }
    }
    let summary = format!("{done} messages {what}");
    if problems.is_empty() || done > 0 {
        let mut text = String::new();
        for p in &problems {
            text.push_str(p);
            text.push('\n');
        }
        Ok(Done { summary, text })
    } else {
        Err(problems.join("; "))
    }
}

fn claim(scheduler: &Scheduler, id: QueueId) -> bool {
    let deadline = Instant::now() + CLAIM_WAIT;
    loop {
        if scheduler.try_claim(id) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Serves one control connection: reads the request, runs it, answers, closes.
pub async fn serve<S>(stream: S, spool: &Spool, scheduler: &Scheduler)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(
        Duration::from_secs(30),
        (&mut reader).take(MAX_REQUEST as u64).read_line(&mut line),
    )
    .await;
    let answer = match read {
        Ok(Ok(_)) if line.ends_with('\n') => match Request::parse(line.trim_end()) {
            Ok(request) => {
                info!(request = %request.to_line(), "queue control");
                tokio::task::block_in_place(|| execute(&request, spool, Some(scheduler)))
            }
            Err(e) => Err(e),
        },
        _ => Err("expected one request line".into()),
    };
    let bytes = match answer {
        Ok(done) => format!("OK {}\n{}", done.summary, done.text),
        Err(reason) => format!("ERR {}\n", reason.replace('\n', " ")),
    };
    let mut stream = reader.into_inner();
    let _ = stream.write_all(bytes.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_say_why() {
        let id: QueueId = "69E2F2E00000A001".parse().unwrap();
        for request in [
            Request::List,
            Request::Show(id),
            Request::Flush(Target::All),
            Request::Delete(Target::Ids(vec![id, id])),
            Request::Hold(Target::All),
            Request::Release(Target::Ids(vec![id])),
        ] {
            assert_eq!(Request::parse(&request.to_line()), Ok(request));
        }
        assert_eq!(Request::parse("flush"), Ok(Request::Flush(Target::All)));
        assert_eq!(
            Request::parse("delete all"),
            Ok(Request::Delete(Target::All))
        );
        assert!(Request::parse("DELETE").unwrap_err().contains("ALL"));
        assert!(
            Request::parse("SHOW nope")
                .unwrap_err()
                .contains("queue id")
        );
        assert!(Request::parse("REBOOT").unwrap_err().contains("unknown"));
        assert!(Request::parse("").is_err());
    }
}
