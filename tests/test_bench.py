"""The benchmark's own bookkeeping: alternated timing with spreads, page-fault counts, the held heap, thread
counts and the JSON record (timings themselves are never asserted: see docs/performance.md)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from adaptact import bench


def test_paired_times_reports_medians_ratio_spread_and_faults():
    calls = []
    p = bench.paired_times(lambda: calls.append("b"), lambda: calls.append("c"), warmup=1, repeats=5,
                           device=torch.device("cpu"))
    assert calls == ["b", "c"] * 6  # strictly alternated, warm-up included
    assert p.baseline_s > 0 and p.candidate_s > 0 and p.ratio > 0
    assert p.ratio_iqr[0] <= p.ratio <= p.ratio_iqr[1]
    assert p.baseline_faults >= 0 and p.candidate_faults >= 0


_FAULTS_LOOP = """
import sys, torch
from adaptact.malloc_control import faults, hold_heap
if sys.argv[1] == "held" and hold_heap() is None:
    print("no-mallopt"); sys.exit(0)
x = torch.randn(4, 1024, 1024, requires_grad=True)  # 16 MB buffers: above glibc's default mmap threshold
dy = torch.randn_like(x)
relu = torch.nn.ReLU()
counts = []
for _ in range(30):
    before = faults()[0]
    relu(x).backward(dy)
    counts.append(faults()[0] - before)
print(" ".join(map(str, counts)))
"""


def _fault_counts(mode: str) -> list[int] | None:
    """Page faults per ReLU forward+backward of 16 MB in a fresh process (no other test's threads or heap
    history), with glibc's mmap threshold fixed at its 128 KiB default (its dynamic growth off) by the tunable."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, "-c", _FAULTS_LOOP, mode], capture_output=True, text=True, env=env,
                         check=True, timeout=120).stdout.split()
    return None if out == ["no-mallopt"] else [int(c) for c in out]


def test_a_held_heap_serves_repeated_large_calls_without_page_faults():
    held = _fault_counts("held")
    if held is None:
        pytest.skip("this C library has no mallopt")
    # once the heap has grown to the working set, nothing is faulted in again (a fresh 16 MB: 4,096 faults)
    assert sum(held[-10:]) < 200, held
    plain = _fault_counts("plain")  # the same loop on glibc's defaults faults its buffers in at every call
    assert min(plain[-10:]) >= 4096, plain


def test_run_measures_each_thread_count_and_writes_the_spreads(tmp_path):
    out = tmp_path / "b.json"
    args = bench.add_options(__import__("argparse").ArgumentParser()).parse_args(
        ["--units", "scaled_relu", "--shapes", "2,3,4", "--repeats", "3", "--no-networks", "--no-reference",
         "--threads", "1", "2", "--out", str(out)])
    previous = torch.get_num_threads()
    try:
        record = bench.run(args, echo=lambda s: None)
    finally:
        torch.set_num_threads(previous)
    saved = json.loads(out.read_text())
    assert saved["environment"]["thread_counts"] == [1, 2]
    rows = [r for r in saved["units"] if r["name"] == "scaled_relu"]
    assert sorted(r["threads"] for r in rows) == [1, 2]
    for r in rows:
        lo, hi = r["forward_backward_ratio_iqr"]
        assert lo <= r["forward_backward_ratio"] <= hi and r["faults_per_call"] >= 0
    assert {r["backend"] for r in rows} <= {"c", "reference", "torch"}
    assert len(record["units"]) == 2 * 4  # relu, silu, mish and the unit at each thread count
