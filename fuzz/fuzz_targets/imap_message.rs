//! What IMAP shows of a message, from arbitrary bytes: parse, ENVELOPE, BODYSTRUCTURE,
//! sections on a few paths, BINARY, and the search predicates. Never panic, never overflow
//! the stack.
#![no_main]

use imap_message::{MessageView, SectionKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let m = MessageView::parse(data);
    let _ = m.envelope();
    let _ = m.body_structure(true);
    let _ = m.body_structure(false);
    let names = ["Subject".to_owned(), "From".to_owned()];
    for path in [&[][..], &[1], &[1, 1], &[2], &[1, 2], &[2, 1, 1]] {
        for kind in [
            SectionKind::Full,
            SectionKind::Header,
            SectionKind::HeaderFields(&names),
            SectionKind::HeaderFieldsNot(&names),
            SectionKind::Text,
            SectionKind::Mime,
        ] {
            let _ = m.section(path, kind);
        }
        let _ = m.binary(path);
    }
    let _ = m.body_contains("needle");
    let _ = m.text_contains("ünïcode");
    let _ = m.header_contains("Subject", "x");
    let _ = m.sort_fields();
    let _ = m.thread_ids();
    let _ = m.sent_date();
});
