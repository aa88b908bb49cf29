"""LeNet on MNIST for one epoch, ReLU and PAU, through adaptact's engine and through a plain PyTorch loop.

    python benchmarks/lenet_mnist.py --data-dir ../shared/data [--seeds 3] [--out docs/results/lenet-mnist.md]

Both must reach at least 97% test accuracy (every seed). Throughput (training images per second, evaluation
excluded) is reported for the engine (``adaptact.train.run``) beside a hand-written loop that
trains the same architecture on the same tensors with the same optimizer and batch size, so the
engine's overhead (recorders, progress, NaN guard, evaluation bookkeeping) shows as a ratio.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import adaptact as aa
from adaptact.data import load
from adaptact.train import RunSpec, run

SETTINGS = dict(batch_size=64, lr=2e-3)  # the PAU paper's code defaults (App. A.3.2 lost its numbers)


def plain_lenet(act: str) -> nn.Module:
    """The PAU paper's LeNet written out by hand (no adaptact models), activation from the registry."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), aa.create(act), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), aa.create(act), nn.MaxPool2d(2),
        nn.Conv2d(16, 120, 5), aa.create(act), nn.Flatten(),
        nn.Linear(120, 84), aa.create(act), nn.Linear(84, 10),
    )


def plain_loop(act: str, data, seed: int = 0) -> dict:
    """One epoch of the simplest correct loop: shuffle, forward, cross-entropy, Adam step."""
    torch.manual_seed(seed)
    model = plain_lenet(act)
    opt = torch.optim.Adam(aa.param_groups(model), lr=SETTINGS["lr"])
    perm = torch.randperm(len(data.x_train))
    start = time.perf_counter()
    for idx in perm.split(SETTINGS["batch_size"]):
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum())
                      for x, y in zip(data.x_test.split(1000), data.y_test.split(1000)))
    return {"accuracy": correct / len(data.y_test), "images_per_second": len(data.x_train) / seconds,
            "seconds": seconds}


def engine_run(act: str, data_dir: str, seed: int = 0) -> dict:
    spec = RunSpec(model="lenet", act=act, data="mnist", data_dir=data_dir, epochs=1, device="cpu", seed=seed,
                   threads=torch.get_num_threads(),  # as many as the plain loop uses (a run's default is 1)
                   data_options={"normalization": "mean-std", "mean": [0.1307], "std": [0.3081], "resize": 32},
                   **SETTINGS)
    rec = run(spec)
    if rec.status != "ok":
        raise RuntimeError(f"{act}: {rec.error}")
    return {"accuracy": rec.metrics["test_accuracy"], "images_per_second": rec.throughput, "seconds": rec.wall_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None, help="also write the table as markdown here")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per activation and loop (default 3)")
    args = parser.parse_args()
    data = load("mnist", args.data_dir, normalization="mean-std", mean=[0.1307], std=[0.3081], resize=32)
    rows = []
    for act in ("relu", "pau"):
        for seed in range(args.seeds):
            e = engine_run(act, args.data_dir, seed)
            p = plain_loop(act, data, seed)
            rows.append((act, seed, e, p))
            print(f"{act} seed {seed}: engine {100 * e['accuracy']:.2f}% at {e['images_per_second']:.0f} img/s; "
                  f"plain loop {100 * p['accuracy']:.2f}% at {p['images_per_second']:.0f} img/s", flush=True)
    lines = [
        "# LeNet on MNIST, one epoch, on CPU",
        "",
        f"Command: `python benchmarks/lenet_mnist.py --data-dir DATA --seeds {args.seeds}`. Machine: "
        f"{platform.platform()}, {torch.get_num_threads()} threads, torch {torch.__version__}, adaptact "
        f"{aa.__version__}. Batch {SETTINGS['batch_size']}, Adam {SETTINGS['lr']}, 28x28 images resized to 32x32, "
        "normalised with 0.1307/0.3081, no augmentation; both loops use the same seed per row (the initial "
        "weights and the shuffling still differ between them). Throughput = training images per second, "
        "evaluation excluded.",
        "",
        "| activation | seed | engine: test accuracy | engine: images/s | plain loop: test accuracy "
        "| plain loop: images/s | engine / plain |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for act, seed, e, p in rows:
        lines.append(f"| {act} | {seed} | {100 * e['accuracy']:.2f}% | {e['images_per_second']:.0f} | "
                     f"{100 * p['accuracy']:.2f}% | {p['images_per_second']:.0f} | "
                     f"{e['images_per_second'] / p['images_per_second']:.2f} |")
    lines += ["", "| activation | engine: mean accuracy | plain loop: mean accuracy | engine images/s, ratio to ReLU |",
              "|---|---:|---:|---:|"]
    relu_speed = statistics.median(e["images_per_second"] for a, _, e, _ in rows if a == "relu")
    for act in ("relu", "pau"):
        mine = [(e, p) for a, _, e, p in rows if a == act]
        speed = statistics.median(e["images_per_second"] for e, _ in mine)
        lines.append(f"| {act} | {100 * statistics.mean(e['accuracy'] for e, _ in mine):.2f}% | "
                     f"{100 * statistics.mean(p['accuracy'] for _, p in mine):.2f}% | {speed / relu_speed:.2f} |")
    ok = all(e["accuracy"] >= 0.97 and p["accuracy"] >= 0.97 for _, _, e, p in rows)
    lines += ["", f"Every run at least 97%: {'yes' if ok else 'NO'}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
