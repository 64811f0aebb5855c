//! What milters ask to change at end of message, in the form the MTA applies when it writes
//! the final message: header edits (and [`apply_header_changes`], which applies them with
//! Postfix's index rules), envelope edits, a replacement body spooled to disk, quarantine.

use milter::Reply;

use super::verdict::Verdict;

/// A change to the header section. Values are the text after the colon exactly as it will be
/// written (leading space included, folded lines joined with CRLF), like the values of the
/// header list the MTA keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderChange {
    /// `SMFIR_ADDHEADER`: append after the last header.
    Add { name: String, value: String },
    /// `SMFIR_INSHEADER`: insert before the header at `index` (0 = top); past the end, append.
    Insert {
        index: usize,
        name: String,
        value: String,
    },
    /// `SMFIR_CHGHEADER` with a value: replace the `index`-th (1-based) header called `name`
    /// (compared case-insensitively); if there is none, append.
    Change {
        index: usize,
        name: String,
        value: String,
    },
    /// `SMFIR_CHGHEADER` with an empty value: delete the `index`-th header called `name`, if
    /// there is one.
    Delete { index: usize, name: String },
}

/// One change a milter asked for, in the order it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modification {
    /// A header edit.
    Header(HeaderChange),
    /// `SMFIR_CHGFROM`: the new envelope sender (no angle brackets; empty for `<>`) and its
    /// ESMTP parameters, if any.
    ChangeSender {
        sender: String,
        args: Option<String>,
    },
    /// `SMFIR_ADDRCPT` / `SMFIR_ADDRCPT_PAR`: an extra recipient and its ESMTP parameters.
    AddRecipient {
        recipient: String,
        args: Option<String>,
    },
    /// `SMFIR_DELRCPT`: drop this recipient (as it was given at RCPT TO, no angle brackets).
    DeleteRecipient(String),
}

/// A body that replaces the message body: an unlinked temporary file, rewound, CRLF line
/// ends, ending with CRLF unless empty.
#[derive(Debug)]
pub struct ReplacementBody {
    /// The new body.
    pub file: std::fs::File,
    /// Its length in bytes.
    pub len: u64,
}

/// A milter asked to hold the message (`SMFIR_QUARANTINE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// The milter's configured name.
    pub milter: String,
    /// The reason it gave.
    pub reason: String,
}

/// The result of end of message.
#[derive(Debug)]
pub struct EomOutcome {
    /// `Continue` or `Accept`: deliver with the changes below. `Reject`/`TempFail`: refuse
    /// the message with that reply. `Discard`: answer 250, then drop the message.
    /// `Disconnect`: answer 421 and close. Changes are meaningless unless the verdict proceeds.
    pub verdict: Verdict,
    /// Header and envelope changes of all milters, in milter order, each milter's in the order
    /// it sent them.
    pub changes: Vec<Modification>,
    /// The replacement body, if a milter replaced it (the last one to do so wins).
    pub body: Option<ReplacementBody>,
    /// Set if a milter asked to quarantine the message: the MTA holds it instead of
    /// delivering (the first request is kept; others are logged).
    pub quarantine: Option<Quarantine>,
}

impl EomOutcome {
    pub(crate) fn refused(verdict: Verdict) -> Self {
        Self {
            verdict,
            changes: Vec::new(),
            body: None,
            quarantine: None,
        }
    }

    /// The header edits, in order, for [`apply_header_changes`].
    pub fn header_changes(&self) -> impl Iterator<Item = &HeaderChange> {
        self.changes.iter().filter_map(|change| match change {
            Modification::Header(header) => Some(header),
            _ => None,
        })
    }
}

/// Applies header edits to `headers` (name, text after the colon), in order, the way
/// Sendmail's milter API defines the indexes relative to the headers milters were shown.
///
/// See [`apply_header_changes_with_hidden`] for Postfix's placement when the list starts
/// with a header the milters did not see (the MTA's own `Received:`).
pub fn apply_header_changes<'a>(
    headers: &mut Vec<(String, String)>,
    changes: impl IntoIterator<Item = &'a HeaderChange>,
) {
    apply_header_changes_with_hidden(headers, 0, changes);
}

