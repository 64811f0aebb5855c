//! End to end: postern-mta (SMTP, submission with STARTTLS and AUTH, implicit TLS) in front
//! of postern-mda (auth socket, LMTP into Maildir), driven by real clients (swaks, Python's
//! smtplib) and raw sockets for what clients would never send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use postern_tests::dkim_daemon::{self, DkimDaemon, TestKey};
use postern_tests::dovecot::DovecotBuilder;
use postern_tests::mta_stack::{MtaOptions, MtaStack};
use postern_tests::opendkim::OpenDkim;
use postern_tests::smtp_client::{Submission, connect, submit};
use postern_tests::verify;
use postern_tests::workdir::WorkDir;

const OUTSIDE: &str = "127.0.0.2";

fn outside() -> Option<IpAddr> {
    Some(OUTSIDE.parse().unwrap())
}

fn message(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\nHello.\r\n.dot line\r\n"
    )
    .into_bytes()
}

fn swaks(args: &[&str]) -> (bool, String) {
    let out = Command::new("swaks")
        .args(args)
        .output()
        .expect("swaks (tests/install-peers installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn submission_with_starttls_and_auth_reaches_the_mailbox() {
    let work = WorkDir::new("mta-submission");
    let stack = MtaStack::start(work.path(), &MtaOptions::default());
    let port = stack.submission_port.to_string();
    let server = format!("127.0.0.1:{port}");
    let (ok, transcript) = swaks(&[
        "--server",
        &server,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@example.org",
        "--auth-password",
        "alice-secret",
        "--from",
        "alice@example.org",
        "--to",
        "bob@example.org",
        "--header",
        "Subject: via submission",
    ]);
    assert!(ok && transcript.contains("queued as"), "{transcript}");
    let mail = stack.wait_for("bob@example.org", 1);
    let text = &mail[0];
    assert!(
        text.starts_with("Return-Path: <alice@example.org>\n"),
        "{text}"
    );
    assert!(text.contains("Delivered-To: bob@example.org\n"), "{text}");
    assert!(
        text.contains("by mx.example.org (Postern) with ESMTPSA id "),
        "{text}"
    );
    assert!(text.contains("Subject: via submission"), "{text}");

    // AUTH LOGIN, too; a wrong password and an unknown user get 535.
    let (ok, transcript) = swaks(&[
        "--server",
        &server,
        "--tls",
        "--auth",
        "LOGIN",
        "--auth-user",
        "bob@example.org",
        "--auth-password",
        "bob-secret",
        "--from",
        "bob@example.org",
        "--to",
        "alice@example.org",
    ]);
    assert!(ok, "{transcript}");
    for (user, password) in [("bob@example.org", "wrong"), ("nobody@example.org", "x")] {
        let (ok, transcript) = swaks(&[
            "--server",
            &server,
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            user,
            "--auth-password",
            password,
            "--from",
            user,
            "--to",
            "alice@example.org",
        ]);
        assert!(!ok && transcript.contains("535 5.7.8"), "{transcript}");
    }
    stack.wait_for("alice@example.org", 1);

    // No STARTTLS: no AUTH on offer and MAIL is refused.
    let mut s = connect(stack.submission_port, None).unwrap();
    let text = exchange(&mut s, "EHLO client.example.net\r\n", 2);
    assert!(
        text.contains("STARTTLS") && !text.contains("AUTH"),
        "{text}"
    );
    let text = exchange(&mut s, "MAIL FROM:<alice@example.org>\r\n", 1);
    assert!(text.starts_with("530 5.7.0"), "{text}");

    // Authenticated, but sending as someone else.
    let (ok, transcript) = swaks(&[
        "--server",
        &server,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@example.org",
        "--auth-password",
        "alice-secret",
        "--from",
        "bob@example.org",
        "--to",
        "bob@example.org",
    ]);
    assert!(!ok && transcript.contains("553 5.7.1"), "{transcript}");
}

#[test]
fn implicit_tls_with_python_smtplib() {
    let work = WorkDir::new("mta-465");
    let stack = MtaStack::start(work.path(), &MtaOptions::default());
    let script = format!(
        "import smtplib, ssl\n\
         ctx = ssl.create_default_context(cafile='{}')\n\
         ctx.check_hostname = False  # connected by address; the chain is still verified\n\
         s = smtplib.SMTP_SSL('127.0.0.1', {}, context=ctx)\n\
         s.login('alice@example.org', 'alice-secret')\n\
         s.sendmail('alice@example.org', ['bob@example.org', 'alice+lists@example.org'], \
         'Subject: over 465\\r\\n\\r\\nhi\\r\\n')\n\
         s.quit()\n",
        stack.cert.display(),
        stack.submissions_port
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        stack.mta.log_text()
    );
    let bob = stack.wait_for("bob@example.org", 1);
    assert!(bob[0].contains("Subject: over 465"));
    assert!(bob[0].contains("(using TLSv1.3 with cipher"), "{}", bob[0]);
    stack.wait_for("alice@example.org", 1);
}

#[test]
fn mx_accepts_local_mail_refuses_unknown_users_and_relaying() {
    let work = WorkDir::new("mta-mx");
    let stack = MtaStack::start(work.path(), &MtaOptions::default());
    let reply = submit(
        stack.smtp_port,
        &Submission {
            from: "someone@outside.test",
            to: &["alice@example.org"],
            data: &message("someone@outside.test", "alice@example.org", "inbound"),
            auth: None,
            source: outside(),
        },
    )
    .unwrap();
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
    let mail = stack.wait_for("alice@example.org", 1);
    assert!(mail[0].contains("with ESMTP id"), "{}", mail[0]);
    assert!(mail[0].contains("Hello.\n.dot line\n"), "{}", mail[0]);

    let mut s = connect(stack.smtp_port, outside()).unwrap();
    exchange(&mut s, "", 1);
    exchange(&mut s, "EHLO client.outside.test\r\n", 1);
    assert!(exchange(&mut s, "MAIL FROM:<someone@outside.test>\r\n", 1).starts_with("250"));
    let unknown = exchange(&mut s, "RCPT TO:<nobody@example.org>\r\n", 1);
    assert!(unknown.starts_with("550 5.1.1"), "{unknown}");
    // The open-relay battery: every form is refused for an outsider.
    for attempt in [
        "<victim@remote.test>",
        "<victim%remote.test@example.org>",
        "<victim@remote.test@example.org>",
        "<\"victim@remote.test\"@example.org>",
        "<@example.org:victim@remote.test>",
        "<remote.test!victim@example.org>",
        "<victim@[192.0.2.1]>",
        "<victim@[IPv6:2001:db8::1]>",
        "<victim@example.org.remote.test>",
    ] {
        let reply = exchange(&mut s, &format!("RCPT TO:{attempt}\r\n"), 1);
        assert!(reply.starts_with('5'), "{attempt} got {reply}");
    }
    assert!(exchange(&mut s, "QUIT\r\n", 1).starts_with("221"));
    assert!(stack.messages(&stack.maildir("alice@example.org")).len() == 1);
}

/// Published SMTP smuggling payloads (SEC Consult, 2023): each must stay one message.
#[test]
fn smuggling_payloads_never_split_a_message() {
    let work = WorkDir::new("mta-smuggle");
    let stack = MtaStack::start(
        work.path(),
        &MtaOptions {
            mta: vec!["bare_line_ends = \"pass\"".into()],
            ..MtaOptions::default()
        },
    );
    let payloads: [&[u8]; 6] = [
        b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\n.\n", b"\r\n.\n", b"\n.\r",
    ];
    for (i, end) in payloads.iter().enumerate() {
        for pipelined in [false, true] {
            let mut s = connect(stack.smtp_port, outside()).unwrap();
            exchange(&mut s, "", 1);
            exchange(&mut s, "EHLO attacker.test\r\n", 1);
            let mut data = format!("Subject: carrier {i}\r\n\r\nfirst\r\n").into_bytes();
            data.extend_from_slice(end);
            data.extend_from_slice(
                b"MAIL FROM:<admin@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n\
                  Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n",
            );
            let envelope =
                "MAIL FROM:<attacker@outside.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n";
            if pipelined {
                let mut all = envelope.as_bytes().to_vec();
                all.extend_from_slice(&data);
                all.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
                s.write_all(&all).unwrap();
            } else {
                exchange(&mut s, "MAIL FROM:<attacker@outside.test>\r\n", 1);
                exchange(&mut s, "RCPT TO:<alice@example.org>\r\n", 1);
                exchange(&mut s, "DATA\r\n", 1);
                s.write_all(&data).unwrap();
                s.write_all(b"\r\n.\r\nQUIT\r\n").unwrap();
            }
            let mut rest = String::new();
            let _ = s.read_to_string(&mut rest);
            if pipelined {
                // The message came before the 354: smtpd_forbid_unauth_pipelining.
                assert!(rest.contains("554 5.5.0"), "{rest}");
            }
        }
    }
    // 12 carriers for alice, whatever their fate; bob never gets the smuggled message.
    std::thread::sleep(Duration::from_secs(2));
    assert!(stack.messages(&stack.maildir("bob@example.org")).is_empty());
    for text in stack.messages(&stack.maildir("alice@example.org")) {
        assert!(
            text.contains("smuggled\n"),
            "the payload stays inside the carrier: {text}"
        );
    }
}

/// Writes `send`, then reads until `finals` final reply lines arrived.
fn exchange(s: &mut std::net::TcpStream, send: &str, finals: usize) -> String {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    if !send.is_empty() {
        s.write_all(send.as_bytes()).unwrap();
    }
    let mut text = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let done = String::from_utf8_lossy(&text)
            .split("\r\n")
            .filter(|l| l.as_bytes().get(3) == Some(&b' '))
            .count();
        if done >= finals && text.ends_with(b"\r\n") {
            return String::from_utf8_lossy(&text).into_owned();
        }
        match s.read(&mut byte) {
            Ok(1) => text.push(byte[0]),
            _ => return String::from_utf8_lossy(&text).into_owned(),
        }
    }
}

