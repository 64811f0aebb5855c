//! The `sendmail` entry point (also `postern-mta sendmail`): reads a message on standard
//! input as cron, mailx and scripts write it, and hands it over SMTP on the local submission
//! socket to the running daemon, which queues it (fsynced) before answering. The kernel
//! tells the daemon which uid is submitting; no password is involved.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postern_mta::sendmail::{self, BodyLines, Local, Mode, Options};
use serde::Deserialize;
use smtp::client::{
    ClientError, ClientEvent, ClientSession, ClientSettings, Envelope, EnvelopeRecipient,
    RecipientResult, RecipientStatus,
};
use smtp::{ForwardPath, ReversePath};

// sysexits.h, what callers of sendmail test for.
const EX_USAGE: u8 = 64;
const EX_DATAERR: u8 = 65;
const EX_NOUSER: u8 = 67;
const EX_SOFTWARE: u8 = 70;
const EX_TEMPFAIL: u8 = 75;

const DEFAULT_SOCKET: &str = "/run/postern-mta/submit.sock";
const TIMEOUT: Duration = Duration::from_secs(300);

/// The few settings the command needs, read leniently: an ordinary user may run it, and
/// the rest of the file (and the files it names) are the daemon's business.
#[derive(Debug, Default, Deserialize)]
struct SubmitConfig {
    #[serde(default)]
    mta: SubmitMta,
}

#[derive(Debug, Default, Deserialize)]
struct SubmitMta {
    hostname: Option<String>,
    local_domains: Option<Vec<String>>,
    origin_domain: Option<String>,
    submit_socket: Option<String>,
}

struct Settings {
    socket: PathBuf,
    hostname: String,
    origin_domain: String,
}

fn settings(path: &Path) -> Settings {
    let raw: SubmitConfig = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| toml::from_str(&text).ok())
        .unwrap_or_default();
    let hostname = raw
        .mta
        .hostname
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .unwrap_or_else(|| "localhost".into());
    let origin_domain = raw
        .mta
        .origin_domain
        .or_else(|| raw.mta.local_domains.and_then(|d| d.into_iter().next()))
        .unwrap_or_else(|| hostname.clone());
    let socket = raw
        .mta
        .submit_socket
        .as_deref()
        .and_then(|s| s.strip_prefix("unix:"))
        .unwrap_or(DEFAULT_SOCKET)
        .into();
    Settings {
        socket,
        hostname,
        origin_domain,
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sendmail: {message}");
    ExitCode::from(code)
}

/// Runs the command with `args` (after the program name).
pub fn run(args: &[OsString], default_config: &Path) -> ExitCode {
    let options = match sendmail::parse_args(args) {
        Ok(options) => options,
        Err(e) => return fail(EX_USAGE, e),
    };
    let config_path = options
        .config
        .as_ref()
        .map_or_else(|| default_config.to_path_buf(), PathBuf::from);
    match options.mode() {
        Mode::Newaliases => {
            eprintln!(
                "sendmail: postern-mta reads its aliases file as text at start and on reload; \
                 run `systemctl reload postern-mta` after editing it"
            );
            ExitCode::SUCCESS
        }
        Mode::ListQueue | Mode::Flush => {
            let command = if options.mode() == Mode::Flush {
                crate::queue_command::QueueCommand::Flush { ids: Vec::new() }
            } else {
                crate::queue_command::QueueCommand::List
            };
            crate::queue_command::run(&config_path, &command)
        }
        Mode::Smtp => smtp_on_stdio(&settings(&config_path).socket),
        Mode::Deliver => deliver(&options, &settings(&config_path)),
    }
}

/// `-bs`: the client speaks SMTP on standard input/output; pass it through to the daemon.
fn smtp_on_stdio(socket: &Path) -> ExitCode {
    let stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(e) => return fail(EX_TEMPFAIL, format!("{}: {e}", socket.display())),
    };
    let Ok(mut to_daemon) = stream.try_clone() else {
        return fail(EX_SOFTWARE, "cannot duplicate the socket");
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_daemon);
        let _ = to_daemon.shutdown(std::net::Shutdown::Write);
    });
    let mut from_daemon = stream;
    let mut stdout = std::io::stdout().lock();
    let mut buffer = [0u8; 8192];
    loop {
        match from_daemon.read(&mut buffer) {
            Ok(0) | Err(_) => return ExitCode::SUCCESS,
            Ok(n) => {
                let Some(bytes) = buffer.get(..n) else {
                    return ExitCode::SUCCESS;
                };
                if stdout
                    .write_all(bytes)
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return ExitCode::SUCCESS;
                }
            }
        }
    }
}

