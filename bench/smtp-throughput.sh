#!/usr/bin/env bash
# SMTP throughput: Postfix's smtp-source sends SIZE-byte messages over 1 and 20 parallel sessions to
#   (a) smtp-sink      - the protocol ceiling (accepts and forgets, no disk),
#   (b) Postfix        - a private instance in a temp dir (queue fsync'd before 250, then discarded),
#   (c) mail serve     - this system's embedded mode (message + envelope synced to disk before 250, then delivered).
# Then the resident memory of `mail serve` with IDLE idle connections open.
# Writes bench/results/smtp-throughput.{md,json,csv}. Needs root (Postfix), postfix, python3, dotnet.
# Bounded: MSGS messages per run, every run under `timeout`.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
MSGS=${MSGS:-10000}   # per measured run: at 10,000+ msg/s a run of 2,000 lasted 0.15 s, too short to time
SIZE=${SIZE:-4096}
SESSIONS=${SESSIONS:-"1 20"}
IDLE=${IDLE:-5000}
# Sent at 20 sessions before measuring each target, not counted: page cache, process pools, and the .NET JIT done
# recompiling hot code at full optimization. After a 3,000-message warm-up it still compiled ~1,600 methods during the
# measured run (DOTNET_JitStdOutFile), a fifth of the edge's CPU; after 20,000, about a hundred (new connections).
WARM=${WARM:-20000}
RESULTS=$HERE/results
WORK=$(mktemp -d /var/tmp/smtp-bench.XXXXXX)   # a real disk (not tmpfs): fsync must cost what it costs
chmod 755 "$WORK"                                # Postfix daemons run as user postfix and must reach their queue
PIDS=()
PF=$WORK/postfix

. "$HERE/lib.sh"
trap bench_cleanup EXIT

# run_source PORT SESSIONS -> prints messages/second
run_source() {
  local port=$1 sessions=$2 start end
  start=$(now)
  timeout 900 smtp-source -d -s "$sessions" -m "$MSGS" -l "$SIZE" -f bench@example.net -t bench@bench.test "127.0.0.1:$port" >"$WORK/source.log" 2>&1 \
    || { echo "smtp-source failed:" >&2; tail -5 "$WORK/source.log" >&2; return 1; }
  end=$(now)
  python3 -c "print(round($MSGS / ($end - $start), 1))"
}

# warm PORT: a short unmeasured run
warm() { timeout 300 smtp-source -d -s 20 -m "$WARM" -l "$SIZE" -f bench@example.net -t bench@bench.test "127.0.0.1:$1" >/dev/null 2>&1; }

declare -A RATE
mail_binary

echo "== (a) smtp-sink"
SINK_PORT=$(free_port)
smtp-sink -u postfix "127.0.0.1:$SINK_PORT" 1024 &
PIDS+=($!)
wait_port "$SINK_PORT"
warm "$SINK_PORT"
for s in $SESSIONS; do RATE[sink,$s]=$(run_source "$SINK_PORT" "$s"); echo "   $s session(s): ${RATE[sink,$s]} msg/s"; done
kill "${PIDS[-1]}"; unset 'PIDS[-1]'

echo "== (b) postfix $(postconf -dh mail_version)"
PF_PORT=$(free_port)
postfix_discard "$PF" "$PF_PORT"
postfix_start "$PF" "$PF_PORT"
warm "$PF_PORT"
for s in $SESSIONS; do RATE[postfix,$s]=$(run_source "$PF_PORT" "$s"); echo "   $s session(s): ${RATE[postfix,$s]} msg/s"; done
sleep 2
POSTFIX_SENT=$(grep -c "status=sent" "$PF/maillog" || true)
postfix -c "$PF/conf" stop >/dev/null

