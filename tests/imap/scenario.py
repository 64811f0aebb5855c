#!/usr/bin/env python3
"""IMAP scenario against postern-mda with two real client libraries: Python's imaplib and
imapclient. Run by tests/tests/imap_clients.rs:

    scenario.py HOST PORT TLS_PORT USER PASSWORD LMTP_SOCKET

Every step asserts; the first failure exits non-zero with a traceback.
"""
import email
import imaplib
import re
import smtplib
import socket
import ssl
import sys
import threading
import time

import imapclient

HOST, PORT, TLS_PORT, USER, PASSWORD, LMTP = sys.argv[1:7]
PORT, TLS_PORT = int(PORT), int(TLS_PORT)
STEPS = []


def step(name):
    STEPS.append(name)
    print(f"-- {name}", flush=True)


def ok(result, what=""):
    typ, data = result
    assert typ == "OK", f"{what}: {typ} {data}"
    return data


def message(subject, body="hello\r\n", extra=""):
    return (
        f"From: Alice <alice@example.org>\r\nTo: Bob <{USER}>\r\nSubject: {subject}\r\n"
        f"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}@example.org>\r\n"
        f"{extra}\r\n{body}"
    ).encode()


def lmtp_deliver(subject):
    with smtplib.LMTP(LMTP) as lmtp:
        lmtp.sendmail("alice@example.org", [USER], message(subject))


def flat(data):
    """imaplib's list of lines, with literals (tuples) joined in."""
    return b" ".join(b"".join(x) if isinstance(x, tuple) else (x or b"") for x in data)


def untagged(conn, name):
    return conn.untagged_responses.get(name, [])


