#!/usr/bin/env bash
# Flood-ping round trip: the kernel pinging NetStack through a TAP, against the kernel pinging
# itself over a veth pair between two namespaces, measured the same way (ping -f -c COUNT).
# Everything happens in namespaces this script creates and deletes (also on failure). The stack is
# stopped with SIGTERM: a background job of a non-interactive shell ignores SIGINT.
#   sudo scripts/bench-ping.sh [COUNT [UP-OPTIONS...]]   (default 10000; e.g. 10000 --busy-poll 50)
set -euo pipefail

count=${1:-10000}
shift || true
up_options=("$@")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "bench-ping.sh: needs root (namespaces, TAP, veth)" >&2; exit 1; }

tag=$$
ns_stack=nsbench-$tag-s
ns_a=nsbench-$tag-a
ns_b=nsbench-$tag-b
stack_pid=
cleanup() {
  [ -n "$stack_pid" ] && kill -TERM "$stack_pid" 2>/dev/null && wait "$stack_pid" 2>/dev/null || true
  for ns in "$ns_stack" "$ns_a" "$ns_b"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

rtt() { grep -oE 'rtt min/avg/max/mdev = [0-9./]+ ms'; }

# 1. Through the stack: kernel (10.7.250.1) -> TAP -> NetStack (10.7.250.2).
bash "$root/setup-tap.sh" --ns "$ns_stack" --tap benchtap --addr 10.7.250.1/24 >/dev/null
"$root/scripts/netstack" up --ns "$ns_stack" --tap benchtap --addr 10.7.250.2/24 --duration 600 ${up_options[@]+"${up_options[@]}"} >/dev/null &
stack_pid=$!
for _ in $(seq 1 100); do
  ip netns exec "$ns_stack" ping -c 1 -W 1 10.7.250.2 >/dev/null 2>&1 && break
  sleep 0.2
done
ip netns exec "$ns_stack" ping -q -c 200 -i 0.002 10.7.250.2 >/dev/null # warm-up (JIT, ARP)
echo "stack (TAP${up_options[*]+ ${up_options[*]}}):  $(ip netns exec "$ns_stack" ping -q -f -c "$count" 10.7.250.2 | rtt)"
kill -TERM "$stack_pid"; wait "$stack_pid" || true; stack_pid=

# 2. The kernel to itself over veth: 10.7.251.1 (ns a) <-> 10.7.251.2 (ns b).
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add benchva netns "$ns_a" type veth peer name benchvb netns "$ns_b"
ip -n "$ns_a" addr add 10.7.251.1/24 dev benchva
ip -n "$ns_b" addr add 10.7.251.2/24 dev benchvb
ip -n "$ns_a" link set benchva up
ip -n "$ns_b" link set benchvb up
ip netns exec "$ns_a" ping -q -c 200 -i 0.002 10.7.251.2 >/dev/null # warm-up (ARP)
echo "kernel (veth): $(ip netns exec "$ns_a" ping -q -f -c "$count" 10.7.251.2 | rtt)"