ulimit -n 20000
# start_mail DATA_DIR EXTRA_ARGS... : starts `mail serve` on a fresh MX port, sets MAIL_PID and MAIL_PORT.
# Per-message info logs to the console are off: the edge's cost is measured, not the terminal's.
start_mail() {
  local data=$1; shift
  "${MAIL[@]}" domain add bench.test --data "$data" >/dev/null
  "${MAIL[@]}" user add bench@bench.test --password bench --data "$data" >/dev/null
  MAIL_PORT=$(free_port)
  "${MAIL[@]}" serve --data "$data" \
    "--Smtp:Listeners:0:Endpoint=127.0.0.1:$MAIL_PORT" "--Smtp:Listeners:1:Endpoint=127.0.0.1:$(free_port)" "--Smtp:Listeners:2:Endpoint=127.0.0.1:$(free_port)" \
    --Imap:Enabled=false --Pop3:Enabled=false --Smtp:MaxConnectionsPerClient=$((IDLE + 100)) --Smtp:MaxConnections=$((IDLE + 200)) \
    --Logging:LogLevel:Default=Warning "$@" >"$data.log" 2>&1 &
  MAIL_PID=$!
  PIDS+=($MAIL_PID)
  wait_port "$MAIL_PORT"
  warm "$MAIL_PORT"
  # "inline" or "pooled" (Sockets:InlineCompletions), from the ready line.
  MAIL_SOCKETS=$(grep -o 'socket completions [a-z]*' "$data.log" | head -1 | cut -d' ' -f3)
}
stop_mail() { kill "$MAIL_PID"; wait "$MAIL_PID" 2>/dev/null || true; }
TOTAL=$WARM; for s in $SESSIONS; do TOTAL=$((TOTAL + MSGS)); done

echo "== (c) mail serve, edge only (Worker:Enabled=false): message + envelope synced before 250, like Postfix+discard"
start_mail "$WORK/mail-edge" --Worker:Enabled=false
EDGE_SOCKETS=$MAIL_SOCKETS
# Memory first, on a process that has only seen the warm-up, so earlier load does not hide the cost.
echo "== idle connections: $IDLE"
IDLE_JSON=$(timeout 300 python3 "$HERE/idle-connections.py" "$MAIL_PORT" "$IDLE" "$MAIL_PID")
echo "   $IDLE_JSON"
for s in $SESSIONS; do RATE[edge,$s]=$(run_source "$MAIL_PORT" "$s"); echo "   $s session(s): ${RATE[edge,$s]} msg/s"; done
stop_mail
QUEUED=$("${MAIL[@]}" queue --data "$WORK/mail-edge" | sed -n 's/^-- \([0-9]*\) envelope(s).*/\1/p')
QUEUED=${QUEUED:-0}

echo "== (d) mail serve, edge + local worker delivering to the mailbox at the same time"
start_mail "$WORK/mail-full"
FULL_SOCKETS=$MAIL_SOCKETS
for s in $SESSIONS; do RATE[mail,$s]=$(run_source "$MAIL_PORT" "$s"); echo "   $s session(s): ${RATE[mail,$s]} msg/s"; done

# Wait (bounded) for the worker to deliver everything, as a sanity check that 250 meant delivered.
for _ in $(seq 1 600); do
  "${MAIL[@]}" queue --data "$WORK/mail-full" | grep -q "Mail queue is empty" && break
  sleep 1
done
DELIVERED=$("${MAIL[@]}" mailbox list bench@bench.test --data "$WORK/mail-full" | sed -n 's/.*INBOX: \([0-9]*\) message(s).*/\1/p')
stop_mail

mkdir -p "$RESULTS"
export MSGS SIZE SESSIONS IDLE IDLE_JSON POSTFIX_SENT DELIVERED TOTAL QUEUED MAIL_BUILD EDGE_SOCKETS FULL_SOCKETS
export RATES=$(for k in "${!RATE[@]}"; do echo "$k=${RATE[$k]}"; done)
python3 - "$RESULTS" <<'PY'
import json, os, platform, subprocess, sys, datetime
out = sys.argv[1]
rates = {}
for line in os.environ["RATES"].split():
    k, v = line.split("=")
    target, sessions = k.split(",")
    rates.setdefault(target, {})[sessions] = float(v)
