"""PAU Fig. 4: test accuracy against the share of filters pruned, one panel per network, one line per row."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from adaptact.experiments.base import Experiment
from adaptact.report.figures_common import figure as _figure, save as _save
from adaptact.train import RunRecord

__all__ = ["accuracy_against_pruning"]


def accuracy_against_pruning(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Records with a ``prune`` spec, grouped by network (the column label before its level) and by the
    activation they ran (a level-0 run can be shared by two rows: the best baseline is one of the
    candidates); only activations pruned beyond level 0 get a line, named after the row that pruned them."""
    points: dict[str, dict[str, dict[float, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    names: dict[tuple[str, str], str] = {}
    for rec in {r.key: r for r in records}.values():  # a shared run counts once
        prune = rec.spec.get("prune")
        if prune is None or "test_accuracy" not in rec.metrics:
            continue
        network = rec.spec["tags"]["column"].rsplit(" ", 1)[0]
        act = str(rec.spec["act"])
        level = 100 * prune.get("fraction", 0.0)
        points[network][act][level].append(100 * rec.metrics["test_accuracy"])
        if level > 0:
            names[(network, act)] = rec.spec["tags"]["row"]
    networks = [n for n in dict.fromkeys(c.label.rsplit(" ", 1)[0] for c in exp.columns) if n in points]
    networks = [n for n in networks if any((n, a) in names for a in points[n])]
    if not networks:
        return []
    fig, axes = _figure(1, len(networks), 3.6, 2.8)
    for ax, network in zip(axes[0], networks):
        acts = [a for a in points[network] if (network, a) in names]
        for i, act in enumerate(acts):
            levels = sorted(points[network][act])
            means = [np.mean(points[network][act][lv]) for lv in levels]
            row = names[(network, act)]
            ax.plot(levels, means, marker="o", color=f"C{i % 10}", label=row if row.lower() == act else f"{row}: {act}")
        ax.set_title(network, fontsize=9)
        ax.set_xlabel("filters pruned (%)", fontsize=8)
        ax.set_ylabel("test accuracy (%)", fontsize=8)
        ax.legend(fontsize=6)
    fig.suptitle(f"{exp.name}: accuracy against pruning", fontsize=10)
    return [_save(fig, folder / f"{exp.name}-accuracy.png")]
