"""A small, honest demonstration: an MLP on scikit-learn's bundled digits, fixed ReLU against trainable units.

Needs no data directory (the 1,797 8x8 digit images ship with scikit-learn).
Each activation is trained with the same seed, split and settings; the table
shows test accuracy and wall time, and a picture shows the learned functions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

import adaptact as aa

DEFAULT_UNITS = ("relu", "pau", "abu", "adact", "agumbel", "arelu", "swish_beta", "scaled_relu")


@dataclass
class DemoResult:
    activation: str
    test_accuracy: float
    seconds: float
    model: nn.Module


def load_digits_tensors(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Digits as float tensors, standardised with the training statistics; 75/25 stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    xtr, xte = torch.tensor(xtr, dtype=torch.float32), torch.tensor(xte, dtype=torch.float32)
    mean, std = xtr.mean(0), xtr.std(0).clamp(min=1e-3)
    return (xtr - mean) / std, torch.tensor(ytr), (xte - mean) / std, torch.tensor(yte)


def mlp(act: str, width: int = 64) -> nn.Module:
    """64 -> width -> width -> 10 with a per-layer unit after each hidden layer."""
    return nn.Sequential(
        nn.Linear(64, width), aa.create(act), nn.Linear(width, width), aa.create(act), nn.Linear(width, 10)
    )


def train_one(act: str, data, *, epochs: int = 30, batch: int = 64, lr: float = 3e-3, seed: int = 0) -> DemoResult:
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    model = mlp(act)
    opt = torch.optim.Adam(aa.param_groups(model), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xtr), generator=gen).split(batch):
            loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    return DemoResult(act, acc, seconds, model)


def run_demo(units: Sequence[str] = DEFAULT_UNITS, out: str | Path = "out/demo", epochs: int = 30) -> list[DemoResult]:
    """Train one MLP per activation on digits, print a table, save ``activations.png`` under ``out``."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    data = load_digits_tensors()
    results = []
    for act in units:
        console.print(f"training {act} ...", end=" ")
        r = train_one(act, data, epochs=epochs)
        console.print(f"{100 * r.test_accuracy:.2f}% in {r.seconds:.1f} s")
        results.append(r)
    base = next((r.seconds for r in results if r.activation == "relu"), None)
    table = Table(title=f"digits MLP (64-64-64-10), {epochs} epochs, Adam 3e-3, seed 0, test n={len(data[3])}")
    table.add_column("activation")
    table.add_column("test accuracy %", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("time / relu", justify="right")
    for r in results:
        ratio = f"{r.seconds / base:.2f}" if base else "-"
        table.add_row(r.activation, f"{100 * r.test_accuracy:.2f}", f"{r.seconds:.1f}", ratio)
    console.print(table)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trainable = [r for r in results if aa.activation_parameters(r.model)]
    if trainable:
        from adaptact.plot import plot_activations

        panels = nn.ModuleDict({r.activation: r.model for r in trainable})
        plot_activations(panels, title="learned activations (digits MLP)", path=out / "activations.png")
        console.print(f"saved {out / 'activations.png'}")
    return results
