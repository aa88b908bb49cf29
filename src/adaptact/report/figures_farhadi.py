"""Farhadi, Nia & Lodi's figures from run records: Fig. 2 (fitted alpha, one hidden layer), Figs. 3-4
(per-neuron fitted functions in hidden layers 2 and 4 of the 8-layer nets), Figs. 6 and 8 (error curves)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from adaptact.experiments.base import Experiment
from adaptact.report.figures_common import (GRID, band_line, by_tags, curve_values, figure, observed_range, ordered,
                                            save, slug, unit_functions)
from adaptact.train import RunRecord

__all__ = ["alpha_histogram", "error_curves", "hidden_layer_functions"]

#: the paper's colours (Fig. 2): adaptive ReLU blue, adaptive Gumbel red
UNIT_COLOURS = {"arelu": "tab:blue", "agumbel": "tab:red"}
UNIT_NAMES = {"arelu": "adaptive ReLU", "agumbel": "adaptive Gumbel"}
#: Figs. 3-4: hidden layers 2 and 4 (1-based) of the eight-hidden-layer networks
FIG34_LAYERS = (2, 4)
#: a layer whose inputs all lie within this span saw one point (a collapsed network): its panel uses the default grid
COLLAPSED_SPAN = 1e-3
#: the paper's figure showing each experiment's error curves
CURVE_FIGURE = {"farhadi-mnist": "Fig. 6", "farhadi-mr": "Fig. 8"}


def _act(record: RunRecord) -> str | None:
    act = record.spec.get("act")
    return act if isinstance(act, str) else None


def _hidden_layers(record: RunRecord) -> int:
    return len((record.spec.get("model_options") or {}).get("hidden", ()))


def alpha_histogram(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Fig. 2: histograms of the fitted per-neuron alpha = exp(rho) of adaptive ReLU (blue) and adaptive
    Gumbel (red), networks with one hidden layer only; one panel per teacher, all folds pooled."""
    fitted = [r for r in records if _act(r) in UNIT_COLOURS and _hidden_layers(r) == 1 and r.final_activations]
    groups = by_tags(fitted, "row")
    teachers = ordered(exp, groups, 0, "rows")
    if not teachers:
        return []
    fig, axes = figure(1, len(teachers), max(4.0, 6.0 / len(teachers)), 3.2)
    for ax, teacher in zip(axes[0], teachers):
        alphas = {act: np.exp(np.concatenate([np.ravel(p["rho"]) for r in groups[(teacher,)] if _act(r) == act
                                              for p in r.final_activations.values()]))
                  for act in UNIT_COLOURS if any(_act(r) == act for r in groups[(teacher,)])}
        every = np.concatenate(list(alphas.values()))
        bins = np.geomspace(every.min() / 1.05, every.max() * 1.05, 31)
        for act, a in alphas.items():
            ax.hist(a, bins=bins, color=UNIT_COLOURS[act], alpha=0.55,
                    label=f"{UNIT_NAMES[act]} ({len(a)} neurons)")
        ax.axvline(1.0, color="0.5", lw=0.7, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("fitted alpha (log scale; dotted: the initial 1)", fontsize=8)
        ax.set_ylabel("neurons", fontsize=8)
        ax.set_title(teacher, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"Farhadi et al. Fig. 2 ({exp.name}): fitted alpha, one hidden layer,\n"
                 f"{len({r.spec['tags']['seed'] for r in fitted})} fold(s) pooled", fontsize=9)
    return [save(fig, folder / f"{exp.name}-fig2-alpha-histogram.png")]


def hidden_layer_functions(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Figs. 3-4: every neuron's fitted adaptive Gumbel (Fig. 3) and adaptive ReLU (Fig. 4) in hidden layers
    2 and 4 of the eight-hidden-layer networks, over the inputs each neuron saw (or [-4, 4] when the record
    holds no input range, or when every input it saw lies within :data:`COLLAPSED_SPAN`: a collapsed network,
    said on the panel); the lowest fold of each teacher; one figure per teacher."""
    from adaptact.params import activation_units
    from adaptact.train import model_from_record

    deep = [r for r in records if _act(r) in UNIT_COLOURS and _hidden_layers(r) == 8 and r.final_activations]
    groups = by_tags(deep, "row")
    paths = []
    for teacher in ordered(exp, groups, 0, "rows"):
        acts = [a for a in ("agumbel", "arelu") if any(_act(r) == a for r in groups[(teacher,)])]
        fig, axes = figure(len(acts), len(FIG34_LAYERS), 3.6, 2.8)
        for i, act in enumerate(acts):
            rec = min((r for r in groups[(teacher,)] if _act(r) == act), key=lambda r: r.spec["tags"]["seed"])
            units = activation_units(model_from_record(rec))
            for j, layer in enumerate(FIG34_LAYERS):
                ax = axes[i][j]
                name, unit = units[layer - 1]
                seen = observed_range(rec, name, per_channel=True)
                collapsed = seen is not None and float(np.max(seen[1]) - np.min(seen[0])) < COLLAPSED_SPAN
                if collapsed:  # the layer's inputs are one point: draw the functions on the default grid
                    span, seen = float(np.max(np.abs(np.concatenate([np.ravel(seen[0]), np.ravel(seen[1])])))), None
                alpha = np.exp(np.ravel(rec.final_activations[name]["rho"]))
                grid = (np.full(alpha.size, GRID[0].item()), np.full(alpha.size, GRID[-1].item()))
                x, y = unit_functions(unit, *(seen if seen is not None else grid))
                for k in range(y.shape[1]):
                    ax.plot(x[:, k], y[:, k], color=UNIT_COLOURS[act], lw=0.9, alpha=0.75)
                ax.set_title(f"{UNIT_NAMES[act]}, hidden layer {layer}: {y.shape[1]} neurons\n"
                             f"alpha {alpha.min():.3g} to {alpha.max():.3g}", fontsize=8)
                ax.set_xlabel("input" + (" (range seen on the probe batch)" if seen is not None else
                                         f" ([-4, 4]; every input seen within ±{span:.1g}: collapsed)"
                                         if collapsed else " ([-4, 4]: range not recorded)"), fontsize=7)
                if collapsed:
                    ax.text(0.03, 0.95, "collapsed network:\nthis layer's inputs are constant", fontsize=7,
                            transform=ax.transAxes, va="top", color="0.3")
                ax.set_ylabel("output", fontsize=7)
                ax.tick_params(labelsize=6)
        fig.suptitle(f"Farhadi et al. Figs. 3-4 ({exp.name}): fitted per-neuron activations, {teacher}, "
                     f"fold {rec.spec['tags']['seed']}", fontsize=9)
        paths.append(save(fig, folder / f"{exp.name}-fig3-4-{slug(teacher)}.png"))
    return paths


def error_curves(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Figs. 6 and 8: training and held-out error per epoch, one line per (conv row, dense column) cell:
    colour by row, line style by column, mean over seeds/folds with its 95 % confidence band. Training
    error comes from the training-sample accuracy when recorded, else the panel shows the training loss;
    held-out error is the validation split's, else the test split's (the held-out fold)."""
    groups = by_tags([r for r in records if r.curves.get("epoch")], "row", "column")
    rows, cols = ordered(exp, groups, 0, "rows"), ordered(exp, groups, 1, "columns")
    if not groups:
        return []
    some = next(iter(groups.values()))[0].curves
    train_key = "train_accuracy" if some.get("train_accuracy") else "train_loss"
    held_key = "val_accuracy" if any(v is not None for v in some.get("val_accuracy") or ()) else "test_accuracy"
    fig, axes = figure(1, 2, 5.0, 3.6)
    styles = ("-", "--", ":", "-.")
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            recs = groups.get((row, col))
            if not recs:
                continue
            n = min(len(r.curves["epoch"]) for r in recs)
            epoch = recs[0].curves["epoch"][:n]
            for ax, key in zip(axes[0], (train_key, held_key)):
                v = curve_values(recs, key, n)
                v = v if key == "train_loss" else 100 * (1 - v)
                band_line(ax, epoch, v, color=f"C{i % 10}", ls=styles[j % len(styles)], label=f"{row} / {col}")
    axes[0][0].set_ylabel("training loss" if train_key == "train_loss" else "training error (%)", fontsize=8)
    axes[0][1].set_ylabel(("validation" if held_key == "val_accuracy" else "held-out (test)") + " error (%)",
                          fontsize=8)
    axes[0][0].set_yscale("log")
    for ax in axes[0]:
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][1].legend(fontsize=6, ncol=1)
    seeds = max(len(v) for v in groups.values())
    fig.suptitle(f"Farhadi et al. {CURVE_FIGURE.get(exp.name, 'error curves')} ({exp.name}): error per epoch, "
                 f"mean over up to {seeds} run(s), band: 95 % CI", fontsize=9)
    return [save(fig, folder / f"{exp.name}-error-curves.png")]
