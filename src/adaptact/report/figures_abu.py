"""The ABU paper's analyses from run records: Fig. 2B (adaptive scaling against the covariate shift of the
last hidden layer) and the spread over runs of the final scaling and blending weights (§3.3: 0.023, 0.010)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from torch import nn

from adaptact.experiments.base import Experiment
from adaptact.report.figures_common import band_line, by_tags, figure, ordered, save, slug
from adaptact.train import RunRecord, write_text_atomic

__all__ = ["DENSE2_ROWS", "dense2_layers", "fig2b", "parameter_spread", "parameter_spread_markdown", "spread_table"]

#: Fig. 2B compares these two rows (by their activation names)
DENSE2_ROWS = ("tanh", "scaled_tanh")
#: §3.3: mean over layers of the s.d. over runs of the final alpha, and of the ABU blending weights
PAPER_SPREAD = {"alpha": 0.023, "blend weights": 0.010}
#: the paper's colours of Fig. 2B
COLOURS = {"alpha": "magenta", "weight": "tab:blue", "preact": "tab:orange"}


def dense2_layers(model: nn.Module) -> tuple[str, str | None, str]:
    """Names in ``model`` of dense2 (the last hidden linear layer: the last ``nn.Linear`` but one), of the
    activation layer just before it (whose alpha scales dense2's input; ``None`` if there is none) and of
    the activation layer just after it (whose input are dense2's pre-activations)."""
    from adaptact.params import is_activation_layer

    modules = list(model.named_modules())
    linears = [i for i, (_, m) in enumerate(modules) if isinstance(m, nn.Linear)]
    if len(linears) < 2:
        raise ValueError(f"{type(model).__name__} has {len(linears)} linear layer(s); Fig. 2B needs a dense2")
    at = linears[-2]
    before = [name for name, m in modules[:at] if is_activation_layer(m)]
    after = [name for name, m in modules[at + 1:] if is_activation_layer(m)]
    if not after:
        raise ValueError(f"{type(model).__name__}: no activation after {modules[at][0]}")
    return modules[at][0], (before[-1] if before else None), after[0]


def _series(record: RunRecord, names: tuple[str, str | None, str]) -> dict[str, list]:
    dense2, act_before, act_after = names
    layers = record.preactivations["layers"]
    steps = record.preactivations["steps"]
    alpha = (record.activations.get("units") or {}).get(act_before, {}).get("alpha")
    return {"steps": steps,
            "alpha": [float(np.ravel(a)[0]) for a in alpha] if alpha else [1.0] * len(steps),
            "weight": layers[dense2]["weight_var"], "preact": layers[act_after]["var"]}


def fig2b(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Fig. 2B: tanh against alpha-tanh, one panel each: alpha of the layer before dense2 (magenta; 1 for
    tanh), Var(W_dense2) (blue) and the variance of dense2's pre-activations on the probe batch (orange)
    over training steps, mean over seeds with its 95 % band, log scale; one figure per column."""
    from adaptact.train import model_from_record

    recs = [r for r in records if r.spec.get("act") in DENSE2_ROWS and r.preactivations.get("steps")]
    groups = by_tags(recs, "column", "row")
    paths = []
    for col in ordered(exp, groups, 0, "columns"):
        rows = [row for row in ordered(exp, groups, 1, "rows") if (col, row) in groups]
        rows.sort(key=lambda row: DENSE2_ROWS.index(groups[(col, row)][0].spec["act"]))
        if not rows:
            continue
        fig, axes = figure(1, len(rows), 4.2, 3.2)
        for ax, row in zip(axes[0], rows):
            cell = groups[(col, row)]
            names = dense2_layers(model_from_record(cell[0]))
            series = [_series(r, names) for r in cell]
            n = min(len(s["steps"]) for s in series)
            steps = series[0]["steps"][:n]
            labels = {"alpha": f"alpha of {names[1]} (before dense2)", "weight": f"Var(W_dense2) ({names[0]})",
                      "preact": f"Var(dense2 pre-activations) ({names[2]} input)"}
            for key, label in labels.items():
                band_line(ax, steps, np.array([s[key][:n] for s in series], dtype=float), color=COLOURS[key],
                          label=label)
            ax.set_yscale("log")
            ax.set_xlabel("training step", fontsize=8)
            ax.set_title(f"{row} ({len(cell)} run(s))", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6)
        fig.suptitle(f"ABU paper Fig. 2B ({exp.name}, {col}): adaptive scaling and dense2's pre-activation "
                     "variance\n(mean over runs, band: 95 % CI)", fontsize=9)
        paths.append(save(fig, folder / f"{exp.name}-fig2b-{slug(col)}.png"))
    return paths


def _spread_kind(params: dict) -> tuple[str, str] | None:
    """Which final parameter of a unit the spread is about: ``("alpha", "alpha")`` for a scaled unit,
    ``("blend weights", key)`` for a blend (its normalised weights), else ``None``."""
    if "effective_weights" in params:
        return "blend weights", "effective_weights"
    if "alpha" in params:
        return "alpha", "alpha"
    return None


def parameter_spread(records: Sequence[RunRecord]) -> list[dict]:
    """For each (column, row) whose units have a scaling alpha or blending weights, and at least two runs:
    the s.d. over runs of each final parameter entry, per layer; its mean over layers (and blend weights)
    is the paper's mean(sigma) (§3.3). One dict per cell: column, row, parameter, runs, layers, mean_sd,
    max_sd, paper."""
    out = []
    for (col, row), cell in by_tags([r for r in records if r.final_activations], "column", "row").items():
        if len(cell) < 2:
            continue
        layers = list(cell[0].final_activations)
        kinds = {_spread_kind(cell[0].final_activations[layer]) for layer in layers} - {None}
        if len(kinds) != 1:
            continue
        (kind, key), = kinds
        sds = [np.std([np.ravel(r.final_activations[layer][key]) for r in cell], axis=0, ddof=1)
               for layer in layers]
        every = np.concatenate(sds)
        out.append({"column": col, "row": row, "parameter": kind, "runs": len(cell), "layers": len(layers),
                    "mean_sd": float(every.mean()), "max_sd": float(every.max()), "paper": PAPER_SPREAD[kind]})
    return out


def spread_table(exp: Experiment, records: Sequence[RunRecord]) -> list[dict]:
    """:func:`parameter_spread` in the experiment's column and row order."""
    cols, rows = [c.label for c in exp.columns], [r.label for r in exp.rows]
    return sorted(parameter_spread(records), key=lambda d: (cols.index(d["column"]) if d["column"] in cols else 99,
                                                            rows.index(d["row"]) if d["row"] in rows else 99))


def parameter_spread_markdown(exp: Experiment, records: Sequence[RunRecord]) -> str:
    """The spread table as markdown (empty string when no cell has two runs of a scaled or blend unit)."""
    table = spread_table(exp, records)
    if not table:
        return ""
    lines = [f"### {exp.name}: spread over runs of the final scaling and blending weights", "",
             "s.d. over runs of each final parameter, per layer; `mean s.d.` is its mean over layers (and blend "
             "weights), the paper's mean(sigma) of §3.3 (paper: alpha 0.023, ABU blend weights 0.010, 30 runs)", "",
             "| column | row | parameter | runs | layers | mean s.d. | max s.d. | paper |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {d['column']} | {d['row']} | {d['parameter']} | {d['runs']} | {d['layers']} | {d['mean_sd']:.4f} "
              f"| {d['max_sd']:.4f} | {d['paper']:.3f} |" for d in table]
    return "\n".join(lines) + "\n"


def spread(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Write :func:`parameter_spread_markdown` beside the figures (``<experiment>-parameter-spread.md``)."""
    text = parameter_spread_markdown(exp, records)
    if not text:
        return []
    path = folder / f"{exp.name}-parameter-spread.md"
    write_text_atomic(path, text)
    return [path]
