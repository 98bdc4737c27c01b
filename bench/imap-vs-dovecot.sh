#!/usr/bin/env bash
# IMAP gateway vs Dovecot: the same 10,000-message mailbox in both, the same MailKit client measuring
# login, SELECT, FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE) and 1,000 full bodies.
# The gateway is `mail serve` (edge/Mail.Host) published as edge/Dockerfile publishes it (Native AOT), as a
# deployment would run it; both servers
# verify the same SHA512-CRYPT password hash (imported into the gateway with `mail user add --password-hash`).
# Needs: dotnet, dovecot (Debian dovecot-imapd), root (Dovecot runs with a temp config, mail owned by nobody).
# Writes bench/results/imap-vs-dovecot.md.   Usage: bench/imap-vs-dovecot.sh [messages] [bodies]
# BUILD=r2r runs a self-contained composite ReadyToRun publish instead, BUILD=jit the `dotnet build` output, for
# comparison; MAIL_BIN=path/to/mail uses a `mail` already published (its directory as published: AOT needs no more).
set -euo pipefail
COUNT=${1:-10000}
BODIES=${2:-1000}
# A MailKit pass is a new client process. The client is published Native AOT (CLIENT_BUILD=aot), as a mail client
# that has been running has its code compiled: built for the JIT (CLIENT_BUILD=jit, as before 8 December) each pass
# compiled MailKit's parser as it went, which was most of every MailKit row and spread one server's passes by +-25%
# (bench/README.md, "MailKit's rows"). Both servers get the same client and the same number of passes.
CLIENT_BUILD=${CLIENT_BUILD:-aot}
RUNS=${RUNS:-15}        # measured warm passes per server (median reported)
COLD_RUNS=${COLD_RUNS:-9}   # cold rounds of each kind (reboot / rebuilt; median reported)
BUILD=${BUILD:-aot}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-"$ROOT/bench/results/imap-vs-dovecot.md"}   # OUT=/tmp/x.md for a trial run
WORK=$(mktemp -d /tmp/imap-bench.XXXXXX)
chmod 755 "$WORK"   # Dovecot's unprivileged processes must reach the maildir and passwd file
USER_NAME=bench@example.test
OTHER_USER=other@example.test   # a second, small mailbox
OTHER_COUNT=200
PBKDF2_USER=pbkdf2@example.test # gateway only: its own default hash (PBKDF2-SHA256, 600,000 iterations), for information
PASSWORD=bench-password
GW_PID=""; DC_PID=""
cleanup() {
  [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null || true
  [ -n "$DC_PID" ] && kill "$DC_PID" 2>/dev/null || true
  [ -n "$GW_PID" ] && wait "$GW_PID" 2>/dev/null || true
  [ -n "$DC_PID" ] && wait "$DC_PID" 2>/dev/null || true
  if [ -f "$WORK/dovecot/dovecot.log" ] && grep -qiE "error|fatal" "$WORK/dovecot/dovecot.log"; then
    echo "--- dovecot log (errors)"; grep -iE "error|fatal" "$WORK/dovecot/dovecot.log" | tail -5
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 900); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; return 1; }

echo "== build the client ($CLIENT_BUILD)"
case "$CLIENT_BUILD" in
  aot) dotnet publish "$ROOT/bench/ImapBench/ImapBench.csproj" -c Release -r linux-x64 -p:PublishAot=true -o "$WORK/bin" -nologo -v q >/dev/null
       CLIENT_BUILD_TEXT="published Native AOT" ;;
  jit) dotnet build "$ROOT/bench/ImapBench/ImapBench.csproj" -c Release -o "$WORK/bin" -nologo -v q >/dev/null
       CLIENT_BUILD_TEXT="built for the JIT: each pass compiles MailKit's code as it goes" ;;
  *) echo "CLIENT_BUILD must be aot or jit" >&2; exit 2 ;;
