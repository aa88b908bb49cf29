"""Davis's Fig. 10 from run records: each meta-neuron's learned function over the inputs it saw."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from adaptact.experiments.base import Experiment
from adaptact.report.figures_common import GRID, by_tags, figure, observed_range, ordered, save, slug, unit_functions
from adaptact.train import RunRecord

__all__ = ["FIG10_NEURONS", "linearity", "metaneuron_functions"]

#: Fig. 10 shows a network with one layer of three meta-neurons
FIG10_NEURONS = 3


def linearity(x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the least-squares straight line through (x, y): 1 for a linear function (Davis: "the network
    appears to have learned linear activations for the second and third")."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    residual = y - np.polyval(np.polyfit(x, y, 1), x)
    total = np.sum((y - y.mean()) ** 2)
    return 1.0 if total == 0 else float(1.0 - np.sum(residual ** 2) / total)


def _single_layer_of(record: RunRecord, neurons: int):
    """The run's only trainable unit (name, module) when its net has one layer of ``neurons`` per-neuron
    units, else None."""
    from adaptact.params import activation_units
    from adaptact.train import model_from_record

    if len(record.final_activations) != 1:
        return None
    units = activation_units(model_from_record(record))
    (name, unit), = units
    return (name, unit) if getattr(unit, "num_features", None) == neurons else None


def metaneuron_functions(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Fig. 10: for every column holding nets with one layer of :data:`FIG10_NEURONS` meta-neurons (or VAF
    units), one figure: a row of panels per such trainable row, one panel per meta-neuron of its lowest
    seed, the learned function over the range of inputs that neuron saw on the probe batch (or [-4, 4]
    when the record holds no range), its straight-line R^2 in the title."""
    single = {}
    for r in records:
        if r.final_activations:
            found = _single_layer_of(r, FIG10_NEURONS)
            if found is not None:
                single[r.key] = found
    groups = by_tags([r for r in records if r.key in single], "column", "row")
    paths = []
    for col in ordered(exp, groups, 0, "columns"):
        rows = [row for row in ordered(exp, groups, 1, "rows") if (col, row) in groups]
        fig, axes = figure(len(rows), FIG10_NEURONS, 2.8, 2.4)
        for i, row in enumerate(rows):
            rec = min(groups[(col, row)], key=lambda r: r.spec["tags"]["seed"])
            name, unit = single[rec.key]
            seen = observed_range(rec, name, per_channel=True)
            low, high = seen if seen is not None else (np.full(FIG10_NEURONS, GRID[0].item()),
                                                       np.full(FIG10_NEURONS, GRID[-1].item()))
            x, y = unit_functions(unit, low, high)
            for k in range(FIG10_NEURONS):
                ax = axes[i][k]
                ax.plot(x[:, k], y[:, k], color="C0", lw=1.5)
                ax.set_title(f"{row}, seed {rec.spec['tags']['seed']}: neuron {k + 1}\n"
                             f"straight-line R^2 = {linearity(x[:, k], y[:, k]):.4f}", fontsize=7)
                ax.set_xlabel("input" + (" (range seen on the probe batch)" if seen is not None else
                                         " ([-4, 4]: range not recorded)"), fontsize=6)
                ax.tick_params(labelsize=6)
            axes[i][0].set_ylabel("output", fontsize=7)
        fig.suptitle(f"Davis Fig. 10 ({exp.name}, {col}): learned meta-neuron functions", fontsize=9)
        paths.append(save(fig, folder / f"{exp.name}-fig10-{slug(col)}.png"))
    return paths
