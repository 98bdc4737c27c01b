# Sourced by the bench scripts: loopback ports, a clock, and a private Postfix instance to measure beside ours.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
now() { date +%s.%N; }

# postfix_configure DIR PORT HOSTNAME < LINES: a Postfix instance in DIR (conf/, queue/, data/, maillog) with smtpd on
# 127.0.0.1:PORT and mynetworks 127.0.0.0/8. The lines on standard input are added to main.cf: what the run does
# with the mail it accepts (local discard, a relayhost, ...). Debian's master.cf, with no chroot (the jail would
# have to be built inside the temp queue dir), and no artificial slow-down or per-client limits: the benches
# measure the pipeline, not the policy.
postfix_configure() {
  local dir=$1 port=$2 hostname=$3
  mkdir -p "$dir/conf" "$dir/queue" "$dir/data"
  chown postfix:postfix "$dir/data"
  awk -v port="$port" '
    /^smtp[ \t]+inet/ { print "127.0.0.1:" port " inet n - n - - smtpd"; next }
    /^[a-z]/ && NF >= 8 && ($2 == "unix" || $2 == "inet" || $2 == "unix-dgram" || $2 == "fifo" || $2 == "pass") { $5 = "n" }
    { print }' /etc/postfix/master.cf >"$dir/conf/master.cf"
  cat >"$dir/conf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = $hostname
mydomain = ${hostname#*.}
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
smtputf8_enable = no
biff = no
in_flow_delay = 0s
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 200
CONF
  cat >>"$dir/conf/main.cf"
}

# postfix_discard DIR PORT: a Postfix that accepts any recipient at bench.test and discards it: cleanup writes and
# fsyncs the queue file before smtpd answers 250 (Postfix's durability), and delivery costs nothing.
postfix_discard() {
  postfix_configure "$1" "$2" bench.localdomain <<CONF
mydestination = bench.test
local_recipient_maps =
local_transport = discard:
default_transport = discard:
CONF
}

# postfix_start DIR PORT: starts the instance postfix_configure wrote and waits for its smtpd.
postfix_start() {
  postfix -c "$1/conf" check >/dev/null 2>&1 || postfix -c "$1/conf" set-permissions >/dev/null 2>&1 || true
  postfix -c "$1/conf" start >/dev/null 2>&1 || { echo "postfix did not start:" >&2; tail -5 "$1/maillog" >&2; exit 1; }
  wait_port "$2"
}

# bench_cleanup: the EXIT trap of the scripts that start processes (PIDS), a Postfix instance (PF) and a WORK dir.
bench_cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -f "$PF/conf/main.cf" ] && postfix -c "$PF/conf" stop >/dev/null 2>&1 || true
  sleep 1
  rm -rf "$WORK"
}

TCK=$(getconf CLK_TCK)
# proc_cpu PID...: utime+stime (+cutime+cstime of the first) in clock ticks
proc_cpu() { local first=1 t=0 f; for p in "$@"; do f=($(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || echo)); [ ${#f[@]} -gt 14 ] || continue
  t=$((t + f[11] + f[12])); [ $first = 1 ] && t=$((t + f[13] + f[14])); first=0; done; echo $t; }
# busy ticks of the whole machine: user, nice, system, irq, softirq (not idle, iowait, steal)
machine_cpu() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }

# mail_binary: sets MAIL (the command) and MAIL_BUILD (how it was built): MAIL_BIN if given (a `mail` already built),
# BUILD=jit the `dotnet build` output as `dotnet run` runs it, by default Native AOT as edge/Dockerfile ships it.
mail_binary() {
  if [ -n "${MAIL_BIN:-}" ]; then
    read -r -a MAIL <<<"$MAIL_BIN"; MAIL_BUILD="\`$MAIL_BIN\` (given by MAIL_BIN)"
  elif [ "${BUILD:-aot}" = jit ]; then
    echo "== building mail (Release, JIT)"
    dotnet build "$ROOT/edge/Mail.Host" -c Release -nologo -v q >/dev/null
    MAIL=(dotnet "$ROOT/edge/Mail.Host/bin/Release/net10.0/mail.dll")
    MAIL_BUILD="\`dotnet build -c Release\` (JIT)"
  else
    echo "== publishing mail (Native AOT, as edge/Dockerfile does)"
    dotnet publish "$ROOT/edge/Mail.Host/Mail.Host.csproj" -c Release -r linux-x64 -o "$WORK/mail-bin" -nologo -v q >/dev/null
    MAIL=("$WORK/mail-bin/mail")
    MAIL_BUILD="\`dotnet publish -c Release -r linux-x64\` (Native AOT, as edge/Dockerfile ships it)"
  fi
}
