#!/usr/bin/env python3
"""Verify every DKIM-Signature of each message with dkimpy, serving keys from a file.

Usage: verify_dkimpy.py KEYS MESSAGE...
KEYS holds one TXT record a line: "<selector>._domainkey.<domain> <record value>".
Prints one line per signature: "pass|fail FILE d=.. s=.. a=..", exits 1 if any failed
or a message carries no signature.
"""
import sys

import dkim


def load_keys(path):
    records = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if line:
                name, value = line.split(None, 1)
                records[name.rstrip(".").lower() + "."] = value.encode()
    return records


def main():
    records = load_keys(sys.argv[1])

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return records.get(name.rstrip(".").lower() + ".")

    failed = False
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            message = f.read()
        verifier = dkim.DKIM(message)
        count = sum(1 for (name, _) in verifier.headers if name.lower() == b"dkim-signature")
        if count == 0:
            print(f"fail {path} no DKIM-Signature")
            failed = True
        for index in range(count):
            ok = verifier.verify(idx=index, dnsfunc=dnsfunc)
            sig = verifier.signature_fields or {}
            tags = " ".join(
                f"{k}={sig.get(k.encode(), b'?').decode(errors='replace')}" for k in ("d", "s", "a", "c")
            )
            print(f"{'pass' if ok else 'fail'} {path} {tags}")
            failed |= not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
