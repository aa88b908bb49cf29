"""Timing helpers shared by the benchmarks that measure in thread CPU time (readable on a loaded machine):
a call's CPU time, the quartiles of a list of ratios, the common command line and the JSON it writes."""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def thread_cpu(fn) -> float:
    """Thread CPU time of one call of ``fn`` (time spent descheduled does not count), seconds."""
    t = time.thread_time()
    fn()
    return time.thread_time() - t


def quartiles(values: list[float]) -> list[float]:
    """[first quartile, median, third quartile] of ``values`` (the value itself three times for one value)."""
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return [q[0], statistics.median(values), q[2]]


def alternate(calls: dict, rounds: int) -> dict[str, list[float]]:
    """Each call once for warm-up, then ``rounds`` rounds that run every call once in turn: name -> CPU times."""
    for c in calls.values():
        c()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, c in calls.items():
            times[name].append(thread_cpu(c))
    return times


def options(description: str, rounds: int) -> argparse.Namespace:
    """The parser of ``--rounds``, ``--threads`` (default 1) and ``--out`` (a JSON file)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    return parser


def write_result(out: str | None, result: dict) -> None:
    """Write ``result`` as JSON to ``out`` (``--out``), making its folder; nothing when ``out`` is None."""
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=1))
