//! Delivery status notifications (RFC 3464) to the sender: a failure notice (bounce) for
//! recipients that failed or expired, and a "delayed" warning for recipients still pending.
//!
//! The notice is `multipart/report; report-type=delivery-status` with a human-readable part
//! naming each recipient and the remote reply, a `message/delivery-status` part, and the
//! original message's header section as `text/rfc822-headers` (RFC 6522). Only the header
//! section is read from the data file, at most [`MAX_RETURNED_HEADERS`] bytes; the body is
//! never returned, whatever `RET=` asked for, so a notice stays small whatever the message.
//!
//! A message with the null sender gets no notice: bounces are never bounced. The notice
//! itself is sent with the null sender, From `MAILER-DAEMON@<hostname>`.
//!
//! The caller queues the notice (`Queue::receive` with [`Notice::new_envelope`]), and only
//! then marks the recipients ([`Notice::mark_sent`]) and updates the original's envelope: a
//! crash in between sends the notice twice rather than never.

use std::io::{self, BufRead, BufReader, Read};

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

use crate::envelope::{
    Body, Envelope, MailParams, NewEnvelope, NewRecipient, Origin, Recipient, RecipientState,
};
use crate::time::Timestamp;

/// The most of the original header section a notice returns; longer header sections are cut
/// at a line boundary.
pub const MAX_RETURNED_HEADERS: u64 = 64 * 1024;

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Delivery failed for good (`Action: failed`).
    Failure,
    /// Delivery is late and still being tried (`Action: delayed`).
    Delay,
}

/// A notice ready to be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Failure or delay.
    pub kind: NoticeKind,
    /// Where it goes: the original message's sender.
    pub to: String,
    /// Indices of the original envelope's recipients it reports on.
    pub recipients: Vec<usize>,
    /// The message, CRLF line ends, ready for `Incoming`.
    pub message: Vec<u8>,
    /// It contains 8-bit text: send with `BODY=8BITMIME`.
    pub eight_bit: bool,
    /// It needs `SMTPUTF8` (UTF-8 addresses).
    pub smtputf8: bool,
}

impl Notice {
    /// Records on the original envelope that the reported recipients were told, so they are
    /// not told again. Call after the notice is committed to the queue.
    pub fn mark_sent(&self, envelope: &mut Envelope) {
        for &i in &self.recipients {
            if let Some(r) = envelope.recipients.get_mut(i) {
                match self.kind {
                    NoticeKind::Failure => r.bounce_sent = true,
                    NoticeKind::Delay => r.delay_sent = true,
                }
            }
        }
    }

    /// The envelope to queue the notice with: null sender, the original sender as the one
    /// recipient, origin listener `dsn`.
    pub fn new_envelope(&self, now: Timestamp) -> NewEnvelope {
        NewEnvelope {
            arrival: now,
            sender: String::new(),
            params: MailParams {
                size: Some(self.message.len() as u64),
                body: self.eight_bit.then_some(Body::EightBitMime),
                smtputf8: self.smtputf8,
                ret: None,
                envid: None,
            },
            origin: Origin {
                listener: "dsn".into(),
                protocol: "LOCAL".into(),
                ..Origin::default()
            },
            held: false,
            recipients: vec![NewRecipient::new(self.to.clone())],
        }
    }
}

/// A failure notice for the recipients that failed (or expired) and whose sender wants to
/// know (`NOTIFY` absent or with `FAILURE`) and was not told yet. `None` when there is nobody
/// to report, or the sender is null. `message` is the queued data (from `Queue::open_data`).
pub fn failure_notice(
    envelope: &Envelope,
    message: impl Read,
    hostname: &str,
    now: Timestamp,
) -> io::Result<Option<Notice>> {
    let reported: Vec<usize> = (0..envelope.recipients.len())
        .filter(|&i| {
            envelope
                .recipients
                .get(i)
                .is_some_and(|r| envelope.needs_bounce(r))
        })
        .collect();
    build(
        NoticeKind::Failure,
        envelope,
        reported,
        message,
        hostname,
        now,
        None,
    )
}

