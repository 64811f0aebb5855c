//! The envelope the client sends, and its MAIL/RCPT command lines: only parameters whose
//! extension the server announced are written, and what the server cannot take at all (a
//! size over its limit, UTF-8 without SMTPUTF8) is refused before anything is sent.

use super::capabilities::Capabilities;
use super::error::StartError;
use crate::address::{ForwardPath, ReversePath};
use crate::params::{Body, MailParams, Notify, RcptParams, Ret};

/// One recipient with its RCPT parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeRecipient {
    /// The forward path.
    pub path: ForwardPath,
    /// `NOTIFY=`, `ORCPT=` (sent only if the server offers DSN).
    pub params: RcptParams,
}

/// What one transaction delivers: sender, MAIL parameters, recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// MAIL FROM.
    pub sender: ReversePath,
    /// MAIL parameters: `SIZE=` (set it: servers refuse too large messages before the data),
    /// `BODY=`, `SMTPUTF8`, and the DSN and `AUTH=` ones, each sent only where offered.
    pub params: MailParams,
    /// RCPT TO, in order.
    pub recipients: Vec<EnvelopeRecipient>,
}

impl Envelope {
    /// An envelope without parameters.
    pub fn new(sender: ReversePath, recipients: impl IntoIterator<Item = ForwardPath>) -> Self {
        Self {
            sender,
            params: MailParams::default(),
            recipients: recipients
                .into_iter()
                .map(|path| EnvelopeRecipient {
                    path,
                    params: RcptParams::default(),
                })
                .collect(),
        }
    }

    /// Whether any path needs SMTPUTF8.
    fn has_utf8_paths(&self) -> bool {
        !self.sender.to_string().is_ascii()
            || self
                .recipients
                .iter()
                .any(|r| !r.path.to_string().is_ascii())
    }
}

/// The command lines of one envelope, checked against what the server offers.
#[derive(Debug)]
pub(super) struct EnvelopeCommands {
    pub(super) mail: Vec<u8>,
    pub(super) rcpts: Vec<Vec<u8>>,
}

