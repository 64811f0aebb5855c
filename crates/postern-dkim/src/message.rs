//! One message's trip through the milter: decide at MAIL whether the sender qualifies, at the
//! end of headers which keys apply, hash the body as it streams, sign at end of message.
//! No I/O here: the connection feeds events in and sends the returned replies.

use std::sync::Arc;

use dkim::{BodyHasher, SignatureTemplate};
use milter::Reply;

use crate::config::{Config, DomainKey, OnError};
use crate::from_address::author_address;
use crate::policy::{Origin, SignReason, sign_reason};

/// What the connection should do after an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Reply CONTINUE (when the MTA expects a reply).
    Continue,
    /// Reply ACCEPT: nothing to do for this message, skip the rest of it.
    Accept,
    /// End of message: the modifications to send, then the final reply.
    Finish {
        modifications: Vec<Reply>,
        verdict: Reply,
    },
}

/// Why a message passes unsigned or what went wrong: one log line each.
#[derive(Debug, PartialEq, Eq)]
pub enum Note {
    Unsigned(String),
    Signed {
        domain: String,
        selector: String,
        algorithm: String,
    },
    Failed(String),
}

/// Signing state of the message in progress.
#[derive(Debug)]
pub struct MessageSigner {
    config: Arc<Config>,
    reason: Option<SignReason>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    header_bytes: usize,
    header_overflow: bool,
    keys: Vec<Arc<DomainKey>>,
    body: Option<BodyHasher>,
    notes: Vec<Note>,
}

impl MessageSigner {
    /// Starts a message at MAIL FROM with the configuration in force now.
    pub fn start(config: Arc<Config>, origin: &Origin) -> (MessageSigner, Outcome) {
        let reason = sign_reason(&config.signing, origin);
        let mut signer = MessageSigner {
            config,
            reason,
            headers: Vec::new(),
            header_bytes: 0,
            header_overflow: false,
            keys: Vec::new(),
            body: None,
            notes: Vec::new(),
        };
        if signer.reason.is_none() {
            signer.notes.push(Note::Unsigned(
                "not authenticated, not an originating daemon, not from an internal network".into(),
            ));
            return (signer, Outcome::Accept);
        }
        (signer, Outcome::Continue)
    }

    pub fn reason(&self) -> Option<&SignReason> {
        self.reason.as_ref()
    }

    /// Log lines gathered since the last call.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// A header as the MTA sent it; `value` must already have CRLF folding and its leading
    /// whitespace. Bounded: past `max_header_bytes` the message is marked unsignable.
    pub fn header(&mut self, name: Vec<u8>, value: Vec<u8>) {
        if self.header_overflow {
            return;
        }
        self.header_bytes = self
            .header_bytes
            .saturating_add(name.len() + value.len() + 3);
        if self.header_bytes > self.config.signing.max_header_bytes {
            self.header_overflow = true;
            self.headers = Vec::new();
            return;
        }
        self.headers.push((name, value));
    }

