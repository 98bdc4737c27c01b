#!/usr/bin/env bash
# Authentication checks per second on one core (SPF + DKIM + ARC + DMARC, warm DNS cache) for a corpus of
# DKIM-signed ~4 KB messages made by dkimpy, and dkimpy's own DKIM verification rate on the same corpus.
# Writes bench/results/auth-checks.md. Needs: dotnet, /usr/bin/python3 with python3-dkim, taskset.
# Usage: bench/auth-checks.sh [messages=500] [seconds-per-measurement=10]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-500}"
SECONDS_PER_RUN="${2:-10}"
TOOL=tests/Mail.Auth.Tests/Tools/dkimtool.py
PY=/usr/bin/python3
DOMAIN=bench.example
SELECTOR=bench
CLIENT_IP=192.0.2.25
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$PY" "$TOOL" keygen rsa 2048 > "$WORK/keys"
sed -n 1p "$WORK/keys" | base64 -d > "$WORK/private.pem"
PUBLIC="$(sed -n 2p "$WORK/keys")"
"$PY" "$TOOL" corpus "$SELECTOR" "$DOMAIN" "$WORK/private.pem" rsa-sha256 "$COUNT" 4096 "$WORK/corpus"

dotnet build -c Release bench/AuthBench -v q -nologo > "$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
# One core for both: the .NET runtime is told it has one processor, and both processes are pinned to CPU 0.
DOTNET_PROCESSOR_COUNT=1 taskset -c 0 dotnet bench/AuthBench/bin/Release/net10.0/AuthBench.dll \
  "$WORK/corpus" "$DOMAIN" "$SELECTOR" "$PUBLIC" "$CLIENT_IP" "$SECONDS_PER_RUN" > "$WORK/dotnet.txt"
read -r PY_MSGS PY_OK PY_COUNT PY_SECONDS < <(taskset -c 0 "$PY" "$TOOL" verify-dir "$WORK/corpus" \
  "$SELECTOR._domainkey.$DOMAIN=v=DKIM1; k=rsa; p=$PUBLIC" "$SECONDS_PER_RUN")

val() { grep -o "$1=[^ ]*" "$WORK/dotnet.txt" | cut -d= -f2; }
PY_RATE=$(awk -v c="$PY_COUNT" -v s="$PY_SECONDS" 'BEGIN { printf "%.1f", c / s }')
mkdir -p bench/results
cat > bench/results/auth-checks.md <<MD
# Authentication checks per second (one core)

Run: $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPU(s) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), pinned to CPU 0.
Machine load average (1/5/15 min) before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg) — other work on the
machine slows both sides alike; the .NET rows alternate in rounds for that reason.
Corpus: $(val messages) messages of about $(val avg_size) bytes, each signed by dkimpy (rsa-sha256, 2048-bit key, relaxed/relaxed).
DNS: key, SPF and DMARC records served by a loopback DNS server; the resolver cache is warm
(DNS queries during the measurements: $(val dns_queries_during_measurement)).

| what | messages checked | seconds | per second |
|---|---|---|---|
| Mail.Auth AuthenticationCheck (parse + SPF + DKIM + ARC + DMARC + Authentication-Results) | $(val full_checks) | $(val full_seconds) | **$(val full_per_sec)** |
| Mail.Auth DkimChecker only (parse + DKIM) | $(val dkim_checks) | $(val dkim_seconds) | **$(val dkim_per_sec)** |
| dkimpy $("$PY" -c 'import importlib.metadata as m; print(m.version("dkimpy"))' 2>/dev/null || echo "") \`dkim.verify\` (reference, DKIM only) | $PY_COUNT | $PY_SECONDS | **$PY_RATE** |

Sanity: $(val warmup_all_pass)/$(val messages) messages got spf=pass dkim=pass dmarc=pass from AuthenticationCheck;
$PY_OK/$PY_MSGS verified with dkimpy. Reproduce with \`bench/auth-checks.sh $COUNT $SECONDS_PER_RUN\`.
MD
cat bench/results/auth-checks.md