/// A delay notice for the pending recipients whose sender wants to know (`NOTIFY` absent or
/// with `DELAY`) and was not told yet; `retry_until` is when the queue gives up
/// (`RetryPolicy::retry_until`). `None` when there is nobody to report, or the sender is null.
pub fn delay_notice(
    envelope: &Envelope,
    message: impl Read,
    hostname: &str,
    now: Timestamp,
    retry_until: Timestamp,
) -> io::Result<Option<Notice>> {
    let reported: Vec<usize> = (0..envelope.recipients.len())
        .filter(|&i| {
            envelope
                .recipients
                .get(i)
                .is_some_and(|r| envelope.needs_delay_notice(r))
        })
        .collect();
    build(
        NoticeKind::Delay,
        envelope,
        reported,
        message,
        hostname,
        now,
        Some(retry_until),
    )
}

fn build(
    kind: NoticeKind,
    envelope: &Envelope,
    reported: Vec<usize>,
    message: impl Read,
    hostname: &str,
    now: Timestamp,
    retry_until: Option<Timestamp>,
) -> io::Result<Option<Notice>> {
    if envelope.is_null_sender() || reported.is_empty() {
        return Ok(None);
    }
    let recipients: Vec<&Recipient> = reported
        .iter()
        .filter_map(|&i| envelope.recipients.get(i))
        .collect();
    let headers = read_header_section(message, MAX_RETURNED_HEADERS)?;
    let headers_ascii = headers.is_ascii();
    // UTF-8 addresses need the RFC 6533 report type and address type.
    let global = recipients
        .iter()
        .any(|r| !r.address.is_ascii() || r.orcpt.as_ref().is_some_and(|o| !o.address.is_ascii()));
    let to = one_line(&envelope.sender);
    let utf8_headers = envelope.params.smtputf8 && !headers_ascii;

    let human = human_text(kind, envelope, &recipients, hostname, retry_until);
    let status = status_fields(kind, envelope, &recipients, hostname, global, retry_until);
    let (status_type, headers_type) = (
        if global {
            "message/global-delivery-status"
        } else {
            "message/delivery-status"
        },
        if utf8_headers {
            "message/global-headers"
        } else {
            "text/rfc822-headers"
        },
    );
    let cte = |ascii: bool| if ascii { "7bit" } else { "8bit" };
    let report = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            MimePart::new("text/plain", BodyPart::Text(human.into())),
            MimePart::new(
                ContentType::new(status_type),
                BodyPart::Binary(status.into_bytes().into()),
            )
            .transfer_encoding(cte(!global)),
            MimePart::new(
                ContentType::new(headers_type),
                BodyPart::Binary(headers.into()),
            )
            .transfer_encoding(cte(headers_ascii)),
        ],
    );
    let (subject, tag) = match kind {
        NoticeKind::Failure => ("Undelivered mail returned to sender", "F"),
        NoticeKind::Delay => ("Delayed mail (still being retried)", "D"),
    };
    let message = MessageBuilder::new()
        .from(Address::new_address(
            Some("Mail Delivery System"),
            format!("MAILER-DAEMON@{hostname}"),
        ))
        .to(Address::new_address(None::<&str>, to.clone()))
        .subject(subject)
        .date(Date::new(i64::try_from(now.unix()).unwrap_or(i64::MAX)))
        .message_id(format!("{}.{tag}{}@{hostname}", envelope.id, now.unix()))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(report)
        .write_to_vec()?;
    Ok(Some(Notice {
        kind,
        smtputf8: !to.is_ascii() || global || utf8_headers,
        eight_bit: global || !headers_ascii,
        to,
        recipients: reported,
        message,
    }))
}

fn human_text(
    kind: NoticeKind,
    envelope: &Envelope,
    recipients: &[&Recipient],
    hostname: &str,
    retry_until: Option<Timestamp>,
) -> String {
    let mut text = format!("This is the mail system at {hostname}.\r\n\r\n");
    match kind {
        NoticeKind::Failure => text.push_str(
            "Your message could not be delivered to the recipients below.\r\n\
             The mail system has given up on them; this is final.\r\n",
        ),
        NoticeKind::Delay => {
            text.push_str(
                "Your message has not yet been delivered to the recipients below.\r\n\
                 This is only a warning: the mail system keeps trying",
            );
            if let Some(until) = retry_until {
                text.push_str(&format!("\r\nuntil {}", rfc822_date(until)));
            }
            text.push_str(".\r\nYou do not need to send the message again.\r\n");
        }
    }
    text.push_str(&format!(
        "\r\nQueue id {}, received {}.\r\n\r\n",
        envelope.id,
        rfc822_date(envelope.arrival)
    ));
    for r in recipients {
        let reason = match &r.state {
            RecipientState::Failed {
                reply,
                expired: true,
                ..
            } => format!("delivery time expired; last error: {reply}"),
            RecipientState::Failed { reply, .. } => reply.clone(),
            RecipientState::Pending {
                last_reply: Some(reply),
                ..
            } => reply.clone(),
            RecipientState::Pending { .. } => "not attempted yet".into(),
            RecipientState::Delivered { reply, .. } => reply.clone(),
        };
        text.push_str(&format!(
            "<{}>: {}\r\n",
            one_line(&r.address),
            one_line(&reason)
        ));
    }
    text.push_str("\r\nThe headers of your message are attached.\r\n");
    text
}