/// The dkim config for postern-dkim signing example.org (authenticated senders only).
fn postern_dkim(
    work: &WorkDir,
) -> (
    postern_tests::dkim_daemon::DkimDaemon,
    Vec<TestKey>,
    std::path::PathBuf,
) {
    let dir = work.subdir("dkim", 0o755);
    let key = dkim_daemon::genkey(&dir, "example.org", "sel", "rsa");
    let socket = dir.join("milter.sock");
    let config = format!(
        "[daemon]\nlisten = [\"unix:{}\"]\nsocket_mode = \"0666\"\nshutdown_timeout = \"2s\"\n\n\
         [signing]\ncanonicalization = \"relaxed/relaxed\"\ninternal_networks = []\n\n\
         [keys.main]\ndomain = \"example.org\"\nselector = \"sel\"\nfile = \"{}\"\n\n\
         [[signing_table]]\nfrom = \"example.org\"\nkeys = [\"main\"]\n",
        socket.display(),
        key.file.display()
    );
    let daemon = DkimDaemon::start(&dir, &socket, &config);
    (daemon, vec![key], socket)
}

fn milter_table(socket: &std::path::Path) -> MtaOptions {
    MtaOptions {
        tables: format!(
            "[milter.dkim]\nsocket = \"unix:{}\"\ndefault_action = \"tempfail\"\n",
            socket.display()
        ),
        milters: Some("[\"dkim\"]".into()),
        ..MtaOptions::default()
    }
}

