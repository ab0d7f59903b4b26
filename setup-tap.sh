#!/usr/bin/env bash
# Creates the network namespace and TAP device that NetStack attaches to. Idempotent.
#
#   sudo ./setup-tap.sh                 namespace "netstack", lo up, TAP "tap0" (txqueuelen 10000)
#                                       with the kernel's address 10.7.0.1/24, link up
#   sudo ./setup-tap.sh --down          removes the TAP and the namespace again
#   options: --ns NAME  --tap NAME  --addr CIDR (the kernel's side)  --txqueuelen N
#            --addr6 CIDR  an IPv6 address for the kernel's side too (e.g. fd00::1/64, no DAD)
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
addr6=
qlen=10000
down=0
root_ns=0
ns_given=0

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "setup-tap.sh: $*" >&2; exit 1; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --ns) need_value "$@"; ns=$2; ns_given=1; shift 2 ;;
    --tap) need_value "$@"; tap=$2; shift 2 ;;
    --addr) need_value "$@"; addr=$2; shift 2 ;;
    --addr6) need_value "$@"; addr6=$2; shift 2 ;;
    --txqueuelen) need_value "$@"; qlen=$2; shift 2 ;;
    --down) down=1; shift ;;
    --root-ns) root_ns=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (try --help)" ;;
  esac
done

# Everything is checked before anything is created: a mistake leaves nothing half made.
valid_name() { # kind name: what Linux accepts for an interface or namespace name
  local kind=$1 name=$2
  [ -n "$name" ] || die "empty $kind name"
  [ "$name" != . ] && [ "$name" != .. ] && [[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] \
    || die "bad $kind name '$name': use letters, digits, '_', '.' and '-'"
}
valid_name "TAP" "$tap"
[ ${#tap} -le 15 ] || die "bad TAP name '$tap': longer than 15 characters (IFNAMSIZ)"
[ "$root_ns" -eq 1 ] || valid_name "namespace" "$ns"
[[ "$addr" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]] \
  || die "bad address '$addr': expected a.b.c.d/len, e.g. 10.7.0.1/24"
for octet in "${BASH_REMATCH[@]:1:4}"; do
  [ $((10#$octet)) -le 255 ] || die "bad address '$addr': each part of a.b.c.d is 0 to 255"
done
prefix=$((10#${BASH_REMATCH[5]}))
[ "$prefix" -ge 1 ] && [ "$prefix" -le 30 ] || die "bad address '$addr': the prefix length must be 1 to 30 (the stack needs a second address on the subnet)"
[ "${BASH_REMATCH[1]}" -ne 0 ] && [ "${BASH_REMATCH[1]}" -ne 127 ] && [ "${BASH_REMATCH[1]}" -lt 224 ] \
  || die "bad address '$addr': not a unicast host address"
[ -z "$addr6" ] || [[ "$addr6" =~ ^[0-9a-fA-F:]*:[0-9a-fA-F:]*/([0-9]{1,3})$ && ${BASH_REMATCH[1]} -le 128 ]] \
  || die "bad --addr6 '$addr6': expected an IPv6 address and prefix length, e.g. fd00::1/64"
[[ "$qlen" =~ ^[0-9]{1,10}$ ]] && [ "$qlen" -le 4294967295 ] || die "bad --txqueuelen '$qlen': expected a number of frames, 0 to 4294967295"
[ "$root_ns" -eq 0 ] || [ "$ns_given" -eq 0 ] || die "--root-ns and --ns contradict each other"

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces and TAP devices): sudo $0 $*"
command -v ip >/dev/null || die "the 'ip' command is missing (apt-get install iproute2)"

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
    # Deleting the namespace destroys the TAPs (and anything else) inside it: name the ones it really held.
    taps=$(ip -n "$ns" -o -d link show 2>/dev/null | awk -F': ' '/tun type tap/ { sub(/@.*/, "", $2); print $2 }' | paste -sd' ' -)
    ip netns del "$ns"
    if [ -n "$taps" ]; then echo "removed network namespace $ns (and TAP $taps in it)"; else echo "removed network namespace $ns (it held no TAP)"; fi
  else
    echo "no network namespace $ns: nothing to remove"
  fi
  exit 0
fi

[ -e /dev/net/tun ] || die "/dev/net/tun is missing: this kernel or container has no TUN/TAP support (try: modprobe tun)"

# A failure from here on removes what this run created (not what was there before).
created_ns=0
created_tap=0
undo() {
  if [ "$created_ns" -eq 1 ]; then ip netns del "$ns" 2>/dev/null || true
  elif [ "$created_tap" -eq 1 ]; then nsip link del dev "$tap" 2>/dev/null || true
  fi
}
trap 'rc=$?; [ $rc -eq 0 ] || undo' EXIT

if [ "$root_ns" -eq 0 ]; then
  if ns_exists; then
    echo "network namespace $ns exists"
  else
    ip netns add "$ns" || die "cannot create network namespace $ns"
    created_ns=1
    echo "created network namespace $ns"
  fi
  nsip link set lo up
fi

if tap_exists; then
  nsip -d link show dev "$tap" | grep -q 'tun type tap' || die "'$tap' exists in $where but is not a TAP device"
  echo "TAP $tap exists in $where"
else
  nsip tuntap add dev "$tap" mode tap 2>/dev/null || die "cannot create TAP $tap in $where"
  created_tap=1
  echo "created TAP $tap in $where"
fi
nsip link set dev "$tap" txqueuelen "$qlen" 2>/dev/null || die "cannot set txqueuelen $qlen on $tap"
# One kernel address on the TAP: a run with another --addr replaces the old one instead of adding a second.
old_addrs=$(nsip -4 -o addr show dev "$tap" | awk '{ print $4 }')
if [ "$old_addrs" != "$addr" ]; then
  [ -z "$old_addrs" ] || { nsip -4 addr flush dev "$tap"; echo "replaced $(echo $old_addrs) on $tap"; }
  nsip addr add "$addr" dev "$tap" 2>/dev/null || die "cannot add address $addr to $tap"
fi
if [ -n "$addr6" ]; then
  # IPv6 on for the TAP, without DAD, so the address (and the link-local one the kernel makes when
  # the stack attaches) is usable at once.
  if [ "$root_ns" -eq 1 ]; then sysctl_tap() { sysctl -qw "$1"; }; else sysctl_tap() { ip netns exec "$ns" sysctl -qw "$1"; }; fi
  sysctl_tap "net.ipv6.conf.$tap.accept_dad=0" && sysctl_tap "net.ipv6.conf.$tap.disable_ipv6=0" || die "cannot enable IPv6 on $tap"
  nsip -6 addr replace "$addr6" dev "$tap" nodad 2>/dev/null || die "cannot add address $addr6 to $tap"
fi
nsip link set dev "$tap" up
echo "kernel side: $addr${addr6:+ and $addr6} on $tap (txqueuelen $qlen), link up"
if [ "$root_ns" -eq 1 ]; then
  echo "next: scripts/netstack up --root-ns --tap $tap"
else
  echo "next: scripts/netstack up --ns $ns --tap $tap"
fi