    /// End of headers: pick the keys from the From address.
    pub fn end_of_headers(&mut self) -> Outcome {
        if self.header_overflow {
            // Decided at end of message, where the error policy can answer.
            return Outcome::Continue;
        }
        let froms: Vec<&[u8]> = self
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(b"from"))
            .map(|(_, value)| value.as_slice())
            .collect();
        let author = match froms.as_slice() {
            [value] => author_address(value),
            [] => {
                self.notes.push(Note::Unsigned("no From header".into()));
                return Outcome::Accept;
            }
            _ => {
                self.notes
                    .push(Note::Unsigned(format!("{} From headers", froms.len())));
                return Outcome::Accept;
            }
        };
        let Some(author) = author else {
            self.notes
                .push(Note::Unsigned("no address in the From header".into()));
            return Outcome::Accept;
        };
        let Some(keys) = self.config.signing.table.lookup(&author) else {
            self.notes.push(Note::Unsigned(format!(
                "no signing-table entry for {author}"
            )));
            return Outcome::Accept;
        };
        let existing: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(b"dkim-signature"))
            .filter_map(|(_, value)| dkim::existing_signature_ids(value))
            .collect();
        self.keys = keys
            .iter()
            .filter(|key| {
                !existing
                    .iter()
                    .any(|(d, s)| *d == key.domain && s.eq_ignore_ascii_case(&key.selector))
            })
            .cloned()
            .collect();
        if self.keys.is_empty() {
            self.notes.push(Note::Unsigned(format!(
                "already signed for {author}'s keys"
            )));
            return Outcome::Accept;
        }
        self.body = Some(BodyHasher::new(self.config.signing.canonicalization.body));
        Outcome::Continue
    }

    /// A body chunk (CRLF line ends).
    pub fn body(&mut self, chunk: &[u8]) {
        if let Some(hasher) = &mut self.body {
            hasher.update(chunk);
        }
    }

    /// End of message: sign with every chosen key. `leading_space` says whether the MTA keeps
    /// header values verbatim (SMFIP_HDR_LEADSPC) or adds the space after the colon itself.
    pub fn end_of_message(&mut self, now_unix: u64, leading_space: bool) -> Outcome {
        if self.header_overflow {
            return self.fail(format!(
                "headers larger than {} bytes",
                self.config.signing.max_header_bytes
            ));
        }
        let Some(hasher) = self.body.take() else {
            return Outcome::Continue;
        };
        let body_hash = hasher.finish();
        let settings = &self.config.signing;
        let header_refs: Vec<(&[u8], &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        let mut modifications = Vec::with_capacity(self.keys.len());
        let mut signed = Vec::new();
        for key in &self.keys {
            let template = SignatureTemplate {
                domain: key.domain.clone(),
                selector: key.selector.clone(),
                canonicalization: settings.canonicalization,
                headers: settings.headers.clone(),
                oversign: settings.oversign.clone(),
                identity: None,
                expire_after: settings.expire_after,
            };
            match dkim::sign(&key.key, &template, &header_refs, &body_hash, now_unix) {
                Ok(signature) => {
                    modifications.push(Reply::InsertHeader {
                        index: 0,
                        name: signature.name.as_bytes().to_vec(),
                        value: to_mta_header_value(&signature.value, leading_space),
                    });
                    signed.push(Note::Signed {
                        domain: key.domain.clone(),
                        selector: key.selector.clone(),
                        algorithm: key.key.algorithm().to_string(),
                    });
                }
                Err(e) => {
                    return self.fail(format!(
                        "signing with key {} (d={} s={}): {e}",
                        key.name, key.domain, key.selector
                    ));
                }
            }
        }
        self.notes.extend(signed);
        Outcome::Finish {
            modifications,
            verdict: Reply::Continue,
        }
    }

    fn fail(&mut self, why: String) -> Outcome {
        self.notes.push(Note::Failed(why));
        let verdict = match self.config.signing.on_error {
            OnError::TempFail => Reply::TempFail,
            OnError::Accept => Reply::Continue,
            OnError::Reject => Reply::Reject,
        };
        Outcome::Finish {
            modifications: Vec::new(),
            verdict,
        }
    }
}

/// A header value from the MTA (bare-LF folding, leading space only with HDR_LEADSPC) in the
/// form the signer hashes: CRLF folding, leading whitespace present.
pub fn from_mta_header_value(value: &[u8], leading_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 8);
    if !leading_space && !value.is_empty() {
        out.push(b' ');
    }
    let mut previous = 0u8;
    for &byte in value {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        previous = byte;
    }
    out
}

/// Our signature value in the form the MTA stores: LF folding (Postfix writes its own line
/// ends on output), and without the leading space unless HDR_LEADSPC was negotiated.
pub fn to_mta_header_value(value: &str, leading_space: bool) -> Vec<u8> {
    let unfolded = value.replace("\r\n", "\n");
    let text = if leading_space {
        unfolded.as_str()
    } else {
        unfolded.strip_prefix(' ').unwrap_or(&unfolded)
    };
    text.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_round_trip_between_mta_and_signer_forms() {
        assert_eq!(from_mta_header_value(b" a\n\tb", true), b" a\r\n\tb");
        assert_eq!(from_mta_header_value(b"a\n\tb", false), b" a\r\n\tb");
        assert_eq!(from_mta_header_value(b" a\r\n\tb", true), b" a\r\n\tb");
        assert_eq!(to_mta_header_value(" v=1;\r\n\tb=x", true), b" v=1;\n\tb=x");
        assert_eq!(to_mta_header_value(" v=1;\r\n\tb=x", false), b"v=1;\n\tb=x");
    }
}
