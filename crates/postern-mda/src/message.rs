//! One message on its way into the Maildirs of its recipients: streamed into a single `tmp/`
//! file as it arrives, its header section scanned (bounded) for the spam filter's verdict,
//! then linked into every recipient's folder. Blocking disk work: call from a blocking context.

use std::sync::Arc;

use maildir::{Delivered, Delivery, Folder, MailStore, MaildirError};

/// Header bytes looked at for the spam verdict; a longer header section is judged on its
/// first part (spam filters prepend their headers).
const MAX_HEADER_SCAN: usize = 64 * 1024;

/// Where one accepted recipient's copy goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// The address as given in RCPT TO.
    pub address: String,
    /// The canonical user name.
    pub user: String,
    pub store: MailStore,
    /// The `+detail` folder to try, when delivery to detail folders is on.
    pub detail: Option<String>,
    /// The user's Sieve filter, if there is a usable one.
    pub sieve: Option<Arc<sieve::Script>>,
}

/// What happened to one target's copy.
#[derive(Debug)]
pub struct Filed {
    /// The folders it went to (none: a Sieve `discard`).
    pub folders: Vec<String>,
    /// The delivered files, or why the copy could not be made durable.
    pub result: Result<Vec<Delivered>, String>,
}

/// Looks for configured `Name: value` headers in the header section, reading at most
/// [`MAX_HEADER_SCAN`] bytes. A header matches when its name is equal and its value starts
/// with the configured value (both case-insensitive): `X-Spam-Flag: YES` matches
/// `X-Spam-Flag: yes`, and `X-Spam: Yes` matches `X-Spam: Yes, score=7.1`.
#[derive(Debug, Default)]
pub struct HeaderScan {
    buffer: Vec<u8>,
    done: bool,
}

impl HeaderScan {
    pub fn push(&mut self, chunk: &[u8]) {
        if self.done {
            return;
        }
        let room = MAX_HEADER_SCAN.saturating_sub(self.buffer.len());
        self.buffer
            .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if let Some(end) = find_header_end(&self.buffer) {
            self.buffer.truncate(end);
            self.done = true;
        } else if self.buffer.len() >= MAX_HEADER_SCAN {
            self.done = true;
        }
    }

    /// The header section seen (at most [`MAX_HEADER_SCAN`] bytes).
    pub fn block(&self) -> &[u8] {
        &self.buffer
    }

    pub fn matches(&self, wanted: &[(String, String)]) -> bool {
        let text = String::from_utf8_lossy(&self.buffer);
        let mut fields: Vec<String> = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.push_str(line);
                }
            } else {
                fields.push(line.to_string());
            }
        }
        fields.iter().any(|field| {
            let Some((name, value)) = field.split_once(':') else {
                return false;
            };
            let value = value.trim().to_ascii_lowercase();
            wanted.iter().any(|(want_name, want_value)| {
                name.trim().eq_ignore_ascii_case(want_name)
                    && value.starts_with(&want_value.to_ascii_lowercase())
            })
        })
    }
}

