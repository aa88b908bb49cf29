"""The papers' pictures from run records (PNG, matplotlib; imported only when drawing).

Each figure function takes an experiment, its finished records and a folder, and returns
the files it wrote. :data:`FIGURES` maps the names used in experiment specs to them: the
generic figures live here, each paper's own ones in ``figures_<paper>.py``.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from adaptact.experiments.base import Experiment
from adaptact.report import figures_abu, figures_davis, figures_farhadi, figures_pau
from adaptact.report.figures_common import GRID, band_line, by_tags, curve_values, figure, ordered, save, slug
from adaptact.train import RunRecord

__all__ = ["FIGURES", "draw"]

# ----------------------------------------------------------------------------- learned functions


def learned_activations(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Per column: one row of panels per trainable unit type, one panel per layer; mean curve over seeds
    (thick) over each seed's curve (thin); per-channel units are averaged over their channels."""
    from adaptact.plot import activation_curve
    from adaptact.train import model_from_record
    from adaptact.params import activation_units

    trainable = [r for r in records if r.final_activations]
    groups = by_tags(trainable, "row", "column")
    paths = []
    for col in ordered(exp, groups, 1, "columns"):
        rows = [r for r in ordered(exp, groups, 0, "rows") if (r, col) in groups]
        curves: dict[str, dict[str, list[np.ndarray]]] = {}
        for row in rows:
            curves[row] = defaultdict(list)
            for rec in groups[(row, col)]:
                for name, unit in activation_units(model_from_record(rec)):
                    y = activation_curve(unit, GRID)
                    curves[row][name].append((y.mean(1) if y.dim() == 2 else y).numpy())
        width = max(len(c) for c in curves.values())
        fig, axes = figure(len(rows), width, 2.6, 2.2)
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
        paths.append(save(fig, folder / f"{exp.name}-activations-{slug(col)}.png"))
    return paths


# ----------------------------------------------------------------------------- training curves


#: panels of one kind side by side before a figure wraps to a new band
CURVE_PANELS_PER_BAND = 4


def _row_style(i: int, rows: int) -> dict:
    """Row ``i``'s colour and line style: ten colours (tab10) for up to ten rows, else twenty (tab20),
    the line style changing after each round of colours, so that no two rows look alike."""
    import matplotlib

    colours = 10 if rows <= 10 else 20
    cmap = matplotlib.colormaps["tab10" if colours == 10 else "tab20"]
    return {"color": cmap(i % colours), "ls": ("-", "--", ":", "-.")[(i // colours) % 4]}


def _clip_outliers(ax, factor: float = 10.0) -> None:
    """Keep a few huge values (a diverging first epoch: SLAF's loss reached 1e17) from squashing every
    other curve of a log panel: the top is set to twice the 98th percentile of the plotted means when
    the largest is more than ``factor`` times that, and the panel says so."""
    values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()] or [[]])
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return
    p98 = float(np.percentile(values, 98))
    if values.max() > factor * p98:
        ax.set_ylim(values.min() / 1.5, 2 * p98)
        ax.text(0.98, 0.97, f"clipped: values up to {values.max():.3g}", transform=ax.transAxes, ha="right",
                va="top", fontsize=6, color="0.3")


def _fit_to_means(ax, margin: float = 1.5) -> None:
    """Fit a log panel's height to its mean curves (``margin`` times beyond the smallest and largest), so that
    a wide band (a t-interval over two seeds, whose lower end can reach 0) does not flatten every curve; a
    band that reaches further is cut by the panel's edge."""
    values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()] or [[]])
    values = values[np.isfinite(values) & (values > 0)]
    if len(values):
        ax.set_ylim(values.min() / margin, values.max() * margin)


def _minor_log_label(v: float, _pos: object) -> str:
    """A minor tick's label on a log axis: the value where its leading digit is 2, 3 or 5, else none."""
    if v <= 0:
        return ""
    lead = round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6)
    return f"{v:g}" if lead in (2.0, 3.0, 5.0) else ""


