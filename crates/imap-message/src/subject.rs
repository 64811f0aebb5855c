//! The base subject of RFC 5256 section 2.1, which SORT SUBJECT and THREAD compare.

use crate::header;

/// The RFC 5256 base subject of a Subject value (raw or already decoded): encoded words
/// decoded, whitespace collapsed, `Re:`/`Fw:`/`Fwd:` leaders, `[blob]` prefixes, `(fwd)`
/// trailers and `[fwd: ...]` wrappers removed. The result is lowercased (Unicode) so that
/// equal subjects compare equal as the RFC's case-insensitive comparison wants.
pub fn base_subject(subject: &str) -> String {
    base_subject_and_reply(subject).0
}

/// [`base_subject`] and whether the subject was a reply or forward (a `re:`, `fwd:`, `(fwd)`
/// or `[fwd: ]` was removed), which THREAD=REFERENCES uses when it merges threads by subject.
pub fn base_subject_and_reply(subject: &str) -> (String, bool) {
    let decoded = if subject.contains("=?") {
        header::decode_text(subject.as_bytes())
    } else {
        subject.to_owned()
    };
    // (1) whitespace runs (tabs, folds) become one space
    let mut s = String::with_capacity(decoded.len());
    let mut space = false;
    for c in decoded.chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !s.is_empty() {
                s.push(' ');
            }
            space = false;
            s.push(c);
        }
    }

    let mut reply = false;
    let mut s = s.as_str();
    loop {
        // (2) trailers
        loop {
            let t = s.trim_end_matches(' ');
            match t.strip_suffix("(fwd)") {
                Some(rest) => {
                    reply = true;
                    s = rest;
                }
                None => {
                    s = t;
                    break;
                }
            }
        }
        // (3)-(5) leaders and blobs, until nothing changes
        loop {
            let before = s.len();
            s = s.trim_start_matches(' ');
            if let Some(rest) = strip_leader(s) {
                reply = true;
                s = rest;
            }
            if let Some(rest) = strip_blob(s)
                && !rest.trim_start_matches(' ').is_empty()
            {
                s = rest;
            }
            if s.len() == before {
                break;
            }
        }
        // (6) [fwd: ...]
        match s.strip_prefix("[fwd:").and_then(|r| r.strip_suffix(']')) {
            Some(inner) => {
                reply = true;
                s = inner;
            }
            None => break,
        }
    }
    (s.to_owned(), reply)
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: what follows it.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find(['[', ']'])?;
    let rest = rest.get(end..)?.strip_prefix(']')?;
    Some(rest.trim_start_matches(' '))
}

/// `*subj-blob subj-refwd`, where `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn strip_leader(s: &str) -> Option<&str> {
    let mut rest = s;
    while let Some(r) = strip_blob(rest) {
        rest = r;
    }
    let rest = ["re", "fwd", "fw"]
        .iter()
        .find_map(|word| rest.strip_prefix(word))?
        .trim_start_matches(' ');
    let rest = strip_blob(rest).unwrap_or(rest);
    rest.strip_prefix(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5256_extraction() {
        let cases = [
            ("Re: hello", "hello", true),
            ("RE: Re: re: hello", "hello", true),
            ("Fwd: hello", "hello", true),
            ("Fw: hello", "hello", true),
            ("Re[2]: hello", "hello", true),
            ("Re [2]: hello", "hello", true),
            ("[list] Re: hello", "hello", true),
            ("Re: [list] hello", "hello", true),
            ("[list] hello", "hello", false),
            ("[only blob]", "[only blob]", false),
            ("hello (fwd)", "hello", true),
            ("hello (fwd) (FWD)  ", "hello", true),
            ("[Fwd: Re: hello]", "hello", true),
            ("[fwd: hello (fwd)]", "hello", true),
            ("  Hello\t  World  ", "hello world", false),
            ("Re: =?ISO-8859-1?Q?Caf=E9?=", "café", true),
            ("Reply: x", "reply: x", false),
            ("", "", false),
            ("Re:", "", true),
        ];
        for (input, base, reply) in cases {
            assert_eq!(
                base_subject_and_reply(input),
                (base.to_owned(), reply),
                "{input:?}"
            );
        }
    }
}
