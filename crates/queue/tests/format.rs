//! The envelope file format: byte-exact against a checked-in example, round trips of hostile
//! values, and strict refusal of anything it does not define.

use queue::format::{self, FORMAT_VERSION};
use queue::{
    Body, Envelope, MailParams, Notify, Origin, OriginalRecipient, Recipient, RecipientState, Ret,
    Timestamp,
};

mod common;
use common::TestResult;

const EXAMPLE: &str = include_str!("../testdata/envelope-v1.toml");

fn example() -> Result<Envelope, Box<dyn std::error::Error>> {
    let t = |s: u64| Timestamp::from_unix(common::ARRIVAL + s);
    Ok(Envelope {
        id: "69C3B2200000A001".parse()?,
        arrival: t(0),
        sender: "alice@example.net".into(),
        params: MailParams {
            size: Some(1234),
            body: Some(Body::EightBitMime),
            smtputf8: false,
            ret: Some(Ret::Headers),
            envid: Some("QQ314159".into()),
        },
        origin: Origin {
            client_address: Some("192.0.2.7".into()),
            client_name: Some("mail.example.net".into()),
            helo: Some("mail.example.net".into()),
            auth_user: Some("alice".into()),
            listener: "submission".into(),
            protocol: "ESMTPSA".into(),
            tls: true,
        },
        held: false,
        recipients: vec![
            Recipient {
                address: "bob@example.org".into(),
                orcpt: Some(OriginalRecipient {
                    addr_type: "rfc822".into(),
                    address: "Bob@example.org".into(),
                }),
                notify: Some(Notify {
                    failure: true,
                    delay: true,
                    ..Notify::default()
                }),
                state: RecipientState::Pending {
                    attempts: 2,
                    next_attempt: t(900),
                    last_reply: Some("451 4.7.1 Try again later (in reply to RCPT TO)".into()),
                },
                bounce_sent: false,
                delay_sent: false,
            },
            Recipient {
                address: "\"carol smith\"@example.org".into(),
                orcpt: None,
                notify: None,
                state: RecipientState::Delivered {
                    at: t(2),
                    reply: "250 2.0.0 Ok: queued as 4ABC".into(),
                },
                bounce_sent: false,
                delay_sent: false,
            },
            Recipient {
                address: "dave@example.com".into(),
                orcpt: None,
                notify: Some(Notify {
                    never: true,
                    ..Notify::default()
                }),
                state: RecipientState::Failed {
                    at: t(3),
                    reply: "550 5.1.1 <dave@example.com>: User unknown (in reply to RCPT TO)"
                        .into(),
                    expired: false,
                },
                bounce_sent: true,
                delay_sent: false,
            },
        ],
    })
}

#[test]
fn writes_exactly_the_documented_example() -> TestResult {
    let env = example()?;
    let text = format::to_text(&env)?;
    assert_eq!(text, EXAMPLE);
    assert_eq!(format::parse(EXAMPLE)?, env);
    Ok(())
}

#[test]
fn hostile_values_round_trip() -> TestResult {
    let hostile = [
        "\"john doe\"@example.org",
        "\"\\\"quoted\\\" \\\\ back\"@example.org",
        "jörg@bücher.example",
        "用户@例子.广告",
        "a'b\"c]]d[[e@example.org",
        "line\r\nbreak@example.org",
        "tab\there@example.org",
        "nul\u{0}byte@example.org",
        "del\u{7f}@example.org",
        "emoji\u{1F4E7}@example.org",
        "x = 1\n[[recipient]]\naddress = \"injected\"",
        "'''@example.org",
        "\"\"\"@example.org",
        "\u{feff}bom@example.org",
        "trailing-backslash\\",
    ];
    let base = example()?;
    for (i, addr) in hostile.iter().enumerate() {
        let mut env = base.clone();
        env.sender = (*addr).into();
        env.params.envid = Some((*addr).into());
        env.origin.helo = Some((*addr).into());
        env.origin.auth_user = Some((*addr).into());
        if let Some(r) = env.recipients.get_mut(i % 3) {
            r.address = (*addr).into();
            r.orcpt = Some(OriginalRecipient {
                addr_type: "utf-8".into(),
                address: (*addr).into(),
            });
        }
        if let Some(RecipientState::Pending { last_reply, .. }) =
            env.recipients.get_mut(0).map(|r| &mut r.state)
        {
            *last_reply = Some(format!("451 4.0.0 {addr}"));
        }
        let text = format::to_text(&env)?;
        assert_eq!(format::parse(&text)?, env, "{addr:?} in\n{text}");
        // One line per key: no value leaks a raw line break into the file.
        assert!(
            text.lines()
                .all(|l| l.is_empty() || l.starts_with('[') || l.contains(" = "))
        );
    }
    let mut env = base;
    env.sender = String::new();
    assert_eq!(format::parse(&format::to_text(&env)?)?.sender, "");
    Ok(())
}