/// Verifies the delivered (LF-stored) message's DKIM signature with dkimpy.
fn assert_dkim_pass(work: &WorkDir, keys: &[TestKey], stored: &str, name: &str) {
    let keys_file = work.path().join("keys.txt");
    dkim_daemon::records(keys).write(&keys_file);
    let path = work.path().join(format!("{name}.eml"));
    std::fs::write(&path, postern_tests::dovecot::as_crlf(stored.as_bytes())).unwrap();
    if let Err(report) = verify::dkimpy(&keys_file, &[path]) {
        panic!("dkimpy: {report}\n{stored}");
    }
}

fn submit_and_outside(stack: &MtaStack) {
    let server = format!("127.0.0.1:{}", stack.submission_port);
    let (ok, transcript) = swaks(&[
        "--server",
        &server,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@example.org",
        "--auth-password",
        "alice-secret",
        "--from",
        "alice@example.org",
        "--to",
        "bob@example.org",
        "--header",
        "Subject: signed on the way out",
    ]);
    assert!(ok, "{transcript}\n{}", stack.mta.log_text());
    let reply = submit(
        stack.smtp_port,
        &Submission {
            from: "alice@example.org",
            to: &["alice@example.org"],
            data: &message("alice@example.org", "alice@example.org", "from-outside"),
            auth: None,
            source: outside(),
        },
    )
    .unwrap();
    assert!(reply.starts_with("250"), "{reply}");
}

