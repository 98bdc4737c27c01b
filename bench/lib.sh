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

# postfix_start DIR PORT: starts the instance postfix_configure wrote and waits for its smtpd.
postfix_start() {
  postfix -c "$1/conf" check >/dev/null 2>&1 || postfix -c "$1/conf" set-permissions >/dev/null 2>&1 || true
  postfix -c "$1/conf" start >/dev/null 2>&1 || { echo "postfix did not start:" >&2; tail -5 "$1/maillog" >&2; exit 1; }
  wait_port "$2"
}
