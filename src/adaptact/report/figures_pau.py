"""The PAU paper's Fig. 3 from run records: the learned PAU and RPAU per layer, with the band of functions
that RPAU's coefficient noise produces."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from adaptact.experiments.base import Experiment
from adaptact.report.figures_common import GRID, by_tags, figure, observed_range, ordered, save, slug, unit_functions
from adaptact.train import RunRecord

__all__ = ["learned_rational_functions", "rpau_band"]

#: the rows drawn, by activation name, with their colours
RATIONAL = {"pau": "C0", "rpau": "C3"}


def rpau_band(x: np.ndarray, numerator, denominator, delta: float, form: str = "A") -> tuple[np.ndarray, np.ndarray]:
    r"""The exact range of RPAU's output at each ``x`` over its training noise: every coefficient c becomes
    :math:`c(1+u)`, :math:`u \sim U(-\delta, \delta)` independently.

    :math:`P = \sum_j a_j(1+u_j)x^j` lies in :math:`P_0 \pm \delta\sum_j |a_j x^j|`. Form A:
    :math:`Q = 1 + \sum_k |b_k|(1+v_k)|x|^k` lies in :math:`Q_0 \pm \delta\sum_k |b_k||x|^k`; form B:
    :math:`Q = 1 + |S|`, :math:`S \in S_0 \pm \delta\sum_k |b_k x^k|`. P and Q vary independently and
    :math:`Q > 0`, so P/Q is monotone in each and its extremes are at the four corners. ``numerator``
    (:math:`a_0..a_m`) and ``denominator`` (:math:`b_1..b_n`) are 1-D (one unit per layer); ``delta < 1``.
    Returns (low, high), each shaped like ``x``.
    """
    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"rpau_band draws one unit per layer: 1-D coefficients, got shapes {a.shape}, {b.shape}")
    if not 0 <= delta < 1:
        raise ValueError(f"rpau_band needs 0 <= delta < 1, got {delta!r}")
    if form not in ("A", "B"):
        raise ValueError(f"form must be 'A' or 'B', got {form!r}")
    x = np.asarray(x, dtype=float)
    p_terms = a * x[..., None] ** np.arange(len(a))
    p0, p_r = p_terms.sum(-1), delta * np.abs(p_terms).sum(-1)
    q_terms = b * x[..., None] ** np.arange(1, len(b) + 1)
    if form == "A":
        s0, s_r = np.abs(q_terms).sum(-1), delta * np.abs(q_terms).sum(-1)
        q_low, q_high = 1 + s0 - s_r, 1 + s0 + s_r
    else:
        s0, s_r = q_terms.sum(-1), delta * np.abs(q_terms).sum(-1)
        q_low, q_high = 1 + np.maximum(np.abs(s0) - s_r, 0.0), 1 + np.abs(s0) + s_r
    corners = np.stack([p / q for p in (p0 - p_r, p0 + p_r) for q in (q_low, q_high)])
    return corners.min(0), corners.max(0)


def learned_rational_functions(exp: Experiment, records: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Fig. 3: per column, one panel per activation layer: the learned PAU (blue) and RPAU (red) of the lowest
    seed, RPAU's noise band (shaded, :func:`rpau_band`), and the initial function (grey, dashed), over the
    union of the inputs the two units saw on the probe batch (or [-4, 4] when the records hold no range)."""
    from adaptact.params import activation_units
    from adaptact.train import model_from_record
    from adaptact.fit import target_function

    recs = [r for r in records if r.spec.get("act") in RATIONAL and r.final_activations]
    groups = by_tags(recs, "column", "row")
    paths = []
    for col in ordered(exp, groups, 0, "columns"):
        rows = [row for row in ordered(exp, groups, 1, "rows") if (col, row) in groups]
        lowest = {row: min(groups[(col, row)], key=lambda r: r.spec["tags"]["seed"]) for row in rows}
        units = {row: activation_units(model_from_record(rec)) for row, rec in lowest.items()}
        layers = min(len(u) for u in units.values())
        fig, axes = figure(1, layers, 3.0, 2.8)
        for j in range(layers):
            ax = axes[0][j]
            ranges = [observed_range(lowest[row], units[row][j][0], per_channel=False) for row in rows]
            seen = [r for r in ranges if r is not None]
            low = min(r[0][0] for r in seen) if seen else GRID[0].item()
            high = max(r[1][0] for r in seen) if seen else GRID[-1].item()
            for row in rows:
                name, unit = units[row][j]
                x, y = unit_functions(unit, low, high)
                colour = RATIONAL[lowest[row].spec["act"]]
                if hasattr(unit, "delta"):
                    band = rpau_band(x[:, 0], unit.numerator.detach().double().numpy(),
                                     unit.denominator.detach().double().numpy(), unit.delta, unit.form)
                    ax.fill_between(x[:, 0], *band, color=colour, alpha=0.25, lw=0,
                                    label=f"{row} noise band (delta {unit.delta:g})")
                ax.plot(x[:, 0], y[:, 0], color=colour, lw=2.4 if colour == RATIONAL["pau"] else 1.2,
                        label=f"{row} learned")
            first = units[rows[0]][j][1]
            if isinstance(first.init, str):
                ax.plot(x[:, 0], target_function(first.init)(torch.as_tensor(x[:, 0])).numpy(), color="0.5", lw=0.9,
                        ls="--", label=f"initial ({first.init})")
            ax.set_title(f"layer {j + 1} ({units[rows[0]][j][0]})", fontsize=8)
            ax.set_xlabel("input " + ("(range seen on the probe batch)" if seen else "([-4, 4]: range not recorded)"),
                          fontsize=7)
            ax.tick_params(labelsize=6)
        axes[0][0].set_ylabel("output", fontsize=8)
        axes[0][-1].legend(fontsize=6)
        seeds = ", ".join(f"{row} seed {rec.spec['tags']['seed']}" for row, rec in lowest.items())
        fig.suptitle(f"PAU paper Fig. 3 ({exp.name}, {col}): learned rational activations per layer ({seeds})",
                     fontsize=9)
        paths.append(save(fig, folder / f"{exp.name}-fig3-{slug(col)}.png"))
    return paths
