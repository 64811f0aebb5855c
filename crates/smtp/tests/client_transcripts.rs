//! Client transcripts: RFC 5321, RFC 2920 and RFC 2033 examples and the failure cases, as
//! "S:"/"C:" traces. Each is run twice: server bursts fed whole, then byte by byte.
//!
//! Syntax: `S: text` is a server line (+ CRLF), consecutive S lines form one burst. `C: text`
//! is the client's next output line (+ CRLF), `C- text` output without CRLF. `E: event`,
//! `R: <rcpt> status` (the results of the `E: Delivered` before) and `X: error` are what the
//! session reports. `> action` calls the session: `start`, `body <text>`, `finish`, `quit`,
//! `reset`, `starttls`, `tls`, `lost`. `! key value` sets up settings and the next envelope.
//! Client output and reports are compared before every burst and action. In texts, `\r`,
//! `\n` and `\\` are escapes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use smtp::client::{ClientError, ClientEvent, ClientSession, ClientSettings, Envelope};
use smtp::{Body, ForwardPath, Notify, OriginalRecipient, Ret, ReversePath};

fn unescape(text: &str) -> Vec<u8> {
    text.replace("\\r", "\r")
        .replace("\\n", "\n")
        .replace("\\\\", "\\")
        .into_bytes()
}

#[derive(Default)]
struct Log {
    wire: Vec<u8>,
    reports: Vec<String>,
}

struct Runner {
    client: ClientSession,
    actual: Log,
    errored: bool,
}

impl Runner {
    fn drain(&mut self) {
        while !self.errored {
            match self.client.next_event() {
                Ok(Some(ClientEvent::Delivered(results))) => {
                    self.actual.reports.push("E: Delivered".into());
                    for result in results {
                        self.actual
                            .reports
                            .push(format!("R: {} {}", result.recipient, result.status));
                    }
                }
                Ok(Some(ClientEvent::TlsRefused(reply))) => {
                    self.actual.reports.push(format!("E: TlsRefused {reply}"));
                }
                Ok(Some(event)) => self.actual.reports.push(format!("E: {event:?}")),
                Ok(None) => break,
                Err(error) => {
                    self.actual.reports.push(format!("X: {error}"));
                    self.errored = true;
                }
            }
        }
        self.actual.wire.extend(self.client.output());
    }
}

fn settings(directives: &[(String, String)]) -> ClientSettings {
    let mut settings = ClientSettings::smtp("client.example");
    for (key, value) in directives {
        match key.as_str() {
            "mode" if value == "lmtp" => settings = ClientSettings::lmtp(settings.hostname),
            "hostname" => settings.hostname = value.clone(),
            "pipelining" => settings.pipelining = value == "on",
            "chunking" => settings.chunking = value == "on",
            "chunk" => settings.bdat_chunk_size = value.parse().unwrap(),
            _ => {}
        }
    }
    settings
}

fn envelope_directive(envelope: &mut Envelope, key: &str, value: &str) {
    let last = envelope.recipients.last_mut();
    match key {
        "from" => envelope.sender = ReversePath::parse(value, true).unwrap().0,
        "to" => envelope.recipients.push(smtp::client::EnvelopeRecipient {
            path: ForwardPath::parse(value, true).unwrap().0,
            params: Default::default(),
        }),
        "size" => envelope.params.size = Some(value.parse().unwrap()),
        "body" => {
            envelope.params.body = Some(match value {
                "7bit" => Body::SevenBit,
                "8bitmime" => Body::EightBitMime,
                "binarymime" => Body::BinaryMime,
                _ => panic!("body {value}"),
            });
        }
        "smtputf8" => envelope.params.smtputf8 = true,
        "ret" => {
            envelope.params.ret = Some(if value == "full" {
                Ret::Full
            } else {
                Ret::Headers
            })
        }
        "envid" => envelope.params.envid = Some(value.into()),
        "auth" => envelope.params.auth = Some(value.into()),
        "notify" => {
            let notify = Notify {
                success: value.contains("success"),
                failure: value.contains("failure"),
                delay: value.contains("delay"),
                never: value.contains("never"),
            };
            last.unwrap().params.notify = Some(notify);
        }
        "orcpt" => {
            let (addr_type, address) = value.split_once(';').unwrap();
            last.unwrap().params.orcpt = Some(OriginalRecipient {
                addr_type: addr_type.into(),
                address: address.into(),
            });
        }
        _ => {}
    }
}