fn login_name() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

fn deliver(options: &Options, settings: &Settings) -> ExitCode {
    let origin = settings.origin_domain.as_str();
    let sender = match options.sender.as_deref() {
        Some("" | "<>") => String::new(),
        Some(sender) => sendmail::qualify(sender, origin),
        None => sendmail::qualify(&login_name(), origin),
    };

    // The header section first: -t needs its recipients before the envelope goes out.
    let mut stdin = std::io::stdin().lock();
    let mut input = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (header, body_start) = loop {
        let n = match stdin.read(&mut chunk) {
            Ok(n) => n,
            Err(e) => return fail(EX_DATAERR, format!("reading the message: {e}")),
        };
        input.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(split) = sendmail::split_header(&input, n == 0) {
            break split;
        }
        if input.len() > sendmail::MAX_HEADER {
            return fail(EX_DATAERR, "the header section is longer than 1 MiB");
        }
    };
    let now = SystemTime::now();
    let unique = format!(
        "{}.{}.{}",
        now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
        now.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos(),
        std::process::id()
    );
    let date = postern_mta::received::rfc5322_date(now);
    let from_address = if sender.is_empty() {
        sendmail::qualify("MAILER-DAEMON", origin)
    } else {
        sender.clone()
    };
    let prepared = sendmail::prepare_header(
        &header,
        &Local {
            sender: &from_address,
            full_name: options.full_name.as_deref(),
            origin_domain: origin,
            hostname: &settings.hostname,
            date: &date,
            unique: &unique,
        },
        options.from_headers,
    );
    let mut recipients: Vec<String> = options
        .recipients
        .iter()
        .flat_map(|list| list.split(','))
        .map(|r| sendmail::qualify(r, origin))
        .filter(|r| !r.is_empty())
        .collect();
    for r in prepared.recipients {
        if !recipients.contains(&r) {
            recipients.push(r);
        }
    }
    if recipients.is_empty() {
        return fail(EX_USAGE, "no recipients given (name them, or use -t)");
    }
    let envelope = match envelope(&sender, &recipients, options) {
        Ok(envelope) => envelope,
        Err(e) => return fail(EX_DATAERR, e),
    };

    let stream = match UnixStream::connect(&settings.socket) {
        Ok(stream) => stream,
        Err(e) => {
            return fail(
                EX_TEMPFAIL,
                format!(
                    "cannot reach postern-mta at {}: {e}; the message was not sent",
                    settings.socket.display()
                ),
            );
        }
    };
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let mut connection = Connection {
        stream,
        client: ClientSession::new(ClientSettings::smtp(settings.hostname.clone())),
    };
    let leftover = input.get(body_start..).unwrap_or_default().to_vec();
    match connection.submit(envelope, &prepared.header, &leftover, &mut stdin, options) {
        Ok(results) => report(&results, options.verbose),
        Err(e) => fail(EX_TEMPFAIL, format!("{e}; the message was not sent")),
    }
}

fn envelope(sender: &str, recipients: &[String], options: &Options) -> Result<Envelope, String> {
    let utf8 = !sender.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
    let sender = if sender.is_empty() {
        ReversePath::Null
    } else {
        ReversePath::parse(&format!("<{sender}>"), true)
            .map(|(p, _)| p)
            .map_err(|e| format!("sender {sender:?}: {e}"))?
    };
    let notify = options.notify.as_deref().map(|n| smtp::Notify {
        never: n == "never",
        success: n.contains("success"),
        failure: n.contains("failure"),
        delay: n.contains("delay"),
    });
    let mut list = Vec::new();
    for r in recipients {
        let (path, _) = ForwardPath::parse(&format!("<{r}>"), true)
            .map_err(|e| format!("recipient {r:?}: {e}"))?;
        list.push(EnvelopeRecipient {
            path,
            params: smtp::RcptParams {
                notify,
                orcpt: None,
            },
        });
    }
    let mut envelope = Envelope {
        sender,
        params: smtp::MailParams::default(),
        recipients: list,
    };
    envelope.params.body = Some(smtp::Body::EightBitMime);
    envelope.params.smtputf8 = utf8;
    envelope.params.envid = options.envid.clone();
    envelope.params.ret = options.ret.as_deref().map(|r| {
        if r == "full" {
            smtp::Ret::Full
        } else {
            smtp::Ret::Headers
        }
    });
    Ok(envelope)
}

