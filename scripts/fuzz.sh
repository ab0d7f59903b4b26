#!/usr/bin/env bash
# Runs the structure-aware fuzzer (tests/NetStack.Tests/Fuzz/StackFuzzer.cs) for N frames.
#   scripts/fuzz.sh N [--seed S | --seeds S1,S2,...] [--coverage]
# N frames are split evenly over the seeds (default seed 1). Each seed's run ends with every socket
# closed, time run out and every buffer back in its pool; the consistency checker runs every 256
# frames. Prints frames/s per seed; a failure names its seed and frame index, and
# `scripts/fuzz.sh FRAME+1 --seed SEED` replays it exactly.
# --coverage collects line coverage with coverlet (coverlet.collector) and summarises it for
# src/NetStack/Wire and src/NetStack/Ipv4.
#
# Why a test and not a console program: the fuzzer needs the stack's internals (tables, queues,
# timers), which the test assembly already sees, and coverlet's collector attaches to `dotnet test`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

frames=${1:-100000}
shift || true
seeds=1
coverage=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seed|--seeds) seeds=$2; shift 2 ;;
    --coverage) coverage=1; shift ;;
    *) echo "usage: scripts/fuzz.sh N [--seed S | --seeds S1,S2] [--coverage]" >&2; exit 2 ;;
  esac
done

dotnet build -c Release tests/NetStack.Tests -v q -nologo | grep -E "error|Warn|Error" || true
report=$(mktemp)
results=$(mktemp -d)
args=(tests/NetStack.Tests -c Release --no-build --filter "FullyQualifiedName~StructuredFuzzTests.LongRun_FromEnvironment")
if [ "$coverage" = 1 ]; then
  args+=(--collect "XPlat Code Coverage" --results-directory "$results" --
    "DataCollectionRunSettings.DataCollectors.DataCollector.Configuration.Format=cobertura"
    "DataCollectionRunSettings.DataCollectors.DataCollector.Configuration.Include=[NetStack]*")
fi
start=$(date +%s)
status=0
NETSTACK_FUZZ_FRAMES=$frames NETSTACK_FUZZ_SEEDS=$seeds NETSTACK_FUZZ_REPORT=$report \
  dotnet test "${args[@]}" > "$results/test.log" 2>&1 || status=$?
end=$(date +%s)
cat "$report" 2>/dev/null || true
if [ "$status" != 0 ]; then
  grep -E "fuzz failure|reproduce|inconsistent|Exception" "$results/test.log" | head -20 || tail -40 "$results/test.log"
  echo "fuzz: FAILED (see above); log: $results/test.log"
  exit 1
fi
echo "fuzz: $frames frames over seeds $seeds in $((end - start)) s wall clock (including test host start)"
if [ "$coverage" = 1 ]; then
  xml=$(find "$results" -name coverage.cobertura.xml | head -1)
  python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
tree = ET.parse(sys.argv[1])
# Filenames are relative to the <source> (src/NetStack/) when there is one.
sources = [s.text.rstrip('/') + '/' for s in tree.iter('source') if s.text]
tot = {}
for cls in tree.iter('class'):
    fn = cls.get('filename').replace('\\', '/')
    if not fn.startswith('/') and sources: fn = sources[0] + fn
    for key in ('src/NetStack/Wire/', 'src/NetStack/Ipv4/'):
        if key in fn:
            name = key + fn.split(key)[1]
            lines = {l.get('number'): int(l.get('hits')) > 0 for l in cls.iter('line')}
            t = tot.setdefault(key, {}).setdefault(name, {})
            for n, hit in lines.items(): t[n] = t.get(n, False) or hit
for key, files in tot.items():
    c = sum(sum(v.values()) for v in files.values()); n = sum(len(v) for v in files.values())
    print(f"coverage {key}: {c}/{n} lines = {100.0 * c / max(n, 1):.1f}%")
    for f in sorted(files):
        v = files[f]
        print(f"  {f}: {100.0 * sum(v.values()) / max(len(v), 1):.0f}% of {len(v)}")
PY
  echo "cobertura report: $xml"
fi
