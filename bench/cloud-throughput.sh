#!/usr/bin/env bash
# SMTP → mailbox throughput through Azurite (cloud mode: Blob + Storage Queue + InboundFunction + Table) against
# embedded mode (files + spool + LocalWorker + SQLite), same load, one run (bench/cloud-throughput/Program.cs).
# Writes bench/results/cloud-throughput.{md,json}. Needs dotnet and Azurite (AZURITE_PATH, ./.tools, ./node_modules
# or /tmp/azurite-npm). Bounded: MSGS messages per mode; every step under `timeout`.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
MSGS=${MSGS:-300}
SESSIONS=${SESSIONS:-4}
SIZE=${SIZE:-4096}
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; }
trap cleanup EXIT

. "$HERE/lib.sh"

AZURITE=""
for c in "${AZURITE_PATH:-}" "$ROOT/.tools/node_modules/.bin/azurite" "$ROOT/node_modules/.bin/azurite" /tmp/azurite-npm/node_modules/.bin/azurite "$(command -v azurite || true)"; do
  if [ -n "$c" ] && [ -x "$c" ]; then AZURITE=$c; break; fi
done
[ -n "$AZURITE" ] || { echo "azurite not found (set AZURITE_PATH or npm install azurite)" >&2; exit 1; }

BP=$(free_port); QP=$(free_port); TP=$(free_port)
"$AZURITE" --inMemoryPersistence --silent --skipApiVersionCheck --loose --disableTelemetry \
  --blobHost 127.0.0.1 --blobPort "$BP" --queueHost 127.0.0.1 --queuePort "$QP" --tableHost 127.0.0.1 --tablePort "$TP" >/dev/null 2>&1 &
PID=$!
wait_port "$BP"; wait_port "$QP"; wait_port "$TP"
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
CS="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$KEY;BlobEndpoint=http://127.0.0.1:$BP/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$QP/devstoreaccount1;TableEndpoint=http://127.0.0.1:$TP/devstoreaccount1;"

echo "== building (Release)"
timeout 900 dotnet build "$HERE/cloud-throughput/CloudThroughput.csproj" -c Release -nologo -v q >/dev/null
mkdir -p "$HERE/results"
timeout 1500 dotnet "$HERE/cloud-throughput/bin/Release/net10.0/CloudThroughput.dll" \
  --azurite "$CS" --messages "$MSGS" --sessions "$SESSIONS" --size "$SIZE" --out "$HERE/results"
echo "== wrote $HERE/results/cloud-throughput.md"
