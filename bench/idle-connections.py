#!/usr/bin/env python3
"""Open N idle SMTP connections to a server, wait for each greeting, and report the server's resident memory.

usage: idle-connections.py PORT COUNT PID  -> prints one JSON object
"""
import json
import resource
import socket
import sys
import time


def rss_kib(pid: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main() -> None:
    port, count, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 100)), hard))
    time.sleep(1)
    before = rss_kib(pid)
    socks = []
    deadline = time.time() + 120  # bounded
    try:
        for _ in range(count):
            if time.time() > deadline:
                break
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            socks.append(s)
        greeted = 0
        for s in socks:
            if s.recv(512).startswith(b"220"):
                greeted += 1
        time.sleep(3)
        during = rss_kib(pid)
    finally:
        for s in socks:
            s.close()
    print(json.dumps({
        "connections": len(socks),
        "greeted": greeted,
        "rss_before_kib": before,
        "rss_with_idle_kib": during,
        "kib_per_connection": round((during - before) / max(1, len(socks)), 1),
    }))


if __name__ == "__main__":
    main()
