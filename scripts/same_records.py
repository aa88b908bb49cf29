"""Whether two commits make the same run records: the check before an experiment of the campaign moves to
another frozen commit part-way (campaign/CODE_VERSIONS.md).

    .venv/bin/python scripts/same_records.py COMMIT_A COMMIT_B EXPERIMENT [--profile medium] [--steps 100]
        [--cells ROW/COLUMN ...] [--data-dir ../shared/data]

Each listed cell (default: every cell of the profile that can be planned now, seed 0) is run shortened to
``--steps`` updates by each commit's code, from a detached worktree of it (made under ../wt when missing,
as scripts/frozen_adaptact.sh does), one thread, and the two records are compared as JSON without what
differs from one run to the next on any code (``wall_time``, ``throughput``, ``environment``). Exit status 0
when every pair is identical, 1 (naming the first differing field) otherwise, 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIES = ("wall_time", "throughput", "environment")

_RUN = r"""
import dataclasses, json, sys
from adaptact.experiments import get_experiment
from adaptact.train import run
exp_name, profile, row, column, steps, data_dir, out = sys.argv[1:8]
planned, _ = get_experiment(exp_name).plan(profile, 1, data_dir=data_dir)
spec = next(s for c, s in planned if (c.row, c.column) == (row, column))
record = run(dataclasses.replace(spec, epochs=None, steps=int(steps), threads=1)).to_dict()
json.dump(record, open(out, "w"), sort_keys=True)
"""


def worktree(commit: str) -> Path:
    full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", f"{commit}^{{commit}}"], capture_output=True,
                          text=True)
    if full.returncode:
        sys.exit(f"same_records: {commit} is not a commit of this repository")
    base = Path(os.environ.get("ADAPTACT_WORKTREES", ROOT.parent / "wt"))
    for candidate in sorted(base.glob("*")):
        head = subprocess.run(["git", "-C", str(candidate), "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.stdout.strip() == full.stdout.strip() and (candidate / "src" / "adaptact").is_dir():
            return candidate
    target = base / f"frozen-{full.stdout.strip()[:7]}"
    base.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(target), commit], check=True,
                   capture_output=True)
    return target


def first_difference(a, b, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}/{k}: only in one"
            d = first_difference(a[k], b[k], f"{path}/{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} against {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} against {b!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit_a")
    parser.add_argument("commit_b")
    parser.add_argument("experiment")
    parser.add_argument("--profile", default="medium")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--cells", nargs="*", default=None, help="ROW/COLUMN (default: every plannable cell)")
    parser.add_argument("--data-dir", default=os.environ.get("ADAPTACT_DATA", str(ROOT.parent / "shared" / "data")))
    args = parser.parse_args(argv)
    from adaptact.experiments import get_experiment

    planned, _ = get_experiment(args.experiment).plan(args.profile, 1, data_dir=args.data_dir)
    cells = [tuple(c.split("/", 1)) for c in args.cells] if args.cells else \
        list(dict.fromkeys((c.row, c.column) for c, _ in planned))
    trees = [worktree(args.commit_a), worktree(args.commit_b)]
    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        for row, column in cells:
            records = []
            for commit, tree in zip((args.commit_a, args.commit_b), trees):
                out = Path(tmp) / f"{commit}.json"
                env = {**os.environ, "PYTHONPATH": str(tree / "src")}
                subprocess.run([sys.executable, "-c", _RUN, args.experiment, args.profile, row, column,
                                str(args.steps), args.data_dir, str(out)], check=True, env=env)
                record = json.loads(out.read_text())
                records.append({k: v for k, v in record.items() if k not in VARIES})
            d = first_difference(*records)
            differ += d is not None
            print(f"{row} / {column}, {args.steps} steps: " + ("identical" if d is None else f"DIFFERENT at {d}"),
                  flush=True)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