esac
BENCH="$WORK/bin/ImapBench"
case "${MAIL_BIN:+given}${MAIL_BIN:-$BUILD}" in
  given*) # A `mail` already published (e.g. by imap-cold-ab.sh runs): no publish here.
    mkdir -p "$WORK/mail"; ln -s "$(cd "$(dirname "$MAIL_BIN")" && pwd)/$(basename "$MAIL_BIN")" "$WORK/mail/mail"
    GATEWAY_BUILD="\`$MAIL_BIN\` (given by MAIL_BIN)" ;;
  aot) # Exactly what edge/Dockerfile ships: one native executable, no JIT, no tiering.
    echo "== publish edge/Mail.Host as edge/Dockerfile does (Native AOT)"
    dotnet publish "$ROOT/edge/Mail.Host/Mail.Host.csproj" -c Release -r linux-x64 -o "$WORK/mail" -nologo -v q >/dev/null
    GATEWAY_BUILD="\`dotnet publish -c Release -r linux-x64\` (Native AOT, as edge/Dockerfile ships it)" ;;
  r2r) # The previous shipping form: the app and the framework precompiled together, then tiered up by the JIT.
    dotnet publish "$ROOT/edge/Mail.Host/Mail.Host.csproj" -c Release -r linux-x64 --self-contained true -p:PublishAot=false \
      -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true -o "$WORK/mail" -nologo -v q >/dev/null
    GATEWAY_BUILD="\`dotnet publish -c Release -r linux-x64 --self-contained true -p:PublishAot=false -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true\`" ;;
  jit)
    dotnet build "$ROOT/edge/Mail.Host/Mail.Host.csproj" -c Release -o "$WORK/mail" -nologo -v q >/dev/null
    GATEWAY_BUILD="\`dotnet build -c Release\` (JIT, no ReadyToRun)" ;;
  *) echo "BUILD must be aot, r2r or jit" >&2; exit 2 ;;
esac
MAIL="$WORK/mail/mail"

echo "== generate $COUNT messages"
"$BENCH" generate "$WORK/eml" "$COUNT"

