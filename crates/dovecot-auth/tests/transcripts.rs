//! Replays the "C:"/"S:" traces in `testdata/transcripts/` against an [`AuthSession`].
//!
//! Directives, one per line (`\t`, `\n`, `\r`, `\xNN` escapes allowed in the text):
//! - `O: <option>` (before any `C:`): `greeting=after-version`, `plaintext-unsecured`,
//!   `max-line=<n>`, `max-requests=<n>`, `mechanisms=PLAIN`.
//! - `C: <line>`: the client sends the line plus LF (`C+ <bytes>`: without LF).
//! - `S: <line>`: the next line the server sent.
//! - `E: <event>`: the next event (or `error <text>` for a protocol error).
//! - `A: ok <id> <user>`, `A: fail <id> [reason]`, `A: tempfail <id> [reason]`,
//!   `A: stale <id>`: the caller's answer (`stale` expects it to be refused).
//! - `#` comments and blank lines are skipped.
//!
//! At the end, every output line and event must have been matched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::path::Path;

use dovecot_auth::{AuthSession, Event, Greeting, Mechanism, SessionOptions};

const COOKIE: [u8; 16] = [0xab; 16];

fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b't' => out.push(b'\t'),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => panic!("unknown escape \\{}", char::from(other)),
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn render(event: &Event) -> String {
    match event {
        Event::Handshake {
            client_pid,
            minor_version,
        } => format!("handshake pid={client_pid} minor={minor_version}"),
        Event::Verify {
            id,
            mechanism,
            username,
            password,
            service,
            remote_ip,
            local_ip,
            secured,
        } => format!(
            "verify id={id} mech={mechanism} user={username} pass={} service={service} rip={} lip={} secured={secured}",
            String::from_utf8_lossy(password.expose()),
            remote_ip.map_or("-".into(), |ip| ip.to_string()),
            local_ip.map_or("-".into(), |ip| ip.to_string()),
        ),
        Event::Refused {
            id,
            reason,
            remote_ip,
        } => format!(
            "refused id={id} {reason:?} rip={}",
            remote_ip.map_or("-".into(), |ip| ip.to_string())
        ),
    }
}

struct Replay {
    session: Option<AuthSession>,
    options: SessionOptions,
    output: VecDeque<Vec<u8>>,
    pending_output: Vec<u8>,
    events: VecDeque<String>,
}

impl Replay {
    fn session(&mut self) -> &mut AuthSession {
        if self.session.is_none() {
            self.session = Some(AuthSession::new(self.options.clone()));
            self.drain();
        }
        self.session.as_mut().unwrap()
    }

    fn drain(&mut self) {
        let session = self.session.as_mut().unwrap();
        self.pending_output.extend(session.output());
        while let Some(lf) = self.pending_output.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending_output.drain(..=lf).collect();
            self.output.push_back(line[..line.len() - 1].to_vec());
        }
    }

    fn pump(&mut self) {
        loop {
            match self.session().next_event() {
                Ok(Some(event)) => self.events.push_back(render(&event)),
                Ok(None) => break,
                Err(error) => {
                    self.events.push_back(format!("error {error}"));
                    break;
                }
            }
        }
        self.drain();
    }
}

fn replay(path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let mut replay = Replay {
        session: None,
        options: SessionOptions::new(1234, 7, COOKIE),
        output: VecDeque::new(),
        pending_output: Vec::new(),
        events: VecDeque::new(),
    };
    for (number, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", number + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (tag, rest) = line.split_at(3);
        match tag {
            "O: " => {
                assert!(replay.session.is_none(), "{at}: options after start");
                let options = &mut replay.options;
                match rest.split_once('=') {
                    Some(("greeting", "after-version")) => {
                        options.greeting = Greeting::AfterClientVersion;
                    }
                    Some(("max-line", n)) => options.max_line = n.parse().unwrap(),
                    Some(("max-requests", n)) => options.max_requests = n.parse().unwrap(),
                    Some(("mechanisms", "PLAIN")) => options.mechanisms = vec![Mechanism::Plain],
                    None if rest == "plaintext-unsecured" => {
                        options.plaintext_requires_secured = false;
                    }
                    _ => panic!("{at}: unknown option {rest}"),
                }
            }
            "C: " | "C+ " => {
                let mut bytes = unescape(rest);
                if tag == "C: " {
                    bytes.push(b'\n');
                }
                replay.session().receive(&bytes);
                replay.pump();
            }
            "S: " => {
                replay.session();
                let got = replay.output.pop_front();
                let want = unescape(rest);
                assert_eq!(
                    got.as_deref().map(String::from_utf8_lossy),
                    Some(String::from_utf8_lossy(&want)),
                    "{at}"
                );
            }
            "E: " => {
                assert_eq!(replay.events.pop_front().as_deref(), Some(rest), "{at}");
            }
            "A: " => {
                let mut words = rest.splitn(3, ' ');
                let (verb, id) = (words.next().unwrap(), words.next().unwrap());
                let id: u32 = id.parse().unwrap();
                let arg = words
                    .next()
                    .map(|text| String::from_utf8(unescape(text)).unwrap());
                let session = replay.session();
                let result = match verb {
                    "ok" => session.ok(id, arg.as_deref().unwrap()),
                    "fail" => session.fail(id, arg.as_deref()),
                    "tempfail" => session.temp_fail(id, arg.as_deref()),
                    "stale" => {
                        assert!(session.fail(id, None).is_err(), "{at}: answer accepted");
                        Ok(())
                    }
                    _ => panic!("{at}: unknown answer {verb}"),
                };
                result.unwrap_or_else(|error| panic!("{at}: {error}"));
                replay.drain();
            }
            _ => panic!("{at}: unknown directive {line:?}"),
        }
    }
    replay.session();
    assert!(
        replay.output.is_empty(),
        "{name}: unmatched output {:?}",
        replay.output
    );
    assert!(
        replay.pending_output.is_empty(),
        "{name}: partial output line"
    );
    assert!(
        replay.events.is_empty(),
        "{name}: unmatched events {:?}",
        replay.events
    );
}

#[test]
fn transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/transcripts");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5);
    for path in paths {
        replay(&path);
    }
}
