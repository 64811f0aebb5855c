//! Our client against our own server, in memory: every SMTP AUTH shape an MTA relays, the
//! bytes passed back and forth by a tiny pump instead of a socket.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use dovecot_auth::client::{
    AuthClient, AuthParams, ClientEvent, ClientOptions, SmtpAuth, SmtpAuthFailure, SmtpAuthStep,
};
use dovecot_auth::{AuthSession, Event, Greeting, SessionOptions};

/// A server and a client joined back to back; the server accepts alice/secret as
/// alice@example.org and answers "tempfail" with a temporary failure.
struct Loopback {
    server: AuthSession,
    client: AuthClient,
    /// Verify events the server saw, rendered.
    verified: Vec<String>,
}

impl Loopback {
    fn new(options: SessionOptions) -> Self {
        let mut loopback = Self {
            server: AuthSession::new(options),
            client: AuthClient::new(ClientOptions::new(4242)),
            verified: Vec::new(),
        };
        let bytes = loopback.client.output();
        loopback.deliver(&bytes);
        assert_eq!(loopback.next_client_event(), ClientEvent::Ready);
        loopback
    }

    /// Delivers client bytes to the server and lets it answer.
    fn deliver(&mut self, bytes: &[u8]) {
        self.server.receive(bytes);
        while let Some(event) = self.server.next_event().unwrap() {
            if let Event::Verify {
                id,
                username,
                password,
                secured,
                remote_ip,
                ..
            } = &event
            {
                self.verified.push(format!(
                    "{username} secured={secured} rip={}",
                    remote_ip.map_or("-".into(), |ip| ip.to_string())
                ));
                match (username.as_str(), password.expose()) {
                    ("alice", b"secret") => self.server.ok(*id, "alice@example.org").unwrap(),
                    ("tempfail", _) => self.server.temp_fail(*id, Some("db down")).unwrap(),
                    _ => self.server.fail(*id, None).unwrap(),
                }
            }
        }
        let reply = self.server.output();
        self.client.receive(&reply);
    }

    fn next_client_event(&mut self) -> ClientEvent {
        self.client.next_event().unwrap().expect("a client event")
    }

    /// Follows steps until the exchange needs the SMTP client or is over.
    fn run(&mut self, exchange: &mut SmtpAuth, mut step: SmtpAuthStep) -> SmtpAuthStep {
        while let SmtpAuthStep::ToServer(bytes) = step {
            self.deliver(bytes.expose());
            let ClientEvent::Reply(reply) = self.next_client_event() else {
                panic!("not a reply");
            };
            assert_eq!(Some(reply.id), exchange.id());
            step = exchange.on_reply(reply).unwrap();
        }
        step
    }

    /// A whole SMTP AUTH: `AUTH mechanism [initial]`, then each client line in turn after a
    /// 334. Returns the challenges seen and the final step.
    fn smtp_auth(
        &mut self,
        mechanism: &str,
        initial: Option<&str>,
        responses: &[&str],
        secured: bool,
    ) -> (Vec<String>, SmtpAuthStep) {
        let mut params = AuthParams::new("smtp");
        params.secured = secured;
        params.remote_ip = Some("198.51.100.7".parse().unwrap());
        let (mut exchange, step) = SmtpAuth::start(&mut self.client, mechanism, initial, &params);
        let mut step = self.run(&mut exchange, step);
        let mut challenges = Vec::new();
        let mut responses = responses.iter();
        while let SmtpAuthStep::Challenge(challenge) = &step {
            let decoded = STANDARD.decode(challenge).unwrap();
            challenges.push(String::from_utf8(decoded).unwrap());
            let response = responses.next().expect("a response for the challenge");
            let next = exchange.on_response(&mut self.client, response).unwrap();
            step = self.run(&mut exchange, next);
        }
        assert!(responses.next().is_none(), "unused responses");
        assert!(exchange.is_finished());
        (challenges, step)
    }
}

fn b64(text: &[u8]) -> String {
    STANDARD.encode(text)
}

