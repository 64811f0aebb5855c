//! IMAP modified UTF-7 (RFC 3501 §5.1.3), the encoding Dovecot uses for folder names on disk.
//!
//! Printable US-ASCII stands for itself except `&`, which is written `&-`; every other run of
//! characters is UTF-16BE in base64 (with `,` instead of `/`, no padding) between `&` and `-`.

use crate::error::Utf7Error;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn is_literal(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Encodes a mailbox name (UTF-8) into modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_literal(c) {
            flush_run(&mut run, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush_run(&mut run, &mut out);
    out
}

fn flush_run(run: &mut Vec<u16>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    out.push('&');
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    for unit in run.drain(..) {
        for byte in unit.to_be_bytes() {
            bits = (bits << 8) | u32::from(byte);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                out.push(sextet((bits >> nbits) & 0x3f));
            }
        }
    }
    if nbits > 0 {
        out.push(sextet((bits << (6 - nbits)) & 0x3f));
    }
    out.push('-');
}

fn sextet(v: u32) -> char {
    ALPHABET.get(v as usize).map_or('A', |&b| char::from(b))
}

fn unsextet(b: u8) -> Option<u32> {
    let v = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes a modified UTF-7 mailbox name into UTF-8, refusing anything non-canonical so that
/// `encode(decode(s)) == s` for every accepted `s`.
pub fn decode(encoded: &str) -> Result<String, Utf7Error> {
    let bytes = encoded.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    // End offset of the last base64 section, to refuse `&AAA-&BBB-` (must be one section).
    let mut last_section_end = None;
    while let Some(&b) = bytes.get(i) {
        if b != b'&' {
            if !(0x20..=0x7e).contains(&b) {
                return Err(Utf7Error::NotPrintable { byte: b, at: i });
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let start = i;
        let rest = bytes.get(i + 1..).unwrap_or_default();
        let Some(len) = rest.iter().position(|&c| c == b'-') else {
            return Err(Utf7Error::Unterminated { at: start });
        };
        let section = rest.get(..len).unwrap_or_default();
        i = start + 1 + len + 1;
        if section.is_empty() {
            out.push('&');
            continue;
        }
        if last_section_end == Some(start) {
            return Err(Utf7Error::NotCanonical { at: start });
        }
        decode_section(section, start, &mut out)?;
        last_section_end = Some(i);
    }
    Ok(out)
}

fn decode_section(section: &[u8], at: usize, out: &mut String) -> Result<(), Utf7Error> {
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    let mut units: Vec<u16> = Vec::with_capacity(section.len() * 6 / 16);
    let mut pending: Option<u8> = None;
    for &c in section {
        let v = unsextet(c).ok_or(Utf7Error::BadBase64 { at })?;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            let byte = ((bits >> nbits) & 0xff) as u8;
            match pending.take() {
                None => pending = Some(byte),
                Some(hi) => units.push(u16::from_be_bytes([hi, byte])),
            }
        }
    }
    // Leftover must be padding only: fewer than 6 bits, all zero, and no half UTF-16 unit.
    if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 || pending.is_some() || units.is_empty() {
        return Err(Utf7Error::BadBase64 { at });
    }
    for decoded in char::decode_utf16(units) {
        let c = decoded.map_err(|_| Utf7Error::BadUtf16 { at })?;
        if is_literal(c) {
            return Err(Utf7Error::NotCanonical { at });
        }
        out.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from RFC 3501 §5.1.3 and RFC 2152-style cases checked by hand.
    const VECTORS: &[(&str, &str)] = &[
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("INBOX", "INBOX"),
        ("&", "&-"),
        ("A&B", "A&-B"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("Café", "Caf&AOk-"),
        ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
        ("😀", "&2D3eAA-"),
        ("a\tb", "a&AAk-b"),
        ("", ""),
    ];

    #[test]
    fn rfc3501_and_known_vectors_encode() {
        for (plain, enc) in VECTORS {
            assert_eq!(encode(plain), *enc, "encode {plain:?}");
        }
    }

    #[test]
    fn rfc3501_and_known_vectors_decode() {
        for (plain, enc) in VECTORS {
            assert_eq!(decode(enc).as_deref(), Ok(*plain), "decode {enc:?}");
        }
    }

    #[test]
    fn refuses_non_canonical_and_broken_input() {
        // RFC 3501: "&Jjo!" is not valid (unterminated), "&U,BTFw-&ZeVnLIqe-" must be one run.
        assert!(matches!(
            decode("&Jjo!"),
            Err(Utf7Error::Unterminated { .. })
        ));
        assert!(matches!(
            decode("&U,BTFw-&ZeVnLIqe-"),
            Err(Utf7Error::NotCanonical { .. })
        ));
        // "A" encoded in base64 instead of literally.
        assert!(matches!(
            decode("&AEE-"),
            Err(Utf7Error::NotCanonical { .. })
        ));
        // Nonzero padding bits.
        assert!(matches!(decode("&AOl-"), Err(Utf7Error::BadBase64 { .. })));
        // Standard base64 '/' is not modified base64.
        assert!(matches!(
            decode("&U/BTFw-"),
            Err(Utf7Error::BadBase64 { .. })
        ));
        // Lone high surrogate.
        assert!(matches!(decode("&2D0-"), Err(Utf7Error::BadUtf16 { .. })));
        // 8-bit byte literally.
        assert!(matches!(
            decode("Café"),
            Err(Utf7Error::NotPrintable { .. })
        ));
    }

    #[test]
    fn roundtrip_all_bmp_edges() {
        let s: String = [
            '\u{7f}',
            '\u{80}',
            '\u{ff}',
            '\u{d7ff}',
            '\u{e000}',
            '\u{fffd}',
            '\u{10ffff}',
        ]
        .iter()
        .collect();
        assert_eq!(decode(&encode(&s)).as_deref(), Ok(s.as_str()));
    }
}
