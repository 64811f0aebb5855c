//! The `pw` and `user` subcommands: make password hashes and edit the passwd-file the way the
//! daemon reads it (locked, re-read, replaced atomically). Passwords come from standard input.

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use users::{Entry, PasswordHash, Scheme, UserDb};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct PwArgs {
    /// Password scheme: ARGON2ID (default), ARGON2I, SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT.
    #[arg(short, long, default_value = users::DEFAULT_SCHEME.name())]
    scheme: String,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input (first line).
    Add {
        /// The passwd-file key: user@domain, or the local part with username_format = "local".
        name: String,
        #[command(flatten)]
        pw: PwArgs,
    },
    /// Set a user's password, read from standard input (first line).
    Passwd {
        name: String,
        #[command(flatten)]
        pw: PwArgs,
    },
    /// Remove a user (the Maildir is left alone).
    Del { name: String },
    /// List the users in the passwd-file.
    List,
}

/// `pw`: prints the hash of the password read from standard input.
pub fn pw(args: &PwArgs) -> anyhow::Result<()> {
    println!("{}", hash(args)?.to_field());
    Ok(())
}

/// `user ...`: edits the passwd-file named in the configuration.
pub fn user(config: &Config, command: &UserCommand) -> anyhow::Result<()> {
    let mut db = UserDb::open(&config.passwd_file, config.users.clone())?;
    match command {
        UserCommand::Add { name, pw } => {
            let entry = Entry::new(name.to_lowercase(), &hash(pw)?);
            db.add(entry)?;
            eprintln!("added {name} (postern-mda re-reads the file within a second)");
        }
        UserCommand::Passwd { name, pw } => {
            db.set_password(&name.to_lowercase(), &hash(pw)?)?;
            eprintln!("password of {name} changed (postern-mda re-reads the file within a second)");
        }
        UserCommand::Del { name } => {
            db.delete(&name.to_lowercase())?;
            eprintln!("removed {name}; its Maildir is left in place");
        }
        UserCommand::List => {
            for entry in db.file().entries() {
                println!("{}", entry.username);
            }
        }
    }
    Ok(())
}

fn hash(args: &PwArgs) -> anyhow::Result<PasswordHash> {
    let Some(scheme) = Scheme::from_name(&args.scheme) else {
        bail!("unknown password scheme {:?}", args.scheme);
    };
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("empty password (give it on standard input)");
    }
    Ok(PasswordHash::generate(scheme, password.as_bytes())?)
}