fn authenticated(step: &SmtpAuthStep) -> &str {
    match step {
        SmtpAuthStep::Authenticated(success) => &success.user,
        other => panic!("not authenticated: {other:?}"),
    }
}

#[test]
fn plain_with_and_without_initial_response() {
    let mut loopback = Loopback::new(SessionOptions::new(1, 2, [3; 16]));
    let credentials = b64(b"\0alice\0secret");
    let (challenges, step) = loopback.smtp_auth("PLAIN", Some(&credentials), &[], true);
    assert!(challenges.is_empty());
    assert_eq!(authenticated(&step), "alice@example.org");

    let (challenges, step) = loopback.smtp_auth("PLAIN", None, &[&credentials], true);
    assert_eq!(challenges, [""]);
    assert_eq!(authenticated(&step), "alice@example.org");

    // An empty initial response ("=") is no credentials at all.
    let (_, step) = loopback.smtp_auth("PLAIN", Some("="), &[], true);
    assert!(matches!(
        step,
        SmtpAuthStep::Failed(SmtpAuthFailure::Rejected(_))
    ));
    assert_eq!(
        loopback.verified,
        ["alice secured=true rip=198.51.100.7"; 2]
    );
}

#[test]
fn login_with_both_prompts_and_with_initial_user() {
    let mut loopback = Loopback::new(SessionOptions::new(1, 2, [3; 16]));
    let (challenges, step) =
        loopback.smtp_auth("LOGIN", None, &[&b64(b"alice"), &b64(b"secret")], true);
    assert_eq!(challenges, ["Username:", "Password:"]);
    assert_eq!(authenticated(&step), "alice@example.org");

    let (challenges, step) =
        loopback.smtp_auth("login", Some(&b64(b"alice")), &[&b64(b"secret")], true);
    assert_eq!(challenges, ["Password:"]);
    assert_eq!(authenticated(&step), "alice@example.org");
}

#[test]
fn failures_map_to_smtp_classes() {
    let mut loopback = Loopback::new(SessionOptions::new(1, 2, [3; 16]));
    let (_, step) = loopback.smtp_auth("PLAIN", Some(&b64(b"\0alice\0wrong")), &[], true);
    let SmtpAuthStep::Failed(failure @ SmtpAuthFailure::Rejected(details)) = &step else {
        panic!("{step:?}");
    };
    assert!(!failure.is_temporary());
    assert_eq!(details.user.as_deref(), Some("alice"));

    let (_, step) = loopback.smtp_auth("PLAIN", Some(&b64(b"\0tempfail\0x")), &[], true);
    let SmtpAuthStep::Failed(failure @ SmtpAuthFailure::Temporary(_)) = &step else {
        panic!("{step:?}");
    };
    assert!(failure.is_temporary());
    assert_eq!(failure.reason(), Some("db down"));

    // Our server refuses plaintext without TLS, and says why.
    let (_, step) = loopback.smtp_auth("PLAIN", Some(&b64(b"\0alice\0secret")), &[], false);
    let SmtpAuthStep::Failed(failure) = &step else {
        panic!("{step:?}");
    };
    assert!(
        failure
            .reason()
            .unwrap()
            .starts_with("Plaintext authentication disallowed")
    );

    // Decided locally: the server would have dropped the connection for these.
    let (_, step) = loopback.smtp_auth("CRAM-MD5", None, &[], true);
    assert_eq!(
        step,
        SmtpAuthStep::Failed(SmtpAuthFailure::UnsupportedMechanism)
    );
    let (_, step) = loopback.smtp_auth("PLAIN", Some("AGFs\taWNl"), &[], true);
    assert_eq!(step, SmtpAuthStep::Failed(SmtpAuthFailure::InvalidResponse));
    let (_, step) = loopback.smtp_auth("LOGIN", None, &["YWxp!2U="], true);
    assert_eq!(step, SmtpAuthStep::Failed(SmtpAuthFailure::InvalidResponse));

    // The connection is still good.
    let (_, step) = loopback.smtp_auth("PLAIN", Some(&b64(b"\0alice\0secret")), &[], true);
    assert_eq!(authenticated(&step), "alice@example.org");
}

