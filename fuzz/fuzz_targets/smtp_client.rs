//! Bytes from a hostile SMTP/LMTP server into the client session, with transactions running
//! over it: never panic, never loop, never hold more than a line; every transaction started
//! ends with exactly one result per recipient (before any error), an accepted recipient always
//! has a 2xx behind it, and what goes to the server is whole lines. Also: the DATA encoder
//! round-trips through the server's decoder for any message cut anywhere.
//!
//! The first byte picks the mode and options, its top bit switches the rest of the input from
//! raw bytes to token mode (each byte picks a reply line or fragment), so the fuzzer reaches
//! the transaction without guessing a whole greeting first. The second byte sets how the
//! input is cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp::client::{
    ClientEvent, ClientSession, ClientSettings, DotStuffer, Envelope, RecipientStatus,
};
use smtp::data::DotDecoder;
use smtp::{ForwardPath, ReversePath};

#[rustfmt::skip]
const TOKENS: &[&[u8]] = &[
    b"220 mx ESMTP\r\n", b"250 ok\r\n", b"250 ok\r\n", b"250 ok\r\n", b"250-mx\r\n",
    b"250-PIPELINING\r\n", b"250-CHUNKING\r\n", b"250-STARTTLS\r\n", b"250-SIZE 10\r\n",
    b"250 SMTPUTF8\r\n", b"250 2.0.0 Ok: delivered\r\n", b"354 go\r\n", b"354 go\r\n",
    b"550 5.1.1 User unknown\r\n", b"452 4.2.2 Mailbox full\r\n", b"421 4.3.2 Bye\r\n",
    b"221 2.0.0 Bye\r\n", b"503 5.5.1 Bad sequence\r\n", b"554 5.5.1 No valid recipients\r\n",
    b"220 2.0.0 Ready to start TLS\r\n", b"502 5.5.1 No\r\n", b"\r\n", b"\n", b"\r", b"-",
    b" ", b"250", b"2.1.5", b"\xff", b"\0", b"text",
];

/// What the receiver must see for `message`: bare CR and LF made CRLF, and a final CRLF.
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

fn round_trip(message: &[u8], cut: usize) {
    let (head, tail) = message.split_at(cut.min(message.len()));
    let mut stuffer = DotStuffer::new();
    let mut wire = Vec::new();
    stuffer.push(head, &mut wire);
    stuffer.push(tail, &mut wire);
    stuffer.finish(&mut wire);
    let mut decoder = DotDecoder::new();
    let mut decoded = Vec::new();
    let (used, ended) = decoder.decode(&wire, &mut decoded);
    assert!(ended && used == wire.len(), "the end of data is the very end");
    assert!(!decoder.saw_bare_line_end());
    assert_eq!(decoded, canonical(message));
}

fn envelope(count: usize) -> Envelope {
    let sender = ReversePath::parse("<a@example.com>", false).expect("valid sender");
    let recipients = (0..count).map(|i| {
        ForwardPath::parse(&format!("<r{i}@example.org>"), false)
            .expect("valid recipient")
            .0
    });
    Envelope::new(sender.0, recipients)
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let Some((&cutting, data)) = data.split_first() else {
        return;
    };
    round_trip(data, usize::from(cutting) * 7);

    let mut settings = if control & 1 != 0 {
        ClientSettings::lmtp("client.example")
    } else {
        ClientSettings::smtp("client.example")
    };
    settings.pipelining = control & 2 != 0;
    settings.chunking = control & 4 != 0;
    settings.bdat_chunk_size = 4;
    settings.max_line_length = 64;
    settings.max_reply_lines = 8;
    let recipients = 1 + usize::from(control >> 3 & 3);
    let use_tls = control & 0x20 != 0;
    let quit_early = control & 0x40 != 0;

    let input: Vec<u8> = if control & 0x80 != 0 {
        data.iter()
            .flat_map(|&b| TOKENS[usize::from(b) % TOKENS.len()].iter().copied())
            .collect()
    } else {
        data.to_vec()
    };

    let mut client = ClientSession::new(settings);
    let (mut started, mut delivered, mut tls_tried) = (0usize, 0usize, false);
    let mut errored = false;
    let piece = 1 + usize::from(cutting % 67);
    for chunk in input.chunks(piece) {
        client.receive(chunk);
        let mut steps = 0usize;
        loop {
            steps += 1;
            assert!(steps <= 4 * chunk.len() + 8, "event loop does not terminate");
            let event = match client.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(error) => {
                    assert_eq!(client.next_event(), Err(error), "errors are final");
                    assert_eq!(started, delivered, "results come before the error");
                    errored = true;
                    break;
                }
            };
            assert!(!errored);
            match event {
                ClientEvent::Ready | ClientEvent::TlsRefused(_) => {
                    if use_tls && !tls_tried && client.start_tls().is_ok() {
                        tls_tried = true;
                    } else if started < 3 && client.start(envelope(recipients)).is_ok() {
                        started += 1;
                    } else {
                        let _ = client.quit();
                    }
                }
                ClientEvent::TlsReady => client.tls_established().expect("handshake phase"),
                ClientEvent::SendBody => {
                    client.send_body(b"a\r\n.b\r").expect("body phase");
                    client.send_body(b"\n.\r\n").expect("body phase");
                    client.finish_body().expect("body phase");
                    if quit_early {
                        client.quit().expect("quit after the body is allowed");
                    }
                }
                ClientEvent::Delivered(results) => {
                    delivered += 1;
                    assert!(delivered <= started);
                    assert_eq!(results.len(), recipients);
                    for result in &results {
                        let code = result.status.reply().map(|r| r.code / 100);
                        match &result.status {
                            RecipientStatus::Accepted(_) => assert_eq!(code, Some(2)),
                            RecipientStatus::TempFailed(_) => assert!(matches!(code, None | Some(4))),
                            RecipientStatus::PermFailed(_) => assert_eq!(code, Some(5)),
                        }
                    }
                    if client.is_ready() && started < 3 && client.start(envelope(recipients)).is_ok() {
                        started += 1;
                    }
                }
                ClientEvent::Closed => assert!(client.is_closed()),
            }
        }
        assert!(client.buffered() <= 64 + piece);
        let output = client.output();
        assert!(output.is_empty() || output.ends_with(b"\r\n"));
    }
});
