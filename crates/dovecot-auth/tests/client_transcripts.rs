//! Replays the "S:"/"C:" traces in `testdata/client-transcripts/` against an [`AuthClient`]
//! and the [`SmtpAuth`] exchanges driven over it.
//!
//! Directives, one per line (`\t`, `\n`, `\r`, `\\`, `\xNN` escapes allowed in the text):
//! - `O: max-line=<n>`, `O: max-requests=<n>` (before anything else).
//! - `C: <line>`: the next line the client sent (its LF not written).
//! - `S: <line>`: the server sends the line plus LF (`S+ <bytes>`: without LF).
//! - `E: <event>`: the next connection event (`error <text>` for a [`ServerError`]).
//! - `A: begin <mech> [secured] [resp=<raw>] => <id>|error <text>`,
//!   `A: respond <id> <raw> => ok|error <text>`, `A: abandon <id>`, `A: close`: calls on
//!   the connection (`<raw>` is the data before base64).
//! - `M: auth <mech> [<base64>]`, `M: response [<text>]`, `M: cancel`, `M: lost`: the SMTP
//!   side of an exchange (`secured`, lip 192.0.2.25, rip 198.51.100.7); the server's reply
//!   for the exchange's id goes to it instead of `E:`.
//! - `T: <step>`: the next exchange step (`to-server` puts its bytes where `C:` reads them).
//! - `Q: smtp-mechanisms [plaintext] => <names>`, `Q: in-progress => <n>`: state queries.
//! - `#` comments and blank lines are skipped.
//!
//! At the end, every output line, event and step must have been matched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::path::Path;

use dovecot_auth::client::{
    AuthClient, AuthParams, ClientEvent, ClientOptions, Outcome, ServerError, ServerReply,
    SmtpAuth, SmtpAuthFailure, SmtpAuthStep,
};

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

fn render_reply(reply: &ServerReply) -> String {
    let id = reply.id;
    match &reply.outcome {
        Outcome::Continue(challenge) => {
            format!("reply {id} continue {}", String::from_utf8_lossy(challenge))
        }
        Outcome::Success(success) => {
            let mut text = format!("reply {id} ok user={}", success.user);
            if let Some(data) = &success.final_data {
                text += &format!(" final={}", String::from_utf8_lossy(data));
            }
            for (key, value) in &success.fields {
                text += &format!(" {key}={value}");
            }
            text
        }
        Outcome::Failure(failure) => format!("reply {id} fail {}", render_failure(failure)),
    }
}

fn render_failure(failure: &dovecot_auth::client::AuthFailure) -> String {
    let mut parts = Vec::new();
    if let Some(reason) = &failure.reason {
        parts.push(format!("reason={reason}"));
    }
    if let Some(code) = &failure.code {
        parts.push(format!("code={code}"));
    }
    if failure.temporary {
        parts.push("temporary".into());
    }
    if failure.authz {
        parts.push("authz".into());
    }
    if let Some(user) = &failure.user {
        parts.push(format!("user={user}"));
    }
    parts.join(" ")
}

fn render_step(step: &SmtpAuthStep) -> String {
    match step {
        SmtpAuthStep::ToServer(_) => "to-server".into(),
        SmtpAuthStep::Challenge(text) => format!("challenge {text}"),
        SmtpAuthStep::Authenticated(success) => format!("authenticated user={}", success.user),
        SmtpAuthStep::Failed(failure) => {
            let temp = if failure.is_temporary() { " (4xx)" } else { "" };
            match failure {
                SmtpAuthFailure::Rejected(f) | SmtpAuthFailure::Temporary(f) => {
                    let kind = if matches!(failure, SmtpAuthFailure::Rejected(_)) {
                        "rejected"
                    } else {
                        "temporary"
                    };
                    format!("failed {kind}{temp} {}", render_failure(f))
                }
                SmtpAuthFailure::Unavailable(error) => format!("failed unavailable{temp}: {error}"),
                other => format!("failed {other:?}{temp}"),
            }
        }
    }
}