def training_curves(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Test accuracy and training loss over epochs, one line per row: the mean over seeds with its 95 %
    confidence band (t-interval over seeds; no band for a single seed).

    One pair of panels (accuracy above, loss below) per column, at most
    :data:`CURVE_PANELS_PER_BAND` pairs side by side; more columns wrap to further bands.
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    groups = by_tags(records, "column", "row")
    cols = ordered(exp, groups, 0, "columns")
    if not cols:
        return []
    per_band = min(len(cols), CURVE_PANELS_PER_BAND)
    bands = math.ceil(len(cols) / per_band)
    rows = ordered(exp, groups, 1, "rows")
    fig, axes = figure(2 * bands, per_band, 4.0, 2.8)
    for j, col in enumerate(cols):
        band, slot = divmod(j, per_band)
        acc_ax, loss_ax = axes[2 * band][slot], axes[2 * band + 1][slot]
        for i, row in enumerate(rows):
            recs = [r for r in groups.get((col, row), []) if r.curves.get("epoch")]
            if not recs:
                continue
            n = min(len(r.curves["epoch"]) for r in recs)
            epoch = recs[0].curves["epoch"][:n]
            for ax, key, scale, domain in ((acc_ax, "test_accuracy", 100.0, (0.0, 100.0)),
                                           (loss_ax, "train_loss", 1.0, None)):
                band_line(ax, epoch, curve_values(recs, key, n) * scale, label=row, domain=domain,
                          **_row_style(i, len(rows)))
        acc_ax.set_title(col, fontsize=9)
        acc_ax.set_ylabel("test accuracy (%)", fontsize=8)
        loss_ax.set_ylabel("training loss", fontsize=8)
        loss_ax.set_xlabel("epoch", fontsize=8)
        loss_ax.set_yscale("log")
        _fit_to_means(loss_ax)
        _clip_outliers(loss_ax)
        for ax in (acc_ax, loss_ax):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        # plain numbers (0.2, 0.5, 2 rather than 2 x 10^-1); of the minor ticks only 2, 3 and 5 labelled
        loss_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        loss_ax.yaxis.set_minor_formatter(FuncFormatter(_minor_log_label))
    for k in range(len(cols), bands * per_band):  # empty slots of the last band
        band, slot = divmod(k, per_band)
        axes[2 * band][slot].set_axis_off()
        axes[2 * band + 1][slot].set_axis_off()
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes.flat:  # every row once, even one that ran in another column only
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", fontsize=6, ncol=max(1, min(len(labels), 3 * per_band)))
    seeds = max(len(v) for v in groups.values())
    fig.suptitle(f"{exp.name}: training curves per epoch\n(mean over up to {seeds} seed(s), band: 95 % CI)",
                 fontsize=9)
    return [save(fig, folder / f"{exp.name}-curves.png")]


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

    groups = by_tags([r for r in records if r.activations.get("units")], "row", "column")
    paths = []
    for row in ordered(exp, groups, 0, "rows"):
        col = next(c for c in ordered(exp, groups, 1, "columns") if (row, c) in groups)
        recs = groups[(row, col)]
        modules = dict(activation_units(model_from_record(recs[0])))
        units = recs[0].activations["units"]
        params = {u: [p for p in ps if p != "weight" or "effective_weights" not in ps] for u, ps in units.items()}
        width = max(len(p) for p in params.values())
        fig, axes = figure(len(units), width, 3.0, 2.0)
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
        paths.append(save(fig, folder / f"{exp.name}-parameters-{slug(row)}.png"))
    return paths


# ----------------------------------------------------------------------------- AdAct weights


def adact_weights(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """AdAct: softmax weight of each of the seven functions per layer, per data set (mean over seeds)."""
    from adaptact.functional import ADACT_BASIS

    recs = [r for r in records if r.final_activations and any(
        "effective_weights" in v and len(v["effective_weights"]) == len(ADACT_BASIS) for v in r.final_activations.values())]
    groups = by_tags(recs, "column")
    cols = ordered(exp, groups, 0, "columns")
    if not cols:
        return []
    layers = list(groups[(cols[0],)][0].final_activations)
    fig, axes = figure(len(cols), len(layers), 2.6, 2.2)
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
    return [save(fig, folder / f"{exp.name}-adact-weights.png")]


# ----------------------------------------------------------------------------- pre-activation statistics


def preactivation_variance(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """ABU Fig. 2B: pre-activation variance of every layer over training, one line per row (mean over seeds)."""
    groups = by_tags([r for r in records if r.preactivations.get("steps")], "column", "row")
    paths = []
    for col in ordered(exp, groups, 0, "columns"):
        rows = [r for r in ordered(exp, groups, 1, "rows") if (col, r) in groups]
        layers = list(dict.fromkeys(k for r in rows for k, v in groups[(col, r)][0].preactivations["layers"].items()
                                    if "var" in v))
        if not layers:
            continue
        fig, axes = figure(1, len(layers), 2.8, 2.4)
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
        paths.append(save(fig, folder / f"{exp.name}-preactivation-{slug(col)}.png"))
    return paths


def _pruning(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    from adaptact.report.pruning_figure import accuracy_against_pruning

    return accuracy_against_pruning(exp, records, folder)


FIGURES: dict[str, Callable[[Experiment, Sequence[RunRecord], Path], list[Path]]] = {
    "pruning": _pruning,
    "activations": learned_activations,
    "curves": training_curves,
    "parameters": parameter_trajectories,
    "adact-weights": adact_weights,
    "preact": preactivation_variance,
    "alpha-hist": figures_farhadi.alpha_histogram,
    "farhadi-fig3-4": figures_farhadi.hidden_layer_functions,
    "error-curves": figures_farhadi.error_curves,
    "abu-fig2b": figures_abu.fig2b,
    "abu-spread": figures_abu.spread,
    "pau-fig3": figures_pau.learned_rational_functions,
    "davis-fig10": figures_davis.metaneuron_functions,
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
