//! What `postern-mta queue list` and `queue show` print: the list in the columns of Postfix's
//! `mailq` (so eyes and scripts used to it keep working), one message's envelope with each
//! recipient's state and the message's header section. Pure formatting: the daemon and the
//! offline path (daemon stopped) both call it.

use std::fmt::Write as _;

use queue::{Envelope, RecipientState};

/// One queued message as listed.
#[derive(Debug, Clone)]
pub struct Entry {
    pub envelope: Envelope,
    /// Bytes of the queued message.
    pub size: u64,
    /// Being delivered right now.
    pub active: bool,
}

impl Entry {
    /// `*` active, `!` held, blank otherwise (as in `mailq`).
    fn mark(&self) -> char {
        if self.envelope.held {
            '!'
        } else if self.active {
            '*'
        } else {
            ' '
        }
    }
}

fn sender(envelope: &Envelope) -> &str {
    if envelope.sender.is_empty() {
        "MAILER-DAEMON"
    } else {
        &envelope.sender
    }
}

/// The whole list: header line, one block per message, and the summary line.
pub fn list(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return "Mail queue is empty\n".to_string();
    }
    let mut out =
        String::from("-Queue ID-------  --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
    let mut bytes = 0u64;
    for entry in entries {
        bytes = bytes.saturating_add(entry.size);
        let envelope = &entry.envelope;
        let _ = writeln!(
            out,
            "{}{} {:>8} {:20} {}",
            envelope.id,
            entry.mark(),
            entry.size,
            envelope.arrival.to_string(),
            sender(envelope)
        );
        let mut last_reason: Option<&str> = None;
        for recipient in &envelope.recipients {
            let RecipientState::Pending { last_reply, .. } = &recipient.state else {
                continue;
            };
            if let Some(reason) = last_reply.as_deref()
                && last_reason != Some(reason)
            {
                let _ = writeln!(out, "{:>18}({})", "", printable(reason));
                last_reason = Some(reason);
            }
            let _ = writeln!(out, "{:>48}{}", "", recipient.address);
        }
        out.push('\n');
    }
    let requests = entries.len();
    let _ = writeln!(
        out,
        "-- {} Kbytes in {} Request{}.",
        bytes.div_ceil(1024),
        requests,
        if requests == 1 { "" } else { "s" }
    );
    out
}

