//! What SORT, THREAD and the SENT* search keys read from a message: the Date header, the
//! sort keys of RFC 5256 and RFC 5957, and the message ids that link threads.

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

use crate::address::{self, Mailbox};
use crate::header;
use crate::{MessageView, subject};

/// The SORT keys of one message (RFC 5256, RFC 5957 DISPLAY). Strings are lowercased so they
/// compare as the RFC's case-insensitive collation wants; each comes from the first occurrence
/// of its header field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortFields {
    /// [`crate::base_subject`] of the Subject.
    pub base_subject: String,
    /// Whether the Subject was a reply or forward (for [`crate::thread_references_replies`]).
    pub subject_is_reply: bool,
    /// addr-mailbox (local part) of the first From address.
    pub from: String,
    /// addr-mailbox of the first To address.
    pub to: String,
    /// addr-mailbox of the first Cc address.
    pub cc: String,
    /// RFC 5957: decoded display name of the first From address, or else its addr-spec.
    pub display_from: String,
    /// The same for To.
    pub display_to: String,
    /// The Date header as unix seconds.
    pub sent_date: Option<i64>,
}

/// The ids THREAD=REFERENCES links messages by, without the angle brackets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ThreadIds {
    pub message_id: Option<String>,
    /// The first id in In-Reply-To.
    pub in_reply_to: Option<String>,
    /// The ids in References, in order.
    pub references: Vec<String>,
}

impl MessageView<'_> {
    /// First value of a top-level header field.
    fn first_value(&self, name: &str) -> Option<&[u8]> {
        let fields = self
            .tree
            .get(0)
            .map(|p| p.fields.as_slice())
            .unwrap_or_default();
        header::first(self.raw, fields, name).map(|f| header::slice(self.raw, f.value.clone()))
    }

    /// The Date header as unix seconds (UTC), and the calendar date in the header's own time
    /// zone (SENTON/SENTBEFORE/SENTSINCE compare dates "disregarding time and timezone").
    pub fn sent_date(&self) -> Option<(i64, (u16, u8, u8))> {
        let value = header::with_crlf(self.first_value("Date")?);
        match MessageStream::new(&value).parse_date() {
            HeaderValue::DateTime(dt) if dt.is_valid() => {
                Some((dt.to_timestamp(), (dt.year, dt.month, dt.day)))
            }
            _ => None,
        }
    }

    pub fn sort_fields(&self) -> SortFields {
        let (base_subject, subject_is_reply) = self
            .first_value("Subject")
            .map(|v| subject::base_subject_and_reply(&String::from_utf8_lossy(v)))
            .unwrap_or_default();
        let first = |name: &str| -> Option<Mailbox> {
            let items = address::parse_list(self.first_value(name)?);
            address::first_mailbox(&items).cloned()
        };
        let from = first("From");
        let to = first("To");
        let cc = first("Cc");
        SortFields {
            base_subject,
            subject_is_reply,
            from: from.as_ref().map(addr_mailbox).unwrap_or_default(),
            to: to.as_ref().map(addr_mailbox).unwrap_or_default(),
            cc: cc.as_ref().map(addr_mailbox).unwrap_or_default(),
            display_from: from.as_ref().map(display).unwrap_or_default(),
            display_to: to.as_ref().map(display).unwrap_or_default(),
            sent_date: self.sent_date().map(|(t, _)| t),
        }
    }

    pub fn thread_ids(&self) -> ThreadIds {
        let ids = |name: &str| self.first_value(name).map(message_ids).unwrap_or_default();
        ThreadIds {
            message_id: ids("Message-ID").into_iter().next(),
            in_reply_to: ids("In-Reply-To").into_iter().next(),
            references: ids("References"),
        }
    }
}

/// Fill-ins for missing parts (see the address module) are not real addresses: they sort as
/// empty.
fn real(part: &[u8]) -> &[u8] {
    match part {
        b"MISSING_MAILBOX" | b"MISSING_DOMAIN" | b"SYNTAX_ERROR" => b"",
        p => p,
    }
}

fn addr_mailbox(m: &Mailbox) -> String {
    String::from_utf8_lossy(real(&m.local)).to_lowercase()
}

fn display(m: &Mailbox) -> String {
    let name = m
        .name
        .as_deref()
        .map(|n| header::decode_text(n).trim().to_owned())
        .filter(|n| !n.is_empty());
    match name {
        Some(name) => name.to_lowercase(),
        None => {
            let (local, domain) = (real(&m.local), real(&m.domain));
            let spec = if domain.is_empty() {
                String::from_utf8_lossy(local).into_owned()
            } else {
                format!(
                    "{}@{}",
                    String::from_utf8_lossy(local),
                    String::from_utf8_lossy(domain)
                )
            };
            spec.to_lowercase()
        }
    }
}

/// The `<id>`s of a Message-ID/In-Reply-To/References value, brackets and blanks removed;
/// comments and quoted phrases (In-Reply-To may carry them) are skipped.
pub(crate) fn message_ids(value: &[u8]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut i = 0;
    let mut comment = 0usize;
    let mut quoted = false;
    while let Some(&b) = value.get(i) {
        i += 1;
        match b {
            b'\\' if comment > 0 || quoted => i += 1,
            b'"' if comment == 0 => quoted = !quoted,
            b'(' if !quoted => comment += 1,
            b')' if !quoted && comment > 0 => comment -= 1,
            b'<' if comment == 0 && !quoted => {
                let rest = value.get(i..).unwrap_or_default();
                let Some(end) = rest.iter().position(|&c| c == b'>' || c == b'<') else {
                    break;
                };
                if rest.get(end) == Some(&b'>') {
                    let id: Vec<u8> = rest
                        .get(..end)
                        .unwrap_or_default()
                        .iter()
                        .copied()
                        .filter(|c| !c.is_ascii_whitespace())
                        .collect();
                    if !id.is_empty() {
                        ids.push(String::from_utf8_lossy(&id).into_owned());
                    }
                    i += end + 1;
                } else {
                    i += end;
                }
            }
            _ => {}
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_extracted() {
        assert_eq!(
            message_ids(b" <a@b> (c <x@y>)\r\n <c@d>  \"<q@q>\" <e\r\n @f>"),
            vec!["a@b", "c@d", "e@f"]
        );
        assert_eq!(message_ids(b" <<a@b>"), vec!["a@b"]);
        assert!(message_ids(b" <> <unterminated").is_empty());
    }
}
