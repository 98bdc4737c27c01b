#!/usr/bin/env bash
# Pipeline throughput: a dkimpy-signed SIZE-byte message sent N times by Postfix's smtp-source (-F: the signed file
# as it is; several messages per connection, pipelined) over SESSIONS sessions, and N1 times over one session, to
#   (a) Postfix   - a private instance (queue file fsync'd before 250, then discard): its accept rate;
#   (b) mail serve - every check on (Defences: FCrDNS, DNSBL, restrictions, SPF at MAIL FROM, header checks, spam
#                    score; the inbound stage's SPF, DKIM, DMARC, ARC), DNS answered by a loopback dnsmasq, timed
#                    until the last message is in the INBOX (IMAP STATUS, polled by pipeline-watch.py).
# Reported: delivered msg/s, server CPU per message, the largest backlog seen (accepted - in the INBOX, sampled every
# 0.1 s) and whether the backlog drained within 2 s of the last 250.
# Usage: sudo bench/pipeline-throughput.sh [N=20000] [N1=2000]   (N=0: the one-session runs only)
# Env: SESSIONS (20), SIZE (4096), WARM (2000, unmeasured, per target), BUILD=aot|jit, MAIL_BIN (a `mail` already built),
# PROFILE=sched (perf sched record -a during the one-session run, kept in RESULTS), PROFILE=1 (strace -c of mail
# serve's sync and file calls per run; slows it), PROFILE=count (its syncs, futex calls and context switches per
# message, perf stat on tracepoints; barely slows it) or PROFILE=perf (CPU samples of the
# 20-session run; its samples kept as RESULTS/perf-script.txt.gz for bench/perf-steps.py), RESULTS (bench/results).
# Writes bench/results/pipeline-throughput.{md,json}. Needs root (Postfix), postfix, dnsmasq, dig, /usr/bin/python3 with
# python3-dkim, dotnet. Bounded: fixed counts, every step under `timeout`.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
N=${1:-20000}
N1=${2:-2000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-4096}
WARM=${WARM:-2000}
RESULTS=${RESULTS:-$HERE/results}
WORK=$(mktemp -d /var/tmp/pipeline-bench.XXXXXX)   # a real disk (not tmpfs): fsync must cost what it costs
chmod 755 "$WORK"
PIDS=()
PF=$WORK/postfix
DOMAIN=sender.example      # the signing and sending domain, its SPF, DKIM key and DMARC policy in dnsmasq
SELECTOR=bench
FROM=news@$DOMAIN
RCPT=bench@bench.test
CLIENT=client.$DOMAIN      # 127.0.0.1's PTR and A: FCrDNS passes
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)


. "$HERE/lib.sh"
trap bench_cleanup EXIT

mail_binary

