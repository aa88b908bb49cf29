"""SMCN_BN's blended basis batch norm (ABU Table 2): the four-pass C blend (``adaptact.kernels.basis_batchnorm``)
against the reference with ``batch_standardize`` on torch's batch norm, that against the formula it replaced
(``var_mean`` and three elementwise ops), and all against ``nn.ReLU``, in one process.

    PYTHONPATH=src python benchmarks/basis_batchnorm.py [--rounds 11] [--threads 1] [--out out/basis-bn.json]

Figures timed in alternation (a round runs every variant once) in thread CPU time of the calling thread
(time spent descheduled does not count: readable on a loaded machine), as the median over rounds with the
interquartile range of the per-round ratio:

- the standardisation alone, forward + backward, at the shape of SMCN_BN/4's first layer at batch 128;
- the ABU unit with ``basis_batchnorm=True`` there (five basis outputs, each standardised): fused (the
  default), reference with torch's batch norm (``native``), reference with the formula;
- one Adam step of SMCN_BN/4 (``bn_batch_stats_at_test``, ``blend_basis_batchnorm``: the abu-table2 medium
  column) at batch 128, with ABU, against the same network with ReLU; and the same channels-last, as the
  campaign runs it (``RunSpec.memory_format``).

The values agree to rounding (``tests/test_identities.py``, ``tests/test_basis_batchnorm.py``); only the time
is measured here.
"""
from __future__ import annotations

import platform
import statistics
import sys

import torch
import torch.nn.functional as F

import adaptact as aa
import adaptact.functional as AF
from adaptact import kernels
from adaptact.models import create_model
from adaptact.train.memory_format import apply_memory_format
from cpu_timing import alternate, options, quartiles, write_result

SHAPE = (128, 16, 32, 32)  # SMCN_BN/4's first layer at batch 128


def formula_standardize(t: torch.Tensor, eps: float = AF.BATCH_NORM_EPS) -> torch.Tensor:
    """The formula ``batch_standardize`` computed before (the baseline of this benchmark)."""
    dims = [0] + list(range(2, t.dim())) if t.dim() >= 2 else [0]
    var, mean = torch.var_mean(t, dim=dims, keepdim=True, unbiased=False)
    return (t - mean) * torch.rsqrt(var + eps)


def _with_standardize(fn, impl):
    """``fn`` on the reference path (``kernels.use("reference")``) with ``batch_standardize`` = ``impl``."""
    def call():
        saved = AF.batch_standardize
        AF.batch_standardize = impl
        try:
            with kernels.use("reference"):
                fn()
        finally:
            AF.batch_standardize = saved
    return call


def _fwd_bwd(module, x):
    def call():
        xx = x.detach().requires_grad_()
        module(xx).backward(torch.ones(x.shape))
    return call


def _adam_step(model, batch, target):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def call():
        opt.zero_grad()
        F.cross_entropy(model(batch), target).backward()
        opt.step()
    return call


def _row(what: str, times: dict[str, list[float]]) -> dict:
    ms = {n: statistics.median(v) * 1e3 for n, v in times.items()}
    out = {"what": what, "ms": ms}
    for a, b in (("formula", "native"), ("native", "fused"), ("native", "relu"), ("fused", "relu"),
                 ("formula", "relu")):
        if a in times and b in times:
            out[f"{a}_over_{b}"] = quartiles([x / y for x, y in zip(times[a], times[b])])
    return out


def measure(rounds: int) -> list[dict]:
    torch.manual_seed(0)
    x = torch.randn(SHAPE)
    native = AF.batch_standardize
    relu = _fwd_bwd(torch.nn.ReLU(), x)
    alone = {"native": _fwd_bwd(native, x), "formula": _fwd_bwd(formula_standardize, x), "relu": relu}
    unit = aa.create("abu", basis_batchnorm=True).train()
    units = {"fused": _fwd_bwd(unit, x), "native": _with_standardize(_fwd_bwd(unit, x), native),
             "formula": _with_standardize(_fwd_bwd(unit, x), formula_standardize), "relu": relu}
    options = dict(in_channels=3, width_divisor=4, bn_batch_stats_at_test=True)
    rows = [_row(f"batch_standardize {SHAPE}, forward + backward", alternate(alone, rounds)),
            _row("ABU with basis_batchnorm, forward + backward", alternate(units, rounds))]
    for layout in ("contiguous", "channels_last"):
        abu_net = apply_memory_format(create_model("smcn_bn", act="abu", blend_basis_batchnorm=True, **options),
                                      layout)
        relu_net = apply_memory_format(create_model("smcn_bn", act="relu", **options), layout)
        batch, target = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
        steps = {"fused": _adam_step(abu_net, batch, target),
                 "native": _with_standardize(_adam_step(abu_net, batch, target), native),
                 "relu": _adam_step(relu_net, batch, target)}
        if layout == "contiguous":
            steps["formula"] = _with_standardize(_adam_step(abu_net, batch, target), formula_standardize)
        rows.append(_row(f"SMCN_BN/4 Adam step, batch 128, {layout} (ReLU: the same network with ReLU)",
                         alternate(steps, rounds)))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = options(__doc__.splitlines()[0], rounds=11).parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = measure(args.rounds)
    names = ("fused", "native", "formula", "relu")
    print(f"{'what':<78} " + " ".join(f"{n + ' ms':>10}" for n in names)
          + f" {'native/fused [IQR]':>22} {'fused/ReLU':>10} {'native/ReLU':>11}")
    for r in rows:
        cells = " ".join(f"{r['ms'][n]:>10.1f}" if n in r["ms"] else f"{'-':>10}" for n in names)
        q = r.get("native_over_fused")
        ratio = f"{q[1]:>8.2f} [{q[0]:.2f}, {q[2]:.2f}]" if q else f"{'-':>22}"
        fused = f"{r['fused_over_relu'][1]:>10.2f}" if "fused_over_relu" in r else f"{'-':>10}"
        print(f"{r['what']:<78} {cells} {ratio:>22} {fused} {r['native_over_relu'][1]:>11.2f}")
    write_result(args.out, {"threads": args.threads, "rounds": args.rounds, "torch": torch.__version__,
                            "machine": platform.platform(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
