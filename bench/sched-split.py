#!/usr/bin/env python3
"""Where a process's threads spent a run, per message, from `perf sched record -a` (the pipeline bench's PROFILE=sched).

Usage: bench/sched-split.py SCHED_DATA PID MESSAGES

For each kind of thread of PID (the thread pool's workers together, the others by name) and for the bench's client
(smtp-source): context switches, time on a CPU, time runnable but waiting for one (run queue), and time asleep by the
state it went to sleep in (S: waiting for a wake-up such as a futex or epoll; D: uninterruptible, here the syncs' and
writebacks' device waits), all per message. `perf sched timehist` counts a wake-up's run-queue delay inside the sleep
before it, so the sleep columns include their run-queue share; run + sleep is the run's length.
"""
import collections
import re
import subprocess
import sys

data, pid, messages = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = subprocess.run(["perf", "sched", "timehist", "-i", data, "--state"], capture_output=True, text=True).stdout
state_before = {}
switches, run, runq = collections.Counter(), collections.Counter(), collections.Counter()
asleep = collections.defaultdict(collections.Counter)
for line in out.splitlines():
    fields = line.split()
    if len(fields) < 7 or not re.match(r"^\d+\.\d+$", fields[0]):
        continue
    task = re.search(r"(\S.*?)\[(\d+)(?:/(\d+))?\]", line[24:])
    if not task:
        continue
    name, tid, tgid = task.group(1).strip(), task.group(2), task.group(3)
    if tgid == pid:
        kind = "thread pool workers" if "TP Worker" in name else name
    elif name == "smtp-source":
        kind = "smtp-source (the client)"
    else:
        continue
    wait, delay, ran = map(float, fields[-4:-1])
    switches[kind] += 1
    run[kind] += ran
    runq[kind] += delay
    asleep[kind][state_before.get(tid, "?")] += wait
    state_before[tid] = fields[-1]

per = 1000.0 / messages  # ms in total -> µs per message
print(f"{'µs per message':28} {'switches':>8} {'run':>7} {'run queue':>9}  asleep, by state (run queue included)")
for kind in sorted(run, key=lambda k: -run[k]):
    states = ", ".join(f"{s} {asleep[kind][s] * per:.0f}" for s in "SDRW?" if asleep[kind][s] * per >= 1)
    print(f"{kind:28} {switches[kind] / messages:8.1f} {run[kind] * per:7.0f} {runq[kind] * per:9.0f}  {states}")
