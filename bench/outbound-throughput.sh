#!/usr/bin/env bash
# Outbound throughput: N SIZE-byte messages submitted, relayed and delivered to Postfix's smtp-sink on loopback, by
#   (a) mail serve - submission listener with AUTH PLAIN, DKIM-signed (`mail dkim add`: RSA + Ed25519), routed by an
#                    MX lookup answered by a loopback dnsmasq, delivered to smtp-sink via --Outbound:RemotePort;
#   (b) Postfix    - a private instance in a temp dir, accepting the same messages from mynetworks (no SASL),
#                    relaying them with relayhost = [127.0.0.1]:<smtp-sink port> (no MX lookup), no DKIM milter;
#   (b2) the same Postfix taking the messages only with AUTH PLAIN (smtpd_sasl_type = dovecot: a private Dovecot's
#                    auth service over a passwd-file, SHA512-CRYPT), as a 587 submission service does; no milter;
#   (c) the same Postfix with OpenDKIM as smtpd milter (RSA 2048), if opendkim is installed.
# Measured: from the first submission to the last message counted by smtp-sink (-c), and the CPU time of the server
# (its process; for Postfix master + its children, exited ones through master's cutime; with SASL also Dovecot's master
# and its auth processes) and of the whole machine.
# Writes bench/results/outbound-throughput.{md,json}. Needs root (Postfix), postfix, dnsmasq, python3, dotnet.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
MSGS=${MSGS:-2000}
SIZE=${SIZE:-4096}
SESSIONS=${SESSIONS:-10}
WARM=${WARM:-300}    # unmeasured: JIT, connection caches, DNS cache, Postfix process pools
# MAIL_ARGS: more arguments for `mail serve` (--Logging:LogLevel:Mail.Outbound.OutboundStage=Information gives the
# delivery log, whose delays= splits each message's time); MAIL_LOG=FILE keeps its output.
RESULTS=${RESULTS:-$HERE/results}
WORK=$(mktemp -d /var/tmp/outbound-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
PF=$WORK/postfix
FROM=alice@example.org
RCPT=bob@sink.test

. "$HERE/lib.sh"
trap bench_cleanup EXIT
sink_count() { tr '\r' '\n' <"$SINK_OUT" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1; }
wait_sink() { # wait_sink COUNT: until smtp-sink has counted COUNT messages (bounded)
  for _ in $(seq 1 6000); do [ "$(sink_count || echo 0)" -ge "$1" ] 2>/dev/null && return 0; sleep 0.05; done
  echo "smtp-sink counted $(sink_count) of $1" >&2; return 1; }

mail_binary

# One smtp-sink for both targets, dumping each message (to check the DKIM-Signature) and counting (-c).
SINK_PORT=$(free_port)
SINK_OUT=$WORK/sink.out
mkdir -p "$WORK/sink"; chmod 777 "$WORK/sink"
smtp-sink -u postfix -c -d "$WORK/sink/%M." "127.0.0.1:$SINK_PORT" 1024 >"$SINK_OUT" 2>&1 &
SINK_PID=$!
PIDS+=($SINK_PID)
wait_port "$SINK_PORT"

# measure NAME PORT PIDFN [USER PASSWORD]: warm-up, then MSGS messages; sets R_<NAME>_*.
measure() {
  local name=$1 port=$2 pidfn=$3; shift 3
  local base c0 m0 c1 m1 t0 t1
  base=$(sink_count); base=${base:-0}
  timeout 600 python3 "$HERE/outbound-submit.py" "$port" "$WARM" "$SESSIONS" "$SIZE" "$FROM" "$RCPT" "$@" >/dev/null
  wait_sink $((base + WARM))
  sleep 1
  base=$(sink_count)
  # PROFILE=1 (mail serve's row only): count its system calls during the measured part (strace -f -c; slows it, so the
  # rates mean nothing then); PROFILE=stack: its syncs (or STRACE_CALLS=call,call) with the stacks that issued them (strace -k).
  local tracer=""
  if [ "$name" = mail ] && [ "${PROFILE:-0}" = 1 ]; then
    strace -f -c -p "$($pidfn)" -o "$WORK/strace.$name" 2>/dev/null & tracer=$!; sleep 1
  elif [ "$name" = mail ] && [ "${PROFILE:-0}" = calls ]; then
    # PROFILE=calls: the managed call stacks of chosen system calls (PERF_EVENTS=syscalls:sys_enter_X,...), for
    # `perf report`; run with DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 so JIT'd frames have names.
    perf record -g -e "${PERF_EVENTS:-syscalls:sys_enter_fdatasync}" -p "$($pidfn)" -o "$WORK/perf.$name" >/dev/null 2>&1 & tracer=$!; sleep 1
  elif [ "$name" = mail ] && [ "${PROFILE:-0}" = stack ]; then
    strace -f -k -e "trace=${STRACE_CALLS:-fsync,fdatasync}" -p "$($pidfn)" -o "$WORK/strace.$name" 2>/dev/null & tracer=$!; sleep 1
  fi
  c0=$(proc_cpu $($pidfn)); m0=$(machine_cpu); t0=$(now)
  timeout 900 python3 "$HERE/outbound-submit.py" "$port" "$MSGS" "$SESSIONS" "$SIZE" "$FROM" "$RCPT" "$@" >/dev/null
  local t_sub; t_sub=$(now)
  wait_sink $((base + MSGS))
  t1=$(now); c1=$(proc_cpu $($pidfn)); m1=$(machine_cpu)
  if [ -n "$tracer" ]; then
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    mkdir -p "$RESULTS"
    if [ "${PROFILE:-0}" = calls ]; then perf script -i "$WORK/perf.$name" 2>/dev/null | gzip >"$RESULTS/perf-calls-$name.txt.gz"
    else cp "$WORK/strace.$name" "$RESULTS/strace-$name.txt"; fi
    echo "   system calls of mail serve for $MSGS messages: $RESULTS/"
  fi
  local r
  r=$(python3 -c "n=$MSGS; dt=$t1-$t0; print(f'{n/dt:.1f} {($t_sub-$t0):.2f} {dt:.2f} {($c1-$c0)/$TCK/n*1e6:.0f} {($m1-$m0)/$TCK/n*1e6:.0f}')")
  printf -v "R_$name" '%s' "$r"
  echo "   $name: $(eval echo \$R_${name}) (msg/s, submit s, total s, server CPU µs/msg, machine CPU µs/msg)"
}

echo "== DNS: dnsmasq on loopback, MX sink.test -> mx.sink.test -> 127.0.0.1"
DNS_PORT=$(free_port)
# Real zones have TTLs and answer AAAA with NODATA; dnsmasq's defaults (TTL 0 for its own records, REFUSED for the
# AAAA it does not hold) made every message repeat MX, A and AAAA queries that no resolver cache could keep.
dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces --listen-address=127.0.0.1 \
  --local-ttl=300 --local=/sink.test/ \
  --port="$DNS_PORT" --pid-file= --user=nobody --mx-host=sink.test,mx.sink.test,10 --host-record=mx.sink.test,127.0.0.1 \
  --log-facility=- 2>"$WORK/dnsmasq.log" &
PIDS+=($!)
for _ in $(seq 1 50); do dig +short -p "$DNS_PORT" @127.0.0.1 sink.test MX 2>/dev/null | grep -q mx.sink.test && break; sleep 0.1; done
dig +short -p "$DNS_PORT" @127.0.0.1 sink.test MX | grep -q mx.sink.test || { echo "dnsmasq does not answer" >&2; exit 1; }

echo "== (a) mail serve: submission + AUTH, DKIM, MX lookup, smtp-sink"
DATA=$WORK/mail
"${MAIL[@]}" domain add example.org --data "$DATA" >/dev/null
"${MAIL[@]}" user add "$FROM" --password bench --data "$DATA" >/dev/null
"${MAIL[@]}" dkim add example.org --data "$DATA" >"$WORK/dkim.txt"
SUB_PORT=$(free_port)
"${MAIL[@]}" serve --data "$DATA" \
  "--Smtp:Listeners:0:Endpoint=127.0.0.1:$(free_port)" "--Smtp:Listeners:1:Endpoint=127.0.0.1:$SUB_PORT" "--Smtp:Listeners:2:Endpoint=127.0.0.1:$(free_port)" \
  --Smtp:AllowPlaintextAuthOnLoopback=true --Smtp:HostName=mail.example.org --Imap:Enabled=false --Pop3:Enabled=false --ManageSieve:Enabled=false \
  "--Dns:NameServers:0=127.0.0.1:$DNS_PORT" "--Outbound:RemotePort=$SINK_PORT" --Outbound:TlsPolicy=None \
  --Logging:LogLevel:Default=Warning ${MAIL_ARGS:-} >"$WORK/mail.log" 2>&1 &
MAIL_PID=$!
PIDS+=($MAIL_PID)
wait_port "$SUB_PORT"
mail_pid() { echo "$MAIL_PID"; }
measure mail "$SUB_PORT" mail_pid "$FROM" bench
SIGS=$(grep -c "^DKIM-Signature:" "$(ls -d "$WORK"/sink/* | tail -1)" || true)
kill "$MAIL_PID"; wait "$MAIL_PID" 2>/dev/null || true
[ -n "${MAIL_LOG:-}" ] && cp "$WORK/mail.log" "$MAIL_LOG"
rm -f "$WORK"/sink/*

echo "== (b) postfix $(postconf -dh mail_version): mynetworks, relayhost [127.0.0.1]:$SINK_PORT"
PF_PORT=$(free_port)
postfix_configure "$PF" "$PF_PORT" mail.example.org <<CONF
mydestination =
relayhost = [127.0.0.1]:$SINK_PORT
smtp_tls_security_level = none
CONF
postfix_start "$PF" "$PF_PORT"
pf_pids() { local m; m=$(tr -dc 0-9 <"$PF/queue/pid/master.pid"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')"; }
measure postfix "$PF_PORT" pf_pids
sleep 1
POSTFIX_SENT=$(grep -c "status=sent" "$PF/maillog" || true)
postfix -c "$PF/conf" stop >/dev/null

# (b2) the same Postfix, but relaying only for clients that authenticate (no mynetworks), through Dovecot SASL: both
# sides then do AUTH PLAIN per session. DOVECOT_SASL=0 skips it.
R_postfix_sasl=""
if [ "${DOVECOT_SASL:-1}" != 0 ] && command -v dovecot >/dev/null && command -v doveadm >/dev/null; then
  echo "== (b2) postfix + Dovecot $(dovecot --version | cut -d' ' -f1) SASL (AUTH PLAIN, passwd-file)"
  DV=$WORK/dovecot
  mkdir -p "$DV/run"
  echo "$FROM:$(doveadm pw -s SHA512-CRYPT -p bench)" >"$DV/passwd"
  chmod 644 "$DV/passwd"
  cat >"$DV/dovecot.conf" <<CONF
protocols =
base_dir = $DV/run
log_path = $DV/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT $DV/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener $DV/auth-client {
    mode = 0666
  }
}
CONF
  dovecot -F -c "$DV/dovecot.conf" >"$DV/stdout.log" 2>&1 &
  DOVECOT_PID=$!
  PIDS+=($DOVECOT_PID)
  for _ in $(seq 1 100); do [ -S "$DV/auth-client" ] && break; sleep 0.1; done
  [ -S "$DV/auth-client" ] || { echo "dovecot auth socket never appeared:" >&2; cat "$DV/dovecot.log" "$DV/stdout.log" >&2; exit 1; }
  postconf -c "$PF/conf" -e "mynetworks = 127.255.255.255/32" "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = dovecot" \
    "smtpd_sasl_path = $DV/auth-client" "smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination"
  postfix_start "$PF" "$PF_PORT"
  pf_sasl_pids() { echo "$(pf_pids) $DOVECOT_PID $(pgrep -P "$DOVECOT_PID" | tr '\n' ' ')"; }
  measure postfix_sasl "$PF_PORT" pf_sasl_pids "$FROM" bench
  postfix -c "$PF/conf" stop >/dev/null
  kill "$DOVECOT_PID"; wait "$DOVECOT_PID" 2>/dev/null || true
  postconf -c "$PF/conf" -e "mynetworks = 127.0.0.0/8" "smtpd_sasl_auth_enable = no"
  postconf -c "$PF/conf" -X smtpd_sasl_type smtpd_sasl_path smtpd_relay_restrictions
else
  echo "== (b2) skipped: DOVECOT_SASL=0, or dovecot not installed"
fi

# (c) the same Postfix with OpenDKIM as its milter (RSA 2048, relaxed/relaxed): installed here when missing (Debian's
# opendkim and opendkim-tools install cleanly; the package's own service is not used), skipped if that fails.
R_postfix_dkim=""; PF_SIGS=0
if [ "${OPENDKIM:-1}" != 0 ] && ! command -v opendkim >/dev/null && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends opendkim opendkim-tools >/dev/null 2>&1 \
    || echo "== apt-get install opendkim opendkim-tools failed: no OpenDKIM row" >&2
fi
# OPENDKIM=0 skips it (a short A/B run of our side against Postfix).
if [ "${OPENDKIM:-1}" != 0 ] && command -v opendkim >/dev/null && command -v opendkim-genkey >/dev/null; then
  echo "== (c) postfix + OpenDKIM $(opendkim -V 2>&1 | sed -n 's/.*OpenDKIM Filter v\([0-9.]*\).*/\1/p' | head -1) milter"
  mkdir -p "$WORK/opendkim"
  opendkim-genkey -b 2048 -d example.org -s bench -D "$WORK/opendkim"
  MILTER_PORT=$(free_port)
  cat >"$WORK/opendkim/opendkim.conf" <<CONF
Syslog no
Mode s
Domain example.org
Selector bench
KeyFile $WORK/opendkim/bench.private
Socket inet:$MILTER_PORT@127.0.0.1
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
RequireSafeKeys false
Background no
PidFile $WORK/opendkim/pid
CONF
  opendkim -f -x "$WORK/opendkim/opendkim.conf" >"$WORK/opendkim.log" 2>&1 &
  DKIM_PID=$!
  PIDS+=($DKIM_PID)
  wait_port "$MILTER_PORT"
  postconf -c "$PF/conf" -e "smtpd_milters = inet:127.0.0.1:$MILTER_PORT" "milter_default_action = tempfail"
  rm -f "$WORK"/sink/*
  postfix_start "$PF" "$PF_PORT"
  pf_dkim_pids() { echo "$(pf_pids) $DKIM_PID"; }
  measure postfix_dkim "$PF_PORT" pf_dkim_pids
  PF_SIGS=$(grep -c "^DKIM-Signature:" "$(ls -d "$WORK"/sink/* | tail -1)" || true)
  postfix -c "$PF/conf" stop >/dev/null
else
  echo "== (c) skipped: OPENDKIM=0, or opendkim not installed (apt-get install opendkim opendkim-tools)"
fi

# (d) the submission client alone, straight to smtp-sink (no server; no AUTH, which smtp-sink does not offer): the most
# any server could deliver from this client on this machine, so what a ratio to Postfix can reach. CLIENT=0 skips it.
R_client=""
if [ "${CLIENT:-1}" != 0 ]; then
  echo "== (d) the submission client straight to smtp-sink: its ceiling"
  sink_pid() { echo "$SINK_PID"; }
  measure client "$SINK_PORT" sink_pid
fi

mkdir -p "$RESULTS"
export MSGS SIZE SESSIONS WARM MAIL_BUILD R_mail R_postfix R_postfix_sasl R_postfix_dkim R_client PF_SIGS SIGS POSTFIX_SENT
python3 - "$RESULTS" <<'PY'
import json, os, platform, sys, datetime
out = sys.argv[1]
def parse(v):
    rate, sub, total, server, machine = (float(x) for x in v.split())
    return {"messages_per_second": rate, "submit_seconds": sub, "total_seconds": total,
            "server_cpu_us_per_message": server, "machine_cpu_us_per_message": machine}
mail, pf = parse(os.environ["R_mail"]), parse(os.environ["R_postfix"])
pfd = parse(os.environ["R_postfix_dkim"]) if os.environ.get("R_postfix_dkim") else None
pfs = parse(os.environ["R_postfix_sasl"]) if os.environ.get("R_postfix_sasl") else None
client = parse(os.environ["R_client"]) if os.environ.get("R_client") else None
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load = open("/proc/loadavg").read().split()[:3]
doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "loadavg_after": load},
    "messages": int(os.environ["MSGS"]), "message_bytes": int(os.environ["SIZE"]), "sessions": int(os.environ["SESSIONS"]),
    "warmup_messages": int(os.environ["WARM"]), "mail_build": os.environ["MAIL_BUILD"],
    "mail": mail, "postfix": pf, "postfix_dovecot_sasl": pfs, "postfix_opendkim": pfd, "client_to_smtp_sink": client,
    "ratio_messages_per_second": round(mail["messages_per_second"] / pf["messages_per_second"], 2),
    "ratio_messages_per_second_vs_dovecot_sasl": round(mail["messages_per_second"] / pfs["messages_per_second"], 2) if pfs else None,
    "ratio_messages_per_second_vs_opendkim": round(mail["messages_per_second"] / pfd["messages_per_second"], 2) if pfd else None,
    "postfix_opendkim_signatures_per_message": int(os.environ["PF_SIGS"] or 0),
    "dkim_signatures_per_message": int(os.environ["SIGS"] or 0),
    "postfix_logged_sent": int(os.environ["POSTFIX_SENT"] or 0),
}
json.dump(doc, open(os.path.join(out, "outbound-throughput.json"), "w"), indent=2)
r = doc["ratio_messages_per_second"]
row = lambda name, d: (f"| {name} | {d['messages_per_second']:.0f} | {d['submit_seconds']:.1f} | {d['total_seconds']:.1f} | "
                       f"{d['server_cpu_us_per_message']:.0f} | {d['machine_cpu_us_per_message']:.0f} |")
lines = [
    "# Outbound throughput", "",
    f"{doc['date']} · {cpu} · {os.cpu_count()} cores · kernel {platform.release()} · load average after the run {' '.join(load)} · "
    f"{doc['messages']} messages of {doc['message_bytes']} bytes over {doc['sessions']} sessions after a {doc['warmup_messages']}-message warm-up, "
    "one recipient each, delivered to one `smtp-sink -c -d` on loopback", "",
    f"`mail` built with {doc['mail_build']}.", "",
    "| target | delivered msg/s | all submitted (s) | last one at smtp-sink (s) | server CPU µs/msg | machine CPU µs/msg |",
    "|---|---|---|---|---|---|",
    row("mail serve: submission + AUTH PLAIN, DKIM-signed (RSA + Ed25519), MX lookup (dnsmasq), smtp-sink", mail),
    row("Postfix 3.7: from mynetworks (no SASL), relayhost [127.0.0.1]:port (no MX lookup), no DKIM milter", pf),
] + ([row("Postfix 3.7: AUTH PLAIN through Dovecot SASL (passwd-file, SHA512-CRYPT), not from mynetworks; no DKIM milter; otherwise as above", pfs)] if pfs else []) + ([row("Postfix 3.7 + OpenDKIM milter (RSA 2048, relaxed/relaxed), otherwise as above", pfd)] if pfd else []) + ([row("the submission client alone, straight to smtp-sink (no server, no AUTH): its ceiling; server CPU = smtp-sink's", client)] if client else []) + [
    "",
    f"mail serve ÷ Postfix, delivered messages per second: **{r:.2f}×** without a milter"
    + (f", **{doc['ratio_messages_per_second_vs_opendkim']:.2f}×** against Postfix + OpenDKIM" if pfd else " (OpenDKIM not installed: no milter row)")
    + (f", **{doc['ratio_messages_per_second_vs_dovecot_sasl']:.2f}×** against Postfix with Dovecot SASL" if pfs else "")
    + f" (target ≥ 2×: {'met' if r >= 2 else 'not met'} against Postfix without a milter)."
    + (f" The client alone reaches {client['messages_per_second']:.0f} msg/s at smtp-sink, "
       f"{client['messages_per_second'] / pf['messages_per_second']:.2f}× Postfix's rate: no server can show more than that ratio with this client."
       if client else ""), "",
    "Time runs from the first submission to the last message counted by smtp-sink. Server CPU: `mail serve`'s process; "
    "for Postfix its master and every child (exited ones through master's cutime/cstime: smtpd, cleanup, qmgr, smtp, trivial-rewrite), "
    "with SASL also Dovecot's master and its auth processes. "
    "Machine CPU: all busy time in /proc/stat, so it includes the Python submission client, smtp-sink, and anything else running.", "",
    "Not equal work: each message of ours is authenticated (AUTH PLAIN per session), DKIM-signed twice and routed by an MX lookup "
    "(cached); Postfix takes the same messages from mynetworks without SASL (or, in the Dovecot SASL row, with AUTH PLAIN per session "
    "as ours) and relays to a fixed host, signing nothing or, with OpenDKIM, one RSA signature (its CPU counted in the server column).", "",
    f"Sanity: each message at smtp-sink from mail serve carried {doc['dkim_signatures_per_message']} DKIM-Signature field(s); "
    f"Postfix logged {doc['postfix_logged_sent']} status=sent (warm-up included, no milter); "
    f"the last message from Postfix + OpenDKIM carried {doc['postfix_opendkim_signatures_per_message']} DKIM-Signature field(s).", "",
]
open(os.path.join(out, "outbound-throughput.md"), "w").write("\n".join(lines))
print("\n".join(lines))
PY
