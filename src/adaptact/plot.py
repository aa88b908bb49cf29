"""Pictures of learned activation functions. matplotlib is imported only when a picture is drawn."""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Sequence

import torch
from torch import Tensor, nn

from adaptact.params import activation_units

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["activation_curve", "plot_activations"]


def _channels(unit: nn.Module) -> int | None:
    n = getattr(unit, "num_features", None)
    if isinstance(n, int):
        return n
    if isinstance(unit, nn.PReLU) and unit.num_parameters > 1:
        return unit.num_parameters
    return None


@torch.no_grad()
def activation_curve(unit: nn.Module, x: Tensor) -> Tensor:
    """Evaluate ``unit`` in eval mode on the 1-D grid ``x``: shape ``(G,)``, or ``(G, C)`` per channel."""
    was_training = unit.training
    unit.eval()
    try:
        p = next(unit.parameters(), None)
        grid = x.to(p.device, p.dtype) if p is not None else x
        c = _channels(unit)
        if c is None:
            return unit(grid[:, None]).squeeze(1).float().cpu()
        return unit(grid[:, None].expand(-1, c).contiguous()).float().cpu()
    finally:
        unit.train(was_training)


@torch.no_grad()
def _record_inputs(model: nn.Module, units: Sequence[tuple[str, nn.Module]], inputs, limit: int) -> dict[str, Tensor]:
    seen: dict[str, list[Tensor]] = {name: [] for name, _ in units}
    hooks = []
    for name, unit in units:
        def hook(module, args, name=name):
            seen[name].append(args[0].detach().flatten().float().cpu()[:limit])

        hooks.append(unit.register_forward_pre_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(inputs)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return {name: torch.cat(v) if v else torch.empty(0) for name, v in seen.items()}


def plot_activations(
    model: nn.Module,
    *,
    inputs: Tensor | None = None,
    x_range: tuple[float, float] = (-4.0, 4.0),
    points: int = 401,
    max_channels: int = 16,
    columns: int = 4,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> "Figure":
    """Plot the learned activation function of every trainable unit of ``model``, one panel per unit.

    Args:
        model: a model, or a single unit.
        inputs: optional batch to run through ``model`` (in eval mode); each
            panel then shows a histogram of the values its unit received.
        x_range: the input interval of the curves.
        points: grid points per curve.
        max_channels: per-channel units draw up to this many channel curves
            (thin) and their mean (thick).
        columns: panels per row.
        title: figure title.
        path: if given, the figure is also saved there (PNG, PDF, ... by suffix).

    Returns:
        The matplotlib ``Figure``.
    """
    from matplotlib.figure import Figure

    units = activation_units(model)
    if not units:
        raise ValueError(f"{type(model).__name__} has no trainable activation units to plot")
    seen = _record_inputs(model, units, inputs, 200_000) if inputs is not None else {}
    cols = min(columns, len(units))
    rows = math.ceil(len(units) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows), layout="constrained")
    x = torch.linspace(x_range[0], x_range[1], points, dtype=torch.float64)
    for i, (name, unit) in enumerate(units):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_title(f"{name}: {type(unit).__name__}", fontsize=8)
        ax.axhline(0, color="0.8", lw=0.5)
        ax.axvline(0, color="0.8", lw=0.5)
        if getattr(unit, "is_lazy", False):
            ax.text(0.5, 0.5, "not initialised\n(lazy: no batch seen)", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
            continue
        y = activation_curve(unit, x)
        if y.dim() == 2:
            for c in range(min(max_channels, y.shape[1])):
                ax.plot(x, y[:, c], lw=0.6, alpha=0.5)
            ax.plot(x, y.mean(1), color="k", lw=1.6, label=f"mean of {y.shape[1]} channels")
            ax.legend(fontsize=6, loc="upper left")
        else:
            ax.plot(x, y, color="C0", lw=1.6)
        values = seen.get(name)
        if values is not None and values.numel():
            hist_ax = ax.twinx()
            inside = values[(values >= x_range[0]) & (values <= x_range[1])]
            hist_ax.hist(inside.numpy(), bins=60, range=x_range, color="C1", alpha=0.3)
            hist_ax.set_yticks([])
        ax.set_xlim(*x_range)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
