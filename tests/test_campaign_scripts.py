"""The campaign's frozen-code wrapper (scripts/frozen_adaptact.sh) and its table of commits."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "frozen_adaptact.sh"
TABLE = ROOT / "campaign" / "frozen-commits.tsv"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("git") is None,
                                reason="needs bash and git")


def table() -> dict[str, str]:
    rows = [line.split("\t") for line in TABLE.read_text().splitlines() if line and not line.startswith("#")]
    return {r[0]: r[1] for r in rows}


def frozen(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ADAPTACT_PYTHON": sys.executable, **(env or {})})


def in_git_checkout() -> bool:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"], capture_output=True,
                          text=True).stdout.strip() == "false"


def test_an_experiment_without_a_commit_is_refused_in_one_line():
    out = frozen("reproduce", "no-such-experiment", "--profile", "medium")
    assert out.returncode == 2
    assert out.stderr.strip() == (f"frozen_adaptact: no-such-experiment has no commit in {TABLE}: "
                                  "add one before running it")


@pytest.mark.parametrize("args", [(), ("report", "campaign/x"), ("reproduce",)])
def test_anything_but_reproduce_an_experiment_is_refused(args):
    out = frozen(*args)
    assert out.returncode == 2 and out.stderr.startswith("frozen_adaptact: usage:")
    assert len(out.stderr.strip().splitlines()) == 1


def test_every_experiment_the_campaign_runs_is_finished_or_has_a_commit():
    order = re.search(r"ORDER=\(([^)]*)\)", (ROOT / "scripts" / "campaign.sh").read_text()).group(1).split()
    pending = [e for e in order if not (ROOT / "docs" / "results" / f"{e}-medium").is_dir()]
    assert set(pending) <= set(table()), sorted(set(pending) - set(table()))
    finished = [e for e in table() if (ROOT / "docs" / "results" / f"{e}-medium").is_dir()]
    assert not finished, f"published experiments still listed to run: {finished}"


@pytest.mark.skipif(not in_git_checkout(), reason="needs a full git clone (the table's commits)")
def test_every_commit_of_the_table_is_in_the_repository():
    for exp, commit in table().items():
        if commit == "hold":
            continue
        ok = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"]).returncode == 0
        assert ok, f"{exp}: {commit}"


@pytest.mark.skipif(not in_git_checkout(), reason="needs a full git clone (the table's commits)")
def test_the_wrapper_runs_the_cli_from_a_worktree_of_the_named_commit(tmp_path):
    exp, commit = next((e, c) for e, c in table().items() if c != "hold")
    wt = tmp_path / f"frozen-{commit}"
    try:
        out = frozen("reproduce", exp, "--help", env={"ADAPTACT_WORKTREES": str(tmp_path)})
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("usage: adaptact reproduce")
        assert f"frozen_adaptact: {exp} on {commit} ({wt})" in out.stderr
        head = subprocess.run(["git", "-C", str(wt), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", f"{commit}^{{commit}}"], capture_output=True,
                              text=True).stdout
        assert head == full
        again = frozen("reproduce", exp, "--help", env={"ADAPTACT_WORKTREES": str(tmp_path)})  # reuses it
        assert again.returncode == 0 and "Preparing worktree" not in again.stderr
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(wt)], capture_output=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)


def test_same_records_names_the_first_field_that_differs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("same_records", ROOT / "scripts" / "same_records.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    a = {"metrics": {"test_accuracy": 0.5}, "curves": {"loss": [1.0, 0.5]}, "status": "ok"}
    assert module.first_difference(a, json.loads(json.dumps(a))) is None
    b = json.loads(json.dumps(a))
    b["curves"]["loss"][1] = 0.25
    assert module.first_difference(a, b) == "/curves/loss[1]: 0.5 against 0.25"
    b = {**a, "extra": 1}
    assert module.first_difference(a, b) == "/extra: only in one"


def test_an_experiment_on_hold_is_refused_with_its_reason(tmp_path):
    """abu-table1/2 (2026-12-03): their medium profile does not give the paper's ordering; running them on would
    spend hours on records that cannot decide a claim."""
    held = {e: c for e, c in table().items() if c == "hold"}
    if not held:
        pytest.skip("no experiment is on hold")
    exp = next(iter(held))
    out = frozen("reproduce", exp, "--help", env={"ADAPTACT_WORKTREES": str(tmp_path)})
    assert out.returncode == 2 and out.stderr.startswith(f"frozen_adaptact: {exp} is on hold: ")
    assert len(out.stderr.split(": ", 2)[2].strip()) > 20  # the reason, not an empty field
    assert not any(tmp_path.iterdir())  # no worktree made