/// The `message/delivery-status` body: per-message fields, then one group per recipient.
fn status_fields(
    kind: NoticeKind,
    envelope: &Envelope,
    recipients: &[&Recipient],
    hostname: &str,
    global: bool,
    retry_until: Option<Timestamp>,
) -> String {
    let value = |s: &str| field_value(s, global);
    let mut out = format!("Reporting-MTA: dns; {hostname}\r\n");
    out.push_str(&format!("X-Postern-Queue-ID: {}\r\n", envelope.id));
    if let Some(envid) = &envelope.params.envid {
        out.push_str(&format!(
            "Original-Envelope-Id: {}\r\n",
            field_value(envid, false)
        ));
    }
    out.push_str(&format!(
        "Arrival-Date: {}\r\n",
        rfc822_date(envelope.arrival)
    ));
    for r in recipients {
        out.push_str("\r\n");
        let addr_type = if r.address.is_ascii() {
            "rfc822"
        } else {
            "utf-8"
        };
        out.push_str(&format!(
            "Final-Recipient: {addr_type}; {}\r\n",
            value(&r.address)
        ));
        if let Some(o) = &r.orcpt {
            out.push_str(&format!(
                "Original-Recipient: {}; {}\r\n",
                field_value(&o.addr_type, false),
                value(&o.address)
            ));
        }
        let (action, reply, at, expired) = match &r.state {
            // An expiry's time is not an attempt's.
            RecipientState::Failed { at, reply, expired } => (
                "failed",
                Some(reply.as_str()),
                (!*expired).then_some(*at),
                *expired,
            ),
            RecipientState::Pending { last_reply, .. } => {
                ("delayed", last_reply.as_deref(), None, false)
            }
            RecipientState::Delivered { at, reply } => {
                ("delivered", Some(reply.as_str()), Some(*at), false)
            }
        };
        out.push_str(&format!("Action: {action}\r\n"));
        out.push_str(&format!(
            "Status: {}\r\n",
            status_code(action, reply, expired)
        ));
        if let Some(reply) = reply.filter(|r| smtp_code(r).is_some()) {
            out.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", value(reply)));
        }
        if let Some(at) = at {
            out.push_str(&format!("Last-Attempt-Date: {}\r\n", rfc822_date(at)));
        }
        if let (NoticeKind::Delay, Some(until)) = (kind, retry_until) {
            out.push_str(&format!("Will-Retry-Until: {}\r\n", rfc822_date(until)));
        }
    }
    out
}

/// The RFC 3463 status for the report: the reply's enhanced code when it has the right
/// class, else one that fits the action.
fn status_code(action: &str, reply: Option<&str>, expired: bool) -> String {
    let enhanced = reply.and_then(enhanced_code);
    let want = match action {
        "failed" if expired => ['4', '5'].as_slice(),
        "failed" => &['5'],
        "delayed" => &['4'],
        _ => &['2'],
    };
    match enhanced {
        Some(code) if code.starts_with(want) => code.to_owned(),
        _ if expired => "4.4.7".into(),
        _ => match action {
            "failed" => "5.0.0".into(),
            "delayed" => "4.0.0".into(),
            _ => "2.0.0".into(),
        },
    }
}

/// The reply code of an SMTP reply text (`550 …`, `451-…`).
fn smtp_code(reply: &str) -> Option<&str> {
    let code = reply.get(..3)?;
    let rest = reply.get(3..)?;
    let valid = code.bytes().all(|b| b.is_ascii_digit())
        && matches!(code.as_bytes().first(), Some(b'2'..=b'5'))
        && (rest.is_empty() || rest.starts_with([' ', '-']));
    valid.then_some(code)
}

