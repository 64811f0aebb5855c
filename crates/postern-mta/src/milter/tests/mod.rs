//! Unit tests of the chain against in-process fake milters: `milter::ServerSession` behind a
//! tokio UNIX listener, scripted per event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod changes;
mod failures;
mod stages;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use milter::{
    Actions, Event as MilterEvent, ProtocolFlags, Reply, ServerOptions, ServerSession, Stage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::*;
use crate::config::{MilterDefault, MilterSettings};
use runtime::listen::ListenAddress;

/// What the fake does when an event expects a reply.
pub(super) enum Act {
    /// Send these replies at once.
    Replies(Vec<Reply>),
    /// Send these replies, sleeping before each.
    Slow(Vec<Reply>, Duration),
    /// Send nothing, keep reading.
    Silence,
    /// Close the connection.
    Close,
    /// Send a packet with an unknown reply byte.
    Garbage,
}

pub(super) fn reply(reply: Reply) -> Act {
    Act::Replies(vec![reply])
}

/// One event the fake saw, with the macros of its stage (names without braces).
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub what: String,
    pub macros: Vec<(String, String)>,
    /// Every macro the fake holds at that point, all stages.
    pub all_macros: Vec<(String, String)>,
}

type Script = Box<dyn FnMut(&MilterEvent) -> Act + Send>;

pub(super) struct Fake {
    pub socket: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
    _dir: tempfile::TempDir,
}

impl Fake {
    /// A fake requesting every action and the given protocol flags and macro lists.
    pub async fn start(
        protocol: ProtocolFlags,
        macros: Vec<(Stage, String)>,
        script: impl FnMut(&MilterEvent) -> Act + Send + 'static,
    ) -> Fake {
        let options = ServerOptions {
            actions: Actions::all(),
            protocol,
            macros,
            ..ServerOptions::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("milter.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<Script>> = Arc::new(Mutex::new(Box::new(script)));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, options.clone(), log.clone(), script.clone()));
            }
        });
        Fake {
            socket,
            seen,
            _dir: dir,
        }
    }

    /// A fake that answers CONTINUE to everything.
    pub async fn continuing() -> Fake {
        Fake::start(ProtocolFlags::empty(), vec![], |_| reply(Reply::Continue)).await
    }

    pub fn settings(&self, name: &str, default: MilterDefault) -> MilterSettings {
        settings(name, &self.socket, default)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The event summaries seen so far.
    pub fn events(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.what).collect()
    }

    /// The macros that came with the first event whose summary starts with `prefix`.
    pub fn macros_at(&self, prefix: &str) -> Vec<(String, String)> {
        self.seen()
            .into_iter()
            .find(|s| s.what.starts_with(prefix))
            .map(|s| s.macros)
            .unwrap_or_else(|| panic!("no {prefix} event in {:?}", self.events()))
    }

    /// Waits until the fake has seen `what` (events after the last reply arrive late).
    pub async fn wait_for(&self, what: &str) {
        for _ in 0..200 {
            if self.events().iter().any(|e| e == what) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fake never saw {what}: {:?}", self.events());
    }
}

pub(super) fn settings(name: &str, socket: &Path, default: MilterDefault) -> MilterSettings {
    MilterSettings {
        name: name.to_string(),
        socket: ListenAddress::Unix(socket.to_path_buf()),
        default_action: default,
        connect_timeout: Duration::from_secs(2),
        command_timeout: Duration::from_secs(2),
        content_timeout: Duration::from_secs(2),
    }
}

pub(super) fn info() -> ConnectInfo {
    ConnectInfo {
        hostname: "mx.example.org".into(),
        daemon_name: "smtpd".into(),
        daemon_addr: "192.0.2.1:25".parse().ok(),
        client_addr: "198.51.100.7:40000".parse().ok(),
        client_name: Some("client.example.net".into()),
        client_ptr: Some("client.example.net".into()),
    }
}

pub(super) fn mail_macros() -> MailMacros {
    MailMacros {
        queue_id: Some("4QID".into()),
        auth_type: Some("PLAIN".into()),
        auth_authen: Some("alice".into()),
        ..MailMacros::default()
    }
}

/// HELO through end of message for one small message; the verdict of every stage.
pub(super) async fn one_message(chain: &mut MilterChain) -> (Vec<Verdict>, EomOutcome) {
    let verdicts = vec![
        chain.helo("client.example.net").await,
        chain
            .mail_from("alice@example.com", &["BODY=8BITMIME"], &mail_macros())
            .await,
        chain.rcpt("bob@example.net", &[], None).await,
        chain.data().await,
        chain.header("From", " alice@example.com").await,
        chain.header("Subject", " hi\r\n there").await,
        chain.end_of_headers().await,
        chain.body(b"hello\r\n").await,
    ];
    (verdicts, chain.end_of_message().await)
}

