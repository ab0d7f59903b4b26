#!/usr/bin/env bash
# Regenerates the figures of experiments/README.md's "Worked experiments" with the commands the
# README shows: each scenario runs in the simulator into sim-out/NAME (the same files for the same
# seed), and the PNGs the README embeds are copied to experiments/plots/.
#   experiments/plots.sh            run the scenarios and replace the committed figures
#   experiments/plots.sh --check    run them and report whether the figures differ from the committed
#                                   ones (the CSV files are identical on every machine; a PNG may
#                                   differ by the fonts the rendering found)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
check=0
[ "${1:-}" = "--check" ] && check=1

# The commands of the README, verbatim.
scripts/netstack sim experiments/reno-cubic-bbr-deep.json -o sim-out/deep --plot
scripts/netstack sim experiments/reno-cubic-bbr-shallow.json -o sim-out/shallow --plot
scripts/netstack sim experiments/loss-recovery.json -o sim-out/loss --plot
scripts/netstack sim experiments/dctcp-vs-droptail.json -o sim-out/dctcp --plot
scripts/netstack plot sim-out/dctcp/flow-dctcp-mark.csv sim-out/dctcp/flow-cubic-ecn-mark.csv \
  -o sim-out/dctcp/ecn.png --smooth 0.2 --title "dctcp-vs-droptail: the two ECN flows"

# The figure each committed image is.
figures=(
  "sim-out/deep/overview.png     reno-cubic-bbr-deep-overview.png"
  "sim-out/shallow/overview.png  reno-cubic-bbr-shallow-overview.png"
  "sim-out/loss/goodput.png      loss-recovery-goodput.png"
  "sim-out/dctcp/overview.png    dctcp-vs-droptail-overview.png"
  "sim-out/dctcp/ecn.png         dctcp-vs-droptail-ecn.png"
)

mkdir -p experiments/plots
status=0
for f in "${figures[@]}"; do
  read -r from to <<<"$f"
  if [ $check = 1 ]; then
    if cmp -s "$from" "experiments/plots/$to"; then echo "same:    experiments/plots/$to"
    else echo "differs: experiments/plots/$to (from $from)"; status=1; fi
  else
    cp "$from" "experiments/plots/$to"
    echo "wrote experiments/plots/$to"
  fi
done
exit $status