/// Applies header edits as Postfix's cleanup server does, where the first `hidden` entries of
/// `headers` are headers the milters were not shown (Postfix hides its own `Received:`, so it
/// uses 1):
///
/// - Add appends after the last header.
/// - Insert at milter index `i` goes before the entry at position `i` of the whole list,
///   hidden ones included (so index 0 lands above Postfix's `Received:`); past the end it
///   appends.
/// - Change and delete count, from 1, the headers with that name (case-insensitively) below
///   the hidden ones; index 0 counts as 1. A change with no such header appends one; a delete
///   with no such header does nothing. A change takes the milter's spelling of the name.
pub fn apply_header_changes_with_hidden<'a>(
    headers: &mut Vec<(String, String)>,
    hidden: usize,
    changes: impl IntoIterator<Item = &'a HeaderChange>,
) {
    for change in changes {
        match change {
            HeaderChange::Add { name, value } => headers.push((name.clone(), value.clone())),
            HeaderChange::Insert { index, name, value } => {
                let at = (*index).min(headers.len());
                headers.insert(at, (name.clone(), value.clone()));
            }
            HeaderChange::Change { index, name, value } => {
                match find_named(headers, hidden, name, *index) {
                    Some(at) => {
                        if let Some(slot) = headers.get_mut(at) {
                            *slot = (name.clone(), value.clone());
                        }
                    }
                    None => headers.push((name.clone(), value.clone())),
                }
            }
            HeaderChange::Delete { index, name } => {
                if let Some(at) = find_named(headers, hidden, name, *index) {
                    headers.remove(at);
                }
            }
        }
    }
}

/// Position of the `index`-th (1-based, 0 taken as 1) header called `name` below `hidden`.
fn find_named(
    headers: &[(String, String)],
    hidden: usize,
    name: &str,
    index: usize,
) -> Option<usize> {
    let nth = index.max(1) - 1;
    headers
        .iter()
        .enumerate()
        .skip(hidden)
        .filter(|(_, (n, _))| n.eq_ignore_ascii_case(name))
        .nth(nth)
        .map(|(at, _)| at)
}

/// Why a modification request was refused: the milter misbehaved.
pub(crate) type Malformed = &'static str;

/// Turns one modification reply into a [`Modification`]; `leading_space` says whether header
/// values come with their leading space (`SMFIP_HDR_LEADSPC` agreed). Body chunks and
/// quarantine are handled by the caller.
pub(crate) fn modification(reply: Reply, leading_space: bool) -> Result<Modification, Malformed> {
    Ok(match reply {
        Reply::AddHeader { name, value } => Modification::Header(HeaderChange::Add {
            name: header_name(&name)?,
            value: header_value(&value, leading_space),
        }),
        Reply::InsertHeader { index, name, value } => Modification::Header(HeaderChange::Insert {
            index: usize::try_from(index).map_err(|_| "header index out of range")?,
            name: header_name(&name)?,
            value: header_value(&value, leading_space),
        }),
        Reply::ChangeHeader { index, name, value } => {
            let index = usize::try_from(index).map_err(|_| "header index out of range")?;
            let name = header_name(&name)?;
            if value.is_empty() {
                Modification::Header(HeaderChange::Delete { index, name })
            } else {
                Modification::Header(HeaderChange::Change {
                    index,
                    name,
                    value: header_value(&value, leading_space),
                })
            }
        }
        Reply::ChangeFrom { from, args } => Modification::ChangeSender {
            sender: address(&from, true)?,
            args: args.as_deref().map(parameters).transpose()?,
        },
        Reply::AddRcpt(rcpt) => Modification::AddRecipient {
            recipient: address(&rcpt, false)?,
            args: None,
        },
        Reply::AddRcptWithArgs { rcpt, args } => Modification::AddRecipient {
            recipient: address(&rcpt, false)?,
            args: if args.is_empty() {
                None
            } else {
                Some(parameters(&args)?)
            },
        },
        Reply::DeleteRcpt(rcpt) => Modification::DeleteRecipient(address(&rcpt, false)?),
        _ => return Err("not a modification"),
    })
}

