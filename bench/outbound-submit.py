#!/usr/bin/env python3
"""Submits COUNT messages of about SIZE bytes over SESSIONS parallel SMTP sessions (one connection each, several
messages per connection), with AUTH PLAIN when a user is given (smtp-source cannot authenticate).

usage: outbound-submit.py PORT COUNT SESSIONS SIZE FROM TO [USER PASSWORD]
Prints one line: the number of messages accepted with 250. Exits 1 if any was refused.
PIPELINING=1 in the environment: a raw-socket client that sends MAIL, RCPT and DATA in one write (RFC 2920; the
server must offer PIPELINING, as Postfix, smtp-sink and ours do) and the message with its final dot in the next, so
a message costs two round trips instead of smtplib's four; the same for every server it is pointed at.
"""
import base64
import os
import smtplib
import socket
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


class Pipelined:
    """Just enough SMTP for the bench: EHLO, AUTH PLAIN, then per message MAIL/RCPT/DATA pipelined and the data."""

    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.file = self.sock.makefile("rb")
        self.reply(220)
        self.sock.sendall(b"EHLO bench.client\r\n")
        if b"PIPELINING" not in self.reply(250).upper():
            raise RuntimeError("the server does not offer PIPELINING")
        if user:
            plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            self.sock.sendall(f"AUTH PLAIN {plain}\r\n".encode())
            self.reply(235)

    def reply(self, code):
        text = b""
        while True:
            line = self.file.readline()
            if not line:
                raise RuntimeError("connection closed")
            text += line
            if line[3:4] != b"-":
                break
        if int(line[:3]) != code:
            raise RuntimeError(f"expected {code}, got {text.decode(errors='replace').strip()}")
        return text

    def send(self, data):
        # Dot-stuffing: the bench's lines never start with a dot, so the data goes as it is.
        self.sock.sendall(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
        self.reply(250)
        self.reply(250)
        self.reply(354)
        self.sock.sendall(data + b".\r\n")
        self.reply(250)

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply(221)
        finally:
            self.sock.close()


def pipelined_session(first, n):
    global accepted
    try:
        c = Pipelined()
        for i in range(first, first + n):
            c.send(message(i))
            with lock:
                accepted += 1
        c.close()
    except Exception as e:  # as below
        with lock:
            failed.append(f"{type(e).__name__}: {e}")


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
    t = threading.Thread(target=pipelined_session if os.environ.get("PIPELINING") == "1" else session, args=(first, n))
    first += n
    threads.append(t)
    t.start()
for t in threads:
    t.join()
print(accepted)
if failed:
    print("; ".join(sorted(set(failed))[:3]), file=sys.stderr)
    sys.exit(1)
