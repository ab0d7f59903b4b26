#!/usr/bin/env bash
# Floods a stack from the kernel side and watches what it does. Needs root and hping3.
#
#   scripts/flood.sh KIND [--seconds N]      KIND: syn, rst, ack, frag, udp, icmp or all
#
# Brings up a stack of its own (`scripts/netstack up --ns NS --tap TAP --create --name NAME`, its
# services on their ports) in a namespace of its own, floods it from inside that namespace for N
# seconds (default 20) per kind, and prints every second its RSS, GC heap, descriptors,
# established connections and the counters the flood moves (scripts/stack-monitor.py, through the
# control socket), then `netstack netstat -s` of that stack. Everything it started is killed by
# PID and the namespace deleted at the end, on Ctrl-C and on failure.
#   syn   hping3 -S --flood --rand-source to the echo port (7), with a legitimate client a second
#   rst   RSTs with uniformly random sequence numbers (tests/.../flood_peer.py rst-flood) at a
#         rate-limited curl download's connection (port 80)
#   ack   hping3 -A --flood --rand-source to the http port (80), with a legitimate client a second
#   frag  hping3 -1 -x --flood --rand-source: first fragments that never complete
#   udp   hping3 --udp --flood to UDP port 9999, bound by a client that never reads
#   icmp  hping3 -1 --flood: echo requests
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { echo "usage: scripts/flood.sh syn|rst|ack|frag|udp|icmp|all [--seconds N]" >&2; exit 2; }
[ $# -ge 1 ] || usage
kind=$1; shift
seconds=20
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    *) usage ;;
  esac
done
case $kind in syn|rst|ack|frag|udp|icmp) kinds=$kind ;; all) kinds="syn rst ack frag udp icmp" ;; *) usage ;; esac
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -ge 1 ] || { echo "flood.sh: --seconds takes a whole number of seconds" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "flood.sh: needs root (namespaces, TAP, raw sockets)" >&2; exit 1; }
hping=$(command -v hping3 || true)
[ -n "$hping" ] || { echo "flood.sh: hping3 is not installed (apt-get install hping3)" >&2; exit 1; }

id=$$
ns=nsflood-$id
tap=nsf$((id % 100000))
subnet=$((200 + id % 50))
kernel=10.7.$subnet.1
stack=10.7.$subnet.2
name=flood-$id
control=/run/netstack/$name.sock
log=$(mktemp -d /tmp/flood.XXXXXX)
pids=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${stack_pid:-}" ]; then
    kill -TERM "$stack_pid" 2>/dev/null || true   # a background job ignores SIGINT
    for _ in $(seq 100); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$stack_pid" 2>/dev/null || true
  fi
  # Whatever still runs inside our own namespace was started by us (a sender whose parent died).
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$log"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_ns() { ip netns exec "$ns" "$@"; }

echo "flood.sh: bringing up a stack at $stack on $tap in namespace $ns (name $name)"
total=$(( (seconds + 15) * $(echo "$kinds" | wc -w) + 60 ))
"$root/scripts/netstack" up --ns "$ns" --tap "$tap" --create --addr "$stack/24" --name "$name" --control "$control" \
  --duration "$total" >"$log/stack.out" 2>&1 &
stack_pid=$!
for _ in $(seq 600); do [ -S "$control" ] && break; kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
[ -S "$control" ] || { cat "$log/stack.out" >&2; echo "flood.sh: the stack did not come up" >&2; exit 1; }
# The kernel's own IPv6 chatter would only add noise to the counters.
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
in_ns ping -c 1 -W 2 "$stack" >/dev/null || { echo "flood.sh: the stack does not answer ping" >&2; exit 1; }

legit_loop() { # a legitimate client a second against PORT; prints one line at the end
  local port=$1 ok=0 fail=0
  trap 'echo "legitimate clients: $ok connected, $fail failed"; exit 0' TERM
  while :; do
    if in_ns python3 -c "import socket,sys;s=socket.create_connection(('$stack',$port),timeout=5);s.close()" 2>/dev/null; then ok=$((ok+1)); else fail=$((fail+1)); fi
    sleep 1
  done
}

