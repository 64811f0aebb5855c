//! The client against our own server session, in memory: LMTP with recipients refused at
//! RCPT and per-recipient final replies, SMTP's single final reply, connection reuse with RSET,
//! STARTTLS, BDAT and BINARYMIME, limits; and the body encoding checked by the server's own
//! dot-unstuffing for random messages cut at random places.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::Driver;
use smtp::client::{
    ClientEvent, ClientSession, ClientSettings, Envelope, RecipientResult, Stage, StartError,
};
use smtp::{Body, ForwardPath, Reply, ReversePath, ServerSession, Settings};

/// Client and server wired back to back.
struct Loop {
    client: ClientSession,
    server: ServerSession,
    driver: Driver,
    /// Server output already handed to the client.
    seen: usize,
}

impl Loop {
    fn new(client: ClientSettings, server: Settings) -> Self {
        let mut server = ServerSession::new(server);
        server.greet();
        let mut driver = Driver::default();
        driver.drain(&mut server);
        let mut this = Self {
            client: ClientSession::new(client),
            server,
            driver,
            seen: 0,
        };
        assert_eq!(this.exchange(), [ClientEvent::Ready]);
        this
    }

    /// Moves bytes both ways until neither side has anything to say; returns client events.
    fn exchange(&mut self) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        loop {
            let mut moved = false;
            let to_server = self.client.output();
            if !to_server.is_empty() {
                self.server.receive(&to_server);
                moved = true;
            }
            self.driver.drain(&mut self.server);
            let output = &self.driver.outcome.output;
            if output.len() > self.seen {
                self.client.receive(&output[self.seen..]);
                self.seen = output.len();
                moved = true;
            }
            while let Some(event) = self.client.next_event().unwrap() {
                events.push(event);
            }
            if !moved {
                return events;
            }
        }
    }

    /// One transaction, the message sent in the given pieces; returns the results.
    fn deliver(&mut self, envelope: Envelope, pieces: &[&[u8]]) -> Vec<RecipientResult> {
        self.client.start(envelope).unwrap();
        let mut events = self.exchange();
        if events.first() == Some(&ClientEvent::SendBody) {
            events.remove(0);
            assert!(events.is_empty(), "{events:?}");
            for piece in pieces {
                self.client.send_body(piece).unwrap();
                events.extend(self.exchange());
            }
            self.client.finish_body().unwrap();
            events.extend(self.exchange());
        }
        match events.as_slice() {
            [ClientEvent::Delivered(results)] => {
                assert!(self.client.is_ready());
                results.clone()
            }
            other => panic!("expected Delivered, got {other:?}"),
        }
    }
}

fn path(text: &str) -> ForwardPath {
    ForwardPath::parse(text, true).unwrap().0
}

fn envelope(recipients: &[&str]) -> Envelope {
    let sender = ReversePath::parse("<sender@example.com>", false).unwrap().0;
    Envelope::new(sender, recipients.iter().map(|r| path(r)))
}

/// `recipient accepted|deferred|bounced@stage code`, compact for asserts.
fn summary(results: &[RecipientResult]) -> Vec<String> {
    results
        .iter()
        .map(|r| {
            let status = &r.status;
            let kind = if status.is_accepted() {
                "accepted".to_owned()
            } else {
                let failure = match status {
                    smtp::RecipientStatus::TempFailed(f) | smtp::RecipientStatus::PermFailed(f) => {
                        f
                    }
                    smtp::RecipientStatus::Accepted(_) => unreachable!(),
                };
                let word = if status.is_temporary() {
                    "deferred"
                } else {
                    "bounced"
                };
                format!("{word}@{:?}", failure.stage())
            };
            let code = status.reply().map_or(0, |reply| reply.code);
            format!("{} {kind} {code}", r.recipient)
        })
        .collect()
}

const MESSAGE: &[u8] =
    b"From: a@example.com\r\nSubject: test\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n";

fn client_settings(lmtp: bool, pipelining: bool, chunking: bool) -> ClientSettings {
    let mut settings = if lmtp {
        ClientSettings::lmtp("mta.example.org")
    } else {
        ClientSettings::smtp("mta.example.org")
    };
    settings.pipelining = pipelining;
    settings.chunking = chunking;
    settings.bdat_chunk_size = 16;
    settings
}

#[test]
fn lmtp_recipients_refused_at_rcpt_and_per_recipient_final_replies() {
    for (pipelining, chunking) in [(true, false), (false, false), (true, true)] {
        let mut pair = Loop::new(
            client_settings(true, pipelining, chunking),
            Settings::lmtp("mda.example.org"),
        );
        let recipients = [
            "<alice@example.org>",
            "<unknown@example.org>",
            "<full@example.org>",
            "<bob@example.org>",
        ];
        let results = pair.deliver(envelope(&recipients), &[&MESSAGE[..7], &MESSAGE[7..]]);
        assert_eq!(
            summary(&results),
            [
                "<alice@example.org> accepted 250",
                "<unknown@example.org> bounced@Rcpt 550",
                "<full@example.org> bounced@EndOfData 552",
                "<bob@example.org> accepted 250",
            ],
            "pipelining {pipelining}, chunking {chunking}"
        );
        assert_eq!(
            results[0].status.reply(),
            Some(&Reply::ok_delivered()),
            "the server's own reply comes through"
        );
        assert_eq!(pair.driver.outcome.messages, [MESSAGE]);
    }
}

