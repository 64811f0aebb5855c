//! postern-mda: local delivery and mail access. One process serves LMTP (Postfix's
//! `virtual_transport = lmtp:unix:...`) into Maildirs, IMAP over the same Maildirs, and
//! Dovecot's auth protocol (`smtpd_sasl_type = dovecot`) against the same passwd-file. This file is the wiring:
//! command line, config, sockets, privileges, runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runtime::daemon::{config_failed, exit_code};

mod admin;
mod auth;
mod config;
mod imap;
mod lmtp;
mod mailbox;
mod message;
mod recent;
mod server;

use server::State;

const ABOUT: &str =
    "LMTP delivery into Maildir, an IMAP server over it, and a Dovecot-compatible auth socket";
const LONG_ABOUT: &str = "\
LMTP delivery into Maildir and a Dovecot-compatible SASL auth socket for Postfix, both
backed by one Dovecot passwd-file.

Postfix main.cf:
    virtual_transport = lmtp:unix:/run/postern-mda/lmtp.sock
    smtpd_sasl_type = dovecot
    smtpd_sasl_path = /run/postern-mda/auth.sock

IMAP (enable with [imap] listen / listen_tls): port 143 with STARTTLS, 993 with TLS,
IMAP4rev1 and IMAP4rev2 with IDLE, CONDSTORE/QRESYNC, MOVE, UIDPLUS, SORT, THREAD. UIDs and
keywords are kept in Dovecot's dovecot-uidlist/dovecot-keywords: Dovecot can serve the
same Maildir during a migration.

Mail for user+detail@domain goes to the user (and to the folder \"detail\" when
save_to_detail_mailbox is on and the folder exists); mail flagged by the spam filter
(X-Spam: Yes by default) goes to Junk. A 250 reply is sent only after the message is
on disk (fsync). The passwd-file is re-read when it changes; SIGHUP reloads the
configuration and the TLS certificate too; SIGTERM drains.";

#[derive(Debug, Parser)]
#[command(name = "postern-mda", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    /// Configuration file.
    #[arg(short, long, value_name = "FILE", default_value = config::DEFAULT_PATH, global = true)]
    config: PathBuf,

    /// Validate the configuration and the passwd-file, print "configuration OK" or every
    /// problem, and exit.
    #[arg(long)]
    check_config: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Hash a password read from standard input, for a passwd-file (like doveadm pw).
    Pw(admin::PwArgs),
    /// Add, remove, list users or set passwords in the configured passwd-file.
    #[command(subcommand)]
    User(admin::UserCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Pw(args)) => return exit_code("postern-mda", admin::pw(args)),
        Some(Command::User(command)) => {
            return match config::Config::load(&cli.config) {
                Ok(config) => exit_code("postern-mda", admin::user(&config, command)),
                Err(errors) => config_failed(&errors),
            };
        }
        None => {}
    }
    let state = match State::load(&cli.config) {
        Ok(state) => state,
        Err(errors) => return config_failed(&errors),
    };
    if cli.check_config {
        println!("{}: configuration OK", cli.config.display());
        return ExitCode::SUCCESS;
    }
    runtime::logging::init(&state.config.daemon.log_level);
    exit_code("postern-mda", serve(state, cli.config))
}

fn serve(state: State, config_path: PathBuf) -> anyhow::Result<()> {
    // Sockets are bound (or taken from systemd) and privileges dropped before any thread exists.
    let config = &state.config;
    let mut lmtp = Vec::new();
    let mut auth = Vec::new();
    let mut imap = Vec::new();
    let mut imaps = Vec::new();
    let activated = runtime::listen::systemd_listeners()?;
    if activated.is_empty() {
        let options = config.lmtp.sockets.unix_options();
        for address in &config.lmtp.sockets.listen {
            lmtp.push(runtime::listen::bind(address, &options)?);
        }
        let options = config.auth.sockets.unix_options();
        for address in &config.auth.sockets.listen {
            auth.push(runtime::listen::bind(address, &options)?);
        }
        let options = runtime::listen::UnixSocketOptions::default();
        for address in &config.imap.listen {
            imap.push(runtime::listen::bind(address, &options)?);
        }
        for address in &config.imap.listen_tls {
            imaps.push(runtime::listen::bind(address, &options)?);
        }
    } else {
        // Under socket activation a socket is the auth socket if its address is configured
        // under [auth]; everything else speaks LMTP.
        for socket in activated {
            let address = socket.address();
            if config.auth.sockets.listen.contains(&address) {
                auth.push(socket);
            } else if config.imap.listen.contains(&address) {
                imap.push(socket);
            } else if config.imap.listen_tls.contains(&address) {
                imaps.push(socket);
            } else {
                lmtp.push(socket);
            }
        }
    }
    for socket in &lmtp {
        tracing::info!(address = %socket.address(), "listening for LMTP");
    }
    for socket in &auth {
        tracing::info!(address = %socket.address(), "listening for auth clients");
    }
    for socket in &imap {
        tracing::info!(address = %socket.address(), "listening for IMAP (STARTTLS)");
    }
    for socket in &imaps {
        tracing::info!(address = %socket.address(), "listening for IMAP over TLS");
    }
    if let Some(user) = &config.daemon.user {
        runtime::privilege::drop_privileges(user, config.daemon.group.as_deref())?;
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let adopt = |sockets: Vec<runtime::listen::BoundSocket>| {
            sockets
                .into_iter()
                .map(runtime::listen::Listener::from_bound)
                .collect::<Result<Vec<_>, _>>()
        };
        let listeners = server::Listeners {
            lmtp: adopt(lmtp)?,
            auth: adopt(auth)?,
            imap: adopt(imap)?,
            imaps: adopt(imaps)?,
        };
        server::run(listeners, state, config_path).await
    })
}
