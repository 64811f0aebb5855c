//! DKIM key records in DNS (RFC 6376 §3.6.1): parsing `v=DKIM1; k=; p=`, zone-file output.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::KeyError;
use crate::tags;

/// A parsed DKIM key TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsKeyRecord {
    /// `v=`, if present (always "DKIM1" when parsing succeeded).
    pub version: Option<String>,
    /// `k=`, if present (verifiers default to "rsa").
    pub key_type: Option<String>,
    /// The decoded `p=`; empty means the key was revoked.
    pub public_key: Vec<u8>,
}

/// Parses the (already concatenated) TXT strings of a DKIM key record.
pub fn parse_dns_record(txt: &str) -> Result<DnsKeyRecord, KeyError> {
    let bad = |why: &str| KeyError::Record(why.to_string());
    let list = tags::parse(txt.as_bytes()).ok_or_else(|| bad("not a tag=value list"))?;
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let version = tags::get(&list, "v").map(text);
    if let Some(v) = &version {
        if v != "DKIM1" {
            return Err(bad(&format!("v={v}, expected DKIM1")));
        }
        if list.first().is_some_and(|(n, _)| *n != b"v") {
            return Err(bad("v= must be the first tag"));
        }
    }
    let key_type = tags::get(&list, "k").map(text);
    let p = tags::get(&list, "p").ok_or_else(|| bad("no p= tag"))?;
    let public_key = STANDARD
        .decode(tags::without_fws(p))
        .map_err(|_| bad("p= is not valid base64"))?;
    Ok(DnsKeyRecord {
        version,
        key_type,
        public_key,
    })
}

/// Longest character-string in a TXT record (RFC 1035 §3.3).
const TXT_STRING_MAX: usize = 255;

/// The record in zone-file syntax, split into quoted strings of at most 255 bytes:
///
/// ```text
/// NAME IN TXT ( "v=DKIM1; k=rsa; "
///     "p=MIIBIjANBg..."
///     "...IDAQAB" )
/// ```
pub fn dns_txt_zone_lines(name: &str, value: &str) -> String {
    // Tags before p= go in their own string, p= is split at the size limit.
    let (head, key) = match value.find("p=") {
        Some(i) => value.split_at_checked(i).unwrap_or((value, "")),
        None => ("", value),
    };
    let mut strings: Vec<String> = Vec::new();
    for part in [head, key] {
        let mut rest = part;
        while !rest.is_empty() {
            let mut cut = rest.len().min(TXT_STRING_MAX);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (piece, tail) = rest.split_at_checked(cut).unwrap_or((rest, ""));
            strings.push(quote(piece));
            rest = tail;
        }
    }
    if strings.is_empty() {
        strings.push("\"\"".to_string());
    }
    format!("{name} IN TXT ( {} )", strings.join("\n\t"))
}

/// A zone-file character-string: quotes and backslashes escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_revokes() {
        let r =
            parse_dns_record("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
                .unwrap();
        assert_eq!(r.version.as_deref(), Some("DKIM1"));
        assert_eq!(r.key_type.as_deref(), Some("ed25519"));
        assert_eq!(r.public_key.len(), 32);
        let r = parse_dns_record("v=DKIM1; p=").unwrap();
        assert!(r.public_key.is_empty());
        let r = parse_dns_record("p=MIGf MA0G\r\n\tCSqG").unwrap();
        assert_eq!(r.version, None);
        assert_eq!(r.public_key.len(), 9);
    }

    #[test]
    fn rejects_bad_records() {
        for bad in [
            "",
            "v=DKIM1",
            "v=DKIM2; p=",
            "k=rsa; v=DKIM1; p=",
            "p=@@@",
            "p=a; p=b",
            "junk",
        ] {
            assert!(parse_dns_record(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn zone_lines_respect_string_limit() {
        let value = format!("v=DKIM1; k=rsa; p={}", "A".repeat(600));
        let zone = dns_txt_zone_lines("s._domainkey.example.com.", &value);
        assert!(
            zone.starts_with("s._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; \"\n\t\"p=AAA")
        );
        assert!(zone.ends_with("\" )"));
        let mut joined = String::new();
        for piece in zone.split('"').skip(1).step_by(2) {
            assert!(piece.len() <= 255);
            joined.push_str(piece);
        }
        assert_eq!(joined, value);
    }
}
