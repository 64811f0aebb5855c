//! Minimal PEM framing (RFC 7468) for private keys: find a block, decode, encode.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::KeyError;

/// Labels `SigningKey::from_pem` understands.
pub(crate) const SUPPORTED: [&str; 2] = ["RSA PRIVATE KEY", "PRIVATE KEY"];

/// One decoded PEM block.
pub(crate) struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// The first block with a supported label; other blocks (e.g. "EC PARAMETERS") are skipped.
pub(crate) fn find_private_key(input: &[u8]) -> Result<Block, KeyError> {
    let mut first_other: Option<String> = None;
    let mut lines = input.split(|&b| b == b'\n').map(|l| l.trim_ascii());
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix(b"-----BEGIN ")
            .and_then(|l| l.strip_suffix(b"-----"))
        else {
            continue;
        };
        let label = String::from_utf8_lossy(label).into_owned();
        let end = format!("-----END {label}-----");
        let mut body = Vec::new();
        let mut encrypted = false;
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end.as_bytes() {
                closed = true;
                break;
            }
            if line.starts_with(b"-----") {
                return Err(KeyError::MalformedPem("unterminated block"));
            }
            if line.contains(&b':') {
                // RFC 1421 headers: only ever seen on encrypted legacy keys.
                encrypted |= line.starts_with(b"Proc-Type") || line.starts_with(b"DEK-Info");
                continue;
            }
            body.extend(line.iter().copied().filter(|b| !b.is_ascii_whitespace()));
        }
        if !closed {
            return Err(KeyError::MalformedPem("missing END line"));
        }
        if !SUPPORTED.contains(&label.as_str()) {
            first_other.get_or_insert(label);
            continue;
        }
        if encrypted {
            return Err(KeyError::UnsupportedPem(format!("encrypted {label}")));
        }
        let der = STANDARD
            .decode(&body)
            .map_err(|_| KeyError::MalformedPem("bad base64"))?;
        return Ok(Block { label, der });
    }
    Err(first_other.map_or(KeyError::NoPem, KeyError::UnsupportedPem))
}

/// PEM text for `der` under `label`, 64 base64 characters a line.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at_checked(64).unwrap_or((rest, ""));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_skips_other_blocks() {
        let der: Vec<u8> = (0..=200u8).collect();
        let text = format!(
            "junk\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            encode("PRIVATE KEY", &der).replace('\n', "\r\n")
        );
        let block = find_private_key(text.as_bytes()).unwrap();
        assert_eq!(block.label, "PRIVATE KEY");
        assert_eq!(block.der, der);
    }

    #[test]
    fn reports_what_is_wrong() {
        assert_eq!(find_private_key(b"").err(), Some(KeyError::NoPem));
        assert!(matches!(
            find_private_key(
                b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
            ),
            Err(KeyError::UnsupportedPem(_))
        ));
        assert!(matches!(
            find_private_key(b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"),
            Err(KeyError::UnsupportedPem(_))
        ));
        assert!(matches!(
            find_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA"),
            Err(KeyError::MalformedPem(_))
        ));
        assert!(matches!(
            find_private_key(b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----"),
            Err(KeyError::MalformedPem(_))
        ));
    }
}
