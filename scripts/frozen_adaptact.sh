#!/usr/bin/env bash
# `adaptact` as frozen for the campaign: runs the CLI from the commit that campaign/frozen-commits.tsv names for
# the experiment being reproduced, out of a detached worktree it creates when missing, so that one experiment's
# records are made by one code version however many sessions and machines it spans (and code changes made while
# a campaign runs never reach it). Use it as campaign.sh's ADAPTACT (its default):
#   scripts/frozen_adaptact.sh reproduce EXPERIMENT [options]
# Worktrees go to $ADAPTACT_WORKTREES (default: ../wt next to this checkout); the environment is this
# checkout's .venv or $ADAPTACT_PYTHON (its torch and dependencies; the package comes from the worktree's src/ via
# PYTHONPATH).
# Refuses, in one line, an experiment the table does not name or marks `hold` (with its reason), and any other
# command than `reproduce`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
table=$root/campaign/frozen-commits.tsv
[ "${1:-}" = reproduce ] && [ -n "${2:-}" ] || { echo "frozen_adaptact: usage: $0 reproduce EXPERIMENT [options]" >&2; exit 2; }
exp=$2
commit=$(awk -F '\t' -v e="$exp" '$1 == e { print $2 }' "$table")
[ -n "$commit" ] || { echo "frozen_adaptact: $exp has no commit in $table: add one before running it" >&2; exit 2; }
if [ "$commit" = hold ]; then
  echo "frozen_adaptact: $exp is on hold: $(awk -F '\t' -v e="$exp" '$1 == e { print $3 }' "$table")" >&2; exit 2
fi
git -C "$root" cat-file -e "$commit^{commit}" 2>/dev/null \
  || { echo "frozen_adaptact: $exp: commit $commit is not in this repository" >&2; exit 2; }
wt=${ADAPTACT_WORKTREES:-$(dirname "$root")/wt}/frozen-$commit
if [ ! -d "$wt/src/adaptact" ]; then
  mkdir -p "$(dirname "$wt")"
  git -C "$root" worktree add --detach "$wt" "$commit" > /dev/null
fi
[ "$(git -C "$wt" rev-parse HEAD)" = "$(git -C "$root" rev-parse "$commit^{commit}")" ] \
  || { echo "frozen_adaptact: $wt is not at $commit" >&2; exit 2; }
echo "frozen_adaptact: $exp on $commit ($wt)" >&2
PYTHONPATH=$wt/src exec "${ADAPTACT_PYTHON:-$root/.venv/bin/python}" -m adaptact.cli "$@"