fn render_event(event: &ClientEvent, client: &AuthClient) -> String {
    match event {
        ClientEvent::Ready => {
            let mechanisms: Vec<String> = client
                .mechanisms()
                .iter()
                .map(|m| {
                    let mut flags = Vec::new();
                    for (on, name) in [
                        (m.plaintext, "plaintext"),
                        (m.anonymous, "anonymous"),
                        (m.dictionary, "dictionary"),
                        (m.active, "active"),
                        (m.forward_secrecy, "forward-secrecy"),
                        (m.mutual_auth, "mutual-auth"),
                        (m.private, "private"),
                    ] {
                        if on {
                            flags.push(name);
                        }
                    }
                    format!("{}({})", m.name, flags.join(","))
                })
                .collect();
            format!(
                "ready minor={} spid={:?} cuid={:?} cookie={:?} mechs={}",
                client.server_minor_version(),
                client.server_pid(),
                client.connection_uid(),
                client.cookie(),
                mechanisms.join(" ")
            )
        }
        ClientEvent::Reply(reply) => render_reply(reply),
    }
}

struct Replay {
    client: AuthClient,
    exchange: Option<SmtpAuth>,
    pending_output: Vec<u8>,
    output: VecDeque<Vec<u8>>,
    events: VecDeque<String>,
    steps: VecDeque<String>,
}

impl Replay {
    fn collect_output(&mut self, bytes: Vec<u8>) {
        self.pending_output.extend(bytes);
        while let Some(lf) = self.pending_output.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending_output.drain(..=lf).collect();
            self.output.push_back(line[..line.len() - 1].to_vec());
        }
    }

    fn drain(&mut self) {
        let bytes = self.client.output();
        self.collect_output(bytes);
    }

    fn step(&mut self, step: SmtpAuthStep) {
        self.steps.push_back(render_step(&step));
        if let SmtpAuthStep::ToServer(bytes) = step {
            self.collect_output(bytes.expose().to_vec());
        }
    }

    fn pump(&mut self) {
        loop {
            match self.client.next_event() {
                Ok(Some(ClientEvent::Reply(reply)))
                    if self
                        .exchange
                        .as_ref()
                        .is_some_and(|e| e.id() == Some(reply.id) && !e.is_finished()) =>
                {
                    let step = self.exchange.as_mut().unwrap().on_reply(reply).unwrap();
                    self.step(step);
                }
                Ok(Some(event)) => {
                    let text = render_event(&event, &self.client);
                    self.events.push_back(text);
                }
                Ok(None) => break,
                Err(error) => {
                    self.events.push_back(format!("error {error}"));
                    break;
                }
            }
        }
        self.drain();
    }

    fn params(secured: bool) -> AuthParams {
        let mut params = AuthParams::new("smtp");
        params.secured = secured;
        params.local_ip = Some("192.0.2.25".parse().unwrap());
        params.remote_ip = Some("198.51.100.7".parse().unwrap());
        params
    }

    fn call(&mut self, at: &str, rest: &str) {
        let (call, expected) = match rest.split_once(" => ") {
            Some((call, expected)) => (call, Some(expected)),
            None => (rest, None),
        };
        let words: Vec<&str> = call.split(' ').collect();
        let got = match words[0] {
            "begin" => {
                let mut secured = false;
                let mut initial = None;
                for word in &words[2..] {
                    if *word == "secured" {
                        secured = true;
                    } else if let Some(raw) = word.strip_prefix("resp=") {
                        initial = Some(unescape(raw));
                    } else {
                        panic!("{at}: unknown begin argument {word}");
                    }
                }
                let params = Self::params(secured);
                match self.client.begin(words[1], &params, initial.as_deref()) {
                    Ok(id) => id.to_string(),
                    Err(error) => format!("error {error}"),
                }
            }
            "respond" => {
                let id = words[1].parse().unwrap();
                let raw = unescape(words.get(2).copied().unwrap_or(""));
                match self.client.respond(id, &raw) {
                    Ok(()) => "ok".into(),
                    Err(error) => format!("error {error}"),
                }
            }
            "abandon" => {
                self.client.abandon(words[1].parse().unwrap());
                String::new()
            }
            "close" => {
                self.client.close(ServerError::Closed);
                String::new()
            }
            other => panic!("{at}: unknown call {other}"),
        };
        if let Some(expected) = expected {
            assert_eq!(got, expected, "{at}");
        }
        self.drain();
    }

    fn smtp(&mut self, at: &str, rest: &str) {
        let mut words = rest.splitn(2, ' ');
        let verb = words.next().unwrap();
        let arg = words.next();
        let step = match verb {
            "auth" => {
                let mut args = arg.unwrap().split(' ');
                let mechanism = args.next().unwrap();
                let initial = args
                    .next()
                    .map(|text| String::from_utf8(unescape(text)).unwrap());
                let (exchange, step) = SmtpAuth::start(
                    &mut self.client,
                    mechanism,
                    initial.as_deref(),
                    &Self::params(true),
                );
                self.exchange = Some(exchange);
                step
            }
            "response" => {
                let exchange = self.exchange.as_mut().unwrap();
                let text = String::from_utf8(unescape(arg.unwrap_or(""))).unwrap();
                match exchange.on_response(&mut self.client, &text) {
                    Ok(step) => step,
                    Err(error) => {
                        self.steps.push_back(format!("error {error}"));
                        return;
                    }
                }
            }
            "cancel" => {
                self.exchange.as_mut().unwrap().cancel(&mut self.client);
                return;
            }
            "lost" => self
                .exchange
                .as_mut()
                .unwrap()
                .connection_failed(ServerError::Closed),
            other => panic!("{at}: unknown SMTP directive {other}"),
        };
        self.step(step);
        self.drain();
    }

    fn query(&mut self, at: &str, rest: &str) {
        let (query, expected) = rest.split_once(" => ").unwrap();
        let got = match query {
            "smtp-mechanisms" => self.client.smtp_mechanisms(false).join(" "),
            "smtp-mechanisms plaintext" => self.client.smtp_mechanisms(true).join(" "),
            "in-progress" => self.client.in_progress().to_string(),
            "ready" => self.client.is_ready().to_string(),
            other => panic!("{at}: unknown query {other}"),
        };
        assert_eq!(got, expected, "{at}");
    }
}

