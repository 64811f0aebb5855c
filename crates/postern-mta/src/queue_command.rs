//! `postern-mta queue ...` (and `mailq`): asks the running daemon over its control socket;
//! with the daemon stopped, works on the queue directory itself.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use postern_mta::control::{self, Done, Request};
use postern_mta::spool::Spool;
use runtime::listen::ListenAddress;
use serde::Deserialize;

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List queued messages like `mailq`: `*` being delivered, `!` held, with the reason
    /// each deferred recipient is waiting.
    List,
    /// Show one message: envelope, every recipient's state and last reply, header section.
    Show { id: String },
    /// Deliver now, deferred recipients included (like `postqueue -f`, or `-i ID`).
    Flush { ids: Vec<String> },
    /// Remove messages without bouncing them (like `postsuper -d`); `ALL` for every one.
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Keep messages from delivery until released (like `postsuper -h`); `ALL` works.
    Hold {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Let held messages be delivered again (like `postsuper -H`); `ALL` works.
    Release {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

impl QueueCommand {
    fn request_line(&self) -> String {
        let join = |verb: &str, ids: &[String]| {
            std::iter::once(verb.to_string())
                .chain(ids.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            QueueCommand::List => "LIST".into(),
            QueueCommand::Show { id } => format!("SHOW {id}"),
            QueueCommand::Flush { ids } => join("FLUSH", ids),
            QueueCommand::Delete { ids } => join("DELETE", ids),
            QueueCommand::Hold { ids } => join("HOLD", ids),
            QueueCommand::Release { ids } => join("RELEASE", ids),
        }
    }
}

/// Exit codes as in sysexits.h, which scripts around Postfix's tools expect.
const EX_USAGE: u8 = 64;
const EX_UNAVAILABLE: u8 = 69;
const EX_TEMPFAIL: u8 = 75;
const EX_CONFIG: u8 = 78;

/// The two settings the queue commands need, read leniently: the queue must stay
/// inspectable while, say, a broken aliases file keeps the rest of the config from loading.
#[derive(Debug, Default, Deserialize)]
struct QueueConfig {
    #[serde(default)]
    mta: QueueMta,
    #[serde(default)]
    queue: QueueDir,
}

#[derive(Debug, Default, Deserialize)]
struct QueueMta {
    control_socket: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct QueueDir {
    directory: Option<PathBuf>,
}

struct Places {
    control_socket: Option<PathBuf>,
    queue_directory: PathBuf,
}

fn places(config_path: &Path) -> Result<Places, String> {
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let raw: QueueConfig =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let socket = raw
        .mta
        .control_socket
        .unwrap_or_else(|| "unix:/run/postern-mta/control.sock".into());
    let control_socket = match socket.parse::<ListenAddress>() {
        Ok(ListenAddress::Unix(path)) => Some(path),
        _ => None,
    };
    Ok(Places {
        control_socket,
        queue_directory: raw
            .queue
            .directory
            .unwrap_or_else(|| PathBuf::from("/var/spool/postern")),
    })
}

pub fn run(config_path: &Path, command: &QueueCommand) -> ExitCode {
    let config = match places(config_path) {
        Ok(places) => places,
        Err(e) => {
            eprintln!("postern-mta queue: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let request = match Request::parse(&command.request_line()) {
        Ok(request) => request,
        Err(e) => {
            eprintln!("postern-mta queue: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let socket = config.control_socket.clone();
    let answer = match socket.as_deref().map(UnixStream::connect) {
        Some(Ok(stream)) => ask(stream, &request),
        Some(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            offline(&config, &request)
        }
        Some(Err(e)) => Err(format!(
            "control socket {}: {e}",
            socket
                .as_deref()
                .unwrap_or(std::path::Path::new("?"))
                .display()
        )),
        None => offline(&config, &request),
    };
    match answer {
        Ok(done) => {
            print!("{}", done.text);
            if !matches!(request, Request::List | Request::Show(_)) {
                eprintln!("postern-mta queue: {}", done.summary);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("postern-mta queue: {e}");
            ExitCode::from(if e.contains("try again") {
                EX_TEMPFAIL
            } else {
                EX_UNAVAILABLE
            })
        }
    }
}

/// Through the running daemon.
fn ask(mut stream: UnixStream, request: &Request) -> Result<Done, String> {
    let timeout = Some(Duration::from_secs(120));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    stream
        .write_all(format!("{}\n", request.to_line()).as_bytes())
        .map_err(|e| format!("control socket: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("control socket: {e}"))?;
    let (status, text) = answer.split_once('\n').unwrap_or((&answer, ""));
    match status.split_once(' ') {
        Some(("OK", summary)) => Ok(Done {
            summary: summary.to_string(),
            text: text.to_string(),
        }),
        Some(("ERR", reason)) => Err(reason.to_string()),
        _ => Err(format!("unexpected answer {status:?}")),
    }
}

/// With the daemon stopped: open the queue (its lock says whether a daemon has it after all).
fn offline(config: &Places, request: &Request) -> Result<Done, String> {
    let (spool, _) = Spool::open(&config.queue_directory).map_err(|e| {
        format!(
            "queue {}: {e} (is postern-mta running without its control socket?)",
            config.queue_directory.display()
        )
    })?;
    control::execute(request, &spool, None)
}
