"""A sweep killed with SIGKILL at random moments, then rerun, ends with the records and the report of an
uninterrupted sweep, bit for bit, and no finished run is done twice. The uninterrupted sweep is run here,
in this process, one run after the other: the same key gives the same numbers in a worker and in-process."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adaptact.experiments import get_experiment, reproduce
from adaptact.experiments.runner import record_path
from adaptact.report import write_report
from adaptact.train import run

KILLS = 3  # one while the sweep starts, two in the middle of runs
SEEDS, EPOCHS = 2, 2
RUNS = 11 * SEEDS  # digits: 11 rows


def _command(out: Path) -> list[str]:
    return [sys.executable, "-m", "adaptact.cli", "reproduce", "digits", "--seeds", str(SEEDS), "--workers", "1",
            "--set", f"epochs={EPOCHS}", "--out", str(out), "--quiet", "--no-figures"]


def _uninterrupted(out: Path) -> None:
    """The sweep without a kill, each run in this process, then its manifest and report."""
    overrides = {"epochs": EPOCHS, "device": "cpu"}
    for _, spec in get_experiment("digits").plan("quick", SEEDS, **overrides)[0]:
        run(spec).save(record_path(out, spec))
    assert reproduce("digits", "quick", seeds=SEEDS, out=out, progress=False, overrides=overrides).ran == 0
    write_report(out)


def _records(out: Path) -> list[Path]:
    return sorted((out / "records").glob("*.json"))


def _kill_at_random(out: Path, rng: random.Random, log: Path, runs: int) -> None:
    """Start the sweep, let ``runs`` more runs finish (0: kill it while it starts), wait a random moment, SIGKILL it."""
    wanted = len(_records(out)) + runs if (out / "records").exists() else runs
    with open(log, "a") as sink:
        proc = subprocess.Popen(_command(out), stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(_records(out)) < wanted:
        time.sleep(0.02)
    time.sleep(rng.uniform(0.2, 2.0) if runs == 0 else rng.uniform(0.0, 0.3))
    assert proc.poll() is None, f"the sweep ended before it was killed:\n{log.read_text()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the workers die with their parent: nothing may be written after the kill
    count = len(_records(out))
    time.sleep(0.5)
    assert len(_records(out)) == count, "a record appeared after the runner was killed"


def _comparable(path: Path) -> dict:
    record = json.loads(path.read_text())
    return {k: v for k, v in record.items() if k not in ("wall_time", "throughput")}


def _report(out: Path) -> str:
    return (out / "report.md").read_text().replace(str(out), "OUT")


@pytest.mark.slow
def test_a_sweep_killed_at_random_moments_ends_bit_identical_to_an_uninterrupted_one(tmp_path):
    rng = random.Random(20261122)
    killed, clean, log = tmp_path / "killed", tmp_path / "clean", tmp_path / "killed.log"
    progress = []
    for runs in [0] + [rng.randint(1, 6) for _ in range(KILLS - 1)]:
        _kill_at_random(killed, rng, log, runs)
        progress.append(len(_records(killed)))
    assert 0 < progress[-1] < RUNS, f"records after each kill: {progress}"
    subprocess.run(_command(killed), check=True, capture_output=True)
    _uninterrupted(clean)

    names = [p.name for p in _records(clean)]
    assert len(names) == RUNS and [p.name for p in _records(killed)] == names
    for name in names:
        assert _comparable(killed / "records" / name) == _comparable(clean / "records" / name), name
    assert (killed / "report-digits.csv").read_bytes() == (clean / "report-digits.csv").read_bytes()
    assert _report(killed) == _report(clean)
    finished = [line.split()[2] for line in (killed / "executions.log").read_text().splitlines()
                if len(line.split()) > 2 and line.split()[1] == "ok" and len(line.split()[2]) == 16]
    assert len(finished) == len(set(finished)), "a finished run was done again"
    assert not (killed / "quarantine").exists(), "a kill left a damaged record"