flood_one() {
  local k=$1 counters flood_cmd=() extra=()
  case $k in
    syn)  counters=Tcp.InSegs,TcpExt.SyncookiesSent,TcpExt.SyncookiesRecv,TcpExt.ListenOverflows,TcpExt.ListenDrops
          flood_cmd=("$hping" -S --flood --rand-source -p 7 "$stack") ;;
    ack)  counters=Tcp.InSegs,Tcp.OutRsts,TcpExt.SyncookiesFailed,Tcp.PassiveOpens
          flood_cmd=("$hping" -A --flood --rand-source -p 80 "$stack") ;;
    rst)  counters=Tcp.InSegs,TcpExt.TCPChallengeACK,Tcp.EstabResets,Tcp.OutSegs
          ip netns exec "$ns" curl -s --limit-rate 1M -o /dev/null "http://$stack/bytes/100000000000" & extra+=($!)
          local port=""
          for _ in $(seq 50); do
            port=$(in_ns ss -Htn state established "dst $stack:80" | awk '{split($3,a,":"); print a[2]; exit}')
            [ -n "$port" ] && break; sleep 0.1
          done
          [ -n "$port" ] || { echo "flood.sh: the download did not connect" >&2; return 1; }
          flood_cmd=(python3 -u "$root/tests/NetStack.PeerTests/scripts/flood_peer.py" rst-flood "$kernel" "$stack" "$port" 80 "$((seconds + 30))" 1) ;;
    frag) counters=Ip.ReasmReqds,Ip.ReasmFails,Ip.ReasmTimeout,Ip.ReasmOKs
          flood_cmd=("$hping" -1 --flood --rand-source -x -d 1000 "$stack") ;;
    udp)  counters=Udp.InDatagrams,Udp.RcvbufErrors,Udp.InErrors
          # A client of the stack that binds UDP 9999 and never reads, for as long as the flood lasts.
          { echo '{"op":"socket","type":"SOCK_DGRAM"}'; echo '{"op":"bind","fd":3,"addr":"0.0.0.0","port":9999}'; sleep $((seconds + 5)); } \
            | "$root/scripts/netstack" repl --name "$name" --control "$control" >"$log/repl.out" 2>&1 & extra+=($!)
          for _ in $(seq 300); do [ "$(grep -c '"ret"' "$log/repl.out" 2>/dev/null)" -ge 2 ] && break; sleep 0.1; done
          grep -q '"ret":0' "$log/repl.out" || { cat "$log/repl.out" >&2; echo "flood.sh: could not bind UDP 9999 on the stack" >&2; return 1; }
          flood_cmd=("$hping" --udp --flood -p 9999 -d 512 "$stack") ;;
    icmp) counters=Icmp.InEchos,Icmp.OutEchoReps,Icmp.OutRateLimitGlobal,Icmp.OutRateLimitHost
          flood_cmd=("$hping" -1 --flood "$stack") ;;
  esac
  echo
  echo "=== $k flood, $seconds s: ${flood_cmd[*]}"
  rm -f "$log/monitor.ready"
  python3 "$root/scripts/stack-monitor.py" "$control" --counters "$counters" --ready "$log/monitor.ready" & local mon=$!
  pids+=("$mon")
  # The flood starts once the monitor has read its baseline (bounded: 30 s).
  for _ in $(seq 300); do [ -e "$log/monitor.ready" ] && break; sleep 0.1; done
  local legit=""
  case $k in syn) legit_loop 7 & legit=$! ;; ack) legit_loop 80 & legit=$! ;; esac
  [ -n "$legit" ] && pids+=("$legit")
  local tx0; tx0=$(in_ns cat "/sys/class/net/$tap/statistics/tx_packets")
  # `ip netns exec` execs the sender, so $! is the sender's own PID.
  ip netns exec "$ns" "${flood_cmd[@]}" >"$log/flood.out" 2>&1 & local fl=$!
  pids+=("$fl")
  sleep "$seconds"
  kill "$fl" 2>/dev/null || true; wait "$fl" 2>/dev/null || true
  local tx1; tx1=$(in_ns cat "/sys/class/net/$tap/statistics/tx_packets")
  sleep 1
  [ -n "$legit" ] && { kill -TERM "$legit" 2>/dev/null || true; wait "$legit" 2>/dev/null || true; }
  for p in "${extra[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  kill -INT "$mon" 2>/dev/null || true; wait "$mon" 2>/dev/null || true
  echo "the kernel put $((tx1 - tx0)) frames on the TAP in $seconds s ($(( (tx1 - tx0) / seconds ))/s)"
}

for k in $kinds; do flood_one "$k"; done
echo
echo "=== netstat -s of the stack"
"$root/scripts/netstack" netstat -s --name "$name" --control "$control" || true