/// A header name must be printable ASCII without a colon (RFC 5322 field-name).
fn header_name(raw: &[u8]) -> Result<String, Malformed> {
    if raw.is_empty() || raw.len() > 998 {
        return Err("header name empty or too long");
    }
    if !raw.iter().all(|&b| (33..=126).contains(&b) && b != b':') {
        return Err("header name has characters not allowed in a field name");
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

/// The value as it is written after the colon. Without `SMFIP_HDR_LEADSPC` the milter's value
/// lacks the space Postfix puts after the colon. Milters fold with bare LF (libmilter style) or
/// CRLF: both become CRLF, and a continuation line that would not start with white space, or
/// an empty one (which would end the header section), is made safe, so no milter can smuggle
/// a header or body line into the message.
fn header_value(raw: &[u8], leading_space: bool) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len() + 2);
    if !leading_space {
        out.push(' ');
    }
    let mut first = true;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line: String = line.chars().filter(|&c| c != '\r').collect();
        if first {
            out.push_str(&line);
            first = false;
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        out.push_str("\r\n");
        if !line.starts_with([' ', '\t']) {
            out.push(' ');
        }
        out.push_str(&line);
    }
    out
}

/// An envelope address from a milter: angle brackets optional; the null sender is allowed
/// only for CHGFROM. Control characters and spaces would corrupt the queue file or the
/// commands the MTA sends on, so they are refused.
fn address(raw: &[u8], null_allowed: bool) -> Result<String, Malformed> {
    let text = std::str::from_utf8(raw).map_err(|_| "address is not UTF-8")?;
    let text = text.trim();
    let bare = text
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(text);
    if bare.is_empty() && !null_allowed {
        return Err("empty recipient address");
    }
    if bare.len() > 1000
        || bare
            .chars()
            .any(|c| c.is_control() || c == ' ' || c == '<' || c == '>')
    {
        return Err("address has characters not allowed in a mailbox");
    }
    Ok(bare.to_string())
}

