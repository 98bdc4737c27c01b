#!/usr/bin/env python3
"""Submits COUNT messages of about SIZE bytes over SESSIONS parallel SMTP sessions (one connection each, several
messages per connection), with AUTH PLAIN when a user is given (smtp-source cannot authenticate).

usage: outbound-submit.py PORT COUNT SESSIONS SIZE FROM TO [USER PASSWORD]
Prints one line: the number of messages accepted with 250. Exits 1 if any was refused.
"""
import smtplib
import sys
import threading
import uuid
from email.utils import formatdate

port, count, sessions, size = (int(a) for a in sys.argv[1:5])
sender, rcpt = sys.argv[5], sys.argv[6]
user, password = (sys.argv[7], sys.argv[8]) if len(sys.argv) > 8 else (None, None)

line = "The quick brown fox jumps over the lazy dog, again and again, to fill four kilobytes.\r\n"


def message(n):
    head = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: outbound bench {n}\r\nDate: {formatdate()}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@bench>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
    body = (line * (size // len(line) + 1))[: max(0, size - len(head) - 2)]
    return (head + body + "\r\n").encode("ascii")


accepted = 0
failed = []
lock = threading.Lock()


def session(first, n):
    global accepted
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
            s.ehlo("bench.client")
            if user:
                s.login(user, password)
            for i in range(first, first + n):
                s.sendmail(sender, [rcpt], message(i))
                with lock:
                    accepted += 1
    except Exception as e:  # reported below: a refused message must fail the run, not vanish
        with lock:
            failed.append(f"{type(e).__name__}: {e}")


share = [count // sessions + (1 if i < count % sessions else 0) for i in range(sessions)]
threads, first = [], 0
for n in share:
    t = threading.Thread(target=session, args=(first, n))
    first += n
    threads.append(t)
    t.start()
for t in threads:
    t.join()
print(accepted)
if failed:
    print("; ".join(sorted(set(failed))[:3]), file=sys.stderr)
    sys.exit(1)
