"""adaptact's C max pooling against torch's ``F.max_pool2d`` (and ``nn.ReLU``), in the same process, and the
training steps of the papers' pooled networks with and without it.

    PYTHONPATH=src python benchmarks/max_pool.py [--rounds 15] [--threads 1] [--out out/max-pool.json]

Pooling: forward + backward of the shapes the campaign's networks pool (LeNet-5's two layers at batch 100,
SMCN's 3x3/2 at a quarter width, VGG-8's first 2x2 at batch 128), each call of ours, torch's and a ReLU on
the same input timed in alternation; a figure is the median over rounds of the per-round ratio (thread
CPU time of the calling thread, which time spent descheduled does not count: readable on a loaded machine),
with the interquartile range. Steps: one SGD step of the network on one batch with the C pooling and with
torch's (``served`` switched off), alternated the same way. The values and gradients are the same bits either
way (tests/test_max_pool.py), so only the time differs.
"""
from __future__ import annotations

import platform
import statistics
import sys

import torch
import torch.nn.functional as F

from adaptact.kernels import max_pool as M
from cpu_timing import alternate, options, quartiles, thread_cpu, write_result

POOLS = [  # (what, input shape, kernel, stride)
    ("LeNet-5 conv1 (batch 100)", (100, 20, 24, 24), 2, 2),
    ("LeNet-5 conv2 (batch 100)", (100, 50, 8, 8), 2, 2),
    ("SMCN/4 pool1 3x3/2 (batch 128, padded)", (128, 24, 33, 33), 3, 2),
    ("VGG-8/4 pool1 (batch 128)", (128, 16, 32, 32), 2, 2),
]


def _pool_call(pool, x, k, s):
    def call():
        xx = x.detach().requires_grad_()
        y = pool(xx, k, s)
        y.backward(torch.ones_like(y))
    return call


def _relu_call(x):
    def call():
        xx = x.detach().requires_grad_()
        y = torch.relu(xx)
        y.backward(torch.ones_like(y))
    return call


def pools(rounds: int) -> list[dict]:
    rows = []
    for what, shape, k, s in POOLS:
        x = torch.randn(shape)
        assert M.served(x, k, s) is not None, what
        calls = {"ours": _pool_call(M.max_pool2d, x, k, s), "torch": _pool_call(F.max_pool2d, x, k, s),
                 "relu": _relu_call(x)}
        times = alternate(calls, rounds)
        speedup = [t / o for t, o in zip(times["torch"], times["ours"])]
        ours_relu = [o / r for o, r in zip(times["ours"], times["relu"])]
        torch_relu = [t / r for t, r in zip(times["torch"], times["relu"])]
        rows.append({"what": what, "shape": list(shape), "kernel": k, "stride": s,
                     "ms": {n: statistics.median(v) * 1e3 for n, v in times.items()},
                     "torch_over_ours": quartiles(speedup), "ours_over_relu": quartiles(ours_relu),
                     "torch_over_relu": quartiles(torch_relu)})
    return rows


def _step(model, batch, target):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def call():
        opt.zero_grad()
        F.cross_entropy(model(batch), target).backward()
        opt.step()
    return call


def steps(rounds: int) -> list[dict]:
    from adaptact.models.adact_convnet import AdActConvNet
    from adaptact.models.lenet import LeNet5
    from adaptact.models.smcn import SMCN

    nets = [("LeNet-5 (Farhadi), batch 100", lambda: LeNet5(act_conv="relu"), (100, 1, 28, 28)),
            ("AdAct ConvNet, batch 64", lambda: AdActConvNet(in_channels=1), (64, 1, 28, 28)),
            ("SMCN/4 (ABU), batch 128", lambda: SMCN(width_divisor=4), (128, 3, 32, 32))]
    rows = []
    served = M.served
    for what, make, shape in nets:
        torch.manual_seed(0)
        model, batch = make(), torch.randn(shape)
        target = torch.randint(0, 10, (shape[0],))
        step = _step(model, batch, target)

        def with_torch_pooling():
            M.served = lambda *a, **k: None
            try:
                step()
            finally:
                M.served = served

        step(), with_torch_pooling()
        ours, theirs = [], []
        for _ in range(rounds):
            ours.append(thread_cpu(step))
            theirs.append(thread_cpu(with_torch_pooling))
        rows.append({"what": what, "ms": {"ours": statistics.median(ours) * 1e3,
                                          "torch": statistics.median(theirs) * 1e3},
                     "torch_over_ours": quartiles([t / o for t, o in zip(theirs, ours)])})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = options(__doc__.splitlines()[0], rounds=15).parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {"threads": args.threads, "rounds": args.rounds, "torch": torch.__version__,
              "machine": platform.platform(), "processor": platform.processor(),
              "pools": pools(args.rounds), "steps": steps(args.rounds)}
    print(f"{'pooling, forward + backward':<42} {'torch ms':>9} {'ours ms':>8} {'torch/ours [IQR]':>20} "
          f"{'ours/ReLU':>10} {'torch/ReLU':>11}")
    for r in result["pools"]:
        q = r["torch_over_ours"]
        print(f"{r['what']:<42} {r['ms']['torch']:>9.2f} {r['ms']['ours']:>8.2f} "
              f"{q[1]:>6.2f} [{q[0]:.2f}, {q[2]:.2f}]{'':>3} {r['ours_over_relu'][1]:>10.2f} "
              f"{r['torch_over_relu'][1]:>11.2f}")
    print(f"\n{'training step':<42} {'torch ms':>9} {'ours ms':>8} {'torch/ours [IQR]':>20}")
    for r in result["steps"]:
        q = r["torch_over_ours"]
        print(f"{r['what']:<42} {r['ms']['torch']:>9.2f} {r['ms']['ours']:>8.2f} {q[1]:>6.2f} [{q[0]:.2f}, {q[2]:.2f}]")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