/// Exit status from the daemon's replies: 0 once the message is queued for anyone; refused
/// recipients are named on stderr either way.
fn report(results: &[RecipientResult], verbose: bool) -> ExitCode {
    let mut accepted = 0;
    let mut temporary = false;
    for result in results {
        match &result.status {
            RecipientStatus::Accepted(reply) => {
                accepted += 1;
                if verbose {
                    eprintln!("sendmail: {}: {}", result.recipient, reply);
                }
            }
            RecipientStatus::TempFailed(failure) => {
                temporary = true;
                eprintln!("sendmail: {}: {failure}", result.recipient);
            }
            RecipientStatus::PermFailed(failure) => {
                eprintln!("sendmail: {}: {failure}", result.recipient);
            }
        }
    }
    if accepted > 0 {
        ExitCode::SUCCESS
    } else if temporary {
        ExitCode::from(EX_TEMPFAIL)
    } else if results.len() == 1 {
        ExitCode::from(EX_NOUSER)
    } else {
        ExitCode::from(EX_DATAERR)
    }
}

/// The SMTP client over the local socket.
struct Connection {
    stream: UnixStream,
    client: ClientSession,
}

impl Connection {
    fn next_event(&mut self) -> Result<ClientEvent, String> {
        let mut buffer = [0u8; 8192];
        loop {
            let event = self.client.next_event().map_err(|e| e.to_string())?;
            self.flush()?;
            if let Some(event) = event {
                return Ok(event);
            }
            match self.stream.read(&mut buffer) {
                Ok(0) => self.client.connection_lost(ClientError::Closed),
                Ok(n) => self.client.receive(buffer.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.client.connection_lost(ClientError::TimedOut);
                }
                Err(e) => self.client.connection_lost(ClientError::Io(e.kind())),
            }
        }
    }

    fn flush(&mut self) -> Result<(), String> {
        if self.client.has_output() {
            let bytes = self.client.output();
            self.stream
                .write_all(&bytes)
                .map_err(|e| format!("postern-mta: {e}"))?;
        }
        Ok(())
    }

    fn submit(
        &mut self,
        envelope: Envelope,
        header: &[u8],
        leftover: &[u8],
        stdin: &mut impl Read,
        options: &Options,
    ) -> Result<Vec<RecipientResult>, String> {
        match self.next_event()? {
            ClientEvent::Ready => {}
            other => return Err(format!("postern-mta: unexpected {other:?}")),
        }
        self.client
            .start(envelope)
            .map_err(|e| format!("postern-mta refused the envelope: {e}"))?;
        loop {
            match self.next_event()? {
                ClientEvent::SendBody => {
                    self.client.send_body(header).map_err(|e| e.to_string())?;
                    let mut lines = BodyLines::new(options.ignore_dots);
                    let mut out = Vec::new();
                    lines.push(leftover, &mut out);
                    let mut chunk = vec![0u8; 64 * 1024];
                    while !lines.ended() {
                        let n = stdin
                            .read(&mut chunk)
                            .map_err(|e| format!("reading the message: {e}"))?;
                        if n == 0 {
                            break;
                        }
                        lines.push(chunk.get(..n).unwrap_or_default(), &mut out);
                        self.client.send_body(&out).map_err(|e| e.to_string())?;
                        out.clear();
                        self.flush()?;
                    }
                    lines.finish(&mut out);
                    self.client.send_body(&out).map_err(|e| e.to_string())?;
                    self.client.finish_body().map_err(|e| e.to_string())?;
                }
                ClientEvent::Delivered(results) => {
                    let _ = self.client.quit();
                    let _ = self.flush();
                    return Ok(results);
                }
                other => return Err(format!("postern-mta: unexpected {other:?}")),
            }
        }
    }
}