/// One message: its envelope, each recipient's state, and `header` (its header section).
pub fn show(entry: &Entry, header: &[u8]) -> String {
    let envelope = &entry.envelope;
    let origin = &envelope.origin;
    let mut out = String::new();
    let state = if envelope.held {
        "held"
    } else if entry.active {
        "being delivered"
    } else {
        "queued"
    };
    let _ = writeln!(out, "queue id:  {}  ({state})", envelope.id);
    let _ = writeln!(out, "arrival:   {}", envelope.arrival);
    let _ = writeln!(out, "size:      {}", entry.size);
    let _ = writeln!(out, "sender:    <{}>", envelope.sender);
    let _ = write!(
        out,
        "origin:    listener={} protocol={}",
        origin.listener, origin.protocol
    );
    for (key, value) in [
        ("client", &origin.client_address),
        ("helo", &origin.helo),
        ("login", &origin.auth_user),
    ] {
        if let Some(value) = value {
            let _ = write!(out, " {key}={}", printable(value));
        }
    }
    let _ = writeln!(out, "{}", if origin.tls { " tls" } else { "" });
    for recipient in &envelope.recipients {
        let _ = write!(out, "recipient: <{}>", recipient.address);
        if let Some(orcpt) = &recipient.orcpt {
            let _ = write!(out, " (originally {})", printable(&orcpt.address));
        }
        match &recipient.state {
            RecipientState::Pending {
                attempts,
                next_attempt,
                last_reply,
            } => {
                let _ = write!(out, " pending, {attempts} attempts");
                if *attempts > 0 {
                    let _ = write!(out, ", next {next_attempt}");
                }
                if let Some(reply) = last_reply {
                    let _ = write!(out, ": {}", printable(reply));
                }
            }
            RecipientState::Delivered { at, reply } => {
                let _ = write!(out, " delivered {at}: {}", printable(reply));
            }
            RecipientState::Failed { at, reply, expired } => {
                let why = if *expired { "expired" } else { "failed" };
                let _ = write!(out, " {why} {at}: {}", printable(reply));
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(header).replace("\r\n", "\n"));
    out
}

/// Control characters from the network shown as `?`, so a reply text cannot rewrite the
/// operator's terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The header section of a message (up to the empty line), at most `limit` bytes.
pub fn header_section(
    reader: &mut impl std::io::BufRead,
    limit: usize,
) -> std::io::Result<Vec<u8>> {
    let mut header = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line == b"\r\n" || line == b"\n" || header.len() + line.len() > limit {
            return Ok(header);
        }
        header.extend_from_slice(&line);
    }
}

#[cfg(test)]
mod tests {
    use queue::{NewEnvelope, NewRecipient, Origin, Queue, Timestamp};

    use super::*;

    fn envelope(dir: &std::path::Path) -> Envelope {
        let (queue, _) = Queue::open(dir).unwrap();
        let mut incoming = queue
            .receive(&NewEnvelope {
                arrival: Timestamp::from_unix(1_800_000_000),
                sender: String::new(),
                params: queue::MailParams::default(),
                origin: Origin {
                    listener: "smtp".into(),
                    protocol: "ESMTP".into(),
                    client_address: Some("192.0.2.1".into()),
                    helo: Some("evil\r\nhelo".into()),
                    ..Origin::default()
                },
                held: false,
                recipients: vec![
                    NewRecipient::new("a@example.org"),
                    NewRecipient::new("b@example.net"),
                    NewRecipient::new("c@example.net"),
                ],
            })
            .unwrap();
        std::io::Write::write_all(&mut incoming, b"Subject: x\r\n\r\nbody\r\n").unwrap();
        let id = incoming.commit().unwrap();
        let mut envelope = queue.load(id).unwrap();
        let now = Timestamp::from_unix(1_800_000_100);
        envelope.recipients[0].mark_delivered(now, "250 2.0.0 ok");
        let policy = queue::RetryPolicy::default();
        envelope.recipients[1].mark_deferred(now, "451 4.4.0 later", &policy);
        envelope.recipients[2].mark_deferred(now, "451 4.4.0 later", &policy);
        envelope
    }

    #[test]
    fn list_looks_like_mailq() {
        assert_eq!(list(&[]), "Mail queue is empty\n");
        let dir = tempfile::tempdir().unwrap();
        let envelope = envelope(dir.path());
        let id = envelope.id.to_string();
        let entry = Entry {
            envelope,
            size: 2048,
            active: false,
        };
        let text = list(std::slice::from_ref(&entry));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("-Queue ID-"));
        assert_eq!(
            lines[1],
            format!("{id}      2048 2027-01-15T08:00:00Z MAILER-DAEMON")
        );
        // The delivered recipient is not listed; one reason line for the two deferred.
        assert_eq!(lines[2].trim(), "(451 4.4.0 later)");
        assert_eq!(lines[3].trim(), "b@example.net");
        assert_eq!(lines[4].trim(), "c@example.net");
        assert_eq!(lines.last().copied(), Some("-- 2 Kbytes in 1 Request."));
        let held = Entry {
            envelope: Envelope {
                held: true,
                ..entry.envelope.clone()
            },
            ..entry
        };
        assert!(list(&[held]).contains(&format!("{id}!")));
    }

    #[test]
    fn show_names_every_recipient_state_and_neutralizes_control_characters() {
        let dir = tempfile::tempdir().unwrap();
        let entry = Entry {
            envelope: envelope(dir.path()),
            size: 20,
            active: true,
        };
        let text = show(&entry, b"Subject: x\r\n");
        assert!(text.contains("(being delivered)"), "{text}");
        assert!(text.contains("helo=evil??helo"), "{text}");
        assert!(text.contains("<a@example.org> delivered"), "{text}");
        assert!(
            text.contains("<b@example.net> pending, 1 attempts"),
            "{text}"
        );
        assert!(text.ends_with("\nSubject: x\n"), "{text}");
    }

    #[test]
    fn header_section_stops_at_the_empty_line_or_the_limit() {
        let mut input: &[u8] = b"A: 1\r\nB: 2\r\n\r\nbody\r\n";
        assert_eq!(
            header_section(&mut input, 100).unwrap(),
            b"A: 1\r\nB: 2\r\n"
        );
        let mut input: &[u8] = b"A: 1\r\nB: 2\r\n\r\nbody\r\n";
        assert_eq!(header_section(&mut input, 8).unwrap(), b"A: 1\r\n");
    }
}
