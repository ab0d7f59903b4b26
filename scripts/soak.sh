#!/usr/bin/env bash
# Runs mixed traffic against a stack for a long time and records how its memory, descriptors and
# connections evolve. Needs root, curl, iperf3 and hping3.
#
#   scripts/soak.sh [--minutes N] [--csv FILE] [--fault SPEC] [--ci]
#
# Brings up a stack of its own (`scripts/netstack up ... --fault SPEC`, default
# loss=1%,reorder=1%,dup=0.5%,seed=1; its services on their ports) in a namespace of its own and,
# from the kernel side of that namespace, keeps running at once: curl downloads of 20 MB checked
# by size, iperf3 uploads and downloads (10 s each, alternating), a ping every 0.2 s, UDP datagrams
# to the echo service, and every minute a 5 s SYN flood burst (hping3 --rand-source). Every 5 s
# scripts/stack-monitor.py writes a CSV row: time, RSS, GC heap, descriptors, established
# connections and key counters (their change over those 5 s). At the end it prints a summary (peaks,
# totals, what each traffic source achieved) and whether the stack still answers; everything it
# started is killed by PID and the namespace deleted, also on Ctrl-C and on failure.
# --ci: about 20 s (one SYN burst at 8 s), for the peer test that proves the script works.
# Exit status: 0 when the stack survived and still answers ping and a download, 1 otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { echo "usage: scripts/soak.sh [--minutes N] [--csv FILE] [--fault SPEC] [--ci]" >&2; exit 2; }
minutes=30 ci=0 fault="loss=1%,reorder=1%,dup=0.5%,seed=1" csv=""
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) [ $# -ge 2 ] || usage; minutes=$2; shift 2 ;;
    --csv) [ $# -ge 2 ] || usage; csv=$2; shift 2 ;;
    --fault) [ $# -ge 2 ] || usage; fault=$2; shift 2 ;;
    --ci) ci=1; shift ;;
    *) usage ;;
  esac
done
[[ $minutes =~ ^[0-9]+$ ]] && [ "$minutes" -ge 1 ] || { echo "soak.sh: --minutes takes a whole number" >&2; exit 2; }
if [ $ci = 1 ]; then duration=20 burst_every=1000 first_burst=8 burst_len=2 dl_size=2000000 iperf_len=3
else duration=$((minutes * 60)) burst_every=60 first_burst=30 burst_len=5 dl_size=20000000 iperf_len=10; fi
[ "$(id -u)" = 0 ] || { echo "soak.sh: needs root (namespaces, TAP)" >&2; exit 1; }
for t in curl iperf3 hping3 python3; do command -v $t >/dev/null || { echo "soak.sh: $t is not installed" >&2; exit 1; }; done
hping=$(command -v hping3)

id=$$
ns=nssoak-$id
tap=nss$((id % 100000))
subnet=$((150 + id % 50))
stack=10.7.$subnet.2
name=soak-$id
control=/run/netstack/$name.sock
[ -n "$csv" ] || csv=/tmp/soak-$id.csv
log=$(mktemp -d /tmp/soak.XXXXXX)
pids=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  if [ -n "${stack_pid:-}" ]; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$stack_pid" 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$log"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
nsx() { ip netns exec "$ns" "$@"; }

echo "soak.sh: $duration s of mixed traffic against a stack at $stack (namespace $ns, faults $fault); CSV: $csv"
"$root/scripts/netstack" up --ns "$ns" --tap "$tap" --create --addr "$stack/24" --name "$name" --control "$control" \
  --fault "$fault" --duration $((duration + 120)) >"$log/stack.out" 2>&1 &
stack_pid=$!
for _ in $(seq 600); do [ -S "$control" ] && break; kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
[ -S "$control" ] || { cat "$log/stack.out" >&2; echo "soak.sh: the stack did not come up" >&2; exit 1; }
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
for _ in 1 2 3 4 5; do nsx ping -c 1 -W 1 "$stack" >/dev/null && break; done

end=$((SECONDS + duration))
python3 "$root/scripts/stack-monitor.py" "$control" --interval 5 --csv "$csv" \
  --counters Tcp.InSegs,Tcp.OutSegs,Tcp.RetransSegs,Tcp.OutRsts,TcpExt.SyncookiesSent,Udp.InDatagrams,Icmp.OutEchoReps,Drops.SocketRcvBuff >"$log/monitor.out" 2>&1 &
mon=$!; pids+=("$mon")

