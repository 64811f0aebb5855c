//! Interop: our client against a real Dovecot's `auth-client` socket, the way postern-mta
//! will use it, driven by a small blocking `UnixStream` loop. A private Dovecot (its own
//! `instance_name`, `base_dir`, `state_dir`) checks a passwd-file. It keeps the default
//! `disable_plaintext_auth = yes`, which Dovecot 2.3 enforces in its login processes, not in
//! the auth service: PLAIN without `secured` still succeeds here, so the MTA itself must
//! refuse AUTH before TLS (our own server does refuse it).
//!
//! Skipped with a message unless run as root with `dovecot` installed. Dovecot delays every
//! failure by 2 s, so the failures run side by side on one connection.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use dovecot_auth::client::{
    AuthClient, AuthParams, ClientEvent, ClientOptions, SmtpAuth, SmtpAuthFailure, SmtpAuthStep,
};

const DOVECOT: &str = "/usr/sbin/dovecot";

/// A private Dovecot with only the auth service; SIGTERM on drop (its children follow).
struct Dovecot {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dovecot {
    fn start() -> Option<Self> {
        let is_root = fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
        if !is_root || !Path::new(DOVECOT).exists() {
            eprintln!(
                "SKIPPED: needs root and {DOVECOT} (Debian: dovecot-core); \
                 no interop test against a real Dovecot auth server"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        // The auth process runs as user dovecot: it must reach and read the passwd-file.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let users = dir.path().join("users");
        fs::write(
            &users,
            "alice@example.org:{PLAIN}secret:5000:5000::/nonexistent::\n\
             bob@example.org:{PLAIN}hunter2:5000:5000::/nonexistent::\n",
        )
        .unwrap();
        let chown = Command::new("chown")
            .arg("root:dovecot")
            .arg(&users)
            .status()
            .unwrap();
        assert!(
            chown.success(),
            "chown root:dovecot (is dovecot-core installed?)"
        );
        fs::set_permissions(&users, fs::Permissions::from_mode(0o640)).unwrap();
        let conf = dir.path().join("dovecot.conf");
        fs::write(
            &conf,
            format!(
                "instance_name = postern-auth-client-{pid}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = none
ssl = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
",
                pid = std::process::id()
            ),
        )
        .unwrap();
        let child = Command::new(DOVECOT)
            .arg("-c")
            .arg(&conf)
            .arg("-F")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let dovecot = Self { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dovecot.socket().exists() {
            assert!(
                Instant::now() < deadline,
                "dovecot did not create its auth-client socket: {}",
                dovecot.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(dovecot)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/auth-client")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM rather than Child::kill's SIGKILL, so the master stops its children.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// One SMTP AUTH as a client would type it.
struct Script {
    mechanism: &'static str,
    initial: Option<String>,
    responses: Vec<String>,
    secured: bool,
    /// Distinct per failing script, so Dovecot's per-address penalty does not add up.
    remote_ip: &'static str,
}

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

fn script(mechanism: &'static str, initial: Option<&str>, responses: &[&str]) -> Script {
    Script {
        mechanism,
        initial: initial.map(b64),
        responses: responses.iter().map(|text| b64(text)).collect(),
        secured: true,
        remote_ip: "192.0.2.1",
    }
}

/// What became of a script: the challenges relayed (decoded), and the last step.
#[derive(Debug)]
struct Outcome {
    challenges: Vec<String>,
    last: SmtpAuthStep,
}

/// Our blocking stand-in for the MTA's auth connection.
struct Connection {
    stream: UnixStream,
    client: AuthClient,
}

impl Connection {
    fn open(dovecot: &Dovecot) -> Self {
        let mut stream = UnixStream::connect(dovecot.socket()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut client = AuthClient::new(ClientOptions::new(std::process::id()));
        stream.write_all(&client.output()).unwrap();
        let mut connection = Self { stream, client };
        match connection.next_event() {
            ClientEvent::Ready => connection,
            other => panic!("expected the handshake, got {other:?}"),
        }
    }

    fn next_event(&mut self) -> ClientEvent {
        let mut buffer = [0; 4096];
        loop {
            if let Some(event) = self.client.next_event().unwrap() {
                return event;
            }
            let n = self.stream.read(&mut buffer).unwrap();
            assert!(n > 0, "auth server closed the connection");
            self.client.receive(&buffer[..n]);
        }
    }

    /// Runs the scripts side by side on this connection.
    fn run(&mut self, scripts: Vec<Script>) -> Vec<Outcome> {
        let mut exchanges = Vec::new();
        let mut outcomes = Vec::new();
        let mut responses = Vec::new();
        for script in scripts {
            let mut params = AuthParams::new("smtp");
            params.secured = script.secured;
            params.local_ip = Some("192.0.2.25".parse().unwrap());
            params.remote_ip = Some(script.remote_ip.parse().unwrap());
            params.session = Some("test-session".into());
            let (exchange, step) = SmtpAuth::start(
                &mut self.client,
                script.mechanism,
                script.initial.as_deref(),
                &params,
            );
            exchanges.push(exchange);
            responses.push(script.responses.into_iter());
            outcomes.push(Outcome {
                challenges: Vec::new(),
                last: step.clone(),
            });
            self.write(step);
        }
        while exchanges.iter().any(|exchange| !exchange.is_finished()) {
            let ClientEvent::Reply(reply) = self.next_event() else {
                panic!("not a reply");
            };
            let index = exchanges
                .iter()
                .position(|exchange| exchange.id() == Some(reply.id))
                .unwrap();
            let mut step = exchanges[index].on_reply(reply).unwrap();
            if let SmtpAuthStep::Challenge(challenge) = &step {
                let decoded = STANDARD.decode(challenge).unwrap();
                outcomes[index]
                    .challenges
                    .push(String::from_utf8(decoded).unwrap());
                let response = responses[index]
                    .next()
                    .expect("a response to the challenge");
                step = exchanges[index]
                    .on_response(&mut self.client, &response)
                    .unwrap();
            }
            outcomes[index].last = step.clone();
            self.write(step);
        }
        outcomes
    }

    fn write(&mut self, step: SmtpAuthStep) {
        if let SmtpAuthStep::ToServer(bytes) = step {
            self.stream.write_all(bytes.expose()).unwrap();
        }
    }
}

fn user(outcome: &Outcome) -> &str {
    match &outcome.last {
        SmtpAuthStep::Authenticated(success) => &success.user,
        other => panic!("not authenticated: {other:?}"),
    }
}

fn rejected(outcome: &Outcome) -> Option<&str> {
    match &outcome.last {
        SmtpAuthStep::Failed(SmtpAuthFailure::Rejected(failure)) => failure.reason.as_deref(),
        other => panic!("not rejected: {other:?}"),
    }
}

#[test]
fn smtp_auth_against_dovecot() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let mut connection = Connection::open(&dovecot);
    let client = &connection.client;
    let names: Vec<&str> = client
        .mechanisms()
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["PLAIN", "LOGIN"], "{}", dovecot.log());
    assert!(client.mechanisms().iter().all(|m| m.plaintext));
    assert!(client.server_pid().is_some() && client.connection_uid().is_some());
    assert_eq!(client.cookie().map(str::len), Some(32));
    assert_eq!(client.smtp_mechanisms(false), Vec::<String>::new());

    // Logins that work, one after the other.
    let started = Instant::now();
    let good = connection.run(vec![script(
        "PLAIN",
        Some("\0alice@example.org\0secret"),
        &[],
    )]);
    assert_eq!(user(&good[0]), "alice@example.org");
    let good = connection.run(vec![script(
        "PLAIN",
        None,
        &["\0alice@example.org\0secret"],
    )]);
    assert_eq!(good[0].challenges, [""]);
    assert_eq!(user(&good[0]), "alice@example.org");
    let good = connection.run(vec![script("LOGIN", None, &["bob@example.org", "hunter2"])]);
    assert_eq!(good[0].challenges, ["Username:", "Password:"]);
    assert_eq!(user(&good[0]), "bob@example.org");
    let good = connection.run(vec![script("login", Some("bob@example.org"), &["hunter2"])]);
    assert_eq!(good[0].challenges, ["Password:"]);
    assert_eq!(user(&good[0]), "bob@example.org");
    let successes = started.elapsed();

    // Failures side by side, with a good login among them that overtakes them all.
    let started = Instant::now();
    let mut unsecured = script("PLAIN", Some("\0alice@example.org\0secret"), &[]);
    unsecured.secured = false;
    unsecured.remote_ip = "192.0.2.11";
    let mut wrong_plain = script("PLAIN", Some("\0alice@example.org\0wrong"), &[]);
    wrong_plain.remote_ip = "192.0.2.12";
    let mut wrong_login = script("LOGIN", None, &["bob@example.org", "wrong"]);
    wrong_login.remote_ip = "192.0.2.13";
    let mut unknown = script("PLAIN", Some("\0mallory@example.org\0secret"), &[]);
    unknown.remote_ip = "192.0.2.14";
    let outcomes = connection.run(vec![
        unsecured,
        wrong_plain,
        wrong_login,
        unknown,
        script("PLAIN", Some("\0alice@example.org\0secret"), &[]),
    ]);
    let failures = started.elapsed();
    // Dovecot 2.3 accepts it (see the top of this file); a later one may refuse it.
    match &outcomes[0].last {
        SmtpAuthStep::Authenticated(success) => assert_eq!(success.user, "alice@example.org"),
        _ => {
            let reason = rejected(&outcomes[0]).unwrap_or_default();
            assert!(
                reason.starts_with("Plaintext authentication disallowed"),
                "{reason}"
            );
        }
    }
    // Like ours, Dovecot does not tell a wrong password from an unknown user.
    assert_eq!(rejected(&outcomes[1]), rejected(&outcomes[3]));
    rejected(&outcomes[2]);
    assert_eq!(outcomes[2].challenges, ["Username:", "Password:"]);
    assert_eq!(user(&outcomes[4]), "alice@example.org");

    // Cancelled at the prompt ("*"): nothing is sent, and the connection goes on.
    let params = AuthParams::new("smtp");
    let (mut exchange, step) = SmtpAuth::start(&mut connection.client, "LOGIN", None, &params);
    connection.write(step);
    let ClientEvent::Reply(reply) = connection.next_event() else {
        panic!("not a reply");
    };
    assert!(matches!(
        exchange.on_reply(reply).unwrap(),
        SmtpAuthStep::Challenge(_)
    ));
    exchange.cancel(&mut connection.client);
    let good = connection.run(vec![script(
        "PLAIN",
        Some("\0alice@example.org\0secret"),
        &[],
    )]);
    assert_eq!(user(&good[0]), "alice@example.org");
    assert_eq!(connection.client.in_progress(), 0);
    eprintln!(
        "dovecot: 4 logins one by one in {successes:?}; 3 failures and 2 logins side by side in {failures:?}"
    );
    let log = dovecot.log();
    assert!(!log.contains("BUG"), "{log}");
}
