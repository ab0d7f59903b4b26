#!/usr/bin/env bash
# Microbenchmarks of the per-packet building blocks with BenchmarkDotNet
# (benchmarks/NetStack.Benchmarks): the Internet checksum, IPv4/TCP header parse and emit, the TCP
# established fast path between two in-memory stacks, and the skb pool. No root, no TAP.
#   scripts/microbench.sh                  every benchmark, BenchmarkDotNet's default job (about 10 min)
#   scripts/microbench.sh --quick          every benchmark, the short job (about 2 min)
#   scripts/microbench.sh --smoke          each benchmark run once in-process (CI: they all still run)
#   scripts/microbench.sh --quick --filter '*Checksum*'    any further arguments go to BenchmarkDotNet
# Reports (markdown, CSV, HTML) land in bench-results/microbench/results/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! command -v dotnet >/dev/null 2>&1; then
  for d in "${DOTNET_ROOT:-}" /usr/share/dotnet /usr/lib/dotnet /usr/local/share/dotnet "$HOME/.dotnet"; do
    if [ -n "$d" ] && [ -x "$d/dotnet" ]; then PATH="$d:$PATH"; break; fi
  done
fi
command -v dotnet >/dev/null 2>&1 || { echo "microbench: dotnet (the .NET 10 SDK) is not installed or not on PATH" >&2; exit 1; }

job=()
case "${1:-}" in
  --smoke) job=(--job Dry --inProcess); shift ;;
  --quick) job=(--job Short); shift ;;
esac
# Without a filter BenchmarkDotNet asks on the terminal which benchmark to run.
filter=(--filter '*')
for a in "$@"; do [ "$a" = "--filter" ] && filter=(); done

project="$root/benchmarks/NetStack.Benchmarks"
dotnet build "$project" -c Release -nologo -v quiet >/dev/null
cd "$root"
exec dotnet "$project/bin/Release/net10.0/NetStack.Benchmarks.dll" "${filter[@]}" "${job[@]}" \
  --artifacts "$root/bench-results/microbench" "$@"
