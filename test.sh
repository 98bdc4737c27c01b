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
  [/usr/bin/gcc]=gcc               # Native AOT links the shipped executable with the C toolchain
  [/usr/include/zlib.h]=zlib1g-dev
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

# imaptest (IMAP helper): Dovecot's IMAP compliance tester, built from shared/testdata/imaptest (beside the repository)
# into .tools/imaptest; build.sh installs dovecot-dev and the C toolchain when missing. Mail.Imap.Tests runs it.
for d in "$root/.." "$root/../.."; do
  if [ -x "$d/shared/testdata/imaptest/build.sh" ]; then "$d/shared/testdata/imaptest/build.sh" "$root/.tools/imaptest" >/dev/null; break; fi
done
# end imaptest

# 3. Build once, then run every test project one after another (they open real sockets and
#    start real servers; running them side by side on a 2-core machine only adds noise).
dotnet build Cloud.sln -c Release -nologo -v:q -clp:ErrorsOnly
log=$(mktemp)
status=0
dotnet test Cloud.sln -c Release --no-build -nologo -m:1 --logger "console;verbosity=minimal" 2>&1 | tee "$log" || status=$?

# 4. The shipped build: `mail` published with Native AOT (as edge/Dockerfile does), and every test that runs the
#    executable (host end to end, IMAP host, cloud mode against Azurite) run again against it. Configuration binding,
#    JSON and reflection behave differently there when something is wrong, so the same tests must pass on both.
aot="$root/.aot"
if dotnet publish edge/Mail.Host/Mail.Host.csproj -c Release -r linux-x64 -o "$aot" -nologo -v:q -clp:ErrorsOnly; then
  MAIL_EXECUTABLE="$aot/mail" dotnet test Cloud.sln -c Release --no-build -nologo -m:1 --logger "console;verbosity=minimal" \
    --filter "FullyQualifiedName~Mail.Host.Tests|FullyQualifiedName~Mail.Imap.Tests.HostTests|FullyQualifiedName~Mail.Azure.Tests.CloudHostTests" \
    2>&1 | sed 's/^\(Passed\|Failed\)!/\1! (Native AOT)/' | tee -a "$log" || status=$?
else
  echo "Failed!  - Failed:     1, Passed:     0 (the Native AOT publish of edge/Mail.Host failed)" | tee -a "$log"
  status=1
fi

# 5. One closing line that any CI can read.
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
skipped=$(grep -oE 'Skipped: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status
