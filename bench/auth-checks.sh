#!/usr/bin/env bash
# Authentication checks on one core (SPF + DKIM + ARC + DMARC, warm DNS cache) for a corpus of DKIM-signed ~4 KB
# messages made by dkimpy, and dkimpy's own DKIM verification on the same corpus: process CPU time per message (the
# ratio that holds on a loaded machine: waiting for a core is not in it) and checks per second (elapsed).
# Both run optimized code: AuthBench with DOTNET_TieredCompilation=0 (fully optimized JIT from the first call, as the
# Native AOT host runs; with tiering, short rounds on a loaded machine measured partly tier-0 code), after a warm-up
# pass over the corpus on both sides (CPython has no JIT; its warm-up fills caches and imports).
# Writes RESULTS/auth-checks.md (RESULTS: bench/results). Needs: dotnet, /usr/bin/python3 with python3-dkim, taskset.
# Usage: bench/auth-checks.sh [messages=500] [seconds-per-measurement=10]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-500}"
SECONDS_PER_RUN="${2:-10}"
RESULTS="${RESULTS:-bench/results}"
# Fully optimized JIT code from the start (see above); the warm-up pass JITs everything before the clock starts.
export DOTNET_TieredCompilation=0
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
# The two sides alternate in ROUNDS rounds (half the time each per round), so a change in machine load hits both.
ROUNDS=2
HALF=$(awk -v s="$SECONDS_PER_RUN" -v r="$ROUNDS" 'BEGIN { printf "%.3f", s / r }')
: > "$WORK/dotnet.txt"
PY_MSGS=0 PY_OK=0 PY_COUNT=0 PY_SECONDS=0 PY_CPU=0
for round in $(seq "$ROUNDS"); do
  DOTNET_PROCESSOR_COUNT=1 taskset -c 0 dotnet bench/AuthBench/bin/Release/net10.0/AuthBench.dll \
    "$WORK/corpus" "$DOMAIN" "$SELECTOR" "$PUBLIC" "$CLIENT_IP" "$HALF" > "$WORK/dotnet.$round.txt"
  read -r m ok c s cpu < <(taskset -c 0 "$PY" "$TOOL" verify-dir "$WORK/corpus" \
    "$SELECTOR._domainkey.$DOMAIN=v=DKIM1; k=rsa; p=$PUBLIC" "$HALF")
  PY_MSGS=$m PY_OK=$ok
  PY_COUNT=$((PY_COUNT + c))
  PY_SECONDS=$(awk -v a="$PY_SECONDS" -v b="$s" 'BEGIN { printf "%.6f", a + b }')
  PY_CPU=$(awk -v a="$PY_CPU" -v b="$cpu" 'BEGIN { printf "%.6f", a + b }')
done
# Sum the rounds of the .NET side (counts and seconds), keep the rest of the first round's lines.
awk -F'[ =]' '
  /^full_checks=/ { fc += $2; fs += $4; fu += $8 } /^dkim_checks=/ { dc += $2; ds += $4; du += $8 }
  !/^(full|dkim)_checks=/ && !seen[$1]++ { print }
  END { printf "full_checks=%d full_seconds=%.3f full_per_sec=%.1f full_cpu_seconds=%.3f full_cpu_us=%.1f\n", fc, fs, fc / fs, fu, fu * 1e6 / fc
        printf "dkim_checks=%d dkim_seconds=%.3f dkim_per_sec=%.1f dkim_cpu_seconds=%.3f dkim_cpu_us=%.1f\n", dc, ds, dc / ds, du, du * 1e6 / dc }' "$WORK"/dotnet.[0-9]*.txt > "$WORK/dotnet.txt"
# Where a check's time goes: each step alone, microseconds per message (same process layout, one core).
DOTNET_PROCESSOR_COUNT=1 taskset -c 0 dotnet bench/AuthBench/bin/Release/net10.0/AuthBench.dll \
  "$WORK/corpus" "$DOMAIN" "$SELECTOR" "$PUBLIC" "$CLIENT_IP" "$SECONDS_PER_RUN" breakdown > "$WORK/breakdown.txt"

