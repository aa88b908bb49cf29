#!/usr/bin/env bash
# Publish a finished medium-profile experiment of the campaign (issue 11): its report, claims table and
# figures from campaign/<experiment>-medium/ into docs/results/<experiment>-medium/, with the exact
# commands, the machines and code commits the records name, and the time the runs took (summed over the
# records: CPU time at one thread per run; and the span of the executions log: wall time;
# adaptact.report.provenance).
#   scripts/medium_results.sh EXPERIMENT [...]
# Refuses an experiment whose runs are not all finished (adaptact report says how many are missing).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
for exp in "$@"; do
  src=campaign/$exp-medium
  dest=docs/results/$exp-medium
  [ -d "$src/records" ] || { echo "medium_results: $src has no records" >&2; exit 2; }
  "$BIN/python" - "$src" <<'PY'
import sys
from adaptact.report import experiment_runs
missing = [(cell.row, cell.column, cell.seed) for _, _, runs in experiment_runs(sys.argv[1])
           for cell, _, rec in runs if rec is None or rec.status not in ("ok", "diverged")]
if missing:
    sys.exit(f"medium_results: {sys.argv[1]}: {len(missing)} run(s) not finished, e.g. {missing[0]}")
PY
  "$BIN/adaptact" report "$src" > /dev/null
  "$BIN/adaptact" plot "$src" > /dev/null
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$src"/report.md "$src"/report-*.csv "$src"/manifest.json "$dest"/
  cp -r "$src/figures" "$dest"/
  "$BIN/python" -m adaptact.report.provenance "$src" "$exp" > "$dest/RUN.md"
  echo "written: $dest"
done
