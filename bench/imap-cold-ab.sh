#!/usr/bin/env bash
# A/B of two builds of `mail serve` on the IMAP gateway's first session after a restart, interleaved so both see the
# same machine noise (the machine is shared: compare only builds measured in the same run):
#   bench/imap-cold-ab.sh OLD/mail NEW/mail        # ROUNDS=5 COUNT=10000 BODIES=1000 CLIENT=measure-wire
# Each build gets its own copy of one imported 10,000-message data directory. Per round and build: the server is
# restarted with its cache directory kept ("cold"), then restarted with it deleted ("rebuilt"), and
# `ImapBench measure-wire` (the bare socket client of imap-vs-dovecot.sh) times login, EXAMINE, FETCH 1:* and the
# bodies once each (CLIENT=measure: MailKit, as in imap-vs-dovecot.sh's first tables); then one warm pass.
# Prints every round and the medians; appends them to results/imap-cold-ab.txt.
# IMPORT=path/to/ImapBench imports with another build of ImapBench (an old build may not read a newer index schema:
# import with the old one, the new build migrates its copy). Needs dotnet, doveadm (for the SHA512-CRYPT hash).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
A=${1:?old mail executable}; B=${2:?new mail executable}
ROUNDS=${ROUNDS:-5}; COUNT=${COUNT:-10000}; BODIES=${BODIES:-1000}
OUT=$HERE/results/imap-cold-ab.txt
. "$HERE/lib.sh"
WORK=$(mktemp -d /var/tmp/imap-cold-ab.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
dotnet build "$HERE/ImapBench/ImapBench.csproj" -c Release -o "$WORK/bench" -nologo -v q >/dev/null
BENCH=$WORK/bench/ImapBench
USER_NAME=bench@example.test; PASSWORD=bench-password
"$BENCH" generate "$WORK/eml" "$COUNT" >/dev/null
"${IMPORT:-$BENCH}" import "$WORK/data" "$WORK/eml" "$USER_NAME" >/dev/null
HASH=$(doveadm pw -s SHA512-CRYPT -p "$PASSWORD")
cp -a "$WORK/data" "$WORK/data-A"; mv "$WORK/data" "$WORK/data-B"
"$A" user add "$USER_NAME" --password-hash "$HASH" --data "$WORK/data-A" >/dev/null
"$B" user add "$USER_NAME" --password-hash "$HASH" --data "$WORK/data-B" >/dev/null

start() { # MAIL DATA: IMAP only, every other listener off or on a free port
  PORT=$(free_port)
  "$1" serve --data "$2" --Imap:Listeners:0:Name=imap --Imap:Listeners:0:Endpoint="127.0.0.1:$PORT" \
    --Imap:Listeners:1:Name=imaps --Imap:Listeners:1:Endpoint=127.0.0.1:0 --Imap:Listeners:1:ImplicitTls=true \
    --Smtp:Listeners:0:Endpoint=127.0.0.1:0 --Smtp:Listeners:1:Endpoint=127.0.0.1:0 --Smtp:Listeners:2:Endpoint=127.0.0.1:0 \
    --Pop3:Enabled=false --ManageSieve:Enabled=false --Auth:CacheTtl=01:00:00 --Imap:CacheDirectory="$2/imap-cache" \
    --Worker:Enabled=false --Maintenance:Enabled=false --Logging:LogLevel:Default=Warning >>"$2.log" 2>&1 &
  PID=$!
  wait_port "$PORT"
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
wire() { timeout 300 "$BENCH" "${CLIENT:-measure-wire}" "$1" "$PORT" "$USER_NAME" "$PASSWORD" "$BODIES"; }

# First start of each: a pass that writes the cache directory (ENVELOPE cache, message list snapshot) and lets the
# new build migrate its copy of the index.
for x in A B; do
  mail=$A; [ $x = B ] && mail=$B
  start "$mail" "$WORK/data-$x"; wire warmup >/dev/null; stop
done
echo "# $(date -u +%FT%TZ) A=$A B=$B rounds=$ROUNDS count=$COUNT client=${CLIENT:-measure-wire} load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
for r in $(seq 1 "$ROUNDS"); do
  for x in A B; do
    mail=$A; [ $x = B ] && mail=$B
    start "$mail" "$WORK/data-$x"; wire "$x cold" >>"$WORK/$x.tsv"; wire "$x warm" >>"$WORK/$x.tsv"; stop
    rm -rf "$WORK/data-$x/imap-cache"
    start "$mail" "$WORK/data-$x"; wire "$x rebuilt" >>"$WORK/$x.tsv"; stop
  done
done
python3 - "$WORK/A.tsv" "$WORK/B.tsv" <<'PY' | tee -a "$OUT"
import statistics, sys
rows = {}
for f in sys.argv[1:]:
    for line in open(f):
        label, step, ms = line.rstrip("\n").split("\t")
        rows.setdefault((label, step.split(" (")[0]), []).append(float(ms))
for (label, step), v in rows.items():
    print(f"{label:10} {step:16} median {statistics.median(v):7.1f} ms  [{' '.join(f'{x:.1f}' for x in v)}]")
PY
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
