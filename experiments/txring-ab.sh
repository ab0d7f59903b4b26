#!/usr/bin/env bash
# A/B of the TAP transmit ring (issue 13): two stacks up at once from the same build, `up --tx-ring off`
# and `up --tx-ring on`, each on its own TAP in its own namespace (names unique to this run, deleted
# on exit), driven by bench.sh's client (scripts/bench/client.c). Each pair measures both stacks in
# turn, the order alternating pair by pair, so a loaded machine's drift falls on both alike.
#   sudo experiments/txring-ab.sh [PAIRS=5] [SECONDS=4]
# Per pair and stack: bulk kernel->stack (rx) and stack->kernel (tx), 1 stream, Gbit/s; 1-byte
# request/response per s; sequential connect+close per s (3,000 connections); CPU s/GB over the two
# bulk runs (user+sys of the stack's process, /proc/PID/stat). Prints one line per measurement and
# the medians.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pairs=${1:-5}
secs=${2:-4}
tag=$$
tmp=$(mktemp -d /tmp/txring-ab.XXXXXX)
client=$tmp/client
cc -O2 -pthread -o "$client" "$root/scripts/bench/client.c"
declare -A ns addr pid
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for v in off on; do ip netns del "txab$v-$tag" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
i=0
for v in off on; do
  n=txab$v-$tag; a=10.7.$((236 + i)); i=$((i + 1))
  bash "$root/setup-tap.sh" --ns "$n" --tap "txab$v" --addr "$a.1/24" >/dev/null
  ip netns exec "$n" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
  "$root/scripts/netstack" up --ns "$n" --tap "txab$v" --addr "$a.2/24" --services echo,discard,chargen \
    --name "txab$v-$tag" --tx-ring "$v" --duration 3600 >"$tmp/stack-$v.log" 2>&1 &
  pid[$v]=$!; pids+=("${pid[$v]}"); ns[$v]=$n; addr[$v]=$a.2
done
for v in off on; do
  for _ in $(seq 1 150); do ip netns exec "${ns[$v]}" ping -c 1 -W 1 "${addr[$v]}" >/dev/null 2>&1 && break; sleep 0.2; done
done
run() { local v=$1; shift; timeout -k 2 120 ip netns exec "${ns[$v]}" "$client" "$@"; }
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for v in off on; do # warm-up (JIT, ARP, pools)
  run "$v" send "${addr[$v]}" 9 1 1 >/dev/null; run "$v" recv "${addr[$v]}" 19 1 1 >/dev/null
  run "$v" rr "${addr[$v]}" 7 0.5 >/dev/null; run "$v" crr "${addr[$v]}" 9 500 30 >/dev/null
done
for p in $(seq 1 "$pairs"); do
  if [ $((p % 2)) -eq 1 ]; then order="off on"; else order="on off"; fi
  for v in $order; do
    t0=$(ticks "${pid[$v]}")
    rx=$(run "$v" send "${addr[$v]}" 9 1 "$secs")
    tx=$(run "$v" recv "${addr[$v]}" 19 1 "$secs")
    t1=$(ticks "${pid[$v]}")
    rr=$(run "$v" rr "${addr[$v]}" 7 "$secs")
    crr=$(run "$v" crr "${addr[$v]}" 9 3000 60)
    awk -v v="$v" -v p="$p" -v rx="$rx" -v tx="$tx" -v rr="$rr" -v crr="$crr" -v dt=$((t1 - t0)) -v hz="$hz" 'BEGIN {
      split(rx, a, " "); split(tx, b, " "); split(rr, c, " "); split(crr, d, " ");
      printf "pair %d ring %-3s rx %.2f Gbit/s  tx %.2f Gbit/s  rr %.0f/s  crr %.0f/s  cpu %.3f s/GB\n", p, v,
        a[1] * 8 / a[2] / 1e9, b[1] * 8 / b[2] / 1e9, c[1] / c[2], d[1] / d[2], (dt / hz) / ((a[1] + b[1]) / 1e9) }'
  done
done | tee "$tmp/lines"
echo "medians:"
for v in off on; do
  grep "ring $v " "$tmp/lines" | awk -v v="$v" '
    { rx[NR] = $6 + 0; tx[NR] = $9 + 0; rr[NR] = $12 + 0; crr[NR] = $14 + 0; cpu[NR] = $16 + 0 }
    function med(x, n,  i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
      return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }
    END { n = NR; printf "ring %-3s rx %.2f Gbit/s  tx %.2f Gbit/s  rr %.0f/s  crr %.0f/s  cpu %.3f s/GB  (%d pairs)\n", v, med(rx, n), med(tx, n), med(rr, n), med(crr, n), med(cpu, n), n }'
done
