"""How a finished results folder was made, from its records: the ``RUN.md`` of a published medium experiment.

Every fact comes from the folder itself, not from the machine that publishes it: the machines, torch
versions, thread counts and code commits are those each record's ``environment`` names (a campaign spans
sessions and machines), the CPU time is the sum of the records' ``wall_time`` (one thread per run), and the
wall-clock span runs from the first to the last line of ``executions.log``.

    python -m adaptact.report.provenance FOLDER EXPERIMENT > RUN.md
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

__all__ = ["run_notes"]


def _environments(records: list[dict]) -> tuple[Counter, Counter]:
    """Runs per (platform, torch, threads) and per code commit (``modified`` marked), over ``records``."""
    machines, commits = Counter(), Counter()
    for r in records:
        env = r.get("environment") or {}
        machines[(env.get("platform", "unknown platform"), env.get("torch", "unknown torch"),
                  env.get("threads", "?"))] += 1
        source = env.get("source") or {}
        commit = f"`{source['commit'][:7]}`" if source.get("commit") else "a commit the record does not name"
        commits[commit + (" (with uncommitted changes)" if source.get("modified") else "")] += 1
    return machines, commits


def run_notes(folder: str | Path, experiment: str) -> str:
    """The markdown of ``RUN.md`` for the results ``folder`` of ``experiment`` (see the module docstring).

    Raises:
        ValueError: the folder has no records (named), or a record is not JSON (named).
    """
    folder = Path(folder)
    paths = sorted((folder / "records").glob("*.json"))
    if not paths:
        raise ValueError(f"{folder}: no run records")
    records = []
    for p in paths:
        try:
            records.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{p}: not a readable run record ({e})") from None
    cpu = sum(r.get("wall_time") or 0.0 for r in records)
    log = folder / "executions.log"
    lines = log.read_text().splitlines() if log.exists() else []
    stamps = [datetime.fromisoformat(line.split()[0]) for line in lines if line.strip()]
    machines, commits = _environments(records)
    out = [f"# How {experiment} (medium) was made", ""]
    out.append("Machines (from the records; 2 shared CPU cores each, no GPU): " + "; ".join(
        f"{n} run(s) on {platform}, torch {torch}, {threads} thread(s)"
        for (platform, torch, threads), n in machines.most_common()) + ".")
    out.append("")
    out.append("Code (the commit each record names; `campaign/CODE_VERSIONS.md` says why): " + "; ".join(
        f"{n} run(s) by {commit}" for commit, n in commits.most_common()) + ".")
    out.append("")
    out.append(f"Commands (resumable: run again to finish a stopped campaign; the records are in "
               f"`{folder}/records/`, committed):")
    out.append("")
    out += ["```", f"scripts/campaign.sh DATA 2 {experiment}",
            f"# = adaptact reproduce {experiment} --profile medium --data-dir DATA --workers 2 --out {folder}",
            f"adaptact report {folder} && adaptact plot {folder}", "```", ""]
    span = (f"from the first to the last finished run (two runs at a time, other work on the machine, and the "
            f"gaps between sessions): {(max(stamps) - min(stamps)).total_seconds() / 3600:.2f} hours, "
            f"{min(stamps):%Y-%m-%d %H:%M} to {max(stamps):%Y-%m-%d %H:%M} UTC" if stamps
            else "no executions log, so no wall-clock span")
    out.append(f"Runs: {len(records)}; time summed over the runs (one thread each): {cpu / 3600:.2f} CPU-hours; "
               f"{span}.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m adaptact.report.provenance FOLDER EXPERIMENT", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(run_notes(*args))
    except ValueError as e:
        print(f"provenance: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
