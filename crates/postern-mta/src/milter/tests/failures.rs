//! Milters that are down, slow, or break the protocol get their default action.

use std::time::Instant;

use super::*;

fn quick(mut settings: MilterSettings, command: u64, content: u64) -> MilterSettings {
    settings.command_timeout = Duration::from_millis(command);
    settings.content_timeout = Duration::from_millis(content);
    settings
}

/// A fake that does `act` at the step `at` and CONTINUE elsewhere.
async fn failing_at(at: &'static str, act: fn() -> Act) -> Fake {
    Fake::start(ProtocolFlags::empty(), vec![], move |event| {
        if summary(event).starts_with(at) {
            act()
        } else {
            reply(Reply::Continue)
        }
    })
    .await
}

#[tokio::test]
async fn silent_milter_times_out_with_the_command_timeout() {
    let fake = failing_at("mail", || Act::Silence).await;
    let settings = quick(fake.settings("slow", MilterDefault::TempFail), 300, 5_000);
    let (mut chain, _) = MilterChain::connect(&[settings], &info()).await;
    let start = Instant::now();
    let verdict = chain.mail_from("a@b", &[], &mail_macros()).await;
    let waited = start.elapsed();
    assert_eq!(verdict, Verdict::TempFail(MilterReply::tempfail()));
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // The milter is dead for the session: every later stage says the same, without waiting.
    let start = Instant::now();
    assert_eq!(chain.mail_from("a@b", &[], &mail_macros()).await, verdict);
    assert_eq!(chain.helo("x").await, verdict);
    assert!(start.elapsed() < Duration::from_millis(100));
}

#[tokio::test]
async fn silent_milter_during_the_body_times_out_with_the_content_timeout() {
    let fake = failing_at("body", || Act::Silence).await;
    let settings = quick(fake.settings("slow", MilterDefault::Reject), 5_000, 300);
    let (mut chain, _) = MilterChain::connect(&[settings], &info()).await;
    let start = Instant::now();
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert!(start.elapsed() < Duration::from_secs(3));
    let rejected = Verdict::Reject(MilterReply::reject());
    assert_eq!(verdicts.last().unwrap(), &rejected);
    assert_eq!(
        rejected.reply().unwrap().as_str(),
        "550 5.7.1 Command rejected"
    );
    assert_eq!(outcome.verdict, rejected);
}

#[tokio::test]
async fn silent_milter_at_end_of_message_times_out_with_the_content_timeout() {
    let fake = failing_at("eom", || Act::Silence).await;
    let settings = quick(fake.settings("slow", MilterDefault::TempFail), 5_000, 300);
    let (mut chain, _) = MilterChain::connect(&[settings], &info()).await;
    let start = Instant::now();
    let (_, outcome) = one_message(&mut chain).await;
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(outcome.verdict, Verdict::TempFail(MilterReply::tempfail()));
}

#[tokio::test]
async fn progress_keeps_a_slow_milter_alive() {
    let fake = failing_at("eom", || {
        Act::Slow(
            vec![
                Reply::Progress,
                Reply::Progress,
                Reply::Progress,
                Reply::AddHeader {
                    name: b"X-Slow".to_vec(),
                    value: b"yes".to_vec(),
                },
                Reply::Continue,
            ],
            Duration::from_millis(150),
        )
    })
    .await;
    // Five gaps of 150 ms: longer in all than the 600 ms timeout, each well within it.
    let settings = quick(fake.settings("slow", MilterDefault::TempFail), 5_000, 600);
    let (mut chain, _) = MilterChain::connect(&[settings], &info()).await;
    let start = Instant::now();
    let (_, outcome) = one_message(&mut chain).await;
    assert!(start.elapsed() >= Duration::from_millis(750));
    assert_eq!(outcome.verdict, Verdict::Continue);
    assert_eq!(outcome.changes.len(), 1);
}

#[tokio::test]
async fn milter_that_closes_the_socket_gets_its_default() {
    let fake = failing_at("rcpt", || Act::Close).await;
    let settings = fake.settings("closer", MilterDefault::Reject);
    let (mut chain, _) = MilterChain::connect(&[settings], &info()).await;
    let (verdicts, outcome) = one_message(&mut chain).await;
    let rejected = Verdict::Reject(MilterReply::reject());
    assert_eq!(verdicts.get(2..).unwrap(), vec![rejected.clone(); 6]);
    assert_eq!(outcome.verdict, rejected);
}

