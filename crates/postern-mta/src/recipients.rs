//! Whether a local recipient exists, asked of the LMTP server itself (postern-mda or
//! Dovecot) with `MAIL FROM:<>` / `RCPT TO:<x>` / `RSET`, so unknown users are refused at
//! RCPT time and never bounced later (Postfix does the same with
//! `reject_unverified_recipient` or a recipient table). Answers are cached briefly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use runtime::listen::{ListenAddress, Stream};
use smtp::client::ReplyParser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::LmtpSettings;

/// How long an answer is trusted. Short: a new user should receive mail within a minute.
const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The answer for one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Exists,
    /// Refused permanently, with the server's reply (550 5.1.1 unknown user, 552 5.2.2 over
    /// quota...).
    Refused(smtp::Reply),
    /// Could not be decided now (server down, 4xx).
    TempFail(String),
}

/// The recipient check and its cache.
#[derive(Debug)]
pub struct RecipientCheck {
    destination: ListenAddress,
    enabled: bool,
    cache: Mutex<HashMap<String, (Instant, Verdict)>>,
    /// One connection for probes, reused; `None` when closed.
    connection: tokio::sync::Mutex<Option<Probe>>,
}

#[derive(Debug)]
struct Probe {
    stream: Stream,
    replies: ReplyParser,
}

impl RecipientCheck {
    pub fn new(settings: &LmtpSettings) -> Self {
        RecipientCheck {
            destination: settings.destination.clone(),
            enabled: settings.verify_recipients,
            cache: Mutex::new(HashMap::new()),
            connection: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether `address` (a local address after alias expansion) is deliverable.
    pub async fn check(&self, address: &str) -> Verdict {
        if !self.enabled {
            return Verdict::Exists;
        }
        let key = address.to_lowercase();
        if let Ok(cache) = self.cache.lock()
            && let Some((at, verdict)) = cache.get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return verdict.clone();
        }
        let mut slot = self.connection.lock().await;
        let verdict = match self.ask(&mut slot, address).await {
            Ok(verdict) => verdict,
            // A connection kept from earlier may have been closed by the server: retry once.
            Err(_) => {
                *slot = None;
                self.ask(&mut slot, address)
                    .await
                    .unwrap_or_else(Verdict::TempFail)
            }
        };
        if !matches!(verdict, Verdict::TempFail(_))
            && let Ok(mut cache) = self.cache.lock()
        {
            if cache.len() >= CACHE_MAX {
                cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(key, (Instant::now(), verdict.clone()));
        }
        verdict
    }

    async fn ask(&self, slot: &mut Option<Probe>, address: &str) -> Result<Verdict, String> {
        if slot.is_none() {
            *slot = Some(Probe::connect(&self.destination).await?);
        }
        let Some(probe) = slot.as_mut() else {
            return Err("no connection".into());
        };
        let result = probe.rcpt(address).await;
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

impl Probe {
    async fn connect(address: &ListenAddress) -> Result<Probe, String> {
        let stream = runtime::listen::connect(address, PROBE_TIMEOUT)
            .await
            .map_err(|e| format!("LMTP server {address}: {e}"))?;
        let mut probe = Probe {
            stream,
            replies: ReplyParser::new(
                smtp::client::DEFAULT_MAX_LINE,
                smtp::client::DEFAULT_MAX_LINES,
            ),
        };
        let greeting = probe.reply().await?;
        if greeting.code != 220 {
            return Err(format!("LMTP greeting: {}", greeting.code));
        }
        probe.send(b"LHLO recipient-check\r\n").await?;
        let lhlo = probe.reply().await?;
        if !lhlo.is_success() {
            return Err(format!("LHLO refused: {}", lhlo.code));
        }
        Ok(probe)
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| e.to_string())
    }

    async fn reply(&mut self) -> Result<smtp::Reply, String> {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(reply) = self.replies.next_reply().map_err(|e| e.to_string())? {
                return Ok(reply);
            }
            let n = tokio::time::timeout(PROBE_TIMEOUT, self.stream.read(&mut buffer))
                .await
                .map_err(|_| "LMTP server timed out".to_string())?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("LMTP server closed the connection".into());
            }
            self.replies.push(buffer.get(..n).unwrap_or_default());
        }
    }

    async fn rcpt(&mut self, address: &str) -> Result<Verdict, String> {
        if address.contains(['\r', '\n', '<', '>']) {
            return Ok(Verdict::Refused(smtp::Reply::unknown_user()));
        }
        self.send(format!("MAIL FROM:<>\r\nRCPT TO:<{address}>\r\nRSET\r\n").as_bytes())
            .await?;
        let mail = self.reply().await?;
        let rcpt = self.reply().await?;
        let rset = self.reply().await?;
        if !rset.is_success() {
            return Err(format!("RSET refused: {}", rset.code));
        }
        let text = || {
            String::from_utf8_lossy(&rcpt.to_bytes())
                .trim_end()
                .to_string()
        };
        Ok(if !mail.is_success() {
            Verdict::TempFail(format!("MAIL FROM:<> refused: {}", mail.code))
        } else if rcpt.is_success() {
            Verdict::Exists
        } else if rcpt.is_permanent() {
            Verdict::Refused(rcpt)
        } else {
            Verdict::TempFail(text())
        })
    }
}
