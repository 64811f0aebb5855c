//! postern-mta: the SMTP server of the suite. Receives mail on 25 (MX), 587 and 465
//! (submission, AUTH through a Dovecot-protocol socket), passes it through milters, queues it
//! durably, and delivers local mail over LMTP. This file is the wiring: command line, config,
//! sockets, privileges, runtime. Installed (or linked) as `sendmail` or `mailq`, it is those
//! commands.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runtime::daemon::{config_failed, exit_code};

use postern_mta::config;

mod queue_command;
mod sendmail_command;

const ABOUT: &str = "SMTP and submission server with a durable queue, LMTP delivery and milters";
const LONG_ABOUT: &str = "\
SMTP server (port 25), mail submission (587 with STARTTLS, 465 with TLS) with AUTH checked
by a Dovecot-protocol auth socket (postern-mda or Dovecot), milters (postern-dkim, OpenDKIM,
rspamd...), a durable queue, and local delivery over LMTP (postern-mda or Dovecot).

A 250 after DATA means the message and its envelope are on disk (fsync). Mail for other
domains is accepted only from authenticated users and from `mynetworks`.

Without a subcommand it runs the daemon. SIGHUP reloads the configuration, the aliases and
sender-login files and the certificate; SIGTERM finishes transactions in progress.

Linked as `sendmail` it takes mail from local programs (cron, mailx, scripts: -t, -i, -f,
-F, -bs); linked as `mailq` it lists the queue.";

#[derive(Debug, Parser)]
#[command(name = "postern-mta", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    /// Configuration file.
    #[arg(short, long, value_name = "FILE", default_value = config::DEFAULT_PATH, global = true)]
    config: PathBuf,

    /// Validate the configuration and the files it names, print "configuration OK" or every
    /// problem, and exit.
    #[arg(long)]
    check_config: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Look at or change the queue: list, show, flush, delete, hold, release.
    #[command(subcommand)]
    Queue(queue_command::QueueCommand),
    /// Submit a message from standard input, with sendmail's options (-t, -i, -f, -F, -bs,
    /// -bp, -q); what the `sendmail` link runs.
    Sendmail {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "SENDMAIL-ARGS"
        )]
        args: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let program = args
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let default_config = PathBuf::from(config::DEFAULT_PATH);
    match program.as_str() {
        "sendmail" => return sendmail_command::run(&args.collect::<Vec<_>>(), &default_config),
        "mailq" => {
            return sendmail_command::run(&[OsString::from("-bp")], &default_config);
        }
        "newaliases" => {
            return sendmail_command::run(&[OsString::from("-bi")], &default_config);
        }
        _ => {}
    }
    let cli = Cli::parse();
    if let Some(Command::Sendmail { args }) = &cli.command {
        return sendmail_command::run(args, &cli.config);
    }
    if let Some(Command::Queue(command)) = &cli.command {
        return queue_command::run(&cli.config, command);
    }
    let config = match config::Config::load(&cli.config) {
        Ok(config) => config,
        Err(errors) => return config_failed(&errors),
    };
    if cli.check_config {
        println!("{}: configuration OK", cli.config.display());
        return ExitCode::SUCCESS;
    }
    runtime::logging::init(&config.daemon.log_level);
    exit_code("postern-mta", serve(config, cli.config))
}

fn serve(config: config::Config, config_path: PathBuf) -> anyhow::Result<()> {
    // Sockets are bound (or taken from systemd) and the key read before privileges are
    // dropped and before any thread exists.
    let mut smtp = Vec::new();
    let activated = runtime::listen::systemd_listeners()?;
    if activated.is_empty() {
        for (index, listener) in config.listeners.iter().enumerate() {
            for address in &listener.listen {
                let options = runtime::listen::UnixSocketOptions::default();
                smtp.push((index, runtime::listen::bind(address, &options)?));
            }
        }
    } else {
        for socket in activated {
            let address = socket.address();
            match config
                .listeners
                .iter()
                .position(|l| l.listen.contains(&address))
            {
                Some(index) => smtp.push((index, socket)),
                None => {
                    tracing::warn!(address = %address, "socket from systemd matches no listener; ignored")
                }
            }
        }
    }
    // The sendmail and queue-control sockets are always ours to bind.
    let mut submit = Vec::new();
    for address in &config.submit_socket.listen {
        submit.push(runtime::listen::bind(
            address,
            &config.submit_socket.unix_options(),
        )?);
    }
    let mut control = Vec::new();
    for address in &config.control_socket.listen {
        control.push(runtime::listen::bind(
            address,
            &config.control_socket.unix_options(),
        )?);
    }
    for (index, socket) in &smtp {
        if let Some(listener) = config.listeners.get(*index) {
            tracing::info!(listener = %listener.name, address = %socket.address(), "listening");
        }
    }
    let tls = config
        .tls
        .clone()
        .map(runtime::tls::ReloadableTls::load)
        .transpose()?;
    if let Some(user) = &config.daemon.user {
        runtime::privilege::drop_privileges(user, config.daemon.group.as_deref())?;
    }
    let (spool, recovery) = postern_mta::spool::Spool::open(&config.queue.directory)
        .map_err(|e| anyhow::anyhow!("queue {}: {e}", config.queue.directory.display()))?;
    tracing::info!(directory = %config.queue.directory.display(), recovery = ?recovery, "queue opened");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let mut listeners = postern_mta::server::Listeners {
            smtp: Vec::new(),
            submit: Vec::new(),
            control: Vec::new(),
        };
        for (index, socket) in smtp {
            listeners
                .smtp
                .push((index, runtime::listen::Listener::from_bound(socket)?));
        }
        for socket in submit {
            listeners
                .submit
                .push(runtime::listen::Listener::from_bound(socket)?);
        }
        for socket in control {
            listeners
                .control
                .push(runtime::listen::Listener::from_bound(socket)?);
        }
        postern_mta::server::run(listeners, config, tls, spool, config_path).await
    })
}