def unverified():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---------------------------------------------------------------- imaplib
step("greeting and capabilities")
m = imaplib.IMAP4(HOST, PORT)
caps = set(m.capabilities)
for cap in ["IMAP4REV1", "IMAP4REV2", "STARTTLS", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE"]:
    assert cap in caps, (cap, caps)

step("STARTTLS, then AUTHENTICATE PLAIN")
m.starttls(ssl_context=unverified())
m.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
caps = set(ok(m.capability())[0].decode().upper().split())
for cap in ["UIDPLUS", "MOVE", "CONDSTORE", "QRESYNC", "ESEARCH", "SORT", "THREAD=REFERENCES",
            "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "UNSELECT",
            "NAMESPACE", "MULTIAPPEND", "BINARY", "UTF8=ACCEPT"]:
    assert cap in caps, (cap, caps)
assert any(c.startswith("APPENDLIMIT=") for c in caps), caps
m.logout()

step("implicit TLS, LOGIN, ID, NAMESPACE, NOOP, CHECK")
m = imaplib.IMAP4_SSL(HOST, TLS_PORT, ssl_context=unverified())
ok(m.login(USER, PASSWORD))
typ, data = m._simple_command("ID", '("name" "scenario" "version" "1")')
assert typ == "OK"
assert b"Postern" in m.untagged_responses["ID"][0], m.untagged_responses
ns = ok(m.namespace())[0]
assert b'(("" ".")) NIL NIL' == ns, ns
ok(m.noop())

step("LIST, CREATE with a child, SUBSCRIBE, LSUB")
folders = ok(m.list())
assert any(b'"INBOX"' in f or f.endswith(b" INBOX") for f in folders), folders
ok(m.create("Projects"))
ok(m.create("Projects.2026"))
ok(m.subscribe("Projects"))
ok(m.subscribe("Projects.2026"))
lsub = ok(m.lsub('""', "Projects*"))
assert len(lsub) == 2, lsub
ok(m.subscribe("INBOX"))
ok(m.unsubscribe("INBOX"))
assert all(b"INBOX" not in x for x in ok(m.lsub('""', "*")) if x)
listed = ok(m.list('""', "Projects*"))
assert any(b"\\HasChildren" in f and f.endswith(b"Projects") for f in listed), listed
typ, _ = m.create("Projects")
assert typ == "NO"

step("RENAME a folder with children")
ok(m.rename("Projects", "Work"))
listed = flat(ok(m.list('""', "*")))
assert b"Work.2026" in listed and b"Projects" not in listed, listed
lsub = b" ".join(x for x in ok(m.lsub('""', "*")) if x)
assert b"Work.2026" in lsub, lsub

step("non-ASCII folder name in modified UTF-7")
ok(m.create('"Entw&APw-rfe"'))
listed = flat(ok(m.list('""', "*")))
assert b"Entw&APw-rfe" in listed, listed

step("CREATE-SPECIAL-USE and LIST RETURN (SPECIAL-USE STATUS)")
typ, data = m._simple_command("CREATE", '"Old Mail" (USE (\\Archive))')
assert typ == "OK", data
typ, data = m._simple_command("LIST", '"" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))')
assert typ == "OK", data
lines = untagged(m, "LIST")
assert any(b"\\Archive" in l and b"Old Mail" in l for l in lines), lines
assert len(untagged(m, "STATUS")) >= 3, untagged(m, "STATUS")
m.untagged_responses.clear()

step("APPEND with flags and date, MULTIAPPEND-free")
typ, data = m.append("INBOX", "(\\Seen $Important)", imaplib.Time2Internaldate(time.time() - 86400),
                     message("first message", "The quick brown fox.\r\n"))
assert typ == "OK" and b"APPENDUID" in data[0], data
m.append("INBOX", None, None, message("second message", "Grüße aus Köln\r\n",
         "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"))
m.append("INBOX", "(\\Flagged)", None, message(
    "=?utf-8?q?caf=C3=A9_menu?=", "--b\r\nContent-Type: text/plain\r\n\r\npart one\r\n--b\r\n"
    "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=\"a.bin\"\r\n\r\nAAECAwQ=\r\n--b--\r\n",
    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\nIn-Reply-To: <first.message@example.org>\r\n"))

step("APPEND of a 10 MB literal and partial FETCH of it")
line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz\r\n"
big = message("big one", "") + line * (10 * 1024 * 1024 // len(line))
typ, data = m.append("INBOX", None, None, big)
assert typ == "OK", data

step("SELECT and FETCH of every item")
data = ok(m.select("INBOX"))
assert int(data[0]) == 4, data
assert untagged(m, "UIDVALIDITY"), m.untagged_responses
typ, data = m.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY)")
assert typ == "OK" and len(data) == 4, data
assert b"\\Seen" in data[0] and b"$Important" in data[0], data[0]
assert b'"first message"' in data[0], data[0]
assert b"RFC822.SIZE" in data[3]
size = int(re.search(rb"RFC822.SIZE (\d+)", data[3]).group(1))
assert size == len(big), (size, len(big))
typ, data = m.fetch("4", "(BODY.PEEK[]<0.100>)")
assert data[0][1] == big[:100], data[0][1]
typ, data = m.fetch("4", f"(BODY.PEEK[]<{len(big) - 50}.100>)")
assert data[0][1] == big[-50:], data[0][1]
typ, data = m.fetch("4", "(BODY.PEEK[])")
assert data[0][1] == big, "whole 10 MB body differs"
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
assert data[0][1] == b"From: Alice <alice@example.org>\r\nSubject: first message\r\n\r\n", data
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM)] BODY.PEEK[TEXT])")
assert b"Subject" not in data[0][1] and data[1][1] == b"The quick brown fox.\r\n", data
typ, data = m.fetch("3", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[2] BINARY.SIZE[2])")
joined = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
assert b"part one" in joined and b"\x00\x01\x02\x03\x04" in joined and b"BINARY.SIZE[2] 5" in joined, data
typ, data = m.fetch("2", "(RFC822.HEADER)")
assert b"Subject: second message" in data[0][1]
typ, data = m.fetch("2", "(FLAGS)")
assert b"\\Seen" not in data[0]
typ, data = m.fetch("2", "(BODY[TEXT])")  # sets \Seen
typ, data = m.fetch("2", "(FLAGS)")
assert b"\\Seen" in data[0], data

