//! In-crate tests: RFC vectors, chunking, snapshots, malformed input; shared helpers here.

mod chunking;
mod keys;
mod malformed;
mod rfc;
mod signing;
mod verify;

use std::path::PathBuf;

/// Bytes of a file under `testdata/`.
pub(crate) fn testdata(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A raw message split into header fields (name, value after the colon with CRLF folding)
/// and the body.
pub(crate) struct RawMessage {
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawMessage {
    pub fn parse(raw: &[u8]) -> RawMessage {
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut rest = raw;
        loop {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("unterminated header");
            let (line, tail) = rest.split_at(end);
            rest = &tail[2..];
            if line.is_empty() {
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                let last = headers.last_mut().expect("continuation without field");
                last.1.extend_from_slice(b"\r\n");
                last.1.extend_from_slice(line);
            } else {
                let colon = line.iter().position(|&b| b == b':').expect("no colon");
                headers.push((line[..colon].to_vec(), line[colon + 1..].to_vec()));
            }
        }
        RawMessage {
            headers,
            body: rest.to_vec(),
        }
    }

    pub fn header_refs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect()
    }
}

/// The complete message with `signed` prepended.
pub(crate) fn assemble(signed: &crate::Signed, headers: &[(&[u8], &[u8])], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:{}\r\n", signed.name, signed.value).into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(n);
        out.push(b':');
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}
