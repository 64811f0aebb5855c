//! SEARCH predicates: substring matches, case-insensitive (Unicode lowercase), on decoded
//! text. Header values are RFC 2047 decoded; bodies have their transfer encoding and charset
//! undone. The decoded text is built once per message and reused by later searches.

use crate::MessageView;
use crate::decode::{self, Encoding};
use crate::header;
use crate::mime::{Kind, Part};

impl MessageView<'_> {
    /// SEARCH HEADER (and FROM, TO, CC, BCC, SUBJECT): whether a top-level field named `field`
    /// contains `needle` in its decoded value (for address fields that covers names and
    /// addresses). An empty needle matches when the field exists.
    pub fn header_contains(&self, field: &str, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        let raw = self.raw;
        self.tree
            .get(0)
            .map(|p| p.fields.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|f| header::is_named(raw, f, field))
            .any(|f| {
                needle.is_empty()
                    || header::decode_text(header::slice(raw, f.value.clone()))
                        .to_lowercase()
                        .contains(&needle)
            })
    }

    /// SEARCH BODY: whether a text part (text/*, HTML as its source and as text, parts of
    /// encapsulated messages included) contains `needle` after decoding.
    pub fn body_contains(&self, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        needle.is_empty() || self.body_text().contains(&needle)
    }

    /// SEARCH TEXT: whether any header field (of any part) or the body text contains `needle`.
    pub fn text_contains(&self, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        needle.is_empty()
            || self.header_text().contains(&needle)
            || self.body_text().contains(&needle)
    }

    fn body_text(&self) -> &str {
        self.body_text.get_or_init(|| {
            let mut text = String::new();
            for part in &self.tree.parts {
                if matches!(part.kind, Kind::Leaf) && part.mime.is_text() {
                    append_text(&mut text, self.raw, part);
                }
            }
            text.to_lowercase()
        })
    }

    fn header_text(&self) -> &str {
        self.header_text.get_or_init(|| {
            let mut text = String::new();
            for part in &self.tree.parts {
                for f in &part.fields {
                    text.push_str(&String::from_utf8_lossy(header::slice(
                        self.raw,
                        f.name.clone(),
                    )));
                    text.push_str(": ");
                    text.push_str(&header::decode_text(header::slice(
                        self.raw,
                        f.value.clone(),
                    )));
                    text.push('\n');
                }
            }
            text.to_lowercase()
        })
    }
}

fn append_text(text: &mut String, raw: &[u8], part: &Part) {
    let body = header::slice(raw, part.body.clone());
    let bytes = Encoding::from_token(part.mime.encoding.as_deref())
        .unwrap_or(Encoding::Identity)
        .decode(body);
    let decoded = decode::text(&bytes, part.mime.charset());
    if part.mime.media().1.eq_ignore_ascii_case("html") {
        text.push_str(&mail_parser::decoders::html::html_to_text(&decoded));
        text.push('\n');
    }
    text.push_str(&decoded);
    text.push('\n');
}
