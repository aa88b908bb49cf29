#!/usr/bin/env bash
# Publish a finished medium-profile experiment of the campaign (issue 11): its report, claims table and
# figures from campaign/<experiment>-medium/ into docs/results/<experiment>-medium/, with the exact
# commands, the machine and the time the runs took (summed over the records: CPU time at one thread
# per run; and the span of the executions log: wall time).
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
  "$BIN/python" - "$src" "$exp" > "$dest/RUN.md" <<'PY'
import json, platform, sys
from datetime import datetime
from pathlib import Path
import torch, adaptact
src, exp = Path(sys.argv[1]), sys.argv[2]
records = [json.loads(p.read_text()) for p in sorted((src / "records").glob("*.json"))]
cpu = sum(r.get("wall_time") or 0.0 for r in records)
stamps = [datetime.fromisoformat(line.split()[0]) for line in (src / "executions.log").read_text().splitlines()
          if line.strip()]
span = (max(stamps) - min(stamps)).total_seconds() if stamps else 0.0
print(f"# How {exp} (medium) was made\n")
print(f"Machine: {platform.platform()}, 2 shared CPU cores, no GPU; torch {torch.__version__}, "
      f"adaptact {adaptact.__version__}.\n")
print("Commands (resumable: run again to finish a stopped campaign; the records are in "
      f"`{src}/records/`, committed):\n")
print(f"```\nscripts/campaign.sh DATA 2 {exp}\n# = adaptact reproduce {exp} --profile medium --data-dir DATA "
      f"--workers 2 --out {src}\nadaptact report {src} && adaptact plot {src}\n```\n")
print(f"Runs: {len(records)}; time summed over the runs (one thread each): {cpu / 3600:.2f} CPU-hours; "
      f"from the first to the last finished run (two runs at a time, other work on the machine): "
      f"{span / 3600:.2f} hours, {min(stamps):%Y-%m-%d %H:%M} to {max(stamps):%Y-%m-%d %H:%M} UTC.")
PY
  echo "written: $dest"
done
