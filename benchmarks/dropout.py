"""adaptact's C dropout against torch's, and the SMCN training step with each, as ratios to nn.ReLU.

    PYTHONPATH=src python benchmarks/dropout.py [--rounds 9] [--threads 1] [--out benchmarks/results/dropout.json]

Forward+backward of dropout (p = 0.5) at SMCN's dropout shapes (batch 128, quarter and half width,
channels-last) and of ``nn.ReLU`` on the same tensor, in alternated rounds, thread CPU time (the campaign may
run beside it); then SMCN's training step (Adam, quarter and half width, ReLU) with ``adaptact.models.layers.
Dropout`` and with ``nn.Dropout``. Medians and interquartile ranges of the per-round figures.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from adaptact.kernels import dropout as D
from adaptact.models import create_model
from adaptact.models.layers import Dropout


def per_call_ms(fn, x, g, calls):
    start = time.thread_time()
    for _ in range(calls):
        xx = x.detach().requires_grad_()
        fn(xx).backward(g)
    return (time.thread_time() - start) / calls * 1e3


def summary(values):
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "iqr": [q[0], q[2]]}


def smcn_step_ms(width_divisor, torch_dropout, steps):
    torch.manual_seed(0)
    m = create_model("smcn", in_channels=3, num_classes=10, input_size=32, act="relu", width_divisor=width_divisor)
    if torch_dropout:
        for parent in list(m.modules()):
            for name, mod in parent.named_children():
                if isinstance(mod, Dropout):
                    setattr(parent, name, torch.nn.Dropout(mod.p))
    m = m.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    x = torch.randn(128, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()

    step()
    start = time.thread_time()
    for _ in range(steps):
        step()
    return (time.thread_time() - start) / steps * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5, help="SMCN steps per round")
    ap.add_argument("--out", default="benchmarks/results/dropout.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    relu = torch.nn.ReLU()
    result = {"threads": a.threads, "rounds": a.rounds, "timer": "thread CPU time", "dropout": {}, "smcn_step": {}}
    for shape in [(128, 16, 32, 32), (128, 32, 32, 32), (128, 96)]:
        x = torch.randn(shape)
        if x.dim() == 4:
            x = x.to(memory_format=torch.channels_last)
        g = torch.randn_like(x)
        assert D.served(x, 0.5)
        rows = {"adaptact": [], "torch": [], "relu": []}
        for _ in range(a.rounds):
            rows["adaptact"].append(per_call_ms(lambda t: D.dropout(t, 0.5), x, g, 5))
            rows["relu"].append(per_call_ms(relu, x, g, 5))
            rows["torch"].append(per_call_ms(lambda t: F.dropout(t, 0.5), x, g, 5))
        key = "x".join(map(str, shape))
        result["dropout"][key] = {
            "ms": {k: summary(v) for k, v in rows.items()},
            "adaptact_over_relu": summary([u / r for u, r in zip(rows["adaptact"], rows["relu"])]),
            "torch_over_relu": summary([u / r for u, r in zip(rows["torch"], rows["relu"])]),
        }
        print(key, {k: round(v["median"], 3) for k, v in result["dropout"][key].items() if k != "ms"})
    for wd in (4, 2):
        ours, theirs = [], []
        for _ in range(max(1, a.rounds // 3)):
            ours.append(smcn_step_ms(wd, False, a.steps))
            theirs.append(smcn_step_ms(wd, True, a.steps))
        result["smcn_step"][f"width/{wd}"] = {"adaptact_ms": summary(ours), "torch_ms": summary(theirs),
                                              "torch_over_adaptact": summary([t / o for o, t in zip(ours, theirs)])}
        print(f"SMCN/{wd} step", result["smcn_step"][f"width/{wd}"]["torch_over_adaptact"])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
