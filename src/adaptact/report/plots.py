"""The papers' pictures from run records (PNG, matplotlib; imported only here).

Each figure function takes an experiment, its finished records and a folder, and returns
the files it wrote. :data:`FIGURES` maps the names used in experiment specs to them.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from adaptact.experiments.base import Experiment
from adaptact.train import RunRecord

__all__ = ["FIGURES", "draw"]

GRID = torch.linspace(-4, 4, 321, dtype=torch.float64)


def _figure(rows: int, cols: int, width: float = 3.2, height: float = 2.5):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


#: Greek letters of row names spelled out, so that file names stay ASCII
_SPELLED = {"α": "alpha", "β": "beta", "γ": "gamma", "σ": "sigma"}


def _slug(text: str) -> str:
    """An ASCII file-name part: letters and digits kept, Greek letters spelled out, the rest ``-``."""
    text = "".join(_SPELLED.get(ch, ch) for ch in text.lower())
    return "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in text).strip("-")


def _by(records: Sequence[RunRecord], *keys: str) -> dict[tuple, list[RunRecord]]:
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[tuple(r.spec["tags"][k] for k in keys)].append(r)
    return groups


def _ordered(exp: Experiment, groups: dict[tuple, list], level: int, attr: str) -> list:
    labels = [getattr(x, "label") for x in getattr(exp, attr)]
    present = {k[level] for k in groups}
    return [label for label in labels if label in present]


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


# ----------------------------------------------------------------------------- learned functions


def learned_activations(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Per column: one row of panels per trainable unit type, one panel per layer; mean curve over seeds
    (thick) over each seed's curve (thin); per-channel units are averaged over their channels."""
    from adaptact.plot import activation_curve
    from adaptact.train import model_from_record
    from adaptact.params import activation_units

    trainable = [r for r in records if r.final_activations]
    groups = _by(trainable, "row", "column")
    paths = []
    for col in _ordered(exp, groups, 1, "columns"):
        rows = [r for r in _ordered(exp, groups, 0, "rows") if (r, col) in groups]
        curves: dict[str, dict[str, list[np.ndarray]]] = {}
        for row in rows:
            curves[row] = defaultdict(list)
            for rec in groups[(row, col)]:
                for name, unit in activation_units(model_from_record(rec)):
                    y = activation_curve(unit, GRID)
                    curves[row][name].append((y.mean(1) if y.dim() == 2 else y).numpy())
        width = max(len(c) for c in curves.values())
        fig, axes = _figure(len(rows), width, 2.6, 2.2)
        for i, row in enumerate(rows):
            for j in range(width):
                ax = axes[i][j]
                names = list(curves[row])
                if j >= len(names):
                    ax.axis("off")
                    continue
                ys = np.stack(curves[row][names[j]])
                for y in ys:
                    ax.plot(GRID, y, color="C0", lw=0.5, alpha=0.4)
                ax.plot(GRID, ys.mean(0), color="C0", lw=1.8)
                ax.axhline(0, color="0.85", lw=0.5)
                ax.axvline(0, color="0.85", lw=0.5)
                ax.set_title(f"{row}: {names[j]}", fontsize=7)
                ax.tick_params(labelsize=6)
        fig.suptitle(f"{exp.name}, {col}:\nlearned activations per layer (thick: mean over "
                     f"{len(groups[(rows[0], col)])} seed(s))", fontsize=9)
        paths.append(_save(fig, folder / f"{exp.name}-activations-{_slug(col)}.png"))
    return paths


# ----------------------------------------------------------------------------- training curves


#: panels of one kind side by side before a figure wraps to a new band
CURVE_PANELS_PER_BAND = 4