echo "== a dkimpy-signed message (RSA 2048, relaxed/relaxed) from $FROM"
TOOL=$ROOT/tests/Mail.Auth.Tests/Tools/dkimtool.py
/usr/bin/python3 "$TOOL" keygen rsa 2048 >"$WORK/keys"
sed -n 1p "$WORK/keys" | base64 -d >"$WORK/private.pem"
PUBLIC=$(sed -n 2p "$WORK/keys")
/usr/bin/python3 - "$WORK/private.pem" "$SIZE" "$FROM" "$RCPT" "$SELECTOR" "$DOMAIN" >"$WORK/message.eml" <<'PY'
import sys, dkim
key, size, sender, rcpt, selector, domain = open(sys.argv[1], "rb").read(), int(sys.argv[2]), *sys.argv[3:]
line = "The quick brown fox jumps over the lazy dog, again and again, to fill four kilobytes.\r\n"
head = (f"From: News <{sender}>\r\nTo: <{rcpt}>\r\nSubject: pipeline bench\r\nDate: Sun, 06 Dec 2026 12:00:00 +0000\r\n"
        f"Message-ID: <pipeline-bench@{domain}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
body = (line * (size // len(line) + 1))[: max(0, size - len(head) - 500)]
msg = (head + body[: body.rfind("\r\n") + 2]).encode()
signed = dkim.sign(msg, selector.encode(), domain.encode(), key, canonicalize=(b"relaxed", b"relaxed"))
# smtp-source -F appends CRLF to each line it reads: give it LF lines (the wire gets the CRLF text dkimpy signed).
sys.stdout.buffer.write((signed + msg).replace(b"\r\n", b"\n"))
PY
MSG_BYTES=$(stat -c %s "$WORK/message.eml")

echo "== DNS: dnsmasq on loopback (SPF, DKIM key, DMARC, MX, FCrDNS for 127.0.0.1, an empty DNSBL zone)"
DNS_PORT=$(free_port)
# TTLs as real zones have them (dnsmasq's own records default to TTL 0, which no resolver cache keeps); the DKIM key
# as one TXT of 255-byte strings (dnsmasq: one string per comma-separated text; no quotes, they would be data).
KEY_TXT="v=DKIM1; k=rsa; p=$PUBLIC"
KEY_ARG=$(python3 -c 'import sys; s=sys.argv[1]; print(",".join(s[i:i+255] for i in range(0,len(s),255)))' "$KEY_TXT")
dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces --listen-address=127.0.0.1 \
  --local-ttl=300 --local=/$DOMAIN/ --local=/dnsbl.bench.test/ --local=/dbl.bench.test/ --local=/bench.test/ \
  --port="$DNS_PORT" --pid-file= --user=nobody \
  "--txt-record=$DOMAIN,v=spf1 ip4:127.0.0.1 -all" \
  "--txt-record=_dmarc.$DOMAIN,v=DMARC1; p=reject" \
  "--txt-record=$SELECTOR._domainkey.$DOMAIN,$KEY_ARG" \
  --mx-host=$DOMAIN,mx.$DOMAIN,10 --host-record=mx.$DOMAIN,127.0.0.1 \
  --host-record=$CLIENT,127.0.0.1 --ptr-record=1.0.0.127.in-addr.arpa,$CLIENT \
  --log-facility=- 2>"$WORK/dnsmasq.log" &
PIDS+=($!)
for _ in $(seq 1 50); do dig +short -p "$DNS_PORT" @127.0.0.1 "$SELECTOR._domainkey.$DOMAIN" TXT 2>/dev/null | grep -q DKIM1 && break; sleep 0.1; done
dig +short -p "$DNS_PORT" @127.0.0.1 "$SELECTOR._domainkey.$DOMAIN" TXT | grep -q '^"v=DKIM1' || { echo "dnsmasq does not answer" >&2; exit 1; }
dig +short -p "$DNS_PORT" @127.0.0.1 "$DOMAIN" TXT | grep -q '^"v=spf1' || { echo "dnsmasq: no SPF record" >&2; exit 1; }
# The message verifies against what dnsmasq serves (dkimpy, the independent verifier).
DKIMTOOL_TXT="$SELECTOR._domainkey.$DOMAIN=$KEY_TXT" /usr/bin/python3 "$TOOL" verify <"$WORK/message.eml" | grep -q " pass$" \
  || { echo "the signed message does not verify" >&2; exit 1; }

# send TARGET_PORT SESSIONS COUNT [COUNTFILE]: smtp-source, several messages per connection, pipelined; -c counts.
send() { timeout 900 smtp-source -c -d -s "$2" -m "$3" -F "$WORK/message.eml" -f "$FROM" -t "$RCPT" -M "$CLIENT" "127.0.0.1:$1" >"${4:-/dev/null}" 2>"$WORK/source.err" \
  || { echo "smtp-source failed:" >&2; tail -5 "$WORK/source.err" >&2; return 1; }; }

echo "== (a) postfix $(postconf -dh mail_version): queue file fsync'd, then discard"
PF_PORT=$(free_port)
postfix_discard "$PF" "$PF_PORT"
postfix_start "$PF" "$PF_PORT"
pf_pids() { local m; m=$(tr -dc 0-9 <"$PF/queue/pid/master.pid"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')"; }
send "$PF_PORT" "$SESSIONS" "$WARM"
declare -A R
# pf_measure SESSIONS COUNT KEY: sets R[KEY]="msg/s cpu_us machine_us"
pf_measure() {
  local c0 m0 t0 t1 c1 m1
  c0=$(proc_cpu $(pf_pids)); m0=$(machine_cpu); t0=$(now)
  send "$PF_PORT" "$1" "$2"
  t1=$(now); c1=$(proc_cpu $(pf_pids)); m1=$(machine_cpu)
  R[$3]=$(python3 -c "n=$2; print(f'{n/($t1-$t0):.1f} {($c1-$c0)/$TCK/n*1e6:.0f} {($m1-$m0)/$TCK/n*1e6:.0f}')")
  echo "   $1 session(s): ${R[$3]} (accepted msg/s, server CPU µs/msg, machine CPU µs/msg)"
}
if [ "$N" -gt 0 ]; then pf_measure "$SESSIONS" "$N" postfix; else R[postfix]="0 0 0"; fi
pf_measure 1 "$N1" postfix1
sleep 2
POSTFIX_SENT=$(grep -c "status=sent" "$PF/maillog" || true)
postfix -c "$PF/conf" stop >/dev/null

echo "== (b) mail serve, every check on, edge + worker"
DATA=$WORK/mail
"${MAIL[@]}" domain add bench.test --data "$DATA" >/dev/null
"${MAIL[@]}" user add "$RCPT" --password bench --data "$DATA" >/dev/null
printf '/^X-Bench-Never-Present:/ REJECT header check\n/^Subject: .*viagra/ DISCARD\n' >"$WORK/header_checks"
printf '/this body pattern never matches 7f3a/ REJECT body check\n' >"$WORK/body_checks"
SMTP_PORT=$(free_port); IMAP_PORT=$(free_port)
ulimit -n 20000
[ "${PROFILE:-0}" = perf ] && export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
"${MAIL[@]}" serve --data "$DATA" \
  "--Smtp:Listeners:0:Endpoint=127.0.0.1:$SMTP_PORT" "--Smtp:Listeners:1:Endpoint=127.0.0.1:$(free_port)" "--Smtp:Listeners:2:Endpoint=127.0.0.1:$(free_port)" \
  "--Imap:Listeners:0:Endpoint=127.0.0.1:$IMAP_PORT" "--Imap:Listeners:1:Endpoint=127.0.0.1:$(free_port)" \
  --Pop3:Enabled=false --ManageSieve:Enabled=false --Smtp:HostName=mx.bench.test --Smtp:MaxConnectionsPerClient=200 \
  "--Dns:NameServers:0=127.0.0.1:$DNS_PORT" \
  --Defences:MyNetworks:0=192.0.2.0/24 \
  "--Defences:Restrictions:smtpd_client_restrictions=reject_unknown_client_hostname" \
  "--Defences:Restrictions:smtpd_helo_restrictions=reject_invalid_helo_hostname, reject_unknown_helo_hostname" \
  "--Defences:Restrictions:smtpd_sender_restrictions=reject_non_fqdn_sender, reject_unknown_sender_domain, reject_rhsbl_sender dbl.bench.test" \
  "--Defences:Restrictions:smtpd_recipient_restrictions=reject_unauth_destination, reject_rbl_client dnsbl.bench.test, reject_spf_fail" \
  --Defences:DnsblSites:0=dnsbl.bench.test "--Defences:HeaderChecks=regexp:$WORK/header_checks" "--Defences:BodyChecks=regexp:$WORK/body_checks" \
  --Logging:LogLevel:Default=Warning >"$WORK/mail.log" 2>&1 &
MAIL_PID=$!
PIDS+=($MAIL_PID)
wait_port "$SMTP_PORT"
wait_port "$IMAP_PORT"
# Warm-up (JIT, DNS cache, pools), then until the worker has delivered it: the measured runs start from an empty spool.
timeout 600 python3 "$HERE/pipeline-watch.py" "$IMAP_PORT" "$RCPT" bench 0 "$WARM" /dev/null 0.2 600 >"$WORK/warm.json" &
WATCH=$!
send "$SMTP_PORT" "$SESSIONS" "$WARM"
wait "$WATCH" || { echo "the warm-up was not delivered: $(cat "$WORK/warm.json")" >&2; tail -20 "$WORK/mail.log" >&2; exit 1; }

BASE=$WARM   # messages in the INBOX before the next run
# mail_measure SESSIONS COUNT KEY: sets R[KEY]="msg/s cpu_us machine_us max_backlog drain_s accept_msg/s"
mail_measure() {
  local c0 m0 t0 ta c1 m1 watch
  : >"$WORK/count.$3"
  timeout 900 python3 "$HERE/pipeline-watch.py" "$IMAP_PORT" "$RCPT" bench "$BASE" "$2" "$WORK/count.$3" 0.1 900 >"$WORK/watch.$3.json" &
  watch=$!
  sleep 0.5   # logged in
  # PROFILE=1: count the server's sync and file calls during the run (strace slows it: the rates mean nothing then).
  local tracer=""
  # PROFILE=perf: sample the server's CPU (perf record; JIT symbols from DOTNET_PerfMapEnabled) during the 20-session run.
  if [ "${PROFILE:-0}" = perf ] && [ "$1" != 1 ]; then perf record -F 999 -g -p "$MAIL_PID" -o "$WORK/perf.data" >/dev/null 2>&1 & tracer=$!; sleep 1; fi
  # PROFILE=count: the server's syncs and wake-ups per run, counted by kernel tracepoints (perf stat; barely slows it).
  if [ "${PROFILE:-0}" = count ]; then perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_sync_file_range,syscalls:sys_enter_futex,context-switches \
    -p "$MAIL_PID" -o "$WORK/count-calls.$3" & tracer=$!; sleep 1; fi
  # PROFILE=sched: the whole machine's scheduler events during the one-session run (perf sched record -a), kept in
  # RESULTS for `perf sched timehist`: where each thread's time went (running, waiting for the CPU, sleeping).
  if [ "${PROFILE:-0}" = sched ] && [ "$1" = 1 ]; then mkdir -p "$RESULTS"; perf sched record -a -o "$RESULTS/sched.data" >/dev/null 2>&1 & tracer=$!; sleep 1; fi
  if [ "${PROFILE:-0}" = 1 ]; then strace -f -c -e trace=fsync,fdatasync,syncfs,sync_file_range,rename,renameat,renameat2,openat,unlink,unlinkat,pwrite64,write \
    -p "$MAIL_PID" -o "$WORK/strace.$3" 2>/dev/null & tracer=$!; sleep 1; fi
  c0=$(proc_cpu "$MAIL_PID"); m0=$(machine_cpu); t0=$(now)
  send "$SMTP_PORT" "$1" "$2" "$WORK/count.$3"
  ta=$(now)
  wait "$watch" || { echo "not all delivered: $(cat "$WORK/watch.$3.json")" >&2; tail -20 "$WORK/mail.log" >&2; exit 1; }
  c1=$(proc_cpu "$MAIL_PID"); m1=$(machine_cpu)
  if [ -n "$tracer" ]; then kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    if [ "${PROFILE:-0}" = perf ]; then
      echo "   mail serve's CPU by symbol (perf, self time):"
      perf report -i "$WORK/perf.data" --no-children -g none --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | grep '%' | sed -n '1,60s/^/     /p' || true
      echo "   by DSO:"; perf report -i "$WORK/perf.data" --no-children -g none --sort dso --stdio 2>/dev/null | grep -v '^#' | grep '%' | sed -n '1,15s/^/     /p' || true
      # Kept for bench/perf-steps.py (the per-step table): the samples with their call graphs, as text.
      mkdir -p "$RESULTS"; perf script -i "$WORK/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null | gzip >"$RESULTS/perf-script.txt.gz" || true
    elif [ "${PROFILE:-0}" = sched ]; then echo "   per thread: bench/sched-split.py $RESULTS/sched.data $MAIL_PID $2 (perf sched timehist -i $RESULTS/sched.data for the events)"
    elif [ "${PROFILE:-0}" = count ]; then echo "   per message ($2), mail serve:"; awk -F, -v n="$2" '$3 ~ /:|switches/ { printf "     %s %.2f\n", $3, $1 / n }' "$WORK/count-calls.$3"
    else echo "   system calls of mail serve for $2 messages (strace -c):"; sed -n '1,40p' "$WORK/strace.$3" | sed 's/^/     /'; fi; fi
  BASE=$((BASE + $2))
  R[$3]=$(python3 -c "
import json; w=json.load(open('$WORK/watch.$3.json')); n=$2; done=w['done_at']
print(f\"{n/(done-$t0):.1f} {($c1-$c0)/$TCK/n*1e6:.0f} {($m1-$m0)/$TCK/n*1e6:.0f} {w['max_backlog']} {max(0, done-$ta):.2f} {n/($ta-$t0):.1f}\")")
  echo "   $1 session(s): ${R[$3]} (delivered msg/s, server CPU µs/msg, machine CPU µs/msg, largest backlog, drained s after the last 250, accepted msg/s)"
}
if [ "$N" -gt 0 ]; then mail_measure "$SESSIONS" "$N" mail; else R[mail]="0 0 0 0 0 0"; fi
mail_measure 1 "$N1" mail1
# What the checks decided, on the last message delivered.
LAST=$("${MAIL[@]}" mailbox list "$RCPT" --data "$DATA" 2>/dev/null | sed -n 's/.*INBOX: \([0-9]*\) message(s).*/\1/p')
AUTH_RESULTS=$(printf 'a LOGIN "%s" bench\r\nb SELECT INBOX\r\nc FETCH * (BODY.PEEK[HEADER.FIELDS (AUTHENTICATION-RESULTS X-SPAM-STATUS)])\r\nd LOGOUT\r\n' "$RCPT" \
  | timeout 10 python3 -c "
import socket, sys, time
s = socket.create_connection(('127.0.0.1', $IMAP_PORT)); s.sendall(sys.stdin.buffer.read()); time.sleep(1); s.settimeout(2); out = b''
try:
    while True:
        b = s.recv(65536)
        if not b: break
        out += b
except Exception: pass
print(' '.join(l.strip() for l in out.decode(errors='replace').splitlines() if l.lower().startswith(('authentication-results', 'x-spam-status', ' ', '\t'))))" || true)
kill "$MAIL_PID"; wait "$MAIL_PID" 2>/dev/null || true

mkdir -p "$RESULTS"
export N N1 SESSIONS SIZE WARM MSG_BYTES MAIL_BUILD POSTFIX_SENT LAST AUTH_RESULTS LOAD_BEFORE
export R_postfix="${R[postfix]}" R_postfix1="${R[postfix1]}" R_mail="${R[mail]}" R_mail1="${R[mail1]}"
python3 - "$RESULTS" <<'PY'
import json, os, platform, sys, datetime
out = sys.argv[1]
e = os.environ
def pf(v):
    rate, cpu, machine = (float(x) for x in v.split())
    return {"accepted_per_second": rate, "server_cpu_us_per_message": cpu, "machine_cpu_us_per_message": machine}
def ml(v):
    rate, cpu, machine, backlog, drain, accepted = (float(x) for x in v.split())
    return {"delivered_per_second": rate, "server_cpu_us_per_message": cpu, "machine_cpu_us_per_message": machine,
            "max_backlog": int(backlog), "drain_seconds_after_last_250": drain, "accepted_per_second": accepted}
p, p1, m, m1 = pf(e["R_postfix"]), pf(e["R_postfix1"]), ml(e["R_mail"]), ml(e["R_mail1"])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load = open("/proc/loadavg").read().split()[:3]
s, n, n1 = e["SESSIONS"], int(e["N"]), int(e["N1"])
ratio = m["delivered_per_second"] / p["accepted_per_second"] if n else 0.0   # N=0: the one-session runs only
ratio1 = m1["delivered_per_second"] / p1["accepted_per_second"]
doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
       "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "loadavg_before": e["LOAD_BEFORE"].split(), "loadavg_after": load},
       "messages": n, "messages_one_session": n1, "sessions": int(s), "message_bytes": int(e["MSG_BYTES"]), "warmup_messages": int(e["WARM"]),
       "mail_build": e["MAIL_BUILD"], "postfix": p, "postfix_one_session": p1, "mail": m, "mail_one_session": m1,
       "ratio": round(ratio, 2), "ratio_one_session": round(ratio1, 2),
       "postfix_logged_sent": int(e["POSTFIX_SENT"] or 0), "inbox_after": int(e["LAST"] or 0), "last_message_checks": e["AUTH_RESULTS"]}
json.dump(doc, open(os.path.join(out, "pipeline-throughput.json"), "w"), indent=2)
drained = lambda r: "yes" if r["drain_seconds_after_last_250"] <= 2 else "**no**"
lines = [
    "# Pipeline throughput (SMTP → checks → mailbox)", "",
    f"{doc['date']} · {cpu} · {os.cpu_count()} cores · kernel {platform.release()} · load average before {e['LOAD_BEFORE']}, after {' '.join(load)} · "
    f"one dkimpy-signed message of {doc['message_bytes']} bytes sent by `smtp-source -d -F` {n} times over {s} sessions and {n1} times over one, "
    f"after a {doc['warmup_messages']}-message warm-up per target · data on ext4 under /var/tmp", "",
    f"`mail` built with {doc['mail_build']}.", "",
    "| target | sessions | msg/s | server CPU µs/msg | machine CPU µs/msg | largest backlog | drained ≤ 2 s after the last 250 |",
    "|---|---|---|---|---|---|---|",
    f"| Postfix 3.7, accepted (queue file fsync'd before 250, then discard) | {s} | {p['accepted_per_second']:.0f} | {p['server_cpu_us_per_message']:.0f} | {p['machine_cpu_us_per_message']:.0f} | — | — |",
    f"| mail serve, delivered to the INBOX (every check on) | {s} | {m['delivered_per_second']:.0f} | {m['server_cpu_us_per_message']:.0f} | {m['machine_cpu_us_per_message']:.0f} | {m['max_backlog']} | {drained(m)} ({m['drain_seconds_after_last_250']:.2f} s; accepted {m['accepted_per_second']:.0f}/s) |",
    f"| Postfix 3.7, accepted | 1 | {p1['accepted_per_second']:.0f} | {p1['server_cpu_us_per_message']:.0f} | {p1['machine_cpu_us_per_message']:.0f} | — | — |",
    f"| mail serve, delivered to the INBOX | 1 | {m1['delivered_per_second']:.0f} | {m1['server_cpu_us_per_message']:.0f} | {m1['machine_cpu_us_per_message']:.0f} | {m1['max_backlog']} | {drained(m1)} ({m1['drain_seconds_after_last_250']:.2f} s; accepted {m1['accepted_per_second']:.0f}/s) |",
    "",
    (f"Delivered ÷ Postfix's accept rate: **{ratio:.2f}×** at {s} sessions (target ≥ 3×: {'met' if ratio >= 3 else 'not met'}), " if n else "Delivered ÷ Postfix's accept rate (N=0: no run at several sessions): ") +
    f"**{ratio1:.2f}×** at 1 session (target ≥ 3×: {'met' if ratio1 >= 3 else 'not met'}).", "",
    "Time runs from the first connection to the moment IMAP STATUS shows the last message in the INBOX (polled every 0.1 s); "
    "the backlog is smtp-source's running count of 250s minus the INBOX count, sampled at the same moments. "
    "Server CPU: `mail serve`'s process (edge, worker and IMAP) or Postfix's master and children; machine CPU: all busy time, smtp-source included. "
    "Not equal work: Postfix discards after its queue file is durable and checks nothing; `mail serve` runs every check and writes each message "
    "to the mailbox (copy + index) before it counts.", "",
    f"Sanity: Postfix logged {doc['postfix_logged_sent']} discarded deliveries; the INBOX holds {doc['inbox_after']} messages; "
    f"the last one's check results: `{doc['last_message_checks'][:400]}`.", "",
]
if not n: lines = [l for l in lines if not l.startswith(f"| ") or "| 1 |" in l or l.startswith("| target") or l.startswith("|---")]
open(os.path.join(out, "pipeline-throughput.md"), "w").write("\n".join(lines))
print("\n".join(lines))
PY
