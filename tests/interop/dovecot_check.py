#!/usr/bin/env python3
"""Reads every mailbox of some users through a private Dovecot (IMAP and doveadm), for the
interop tests (tests/src/dovecot.rs, Dovecot::read_mail).

Usage: dovecot_check.py PORT DOVECOT_CONF PASSWORD USER...

Prints tab-separated lines (mailbox names in UTF-8, decoded from IMAP's modified UTF-7 here so
the decoding is not ours):
  list    USER NAME                       every selectable mailbox from IMAP LIST
  imap    USER NAME RFC822.SIZE HEXBODY   every message, from IMAP FETCH BODY.PEEK[]
  doveadm USER NAME PHYSICAL VIRTUAL HEX  every message, from doveadm fetch (the stored text)
Messages of one mailbox come in UID order from both. Exits non-zero with the reason on stderr
if Dovecot reports any error.
"""

import base64
import imaplib
import json
import re
import subprocess
import sys

LIST_RE = re.compile(rb'^\((?P<flags>[^)]*)\) (?:NIL|"(?:[^"\\]|\\.)*") (?P<name>.*)$')
SIZE_RE = re.compile(rb"RFC822\.SIZE (\d+)")
SHIFTED_RE = re.compile(r"&([^-]*)-")


def unquote(name: bytes) -> str:
    if name.startswith(b'"'):
        name = re.sub(rb'\\(.)', rb"\1", name[1:-1])
    return name.decode("ascii")


def mutf7_decode(name: str) -> str:
    """RFC 3501 section 5.1.3: '&' starts modified base64 of UTF-16BE, '&-' is '&'."""
    def shifted(m: re.Match) -> str:
        if not m.group(1):
            return "&"
        b64 = m.group(1).replace(",", "/")
        b64 += "=" * (-len(b64) % 4)
        return base64.b64decode(b64).decode("utf-16-be")

    return SHIFTED_RE.sub(shifted, name)


def imap(port: int, user: str, password: str) -> None:
    conn = imaplib.IMAP4("127.0.0.1", port)
    conn.login(user, password)
    typ, lines = conn.list()
    assert typ == "OK", lines
    for line in lines:
        m = LIST_RE.match(line)
        assert m, line
        if b"\\noselect" in m.group("flags").lower():
            continue
        name = unquote(m.group("name"))
        print(f"list\t{user}\t{mutf7_decode(name)}")
        # EXAMINE: reading must not change the store (no \Recent, no flags).
        typ, data = conn.select('"' + name + '"', readonly=True)
        assert typ == "OK", (name, data)
        if int(data[0]) == 0:
            continue
        typ, data = conn.fetch("1:*", "(RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK", (name, data)
        for item in data:
            if not isinstance(item, tuple):
                continue
            size = int(SIZE_RE.search(item[0]).group(1))
            print(f"imap\t{user}\t{mutf7_decode(name)}\t{size}\t{item[1].hex()}")
    conn.logout()


def doveadm(conf: str, user: str) -> None:
    out = subprocess.run(
        ["doveadm", "-c", conf, "-f", "json", "fetch", "-u", user,
         "mailbox size.physical size.virtual text", "all"],
        capture_output=True, text=True)
    if out.returncode != 0 or "Error" in out.stderr:
        sys.exit(f"doveadm fetch for {user} failed: {out.stderr}")
    for rec in json.loads(out.stdout):
        text = rec["text"].encode("utf-8", "surrogateescape").hex()
        print(f"doveadm\t{user}\t{rec['mailbox']}\t{rec['size.physical']}"
              f"\t{rec['size.virtual']}\t{text}")


def main() -> None:
    port, conf, password, users = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    for user in users:
        imap(port, user, password)
        doveadm(conf, user)


if __name__ == "__main__":
    main()