sessions = os.environ["SESSIONS"].split()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
idle = json.loads(os.environ["IDLE_JSON"])
doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()},
    "messages_per_run": int(os.environ["MSGS"]), "message_bytes": int(os.environ["SIZE"]),
    "messages_per_second": rates,
    "postfix_discarded_sent": int(os.environ["POSTFIX_SENT"] or 0),
    "mail_delivered": int(os.environ["DELIVERED"] or 0), "mail_sent": int(os.environ["TOTAL"]),
    "edge_only_queued": int(os.environ["QUEUED"] or 0),
    "idle_connections": idle,
    "mail_build": os.environ["MAIL_BUILD"],
    "socket_completions": {"edge": os.environ["EDGE_SOCKETS"], "mail": os.environ["FULL_SOCKETS"]},
}
json.dump(doc, open(os.path.join(out, "smtp-throughput.json"), "w"), indent=2)
with open(os.path.join(out, "smtp-throughput.csv"), "w") as f:
    f.write("target,sessions,messages_per_second\n")
    for t in ("sink", "postfix", "edge", "mail"):
        for s in sessions:
            f.write(f"{t},{s},{rates[t][s]}\n")
names = {"sink": "smtp-sink (protocol ceiling, no disk)", "postfix": "Postfix 3.7 (queue file fsync'd before 250, then discard)",
         "edge": f"mail serve, edge only (message + envelope synced before 250; socket completions {doc['socket_completions']['edge']})",
         "mail": f"mail serve, edge + worker delivering to INBOX meanwhile (socket completions {doc['socket_completions']['mail']})"}
lines = [
    "# SMTP throughput", "",
    f"{doc['date']} · {cpu} · {os.cpu_count()} cores · kernel {platform.release()} · "
    f"{doc['messages_per_run']} messages of {doc['message_bytes']} bytes per run after a warm-up (smtp-source -d, one recipient) · data on ext4 under /var/tmp", "",
    f"`mail` built with {doc['mail_build']}.", "",
    "| target | " + " | ".join(f"{s} session(s) msg/s" for s in sessions) + " |",
    "|---|" + "---|" * len(sessions),
]
for t in ("sink", "postfix", "edge", "mail"):
    lines.append(f"| {names[t]} | " + " | ".join(f"{rates[t][s]:.0f}" for s in sessions) + " |")
hi = sessions[-1]
lines += ["",
    f"At {hi} sessions, edge only: {rates['edge'][hi] / rates['postfix'][hi]:.2f}× Postfix (target ≥ 2×), "
    f"{rates['edge'][hi] / rates['sink'][hi]:.2f}× smtp-sink (target ≥ 0.5×). "
    f"With the worker delivering in the same process: {rates['mail'][hi] / rates['postfix'][hi]:.2f}× Postfix, {rates['mail'][hi] / rates['sink'][hi]:.2f}× smtp-sink.", "",
    "Same durability: Postfix's cleanup fsyncs the queue file before smtpd answers 250; the edge appends the message to the shared spool segment "
    "(checksummed record), then the envelope to the spool journal, and waits for the group commit before 250: "
    "one write-back of the files appended to and one device cache flush make durable what every session wrote since the previous one "
    "(an fsync instead when a file was created or grew). "
    "Postfix's discard transport makes its delivery free; the edge-only row is the comparable one, "
    "the last row shows the edge while this process also parses, copies and indexes each message (more fsyncs on the same disk and 2 cores).", "",
    f"Sanity (warm-up included): Postfix logged {doc['postfix_discarded_sent']} discarded deliveries; the edge-only run left {doc['edge_only_queued']} envelopes in its spool; "
    f"the full run delivered {doc['mail_delivered']} of {doc['mail_sent']} messages (warm-up included) to the INBOX.", "",
    f"Idle connections (on the edge-only process after its warm-up, before the measured runs): {idle['connections']} open ({idle['greeted']} greeted, each then idle); `mail serve` RSS {idle['rss_before_kib']/1024:.0f} MiB before, "
    f"{idle['rss_with_idle_kib']/1024:.0f} MiB with them open ({idle['kib_per_connection']} KiB per connection).", "",
]
open(os.path.join(out, "smtp-throughput.md"), "w").write("\n".join(lines))
print("\n".join(lines))
PY