#[test]
fn lmtp_connection_is_reused_with_rset_after_a_refused_transaction() {
    let mut pair = Loop::new(
        client_settings(true, true, false),
        Settings::lmtp("mda.example.org"),
    );
    let first = pair.deliver(envelope(&["<a@example.org>"]), &[b"one\r\n"]);
    assert!(first[0].status.is_accepted());
    // Nobody accepted: DATA is refused by the server, the client resets the transaction.
    let second = pair.deliver(envelope(&["<unknown@example.org>"]), &[b"never\r\n"]);
    assert_eq!(summary(&second), ["<unknown@example.org> bounced@Rcpt 550"]);
    assert!(pair.driver.outcome.events.iter().any(|e| e == "Reset"));
    let third = pair.deliver(
        envelope(&["<b@example.org>", "<c@example.org>"]),
        &[b"three"],
    );
    assert!(third.iter().all(|r| r.status.is_accepted()));
    // An explicit RSET, as a pool does before reusing a connection.
    pair.client.reset().unwrap();
    assert_eq!(pair.exchange(), [ClientEvent::Ready]);
    pair.client.quit().unwrap();
    assert_eq!(pair.exchange(), [ClientEvent::Closed]);
    assert!(pair.server.is_closed() && pair.client.is_closed());
    assert_eq!(
        pair.driver.outcome.messages,
        [b"one\r\n".to_vec(), b"three\r\n".to_vec()]
    );
}

#[test]
fn smtp_one_final_reply_for_all_accepted_recipients() {
    for (pipelining, chunking) in [(true, false), (false, false), (true, true)] {
        let mut pair = Loop::new(
            client_settings(false, pipelining, chunking),
            Settings::smtp("mx.example.org"),
        );
        let results = pair.deliver(
            envelope(&[
                "<a@example.org>",
                "<unknown@example.org>",
                "<full@example.org>",
            ]),
            &[MESSAGE],
        );
        assert_eq!(
            summary(&results),
            [
                "<a@example.org> accepted 250",
                "<unknown@example.org> bounced@Rcpt 550",
                "<full@example.org> accepted 250",
            ]
        );
        assert_eq!(results[0].status.reply(), Some(&Reply::ok_queued("TEST")));
        assert_eq!(pair.driver.outcome.messages, [MESSAGE]);
    }
}

#[test]
fn quit_pipelined_behind_the_message() {
    let mut pair = Loop::new(
        client_settings(false, true, false),
        Settings::smtp("mx.example.org"),
    );
    pair.client.start(envelope(&["<a@example.org>"])).unwrap();
    assert_eq!(pair.exchange(), [ClientEvent::SendBody]);
    pair.client.send_body(b"x").unwrap();
    pair.client.finish_body().unwrap();
    pair.client.quit().unwrap();
    let events = pair.exchange();
    assert!(
        matches!(events.as_slice(), [ClientEvent::Delivered(r), ClientEvent::Closed] if r[0].status.is_accepted())
    );
}

#[test]
fn starttls_then_greeting_again() {
    let mut server = Settings::smtp("mx.example.org");
    server.extensions.starttls = true;
    let mut pair = Loop::new(client_settings(false, true, false), server);
    assert!(pair.client.capabilities().unwrap().starttls);
    pair.client.start_tls().unwrap();
    assert_eq!(pair.exchange(), [ClientEvent::TlsReady]);
    // (The TLS handshake would run here on a real connection.)
    pair.client.tls_established().unwrap();
    assert_eq!(pair.exchange(), [ClientEvent::Ready]);
    assert!(pair.server.is_tls() && pair.client.is_tls());
    assert!(!pair.client.capabilities().unwrap().starttls);
    let results = pair.deliver(envelope(&["<a@example.org>"]), &[b"over tls\r\n"]);
    assert!(results[0].status.is_accepted());
}

#[test]
fn size_limits_before_and_after_the_data() {
    let mut server = Settings::smtp("mx.example.org");
    server.max_message_size = Some(64);
    let mut pair = Loop::new(client_settings(false, true, false), server);
    assert_eq!(pair.client.capabilities().unwrap().max_size, Some(64));
    let mut too_big = envelope(&["<a@example.org>"]);
    too_big.params.size = Some(65);
    assert_eq!(
        pair.client.start(too_big),
        Err(StartError::TooLarge {
            size: 65,
            limit: 64
        })
    );
    // Without SIZE= the server finds out at the end of data.
    let results = pair.deliver(envelope(&["<a@example.org>"]), &[&[b'x'; 100]]);
    assert_eq!(summary(&results), ["<a@example.org> bounced@EndOfData 552"]);
    let results = pair.deliver(envelope(&["<a@example.org>"]), &[b"small"]);
    assert!(results[0].status.is_accepted());
}