step("SEARCH keys")
assert ok(m.search(None, "ALL"))[0] == b"1 2 3 4"
assert ok(m.search(None, "SEEN"))[0] == b"1 2"
assert ok(m.search(None, "FLAGGED"))[0] == b"3"
assert ok(m.search(None, "KEYWORD", "$Important"))[0] == b"1"
assert ok(m.search(None, "TEXT", "fox"))[0] == b"1"
assert ok(m.search(None, "BODY", "FOX"))[0] == b"1"
assert ok(m.search(None, "SUBJECT", "message"))[0] == b"1 2"
assert ok(m.search(None, "HEADER", "In-Reply-To", "first.message"))[0] == b"3"
assert ok(m.search(None, "LARGER", "1000000"))[0] == b"4"
assert ok(m.search(None, "OR", "FLAGGED", "KEYWORD", "$Important"))[0] == b"1 3"
assert ok(m.search(None, "NOT", "SEEN"))[0] == b"3 4"
assert ok(m.search(None, "SENTON", "1-Dec-2026"))[0] == b"1 2 3 4"
assert ok(m.search(None, "2:3", "UNSEEN"))[0] == b"3"
uids = ok(m.uid("SEARCH", None, "ALL"))[0].split()
assert len(uids) == 4
m.literal = "Köln".encode()
assert ok(m.search("UTF-8", "BODY"))[0] == b"2"
m.literal = "café".encode()
assert ok(m.search("UTF-8", "SUBJECT"))[0] == b"3"
typ, data = m.search("ISO-8859-99", "ALL")
assert typ == "NO"
typ, data = m._simple_command("SEARCH", "RETURN (MIN MAX COUNT ALL) ALL")
assert typ == "OK"
es = untagged(m, "ESEARCH")[-1]
assert b"MIN 1" in es and b"MAX 4" in es and b"COUNT 4" in es and b"ALL 1:4" in es, es

step("SORT and THREAD")
typ, data = m.sort("(REVERSE SIZE)", "UTF-8", "ALL")
assert data[0].split()[0] == b"4", data
typ, data = m.sort("(SUBJECT)", "UTF-8", "ALL")
assert typ == "OK" and len(data[0].split()) == 4, data
typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
assert typ == "OK" and b"(1 3)" in data[0], data

step("STORE flags and keywords")
typ, data = m.store("2", "+FLAGS", "(\\Answered $Label1)")
assert b"\\Answered" in data[0] and b"$Label1" in data[0], data
typ, data = m.store("2", "-FLAGS", "($Label1)")
assert b"$Label1" not in data[0], data
typ, data = m.store("1:2", "FLAGS.SILENT", "(\\Seen)")
assert typ == "OK" and data == [None], data

step("STATUS")
typ, data = m.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ SIZE RECENT)")
assert typ == "OK" and b"MESSAGES 4" in data[0] and b"UNSEEN 2" in data[0], data

step("COPY, MOVE and UID forms")
typ, data = m.copy("1", "Work")
assert typ == "OK" and b"COPYUID" in data[0], data
typ, data = m._simple_command("MOVE", "3", "Work")
assert typ == "OK", data
assert untagged(m, "EXPUNGE") or True
typ, data = m.uid("COPY", uids[0].decode(), "Work.2026")
assert typ == "OK", data
typ, data = m.uid("MOVE", uids[0].decode(), "Work.2026")
assert typ == "OK", data
data = ok(m.select("INBOX"))
assert int(data[0]) == 2, data

step("EXPUNGE and UID EXPUNGE")
ok(m.store("1", "+FLAGS", "(\\Deleted)"))
typ, data = m.expunge()
assert typ == "OK" and data == [b"1"], data
ok(m.append("INBOX", "(\\Deleted)", None, message("doomed")))
ok(m.append("INBOX", "(\\Deleted)", None, message("doomed too")))
ok(m.select("INBOX"))
uids = ok(m.uid("SEARCH", None, "DELETED"))[0].split()
assert len(uids) == 2
typ, data = m.uid("EXPUNGE", uids[0].decode())
assert typ == "OK"
assert ok(m.uid("SEARCH", None, "DELETED"))[0].split() == [uids[1]]

step("CHECK")
ok(m.select("INBOX"))
ok(m.check())

step("EXAMINE is read-only, UNSELECT, CLOSE")
ok(m.select("Work", readonly=True))
typ, data = m.store("1", "+FLAGS", "(\\Seen)")
assert typ == "NO", data
typ, data = m._simple_command("UNSELECT")
assert typ == "OK"
ok(m.select("INBOX"))
ok(m.close())

step("DELETE")
ok(m.create("Scratch"))
ok(m.delete("Scratch"))
typ, _ = m.select("Scratch")
assert typ == "NO"
typ, _ = m.delete("INBOX")
assert typ == "NO"
m.logout()

