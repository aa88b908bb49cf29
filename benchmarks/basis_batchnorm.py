"""SMCN_BN's blended basis batch norm (ABU Table 2): ``batch_standardize`` on torch's batch norm against the
formula it replaced (``var_mean`` and three elementwise ops), and both against ``nn.ReLU``, in one process.

    PYTHONPATH=src python benchmarks/basis_batchnorm.py [--rounds 11] [--threads 1] [--out out/basis-bn.json]

Three figures, each timed in alternation (a round runs every variant once) in thread CPU time of the
calling thread (time spent descheduled does not count: readable on a loaded machine), as the median over
rounds with the interquartile range of the per-round ratio:

- the standardisation alone, forward + backward, at the shape of SMCN_BN/4's first layer at batch 128;
- the ABU unit with ``basis_batchnorm=True`` there (five basis outputs, each standardised);
- one Adam step of SMCN_BN/4 (``bn_batch_stats_at_test``, ``blend_basis_batchnorm``: the abu-table2 medium
  column) at batch 128, with ABU, against the same network with ReLU.

The values agree to rounding (``tests/test_identities.py``); only the time is measured here.
"""
from __future__ import annotations

import platform
import statistics
import sys

import torch
import torch.nn.functional as F

import adaptact as aa
import adaptact.functional as AF
from adaptact.models import create_model
from cpu_timing import alternate, options, quartiles, write_result

SHAPE = (128, 16, 32, 32)  # SMCN_BN/4's first layer at batch 128


def formula_standardize(t: torch.Tensor, eps: float = AF.BATCH_NORM_EPS) -> torch.Tensor:
    """The formula ``batch_standardize`` computed before (the baseline of this benchmark)."""
    dims = [0] + list(range(2, t.dim())) if t.dim() >= 2 else [0]
    var, mean = torch.var_mean(t, dim=dims, keepdim=True, unbiased=False)
    return (t - mean) * torch.rsqrt(var + eps)


def _with_standardize(fn, impl):
    def call():
        saved = AF.batch_standardize
        AF.batch_standardize = impl
        try:
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
    out = {"what": what, "ms": ms,
           "formula_over_native": quartiles([f / n for f, n in zip(times["formula"], times["native"])])}
    if "relu" in times:
        out["native_over_relu"] = quartiles([n / r for n, r in zip(times["native"], times["relu"])])
        out["formula_over_relu"] = quartiles([f / r for f, r in zip(times["formula"], times["relu"])])
    return out


def measure(rounds: int) -> list[dict]:
    torch.manual_seed(0)
    x = torch.randn(SHAPE)
    native = AF.batch_standardize
    alone = {"native": _fwd_bwd(native, x), "formula": _fwd_bwd(formula_standardize, x),
             "relu": _fwd_bwd(torch.nn.ReLU(), x)}
    unit = aa.create("abu", basis_batchnorm=True).train()
    units = {"native": _with_standardize(_fwd_bwd(unit, x), native),
             "formula": _with_standardize(_fwd_bwd(unit, x), formula_standardize),
             "relu": _fwd_bwd(torch.nn.ReLU(), x)}
    options = dict(in_channels=3, width_divisor=4, bn_batch_stats_at_test=True)
    abu_net = create_model("smcn_bn", act="abu", blend_basis_batchnorm=True, **options)
    relu_net = create_model("smcn_bn", act="relu", **options)
    batch, target = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
    steps = {"native": _with_standardize(_adam_step(abu_net, batch, target), native),
             "formula": _with_standardize(_adam_step(abu_net, batch, target), formula_standardize),
             "relu": _adam_step(relu_net, batch, target)}
    return [_row(f"batch_standardize {SHAPE}, forward + backward", alternate(alone, rounds)),
            _row("ABU with basis_batchnorm, forward + backward", alternate(units, rounds)),
            _row("SMCN_BN/4 Adam step, batch 128 (ReLU: the same network with ReLU)", alternate(steps, rounds))]


def main(argv: list[str] | None = None) -> int:
    args = options(__doc__.splitlines()[0], rounds=11).parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = measure(args.rounds)
    print(f"{'what':<68} {'formula ms':>10} {'native ms':>9} {'formula/native [IQR]':>22} {'native/ReLU':>11} "
          f"{'formula/ReLU':>12}")
    for r in rows:
        q = r["formula_over_native"]
        print(f"{r['what']:<68} {r['ms']['formula']:>10.1f} {r['ms']['native']:>9.1f} "
              f"{q[1]:>8.2f} [{q[0]:.2f}, {q[2]:.2f}]{'':>4} {r['native_over_relu'][1]:>11.2f} "
              f"{r['formula_over_relu'][1]:>12.2f}")
    write_result(args.out, {"threads": args.threads, "rounds": args.rounds, "torch": torch.__version__,
                            "machine": platform.platform(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