/// The enhanced status code after the reply code (`550 5.1.1 …` → `5.1.1`).
fn enhanced_code(reply: &str) -> Option<&str> {
    smtp_code(reply)?;
    let token = reply.get(4..)?.split(' ').next()?;
    let mut parts = token.split('.');
    let class = parts.next()?;
    let ok = matches!(class, "2" | "4" | "5")
        && parts
            .by_ref()
            .take(2)
            .filter(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
            .count()
            == 2
        && parts.next().is_none();
    ok.then_some(token)
}

/// One line of text: line breaks and other control characters become spaces, so nothing
/// from a remote reply or an address can start a new header or field.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A delivery-status field value: one line, and US-ASCII unless the report is the UTF-8
/// (RFC 6533) kind.
fn field_value(s: &str, utf8: bool) -> String {
    one_line(s)
        .chars()
        .map(|c| if c.is_ascii() || utf8 { c } else { '?' })
        .collect()
}

fn rfc822_date(t: Timestamp) -> String {
    Date::new(i64::try_from(t.unix()).unwrap_or(i64::MAX)).to_rfc822()
}

/// The header section of the message in `r`, without the blank line that ends it, at most
/// `limit` bytes and cut at a line end; bare LFs become CRLF. Reads no further than that.
fn read_header_section(r: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut reader = BufReader::new(r.take(limit));
    let mut out = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let Some(content) = line.strip_suffix(b"\n") else {
            // EOF or the limit in mid-line: a cut line would be a broken header.
            break;
        };
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            break;
        }
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes() {
        assert_eq!(enhanced_code("550 5.1.1 User unknown"), Some("5.1.1"));
        assert_eq!(enhanced_code("452-4.2.2 Mailbox full"), Some("4.2.2"));
        assert_eq!(enhanced_code("452 4.2.2"), Some("4.2.2"));
        assert_eq!(enhanced_code("550 User unknown"), None);
        assert_eq!(enhanced_code("550 5.1"), None);
        assert_eq!(enhanced_code("550 5.1.1.1 x"), None);
        assert_eq!(enhanced_code("550 6.1.1 x"), None);
        assert_eq!(enhanced_code("connect to x: refused"), None);
        assert_eq!(smtp_code("550"), Some("550"));
        assert_eq!(smtp_code("5501"), None);
        assert_eq!(smtp_code("650 no"), None);
        assert_eq!(smtp_code("é50 no"), None);
        assert_eq!(status_code("failed", Some("550 5.7.1 no"), false), "5.7.1");
        assert_eq!(status_code("failed", Some("550 no"), false), "5.0.0");
        assert_eq!(
            status_code("failed", Some("451 4.2.2 full"), false),
            "5.0.0"
        );
        assert_eq!(status_code("failed", Some("451 4.2.2 full"), true), "4.2.2");
        assert_eq!(status_code("failed", Some("timeout"), true), "4.4.7");
        assert_eq!(status_code("delayed", Some("451 4.3.0 x"), false), "4.3.0");
        assert_eq!(status_code("delayed", None, false), "4.0.0");
    }

    #[test]
    fn header_section_is_bounded_and_stops_at_the_body() -> io::Result<()> {
        let msg = b"Subject: a\r\n b\r\nFrom: x\n\r\nbody\r\nSubject: not a header\r\n";
        assert_eq!(
            read_header_section(&msg[..], 1000)?,
            b"Subject: a\r\n b\r\nFrom: x\r\n"
        );
        assert_eq!(read_header_section(&msg[..], 20)?, b"Subject: a\r\n b\r\n");
        assert_eq!(read_header_section(&b"no newline"[..], 100)?, b"");
        let huge = std::iter::repeat_n(b'x', 10_000_000).collect::<Vec<u8>>();
        assert_eq!(read_header_section(&huge[..], 1000)?, b"");
        Ok(())
    }

    #[test]
    fn no_line_breaks_in_fields() {
        assert_eq!(one_line("a\r\nb\tc"), "a  b c");
        assert_eq!(field_value("Grüße\r\nX-Evil: 1", false), "Gr??e  X-Evil: 1");
        assert_eq!(field_value("Grüße", true), "Grüße");
    }
}