/// ESMTP parameters from a milter: printable, one line.
fn parameters(raw: &[u8]) -> Result<String, Malformed> {
    let text = std::str::from_utf8(raw).map_err(|_| "ESMTP parameters are not UTF-8")?;
    if text.len() > 1000 || text.chars().any(char::is_control) {
        return Err("ESMTP parameters have control characters");
    }
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn add(name: &str, value: &str) -> HeaderChange {
        HeaderChange::Add {
            name: name.into(),
            value: value.into(),
        }
    }

    fn insert(index: usize, name: &str, value: &str) -> HeaderChange {
        HeaderChange::Insert {
            index,
            name: name.into(),
            value: value.into(),
        }
    }

    fn change(index: usize, name: &str, value: &str) -> HeaderChange {
        HeaderChange::Change {
            index,
            name: name.into(),
            value: value.into(),
        }
    }

    fn delete(index: usize, name: &str) -> HeaderChange {
        HeaderChange::Delete {
            index,
            name: name.into(),
        }
    }

    fn message() -> Vec<(String, String)> {
        list(&[
            ("Received", " one"),
            ("From", " a@example.com"),
            ("received", " two"),
            ("Subject", " hi"),
        ])
    }

    #[test]
    fn add_appends_and_insert_zero_is_the_top() {
        let mut headers = message();
        apply_header_changes(
            &mut headers,
            &[add("X-Spam", " no"), insert(0, "DKIM-Signature", " v=1")],
        );
        assert_eq!(headers.first().unwrap().0, "DKIM-Signature");
        assert_eq!(headers.last().unwrap(), &("X-Spam".into(), " no".into()));
    }

    #[test]
    fn insert_in_the_middle_and_past_the_end() {
        let mut headers = message();
        apply_header_changes(
            &mut headers,
            &[insert(2, "X-A", " 1"), insert(99, "X-B", " 2")],
        );
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["Received", "From", "X-A", "received", "Subject", "X-B"]
        );
    }

    #[test]
    fn change_counts_only_headers_of_that_name_case_insensitively() {
        let mut headers = message();
        apply_header_changes(&mut headers, &[change(2, "RECEIVED", " new")]);
        assert_eq!(headers.get(2).unwrap(), &("RECEIVED".into(), " new".into()));
        assert_eq!(headers.first().unwrap().1, " one");
        // Index 0 is taken as 1, as Postfix does for Sendmail compatibility.
        apply_header_changes(&mut headers, &[change(0, "subject", " bye")]);
        assert_eq!(headers.get(3).unwrap(), &("subject".into(), " bye".into()));
    }

    #[test]
    fn change_of_a_missing_header_appends_it() {
        let mut headers = message();
        apply_header_changes(&mut headers, &[change(3, "Received", " three")]);
        assert_eq!(headers.len(), 5);
        assert_eq!(
            headers.last().unwrap(),
            &("Received".into(), " three".into())
        );
    }

    #[test]
    fn delete_removes_the_nth_and_ignores_missing() {
        let mut headers = message();
        apply_header_changes(
            &mut headers,
            &[
                delete(2, "received"),
                delete(1, "X-None"),
                delete(5, "From"),
            ],
        );
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Received", "From", "Subject"]);
    }

    #[test]
    fn edits_apply_in_order_each_seeing_the_previous() {
        let mut headers = message();
        apply_header_changes(
            &mut headers,
            &[
                insert(0, "Received", " zero"),
                change(1, "Received", " changed"),
                delete(1, "Received"),
            ],
        );
        let values: Vec<&str> = headers.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, [" one", " a@example.com", " two", " hi"]);
    }

    #[test]
    fn postfix_placement_with_its_hidden_received_header() {
        // Postfix's own Received: is at the top and was not shown to milters.
        let mut headers = list(&[("Received", " by us"), ("Received", " one"), ("From", " a")]);
        apply_header_changes_with_hidden(
            &mut headers,
            1,
            &[
                // "Change the first Received the milter saw" skips ours.
                change(1, "Received", " edited"),
                // Insert at 0 lands above ours, as in Postfix.
                insert(0, "DKIM-Signature", " v=1"),
            ],
        );
        let got: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("DKIM-Signature", " v=1"),
                ("Received", " by us"),
                ("Received", " edited"),
                ("From", " a"),
            ]
        );
        // Deleting the only Received the milter saw never touches ours.
        apply_header_changes_with_hidden(
            &mut headers,
            2,
            &[delete(1, "Received"), delete(1, "Received")],
        );
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["DKIM-Signature", "Received", "From"]);
    }

    #[test]
    fn header_values_from_milters_are_made_safe() {
        assert_eq!(
            header_value(b"v=1; a=rsa-sha256;\n\tb=abc", false),
            " v=1; a=rsa-sha256;\r\n\tb=abc"
        );
        assert_eq!(header_value(b" kept", true), " kept");
        assert_eq!(header_value(b"a\r\n b", true), "a\r\n b");
        assert_eq!(
            header_value(b"a\nInjected: yes", false),
            " a\r\n Injected: yes"
        );
        assert_eq!(header_value(b"a\n\nbody\n", false), " a\r\n body");
        assert_eq!(header_value(b"a\rb", false), " ab");
        assert!(header_name(b"Bad Name").is_err());
        assert!(header_name(b"Bad:Name").is_err());
        assert!(header_name(b"").is_err());
        assert_eq!(header_name(b"X-Ok").unwrap(), "X-Ok");
    }

    #[test]
    fn modification_replies_are_converted_and_checked() {
        let m = |reply| modification(reply, false);
        assert_eq!(
            m(Reply::ChangeHeader {
                index: 1,
                name: b"Subject".to_vec(),
                value: vec![]
            }),
            Ok(Modification::Header(delete(1, "Subject")))
        );
        assert_eq!(
            m(Reply::ChangeFrom {
                from: b"<>".to_vec(),
                args: None
            }),
            Ok(Modification::ChangeSender {
                sender: String::new(),
                args: None
            })
        );
        assert_eq!(
            m(Reply::AddRcptWithArgs {
                rcpt: b"<c@example>".to_vec(),
                args: b"NOTIFY=NEVER".to_vec()
            }),
            Ok(Modification::AddRecipient {
                recipient: "c@example".into(),
                args: Some("NOTIFY=NEVER".into())
            })
        );
        assert_eq!(
            m(Reply::DeleteRcpt(b"d@example".to_vec())),
            Ok(Modification::DeleteRecipient("d@example".into()))
        );
        assert!(m(Reply::AddRcpt(b"<>".to_vec())).is_err());
        assert!(m(Reply::AddRcpt(b"<a@b>\r\nRCPT TO:<x@y>".to_vec())).is_err());
        assert!(
            m(Reply::AddHeader {
                name: b"X A".to_vec(),
                value: b"1".to_vec()
            })
            .is_err()
        );
        assert!(m(Reply::Continue).is_err());
    }
}
