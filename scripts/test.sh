#!/usr/bin/env bash
# Runs every test: installs the Debian packages the real-peer tests use (when run as root and
# something is missing), restores, builds in Release and runs each test project of NetStack.sln.
# Exits non-zero when a build or a test fails; the last line is "tests: N passed, N failed, N skipped".
#
# The real-peer tests (tests/NetStack.PeerTests) need root and /dev/net/tun: they create network
# namespaces of their own (nst-PID-N) and delete them afterwards. Without root they are reported
# as skipped, with the reason.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# What the peer tests run: libpcap (the pcap driver, through SharpPcap), ip (iproute2), ping, tshark (the independent dissector), scapy (frame
# crafting, through /usr/bin/python3), ethtool (offload flags), hping3 (SYN floods), and the tools later tests use.
packages=(unzip libpcap0.8 iproute2 iputils-ping tshark tcpdump socat netcat-openbsd curl iperf3 python3 python3-scapy nftables ethtool util-linux hping3 traceroute)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing ${missing[*]}"
    # tshark asks whether non-root users may capture; answer no without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test.sh: missing packages (${missing[*]}); run as root to install them, or the tests that need them fail or skip" >&2
  fi
fi

command -v dotnet >/dev/null || { echo "test.sh: dotnet (the .NET 10 SDK) is not on PATH" >&2; exit 1; }

echo "test.sh: restore and build (Release)"
dotnet restore NetStack.sln --nologo -v quiet
dotnet build NetStack.sln -c Release --no-restore --nologo -v quiet -clp:ErrorsOnly

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0

# The NuGet packages: every packable project packs (with symbols), and each package names its
# licence, readme and repository. A broken pack is a failed run.
echo "test.sh: pack"
if dotnet pack NetStack.sln -c Release --no-build --nologo -v quiet -o "$results/packages" >"$results/pack.log" 2>&1; then
  for pkg in "$results"/packages/*.nupkg; do
    [ -e "$pkg" ] || { echo "test.sh: pack made no package" >&2; status=1; break; }
    meta=$(unzip -p "$pkg" '*.nuspec')
    for field in '<license type="expression">' '<readme>' '<description>' '<repository '; do
      grep -qF "$field" <<<"$meta" || { echo "test.sh: $(basename "$pkg") has no $field" >&2; status=1; }
    done
    [ -e "${pkg%.nupkg}.snupkg" ] || { echo "test.sh: $(basename "$pkg") has no symbol package" >&2; status=1; }
    echo "test.sh: packed $(basename "$pkg")"
  done
else
  cat "$results/pack.log" >&2
  echo "test.sh: dotnet pack failed" >&2
  status=1
fi
# The microbenchmarks (scripts/microbench.sh): each one runs once, in-process, so a benchmark that
# no longer builds or throws fails the run; their speed is reported by the script, never asserted.
echo "test.sh: microbenchmarks (smoke)"
if scripts/microbench.sh --smoke >"$results/microbench.log" 2>&1; then
  echo "test.sh: microbenchmarks ran: $(grep -oE 'executed benchmarks: [0-9]+' "$results/microbench.log" | tail -n 1)"
else
  tail -n 40 "$results/microbench.log" >&2
  echo "test.sh: scripts/microbench.sh --smoke failed" >&2
  status=1
fi
passed=0 failed=0 skipped=0
# One project at a time, so each one's summary is on the screen and counted.
for proj in tests/*/*.csproj; do
  name=$(basename "$proj" .csproj)
  echo "test.sh: $name"
  log="$results/$name.log"
  started=$(date +%s)
  set +e
  dotnet test "$proj" -c Release --no-build --nologo --logger "console;verbosity=normal" >"$log" 2>&1
  rc=$?
  set -e
  # Show the summary, each skipped test with its reason, and each failure with its message.
  grep -E -A1 '\[SKIP\]$' "$log" | grep -vE '^--$' || true
  grep -E -A25 '^\s+Failed [A-Za-z]' "$log" || true
  grep -E '^(Passed|Failed)!|^Total tests|^\s+(Passed|Failed|Skipped): |^Test Run|: error [A-Z]+[0-9]+' "$log" || true
  [ "$rc" -eq 0 ] || status=1
  # The ten slowest tests and the project's wall time, so the suite's budget (CI: well under 20
  # minutes on 2 cores) stays visible. VSTest prints each result as "Passed Name [1 m 2 s]".
  echo "test.sh: $name took $(( $(date +%s) - started )) s; slowest tests:"
  grep -E '^\s+(Passed|Failed) .*\[[^]]*\]$' "$log" | awk '{
      d = $0; sub(/.*\[/, "", d); sub(/\]$/, "", d); n = split(d, w, " "); t = 0
      for (i = 1; i < n; i++) if (w[i] ~ /^[0-9.]+$/) t += w[i] * (w[i+1] == "m" ? 60000 : w[i+1] == "s" ? 1000 : w[i+1] == "ms" ? 1 : 0)
      name = $2; printf "%10.1f s  %s\n", t / 1000, name }' | sort -rn | head -n 10 || true
  # VSTest's summary: "Passed: N", "Failed: N", "Skipped: N" (each line only when non-zero).
  p=$(grep -E '^\s+Passed: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
  f=$(grep -E '^\s+Failed: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
  s=$(grep -E '^\s+Skipped: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
    failed=$((failed + 1)) # the run itself failed (crash, no tests found): count it
    echo "test.sh: $name: dotnet test exited $rc" >&2
  fi
done

if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  status=1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