/// Builds MAIL and RCPT lines. `binary_ok` says whether the session can send BDAT.
pub(super) fn commands(
    envelope: &Envelope,
    caps: &Capabilities,
    binary_ok: bool,
) -> Result<EnvelopeCommands, StartError> {
    if envelope.recipients.is_empty() {
        return Err(StartError::NoRecipients);
    }
    let params = &envelope.params;
    // UTF-8 paths are only legal in a transaction that says SMTPUTF8 (RFC 6531 3.4).
    let smtputf8 = params.smtputf8 || envelope.has_utf8_paths();
    if smtputf8 && !caps.smtputf8 {
        return Err(StartError::NeedsSmtputf8);
    }
    match params.body {
        Some(Body::EightBitMime) if !caps.eight_bit_mime => {
            return Err(StartError::NeedsEightBitMime);
        }
        Some(Body::BinaryMime) if !(caps.binarymime && binary_ok) => {
            return Err(StartError::NeedsBinaryMime);
        }
        _ => {}
    }
    if let (Some(size), Some(limit)) = (params.size, caps.max_size)
        && caps.size
        && size > limit
    {
        return Err(StartError::TooLarge { size, limit });
    }

    let mut mail = format!("MAIL FROM:{}", envelope.sender);
    if let Some(size) = params.size.filter(|_| caps.size) {
        mail.push_str(&format!(" SIZE={size}"));
    }
    // BODY=7BIT is only meaningful (and only legal) where 8BITMIME is offered.
    match params.body {
        Some(Body::SevenBit) if caps.eight_bit_mime => mail.push_str(" BODY=7BIT"),
        Some(Body::EightBitMime) => mail.push_str(" BODY=8BITMIME"),
        Some(Body::BinaryMime) => mail.push_str(" BODY=BINARYMIME"),
        _ => {}
    }
    if smtputf8 {
        mail.push_str(" SMTPUTF8");
    }
    // Without DSN the receiving server will not honour these; RFC 3461 4.1 makes us the one
    // to report "relayed" then, which is the caller's business.
    if caps.dsn {
        match params.ret {
            Some(Ret::Full) => mail.push_str(" RET=FULL"),
            Some(Ret::Headers) => mail.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(envid) = &params.envid {
            mail.push_str(&format!(" ENVID={}", xtext_encode(envid)));
        }
    }
    if let Some(auth) = params.auth.as_ref().filter(|_| !caps.auth.is_empty()) {
        mail.push_str(&format!(" AUTH={}", xtext_encode(auth)));
    }

    let rcpts = envelope
        .recipients
        .iter()
        .map(|recipient| {
            let mut rcpt = format!("RCPT TO:{}", recipient.path);
            if caps.dsn {
                if let Some(notify) = recipient.params.notify.and_then(notify_value) {
                    rcpt.push_str(&format!(" NOTIFY={notify}"));
                }
                if let Some(orcpt) = &recipient.params.orcpt {
                    rcpt.push_str(&format!(
                        " ORCPT={};{}",
                        orcpt.addr_type,
                        xtext_encode(&orcpt.address)
                    ));
                }
            }
            command_line(rcpt)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EnvelopeCommands {
        mail: command_line(mail)?,
        rcpts,
    })
}

/// Adds CRLF after checking that nothing in the line could end it early or smuggle another
/// command: the paths' fields are public, so an envelope may come from anywhere.
fn command_line(line: String) -> Result<Vec<u8>, StartError> {
    if line.chars().any(char::is_control) {
        return Err(StartError::InvalidEnvelope);
    }
    let mut bytes = line.into_bytes();
    bytes.extend_from_slice(b"\r\n");
    Ok(bytes)
}

fn notify_value(notify: Notify) -> Option<String> {
    if notify.never {
        return Some("NEVER".to_owned());
    }
    let values: Vec<&str> = [
        (notify.success, "SUCCESS"),
        (notify.failure, "FAILURE"),
        (notify.delay, "DELAY"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// xtext (RFC 3461 4): printable ASCII except `+` and `=` as is, everything else as `+XX`.
pub(crate) fn xtext_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{OriginalRecipient, xtext_decode};

    fn path(text: &str) -> ForwardPath {
        ForwardPath::parse(text, true).unwrap().0
    }

    fn sender(text: &str) -> ReversePath {
        ReversePath::parse(text, true).unwrap().0
    }

    fn lines(envelope: &Envelope, caps: &Capabilities) -> Vec<String> {
        let commands = commands(envelope, caps, true).unwrap();
        std::iter::once(commands.mail)
            .chain(commands.rcpts)
            .map(|l| String::from_utf8(l).unwrap())
            .collect()
    }

    fn everything() -> Capabilities {
        Capabilities {
            size: true,
            max_size: Some(1000),
            eight_bit_mime: true,
            smtputf8: true,
            chunking: true,
            binarymime: true,
            dsn: true,
            auth: vec!["PLAIN".into()],
            ..Capabilities::default()
        }
    }

    fn full_envelope() -> Envelope {
        let mut envelope = Envelope::new(sender("<a@example.org>"), [path("<b@example.net>")]);
        envelope.params = MailParams {
            size: Some(1000),
            body: Some(Body::EightBitMime),
            smtputf8: false,
            ret: Some(Ret::Headers),
            envid: Some("id+1=x y".into()),
            auth: Some("a@example.org".into()),
        };
        envelope.recipients[0].params = RcptParams {
            notify: Some(Notify {
                failure: true,
                delay: true,
                ..Notify::default()
            }),
            orcpt: Some(OriginalRecipient {
                addr_type: "rfc822".into(),
                address: "B@example.net".into(),
            }),
        };
        envelope
    }

    #[test]
    fn parameters_where_offered() {
        assert_eq!(
            lines(&full_envelope(), &everything()),
            [
                "MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=id+2B1+3Dx+20y \
                 AUTH=a@example.org\r\n",
                "RCPT TO:<b@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;B@example.net\r\n",
            ]
        );
        let plain = Capabilities {
            eight_bit_mime: true,
            ..Capabilities::default()
        };
        assert_eq!(
            lines(&full_envelope(), &plain),
            [
                "MAIL FROM:<a@example.org> BODY=8BITMIME\r\n",
                "RCPT TO:<b@example.net>\r\n"
            ]
        );
        let null = Envelope::new(ReversePath::Null, [ForwardPath::Postmaster]);
        assert_eq!(
            lines(&null, &plain),
            ["MAIL FROM:<>\r\n", "RCPT TO:<Postmaster>\r\n"]
        );
    }

    #[test]
    fn utf8_paths_add_smtputf8_or_are_refused() {
        let envelope = Envelope::new(sender("<josé@example.org>"), [path("<b@example.net>")]);
        assert_eq!(
            lines(&envelope, &everything())[0],
            "MAIL FROM:<josé@example.org> SMTPUTF8\r\n"
        );
        assert_eq!(
            commands(&envelope, &Capabilities::default(), true).unwrap_err(),
            StartError::NeedsSmtputf8
        );
    }

    #[test]
    fn what_the_server_cannot_take_is_refused_before_sending() {
        let caps = everything();
        let mut envelope = full_envelope();
        envelope.params.size = Some(1001);
        assert_eq!(
            commands(&envelope, &caps, true).unwrap_err(),
            StartError::TooLarge {
                size: 1001,
                limit: 1000
            }
        );
        envelope.params.size = None;
        envelope.params.body = Some(Body::BinaryMime);
        assert_eq!(
            commands(&envelope, &caps, false).unwrap_err(),
            StartError::NeedsBinaryMime
        );
        envelope.params.body = Some(Body::EightBitMime);
        assert_eq!(
            commands(&envelope, &Capabilities::default(), true).unwrap_err(),
            StartError::NeedsEightBitMime
        );
        envelope.recipients.clear();
        assert_eq!(
            commands(&envelope, &caps, true).unwrap_err(),
            StartError::NoRecipients
        );
    }

    #[test]
    fn control_characters_cannot_smuggle_commands() {
        let mut envelope = full_envelope();
        if let ReversePath::Mailbox(mailbox) = &mut envelope.sender {
            mailbox.local_part = "a\r\nRCPT TO:<victim@example.com>".into();
        }
        assert_eq!(
            commands(&envelope, &everything(), true).unwrap_err(),
            StartError::InvalidEnvelope
        );
        let mut envelope = full_envelope();
        if let Some(orcpt) = &mut envelope.recipients[0].params.orcpt {
            orcpt.addr_type = "rfc822\r\nQUIT".into();
        }
        assert_eq!(
            commands(&envelope, &everything(), true).unwrap_err(),
            StartError::InvalidEnvelope
        );
    }

    #[test]
    fn xtext_round_trips_through_the_server_decoder() {
        for text in [
            "plain",
            "a+b=c",
            "sp ace",
            "tab\there",
            "ünï",
            "+",
            "=",
            "~!",
        ] {
            assert_eq!(xtext_decode(&xtext_encode(text)).as_deref(), Some(text));
        }
    }
}
