//! The message corpus signed and verified by the interop tests: the shapes that break DKIM
//! implementations (folding, 8-bit, empty and blank-line bodies, long lines, MIME, size).

/// A named test message with CRLF line ends.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: &'static str,
    pub data: Vec<u8>,
}

fn message(from: &str, headers: &str, body: &str) -> Vec<u8> {
    let text = format!(
        "From: {from}\nTo: Bob <bob@example.net>\nDate: Sun, 22 Nov 2026 10:00:00 +0000\n\
         Message-ID: <{}@example.com>\n{headers}\n{body}",
        headers.len() ^ body.len()
    );
    crlf(&text)
}

/// Turns LF line ends into CRLF.
pub fn crlf(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

/// The corpus sent from `from` (an address in a signing domain). `big_mb` adds a message with
/// a base64 attachment of that many megabytes (0 = none).
pub fn corpus(from: &str, big_mb: usize) -> Vec<Sample> {
    let mut samples = vec![
        Sample {
            name: "plain",
            data: message(from, "Subject: plain\n", "Hello Bob.\n"),
        },
        Sample {
            name: "folded-long-headers",
            data: message(
                from,
                "Subject: a subject that is long enough that it has to be folded over\n \
                 several lines by any well-behaved mail user agent,\n\tand once more with a tab\n\
                 Cc: one@example.net,  two@example.net,\n   three@example.net , \n\tfour@example.net\n\
                 X-Spaces:    lots   of    spaces   \n\
                 Reply-To:no-space@example.com\n",
                "Body.\n",
            ),
        },
        Sample {
            name: "rfc2047-and-utf8-headers",
            data: message(
                &format!("=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <{}>", addr(from)),
                "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\n\
                 X-Raw-Utf8: Grüße aus Köln, 東京, Ελλάδα\n\
                 MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
                 Content-Transfer-Encoding: 8bit\n",
                "Grüße!\n",
            ),
        },
        Sample {
            name: "utf8-8bit-body",
            data: message(
                from,
                "Subject: 8bit\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
                 Content-Transfer-Encoding: 8bit\n",
                "Straße, Ærø, Ωμέγα, 漢字, emoji 🙂\n\tindented line with tab\nend\n",
            ),
        },
        Sample {
            name: "empty-body",
            data: message(from, "Subject: empty body\n", ""),
        },
        Sample {
            name: "trailing-blank-lines",
            data: message(
                from,
                "Subject: trailing blank lines\n",
                "text with trailing spaces   \n\t\n  \n\n\n\n",
            ),
        },
        Sample {
            name: "very-long-lines",
            data: message(
                from,
                "Subject: long lines\n",
                &format!("{}\n{}\nshort\n", "x".repeat(990), "word ".repeat(1600)),
            ),
        },
        Sample {
            name: "dot-lines",
            data: message(from, "Subject: dots\n", ".\n..\n.leading dot\nend\n"),
        },
        Sample {
            name: "multipart-attachments",
            data: message(
                from,
                "Subject: multipart\nMIME-Version: 1.0\n\
                 Content-Type: multipart/mixed; boundary=\"b1\"\n",
                &multipart(64 * 1024),
            ),
        },
    ];
    if big_mb > 0 {
        samples.push(Sample {
            name: "big",
            data: message(
                from,
                "Subject: big\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n",
                &multipart(big_mb * 1024 * 1024),
            ),
        });
    }
    samples
}

fn addr(from: &str) -> &str {
    from.rsplit('<')
        .next()
        .unwrap_or(from)
        .trim_end_matches('>')
}

/// A multipart/mixed body: a UTF-8 text part and a base64 attachment of `attachment_bytes`.
pub fn multipart(attachment_bytes: usize) -> String {
    let mut body = String::with_capacity(attachment_bytes * 4 / 3 + 1024);
    body.push_str(
        "This is a MIME message.\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: quoted-printable\n\nHall=C3=B6chen\n\n--b1\n\
         Content-Type: application/octet-stream; name=\"data.bin\"\n\
         Content-Disposition: attachment; filename=\"data.bin\"\n\
         Content-Transfer-Encoding: base64\n\n",
    );
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut line = String::with_capacity(77);
    for _ in 0..attachment_bytes.div_ceil(57) {
        line.clear();
        for _ in 0..76 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            line.push(ALPHABET[(state % 64) as usize] as char);
        }
        body.push_str(&line);
        body.push('\n');
    }
    body.push_str("--b1--\n");
    body
}
