//! One milter's end of message: its changes up to the final reply, the replacement body
//! spooled on the way, all or nothing.

use milter::Reply;

use super::conn::{Failure, MilterConn};
use super::modify::{self, Modification, ReplacementBody};
use super::spool::{BodySpool, SpoolError};

/// At most this many header and envelope changes per milter and message: enough for any real
/// filter, and a bound on what a broken one can make us hold.
const MAX_CHANGES: usize = 10_000;
/// At most this many bytes of header and envelope changes per milter and message.
const MAX_CHANGE_BYTES: usize = 4 * 1024 * 1024;

/// One milter's answer to end-of-message.
pub(super) struct Changes {
    pub reply: Reply,
    pub modifications: Vec<Modification>,
    pub body: Option<ReplacementBody>,
    pub quarantine: Option<String>,
}

/// Sends the queued end-of-message and reads changes up to the final reply. A milter that
/// fails halfway contributes nothing: its partial changes are dropped.
pub(super) async fn collect_changes(
    conn: &mut MilterConn,
    spool_dir: &std::path::Path,
    max_body: u64,
) -> Result<Changes, Failure> {
    let limit = conn.settings.content_timeout;
    conn.flush(limit).await?;
    let leading_space = conn.session.leading_space();
    let mut modifications = Vec::new();
    let mut change_bytes = 0usize;
    let mut spool: Option<BodySpool> = None;
    let mut quarantine = None;
    loop {
        match conn.next_reply(limit).await? {
            Reply::Quarantine(reason) => {
                if quarantine.is_none() {
                    quarantine = Some(String::from_utf8_lossy(&reason).into_owned());
                }
            }
            Reply::ReplaceBody(chunk) => {
                let body = match &mut spool {
                    Some(body) => body,
                    None => spool.insert(
                        BodySpool::create(spool_dir, max_body)
                            .await
                            .map_err(Failure::Io)?,
                    ),
                };
                body.write(&chunk).await.map_err(spool_failure)?;
            }
            reply if reply.is_final() => {
                let body = match spool {
                    Some(spool) => Some(spool.finish().await.map_err(spool_failure)?),
                    None => None,
                };
                return Ok(Changes {
                    reply,
                    modifications,
                    body,
                    quarantine,
                });
            }
            reply => {
                change_bytes += reply_size(&reply);
                let modification =
                    modify::modification(reply, leading_space).map_err(Failure::Misbehaved)?;
                modifications.push(modification);
                if modifications.len() > MAX_CHANGES || change_bytes > MAX_CHANGE_BYTES {
                    return Err(Failure::Misbehaved("too many changes"));
                }
            }
        }
    }
}

fn spool_failure(error: SpoolError) -> Failure {
    match error {
        SpoolError::TooLarge => Failure::Misbehaved("replacement body exceeds the size limit"),
        SpoolError::Io(error) => Failure::Io(error),
    }
}

/// A modification's size as sent, to bound what one milter makes us hold.
fn reply_size(reply: &Reply) -> usize {
    let mut encoded = Vec::new();
    reply.encode_payload(&mut encoded);
    encoded.len()
}
