//! The quick start: the whole suite on loopback. postern-mta takes mail on 2525 (as an MX),
//! 2587 (submission, STARTTLS + AUTH) and 2465 (implicit TLS); postern-dkim signs what
//! authenticated users send; postern-mda checks passwords and delivers into Maildirs. One
//! demo domain (postern.test), a self-signed certificate, one demo user. Ctrl-C stops it.
//!
//! Run with `./demo`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;

use nix::sys::signal::{SigSet, Signal};
use postern_tests::dkim_daemon::{self, DkimDaemon};
use postern_tests::mta_stack::{self, start_daemon};

const DIR: &str = "/tmp/postern-demo";
const DOMAIN: &str = "postern.test";
const SMTP_PORT: u16 = 2525;
const SUBMISSION_PORT: u16 = 2587;
const SUBMISSIONS_PORT: u16 = 2465;
const IMAP_PORT: u16 = 1143;
const IMAPS_PORT: u16 = 1993;
const USER: &str = "demo@postern.test";
const PASSWORD: &str = "demo";

fn main() {
    // Signals go to sigwait below, not to a default handler that would skip clean-up.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().unwrap();

    let dir = Path::new(DIR);
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap();
    }
    fs::create_dir_all(dir).unwrap();
    let subdir = |name: &str| {
        let path = dir.join(name);
        fs::create_dir_all(&path).unwrap();
        path
    };
    let d = dir.display();

    let (cert, key) = mta_stack::self_signed(&subdir("tls"), &format!("mail.{DOMAIN}"));

    // postern-dkim: RSA and Ed25519 keys for the demo domain.
    let keys_dir = subdir("keys");
    let keys = vec![
        dkim_daemon::genkey(&keys_dir, DOMAIN, "demo-rsa", "rsa"),
        dkim_daemon::genkey(&keys_dir, DOMAIN, "demo-ed25519", "ed25519"),
    ];
    dkim_daemon::records(&keys).write(&dir.join("keys.txt"));
    let milter = subdir("postern-dkim").join("milter.sock");
    let config = dkim_daemon::config(&milter, &keys, "relaxed/relaxed", "")
        .replace("from = \"example.com\"", &format!("from = \"{DOMAIN}\""));
    let dkim = DkimDaemon::start(&subdir("postern-dkim"), &milter, &config);

    // postern-mda: the demo user, its Maildir, the auth socket, IMAP.
    let hash =
        users::PasswordHash::generate(users::Scheme::Sha512Crypt, PASSWORD.as_bytes()).unwrap();
    fs::write(
        dir.join("users"),
        format!(
            "{USER}:{}\npostmaster@{DOMAIN}:{}\n",
            hash.to_field(),
            hash.to_field()
        ),
    )
    .unwrap();
    fs::write(
        dir.join("mda.toml"),
        format!(
            "[daemon]\nlog_level = \"info\"\nshutdown_timeout = \"2s\"\n\n\
             [lmtp]\nlisten = [\"unix:{d}/lmtp.sock\"]\nhostname = \"mail.{DOMAIN}\"\n\n\
             [auth]\nlisten = [\"unix:{d}/auth.sock\"]\n\n\
             [users]\npasswd_file = \"{d}/users\"\nhome = \"{d}/vmail/%d/%n\"\ndomains = [\"{DOMAIN}\"]\n\n\
             [mail]\nmaildir = \"Maildir\"\n\n\
             [imap]\nlisten = [\"127.0.0.1:{IMAP_PORT}\"]\nlisten_tls = [\"127.0.0.1:{IMAPS_PORT}\"]\n\n\
             [tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display(),
        ),
    )
    .unwrap();
    let mda = start_daemon(
        "postern-mda",
        &dir.join("mda.toml"),
        dir.join("mda.log"),
        |log| log.contains("postern-mda ready"),
    );

    // postern-mta: MX, submission, submissions; mail from postern.test users is signed.
    fs::write(
        dir.join("aliases"),
        format!("root: {USER}\npostmaster: {USER}\n"),
    )
    .unwrap();
    let mta_config = dir.join("mta.toml");
    fs::write(
        &mta_config,
        format!(
            "[daemon]\nlog_level = \"info\"\nshutdown_timeout = \"5s\"\n\n\
             [mta]\nhostname = \"mail.{DOMAIN}\"\nlocal_domains = [\"{DOMAIN}\"]\n\
             mynetworks = [\"127.0.0.1/32\"]\naliases = \"{d}/aliases\"\n\
             smtpd_milters = [\"dkim\"]\nnon_smtpd_milters = [\"dkim\"]\n\
             submit_socket = \"unix:{d}/submit.sock\"\ncontrol_socket = \"unix:{d}/control.sock\"\n\n\
             [tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\n\
             [auth]\nsocket = \"unix:{d}/auth.sock\"\n\n\
             [lmtp]\ndestination = \"unix:{d}/lmtp.sock\"\n\n\
             [queue]\ndirectory = \"{d}/queue\"\n\n\
             [milter.dkim]\nsocket = \"unix:{}\"\n\n\
             [[listener]]\nname = \"smtp\"\nlisten = [\"127.0.0.1:{SMTP_PORT}\"]\ntls = \"starttls\"\n\n\
             [[listener]]\nname = \"submission\"\nlisten = [\"127.0.0.1:{SUBMISSION_PORT}\"]\n\
             tls = \"starttls\"\nrequire_tls = true\nauth = true\nrequire_auth = true\n\n\
             [[listener]]\nname = \"submissions\"\nlisten = [\"127.0.0.1:{SUBMISSIONS_PORT}\"]\n\
             tls = \"implicit\"\nauth = true\nrequire_auth = true\n",
            cert.display(),
            key.display(),
            milter.display(),
        ),
    )
    .unwrap();
    let mta = start_daemon("postern-mta", &mta_config, dir.join("mta.log"), |log| {
        log.contains("postern-mta ready")
    });

    let bin = postern_tests::binaries::path("postern-mta");
    let inbox = dir.join("vmail").join(DOMAIN).join("demo").join("Maildir");
    println!(
        "\nPostern demo is running: postern-mta, postern-dkim and postern-mda on loopback. \
         Ctrl-C stops it.\n\n\
         submission   127.0.0.1:{SUBMISSION_PORT} STARTTLS, or 127.0.0.1:{SUBMISSIONS_PORT} TLS; \
         user {USER}, password {PASSWORD}\n\
         \u{20}            (self-signed certificate {cert})\n\
         mx           127.0.0.1:{SMTP_PORT}: mail for @{DOMAIN} from anyone (send from 127.0.0.2 to be \"outside\")\n\
         imap         127.0.0.1:{IMAP_PORT} STARTTLS, or 127.0.0.1:{IMAPS_PORT} TLS; same user and password\n\
         mailbox      {inbox}  (Maildir++, Dovecot reads it too)\n\
         signing      postern-dkim signs mail {USER} sends (RSA-2048 and Ed25519; keys in {d}/keys.txt)\n\
         logs         {d}/mta.log  {d}/mda.log  {dkim_log}\n\n\
         A mail client: IMAP server 127.0.0.1, port {IMAPS_PORT}, SSL/TLS; SMTP server 127.0.0.1, port\n\
         {SUBMISSION_PORT}, STARTTLS; normal password, user {USER}; accept the self-signed certificate.\n\n\
         Try it:\n\
         \u{20} swaks --server 127.0.0.1:{SUBMISSION_PORT} --tls --auth PLAIN --auth-user {USER} --auth-password {PASSWORD} \\\n\
         \u{20}       --from {USER} --to {USER} --header 'Subject: hello from Postern'\n\
         \u{20} ls {inbox}/new/\n\
         \u{20} python3 -c \"import imaplib,ssl; m=imaplib.IMAP4_SSL('127.0.0.1',{IMAPS_PORT},ssl_context=ssl._create_unverified_context()); \\\n\
         \u{20}   m.login('{USER}','{PASSWORD}'); m.select(); print(m.fetch('1:*','(ENVELOPE)'))\"\n\
         \u{20} python3 tests/interop/verify_dkimpy.py {d}/keys.txt {inbox}/new/*\n\
         \u{20} echo 'Subject: from cron' | {bin} sendmail -C {d}/mta.toml root\n\
         \u{20} swaks --server 127.0.0.1:{SMTP_PORT} --from a@outside.test --to {USER}   # inbound: not signed\n\
         \u{20} {bin} --config {d}/mta.toml queue list\n",
        cert = cert.display(),
        inbox = inbox.display(),
        dkim_log = dkim.log_file.display(),
        bin = bin.display(),
    );

    let signal = signals.wait().unwrap();
    println!("\n{signal:?}: stopping; {DIR} is kept for a look.");
    // The MTA first, then what it talks to.
    drop(mta);
    drop(mda);
    drop(dkim);
}
