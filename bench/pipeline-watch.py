#!/usr/bin/env python3
"""Watches a run of bench/pipeline-throughput.sh: every INTERVAL seconds, the messages smtp-source has had accepted
(the last number of its `-c` counter in COUNTFILE) and the messages in the user's INBOX (IMAP STATUS over one
logged-in connection). Their difference is the backlog: accepted, not yet in the mailbox (the spool's depth, give or
take the envelopes the worker holds). Stops once the INBOX holds BASE + COUNT messages, or after TIMEOUT seconds.
BASE is given, not read at start: the sender may start before this has logged in.

usage: pipeline-watch.py IMAP_PORT USER PASSWORD BASE COUNT COUNTFILE [INTERVAL=0.1] [TIMEOUT=600]
Prints one JSON line: base, delivered, done_at (unix time the last message was seen in the INBOX, null if never),
max_backlog, samples. Exits 1 on timeout.
"""
import json
import re
import socket
import sys
import time

port, user, password, base, count, countfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
interval = float(sys.argv[7]) if len(sys.argv) > 7 else 0.1
timeout = float(sys.argv[8]) if len(sys.argv) > 8 else 600.0

sock = socket.create_connection(("127.0.0.1", port), timeout=30)
reader = sock.makefile("rb")
reader.readline()  # greeting
tag = 0


def command(line):
    global tag
    tag += 1
    t = f"a{tag}"
    sock.sendall(f"{t} {line}\r\n".encode())
    lines = []
    while True:
        got = reader.readline().decode(errors="replace")
        if not got:
            raise SystemExit("IMAP connection closed")
        if got.startswith(t + " "):
            if not got.startswith(t + " OK"):
                raise SystemExit(f"IMAP {line.split()[0]}: {got.strip()}")
            return lines
        lines.append(got)


def inbox():
    for l in command("STATUS INBOX (MESSAGES)"):
        m = re.search(r"MESSAGES (\d+)", l)
        if m:
            return int(m.group(1))
    raise SystemExit("no MESSAGES in STATUS")


def accepted():
    try:
        with open(countfile, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64))
            numbers = re.findall(rb"\d+", f.read())
        return int(numbers[-1]) if numbers else 0
    except OSError:
        return 0


command(f'LOGIN "{user}" "{password}"')
max_backlog = 0
samples = 0
done_at = None
deadline = time.time() + timeout
delivered = 0
while time.time() < deadline:
    a = accepted()           # before the STATUS: a message counted after it cannot make the backlog negative
    delivered = inbox() - base
    samples += 1
    max_backlog = max(max_backlog, a - delivered)
    if delivered >= count:
        done_at = time.time()
        break
    time.sleep(interval)
print(json.dumps({"base": base, "delivered": delivered, "done_at": done_at, "max_backlog": max_backlog, "samples": samples}))
sys.exit(0 if done_at else 1)