#[test]
fn cancelled_exchanges_do_not_fill_the_server() {
    let mut options = SessionOptions::new(1, 2, [3; 16]);
    options.max_requests = 2;
    let mut loopback = Loopback::new(options);
    // SMTP clients that answer "*" at the first prompt, many times over one connection: the
    // server drops the abandoned requests when it needs room, the client too.
    let mut params = AuthParams::new("smtp");
    params.secured = true;
    for _ in 0..10 {
        let (mut exchange, step) = SmtpAuth::start(&mut loopback.client, "LOGIN", None, &params);
        let step = loopback.run(&mut exchange, step);
        assert!(matches!(step, SmtpAuthStep::Challenge(_)));
        exchange.cancel(&mut loopback.client);
    }
    let (_, step) = loopback.smtp_auth("PLAIN", Some(&b64(b"\0alice\0secret")), &[], true);
    assert_eq!(authenticated(&step), "alice@example.org");
}

#[test]
fn server_greeting_after_client_version() {
    // Dovecot 2.4 greets only after the client's VERSION; we send ours first anyway.
    let mut options = SessionOptions::new(1, 2, [3; 16]);
    options.greeting = Greeting::AfterClientVersion;
    let mut loopback = Loopback::new(options);
    assert_eq!(loopback.client.smtp_mechanisms(true), ["PLAIN", "LOGIN"]);
    assert!(loopback.client.smtp_mechanisms(false).is_empty());
    assert_eq!(loopback.client.server_pid(), Some(1));
    assert_eq!(loopback.client.connection_uid(), Some(2));
    let (_, step) = loopback.smtp_auth("PLAIN", Some(&b64(b"alice\0alice\0secret")), &[], true);
    assert_eq!(authenticated(&step), "alice@example.org");
}

#[test]
fn many_exchanges_interleaved_on_one_connection() {
    let mut loopback = Loopback::new(SessionOptions::new(1, 2, [3; 16]));
    // Three LOGIN exchanges started together, each answered in a different order.
    let mut params = AuthParams::new("smtp");
    params.secured = true;
    let mut exchanges: Vec<SmtpAuth> = Vec::new();
    let mut to_server = Vec::new();
    for _ in 0..3 {
        let (exchange, step) = SmtpAuth::start(&mut loopback.client, "LOGIN", None, &params);
        let SmtpAuthStep::ToServer(bytes) = step else {
            panic!("{step:?}");
        };
        to_server.extend_from_slice(bytes.expose());
        exchanges.push(exchange);
    }
    loopback.deliver(&to_server);
    let mut pending = Vec::new();
    for order in [[2usize, 0, 1], [1, 2, 0]] {
        // Collect one reply per exchange, then answer in `order`.
        while let Some(ClientEvent::Reply(reply)) = loopback.client.next_event().unwrap() {
            let index = exchanges
                .iter()
                .position(|e| e.id() == Some(reply.id))
                .unwrap();
            pending.push((index, exchanges[index].on_reply(reply).unwrap()));
        }
        assert_eq!(pending.len(), 3);
        let mut bytes = Vec::new();
        for index in order {
            let response = if order[0] == 2 {
                b64(b"alice")
            } else {
                b64(b"secret")
            };
            let step = exchanges[index]
                .on_response(&mut loopback.client, &response)
                .unwrap();
            let SmtpAuthStep::ToServer(line) = step else {
                panic!("{step:?}");
            };
            bytes.extend_from_slice(line.expose());
        }
        pending.clear();
        loopback.deliver(&bytes);
    }
    let mut users = Vec::new();
    while let Some(ClientEvent::Reply(reply)) = loopback.client.next_event().unwrap() {
        let index = exchanges
            .iter()
            .position(|e| e.id() == Some(reply.id))
            .unwrap();
        users.push(authenticated(&exchanges[index].on_reply(reply).unwrap()).to_owned());
    }
    assert_eq!(users, ["alice@example.org"; 3]);
    assert_eq!(loopback.client.in_progress(), 0);
}
