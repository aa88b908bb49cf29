#!/usr/bin/env bash
# The medium-profile campaign of issue 11: every experiment's medium profile, in order, into campaign/.
# Resumable: finished runs are recorded under campaign/<experiment>-medium/records and skipped when run again.
#
#   scripts/campaign.sh DATA [WORKERS] [EXPERIMENT ...]
#
# DATA: the data directory (../shared/data); WORKERS: parallel runs (default 1; each run uses 1 thread, and the
# thread count is part of its identity, so the worker count never changes the numbers). Commit the records as
# they finish (git add campaign && git commit), so the next session continues where this one stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: scripts/campaign.sh DATA [WORKERS] [EXPERIMENT ...]}
WORKERS=${2:-1}
shift $(( $# >= 2 ? 2 : 1 ))
ORDER=(pau-mnist-fmnist adact-table1 davis-mnist-fixed-vs-trainable davis-mnist-width davis-mnist-depth
       farhadi-mnist farhadi-sim farhadi-mr farhadi-mr-optimizer abu-table1 abu-table2)
[ $# -gt 0 ] && ORDER=("$@")
# each experiment on the commit campaign/frozen-commits.tsv names (scripts/frozen_adaptact.sh); ADAPTACT=.venv/bin/adaptact
# runs this checkout's code instead (for a campaign of your own)
ADAPTACT=${ADAPTACT:-scripts/frozen_adaptact.sh}
for exp in "${ORDER[@]}"; do
  echo "=== $exp (medium) $(date -u +%FT%TZ)"
  start=$(date +%s)
  # runs another experiment of the campaign already made (the same key) are copied, where the code can
  reuse=()
  if "$ADAPTACT" reproduce "$exp" --help 2>/dev/null | grep -q -- --reuse-records; then reuse=(--reuse-records campaign); fi
  "$ADAPTACT" reproduce "$exp" --profile medium --data-dir "$DATA" --workers "$WORKERS" --quiet --no-figures \
      --out "campaign/$exp-medium" "${reuse[@]}" || echo "--- $exp: exit $?"
  echo "=== $exp done in $(( $(date +%s) - start )) s"
done