fn find_header_end(buffer: &[u8]) -> Option<usize> {
    if buffer.starts_with(b"\r\n") || buffer.starts_with(b"\n") {
        return Some(0);
    }
    let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buffer.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The message being received: one temporary file, or the reason there is none.
#[derive(Debug)]
pub struct IncomingMessage {
    delivery: Result<Delivery, String>,
    pub headers: HeaderScan,
}

impl IncomingMessage {
    /// Creates the temporary file in the INBOX of the first recipient where that works (one
    /// broken mailbox must not fail the others) and writes the trace headers.
    pub fn begin(targets: &[Target], return_path: &str, delivered_to: Option<&str>) -> Self {
        let mut delivery = Err("no recipient".to_string());
        for target in targets {
            let started = (|| {
                let inbox = prepare(&target.store.inbox())?;
                let mut delivery = Delivery::begin(&inbox)?;
                delivery.write_header("Return-Path", return_path)?;
                if let Some(to) = delivered_to {
                    delivery.write_header("Delivered-To", to)?;
                }
                Ok::<_, MaildirError>(delivery)
            })();
            match started {
                Ok(started) => {
                    delivery = Ok(started);
                    break;
                }
                Err(e) => {
                    tracing::warn!(user = %target.user, error = %e, "cannot start delivery");
                    delivery = Err(e.to_string());
                }
            }
        }
        IncomingMessage {
            delivery,
            headers: HeaderScan::default(),
        }
    }

    /// Appends message bytes; after a write error the rest is discarded.
    pub fn write(&mut self, chunk: &[u8]) {
        self.headers.push(chunk);
        if let Ok(delivery) = &mut self.delivery
            && let Err(e) = delivery.write(chunk)
        {
            self.delivery = Err(e.to_string());
        }
    }

    /// Makes the message durable in each target's folders: Junk when `spam`, else where the
    /// target's Sieve filter files it, else the `+detail` folder or INBOX. Results in target
    /// order.
    pub fn commit(self, targets: &[Target], spam: bool, envelope: &Envelope<'_>) -> Vec<Filed> {
        let delivery = match self.delivery {
            Ok(delivery) => delivery,
            Err(reason) => {
                return targets
                    .iter()
                    .map(|_| Filed {
                        folders: vec!["INBOX".into()],
                        result: Err(reason.clone()),
                    })
                    .collect();
            }
        };
        // Each distinct folder once: linking the same name twice into one folder would fail.
        let mut folders: Vec<Folder> = Vec::new();
        let mut chosen: Vec<Result<Vec<(String, usize)>, String>> = Vec::new();
        for target in targets {
            let filing = match choose_folders(target, spam, self.headers.block(), envelope) {
                Ok(filing) => filing,
                Err(e) => {
                    chosen.push(Err(e.to_string()));
                    continue;
                }
            };
            let mut indexes = Vec::new();
            let mut failed = None;
            for folder in filing {
                match prepare(&folder) {
                    Ok(folder) => {
                        let name = folder.name().to_string();
                        let index =
                            folders
                                .iter()
                                .position(|f| f == &folder)
                                .unwrap_or_else(|| {
                                    folders.push(folder);
                                    folders.len() - 1
                                });
                        indexes.push((name, index));
                    }
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            chosen.push(match failed {
                Some(reason) => Err(reason),
                None => Ok(indexes),
            });
        }
        let results = if folders.is_empty() {
            let _ = delivery.abort();
            Vec::new()
        } else {
            match delivery.commit_to(&folders) {
                Ok(results) => results
                    .into_iter()
                    .map(|r| r.map_err(|e| e.to_string()))
                    .collect(),
                Err(e) => folders.iter().map(|_| Err(e.to_string())).collect(),
            }
        };
        chosen
            .into_iter()
            .map(|choice| match choice {
                Ok(indexes) => {
                    let names = indexes.iter().map(|(name, _)| name.clone()).collect();
                    let result = indexes
                        .iter()
                        .map(|(_, index)| {
                            results
                                .get(*index)
                                .cloned()
                                .unwrap_or_else(|| Err("no delivery result".to_string()))
                        })
                        .collect();
                    Filed {
                        folders: names,
                        result,
                    }
                }
                Err(reason) => Filed {
                    folders: vec!["INBOX".into()],
                    result: Err(reason),
                },
            })
            .collect()
    }
}

/// The envelope as Sieve's `envelope` and `size` tests see it.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// MAIL FROM without brackets, "" for `<>`.
    pub from: &'a str,
    /// Octets received.
    pub size: u64,
}

/// Junk for spam (the user's filter is not consulted: a spam verdict is the system's call);
/// else what the Sieve filter says (INBOX for its implicit keep, nothing for `discard`, and
/// INBOX in place of a folder that does not exist unless `:create`, as Dovecot does);
/// without a filter the `+detail` folder if it exists, else INBOX.
fn choose_folders(
    target: &Target,
    spam: bool,
    header_block: &[u8],
    envelope: &Envelope<'_>,
) -> Result<Vec<Folder>, MaildirError> {
    if spam {
        return Ok(vec![target.store.folder("Junk")?]);
    }
    let default = || {
        if let Some(detail) = &target.detail
            && let Ok(folder) = target.store.folder(detail)
            && folder.exists()
        {
            return folder;
        }
        target.store.inbox()
    };
    let Some(script) = &target.sieve else {
        return Ok(vec![default()]);
    };
    let store = &target.store;
    let exists = |name: &str| store.folder(name).is_ok_and(|f| f.exists());
    let mut message = sieve::Message::from_header_block(header_block, envelope.size);
    message.set_envelope_from(envelope.from);
    message.set_envelope_to(&target.address);
    message.set_mailbox_exists(&exists);
    let outcome = script.evaluate(&message);
    if let Some(error) = &outcome.error {
        tracing::warn!(user = %target.user, error = %error, "sieve failed, keeping in INBOX");
    }
    let mut folders: Vec<Folder> = Vec::new();
    for delivery in outcome.deliveries() {
        let folder = match &delivery.mailbox {
            sieve::Mailbox::Inbox => default(),
            sieve::Mailbox::Folder(name) => match store.folder(name) {
                Ok(folder) if folder.exists() || delivery.create => folder,
                Ok(_) => {
                    tracing::info!(user = %target.user, folder = %name, "sieve fileinto a missing folder, keeping in INBOX");
                    store.inbox()
                }
                Err(e) => {
                    tracing::warn!(user = %target.user, folder = %name, error = %e, "sieve fileinto an invalid folder, keeping in INBOX");
                    store.inbox()
                }
            },
        };
        if !folders.contains(&folder) {
            folders.push(folder);
        }
    }
    Ok(folders)
}

/// Creates the folder if missing (stale `tmp/` files are the start-up sweep's job).
fn prepare(folder: &Folder) -> Result<Folder, MaildirError> {
    folder.ensure()?;
    Ok(folder.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spam() -> Vec<(String, String)> {
        vec![
            ("X-Spam".into(), "Yes".into()),
            ("X-Spam-Flag".into(), "YES".into()),
        ]
    }

    fn scan(chunks: &[&[u8]]) -> HeaderScan {
        let mut scan = HeaderScan::default();
        for chunk in chunks {
            scan.push(chunk);
        }
        scan
    }

    #[test]
    fn spam_header_found_across_chunks_and_folded() {
        assert!(scan(&[b"Subject: x\r\nX-Sp", b"am-Flag: yes\r\n\r\nbody"]).matches(&spam()));
        assert!(scan(&[b"X-Spam:\r\n Yes, score=9\r\n\r\n"]).matches(&spam()));
    }

    #[test]
    fn spam_header_in_body_does_not_count() {
        assert!(!scan(&[b"Subject: x\r\n\r\nX-Spam: Yes\r\n"]).matches(&spam()));
        assert!(!scan(&[b"X-Spam: No\r\n\r\n"]).matches(&spam()));
    }
}
