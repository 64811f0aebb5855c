//! postern-mta: the SMTP server of the suite. Receives mail on 25 (MX), 587 and 465
//! (submission, AUTH through a Dovecot-protocol socket), passes it through milters, queues it
//! durably, and delivers local mail over LMTP. This file is the wiring: command line, config,
//! sockets, privileges, runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use runtime::daemon::config_failed;

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
    ExitCode::SUCCESS
}
