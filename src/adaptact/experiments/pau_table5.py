"""PAU paper, Table 5 (§4.6): how often PAU/RPAU is at least as good as each baseline, over all PAU results."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from adaptact.experiments.base import Experiment, Profile, Published

BASELINES = ["ReLU", "ReLU6", "LReLU", "RReLU", "ELU", "CELU", "PReLU", "Swish", "Maxout", "Mixture", "APL", "SReLU"]
_AT_LEAST = (34, 35, 34, 33, 40, 40, 39, 41, 9, 20, 32, 33)
_BELOW = (8, 7, 8, 9, 2, 2, 3, 1, 6, 0, 7, 8)
WIN, LOSS = "PAU/RPAU >= baseline", "PAU/RPAU < baseline"


def count_wins(reports: dict[str, Any]) -> tuple[str, pd.DataFrame]:
    """The counting rule (the paper does not state its own): every (experiment, column, statistic in
    {mean, best}, unit in {PAU, RPAU}) where both the unit and the baseline have a value is one comparison;
    PAU/RPAU >= baseline counts as a win. "best" counts only where the experiment reports it (the tables
    with 5 seeds; ImageNet's Table 4 has one run per cell)."""
    counts = {b: [0, 0] for b in BASELINES}
    cells: dict[str, int] = {}
    for name, rep in reports.items():
        s = rep.summary.set_index(["row", "column"])
        stats = ("mean", "best") if "best" in rep.experiment.statistics else ("mean",)
        before = sum(w + lo for w, lo in counts.values())
        for col in rep.summary["column"].unique():
            for stat in stats:
                for unit in ("PAU", "RPAU"):
                    u = s[stat].get((unit, col), math.nan)
                    for b in BASELINES:
                        v = s[stat].get((b, col), math.nan)
                        if math.isnan(u) or math.isnan(v):
                            continue
                        counts[b][0 if u >= v else 1] += 1
        cells[name] = sum(w + lo for w, lo in counts.values()) - before
    table = pd.DataFrame(
        [{"baseline": b, "ours_win": w, "ours_loss": lo, "paper_win": pw, "paper_loss": pl}
         for (b, (w, lo)), pw, pl in zip(counts.items(), _AT_LEAST, _BELOW)]
    )
    lines = ["| baseline | ours: PAU/RPAU ≥ | ours: < | paper: ≥ | paper: < |", "|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['baseline']} | {r['ours_win']} | {r['ours_loss']} | {r['paper_win']} | {r['paper_loss']} |")
    lines += ["", "Counting rule (ours; the paper's is not stated): every (experiment, column, statistic ∈ {mean, "
              "best over seeds}, PAU and RPAU separately) where both entries exist is one comparison ('best' only "
              "where the experiment reports it: not ImageNet, one run per cell; Acc@5 is not counted). Baselines "
              "with no runs here count 0 (Maxout and Mixture only appear in the CIFAR-10 table; Maxout has no "
              "DenseNet121 cell, as in the paper)."]
    if cells:
        lines += ["", "Comparisons per experiment: " + ", ".join(f"{k} {v}" for k, v in cells.items())
                  + "; experiments not reproduced into this folder count none."]
    return "\n".join(lines), table


EXPERIMENT = Experiment(
    name="pau-table5",
    title="PAU/RPAU against each baseline: wins and losses over every PAU result",
    paper="Molina, Schramowski & Kersting: Padé Activation Units",
    source="Table 5, §4.6",
    rows=[],
    columns=[],
    profiles={"quick": Profile("quick", budget="the runs of pau-mnist-fmnist, pau-cifar10 and pau-imagenet (quick)"),
              "full": Profile("full", budget="the runs of pau-mnist-fmnist, pau-cifar10 and pau-imagenet (full)")},
    published={(b, WIN): Published(w) for b, w in zip(BASELINES, _AT_LEAST)}
    | {(b, LOSS): Published(lo) for b, lo in zip(BASELINES, _BELOW)},
    published_note="the paper aggregates over all its tables (MNIST, Fashion-MNIST, CIFAR-10, ImageNet)",
    includes=("pau-mnist-fmnist", "pau-cifar10", "pau-imagenet"),
    custom_report=count_wins,
)