# ---------------------------------------------------------------- CONDSTORE / QRESYNC
step("CONDSTORE: CHANGEDSINCE and UNCHANGEDSINCE")
m = imaplib.IMAP4(HOST, PORT)
m.login(USER, PASSWORD)
typ, data = m._simple_command("SELECT", "INBOX (CONDSTORE)")
assert typ == "OK"
m.state = "SELECTED"  # imaplib only tracks its own select()
highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(untagged(m, "OK"))).group(1))
ok(m.store("1", "+FLAGS", "(\\Flagged)"))
typ, data = m.fetch("1:*", "(FLAGS) (CHANGEDSINCE %d)" % highest)
assert typ == "OK" and len([d for d in data if d]) == 1 and b"MODSEQ" in data[0], data
typ, data = m.store("1", "+FLAGS", "(\\Answered)")  # bump modseq
typ, data = m._simple_command("STORE", "1 (UNCHANGEDSINCE %d) +FLAGS (\\Draft)" % highest)
assert typ == "OK" and b"MODIFIED" in data[0], data
m.logout()

step("QRESYNC: resync after changes made while disconnected")
lmtp_deliver("resync one")
lmtp_deliver("resync two")
m = imaplib.IMAP4(HOST, PORT)
m.login(USER, PASSWORD)
ok(m._simple_command("ENABLE", "QRESYNC"))
ok(m.select("INBOX"))
oks = b" ".join(untagged(m, "OK"))
validity = int(re.search(rb"UIDVALIDITY (\d+)", oks).group(1))
highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", oks).group(1))
known_uids = ok(m.uid("SEARCH", None, "ALL"))[0].split()
m.logout()
other = imaplib.IMAP4(HOST, PORT)
other.login(USER, PASSWORD)
ok(other.select("INBOX"))
ok(other.uid("STORE", known_uids[0].decode(), "+FLAGS", "(\\Seen $Resync)"))
ok(other.uid("STORE", known_uids[1].decode(), "+FLAGS", "(\\Deleted)"))
ok(other.expunge())
other.logout()
m = imaplib.IMAP4(HOST, PORT)
m.login(USER, PASSWORD)
ok(m._simple_command("ENABLE", "QRESYNC"))
uid_range = f"{known_uids[0].decode()}:{known_uids[-1].decode()}"
typ, data = m._simple_command("SELECT", f"INBOX (QRESYNC ({validity} {highest} {uid_range}))")
assert typ == "OK", data
m.state = "SELECTED"
vanished = untagged(m, "VANISHED")
assert vanished and known_uids[1] in vanished[0], (vanished, m.untagged_responses)
fetched = b" ".join(x for x in untagged(m, "FETCH") if isinstance(x, bytes))
assert b"$Resync" in fetched and b"MODSEQ" in fetched, m.untagged_responses
m.logout()