/// The error parsing `text` gives, or what it wrongly accepted.
fn parse_err(text: &str) -> Result<String, String> {
    match format::parse(text) {
        Ok(env) => Err(format!("accepted {env:?} from\n{text}")),
        Err(e) => Ok(e.to_string()),
    }
}

#[test]
fn refuses_what_it_does_not_define() -> Result<(), String> {
    let edit = |from: &str, to: &str| {
        assert!(EXAMPLE.contains(from), "{from}");
        EXAMPLE.replacen(from, to, 1)
    };
    let cases = [
        (
            edit("version = 1", "version = 2"),
            "unsupported envelope version 2",
        ),
        (
            edit("version = 1", "version = \"1\""),
            "unsupported envelope version",
        ),
        (edit("version = 1\n", ""), "no version"),
        (
            edit("held = false", "held = false\nextra = 1"),
            "unknown field",
        ),
        (edit("held = false\n", ""), "held"),
        (edit("id = \"69C3B2200000A001\"", "id = \"x\""), "id"),
        (
            edit(
                "arrival = 2026-03-25T10:00:00Z",
                "arrival = 2026-03-25T10:00:00",
            ),
            "arrival",
        ),
        (
            edit("arrival = 2026-03-25T10:00:00Z", "arrival = \"yesterday\""),
            "arrival",
        ),
        (
            edit("body = \"8BITMIME\"", "body = \"8bitmime\""),
            "params.body",
        ),
        (edit("ret = \"HDRS\"", "ret = \"ALL\""), "params.ret"),
        (edit("size = 1234", "size = -1"), "params.size"),
        (
            edit("state = \"pending\"", "state = \"done\""),
            "unknown state",
        ),
        (edit("attempts = 2\n", ""), "attempts missing"),
        (edit("attempts = 2", "attempts = -2"), "attempts"),
        (
            edit("attempts = 2", "attempts = 2\nat = 2026-03-25T10:00:00Z"),
            "pending",
        ),
        (
            edit("state = \"delivered\"", "state = \"failed\""),
            "expired missing",
        ),
        (
            edit("expired = false\n", "expired = false\nattempts = 1\n"),
            "no attempts",
        ),
        (
            edit("notify = \"FAILURE,DELAY\"", "notify = \"NEVER,DELAY\""),
            "NOTIFY",
        ),
        (
            edit("notify = \"FAILURE,DELAY\"", "notify = \"FAILURE,FAILURE\""),
            "repeats",
        ),
        (
            edit("notify = \"FAILURE,DELAY\"", "notify = \"\""),
            "notify",
        ),
        (
            edit(
                "orcpt = \"rfc822;Bob@example.org\"",
                "orcpt = \"Bob@example.org\"",
            ),
            "orcpt",
        ),
        (
            edit("address = \"bob@example.org\"", "address = \"\""),
            "empty recipient",
        ),
        (
            "version = 1\n[[recipient]\n".to_string(),
            "not a TOML envelope",
        ),
        ("".to_string(), "no version"),
    ];
    for (text, want) in cases {
        let err = parse_err(&text)?;
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
    let no_recipients: String = EXAMPLE
        .split("[[recipient]]")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(parse_err(&no_recipients)?.contains("recipient"));
    assert_eq!(FORMAT_VERSION, 1);
    Ok(())
}

#[test]
fn refuses_to_write_what_it_could_not_read() -> TestResult {
    let mut env = example()?;
    env.recipients.clear();
    assert!(format::to_text(&env).is_err());
    let mut env = example()?;
    env.params.size = Some(u64::MAX);
    assert!(format::to_text(&env).is_err());
    let mut env = example()?;
    if let Some(r) = env.recipients.get_mut(0) {
        r.notify = Some(Notify::default());
    }
    assert!(format::to_text(&env).is_err(), "NOTIFY with nothing in it");
    Ok(())
}
