"""The papers' figures that need no training: PAU Fig. 1 (rational fits of activations) and Farhadi Fig. 1."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from adaptact import functional as AF
from adaptact.fit import PAU_TARGETS, initial_coefficients, target_function
from adaptact.report.figures_common import figure as _figure, save as _save

__all__ = ["PAPER_FIGURES", "draw_paper_figure"]

#: PAU paper, Table 6, LReLU(0.01) column
PAU_TABLE6_LRELU = ((0.02979246, 0.61837738, 2.32335207, 3.05202660, 1.48548002, 0.25103717),
                    (1.14201226, 4.39322834, 0.87154450, 0.34720652))


def pau_init_fit(folder: Path) -> list[Path]:
    """PAU Fig. 1 / Table 6: each shipped (5,4) form-A initialisation against its target on [-4, 4]
    (fitted on [-3, 3]), with the maximum error on [-3, 3]; the paper's own LReLU(0.01) set beside ours."""
    x = torch.linspace(-4, 4, 801, dtype=torch.float64)
    inside = x.abs() <= 3
    targets = list(PAU_TARGETS)
    fig, axes = _figure(2, (len(targets) + 2) // 2, 3.0, 2.6)
    flat = [ax for row in axes for ax in row]
    for ax, name in zip(flat, targets):
        a, b = (torch.tensor(c, dtype=torch.float64) for c in initial_coefficients(name, (5, 4), "A"))
        y, f = AF.pau(x, a, b, "A"), target_function(name)(x)
        err = (y - f)[inside].abs().max().item()
        ax.plot(x, f, color="k", lw=2.5, alpha=0.35, label=name)
        ax.plot(x, y, color="C0", lw=1.2, label=f"PAU (5,4), max err {err:.1e}")
        if name == "leaky_relu":
            pa, pb = (torch.tensor(c, dtype=torch.float64) for c in PAU_TABLE6_LRELU)
            perr = (AF.pau(x, pa, pb, "A") - f)[inside].abs().max().item()
            ax.plot(x, AF.pau(x, pa, pb, "A"), color="C3", lw=1.0, ls="--", label=f"paper Table 6, {perr:.1e}")
        ax.axvspan(-4, -3, color="0.93")
        ax.axvspan(3, 4, color="0.93")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=6)
        ax.tick_params(labelsize=7)
    for ax in flat[len(targets):]:
        ax.axis("off")
    fig.suptitle("PAU initialisations: least-squares fits on [-3, 3] (grey: outside the fit)", fontsize=10)
    return [_save(fig, folder / "pau-fig1-init-fit.png")]


def farhadi_fig1(folder: Path) -> list[Path]:
    """Farhadi Fig. 1: adaptive Gumbel and adaptive ReLU for alpha = 1, 2, 5, with their limits."""
    x = torch.linspace(-5, 5, 501, dtype=torch.float64)
    fig, axes = _figure(1, 2, 4.0, 3.0)
    for alpha, color in zip((1.0, 2.0, 5.0), ("C0", "C1", "C2")):
        rho = torch.tensor(alpha, dtype=torch.float64).log()
        axes[0][0].plot(x, AF.agumbel(x, rho), color=color, label=f"alpha = {alpha:g}")
        axes[0][1].plot(x, AF.arelu(x, rho), color=color, label=f"alpha = {alpha:g}")
    axes[0][0].plot(x, 1 - torch.exp(-torch.exp(x)), "k--", lw=1, label="Gumbel CDF (alpha -> 0)")
    axes[0][0].plot(x, torch.sigmoid(x), "k:", lw=1.5, label="sigmoid")
    axes[0][1].plot(x, torch.relu(x), "k--", lw=1, label="ReLU (alpha -> inf)")
    axes[0][0].set_title("adaptive Gumbel", fontsize=9)
    axes[0][1].set_title("adaptive ReLU", fontsize=9)
    for ax in axes[0]:
        ax.legend(fontsize=7)
    fig.suptitle("Farhadi et al., Fig. 1", fontsize=10)
    return [_save(fig, folder / "farhadi-fig1.png")]


PAPER_FIGURES: dict[str, Callable[[Path], list[Path]]] = {
    "pau-fig1-init-fit": pau_init_fit,
    "farhadi-fig1": farhadi_fig1,
}


def draw_paper_figure(name: str, folder: str | Path) -> list[Path]:
    """Draw the stand-alone figure ``name`` into ``folder``; an unknown name lists the known ones."""
    if name not in PAPER_FIGURES:
        raise ValueError(f"unknown figure {name!r}; choose from {', '.join(sorted(PAPER_FIGURES))}")
    return PAPER_FIGURES[name](Path(folder))