#[test]
fn postern_dkim_signs_submissions_and_leaves_inbound_mail_alone() {
    let work = WorkDir::new("mta-dkim");
    let (_dkim, keys, socket) = postern_dkim(&work);
    let stack = MtaStack::start(&work.subdir("stack", 0o755), &milter_table(&socket));
    submit_and_outside(&stack);
    let signed = stack.wait_for("bob@example.org", 1);
    assert!(signed[0].contains("DKIM-Signature:"), "{}", signed[0]);
    assert_dkim_pass(&work, &keys, &signed[0], "postern-dkim");
    let inbound = stack.wait_for("alice@example.org", 1);
    assert!(!inbound[0].contains("DKIM-Signature:"), "{}", inbound[0]);
}

#[test]
fn opendkim_as_milter_and_dovecot_as_lmtp_and_auth() {
    let work = WorkDir::new("mta-stock");
    let stack_dir = work.subdir("stack", 0o755);
    let key = dkim_daemon::genkey(&work.subdir("keys", 0o755), "example.org", "sel", "rsa");
    let opendkim_dir = work.subdir("opendkim", 0o755);
    // OpenDKIM signs for clients in InternalHosts (127.0.0.1: the submission client), not
    // for the outsider at 127.0.0.2.
    let opendkim = OpenDkim::start_signer(
        &opendkim_dir,
        "example.org",
        "sel",
        &key.file,
        "relaxed/relaxed",
    );
    let mail_root = stack_dir.join("vmail");
    std::fs::create_dir_all(&mail_root).unwrap();
    let status = Command::new("chown")
        .arg(format!("{0}:{0}", postern_tests::dovecot::VMAIL_UID))
        .arg(&mail_root)
        .status()
        .unwrap();
    assert!(status.success());
    let lines = postern_tests::mta_stack::USERS
        .iter()
        .map(|(address, password)| {
            let (local, domain) = address.split_once('@').unwrap();
            postern_tests::dovecot::passwd_line(
                address,
                &format!("{{PLAIN}}{password}"),
                &format!("{}/{domain}/{local}", mail_root.display()),
                "",
            )
        });
    let dovecot = DovecotBuilder::new(&work.subdir("dovecot", 0o755))
        .passwd(lines)
        .lmtp()
        .auth_client()
        .start();
    let mut options = milter_table(opendkim.socket());
    options.lmtp = Some(format!("unix:{}", dovecot.lmtp_socket().display()));
    options.auth = Some(format!("unix:{}", dovecot.auth_socket().display()));
    let stack = MtaStack::start(&stack_dir, &options);
    submit_and_outside(&stack);
    let signed = stack.wait_for("bob@example.org", 1);
    assert!(signed[0].contains("DKIM-Signature:"), "{}", signed[0]);
    assert_dkim_pass(&work, &[key], &signed[0], "opendkim");
    let inbound = stack.wait_for("alice@example.org", 1);
    assert!(!inbound[0].contains("DKIM-Signature:"), "{}", inbound[0]);
    assert!(
        dovecot.log().contains("saved mail to INBOX"),
        "{}",
        dovecot.log()
    );
}