# ---------------------------------------------------------------- imapclient
step("imapclient: login, folders, special-use, status")
c = imapclient.IMAPClient(HOST, port=TLS_PORT, ssl=True, ssl_context=unverified())
c.login(USER, PASSWORD)
assert c.has_capability("IDLE") and c.has_capability("MOVE")
names = [f[2] for f in c.list_folders()]
assert "Entwürfe" in names and "Work.2026" in names, names
assert c.find_special_folder(imapclient.imapclient.ARCHIVE) == "Old Mail"
status = c.folder_status("INBOX", ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"])
assert status[b"MESSAGES"] >= 1, status
c.create_folder("Client Made")
c.rename_folder("Client Made", "Client Renamed")
assert c.folder_exists("Client Renamed") and not c.folder_exists("Client Made")
c.delete_folder("Client Renamed")
c.id_({"name": "imapclient"})
assert c.namespace().personal[0][1] == "."

c.logout()

step("UTF-8 mailbox names after ENABLE UTF8=ACCEPT (imaplib), modified UTF-7 without (imapclient)")
m = imaplib.IMAP4(HOST, PORT)
m.login(USER, PASSWORD)
typ, data = m.enable("UTF8=ACCEPT")
assert typ == "OK", data
ok(m.create('"Čtení"'))
listed = flat(ok(m.list('""', "*")))
assert "Čtení".encode() in listed and b"Entw\xc3\xbcrfe" in listed, listed
m.logout()
c = imapclient.IMAPClient(HOST, port=TLS_PORT, ssl=True, ssl_context=unverified())
c.login(USER, PASSWORD)
assert "Čtení" in [f[2] for f in c.list_folders()]
c.logout()

step("ENABLE IMAP4rev2: UTF-8 names, ESEARCH answers, no \\Recent")
m = imaplib.IMAP4(HOST, PORT)
m.login(USER, PASSWORD)
typ, data = m._simple_command("ENABLE", "IMAP4rev2")
assert typ == "OK" and b"IMAP4REV2" in b" ".join(untagged(m, "ENABLED")).upper(), m.untagged_responses
m._mode_utf8()  # imaplib's own switch to UTF-8 commands, as enable("UTF8=ACCEPT") does
ok(m.create('"Přílohy"'))
listed = flat(ok(m.list('""', "*")))
assert "Přílohy".encode() in listed, listed
data = ok(m.select("INBOX"))
assert not untagged(m, "RECENT"), m.untagged_responses
typ, data = m._simple_command("SEARCH", "ALL")
assert typ == "OK" and untagged(m, "ESEARCH"), m.untagged_responses
m.logout()

step("imapclient: fetch parses ENVELOPE and BODYSTRUCTURE, append, flags, search, sort")
c = imapclient.IMAPClient(HOST, port=PORT, ssl=False)
c.login(USER, PASSWORD)
c.select_folder("Work")
msgs = c.search(["ALL"])
assert msgs, msgs
data = c.fetch(msgs, ["ENVELOPE", "BODYSTRUCTURE", "FLAGS", "RFC822.SIZE", "INTERNALDATE"])
for uid, d in data.items():
    env = d[b"ENVELOPE"]
    assert env.from_[0].mailbox == b"alice" and env.from_[0].host == b"example.org", env
    assert d[b"BODYSTRUCTURE"] is not None
multipart = [d for d in data.values() if d[b"BODYSTRUCTURE"].is_multipart]
assert multipart, "the multipart message should be in Work"
c.add_flags(msgs, [b"$Checked"])
assert all(b"$Checked" in f for f in c.get_flags(msgs).values())
c.remove_flags(msgs, [b"$Checked"])
uid = c.append("Work", message("from imapclient"), flags=[b"\\Draft"])
assert b"APPENDUID" in uid or uid, uid
c.select_folder("Work")
assert c.search(["DRAFT"]), "appended draft"
assert c.sort(["ARRIVAL"]) and c.thread()
c.copy(c.search(["DRAFT"]), "Work.2026")
c.move(c.search(["DRAFT"]), "Work.2026")
assert not c.search(["DRAFT"])
c.unselect_folder()
c.logout()

# ---------------------------------------------------------------- IDLE with two sessions
step("IDLE sees another session's MOVE and an LMTP delivery within a second")
watcher = imapclient.IMAPClient(HOST, port=PORT, ssl=False)
watcher.login(USER, PASSWORD)
watcher.select_folder("INBOX")
lmtp_deliver("idle target")
mover = imaplib.IMAP4(HOST, PORT)
mover.login(USER, PASSWORD)
ok(mover.select("INBOX"))
count = int(ok(mover.select("INBOX"))[0])
watcher.noop()
watcher.idle()
ok(mover._simple_command("MOVE", str(count), "Work"))
start = time.monotonic()
seen = []
while time.monotonic() - start < 5 and not any(r[1] == b"EXPUNGE" for r in seen if len(r) > 1):
    seen += watcher.idle_check(timeout=1)
assert any(len(r) > 1 and r[1] == b"EXPUNGE" for r in seen), seen
lmtp_start = time.monotonic()
lmtp_deliver("arrives during idle")
seen = []
while time.monotonic() - lmtp_start < 5 and not any(len(r) > 1 and r[1] == b"EXISTS" for r in seen):
    seen += watcher.idle_check(timeout=0.2)
delay = time.monotonic() - lmtp_start
assert any(len(r) > 1 and r[1] == b"EXISTS" for r in seen), seen
assert delay < 1.0, f"EXISTS after {delay:.2f}s"
print(f"   LMTP delivery reported in IDLE after {delay * 1000:.0f} ms")
watcher.idle_done()
watcher.logout()
mover.logout()

step("bad logins are refused")
m = imaplib.IMAP4(HOST, PORT)
try:
    m.login(USER, "wrong")
    raise AssertionError("wrong password accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
m.logout()

print(f"scenario OK: {len(STEPS)} steps", flush=True)