fn replay(path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let mut options = ClientOptions::new(4242);
    let mut replay: Option<Replay> = None;
    for (number, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", number + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (tag, rest) = line.split_at(3);
        if tag == "O: " {
            assert!(replay.is_none(), "{at}: options after start");
            match rest.split_once('=') {
                Some(("max-line", n)) => options.max_line = n.parse().unwrap(),
                Some(("max-requests", n)) => options.max_requests = n.parse().unwrap(),
                _ => panic!("{at}: unknown option {rest}"),
            }
            continue;
        }
        let replay = replay.get_or_insert_with(|| {
            let mut replay = Replay {
                client: AuthClient::new(options.clone()),
                exchange: None,
                pending_output: Vec::new(),
                output: VecDeque::new(),
                events: VecDeque::new(),
                steps: VecDeque::new(),
            };
            replay.drain();
            replay
        });
        match tag {
            "S: " | "S+ " => {
                let mut bytes = unescape(rest);
                if tag == "S: " {
                    bytes.push(b'\n');
                }
                replay.client.receive(&bytes);
                replay.pump();
            }
            "C: " => {
                let got = replay.output.pop_front();
                assert_eq!(
                    got.as_deref().map(String::from_utf8_lossy),
                    Some(String::from_utf8_lossy(&unescape(rest))),
                    "{at}"
                );
            }
            "E: " => assert_eq!(replay.events.pop_front().as_deref(), Some(rest), "{at}"),
            "T: " => assert_eq!(replay.steps.pop_front().as_deref(), Some(rest), "{at}"),
            "A: " => replay.call(&at, rest),
            "M: " => replay.smtp(&at, rest),
            "Q: " => replay.query(&at, rest),
            _ => panic!("{at}: unknown directive {line:?}"),
        }
    }
    let replay = replay.unwrap();
    assert!(
        replay.output.is_empty() && replay.pending_output.is_empty(),
        "{name}: unmatched output {:?}",
        replay.output
    );
    assert!(
        replay.events.is_empty(),
        "{name}: unmatched events {:?}",
        replay.events
    );
    assert!(
        replay.steps.is_empty(),
        "{name}: unmatched steps {:?}",
        replay.steps
    );
}

#[test]
fn client_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/client-transcripts");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10);
    for path in paths {
        replay(&path);
    }
}
