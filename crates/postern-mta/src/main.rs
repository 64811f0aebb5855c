//! postern-mta: the SMTP server of the suite. Receives mail on 25 (MX), 587 and 465
//! (submission, AUTH through a Dovecot-protocol socket), passes it through milters, queues it
//! durably, and delivers local mail over LMTP. This file is the wiring: command line, config,
//! sockets, privileges, runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use runtime::daemon::{config_failed, exit_code};

use postern_mta::config;

const ABOUT: &str = "SMTP and submission server with a durable queue, LMTP delivery and milters";

#[derive(Debug, Parser)]
#[command(name = "postern-mta", version, about = ABOUT)]
struct Cli {
    /// Configuration file.
    #[arg(short, long, value_name = "FILE", default_value = config::DEFAULT_PATH, global = true)]
    config: PathBuf,

    /// Validate the configuration and the files it names, print "configuration OK" or every
    /// problem, and exit.
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        let mut listeners = postern_mta::server::Listeners { smtp: Vec::new() };
        for (index, socket) in smtp {
            listeners
                .smtp
                .push((index, runtime::listen::Listener::from_bound(socket)?));
        }
        postern_mta::server::run(listeners, config, tls, spool, config_path).await
    })
}
