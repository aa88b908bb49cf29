#!/usr/bin/env bash
# Run the quick profile of every experiment that has local data, grouped by paper (one results
# folder per group, so an experiment reuses the runs of another: ABU Table 3 those of Table 1,
# PAU Table 5 those of Table 2), and copy each group's report and figures into docs/results/<group>/
# with the commands, machine and wall times.
#   scripts/quick_results.sh ../shared/data [group ...]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: scripts/quick_results.sh DATA_DIR [group ...]}
shift
declare -A EXPERIMENTS_OF=(
  [digits]="digits"
  [pau]="pau-mnist-fmnist pau-table5"
  [pau-cifar]="pau-cifar10 pau-pruning pau-imagenet"
  [adact]="adact-table1"
  [abu]="abu-table1 abu-table2 abu-table3"
  [farhadi]="farhadi-sim farhadi-mnist farhadi-mr"
  [davis]="davis-mnist-fixed-vs-trainable davis-mnist-width davis-mnist-subdepth davis-mnist-subwidth davis-mnist-depth davis-mnist-subact"
)
BIN=${BIN:-.venv/bin}
for group in ${*:-digits pau adact abu farhadi davis}; do
  out=results/$group-quick
  mkdir -p results
  dest=docs/results/$group
  rm -rf "$dest" && mkdir -p "$dest"
  {
    echo "# How these results were made"
    echo
    echo "Machine: $(uname -srm), $(nproc) CPU cores, no GPU; $("$BIN/python" -c 'import torch, adaptact; print(f"torch {torch.__version__}, adaptact {adaptact.__version__}")'); $(date -u +%Y-%m-%d)."
    echo
  } > "$dest/RUN.md"
  for name in ${EXPERIMENTS_OF[$group]}; do
    start=$(date +%s)
    "$BIN/adaptact" reproduce "$name" --profile quick --data-dir "$DATA" --out "$out" --quiet --no-figures \
      > "$out-$name.log" 2>&1 || true
    seconds=$(( $(date +%s) - start ))
    echo "- \`adaptact reproduce $name --profile quick --data-dir DATA --out $out\`: ${seconds} s" >> "$dest/RUN.md"
    echo "$group/$name: ${seconds} s"
  done
  "$BIN/adaptact" plot "$out" > /dev/null
  cp "$out"/report.md "$out"/report-*.csv "$out"/manifest.json "$dest"/
  cp -r "$out/figures" "$dest"/
done
