#!/usr/bin/env bash
# Bulk TCP throughput, side by side: the kernel talking to NetStack through a TAP, against the
# kernel talking to itself over a veth pair between two namespaces, with the same clients.
#   upload:   dd | nc -N to a discard server (NetStack's discard service / socat on the kernel)
#   download: curl from an HTTP server (NetStack's /bytes/N / a socat one-shot on the kernel)
# Everything happens in namespaces this script creates and deletes (also on failure).
#   sudo scripts/bench-tcp.sh [--offload] [MB] [RUNS]        (default 200 MB, 3 runs)
# --offload: the stack runs with TAP offloads (up --offload on: vnet header, TUN_F_CSUM|TUN_F_TSO4).
set -euo pipefail

offload=off
if [ "${1:-}" = "--offload" ]; then offload=on; shift; fi
mb=${1:-200}
runs=${2:-3}
bytes=$((mb * 1024 * 1024))
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "bench-tcp.sh: needs root (namespaces, TAP, veth)" >&2; exit 1; }
for c in curl nc socat; do command -v $c >/dev/null || { echo "bench-tcp.sh: needs $c" >&2; exit 1; }; done

tag=$$
ns_stack=nstcpb-$tag-s
ns_a=nstcpb-$tag-a
ns_b=nstcpb-$tag-b
stack_pid=
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$stack_pid" ] && kill -TERM "$stack_pid" 2>/dev/null && wait "$stack_pid" 2>/dev/null || true
  for ns in "$ns_stack" "$ns_a" "$ns_b"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

# MB/s of an upload: dd's own byte count over the wall time of the whole pipe.
upload() { # ns addr port
  local t0 t1
  t0=$(date +%s.%N)
  dd if=/dev/zero bs=1M count="$mb" status=none | ip netns exec "$1" nc -N "$2" "$3" >/dev/null
  t1=$(date +%s.%N)
  echo "scale=1; $mb * 1.048576 / ($t1 - $t0)" | bc
}
download() { # ns url
  ip netns exec "$1" curl -s -o /dev/null -w '%{speed_download}' "$2" | awk '{printf "%.1f", $1 / 1e6}'
}

# 1. NetStack: kernel 10.7.252.1 -> TAP -> stack 10.7.252.2 (discard on 9, http on 80).
bash "$root/setup-tap.sh" --ns "$ns_stack" --tap tcpbtap --addr 10.7.252.1/24 >/dev/null
"$root/scripts/netstack" up --ns "$ns_stack" --tap tcpbtap --addr 10.7.252.2/24 --services discard,http --offload "$offload" --duration 900 >/dev/null &
stack_pid=$!
for _ in $(seq 1 100); do
  ip netns exec "$ns_stack" ping -c 1 -W 1 10.7.252.2 >/dev/null 2>&1 && break
  sleep 0.2
done
ip netns exec "$ns_stack" curl -s -o /dev/null http://10.7.252.2/bytes/10000000 # warm-up (JIT)
for i in $(seq 1 "$runs"); do
  echo "stack  (TAP)  run $i: upload $(upload "$ns_stack" 10.7.252.2 9) MB/s, download $(download "$ns_stack" "http://10.7.252.2/bytes/$bytes") MB/s"
done
kill -TERM "$stack_pid"; wait "$stack_pid" || true; stack_pid=

# 2. The kernel to itself over veth: 10.7.253.1 (ns a) <-> 10.7.253.2 (ns b).
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add tcpbva netns "$ns_a" type veth peer name tcpbvb netns "$ns_b"
ip -n "$ns_a" addr add 10.7.253.1/24 dev tcpbva
ip -n "$ns_b" addr add 10.7.253.2/24 dev tcpbvb
ip -n "$ns_a" link set tcpbva up
ip -n "$ns_b" link set tcpbvb up
ip netns exec "$ns_b" socat -u TCP-LISTEN:9,reuseaddr,fork OPEN:/dev/null &
server_pid=$!
serve=$(mktemp)
trap 'rm -f "$serve"; cleanup' EXIT
printf '#!/bin/sh\nprintf "HTTP/1.0 200 OK\\r\\nContent-Length: %s\\r\\n\\r\\n"\nexec head -c %s /dev/zero\n' "$bytes" "$bytes" > "$serve"
chmod +x "$serve"
ip netns exec "$ns_b" socat TCP-LISTEN:80,reuseaddr,fork EXEC:"$serve" &
server2=$!
sleep 0.5
for i in $(seq 1 "$runs"); do
  echo "kernel (veth) run $i: upload $(upload "$ns_a" 10.7.253.2 9) MB/s, download $(download "$ns_a" "http://10.7.253.2/") MB/s"
done
kill "$server2" 2>/dev/null || true