val() { grep -o "$1=[^ ]*" "$WORK/dotnet.txt" | cut -d= -f2; }
PY_RATE=$(awk -v c="$PY_COUNT" -v s="$PY_SECONDS" 'BEGIN { printf "%.1f", c / s }')
PY_CPU_US=$(awk -v c="$PY_COUNT" -v s="$PY_CPU" 'BEGIN { printf "%.1f", s * 1e6 / c }')
RATIO_FULL=$(awk -v a="$(val full_per_sec)" -v b="$PY_RATE" 'BEGIN { printf "%.2f", a / b }')
RATIO_DKIM=$(awk -v a="$(val dkim_per_sec)" -v b="$PY_RATE" 'BEGIN { printf "%.2f", a / b }')
CPU_RATIO_FULL=$(awk -v a="$(val full_cpu_us)" -v b="$PY_CPU_US" 'BEGIN { printf "%.2f", b / a }')
CPU_RATIO_DKIM=$(awk -v a="$(val dkim_cpu_us)" -v b="$PY_CPU_US" 'BEGIN { printf "%.2f", b / a }')
step() { echo "$(grep -o "step_cpu_us_$1=[^ ]*" "$WORK/breakdown.txt" | cut -d= -f2) | $(grep -o "step_us_$1=[^ ]*" "$WORK/breakdown.txt" | cut -d= -f2)"; }
mkdir -p "$RESULTS"
cat > "$RESULTS/auth-checks.md" <<MD
# Authentication checks per second (one core)

Run: $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPU(s) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), pinned to CPU 0.
Machine load average (1/5/15 min) before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg) — other work on the
machine slows both sides alike; the .NET rows alternate in rounds for that reason.
Corpus: $(val messages) messages of about $(val avg_size) bytes, each signed by dkimpy (rsa-sha256, 2048-bit key, relaxed/relaxed).
DNS: key, SPF and DMARC records served by a loopback DNS server; the resolver cache is warm
(DNS queries during the measurements: $(val dns_queries_during_measurement)).

| what | messages checked | CPU seconds | **CPU µs per message** | elapsed seconds | per second (elapsed) |
|---|---|---|---|---|---|
| Mail.Auth AuthenticationCheck over the stored bytes (header scan + SPF + DKIM + ARC + DMARC + Authentication-Results) | $(val full_checks) | $(val full_cpu_seconds) | **$(val full_cpu_us)** | $(val full_seconds) | $(val full_per_sec) |
| Mail.Auth DkimChecker only (header scan + DKIM) | $(val dkim_checks) | $(val dkim_cpu_seconds) | **$(val dkim_cpu_us)** | $(val dkim_seconds) | $(val dkim_per_sec) |
| dkimpy $("$PY" -c 'import importlib.metadata as m; print(m.version("dkimpy"))' 2>/dev/null || echo "") \`dkim.verify\` (reference, DKIM only) | $PY_COUNT | $PY_CPU | **$PY_CPU_US** | $PY_SECONDS | $PY_RATE |

Ratios to dkimpy (same run, alternating rounds), by **CPU time per message**: full check **${CPU_RATIO_FULL}×**, DKIM only
**${CPU_RATIO_DKIM}×** (target ≥ 10×); by elapsed time (moves with the load): ${RATIO_FULL}× and ${RATIO_DKIM}×.
Process CPU time: all threads of the process (for .NET the GC's and the DNS cache's too), from \`Environment.CpuUsage\`
and Python's \`time.process_time()\`. .NET ran with DOTNET_TieredCompilation=0 (fully optimized code, as the AOT host).

Each step alone (AuthBench \`breakdown\`, µs per message, one core; the components AuthenticationCheck runs):

| step | CPU µs per message | elapsed µs per message |
|---|---|---|
| MIME parse (MimeMessage.Load of the 4 KB message; not part of the check any more, shown for scale) | $(step parse) |
| header scan (RawMessage.Parse: fields and body offset) | $(step scan) |
| DKIM (DkimChecker.VerifyAsync: tags, key lookup, body hash, header hash, RSA verify) | $(step dkim) |
| of which DKIM-Signature tag parsing (DkimSignatureFields.Parse) | $(step dkim_fields) |
| of which the body hash (DkimBodyHash, relaxed, SHA-256) | $(step dkim_body_hash) |
| SPF (SpfChecker, warm DNS cache) | $(step spf) |
| ARC (no ARC fields in this corpus: the scan for them) | $(step arc) |
| DMARC (From domain, record, alignment) | $(step dmarc) |
| Authentication-Results (build and format) | $(step auth_results) |
| whole AuthenticationCheck.RunAsync (scan included) | $(step full) |

Allocations: $(grep -o 'allocated_bytes_per_full_check=[0-9]*' "$WORK/breakdown.txt" | cut -d= -f2) bytes per full check.

Sanity: $(val warmup_all_pass)/$(val messages) messages got spf=pass dkim=pass dmarc=pass from AuthenticationCheck;
$PY_OK/$PY_MSGS verified with dkimpy. Reproduce with \`bench/auth-checks.sh $COUNT $SECONDS_PER_RUN\`.
MD
cat "$RESULTS/auth-checks.md"