#[test]
fn recipient_limit_defers_the_rest() {
    let mut server = Settings::lmtp("mda.example.org");
    server.max_recipients = 2;
    let mut pair = Loop::new(client_settings(true, true, false), server);
    let results = pair.deliver(
        envelope(&["<a@example.org>", "<b@example.org>", "<c@example.org>"]),
        &[b"hi\r\n"],
    );
    assert_eq!(
        summary(&results),
        [
            "<a@example.org> accepted 250",
            "<b@example.org> accepted 250",
            "<c@example.org> deferred@Rcpt 452",
        ]
    );
    assert_eq!(results[2].status.reply().unwrap().enhanced, Some((4, 5, 3)));
}

#[test]
fn binarymime_goes_unchanged_through_bdat() {
    let mut server = Settings::smtp("mx.example.org");
    server.extensions.binarymime = true;
    let mut pair = Loop::new(client_settings(false, true, false), server);
    let binary = b"\0\x01bare\nlf\rcr\r\n.\r\nno final line end\xff";
    let mut envelope = envelope(&["<a@example.org>"]);
    envelope.params.body = Some(Body::BinaryMime);
    let results = pair.deliver(envelope, &[&binary[..5], &binary[5..]]);
    assert!(results[0].status.is_accepted());
    assert_eq!(pair.driver.outcome.messages, [binary.to_vec()]);
}

#[test]
fn utf8_addresses_with_smtputf8() {
    let mut pair = Loop::new(
        client_settings(true, true, false),
        Settings::lmtp("mda.example.org"),
    );
    let sender = ReversePath::parse("<jöran@example.com>", true).unwrap().0;
    let envelope = Envelope::new(sender, [path("<用户@例子.广告>")]);
    let results = pair.deliver(envelope, &[b"Subject: \xc3\xa9\r\n\r\n"]);
    assert!(results[0].status.is_accepted(), "{results:?}");
    assert!(pair.server.hello().is_some());
}

#[test]
fn failures_name_the_command_they_answered() {
    let mut pair = Loop::new(
        client_settings(true, true, false),
        Settings::lmtp("mda.example.org"),
    );
    let results = pair.deliver(envelope(&["<unknown@example.org>"]), &[]);
    let smtp::RecipientStatus::PermFailed(failure) = &results[0].status else {
        panic!("{results:?}");
    };
    assert_eq!(failure.stage(), Stage::Rcpt);
    assert_eq!(
        failure.to_string(),
        "550 5.1.1 User unknown (in reply to RCPT TO)"
    );
}

// --- the body encoding, checked by the server's decoder ----------------------------------------

/// xorshift64*: enough randomness for this, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A message rich in what dot-stuffing is about: dots, CRs and LFs at line starts.
    fn message(&mut self, crlf_only: bool) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b".",
            b"..",
            b"\r\n",
            b"\r\n.",
            b"\r\n.\r\n",
            b"a",
            b"text ",
            b"\xff",
            b"\0",
        ];
        const BARE: &[&[u8]] = &[b"\r", b"\n", b"\n.", b"\r.", b"\n.\r\n", b"\r\r\n"];
        let mut message = Vec::new();
        for _ in 0..self.below(40) {
            let bare = !crlf_only && self.below(4) == 0;
            let set = if bare { BARE } else { PIECES };
            message.extend_from_slice(set[self.below(set.len())]);
        }
        if crlf_only && !message.is_empty() && !message.ends_with(b"\r\n") {
            message.extend_from_slice(b"\r\n");
        }
        message
    }

    /// Cuts `message` at random places.
    fn pieces<'a>(&mut self, message: &'a [u8]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = (0..self.below(6))
            .map(|_| self.below(message.len() + 1))
            .collect();
        cuts.push(0);
        cuts.push(message.len());
        cuts.sort_unstable();
        cuts.windows(2).map(|w| &message[w[0]..w[1]]).collect()
    }
}

/// What the receiver must see: bare CR and LF made CRLF, and a final CRLF.
fn canonical(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = message.iter().peekable();
    while let Some(&b) = bytes.next() {
        match b {
            b'\r' => {
                bytes.next_if_eq(&&b'\n');
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn dot_stuffing_round_trips_random_messages_cut_anywhere() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for (lmtp, chunking) in [(true, false), (false, false), (true, true), (false, true)] {
        let server = if lmtp {
            Settings::lmtp("mda.example.org")
        } else {
            Settings::smtp("mx.example.org")
        };
        let mut pair = Loop::new(client_settings(lmtp, true, chunking), server);
        for round in 0..300 {
            let crlf_only = round % 2 == 0;
            let message = rng.message(crlf_only);
            let pieces = rng.pieces(&message);
            let results = pair.deliver(envelope(&["<a@example.org>", "<b@example.org>"]), &pieces);
            assert!(results.iter().all(|r| r.status.is_accepted()));
            let received = pair.driver.outcome.messages.pop().unwrap();
            if crlf_only {
                assert_eq!(received, message, "exact for CRLF messages: {message:?}");
            } else {
                assert_eq!(received, canonical(&message), "{message:?} in {pieces:?}");
            }
        }
    }
}
