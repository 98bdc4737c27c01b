#!/usr/bin/env bash
# Runs every test of the project. On a fresh Debian machine with the .NET 10 SDK and Node.js it first
# installs what the tests talk to: swaks (with TLS), Postfix's tools, dkimpy, Dovecot, dnsmasq, knot, unbound, HAProxy, Pebble and Pigeonhole's sieve-test (Debian), Azurite (npm),
# the Bicep CLI (NuGet).
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

# 1. What the tests run for real, checked by what it can do (a program present without its optional parts, such as
#    swaks without Net::SSLeay, fails its check), each check with the Debian packages that give it. Missing ones are
#    installed, then checked again. `./test.sh --deps-only` runs this step, Azurite and imaptest, and stops.
# --- test tools (capability checks) ---
export PATH="$PATH:/usr/sbin"
declare -A capability=(
  ["swaks --support 2>&1 | grep -q '=== TLS supported'"]="swaks libnet-ssleay-perl libio-socket-ssl-perl"
  ["command -v smtp-sink && command -v smtp-source"]=postfix
  ["/usr/bin/python3 -c 'import dkim'"]=python3-dkim
  ["/usr/bin/python3 -c 'import spf'"]=python3-spf
  ["/usr/bin/python3 -c 'import nacl.signing'"]=python3-nacl
  ["/usr/bin/python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519'"]=python3-cryptography
  ["python3 -c 'import smtplib, imaplib, poplib, ssl'"]=python3   # the python3 on PATH: smtplib, imaplib and poplib clients
  ["taskset --version"]=util-linux
  ["/usr/sbin/dovecot --version && /usr/bin/doveadm pw -s SHA512-CRYPT -p x"]=dovecot-imapd
  ["/usr/sbin/dnsmasq --version"]=dnsmasq-base
  ["dig -v"]=bind9-dnsutils
  ["/usr/sbin/knotd --version"]=knot           # DNSSEC: knotd signs the test zones (ValidatingResolver, DANE tests)
  ["/usr/bin/kdig --version"]=knot-dnsutils    # reads the signed zones' DNSKEYs for unbound's trust anchors
  ["/usr/sbin/unbound -V"]=unbound             # the validating resolver that sets the AD bit
  ["/usr/sbin/postsrsd -v"]=postsrsd           # SrsTests: our SRS0 addresses are postsrsd's, both ways
  ["openssl version"]=openssl
  ["/usr/bin/sieve-test --help 2>&1 | grep -q script-file"]=dovecot-sieve   # Pigeonhole's sieve-test: the oracle of Mail.Sieve.Tests
  ["systemd-analyze --version"]=systemd   # verifies deploy/mail.service (DeployTests)
  ["/usr/sbin/haproxy -v"]=haproxy   # PROXY protocol v1/v2 in front of `mail serve` (ProxyProtocolHostTests)
  ["command -v fetchmail"]=fetchmail   # retrieves over POP3 with STLS into an MDA (Pop3HostTests)
  ["sieve-connect --version"]=sieve-connect   # ManageSieve over STARTTLS with AUTHENTICATE PLAIN (ManageSieveHostTests)
  ["curl --version | grep -q imap"]=curl   # README quick start reads the message over IMAP (ReadmeQuickStartTests)
  ["/usr/bin/chromium --version"]=chromium   # the web console's browser tests (ConsoleBrowserTests)
  ["/usr/bin/chromedriver --version"]=chromium-driver   # WebDriver for chromium, driven with Selenium
  ["pebble -h 2>&1 | grep -q dnsserver"]=pebble   # Let's Encrypt's test ACME CA: certificates obtained and renewed (AcmeHostTests)
  ["gcc --version"]=gcc               # Native AOT links the shipped executable with the C toolchain
  ["echo '#include <zlib.h>' | gcc -E -x c -"]=zlib1g-dev
)
has() { bash -c "$1" >/dev/null 2>&1; }
install_test_tools() {
  local missing=() check
  for check in "${!capability[@]}"; do has "$check" || missing+=(${capability[$check]}); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { echo "test.sh: apt-get install ${missing[*]} failed" >&2; return 1; }
  for check in "${!capability[@]}"; do
    has "$check" || { echo "test.sh: still missing after installing ${capability[$check]}: $check" >&2; return 1; }
  done
}
install_test_tools

# The Bicep CLI (a NuGet package that ships the native compiler) into .tools/bicep (git-ignored): a restore-only
# project downloads it, so CI and developers get it the way they get every other package.
bicep_version=0.49.2
bicep="$root/.tools/bicep/bicep"
install_bicep() {
  [ -x "$bicep" ] && "$bicep" --version 2>/dev/null | grep -q "$bicep_version" && return 0
  local fetch="$root/.tools/bicep-fetch"
  mkdir -p "$fetch" "$root/.tools/bicep"
  cat > "$fetch/fetch.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup><PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[$bicep_version]" /></ItemGroup>
</Project>
PROJ
  dotnet restore "$fetch/fetch.csproj" -nologo -v:q >/dev/null || { echo "test.sh: could not restore Azure.Bicep.CommandLine.linux-x64 $bicep_version" >&2; return 1; }
  local packages; packages=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
  cp "$packages/azure.bicep.commandline.linux-x64/$bicep_version/tools/bicep" "$bicep"
  chmod +x "$bicep"
}
install_bicep
# --- end test tools ---

# 2. Azurite (Azure Storage emulator) from npm, into .tools/ (git-ignored). The tests start it themselves.
if [ ! -x .tools/node_modules/.bin/azurite ]; then
  npm install --silent --no-audit --no-fund --prefix .tools azurite@3.35.0 >/dev/null
fi
export AZURITE_PATH="$root/.tools/node_modules/.bin/azurite"

# --- imaptest ---
# Dovecot's IMAP compliance tester, built from shared/testdata/imaptest (beside the repository) into .tools/imaptest;
# build.sh installs dovecot-dev and the C toolchain when missing. Mail.Imap.Tests (ImaptestSuiteTests) runs it.
for d in "$root/.." "$root/../.."; do
  if [ -f "$d/shared/testdata/imaptest/build.sh" ]; then bash "$d/shared/testdata/imaptest/build.sh" "$root/.tools/imaptest" >/dev/null; break; fi
done
# --- end imaptest ---
[ "${1:-}" = "--deps-only" ] && exit 0

# 3a. infra/: `bicep build` and `bicep lint` of what `azd up` provisions, with no error and no warning (the linter's
#     rules, bicepconfig.json). Counted as one test in the closing line. A few seconds.
log=$(mktemp)
bicep_out=$( { "$bicep" build infra/main.bicep --stdout >/dev/null && "$bicep" lint infra/main.bicep; } 2>&1) && bicep_rc=0 || bicep_rc=$?
if [ "$bicep_rc" -eq 0 ] && [ -z "$bicep_out" ]; then
  echo "Passed!  - Failed:     0, Passed:     1, Skipped:     0 (bicep build + lint of infra/)" | tee -a "$log"
else
  printf '%s\n' "$bicep_out"
  echo "Failed!  - Failed:     1, Passed:     0, Skipped:     0 (bicep build + lint of infra/: errors or warnings above)" | tee -a "$log"
fi
status=$bicep_rc; [ -z "$bicep_out" ] || status=1

# 3. Build once, then run every test project one after another (they open real sockets and
#    start real servers; running them side by side on a 2-core machine only adds noise).
dotnet build Cloud.sln -c Release -nologo -v:q -clp:ErrorsOnly
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
