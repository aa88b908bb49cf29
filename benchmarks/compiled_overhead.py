"""Compiled against eager fused, for single units and for training steps of whole networks, in one process.

    PYTHONPATH=src python benchmarks/compiled_overhead.py --units pau,abu,adact --out out/compiled-overhead.json

Units: for each unit and shape ((4, 64), (128, 256), (64, 64, 16, 16), (64, 64, 32, 32)), 1 thread, glibc's
heap held: ``nn.ReLU`` eager and compiled, the eager fused unit and ``torch.compile(unit, fullgraph=True)``,
forward+backward timed in alternated rounds (about 2M elements per round); medians in µs, the median
per-round difference compiled − eager for the unit and for ReLU (what torch's compiled region costs a
module with nothing to fuse), and their difference (what the unit's compiled call costs beyond it).

Networks (``--networks``): the training step (forward, loss, backward, SGD step) of LeNet (batch 128) and
VGG-8 at a quarter of the width (batch 64) with each unit and with ReLU, eager and with the model compiled
(``torch.compile(model)``), in alternated rounds; the ratio compiled / eager per round, median and IQR.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

import adaptact
from adaptact import malloc_control
from adaptact.kernels import native_node
from adaptact.models import create_model

SHAPES = ((4, 64), (128, 256), (64, 64, 16, 16), (64, 64, 32, 32))
NETWORKS = (("lenet", 128, {}), ("vgg8", 64, {"width_divisor": 4}))


def _iqr(values: list[float]) -> list[float]:
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


def _fwd_bwd(module, x, dy):
    def run():
        module(x).backward(dy)
    return run


def alternate(runs: dict, rounds: int, inner: int) -> dict[str, list[float]]:
    """Per-round times (µs per call) of each callable, the callables run back to back in every round."""
    for run in runs.values():
        for _ in range(3):
            run()
    times = {k: [] for k in runs}
    for _ in range(rounds):
        for k, run in runs.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                run()
            times[k].append((time.perf_counter() - t0) / inner * 1e6)
    return times


def bench_units(names: list[str], rounds: int) -> dict:
    out = {}
    for name in names:
        for shape in SHAPES:
            unit = adaptact.create(name)
            x = torch.randn(*shape, requires_grad=True)
            dy = torch.randn_like(x)
            runs = {"relu": _fwd_bwd(nn.ReLU(), x, dy),
                    "relu_compiled": _fwd_bwd(torch.compile(nn.ReLU(), fullgraph=True), x, dy),
                    "eager": _fwd_bwd(unit, x, dy),
                    "compiled": _fwd_bwd(torch.compile(unit, fullgraph=True), x, dy)}
            t = alternate(runs, rounds, max(1, int(2e6 // x.numel())))
            unit_diff = [c - e for c, e in zip(t["compiled"], t["eager"])]
            relu_diff = [c - e for c, e in zip(t["relu_compiled"], t["relu"])]
            excess = [u - r for u, r in zip(unit_diff, relu_diff)]
            key = f"{name} {shape}"
            out[key] = {"median_us": {k: statistics.median(v) for k, v in t.items()},
                        "compiled_minus_eager_us": statistics.median(unit_diff),
                        "compiled_minus_eager_iqr_us": _iqr(unit_diff),
                        "relu_compiled_minus_eager_us": statistics.median(relu_diff),
                        "excess_over_relu_us": statistics.median(excess), "excess_iqr_us": _iqr(excess)}
            print(key, json.dumps(out[key]), flush=True)
    return out


def _stepper(net: str, act: str, batch: int, options: dict, compiled: bool):
    torch.manual_seed(0)
    model = create_model(net, act=act, in_channels=1, input_size=32, **options)
    forward = torch.compile(model) if compiled else model
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    images = torch.randn(batch, 1, 32, 32)
    labels = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(forward(images), labels).backward()
        opt.step()
    return step


def bench_networks(names: list[str], rounds: int) -> dict:
    out = {}
    for net, batch, options in NETWORKS:
        for act in ["relu", *names]:
            runs = {"eager": _stepper(net, act, batch, options, False),
                    "compiled": _stepper(net, act, batch, options, True)}
            t = alternate(runs, rounds, 1)
            ratio = [c / e for c, e in zip(t["compiled"], t["eager"])]
            key = f"{net} {act}"
            out[key] = {"eager_ms": statistics.median(t["eager"]) / 1e3,
                        "compiled_ms": statistics.median(t["compiled"]) / 1e3,
                        "compiled_over_eager": statistics.median(ratio), "iqr": _iqr(ratio)}
            print(key, json.dumps(out[key]), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", default="pau,abu,adact")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--networks", action="store_true", help="also the LeNet and VGG-8 training steps")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    malloc_control.hold_heap()
    torch.set_num_threads(1)
    native_node.wait()
    names = args.units.split(",")
    result = {"torch": torch.__version__, "units": bench_units(names, args.rounds)}
    if args.networks:
        result["networks"] = bench_networks(names, args.rounds)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
