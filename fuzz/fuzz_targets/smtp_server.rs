//! Bytes from a hostile client into the SMTP/LMTP server session, in both modes: never panic,
//! never loop, never hold more than a line of input, and only ever write well-formed replies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp::{BareLfInCommands, BareLineEndsInData, ServerSession, Settings};

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    for lmtp in [false, true] {
        let mut settings = if lmtp {
            Settings::lmtp("lmtp.example.org")
        } else {
            Settings::smtp("mx.example.org")
        };
        settings.max_line_length = 64 + usize::from(control & 0x0f) * 32;
        settings.max_recipients = 3;
        settings.max_message_size = Some(4096);
        settings.max_errors = 50;
        settings.extensions.starttls = control & 0x10 != 0;
        settings.extensions.dsn = control & 0x20 != 0;
        settings.auth_mechanisms = vec!["PLAIN".into()];
        settings.auth_requires_tls = false;
        if control & 0x40 != 0 {
            settings.bare_lf_in_commands = BareLfInCommands::AcceptAsLineEnd;
        }
        if control & 0x80 != 0 {
            settings.bare_line_ends_in_data = BareLineEndsInData::Reject;
        }
        let limit = settings.max_line_length;
        let mut session = ServerSession::new(settings);
        session.greet();
        // Feed in pieces whose size depends on the control byte, to exercise reassembly.
        let piece = 1 + usize::from(control % 61);
        for chunk in data.chunks(piece) {
            session.receive(chunk);
            let mut steps = 0usize;
            while let Some(event) = session.next_event() {
                if event.needs_reply() {
                    session
                        .accept()
                        .expect("accept after an event that needs a reply");
                }
                steps += 1;
                assert!(
                    steps <= 4 * chunk.len() + 4,
                    "event loop does not terminate"
                );
            }
            assert!(session.buffered() <= limit + piece);
            let output = session.output();
            assert!(output.is_empty() || output.ends_with(b"\r\n"));
        }
    }
});
