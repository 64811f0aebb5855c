//! One message on its way into the Maildirs of its recipients: streamed into a single `tmp/`
//! file as it arrives, its header section scanned (bounded) for the spam filter's verdict,
//! then linked into every recipient's folder. Blocking disk work: call from a blocking context.

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

    /// Makes the message durable in each target's folder (Junk when `spam`); results in
    /// target order, with the folder name chosen.
    pub fn commit(
        self,
        targets: &[Target],
        spam: bool,
    ) -> Vec<(String, Result<Delivered, String>)> {
        let delivery = match self.delivery {
            Ok(delivery) => delivery,
            Err(reason) => {
                return targets
                    .iter()
                    .map(|_| ("INBOX".to_string(), Err(reason.clone())))
                    .collect();
            }
        };
        // Each distinct folder once: linking the same name twice into one folder would fail.
        let mut folders: Vec<Folder> = Vec::new();
        let mut chosen: Vec<Result<(String, usize), String>> = Vec::new();
        for target in targets {
            let folder = choose_folder(target, spam).and_then(|f| prepare(&f));
            chosen.push(match folder {
                Ok(folder) => {
                    let name = folder.name().to_string();
                    let index = folders
                        .iter()
                        .position(|f| f == &folder)
                        .unwrap_or_else(|| {
                            folders.push(folder);
                            folders.len() - 1
                        });
                    Ok((name, index))
                }
                Err(e) => Err(e.to_string()),
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
                Ok((name, index)) => {
                    let result = results
                        .get(index)
                        .cloned()
                        .unwrap_or_else(|| Err("no delivery result".to_string()));
                    (name, result)
                }
                Err(reason) => ("INBOX".to_string(), Err(reason)),
            })
            .collect()
    }
}

/// Junk for spam; the `+detail` folder if it exists; else INBOX.
fn choose_folder(target: &Target, spam: bool) -> Result<Folder, MaildirError> {
    if spam {
        return target.store.folder("Junk");
    }
    if let Some(detail) = &target.detail
        && let Ok(folder) = target.store.folder(detail)
        && folder.exists()
    {
        return Ok(folder);
    }
    Ok(target.store.inbox())
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
