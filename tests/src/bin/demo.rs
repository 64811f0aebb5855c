//! The quick start: postern-dkim behind a private stock Postfix on loopback, with a demo
//! domain (postern.test), a self-signed certificate and a demo user. Ctrl-C stops it.
//!
//! Run with `./demo` (as root: Postfix needs it). Until postern-mta and postern-mda exist,
//! Postfix plays the MTA, a small Dovecot-protocol auth stand-in holds the demo user, and a
//! sink writing files plays the outside world.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;
use std::process::Command;

use nix::sys::signal::{SigSet, Signal};
use postern_tests::auth_stub;
use postern_tests::dkim_daemon::{self, DkimDaemon};
use postern_tests::postfix::{Postfix, PostfixSettings};
use postern_tests::sink::Sink;

const DIR: &str = "/tmp/postern-demo";
const SMTP_PORT: u16 = 2525;
const SUBMISSION_PORT: u16 = 2587;
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
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(dir.join("postfix"))
            .arg("stop")
            .output();
        fs::remove_dir_all(dir).unwrap();
    }
    fs::create_dir_all(dir).unwrap();
    let subdir = |name: &str| {
        let path = dir.join(name);
        fs::create_dir_all(&path).unwrap();
        Command::new("chmod")
            .arg("755")
            .arg(dir)
            .arg(&path)
            .status()
            .unwrap();
        path
    };

    let tls = subdir("tls");
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
        ])
        .arg("/CN=mail.postern.test")
        .arg("-keyout")
        .arg(tls.join("key.pem"))
        .arg("-out")
        .arg(tls.join("cert.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(
        status.success(),
        "openssl could not make the self-signed certificate"
    );

    let keys_dir = subdir("keys");
    let keys = vec![
        dkim_daemon::genkey(&keys_dir, "postern.test", "demo-rsa", "rsa"),
        dkim_daemon::genkey(&keys_dir, "postern.test", "demo-ed25519", "ed25519"),
    ];
    dkim_daemon::records(&keys).write(&dir.join("keys.txt"));
    let socket = subdir("milter").join("milter.sock");
    let config = dkim_daemon::config(&socket, &keys, "relaxed/relaxed", "")
        .replace("from = \"example.com\"", "from = \"postern.test\"");
    let daemon = DkimDaemon::start(&subdir("postern-dkim"), &socket, &config);

    let auth_socket = dir.join("auth.sock");
    auth_stub::start(&auth_socket, USER, PASSWORD);
    let mail = subdir("mail");
    let sink = Sink::start_on(0, Some(mail.clone()));
    let milter = format!("unix:{}", socket.display());
    let postfix = Postfix::start(
        &subdir("postfix"),
        &PostfixSettings {
            smtp_port: SMTP_PORT,
            submission: Some((SUBMISSION_PORT, auth_socket)),
            relay_port: sink.port(),
            smtpd_milters: milter.clone(),
            non_smtpd_milters: milter,
            mynetworks: "127.0.0.1/32".into(),
            extra_main: vec![
                format!("smtpd_tls_cert_file = {}", tls.join("cert.pem").display()),
                format!("smtpd_tls_key_file = {}", tls.join("key.pem").display()),
            ],
            submission_options: vec![
                "smtpd_tls_security_level=encrypt".into(),
                "smtpd_tls_auth_only=yes".into(),
                "smtpd_client_restrictions=permit_sasl_authenticated,reject".into(),
            ],
        },
    );

    println!(
        "\nPostern demo is running. Ctrl-C stops it.\n\n\
         submission  127.0.0.1:{SUBMISSION_PORT}  STARTTLS required, AUTH PLAIN user {USER} password {PASSWORD}\n\
         \u{20}           (self-signed certificate {tls}/cert.pem)\n\
         smtp        127.0.0.1:{SMTP_PORT}  mail from outside (send from 127.0.0.2): passes unsigned\n\
         milter      postern-dkim on unix:{socket}, signing postern.test (RSA-2048 and Ed25519)\n\
         delivered   every relayed message is written to {mail}/ (the outside world)\n\
         logs        {log} and {maillog}\n\n\
         Send a message, then check its signatures:\n\
         \u{20} swaks --server 127.0.0.1:{SUBMISSION_PORT} --tls --auth PLAIN --auth-user {USER} --auth-password {PASSWORD} \\\n\
         \u{20}       --from {USER} --to friend@example.net --header 'Subject: hello from Postern'\n\
         \u{20} python3 tests/interop/verify_dkimpy.py {DIR}/keys.txt {mail}/*.eml\n\n\
         A mail client: SMTP server 127.0.0.1 port {SUBMISSION_PORT}, STARTTLS, normal password,\n\
         user {USER}; accept the self-signed certificate. (IMAP arrives with postern-mda.)\n",
        tls = tls.display(),
        socket = socket.display(),
        mail = mail.display(),
        log = daemon.log_file.display(),
        maillog = postfix.dir().join("maillog").display(),
    );

    let signal = signals.wait().unwrap();
    println!("\n{signal:?}: stopping Postfix and postern-dkim; {DIR} is kept for a look.");
    drop(postfix);
    drop(daemon);
}
