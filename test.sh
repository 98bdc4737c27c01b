#!/usr/bin/env bash
# Runs every test of the project. On a fresh Debian machine with the .NET 10 SDK and Node.js it first
# installs what the tests talk to: swaks, Postfix's tools, dkimpy, Dovecot, dnsmasq (Debian), Azurite (npm).
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

# 1. Debian packages the tests run for real (installed only when missing).
declare -A need=(
  [/usr/bin/swaks]=swaks
  [/usr/sbin/smtp-source]=postfix
  [/usr/lib/python3/dist-packages/dkim/__init__.py]=python3-dkim
  [/usr/lib/python3/dist-packages/spf.py]=python3-spf
  [/usr/lib/python3/dist-packages/nacl]=python3-nacl
  [/usr/lib/python3/dist-packages/cryptography]=python3-cryptography
  [/usr/bin/taskset]=util-linux
  [/usr/sbin/dovecot]=dovecot-imapd
  [/usr/sbin/dnsmasq]=dnsmasq-base
  [/usr/bin/dig]=bind9-dnsutils
)
missing=()
for f in "${!need[@]}"; do [ -e "$f" ] || missing+=("${need[$f]}"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Azurite (Azure Storage emulator) from npm, into .tools/ (git-ignored). The tests start it themselves.
if [ ! -x .tools/node_modules/.bin/azurite ]; then
  npm install --silent --no-audit --no-fund --prefix .tools azurite@3.35.0 >/dev/null
fi
export AZURITE_PATH="$root/.tools/node_modules/.bin/azurite"

# 3. Build once, then run every test project one after another (they open real sockets and
#    start real servers; running them side by side on a 2-core machine only adds noise).
dotnet build Cloud.sln -c Release -nologo -v:q -clp:ErrorsOnly
log=$(mktemp)
status=0
dotnet test Cloud.sln -c Release --no-build -nologo -m:1 --logger "console;verbosity=minimal" 2>&1 | tee "$log" || status=$?

# 4. One closing line that any CI can read.
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
skipped=$(grep -oE 'Skipped: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status
