#!/usr/bin/env bash
# Creates the network namespace and TAP device that NetStack attaches to. Idempotent.
#
#   sudo ./setup-tap.sh                 namespace "netstack", lo up, TAP "tap0" (txqueuelen 10000)
#                                       with the kernel's address 10.7.0.1/24, link up
#   sudo ./setup-tap.sh --down          removes the TAP and the namespace again
#   options: --ns NAME  --tap NAME  --addr CIDR (the kernel's side)  --txqueuelen N
#
#   --root-ns   puts the TAP in the host's own network namespace instead (no --ns). For users who
#               want to reach the stack from their normal shell; the tests never use it, because a
#               TAP in the root namespace is visible to (and routable from) the whole machine.
#
# The stack then attaches with: scripts/netstack up [--ns NAME] [--tap NAME] [--addr 10.7.0.2/24]
set -euo pipefail

ns=netstack
tap=tap0
addr=10.7.0.1/24
qlen=10000
down=0
root_ns=0

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "setup-tap.sh: $*" >&2; exit 1; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --ns) need_value "$@"; ns=$2; shift 2 ;;
    --tap) need_value "$@"; tap=$2; shift 2 ;;
    --addr) need_value "$@"; addr=$2; shift 2 ;;
    --txqueuelen) need_value "$@"; qlen=$2; shift 2 ;;
    --down) down=1; shift ;;
    --root-ns) root_ns=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (try --help)" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces and TAP devices): sudo $0 $*"
command -v ip >/dev/null || die "the 'ip' command is missing (apt-get install iproute2)"
[ ${#tap} -le 15 ] || die "TAP name '$tap' is longer than 15 characters"
[[ "$addr" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || die "bad address '$addr': expected a.b.c.d/len"

# In the namespace (ip -n NS ...) or, with --root-ns, in the host's own.
if [ "$root_ns" -eq 1 ]; then
  nsip() { ip "$@"; }
  where="the root network namespace"
else
  nsip() { ip -n "$ns" "$@"; }
  where="network namespace '$ns'"
fi

ns_exists() { [ -e "/var/run/netns/$ns" ]; }
tap_exists() { nsip link show dev "$tap" >/dev/null 2>&1; }

if [ "$down" -eq 1 ]; then
  if [ "$root_ns" -eq 1 ]; then
    if tap_exists; then ip link del dev "$tap"; echo "removed TAP $tap from $where"; else echo "no TAP $tap in $where"; fi
  elif ns_exists; then
    # Deleting the namespace destroys the TAP (and anything else) inside it.
    ip netns del "$ns"
    echo "removed network namespace $ns (and TAP $tap in it)"
  else
    echo "no network namespace $ns: nothing to remove"
  fi
  exit 0
fi

[ -e /dev/net/tun ] || die "/dev/net/tun is missing: this kernel or container has no TUN/TAP support (try: modprobe tun)"

if [ "$root_ns" -eq 0 ]; then
  if ns_exists; then
    echo "network namespace $ns exists"
  else
    ip netns add "$ns"
    echo "created network namespace $ns"
  fi
  nsip link set lo up
fi

if tap_exists; then
  nsip -d link show dev "$tap" | grep -q 'tun type tap' || die "'$tap' exists in $where but is not a TAP device"
  echo "TAP $tap exists in $where"
else
  nsip tuntap add dev "$tap" mode tap
  echo "created TAP $tap in $where"
fi
nsip link set dev "$tap" txqueuelen "$qlen"
nsip addr replace "$addr" dev "$tap"
nsip link set dev "$tap" up
echo "kernel side: $addr on $tap (txqueuelen $qlen), link up"
if [ "$root_ns" -eq 1 ]; then
  echo "next: scripts/netstack up --root-ns --tap $tap"
else
  echo "next: scripts/netstack up --ns $ns --tap $tap"
fi