fn summary(event: &MilterEvent) -> String {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let args = |list: &[Vec<u8>]| list.iter().map(|a| text(a)).collect::<Vec<_>>().join(" ");
    match event {
        MilterEvent::Connect { hostname, address } => {
            format!("connect {} {address:?}", text(hostname))
        }
        MilterEvent::Helo(name) => format!("helo {}", text(name)),
        MilterEvent::Mail(list) => format!("mail {}", args(list)),
        MilterEvent::Rcpt(list) => format!("rcpt {}", args(list)),
        MilterEvent::Data => "data".into(),
        MilterEvent::Header { name, value } => format!("header {}:{}", text(name), text(value)),
        MilterEvent::EndOfHeaders => "eoh".into(),
        MilterEvent::Body(chunk) => format!("body {}", chunk.len()),
        MilterEvent::EndOfMessage => "eom".into(),
        MilterEvent::Abort => "abort".into(),
        MilterEvent::Quit => "quit".into(),
        MilterEvent::QuitNewConnection => "quit-nc".into(),
        MilterEvent::Unknown(command) => format!("unknown {}", text(command)),
    }
}

fn stage_of(event: &MilterEvent) -> Option<Stage> {
    Some(match event {
        MilterEvent::Connect { .. } => Stage::Connect,
        MilterEvent::Helo(_) => Stage::Helo,
        MilterEvent::Mail(_) => Stage::EnvFrom,
        MilterEvent::Rcpt(_) => Stage::EnvRcpt,
        MilterEvent::Data => Stage::Data,
        MilterEvent::EndOfHeaders => Stage::EndOfHeaders,
        MilterEvent::EndOfMessage => Stage::EndOfMessage,
        _ => return None,
    })
}

async fn serve(
    mut stream: UnixStream,
    options: ServerOptions,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<Script>>,
) {
    let mut session = ServerSession::new(options);
    let mut buffer = vec![0u8; 128 * 1024];
    loop {
        loop {
            let event = match session.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(_) => return,
            };
            let stage_macros = |stage: Stage| -> Vec<(String, String)> {
                session
                    .macros()
                    .stage(stage)
                    .iter()
                    .map(|(n, v)| {
                        (
                            String::from_utf8_lossy(n).into_owned(),
                            String::from_utf8_lossy(v).into_owned(),
                        )
                    })
                    .collect()
            };
            let macros = stage_of(&event).map(stage_macros).unwrap_or_default();
            let all_macros = Stage::ALL.into_iter().flat_map(stage_macros).collect();
            seen.lock().unwrap().push(Seen {
                what: summary(&event),
                macros,
                all_macros,
            });
            if !session.expects_reply() {
                continue;
            }
            let act = (script.lock().unwrap())(&event);
            match act {
                Act::Replies(replies) => {
                    for reply in replies {
                        session.reply(reply);
                    }
                }
                Act::Slow(replies, delay) => {
                    for reply in replies {
                        tokio::time::sleep(delay).await;
                        session.reply(reply);
                        if stream.write_all(&session.output()).await.is_err() {
                            return;
                        }
                    }
                }
                Act::Silence => {}
                Act::Close => return,
                Act::Garbage => {
                    let _ = stream.write_all(b"\0\0\0\x05zjunk").await;
                }
            }
            if stream.write_all(&session.output()).await.is_err() {
                return;
            }
        }
        // The OPTNEG answer is queued while reading.
        if stream.write_all(&session.output()).await.is_err() {
            return;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => session.receive(&buffer[..n]),
        }
    }
}

/// The SMTP session runs on a multi-threaded runtime: every stage's future must be `Send`.
#[allow(dead_code)]
fn stage_futures_are_send(chain: &mut MilterChain, settings: &[MilterSettings]) {
    fn send<T: Send>(_: T) {}
    send(MilterChain::connect(settings, &info()));
    send(chain.helo("x"));
    send(chain.mail_from("a@b", &[], &MailMacros::default()));
    send(chain.rcpt("c@d", &[], None));
    send(chain.header("a", "b"));
    send(chain.body(b""));
    send(chain.end_of_message());
    send(chain.abort());
    send(chain.quit());
}
