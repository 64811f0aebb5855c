//! SORT/THREAD inputs: base subjects (RFC 5256 2.1) and the two thread algorithms.
#![allow(clippy::unwrap_used, clippy::panic)]

use imap_message::{
    MessageView, ThreadIds, ThreadInput, base_subject, base_subject_and_reply,
    thread_ordered_subject, thread_references, thread_references_replies,
};

fn msg(id: u32, date: i64, subject: &str, own: Option<&str>, refs: &[&str]) -> ThreadInput {
    ThreadInput {
        id,
        ids: ThreadIds {
            message_id: own.map(str::to_owned),
            in_reply_to: None,
            references: refs.iter().map(|r| (*r).to_owned()).collect(),
        },
        date,
        base_subject: base_subject(subject),
    }
}

#[test]
fn base_subject_examples() {
    assert_eq!(
        base_subject("Re: Fwd: [list] Hello   there (fwd)"),
        "hello there"
    );
    assert_eq!(base_subject("[Fwd: Re: Meeting]"), "meeting");
    assert_eq!(base_subject("=?UTF-8?Q?Re=3A_Gr=C3=BC=C3=9Fe?="), "grüße");
    assert_eq!(base_subject("[PATCH v2] fix"), "fix");
    assert_eq!(base_subject_and_reply("Plain"), ("plain".to_owned(), false));
    assert_eq!(
        base_subject_and_reply("RE[3]: plain"),
        ("plain".to_owned(), true)
    );
}

/// The shape of the example in RFC 5256 section 4, fed in shuffled order.
#[test]
fn references_rfc5256_example() {
    let all = [
        msg(2, 100, "Other", Some("2@x"), &[]),
        msg(3, 200, "Topic", Some("3@x"), &[]),
        msg(6, 300, "Re: Topic", Some("6@x"), &["3@x"]),
        msg(4, 400, "Re: Topic", Some("4@x"), &["3@x", "6@x"]),
        msg(23, 500, "Re: Topic", Some("23@x"), &["3@x", "6@x", "4@x"]),
        msg(44, 600, "Re: Topic", Some("44@x"), &["3@x", "6@x"]),
        msg(7, 700, "Re: Topic", Some("7@x"), &["3@x", "6@x", "44@x"]),
        msg(
            96,
            800,
            "Re: Topic",
            Some("96@x"),
            &["3@x", "6@x", "44@x", "7@x"],
        ),
    ];
    let order = [7, 0, 5, 1, 4, 6, 2, 3];
    let shuffled: Vec<ThreadInput> = order.iter().map(|&i| all[i].clone()).collect();
    assert_eq!(thread_references(&shuffled), "(2)(3 6 (4 23)(44 7 96))");
    assert_eq!(thread_references(&all), "(2)(3 6 (4 23)(44 7 96))");
}

#[test]
fn references_dummies() {
    // two replies to a message we do not have: a dummy root keeps them together
    let m = [
        msg(10, 100, "Re: gone", Some("10@x"), &["missing@x"]),
        msg(11, 200, "Re: gone", Some("11@x"), &["missing@x"]),
        // one reply to a missing message is promoted to the root
        msg(
            12,
            50,
            "Re: lonely",
            Some("12@x"),
            &["lost@x", "also-lost@x"],
        ),
    ];
    assert_eq!(thread_references(&m), "(12)((10)(11))");
}

#[test]
fn references_merge_by_subject() {
    let m = [
        msg(1, 100, "hello", Some("1@x"), &[]),
        msg(2, 200, "Re: hello", Some("2@x"), &[]),
        msg(3, 300, "other", Some("3@x"), &[]),
        msg(4, 400, "other", Some("4@x"), &[]),
    ];
    // a reply below the original; two non-replies under a dummy
    assert_eq!(
        thread_references_replies(&m, &[false, true, false, false]),
        "(1 2)((3)(4))"
    );
    assert_eq!(thread_references(&m), "((1)(2))((3)(4))");
}

#[test]
fn references_survive_loops_and_duplicates() {
    let looped = [
        msg(1, 100, "a", Some("a@x"), &["b@x"]),
        msg(2, 200, "b", Some("b@x"), &["a@x"]),
    ];
    let out = thread_references(&looped);
    assert!(out == "(2 1)" || out == "(1 2)", "{out}");
    let dup = [
        msg(1, 100, "a", Some("dup@x"), &[]),
        msg(2, 200, "b", Some("dup@x"), &[]),
        msg(3, 300, "c", Some("c@x"), &["dup@x"]),
    ];
    assert_eq!(thread_references(&dup), "(1 3)(2)");
    let self_ref = [msg(1, 100, "a", Some("s@x"), &["s@x"])];
    assert_eq!(thread_references(&self_ref), "(1)");
    assert_eq!(thread_references(&[]), "");
}

#[test]
fn references_deep_chain_is_not_recursive() {
    let n = 20_000u32;
    let chain: Vec<ThreadInput> = (1..=n)
        .map(|i| {
            let prev = format!("{}@x", i - 1);
            let own = format!("{i}@x");
            let refs: Vec<&str> = if i > 1 { vec![prev.as_str()] } else { vec![] };
            msg(i, i64::from(i), "chain", Some(&own), &refs)
        })
        .collect();
    let out = thread_references(&chain);
    let expected: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    assert_eq!(out, format!("({})", expected.join(" ")));
}

#[test]
fn ordered_subject() {
    let m = [
        msg(1, 300, "b", None, &[]),
        msg(2, 100, "a", None, &[]),
        msg(3, 200, "Re: a", None, &[]),
        msg(4, 50, "B", None, &[]),
        msg(5, 150, "a", None, &[]),
        msg(6, 10, "c", None, &[]),
    ];
    assert_eq!(thread_ordered_subject(&m), "(6)(4 1)(2 (5)(3))");
    assert_eq!(thread_ordered_subject(&[]), "");
}

#[test]
fn threads_from_parsed_fixtures() {
    let load = |name: &str| {
        let lf = std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        String::from_utf8(lf).unwrap().replace('\n', "\r\n")
    };
    let files = ["plain.eml", "forwarded.eml", "mixed-alternative.eml"];
    let raws: Vec<String> = files.iter().map(|f| load(f)).collect();
    let mut inputs = Vec::new();
    let mut replies = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let view = MessageView::parse(raw.as_bytes());
        let sort = view.sort_fields();
        replies.push(sort.subject_is_reply);
        inputs.push(ThreadInput {
            id: u32::try_from(i).unwrap() + 1,
            ids: view.thread_ids(),
            date: sort.sent_date.unwrap(),
            base_subject: sort.base_subject,
        });
    }
    assert_eq!(thread_references_replies(&inputs, &replies), "(1 2)(3)");
    assert_eq!(thread_ordered_subject(&inputs), "(1 2)(3)");
}
