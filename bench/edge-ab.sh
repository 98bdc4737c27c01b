#!/usr/bin/env bash
# A/B of two builds of `mail serve` (edge only, Worker:Enabled=false), interleaved so both see the same machine noise:
#   bench/edge-ab.sh OLD/mail.dll NEW/mail.dll        # ROUNDS=4 MSGS=10000 SIZE=4096 SESSIONS=20 WARM=20000
# For each round and build: fresh data dir under /var/tmp, warm-up of WARM messages (until the JIT is done, see
# smtp-throughput.sh), then smtp-source -d with SESSIONS
# sessions; prints msg/s and the server's CPU per message (utime+stime from /proc), appends to results/edge-ab.txt.
# Needs postfix's smtp-source, python3, dotnet. Bounded: fixed counts, every run under `timeout`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
A=${1:?old mail.dll}; B=${2:?new mail.dll}
ROUNDS=${ROUNDS:-4}; MSGS=${MSGS:-10000}; SIZE=${SIZE:-4096}; SESSIONS=${SESSIONS:-20}
OUT=$HERE/results/edge-ab.txt
mkdir -p "$HERE/results"
. "$HERE/lib.sh"
run() { # DLL LABEL
  local dll=$1 data port pid t0 t1 c0 c1 queued
  data=$(mktemp -d /var/tmp/edge-ab.XXXXXX)
  dotnet "$dll" domain add bench.test --data "$data" >/dev/null
  dotnet "$dll" user add bench@bench.test --password bench --data "$data" >/dev/null
  port=$(free_port)
  dotnet "$dll" serve --data "$data" "--Smtp:Listeners:0:Endpoint=127.0.0.1:$port" "--Smtp:Listeners:1:Endpoint=127.0.0.1:$(free_port)" \
    "--Smtp:Listeners:2:Endpoint=127.0.0.1:$(free_port)" --Imap:Enabled=false --Pop3:Enabled=false --Worker:Enabled=false \
    --Smtp:MaxConnectionsPerClient=500 --Logging:LogLevel:Default=Warning >"$data.log" 2>&1 &
  pid=$!
  wait_port "$port"
  timeout 300 smtp-source -d -s 20 -m "${WARM:-20000}" -l "$SIZE" -f bench@example.net -t bench@bench.test "127.0.0.1:$port" >/dev/null 2>&1
  c0=$(awk '{print $14+$15}' "/proc/$pid/stat"); t0=$(date +%s.%N)
  timeout 600 smtp-source -d -s "$SESSIONS" -m "$MSGS" -l "$SIZE" -f bench@example.net -t bench@bench.test "127.0.0.1:$port" >/dev/null 2>&1
  t1=$(date +%s.%N); c1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # Older builds kept one .env file per envelope, newer ones a journal: ask the build itself.
  queued=$(dotnet "$dll" queue --data "$data" | sed -n 's/^-- \([0-9]*\) envelope(s).*/\1/p'); queued=${queued:-0}
  python3 -c "print('$2', round($MSGS/($t1-$t0)), 'msg/s, server cpu/msg', round(($c1-$c0)*1000/$(getconf CLK_TCK)/$MSGS, 2), 'ms, envelopes', $queued, ', load', open('/proc/loadavg').read().split()[0])" | tee -a "$OUT"
  rm -rf "$data" "$data.log"
}
echo "# $(date -u +%FT%TZ) A=$A B=$B sessions=$SESSIONS msgs=$MSGS size=$SIZE" | tee -a "$OUT"
for _ in $(seq 1 "$ROUNDS"); do run "$A" A; run "$B" B; done