fn run(name: &str, transcript: &str, bytewise: bool) {
    let lines: Vec<&str> = transcript
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let directives: Vec<(String, String)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("! "))
        .map(|d| {
            let (k, v) = d.split_once(' ').unwrap_or((d, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let mut runner = Runner {
        client: ClientSession::new(settings(&directives)),
        actual: Log::default(),
        errored: false,
    };
    let mut expected = Log::default();
    let mut envelope = Envelope::new(ReversePath::Null, []);
    let mut burst = Vec::new();
    let check = |runner: &Runner, expected: &Log, at: &str| {
        assert_eq!(
            String::from_utf8_lossy(&runner.actual.wire),
            String::from_utf8_lossy(&expected.wire),
            "{name}: client output before `{at}`"
        );
        assert_eq!(
            runner.actual.reports, expected.reports,
            "{name}: reports before `{at}`"
        );
    };
    for line in lines.iter().chain(std::iter::once(&"# end")) {
        if let Some(text) = line.strip_prefix("S: ") {
            burst.extend(unescape(text));
            burst.extend_from_slice(b"\r\n");
            continue;
        }
        if let Some(text) = line.strip_prefix("S- ") {
            burst.extend(unescape(text));
            continue;
        }
        if !burst.is_empty() {
            check(&runner, &expected, line);
            if bytewise {
                for &b in &burst {
                    runner.client.receive(&[b]);
                    runner.drain();
                }
            } else {
                runner.client.receive(&burst);
                runner.drain();
            }
            burst.clear();
        }
        let (tag, text) = line.split_at(2.min(line.len()));
        let text = text.trim_start();
        match tag {
            "C:" => {
                expected.wire.extend(unescape(text));
                expected.wire.extend_from_slice(b"\r\n");
            }
            "C-" => expected.wire.extend(unescape(text)),
            "E:" | "R:" | "X:" => expected.reports.push(line.to_string()),
            "! " => {
                let (key, value) = text.split_once(' ').unwrap_or((text, ""));
                envelope_directive(&mut envelope, key, value);
            }
            "> " => {
                check(&runner, &expected, line);
                let (action, arg) = text.split_once(' ').unwrap_or((text, ""));
                let client = &mut runner.client;
                let result = match action {
                    "start" => {
                        let next =
                            std::mem::replace(&mut envelope, Envelope::new(ReversePath::Null, []));
                        client.start(next).map_err(|e| e.to_string())
                    }
                    "body" => client.send_body(&unescape(arg)).map_err(|e| e.to_string()),
                    "finish" => client.finish_body().map_err(|e| e.to_string()),
                    "quit" => client.quit().map_err(|e| e.to_string()),
                    "reset" => client.reset().map_err(|e| e.to_string()),
                    "starttls" => client.start_tls().map_err(|e| e.to_string()),
                    "tls" => client.tls_established().map_err(|e| e.to_string()),
                    "lost" => {
                        client.connection_lost(ClientError::Closed);
                        Ok(())
                    }
                    other => panic!("{name}: unknown action {other}"),
                };
                if let Err(error) = result {
                    runner.actual.reports.push(format!("X: {action}: {error}"));
                }
                runner.drain();
            }
            "# " => {}
            _ => panic!("{name}: bad line {line}"),
        }
    }
    check(&runner, &expected, "the end");
}

fn run_both(name: &str, transcript: &str) {
    run(name, transcript, false);
    run(name, transcript, true);
}

#[test]
fn rfc5321_d1_typical_transaction_without_pipelining() {
    run_both(
        "rfc5321_d1",
        r"
        ! hostname bar.com
        ! from <Smith@bar.com>
        ! to <Jones@foo.com>
        ! to <Green@foo.com>
        ! to <Brown@foo.com>
        S: 220 foo.com Simple Mail Transfer Service Ready
        C: EHLO bar.com
        S: 250-foo.com greets bar.com
        S: 250-8BITMIME
        S: 250-SIZE
        S: 250-DSN
        S: 250 HELP
        E: Ready
        > start
        C: MAIL FROM:<Smith@bar.com>
        S: 250 OK
        C: RCPT TO:<Jones@foo.com>
        S: 250 OK
        C: RCPT TO:<Green@foo.com>
        S: 550 No such user here
        C: RCPT TO:<Brown@foo.com>
        S: 250 OK
        C: DATA
        S: 354 Start mail input; end with <CRLF>.<CRLF>
        E: SendBody
        > body Blah blah blah...\r\n...etc. etc. etc.\r\n
        C: Blah blah blah...
        C: ....etc. etc. etc.
        > finish
        C: .
        S: 250 OK
        E: Delivered
        R: <Jones@foo.com> accepted: 250 OK
        R: <Green@foo.com> bounced: 550 No such user here (in reply to RCPT TO)
        R: <Brown@foo.com> accepted: 250 OK
        > quit
        C: QUIT
        S: 221 foo.com Service closing transmission channel
        E: Closed
        ",
    );
}

#[test]
fn rfc2920_pipelined_transaction_with_quit_behind_the_dot() {
    run_both(
        "rfc2920_3_2",
        r#"
        ! hostname dbc.mtview.ca.us
        ! from <mrose@dbc.mtview.ca.us>
        ! to <ned@innosoft.com>
        ! to <dan@innosoft.com>
        ! to <kvc@innosoft.com>
        S: 220 innosoft.com SMTP service ready
        C: EHLO dbc.mtview.ca.us
        S: 250-innosoft.com
        S: 250 PIPELINING
        E: Ready
        > start
        C: MAIL FROM:<mrose@dbc.mtview.ca.us>
        C: RCPT TO:<ned@innosoft.com>
        C: RCPT TO:<dan@innosoft.com>
        C: RCPT TO:<kvc@innosoft.com>
        C: DATA
        S: 250 sender <mrose@dbc.mtview.ca.us> OK
        S: 250 recipient <ned@innosoft.com> OK
        S: 250 recipient <dan@innosoft.com> OK
        S: 250 recipient <kvc@innosoft.com> OK
        S: 354 enter mail, end with line containing only "."
        E: SendBody
        > body Subject: pipelining\r\n\r\nbody
        C: Subject: pipelining
        C:
        C- body
        > finish
        C:
        C: .
        > quit
        C: QUIT
        S: 250 message sent
        S: 221 goodbye
        E: Delivered
        R: <ned@innosoft.com> accepted: 250 message sent
        R: <dan@innosoft.com> accepted: 250 message sent
        R: <kvc@innosoft.com> accepted: 250 message sent
        E: Closed
        "#,
    );
}

#[test]
fn rfc2920_no_valid_recipients_data_refused_then_rset() {
    run_both(
        "rfc2920_3_2_failed",
        r"
        ! hostname dbc.mtview.ca.us
        ! from <mrose@dbc.mtview.ca.us>
        ! to <ned@innosoft.com>
        ! to <dan@innosoft.com>
        S: 220 innosoft.com SMTP service ready
        C: EHLO dbc.mtview.ca.us
        S: 250-innosoft.com
        S: 250 PIPELINING
        E: Ready
        > start
        C: MAIL FROM:<mrose@dbc.mtview.ca.us>
        C: RCPT TO:<ned@innosoft.com>
        C: RCPT TO:<dan@innosoft.com>
        C: DATA
        S: 250 sender <mrose@dbc.mtview.ca.us> OK
        S: 550 remote mail to <ned@innosoft.com> not allowed
        S: 450 remote mail to <dan@innosoft.com> not allowed now
        S: 554 no valid recipients given
        C: RSET
        S: 250 2.0.0 Ok
        E: Delivered
        R: <ned@innosoft.com> bounced: 550 remote mail to <ned@innosoft.com> not allowed (in reply to RCPT TO)
        R: <dan@innosoft.com> deferred: 450 remote mail to <dan@innosoft.com> not allowed now (in reply to RCPT TO)
        > quit
        C: QUIT
        S: 221 goodbye
        E: Closed
        ",
    );
}

#[test]
fn rfc2920_354_without_recipients_gets_a_lone_dot() {
    run_both(
        "rfc2920_lone_dot",
        r#"
        ! from <mrose@dbc.mtview.ca.us>
        ! to <ned@innosoft.com>
        S: 220 innosoft.com SMTP service ready
        C: EHLO client.example
        S: 250-innosoft.com
        S: 250 PIPELINING
        E: Ready
        > start
        C: MAIL FROM:<mrose@dbc.mtview.ca.us>
        C: RCPT TO:<ned@innosoft.com>
        C: DATA
        S: 250 sender OK
        S: 550 remote mail to <ned@innosoft.com> not allowed
        S: 354 enter mail, end with line containing only "."
        C: .
        S: 554 no valid recipients
        E: Delivered
        R: <ned@innosoft.com> bounced: 550 remote mail to <ned@innosoft.com> not allowed (in reply to RCPT TO)
        > start
        X: start: no recipients
        "#,
    );
}

#[test]
fn rfc2033_lmtp_one_final_reply_per_accepted_recipient() {
    run_both(
        "rfc2033_4_2",
        r"
        ! mode lmtp
        ! hostname foo.edu
        ! from <chris@bar.com>
        ! to <pat@foo.edu>
        ! to <jones@foo.edu>
        ! to <green@foo.edu>
        S: 220 foo.edu LMTP server ready
        C: LHLO foo.edu
        S: 250-foo.edu
        S: 250-PIPELINING
        S: 250 SIZE
        E: Ready
        > start
        C: MAIL FROM:<chris@bar.com>
        C: RCPT TO:<pat@foo.edu>
        C: RCPT TO:<jones@foo.edu>
        C: RCPT TO:<green@foo.edu>
        C: DATA
        S: 250 OK
        S: 250 OK
        S: 550 No such user here
        S: 250 OK
        S: 354 Start mail input; end with <CRLF>.<CRLF>
        E: SendBody
        > body Blah blah blah...\r\n...etc. etc. etc.\r\n
        C: Blah blah blah...
        C: ....etc. etc. etc.
        > finish
        C: .
        S: 250 OK
        S: 452 <green@foo.edu> is temporarily over quota
        E: Delivered
        R: <pat@foo.edu> accepted: 250 OK
        R: <jones@foo.edu> bounced: 550 No such user here (in reply to RCPT TO)
        R: <green@foo.edu> deferred: 452 <green@foo.edu> is temporarily over quota (in reply to end of data)
        > quit
        C: QUIT
        S: 221 foo.edu closing connection
        E: Closed
        ",
    );
}

#[test]
fn lmtp_bdat_chunks_and_per_recipient_replies_to_last() {
    run_both(
        "lmtp_bdat",
        r"
        ! mode lmtp
        ! chunking on
        ! chunk 8
        ! from <a@example.com>
        ! to <b@example.org>
        ! to <c@example.org>
        S: 220 mda LMTP
        C: LHLO client.example
        S: 250-mda
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250 CHUNKING
        E: Ready
        > start
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        C: RCPT TO:<c@example.org>
        S: 250 2.1.0 Ok
        S: 250 2.1.5 Ok
        S: 250 2.1.5 Ok
        E: SendBody
        > body .first
        > body  line\r\nsecond
        C: BDAT 19
        C- .first line\r\nsecond
        > finish
        C- BDAT 2 LAST\r\n\r\n
        S: 250 2.0.0 19 octets received
        S: 250 2.0.0 Ok: delivered
        S: 552 5.2.2 Mailbox full
        E: Delivered
        R: <b@example.org> accepted: 250 2.0.0 Ok: delivered
        R: <c@example.org> bounced: 552 5.2.2 Mailbox full (in reply to end of data)
        ",
    );
}

#[test]
fn bdat_chunk_refused_fails_the_message_once() {
    run_both(
        "smtp_bdat_refused",
        r"
        ! chunking on
        ! chunk 4
        ! from <a@example.com>
        ! to <b@example.org>
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250-mx
        S: 250-PIPELINING
        S: 250 CHUNKING
        E: Ready
        > start
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        S: 250 2.1.0 Ok
        S: 250 2.1.5 Ok
        E: SendBody
        > body abcd
        C- BDAT 4\r\nabcd
        > body efgh
        C- BDAT 4\r\nefgh
        > finish
        C- BDAT 2 LAST\r\n\r\n
        S: 552 5.3.4 Message too big
        S: 503 5.5.1 Need MAIL command
        S: 503 5.5.1 Need MAIL command
        C: RSET
        S: 250 2.0.0 Ok
        E: Delivered
        R: <b@example.org> bounced: 552 5.3.4 Message too big (in reply to message data)
        > reset
        C: RSET
        S: 250 2.0.0 Ok
        E: Ready
        ",
    );
}

#[test]
fn starttls_drops_injected_plaintext_and_greets_again() {
    run_both(
        "starttls",
        r"
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250-mx
        S: 250-PIPELINING
        S: 250 STARTTLS
        E: Ready
        > starttls
        C: STARTTLS
        S: 220 2.0.0 Ready to start TLS
        S: 250-injected before the handshake
        S- 250 AUTH PLAIN
        E: TlsReady
        > starttls
        X: starttls: not possible in the session's current state
        > tls
        C: EHLO client.example
        S: 250-mx
        S: 250-PIPELINING
        S: 250 AUTH PLAIN
        E: Ready
        > starttls
        X: starttls: not possible in the session's current state
        ",
    );
}

#[test]
fn starttls_refused_leaves_the_session_usable() {
    run_both(
        "starttls_refused",
        r"
        ! from <a@example.com>
        ! to <b@example.org>
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250 mx
        E: Ready
        > starttls
        C: STARTTLS
        S: 454 4.7.0 TLS not available due to temporary reason
        E: TlsRefused 454 4.7.0 TLS not available due to temporary reason
        > start
        C: MAIL FROM:<a@example.com>
        S: 250 Ok
        C: RCPT TO:<b@example.org>
        ",
    );
}

#[test]
fn ehlo_refused_falls_back_to_helo_without_extensions() {
    run_both(
        "helo_fallback",
        r"
        ! from <a@example.com>
        ! to <b@example.org>
        ! size 100
        ! body 7bit
        S: 220 old.example SMTP
        C: EHLO client.example
        S: 502 Command not implemented
        C: HELO client.example
        S: 250 old.example
        E: Ready
        > start
        C: MAIL FROM:<a@example.com>
        S: 250 Ok
        C: RCPT TO:<b@example.org>
        S: 251 User not local; will forward
        C: DATA
        S: 354 go ahead
        E: SendBody
        > finish
        C: .
        S: 250 Ok
        E: Delivered
        R: <b@example.org> accepted: 250 Ok
        ",
    );
}

#[test]
fn parameters_are_sent_where_offered() {
    run_both(
        "parameters",
        r"
        ! from <jöran@example.com>
        ! to <b@example.org>
        ! notify failure,delay
        ! orcpt rfc822;B+@example.org
        ! size 1234
        ! body 8bitmime
        ! ret hdrs
        ! envid QQ314159
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250-mx
        S: 250-SIZE 52428800
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250 DSN
        E: Ready
        > start
        C: MAIL FROM:<jöran@example.com> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159
        S: 250 Ok
        C: RCPT TO:<b@example.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;B+2B@example.org
        S: 250 Ok
        C: DATA
        ",
    );
}

#[test]
fn mail_refused_when_pipelined_fails_everyone_without_rset() {
    run_both(
        "mail_refused",
        r"
        ! from <spammer@example.com>
        ! to <b@example.org>
        ! to <c@example.org>
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250-mx
        S: 250 PIPELINING
        E: Ready
        > start
        C: MAIL FROM:<spammer@example.com>
        C: RCPT TO:<b@example.org>
        C: RCPT TO:<c@example.org>
        C: DATA
        S: 553 5.7.1 Sender rejected
        S: 503 5.5.1 Need MAIL command
        S: 503 5.5.1 Need MAIL command
        S: 503 5.5.1 Need MAIL command
        E: Delivered
        R: <b@example.org> bounced: 553 5.7.1 Sender rejected (in reply to MAIL FROM)
        R: <c@example.org> bounced: 553 5.7.1 Sender rejected (in reply to MAIL FROM)
        ",
    );
}

#[test]
fn no_recipient_accepted_without_pipelining_sends_rset_not_data() {
    run_both(
        "rset_instead_of_data",
        r"
        ! from <a@example.com>
        ! to <x@example.org>
        ! to <y@example.org>
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250 mx
        E: Ready
        > start
        C: MAIL FROM:<a@example.com>
        S: 250 Ok
        C: RCPT TO:<x@example.org>
        S: 550 5.1.1 No
        C: RCPT TO:<y@example.org>
        S: 451 4.3.0 Later
        C: RSET
        S: 250 Ok
        E: Delivered
        R: <x@example.org> bounced: 550 5.1.1 No (in reply to RCPT TO)
        R: <y@example.org> deferred: 451 4.3.0 Later (in reply to RCPT TO)
        ! from <a@example.com>
        ! to <z@example.org>
        > start
        C: MAIL FROM:<a@example.com>
        S: 250 Ok
        C: RCPT TO:<z@example.org>
        ",
    );
}

#[test]
fn server_closing_with_421_defers_undecided_recipients() {
    run_both(
        "421",
        r"
        ! mode lmtp
        ! from <a@example.com>
        ! to <b@example.org>
        ! to <c@example.org>
        ! to <d@example.org>
        S: 220 mda LMTP
        C: LHLO client.example
        S: 250-mda
        S: 250 PIPELINING
        E: Ready
        > start
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        C: RCPT TO:<c@example.org>
        C: RCPT TO:<d@example.org>
        C: DATA
        S: 250 Ok
        S: 550 5.1.1 Unknown
        S: 421 4.3.2 Shutting down
        S: 250 never read
        E: Delivered
        R: <b@example.org> bounced: 550 5.1.1 Unknown (in reply to RCPT TO)
        R: <c@example.org> deferred: 421 4.3.2 Shutting down (in reply to RCPT TO)
        R: <d@example.org> deferred: 421 4.3.2 Shutting down (in reply to RCPT TO)
        X: server closing the connection: 421 4.3.2 Shutting down
        ",
    );
}

#[test]
fn lost_connection_keeps_lmtp_results_already_received() {
    run_both(
        "lost_after_dot",
        r"
        ! mode lmtp
        ! from <a@example.com>
        ! to <b@example.org>
        ! to <c@example.org>
        S: 220 mda LMTP
        C: LHLO client.example
        S: 250-mda
        S: 250 PIPELINING
        E: Ready
        > start
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        C: RCPT TO:<c@example.org>
        C: DATA
        S: 250 Ok
        S: 250 Ok
        S: 250 Ok
        S: 354 Go
        E: SendBody
        > finish
        C: .
        S: 250 2.0.0 Delivered
        > lost
        E: Delivered
        R: <b@example.org> accepted: 250 2.0.0 Delivered
        R: <c@example.org> deferred: connection closed by the server (during end of data)
        X: connection closed by the server
        > quit
        X: quit: not possible in the session's current state
        ",
    );
}

#[test]
fn malformed_reply_mid_transaction_defers_and_fails() {
    run_both(
        "malformed",
        r"
        ! from <a@example.com>
        ! to <b@example.org>
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250-mx
        S: 250 PIPELINING
        E: Ready
        > start
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 Ok
        S: 25O Ok
        E: Delivered
        R: <b@example.org> deferred: protocol error: malformed reply line (during RCPT TO)
        X: protocol error: malformed reply line
        ",
    );
}

#[test]
fn positive_reply_of_the_wrong_kind_is_a_protocol_error() {
    run_both(
        "wrong_kind",
        r"
        ! from <a@example.com>
        ! to <b@example.org>
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250 mx
        E: Ready
        > start
        C: MAIL FROM:<a@example.com>
        S: 250 Ok
        C: RCPT TO:<b@example.org>
        S: 250 Ok
        C: DATA
        S: 250 Ok but no 354
        E: Delivered
        R: <b@example.org> deferred: protocol error: 250 is not a valid reply to DATA (during DATA)
        X: protocol error: 250 is not a valid reply to DATA
        ",
    );
}

#[test]
fn greeting_refused() {
    run_both(
        "greeting_554",
        r"
        S: 554 5.7.1 No SMTP service here
        X: greeting refused: 554 5.7.1 No SMTP service here
        ",
    );
}

#[test]
fn idle_timeout_421_and_unsolicited_replies() {
    run_both(
        "idle_421",
        r"
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250 mx
        E: Ready
        S: 421 4.4.2 mx Error: timeout exceeded
        X: server closing the connection: 421 4.4.2 mx Error: timeout exceeded
        ",
    );
    run_both(
        "unsolicited",
        r"
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250 mx
        S: 250 extra
        E: Ready
        X: protocol error: unsolicited 250 reply
        ",
    );
}

#[test]
fn body_calls_out_of_turn_are_refused() {
    run_both(
        "usage",
        r"
        ! from <a@example.com>
        ! to <b@example.org>
        S: 220 mx ESMTP
        C: EHLO client.example
        > body x
        X: body: no message body is expected now
        > finish
        X: finish: no message body is expected now
        > start
        X: start: the session is not ready for a transaction
        S: 250-mx
        S: 250 SIZE 10
        E: Ready
        ! from <a@example.com>
        ! to <b@example.org>
        ! size 11
        > start
        X: start: message size 11 exceeds the server's limit of 10
        ",
    );
}