def training_curves(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Test accuracy and training loss over epochs, mean over seeds, one line per row.

    One pair of panels (accuracy above, loss below) per column, at most
    :data:`CURVE_PANELS_PER_BAND` pairs side by side; more columns wrap to further bands.
    """
    groups = _by(records, "column", "row")
    cols = _ordered(exp, groups, 0, "columns")
    if not cols:
        return []
    per_band = min(len(cols), CURVE_PANELS_PER_BAND)
    bands = math.ceil(len(cols) / per_band)
    fig, axes = _figure(2 * bands, per_band, 4.0, 2.8)
    for j, col in enumerate(cols):
        band, slot = divmod(j, per_band)
        acc_ax, loss_ax = axes[2 * band][slot], axes[2 * band + 1][slot]
        for i, row in enumerate(_ordered(exp, groups, 1, "rows")):
            recs = [r for r in groups.get((col, row), []) if r.curves.get("epoch")]
            if not recs:
                continue
            n = min(len(r.curves["epoch"]) for r in recs)
            epoch = recs[0].curves["epoch"][:n]
            for ax, (key, scale) in zip((acc_ax, loss_ax), (("test_accuracy", 100.0), ("train_loss", 1.0))):
                values = np.array([[np.nan if v is None else v for v in r.curves[key][:n]] for r in recs]) * scale
                ax.plot(epoch, np.nanmean(values, 0), label=row, color=f"C{i % 10}", ls="-" if i < 10 else "--", lw=1.2)
        acc_ax.set_title(col, fontsize=9)
        acc_ax.set_ylabel("test accuracy (%)", fontsize=8)
        loss_ax.set_ylabel("training loss", fontsize=8)
        loss_ax.set_xlabel("epoch", fontsize=8)
        loss_ax.set_yscale("log")
    for k in range(len(cols), bands * per_band):  # empty slots of the last band
        band, slot = divmod(k, per_band)
        axes[2 * band][slot].set_axis_off()
        axes[2 * band + 1][slot].set_axis_off()
    axes[0][per_band - 1].legend(fontsize=6, loc="lower right")
    fig.suptitle(f"{exp.name}: training curves (mean over seeds)")
    return [_save(fig, folder / f"{exp.name}-curves.png")]


# ----------------------------------------------------------------------------- parameters over training


def _component_labels(unit, param: str, size: int) -> list[str]:
    """Names of a parameter's entries: basis functions for blend weights, their own parameters, PAU coefficients."""
    from adaptact.functional import basis_function

    basis = getattr(unit, "basis", None)
    if param in ("weight", "effective_weights") and basis and len(basis) == size:
        return list(basis)
    if param == "basis_params" and basis:
        names = [f"{n}.{p}" for n in basis for p, _ in basis_function(n).params]
        if len(names) == size:
            return names
    if param == "basis_params" and getattr(unit, "base", None):
        return [f"{unit.base}.{p}" for p, _ in basis_function(unit.base).params][:size] or [param]
    prefix = {"numerator": "a", "denominator": "b"}.get(param)
    if prefix:
        start = 0 if prefix == "a" else 1
        return [f"{prefix}{k + start}" for k in range(size)]
    return [str(k) for k in range(size)]


def parameter_trajectories(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """For each trainable row (first column it ran in): every unit parameter over training steps, mean over
    seeds; vectors of up to 8 entries draw one line per entry (blend weights: the normalised ones), longer
    ones (per-channel) their mean and range."""
    from adaptact.params import activation_units
    from adaptact.train import model_from_record

    groups = _by([r for r in records if r.activations.get("units")], "row", "column")
    paths = []
    for row in _ordered(exp, groups, 0, "rows"):
        col = next(c for c in _ordered(exp, groups, 1, "columns") if (row, c) in groups)
        recs = groups[(row, col)]
        modules = dict(activation_units(model_from_record(recs[0])))
        units = recs[0].activations["units"]
        params = {u: [p for p in ps if p != "weight" or "effective_weights" not in ps] for u, ps in units.items()}
        width = max(len(p) for p in params.values())
        fig, axes = _figure(len(units), width, 3.0, 2.0)
        steps = recs[0].activations["steps"]
        for i, (unit, names) in enumerate(params.items()):
            for j in range(width):
                ax = axes[i][j]
                if j >= len(names):
                    ax.axis("off")
                    continue
                n = min(len(r.activations["units"][unit][names[j]]) for r in recs)
                v = np.array([np.array(r.activations["units"][unit][names[j]][:n], dtype=float).reshape(n, -1)
                              for r in recs]).mean(0)  # (steps, values)
                title = names[j]
                if names[j] == "rho":
                    v, title = np.exp(v), "alpha = exp(rho)"
                x = steps[:n]
                if v.shape[1] <= 8:
                    labels = _component_labels(modules[unit], names[j], v.shape[1])
                    for k in range(v.shape[1]):
                        ax.plot(x, v[:, k], lw=1.0, label=labels[k])
                    if v.shape[1] > 1:
                        ax.legend(fontsize=5, ncol=2)
                else:
                    ax.plot(x, v.mean(1), color="k", lw=1.2, label="mean over channels")
                    ax.fill_between(x, v.min(1), v.max(1), alpha=0.25, label="min-max")
                    ax.legend(fontsize=5)
                ax.set_title(f"{unit}: {title}", fontsize=7)
                ax.tick_params(labelsize=6)
        fig.suptitle(f"{exp.name}, {row} ({col}):\nparameters over training steps (mean over {len(recs)} seed(s))",
                     fontsize=9)
        paths.append(_save(fig, folder / f"{exp.name}-parameters-{_slug(row)}.png"))
    return paths


# ----------------------------------------------------------------------------- AdAct weights


def adact_weights(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """AdAct: softmax weight of each of the seven functions per layer, per data set (mean over seeds)."""
    from adaptact.functional import ADACT_BASIS

    recs = [r for r in records if r.final_activations and any(
        "effective_weights" in v and len(v["effective_weights"]) == len(ADACT_BASIS) for v in r.final_activations.values())]
    groups = _by(recs, "column")
    cols = _ordered(exp, groups, 0, "columns")
    if not cols:
        return []
    layers = list(groups[(cols[0],)][0].final_activations)
    fig, axes = _figure(len(cols), len(layers), 2.6, 2.2)
    for i, col in enumerate(cols):
        for j, layer in enumerate(layers):
            w = np.mean([r.final_activations[layer]["effective_weights"] for r in groups[(col,)]], axis=0)
            ax = axes[i][j]
            ax.bar(range(len(ADACT_BASIS)), w, color=[f"C{k}" for k in range(len(ADACT_BASIS))])
            ax.axhline(1 / len(ADACT_BASIS), color="k", lw=0.6, ls=":")
            ax.set_xticks(range(len(ADACT_BASIS)), ADACT_BASIS, rotation=60, fontsize=6)
            ax.set_title(f"{col}: layer {j + 1}", fontsize=8)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"{exp.name}: AdAct softmax weights after training (dotted: uniform 1/7)")
    return [_save(fig, folder / f"{exp.name}-adact-weights.png")]


# ----------------------------------------------------------------------------- pre-activation statistics


def preactivation_variance(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """ABU Fig. 2B: pre-activation variance of every layer over training, one line per row (mean over seeds)."""
    groups = _by([r for r in records if r.preactivations.get("steps")], "column", "row")
    paths = []
    for col in _ordered(exp, groups, 0, "columns"):
        rows = [r for r in _ordered(exp, groups, 1, "rows") if (col, r) in groups]
        layers = list(dict.fromkeys(k for r in rows for k, v in groups[(col, r)][0].preactivations["layers"].items()
                                    if "var" in v))
        if not layers:
            continue
        fig, axes = _figure(1, len(layers), 2.8, 2.4)
        for j, layer in enumerate(layers):
            ax = axes[0][j]
            for i, row in enumerate(rows):
                recs = [r for r in groups[(col, row)] if layer in r.preactivations["layers"]]
                if not recs:
                    continue
                n = min(len(r.preactivations["layers"][layer]["var"]) for r in recs)
                v = np.mean([r.preactivations["layers"][layer]["var"][:n] for r in recs], 0)
                ax.plot(recs[0].preactivations["steps"][:n], v, label=row, color=f"C{i}")
            ax.set_yscale("log")
            ax.set_title(layer, fontsize=8)
            ax.tick_params(labelsize=6)
        axes[0][0].set_ylabel("pre-activation variance", fontsize=8)
        axes[0][-1].legend(fontsize=6)
        fig.suptitle(f"{exp.name}, {col}: pre-activation variance over training steps")
        paths.append(_save(fig, folder / f"{exp.name}-preactivation-{_slug(col)}.png"))
    return paths


# ----------------------------------------------------------------------------- fitted alpha


def alpha_histogram(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Farhadi Fig. 2: histogram of the fitted per-neuron alpha = exp(rho), per row (teacher) and unit."""
    values: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for unit, params in r.final_activations.items():
            if "rho" in params:
                label = f"{r.spec['tags']['row']} / {r.spec['tags']['column']}"
                values[label] += list(np.exp(np.ravel(params["rho"])))
    if not values:
        return []
    fig, axes = _figure(1, 1, 6.0, 3.5)
    ax = axes[0][0]
    for i, (label, v) in enumerate(sorted(values.items())):
        ax.hist(np.log10(v), bins=40, alpha=0.5, label=label, color=f"C{i % 10}")
    ax.set_xlabel("log10(alpha)")
    ax.legend(fontsize=6)
    fig.suptitle(f"{exp.name}: fitted alpha per neuron")
    return [_save(fig, folder / f"{exp.name}-alpha-histogram.png")]


def _pruning(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    from adaptact.report.pruning_figure import accuracy_against_pruning  # it imports this module's helpers

    return accuracy_against_pruning(exp, records, folder)


FIGURES: dict[str, Callable[[Experiment, Sequence[RunRecord], Path], list[Path]]] = {
    "pruning": _pruning,
    "activations": learned_activations,
    "curves": training_curves,
    "parameters": parameter_trajectories,
    "adact-weights": adact_weights,
    "preact": preactivation_variance,
    "alpha-hist": alpha_histogram,
}


def draw(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Every figure the experiment asks for, from its finished records."""
    ok = [r for r in records if r.status == "ok"]
    paths = []
    for name in exp.figures:
        if name not in FIGURES:
            raise ValueError(f"{exp.name}: unknown figure {name!r}; known: {sorted(FIGURES)}")
        paths += FIGURES[name](exp, ok, folder)
    return paths