downloads() {
  local ok=0 bad=0
  while [ $SECONDS -lt $end ]; do
    local got; got=$(nsx curl -s -m 60 -o /dev/null -w '%{size_download}' "http://$stack/bytes/$dl_size" || true)
    if [ "$got" = "$dl_size" ]; then ok=$((ok+1)); else bad=$((bad+1)); fi
  done
  echo "curl downloads of $dl_size bytes: $ok complete, $bad failed"
}
iperfs() {
  # iperf3 serves one test at a time; a client that arrives while the previous test's last bytes
  # (IPERF_DONE, the close) are still being retransmitted through the injected loss is told the
  # server is busy, as iperf3 -s tells it. Those are counted apart, and the next run waits a second.
  local ok=0 bad=0 busy=0 dir="" out
  while [ $((SECONDS + iperf_len + 2)) -lt $end ]; do
    if out=$(nsx iperf3 -c "$stack" -t "$iperf_len" $dir 2>&1); then ok=$((ok+1))
    elif grep -q "busy" <<<"$out"; then busy=$((busy+1)); sleep 1; continue
    else bad=$((bad+1)); echo "iperf3 $dir failed: $(tail -1 <<<"$out")"; fi
    if [ -z "$dir" ]; then dir=-R; else dir=""; fi
  done
  echo "iperf3 runs (uploads and downloads alternating): $ok complete, $bad failed, $busy refused as busy"
}
udp() {
  nsx python3 - "$stack" "$end" "$SECONDS" <<'PY'
import socket, sys, time
host, left = sys.argv[1], int(sys.argv[2]) - int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
sent = got = 0
stop = time.monotonic() + left
while time.monotonic() < stop:
    s.sendto(b"soak %d" % sent, (host, 7)); sent += 1
    try:
        s.recv(64); got += 1
    except OSError:
        pass
    time.sleep(0.05)
print(f"UDP echoes: {got} of {sent} answered")
PY
}
bursts() {
  local n=0 t=$first_burst start=$SECONDS
  while [ $((start + t + burst_len)) -lt $end ]; do
    sleep $((start + t - SECONDS))
    ip netns exec "$ns" "$hping" -S --flood --rand-source -p 7 "$stack" >/dev/null 2>&1 &
    local h=$!
    sleep "$burst_len"; kill "$h" 2>/dev/null || true; wait "$h" 2>/dev/null || true
    n=$((n+1)); t=$((t + burst_every))
  done
  echo "SYN flood bursts of $burst_len s: $n"
}

downloads >"$log/dl.out" 2>&1 & pids+=($!); dl=$!
iperfs >"$log/iperf.out" 2>&1 & pids+=($!); ip=$!
udp >"$log/udp.out" 2>&1 & pids+=($!); ud=$!
bursts >"$log/bursts.out" 2>&1 & pids+=($!); bu=$!
nsx ping -q -i 0.2 -w "$duration" "$stack" >"$log/ping.out" 2>&1 & pids+=($!); pg=$!

while [ $SECONDS -lt $end ]; do
  kill -0 "$stack_pid" 2>/dev/null || { echo "soak.sh: the stack died:" >&2; tail -20 "$log/stack.out" >&2; exit 1; }
  sleep 1
done
wait "$dl" "$ip" "$ud" "$bu" "$pg" 2>/dev/null || true
kill -INT "$mon" 2>/dev/null || true; wait "$mon" 2>/dev/null || true

cat "$log/monitor.out"
echo
cat "$log/dl.out" "$log/iperf.out" "$log/udp.out" "$log/bursts.out"
grep -E "packets transmitted" "$log/ping.out" | sed 's/^/ping: /' || true
rows=$(($(wc -l <"$csv") - 1))
echo "CSV: $csv ($rows rows of 5 s)"
status=0
kill -0 "$stack_pid" 2>/dev/null || { echo "soak.sh: the stack is gone" >&2; status=1; }
nsx ping -c 3 -i 0.2 -W 2 "$stack" >/dev/null || { echo "soak.sh: the stack no longer answers ping" >&2; status=1; }
got=$(nsx curl -s -m 30 -o /dev/null -w '%{size_download}' "http://$stack/bytes/100000" || true)
[ "$got" = 100000 ] || { echo "soak.sh: a final 100 kB download failed ($got bytes)" >&2; status=1; }
[ $status = 0 ] && echo "soak.sh: the stack survived and still answers"
exit $status