#[tokio::test]
async fn milter_sending_garbage_gets_its_default_and_accept_skips_it() {
    let broken = failing_at("helo", || Act::Garbage).await;
    let healthy = Fake::continuing().await;
    let (mut chain, verdict) = MilterChain::connect(
        &[
            broken.settings("broken", MilterDefault::Accept),
            healthy.settings("healthy", MilterDefault::TempFail),
        ],
        &info(),
    )
    .await;
    assert_eq!(verdict, Verdict::Continue);
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert!(
        verdicts.iter().all(|v| *v == Verdict::Continue),
        "{verdicts:?}"
    );
    assert_eq!(outcome.verdict, Verdict::Continue);
    assert_eq!(broken.events().len(), 2, "{:?}", broken.events());
    assert!(healthy.events().iter().any(|e| e == "eom"));
}

#[tokio::test]
async fn malformed_replycode_gets_the_default() {
    let fake = Fake::start(ProtocolFlags::empty(), vec![], |event| match event {
        MilterEvent::Mail(_) => reply(Reply::ReplyCode(b"250 2.0.0 I am not a refusal".to_vec())),
        _ => reply(Reply::Continue),
    })
    .await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("odd", MilterDefault::TempFail)], &info()).await;
    assert_eq!(
        chain.mail_from("a@b", &[], &mail_macros()).await,
        Verdict::TempFail(MilterReply::tempfail())
    );
}

#[tokio::test]
async fn modification_before_end_of_message_gets_the_default() {
    let fake = Fake::start(ProtocolFlags::empty(), vec![], |event| match event {
        MilterEvent::Rcpt(_) => Act::Replies(vec![
            Reply::AddHeader {
                name: b"X-Early".to_vec(),
                value: b"1".to_vec(),
            },
            Reply::Continue,
        ]),
        _ => reply(Reply::Continue),
    })
    .await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("early", MilterDefault::Reject)], &info()).await;
    chain.mail_from("a@b", &[], &mail_macros()).await;
    assert_eq!(
        chain.rcpt("c@d", &[], None).await,
        Verdict::Reject(MilterReply::reject())
    );
}

#[tokio::test]
async fn unreachable_milter_gets_its_default_at_connect() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nobody-home.sock");
    let (_, verdict) = MilterChain::connect(
        &[settings("down", &missing, MilterDefault::TempFail)],
        &info(),
    )
    .await;
    assert_eq!(verdict, Verdict::TempFail(MilterReply::tempfail()));

    let (mut chain, verdict) = MilterChain::connect(
        &[settings("down", &missing, MilterDefault::Accept)],
        &info(),
    )
    .await;
    assert_eq!(verdict, Verdict::Accept);
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert!(verdicts.iter().all(|v| *v == Verdict::Accept));
    assert_eq!(outcome.verdict, Verdict::Accept);

    // Over TCP, a closed loopback port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut tcp = settings("down-tcp", &missing, MilterDefault::Reject);
    tcp.socket = ListenAddress::Tcp(port);
    let (_, verdict) = MilterChain::connect(&[tcp], &info()).await;
    assert_eq!(verdict, Verdict::Reject(MilterReply::reject()));
}

#[tokio::test]
async fn milter_that_never_negotiates_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mute.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let settings = quick(settings("mute", &socket, MilterDefault::TempFail), 300, 300);
    let start = Instant::now();
    let (_, verdict) = MilterChain::connect(&[settings], &info()).await;
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(verdict, Verdict::TempFail(MilterReply::tempfail()));
}

#[tokio::test]
async fn milter_over_tcp() {
    // A TCP milter: the fake's UNIX socket, relayed from a loopback port.
    let fake = Fake::continuing().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let socket = fake.socket.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut unix = UnixStream::connect(&socket).await.unwrap();
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            });
        }
    });
    let mut settings = fake.settings("tcp", MilterDefault::Reject);
    settings.socket = ListenAddress::Tcp(address);
    let (mut chain, verdict) = MilterChain::connect(&[settings], &info()).await;
    assert_eq!(verdict, Verdict::Continue);
    let (_, outcome) = one_message(&mut chain).await;
    assert_eq!(outcome.verdict, Verdict::Continue);
}