/// Addresses from TEST-NET-2 on the loopback interface for the test's lifetime: the
/// resolver answers for 127.0.0.0/8 itself (RFC 6761), so reverse DNS needs other addresses.
struct TestAddresses(Vec<&'static str>);

impl TestAddresses {
    fn add(addresses: &[&'static str]) -> TestAddresses {
        for a in addresses {
            let out = Command::new("ip")
                .args(["addr", "add", &format!("{a}/32"), "dev", "lo"])
                .output()
                .expect("ip (iproute2)");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() || err.contains("File exists"),
                "ip addr add {a}: {err}"
            );
        }
        TestAddresses(addresses.to_vec())
    }
}

impl Drop for TestAddresses {
    fn drop(&mut self) {
        for a in &self.0 {
            let _ = Command::new("ip")
                .args(["addr", "del", &format!("{a}/32"), "dev", "lo"])
                .output();
        }
    }
}

/// Reverse DNS on the MX: a client whose PTR name resolves back to it is named in the
/// Received header; one without a PTR, or with a PTR that does not resolve back, is refused
/// with 550 5.7.25 (450 when DNS does not answer); our own network is exempt. DNS is a
/// stub on loopback; the clients use TEST-NET-2 addresses added to `lo`.
#[test]
fn mx_checks_client_reverse_dns() {
    use postern_tests::dns_stub::{self, Rr};
    let _addresses = TestAddresses::add(&[
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
        "198.51.100.5",
    ]);
    let zone = vec![
        (
            "2.100.51.198.in-addr.arpa".to_string(),
            Rr::Ptr("mail.outside.test".into()),
        ),
        (
            "mail.outside.test".to_string(),
            Rr::A("198.51.100.2".parse().unwrap()),
        ),
        (
            "3.100.51.198.in-addr.arpa".to_string(),
            Rr::Ptr("liar.outside.test".into()),
        ),
        (
            "liar.outside.test".to_string(),
            Rr::A("198.51.100.9".parse().unwrap()),
        ),
        ("5.100.51.198.in-addr.arpa".to_string(), Rr::Silent),
    ];
    let port = dns_stub::start_zone(zone);
    let work = WorkDir::new("mta-rdns");
    let stack = MtaStack::start(
        work.path(),
        &MtaOptions {
            smtp_listener: vec!["reject_unknown_client_hostname = true".into()],
            tables: format!("[dns]\nnameservers = [\"127.0.0.1:{port}\"]\ntimeout = \"300ms\"\n"),
            ..MtaOptions::default()
        },
    );
    let send = |source: &str, subject: &str| {
        let mut s = connect(stack.smtp_port, Some(source.parse().unwrap())).unwrap();
        exchange(&mut s, "", 1);
        exchange(&mut s, "EHLO client.outside.test\r\n", 1);
        let mail = exchange(&mut s, "MAIL FROM:<someone@outside.test>\r\n", 1);
        if !mail.starts_with("250") {
            return mail;
        }
        exchange(&mut s, "RCPT TO:<alice@example.org>\r\n", 1);
        exchange(&mut s, "DATA\r\n", 1);
        exchange(&mut s, &format!("Subject: {subject}\r\n\r\nhi\r\n.\r\n"), 1)
    };
    let verified = send("198.51.100.2", "verified");
    assert!(verified.starts_with("250 "), "{verified}");
    let mail = stack.wait_for("alice@example.org", 1);
    assert!(
        mail[0].contains("from client.outside.test (mail.outside.test [198.51.100.2])"),
        "{}",
        mail[0]
    );
    let liar = send("198.51.100.3", "liar");
    assert!(
        liar.starts_with("550 5.7.25 Client host rejected: cannot find your hostname"),
        "{liar}"
    );
    let nameless = send("198.51.100.4", "nameless");
    assert!(
        nameless.starts_with(
            "550 5.7.25 Client host rejected: cannot find your reverse hostname, [198.51.100.4]"
        ),
        "{nameless}"
    );
    let broken = send("198.51.100.5", "dns down");
    assert!(broken.starts_with("450 4.7.25"), "{broken}");
    // Loopback is not looked up, and mynetworks (127.0.0.1 here) is not held to it anyway.
    let own = send("127.0.0.1", "own network");
    assert!(own.starts_with("250 "), "{own}");
    stack.wait_for("alice@example.org", 2);
    let log = stack.mta.log_text();
    assert!(log.contains("name=mail.outside.test"), "{log}");
    assert!(
        log.contains("PTR liar.outside.test does not match"),
        "{log}"
    );
}