echo "== dovecot $(dovecot --version)"
MAILDIR="$WORK/dovecot/mail/$USER_NAME/Maildir"
mkdir -p "$MAILDIR"/{cur,new,tmp} "$WORK/dovecot/run" "$WORK/dovecot/state"
i=0
for f in "$WORK"/eml/*.eml; do
  i=$((i+1))
  # Maildir file name: unique part, then the size hint Dovecot uses to avoid stat()
  cp "$f" "$MAILDIR/cur/$(basename "$f" .eml).bench,S=$(stat -c %s "$f"):2,"
done
OTHER_MAILDIR="$WORK/dovecot/mail/$OTHER_USER/Maildir"
mkdir -p "$OTHER_MAILDIR"/{cur,new,tmp}
for f in $(ls "$WORK"/eml/*.eml | head -n "$OTHER_COUNT"); do
  cp "$f" "$OTHER_MAILDIR/cur/$(basename "$f" .eml).bench,S=$(stat -c %s "$f"):2,"
done
chown -R nobody:nogroup "$WORK/dovecot/mail"
HASH=$(doveadm pw -s SHA512-CRYPT -p "$PASSWORD")          # "{SHA512-CRYPT}$6$salt$hash", 5,000 rounds
OTHER_HASH=$(doveadm pw -s SHA512-CRYPT -p "$PASSWORD")
echo "$USER_NAME:$HASH" > "$WORK/dovecot/passwd"
echo "$OTHER_USER:$OTHER_HASH" >> "$WORK/dovecot/passwd"
chmod 644 "$WORK/dovecot/passwd"

echo "== gateway: import into $WORK/gateway, the same hashes with mail user add --password-hash"
"$BENCH" import "$WORK/gateway" "$WORK/eml" "$USER_NAME" "$OTHER_USER" "$OTHER_COUNT"
"$MAIL" user add "$USER_NAME" --password-hash "$HASH" --data "$WORK/gateway"
"$MAIL" user add "$OTHER_USER" --password-hash "$OTHER_HASH" --data "$WORK/gateway"
"$MAIL" user add "$PBKDF2_USER" --password "$PASSWORD" --data "$WORK/gateway"
DC_PORT=$(free_port)
cat > "$WORK/dovecot/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $WORK/dovecot/run
state_dir = $WORK/dovecot/state
log_path = $WORK/dovecot/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Successful logins cached, as the gateway's Auth:CacheTtl is set: both skip the hash on repeat logins.
auth_cache_size = 10M
auth_cache_ttl = 1 hour
mail_location = maildir:$WORK/dovecot/mail/%u/Maildir
# The same special-use mailboxes the gateway creates for every user (as Debian's 15-mailboxes.conf lists them), so
# both advertise SPECIAL-USE and MailKit sends both the same LIST (SPECIAL-USE) after logging in.
namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
}
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT $WORK/dovecot/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$WORK/dovecot/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DC_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service imap {
  process_limit = 16
}
CONF
start_dovecot() {
  dovecot -c "$WORK/dovecot/dovecot.conf" -F &
  DC_PID=$!
  wait_port "$DC_PORT"
}
GW_PORT=$(free_port)
GW_CACHE="$WORK/gateway/imap-cache"
start_gateway() { # `mail serve` on the imported data; only the IMAP listener matters, the others on free ports
  # The login cache is on, as auth_cache is in the Dovecot config: both skip the password hash on repeat logins.
  # No delivery work runs (Worker, Maintenance off), as Dovecot here only serves IMAP.
  "$MAIL" serve --data "$WORK/gateway" \
    --Imap:Listeners:0:Name=imap --Imap:Listeners:0:Endpoint="127.0.0.1:$GW_PORT" \
    --Imap:Listeners:1:Name=imaps --Imap:Listeners:1:Endpoint=127.0.0.1:0 --Imap:Listeners:1:ImplicitTls=true \
    --Smtp:Listeners:0:Endpoint=127.0.0.1:0 --Smtp:Listeners:1:Endpoint=127.0.0.1:0 --Smtp:Listeners:2:Endpoint=127.0.0.1:0 \
    --Auth:CacheTtl=01:00:00 --Imap:CacheDirectory="$GW_CACHE" \
    --Worker:Enabled=false --Maintenance:Enabled=false >> "$WORK/gateway.log" 2>&1 &
  GW_PID=$!
  wait_port "$GW_PORT"
}
stop_servers() {
  [ -n "$GW_PID" ] && { kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; }
  [ -n "$DC_PID" ] && { kill "$DC_PID"; wait "$DC_PID" 2>/dev/null || true; }
  GW_PID=""; DC_PID=""
}
measure() { "$BENCH" measure "$1" "$2" "$USER_NAME" "$PASSWORD" "$BODIES" > "$3"; }
measure_wire() { "$BENCH" measure-wire "$1" "$2" "$USER_NAME" "$PASSWORD" "$BODIES" > "$3"; }
restart() { # $1 = keep | rebuild
  stop_servers
  if [ "$1" = rebuild ]; then
    find "$WORK/dovecot/mail" -maxdepth 3 -name 'dovecot*' -exec rm -rf {} +
    rm -rf "$GW_CACHE"
  fi
  start_dovecot
  start_gateway
}
cold_round() { # $1 = file prefix, $2 = round number, $3 = measure | measure_wire: both servers, the order alternating
  local m=${3:-measure}
  if [ $(($2 % 2)) -eq 1 ]; then
    $m dovecot "$DC_PORT" "$WORK/$1-dovecot-$2.tsv"; $m gateway "$GW_PORT" "$WORK/$1-gateway-$2.tsv"
  else
    $m gateway "$GW_PORT" "$WORK/$1-gateway-$2.tsv"; $m dovecot "$DC_PORT" "$WORK/$1-dovecot-$2.tsv"
  fi
  [ "$m" = measure ] || return 0
  # For information: a cold login of a user with the gateway's own default hash (after the measured passes).
  "$BENCH" measure-login gateway "$GW_PORT" "$PBKDF2_USER" "$PASSWORD" > "$WORK/pbkdf2-$1-$2.tsv"
}

# First start: one full pass on each, so Dovecot writes its index files (dovecot.index, .cache, -uidlist) and the
# gateway its ENVELOPE cache file, as they would be on a server that has been in use.
start_dovecot
start_gateway
measure dovecot "$DC_PORT" /dev/null
measure gateway "$GW_PORT" /dev/null

# Cold = a reboot: both servers restarted with their on-disk indexes and caches kept (Dovecot's index files, the
# gateway's SQLite mailbox index and its cache directory: ENVELOPE cache file, message list snapshots); the processes
# start empty.
for r in $(seq 1 "$COLD_RUNS"); do
  echo "== cold (reboot) round $r"
  restart keep
  cold_round cold "$r"
done
# Rebuilt: as above, but Dovecot's index files AND the gateway's cache directory are deleted first, so both rebuild
# them (the gateway's mailbox index is its store, not a cache, and stays).
for r in $(seq 1 "$COLD_RUNS"); do
  echo "== rebuilt round $r"
  restart rebuild
  cold_round rebuilt "$r"
done
# The same rounds with the bare socket client (measure-wire): the servers' own time, without MailKit's parsing.
for r in $(seq 1 "$COLD_RUNS"); do
  echo "== cold (reboot) round $r, bare client"
  restart keep
  cold_round cold-wire "$r" measure_wire
done
for r in $(seq 1 "$COLD_RUNS"); do
  echo "== rebuilt round $r, bare client"
  restart rebuild
  cold_round rebuilt-wire "$r" measure_wire
done
cat "$WORK/gateway.log"

echo "== warm: $RUNS alternating passes on the running servers (the median is reported)"
for r in $(seq 1 "$RUNS"); do
  measure dovecot "$DC_PORT" "$WORK/warm-dovecot-$r.tsv"
  measure gateway "$GW_PORT" "$WORK/warm-gateway-$r.tsv"
  measure_wire dovecot "$DC_PORT" "$WORK/warm-wire-dovecot-$r.tsv"
  measure_wire gateway "$GW_PORT" "$WORK/warm-wire-gateway-$r.tsv"
done
cat "$WORK"/*.tsv

table() { # $1 = file glob prefix (cold / warm): median per step over the runs
  /usr/bin/python3 - "$WORK" "$1" <<'PY'
import glob, statistics, sys
work, kind = sys.argv[1], sys.argv[2]
def load(server):
    steps = {}
    for f in sorted(glob.glob(f"{work}/{kind}-{server}*.tsv")):
        for line in open(f):
            _, step, ms = line.rstrip("\n").split("\t")
            steps.setdefault(step, []).append(float(ms))
    return steps
d, g = load("dovecot"), load("gateway")
print("| step | Dovecot | gateway | gateway / Dovecot |")
print("|---|---:|---:|---:|")
for step in d:
    dm, gm = statistics.median(d[step]), statistics.median(g[step])
    print(f"| {step} | {dm:.1f} | {gm:.1f} | {gm/dm:.2f} |")
PY
}
pbkdf2_median() { # $1 = cold / rebuilt
  /usr/bin/python3 -c 'import glob,statistics,sys; v=[float(l.split("\t")[2]) for f in glob.glob(sys.argv[1]) for l in open(f)]; print(f"{statistics.median(v):.1f}")' "$WORK/pbkdf2-$1-*.tsv"
}

{
  echo "# IMAP gateway vs Dovecot"
  echo
  echo "Generated by \`bench/imap-vs-dovecot.sh $COUNT $BODIES\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr)."
  echo "Same $COUNT-message mailbox (generated, fixed seed) in Dovecot $(dovecot --version | cut -d' ' -f1) (Maildir, passwd-file)"
  echo "and in the gateway, \`mail serve\` (edge/Mail.Host) built with $GATEWAY_BUILD"
  echo "(SQLite mailbox index + the messages in the data directory; IMAP only: Worker and Maintenance off)."
  echo "Both verify the same password hash: the {SHA512-CRYPT} hash (5,000 rounds) made by \`doveadm pw\` for Dovecot's"
  echo "passwd-file is imported into the gateway with \`mail user add --password-hash\`, so a cold login is equal work."
  echo "Both have the same special-use mailboxes (Drafts, Sent, Trash, Junk, Archive), so MailKit sends both the same"
  echo "commands after logging in (NAMESPACE, LIST INBOX, LIST (SPECIAL-USE))."
  echo "One client (MailKit, bench/ImapBench, $CLIENT_BUILD_TEXT) on loopback, plain IMAP. Times in milliseconds; lower is better."
  echo
  echo "## Warm (median of $RUNS passes on running servers, after the cold rounds)"
  echo
  table warm
  echo
  echo "## Cold = a reboot (median of $COLD_RUNS rounds: both servers restarted with their on-disk indexes and caches kept)"
  echo
  echo "Dovecot keeps dovecot.index, dovecot.index.cache and dovecot-uidlist; the gateway keeps its SQLite mailbox index"
  echo "and its cache directory (Imap:CacheDirectory: one file per mailbox with its message list, served only when it carries"
  echo "the UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and count the index reports on that SELECT, and its formatted ENVELOPEs)."
  echo "Both processes start empty; message files stay in the page cache. Both open their user database at start (Dovecot's"
  echo "master starts its auth process; the gateway reads its user directory and loads the hash library before it listens)."
  echo
  table cold
  echo
  echo "## Rebuilt (median of $COLD_RUNS rounds: restarted, Dovecot's index files AND the gateway's cache directory deleted)"
  echo
  echo "Dovecot rebuilds its index and cache from the Maildir; the gateway reads the message list from its mailbox index"
  echo "and re-parses every message for ENVELOPE (its mailbox index is its store of record, not a cache, so it stays)."
  echo
  table rebuilt
  echo
  echo "## The servers' own time: the same steps with a bare socket client"
  echo
  echo "\`ImapBench measure-wire\` sends the same commands (LOGIN, EXAMINE, FETCH 1:*, UID FETCH BODY.PEEK[] each) and only"
  echo "finds the end of each response, skipping literals; it runs every step once against a stand-in server inside its own"
  echo "process first, so its own start-up is not counted. MailKit's parsing, most of FETCH 1:* above, is left out."
  echo "Same rounds as above (cold and rebuilt rounds restart both servers first); median of $RUNS warm passes and"
  echo "$COLD_RUNS cold and rebuilt rounds."
  echo
  echo "Warm:"
  echo
  table warm-wire
  echo
  echo "Cold (a reboot, indexes and caches kept):"
  echo
  table cold-wire
  echo
  echo "Rebuilt (Dovecot's index files and the gateway's cache directory deleted):"
  echo
  table rebuilt-wire
  echo
  echo "For information, gateway only: a cold login (auth cache empty) of a user with the gateway's own default hash,"
  echo "PBKDF2-SHA256 with 600,000 iterations (OWASP 2023; deliberately slow, not weakened for the benchmark):"
  echo "$(pbkdf2_median cold) ms after a reboot, $(pbkdf2_median rebuilt) ms in the rebuilt rounds (median, connect+login)."
  echo
  echo "Login: both servers cache successful logins (Dovecot auth_cache_ttl = 1 hour, gateway Auth:CacheTtl = 1 hour),"
  echo "so a warm login skips the password hash on both; a cold login pays SHA512-CRYPT (5,000 rounds) on both."
  echo "The gateway also keeps formatted ENVELOPEs and SELECTed message lists in memory (Imap:EnvelopeCacheSize,"
  echo "Imap:MessageListCacheSize), as Dovecot keeps its index and cache files mapped."
  echo "Client-side parsing (MailKit, a new process per pass, $CLIENT_BUILD_TEXT) is inside every number, for both servers. The machine is"
  echo "shared (2 cores, other builds running), so single figures vary by tens of percent between runs."
} > "$OUT"
echo "== wrote $OUT"
cat "$OUT"
