//! Limits hold under abuse: recipients, line length, message size, BDAT sizes; memory stays
//! bounded however the bytes arrive.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Driver, run_pieces};
use smtp::{Event, ServerSession, Settings};

fn greeted(settings: Settings) -> ServerSession {
    let mut session = ServerSession::new(settings);
    session.greet();
    let hello: &[u8] = match session.settings().mode {
        smtp::Mode::Smtp => b"EHLO client.example.net\r\n",
        smtp::Mode::Lmtp => b"LHLO client.example.net\r\n",
    };
    session.receive(hello);
    Driver::default().drain(&mut session);
    session.output();
    session
}

#[test]
fn ten_thousand_recipients_are_capped_with_452() {
    for (settings, cap) in [
        (Settings::smtp("mx.example.org"), 100),
        (Settings::lmtp("lmtp.example.org"), 1000),
    ] {
        let mut session = greeted(settings);
        let mut input = b"MAIL FROM:<a@example.org>\r\n".to_vec();
        for n in 0..10_000 {
            input.extend_from_slice(format!("RCPT TO:<user{n}@example.org>\r\n").as_bytes());
        }
        // Arrive in 4 KiB reads, as from a socket.
        let cuts: Vec<usize> = (4096..input.len()).step_by(4096).collect();
        let outcome = run_pieces(&mut session, &input, &cuts);
        let output = String::from_utf8(outcome.output).unwrap();
        assert_eq!(output.matches("250 2.1.5 Ok\r\n").count(), cap);
        assert_eq!(
            output.matches("452 4.5.3 Too many recipients\r\n").count(),
            10_000 - cap
        );
        assert_eq!(session.recipients().len(), cap);
        assert_eq!(
            outcome
                .events
                .iter()
                .filter(|e| e.starts_with("Rcpt"))
                .count(),
            cap
        );
        assert_eq!(session.buffered(), 0);
        assert_eq!(session.error_count(), 0, "452 is not a protocol error");
    }
}

#[test]
fn overlong_line_is_never_buffered_and_resyncs() {
    let mut session = greeted(Settings::smtp("mx.example.org"));
    session.receive(b"NOOP ");
    let mut driver = Driver::default();
    for _ in 0..1024 {
        session.receive(&[b'x'; 1024]);
        driver.drain(&mut session);
        assert!(session.buffered() < 512, "{}", session.buffered());
    }
    session.receive(b"\r\nNOOP\r\n");
    driver.drain(&mut session);
    assert_eq!(
        String::from_utf8(driver.outcome.output).unwrap(),
        "500 5.5.6 Line too long\r\n250 2.0.0 Ok\r\n"
    );
}

#[test]
fn longer_line_limit_for_extensions() {
    let mut settings = Settings::smtp("mx.example.org");
    settings.max_line_length = 4096;
    let mut session = greeted(settings);
    let local = "a".repeat(60);
    let line = format!(
        "MAIL FROM:<{local}@example.org> ENVID=x{}\r\n",
        "y".repeat(3000)
    );
    session.receive(line.as_bytes());
    let mut driver = Driver::default();
    driver.drain(&mut session);
    // The line fits; ENVID is refused because DSN is off, not because of the length.
    assert_eq!(
        String::from_utf8(driver.outcome.output).unwrap(),
        "555 5.5.4 Unsupported parameter ENVID\r\n"
    );
}

#[test]
fn oversized_data_is_discarded_to_the_end_then_552() {
    let mut settings = Settings::smtp("mx.example.org");
    settings.max_message_size = Some(1000);
    let mut session = greeted(settings);
    session.receive(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
    let mut driver = Driver::default();
    driver.drain(&mut session);
    let mut delivered = 0;
    for _ in 0..1000 {
        session.receive(&[b'z'; 1000]);
        while let Some(event) = session.next_event() {
            if let Event::DataChunk(bytes) = event {
                delivered += bytes.len();
            }
        }
        assert_eq!(session.buffered(), 0);
    }
    assert!(delivered <= 1000);
    session.receive(b"\r\n.\r\nMAIL FROM:<a@example.org>\r\n");
    assert_eq!(
        session.next_event(),
        Some(Event::DataAborted(smtp::DataAbort::TooLarge))
    );
    assert!(matches!(session.next_event(), Some(Event::Mail { .. })));
    session.accept().unwrap();
    driver.outcome.output.extend(session.output());
    assert_eq!(
        String::from_utf8(driver.outcome.output).unwrap(),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n\
         552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.1.0 Ok\r\n"
    );
}

#[test]
fn data_chunks_are_bounded() {
    let mut session = greeted(Settings::smtp("mx.example.org"));
    session.receive(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
    Driver::default().drain(&mut session);
    session.receive(&vec![b'q'; 1 << 20]);
    let mut total = 0;
    while let Some(event) = session.next_event() {
        if let Event::DataChunk(bytes) = event {
            assert!(bytes.len() <= smtp::MAX_CHUNK);
            total += bytes.len();
        }
    }
    assert_eq!(total, 1 << 20);
}

#[test]
fn huge_bdat_is_streamed_and_capped() {
    let mut settings = Settings::smtp("mx.example.org");
    settings.max_message_size = Some(10_000);
    let mut session = greeted(settings);
    session.receive(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 18446744073709551615 LAST\r\n");
    let mut driver = Driver::default();
    driver.drain(&mut session);
    for _ in 0..100 {
        session.receive(&[0u8; 4096]);
        driver.drain(&mut session);
        assert_eq!(session.buffered(), 0);
    }
    assert!(driver.outcome.messages.is_empty());
}

#[test]
fn bdat_followed_by_pipelined_commands_at_every_split() {
    let input: &[u8] = b"EHLO client.example.net\r\nMAIL FROM:<a@example.org>\r\n\
RCPT TO:<b@example.org>\r\nBDAT 5\r\nhelloBDAT 8 LAST\r\n world\r\nRSET\r\n\
MAIL FROM:<c@example.org>\r\nRCPT TO:<d@example.org>\r\nBDAT 5 LAST\r\n.\r\n\r\nNOOP\r\nQUIT\r\n";
    let run = |cuts: &[usize]| {
        let mut session = ServerSession::new(Settings::smtp("mx.example.org"));
        run_pieces(&mut session, input, cuts)
    };
    let whole = run(&[]);
    assert_eq!(
        whole.messages,
        [b"hello world\r\n".to_vec(), b".\r\n\r\n".to_vec()]
    );
    let output = String::from_utf8(whole.output.clone()).unwrap();
    assert!(
        output.ends_with(
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 5 octets received\r\n\
             250 2.0.0 Ok: queued as TEST\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
             250 2.0.0 Ok: queued as TEST\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"
        ),
        "{output}"
    );
    for cut in 0..=input.len() {
        assert_eq!(run(&[cut]), whole, "cut at {cut}");
    }
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run(&bytewise), whole);
}
