#!/usr/bin/env python3
"""postern-mda and a stock Dovecot serving one Maildir at the same time (a migration in
either direction): same UIDs, UIDVALIDITY and content for mail either one delivered, and
flags and keywords set through one are seen by the other. Run by tests/tests/imap_dovecot.rs:

    dovecot_compat.py POSTERN_PORT DOVECOT_PORT USER PASSWORD POSTERN_LMTP DOVECOT_LMTP
"""
import imaplib
import re
import smtplib
import sys
import time

POSTERN, DOVECOT, USER, PASSWORD, POSTERN_LMTP, DOVECOT_LMTP = sys.argv[1:7]


def deliver(socket_path, subject, body):
    msg = (f"From: alice@example.org\r\nTo: {USER}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject.replace(' ', '-')}@example.org>\r\n\r\n{body}").encode()
    with smtplib.LMTP(socket_path) as lmtp:
        lmtp.sendmail("alice@example.org", [USER], msg)


def login(port):
    m = imaplib.IMAP4("127.0.0.1", int(port))
    typ, data = m.login(USER, PASSWORD)
    assert typ == "OK", data
    return m


def mailbox(m, name="INBOX"):
    """{uid: (flags, size, body)} and the UIDVALIDITY, as this server shows the folder."""
    typ, data = m.select(name)
    assert typ == "OK", data
    validity = int(m.untagged_responses["UIDVALIDITY"][-1])
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        uid = int(re.search(rb"UID (\d+)", head).group(1))
        size = int(re.search(rb"RFC822.SIZE (\d+)", head).group(1))
        flags = set(re.search(rb"FLAGS \(([^)]*)\)", head).group(1).split())
        out[uid] = (flags, size, body)
    # FLAGS may come after the literal in some servers' ordering.
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
    for line in data:
        if isinstance(line, bytes) and b"UID" in line:
            uid = int(re.search(rb"UID (\d+)", line).group(1))
            flags = set(re.search(rb"FLAGS \(([^)]*)\)", line).group(1).split())
            if uid in out:
                out[uid] = (flags, out[uid][1], out[uid][2])
    return validity, out


def same(what):
    # postern-mda rescans a folder for changes made by another process at most once a
    # second (changes made through postern-mda itself are seen at once).
    time.sleep(1.1)
    pv, p = mailbox(postern)
    dv, d = mailbox(dovecot)
    assert pv == dv, f"{what}: UIDVALIDITY {pv} vs {dv}"
    assert sorted(p) == sorted(d), f"{what}: UIDs {sorted(p)} vs {sorted(d)}"
    for uid in p:
        assert p[uid][1:] == d[uid][1:], f"{what}: uid {uid} content differs"
        assert p[uid][0] - {b"\\Recent"} == d[uid][0] - {b"\\Recent"}, \
            f"{what}: uid {uid} flags {p[uid][0]} vs {d[uid][0]}"
    print(f"-- {what}: {len(p)} messages, same UIDs, content and flags", flush=True)
    return p


deliver(DOVECOT_LMTP, "from dovecot one", "first body\r\n")
deliver(DOVECOT_LMTP, "from dovecot two", "second body\r\n")
dovecot = login(DOVECOT)
postern = login(POSTERN)
msgs = same("mail Dovecot's LMTP delivered")
uids = sorted(msgs)

typ, _ = postern.uid("STORE", str(uids[0]), "+FLAGS", "(\\Flagged $Label1 Junk)")
assert typ == "OK"
typ, _ = postern.uid("STORE", str(uids[1]), "+FLAGS", "(\\Seen \\Answered)")
assert typ == "OK"
msgs = same("flags and keywords set through postern-mda")
assert {b"\\Flagged", b"$Label1", b"Junk"} <= msgs[uids[0]][0], msgs[uids[0]][0]

typ, _ = dovecot.uid("STORE", str(uids[0]), "+FLAGS", "($FromDovecot \\Draft)")
assert typ == "OK"
typ, _ = dovecot.uid("STORE", str(uids[1]), "-FLAGS", "(\\Seen)")
assert typ == "OK"
msgs = same("flags and keywords set through Dovecot")
assert b"$FromDovecot" in msgs[uids[0]][0] and b"\\Seen" not in msgs[uids[1]][0], msgs

deliver(POSTERN_LMTP, "from postern", "third body\r\n")
typ, data = postern.append("INBOX", "(\\Seen $Appended)", None,
                           b"Subject: appended to postern\r\n\r\nbody\r\n")
assert typ == "OK", data
typ, data = dovecot.append("INBOX", "(\\Flagged)", None,
                           b"Subject: appended to dovecot\r\n\r\nbody\r\n")
assert typ == "OK", data
msgs = same("mail postern-mda's LMTP delivered and both APPENDs")
assert len(msgs) == 5

typ, _ = dovecot.uid("STORE", str(uids[0]), "+FLAGS", "(\\Deleted)")
dovecot.expunge()
typ, data = postern.uid("STORE", str(uids[1]), "+FLAGS", "(\\Deleted)")
postern.expunge()
msgs = same("expunges on either side")
assert len(msgs) == 3 and uids[0] not in msgs and uids[1] not in msgs

typ, _ = postern.create("Shared")
assert typ == "OK"
typ, data = postern.uid("COPY", str(max(msgs)), "Shared")
assert typ == "OK", data
typ, data = dovecot.select("Shared")
assert typ == "OK" and int(data[0]) == 1, data
for m in (postern, dovecot):
    m.logout()
print("dovecot compat OK", flush=True)
