"""What every record figure shares: the figure and file helpers, grouping records by their tags, and the
mean-with-confidence-band line drawn for quantities over training."""
from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from adaptact.experiments.base import Experiment
from adaptact.train import RunRecord

__all__ = ["GRID", "band_line", "by_tags", "curve_values", "figure", "mean_and_ci", "observed_range", "ordered", "save",
           "slug", "unit_functions"]

#: the default input grid of the drawn functions
GRID = torch.linspace(-4, 4, 321, dtype=torch.float64)

#: the confidence level of the bands drawn over seeds
CONFIDENCE = 0.95


def figure(rows: int, cols: int, width: float = 3.2, height: float = 2.5):
    """A constrained-layout figure of ``rows x cols`` panels, each ``width x height`` inches (axes 2-D)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


#: Greek letters of row names spelled out, so that file names stay ASCII
_SPELLED = {"α": "alpha", "β": "beta", "γ": "gamma", "σ": "sigma"}


def slug(text: str) -> str:
    """An ASCII file-name part: letters and digits kept, Greek letters spelled out, the rest ``-``."""
    text = "".join(_SPELLED.get(ch, ch) for ch in text.lower())
    return "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in text).strip("-")


def by_tags(records: Sequence[RunRecord], *keys: str) -> dict[tuple, list[RunRecord]]:
    """Records grouped by the values of their spec tags ``keys`` (``row``, ``column``, ``seed``)."""
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[tuple(r.spec["tags"][k] for k in keys)].append(r)
    return groups


def ordered(exp: Experiment, groups: dict[tuple, list], level: int, attr: str) -> list:
    """The labels of ``exp.rows`` or ``exp.columns`` (``attr``) present at ``level`` of the group keys, in the
    experiment's order."""
    labels = [getattr(x, "label") for x in getattr(exp, attr)]
    present = {k[level] for k in groups}
    return [label for label in labels if label in present]


def save(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (its folder made), return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def mean_and_ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 (runs) and its two-sided :data:`CONFIDENCE` t-interval, NaN-aware.

    ``values`` is ``(runs, points)``. Where fewer than two runs have a value the interval is the
    mean itself (no band): ``mean ± t_{n-1} · s / sqrt(n)``, ``s`` the sample standard deviation.
    """
    from scipy import stats

    values = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(values), axis=0)
    with warnings.catch_warnings():  # all-NaN points and single runs: NaN mean or no spread, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, np.maximum(n - 1, 1)) * np.nan_to_num(sd) / np.sqrt(np.maximum(n, 1))
    half = np.where(n >= 2, half, 0.0)
    return mean, mean - half, mean + half


def curve_values(records: Sequence[RunRecord], key: str, n: int) -> np.ndarray:
    """The first ``n`` points of curve ``key`` of each record as a (runs, n) array, missing values NaN."""
    return np.array([[np.nan if v is None else v for v in r.curves[key][:n]] for r in records], dtype=float)


def band_line(ax, x, values: np.ndarray, *, color: str, label: str | None = None, lw: float = 1.2,
              ls: str = "-", alpha: float = 0.2, domain: tuple[float, float] | None = None):
    """Draw the mean of ``values`` (runs x points) over ``x`` with its confidence band; return the line.

    ``domain`` (low, high): the values the quantity can take (an accuracy in %: 0 to 100); the band is
    cut to it (a t-interval over two seeds easily reaches past 100 %)."""
    mean, low, high = mean_and_ci(values)
    (line,) = ax.plot(x, mean, color=color, label=label, lw=lw, ls=ls)
    if np.asarray(values).shape[0] > 1:
        if domain is not None:
            low, high = np.clip(low, *domain), np.clip(high, *domain)
        ax.fill_between(x, low, high, color=color, alpha=alpha, lw=0)
    return line


def observed_range(record: RunRecord, unit: str, per_channel: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """The smallest and largest input unit ``unit`` saw on the run's probe batch at the end of training
    (``record.preactivations["input_range"]``): per channel, or the whole layer's as one entry;
    ``None`` when the record does not hold it (made before it was recorded)."""
    entry = (record.preactivations or {}).get("input_range", {}).get(unit)
    if not entry or any(v is None for v in entry["min"] + entry["max"]):
        return None
    low, high = np.asarray(entry["min"], dtype=float), np.asarray(entry["max"], dtype=float)
    if not per_channel:
        low, high = low.min(keepdims=True), high.max(keepdims=True)
    return low, high


@torch.no_grad()
def unit_functions(unit: torch.nn.Module, low, high, points: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """The unit's function (eval mode) on ``points`` inputs spanning ``[low_c, high_c]`` for each channel c:
    ``x`` and ``y`` of shape ``(points, C)``. ``low``/``high`` hold one value per channel of a
    per-channel unit, or one value for a unit shared by the layer (then C = 1)."""
    low = torch.as_tensor(np.atleast_1d(low), dtype=torch.float64)
    high = torch.as_tensor(np.atleast_1d(high), dtype=torch.float64)
    x = low + (high - low) * torch.linspace(0, 1, points, dtype=torch.float64)[:, None]
    p = next(unit.parameters(), None)
    was_training = unit.training
    unit.eval()
    try:
        y = unit(x.to(p.dtype) if p is not None else x.float())
    finally:
        unit.train(was_training)
    return x.numpy(), y.double().cpu().numpy()
