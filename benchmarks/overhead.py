"""Per-call overhead of the fused units against nn.ReLU, and compiled vs eager fused time, in one process.

    PYTHONPATH=src python benchmarks/overhead.py [--rounds 200] [--skip-compile]

Overhead: forward+backward of a unit minus forward+backward of ``nn.ReLU`` on the
same small tensors, rounds alternating unit and ReLU, 1 thread; medians and
the interquartile spread of the per-round differences. Also the floor of any
Python-level fused unit: ``floor``, a minimal ``torch.autograd.Function`` that
calls the adaptive-scaling unit's C kernels directly (no dispatch, no packing),
so that ``scaled - floor`` is the cost of adaptact's own per-call path and
``floor - ReLU`` that of a Python autograd node itself. Served calls run on the C++ autograd node
(``adaptact.kernels.native_node``, built first); ``*_python_node`` rows switch it off, for the A/B. Compiled: ``torch.compile(fullgraph=True)`` against the eager
fused unit at (64, 64, 32, 32). Writes benchmarks/results/overhead.json.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from adaptact import units as U
from adaptact.kernels import native_node
from adaptact.malloc_control import hold_heap

#: (4, 64): almost no arithmetic, so the difference to ReLU is the per-call tax itself
SHAPES = [(4, 64), (128, 256), (64, 512), (32, 1024), (1024, 64)]
UNITS = {
    "pau": lambda: U.PAU(), "abu": lambda: U.Blend(), "adact": lambda: U.AdAct(),
    "swish_beta": lambda: U.SwishBeta(), "arelu": lambda: U.AdaptiveReLU(), "agumbel": lambda: U.AdaptiveGumbel(),
    "scaled": lambda: U.Scaled(), "floor": lambda: floor_unit(),
    "scaled_python_node": lambda: PythonNode(U.Scaled()), "pau_python_node": lambda: PythonNode(U.PAU()),
}


class PythonNode(torch.nn.Module):
    """``unit`` with its served calls on the Python autograd node (``FusedUnit``): the C++ node
    (``adaptact.kernels.native_node``) switched off around each call, for the A/B of the two."""

    def __init__(self, unit):
        super().__init__()
        self.unit = unit

    def forward(self, x):
        was = native_node.set_enabled(False)
        try:
            return self.unit(x)
        finally:
            native_node.set_enabled(was)


def floor_unit():
    """A module computing the adaptive-scaling unit with its C kernels called directly from a bare
    ``autograd.Function`` (the least a Python-level fused unit can cost per call)."""
    from adaptact.kernels import backends, c_engine

    unit = U.Scaled()
    unit(torch.randn(2, 3)).sum().backward()  # plans and builds the kernels
    (plan,) = [p for k, p in backends._PLANS.items() if k[0] == "scaled"][:1]
    lib = c_engine._library(plan.program)

    class Bare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, alpha):
            y = torch.empty_like(x)
            lib.fwd_rows(x.data_ptr(), y.data_ptr(), alpha.data_ptr(), 1, x.numel(), 1, 0, 1)
            ctx.save_for_backward(x, alpha)
            return y

        @staticmethod
        def backward(ctx, dy):
            x, alpha = ctx.saved_tensors
            dx, dalpha = torch.empty_like(x), torch.zeros(1, dtype=torch.float64)
            lib.bwd_rows(x.data_ptr(), dy.data_ptr(), alpha.data_ptr(), dx.data_ptr(), dalpha.data_ptr(),
                         1, x.numel(), 1, 0, 1)
            return dx, dalpha.float().view(())

    class Floor(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return Bare.apply(x.contiguous(), self.alpha)

    return Floor()


def _timer(module, x, dy):
    def step():
        t0 = time.perf_counter()
        module(x).backward(dy)
        return time.perf_counter() - t0
    return step


def _paired(unit_step, relu_step, rounds, inner):
    units, relus = [], []
    for _ in range(rounds):
        units.append(min(unit_step() for _ in range(inner)))
        relus.append(min(relu_step() for _ in range(inner)))
    diffs = sorted(u - r for u, r in zip(units, relus))
    q = statistics.quantiles(diffs, n=4)
    return {"unit_us": statistics.median(units) * 1e6, "relu_us": statistics.median(relus) * 1e6,
            "overhead_us": statistics.median(diffs) * 1e6, "overhead_iqr_us": [q[0] * 1e6, q[2] * 1e6]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--inner", type=int, default=3)
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument("--units", default=",".join(UNITS), help="comma-separated, of: " + ", ".join(UNITS))
    ap.add_argument("--shapes", default=",".join("x".join(map(str, s)) for s in SHAPES))
    ap.add_argument("--note", default="", help="how loaded the machine was, for the record")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "overhead.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    heap = hold_heap()
    native = native_node.wait(timeout=600)
    out = {"threads": 1, "rounds": a.rounds, "inner_min_of": a.inner,
           "note": a.note, "cpp_node": "in use" if native else native_node.problem(),
           "overhead": {}, "compiled": {}, "malloc": heap or "glibc defaults"}
    relu = torch.nn.ReLU()
    for shape in [tuple(int(n) for n in s.split("x")) for s in a.shapes.split(",")]:
        x = torch.randn(shape, requires_grad=True)
        dy = torch.randn(shape)
        row = {}
        for name in a.units.split(","):
            unit = UNITS[name]()
            for _ in range(20):
                unit(x).backward(dy)
            row[name] = _paired(_timer(unit, x, dy), _timer(relu, x, dy), a.rounds, a.inner)
            print(shape, name, {k: (round(v, 1) if isinstance(v, float) else [round(u, 1) for u in v])
                                for k, v in row[name].items()}, flush=True)
        out["overhead"]["x".join(map(str, shape))] = row
    if not a.skip_compile:
        shape = (64, 64, 32, 32)
        x = torch.randn(shape, requires_grad=True)
        dy = torch.randn(shape)
        for name in ("pau", "abu", "adact"):
            unit = UNITS[name]()
            compiled = torch.compile(unit, fullgraph=True)
            for _ in range(3):
                compiled(x).backward(dy)
                unit(x).backward(dy)
            r = _paired(_timer(compiled, x, dy), _timer(unit, x, dy), max(a.rounds // 10, 10), 1)
            res = {"compiled_ms": r["unit_us"] / 1e3, "eager_fused_ms": r["relu_us"] / 1e3,
                   "compiled_minus_eager_ms": r["overhead_us"] / 1e3,
                   "iqr_ms": [v / 1e3 for v in r["overhead_iqr_us"]]}
            out["compiled"][name] = res
            print("compiled", name, res, flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
