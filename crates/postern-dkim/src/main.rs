//! postern-dkim: a DKIM-signing milter for Postfix (and Sendmail), a drop-in for OpenDKIM's
//! signing mode. This file is the wiring: command line, config, sockets, privileges, runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runtime::daemon::{config_failed, exit_code};

mod config;
mod connection;
mod from_address;
mod genkey;
mod message;
mod policy;
mod server;
mod signing_table;
mod testkey;

use config::Config;

const ABOUT: &str = "DKIM-signing milter for Postfix and Sendmail";
const LONG_ABOUT: &str = "\
DKIM-signing milter for Postfix and Sendmail, a drop-in for OpenDKIM's signing mode.

Postfix main.cf:
    smtpd_milters = unix:/run/postern-dkim/milter.sock
    non_smtpd_milters = $smtpd_milters
    milter_default_action = accept

Mail is signed when the sender authenticated (SMTP AUTH), arrived on an originating
daemon (milter_macro_daemon_name=ORIGINATING on the submission service) or comes
from an internal network, and its From domain is in the signing table. Everything
else passes untouched. SIGHUP reloads the configuration and keys; SIGTERM drains.";

#[derive(Debug, Parser)]
#[command(name = "postern-dkim", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    /// Configuration file.
    #[arg(short, long, value_name = "FILE", default_value = config::DEFAULT_PATH, global = true)]
    config: PathBuf,

    /// Validate the configuration and keys, print "configuration OK" or every problem, and exit.
    #[arg(long)]
    check_config: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a signing key and print the DNS TXT record to publish.
    Genkey(genkey::GenkeyArgs),
    /// Look up each configured selector in DNS and check it matches its private key.
    Testkey(testkey::TestkeyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Genkey(args)) => return exit_code("postern-dkim", genkey::run(&args)),
        Some(Command::Testkey(args)) => {
            let config = match Config::load(&cli.config) {
                Ok(config) => config,
                Err(errors) => return config_failed(&errors),
            };
            return match testkey::run(&config, &args) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => exit_code("postern-dkim", Err(e)),
            };
        }
        None => {}
    }
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(errors) => return config_failed(&errors),
    };
    if cli.check_config {
        println!("{}: configuration OK", cli.config.display());
        return ExitCode::SUCCESS;
    }
    runtime::logging::init(&config.daemon.log_level);
    exit_code("postern-dkim", serve(config, cli.config))
}

fn serve(config: Config, config_path: PathBuf) -> anyhow::Result<()> {
    // Sockets are bound (or taken from systemd) and privileges dropped before any thread exists.
    let mut bound = runtime::listen::systemd_listeners()?;
    if bound.is_empty() {
        let options = config.sockets.unix_options();
        for address in &config.sockets.listen {
            bound.push(runtime::listen::bind(address, &options)?);
        }
    }
    for socket in &bound {
        tracing::info!(address = %socket.address(), "listening");
    }
    if let Some(user) = &config.daemon.user {
        runtime::privilege::drop_privileges(user, config.daemon.group.as_deref())?;
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let listeners = bound
            .into_iter()
            .map(runtime::listen::Listener::from_bound)
            .collect::<Result<Vec<_>, _>>()?;
        server::run(listeners, config, config_path).await
    })
}
