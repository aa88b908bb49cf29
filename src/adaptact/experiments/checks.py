"""Checks of what a profile should show, and the paper's claims, declared per experiment.

A :class:`Check` states a claim in words (mostly the paper's, scaled down to the profile)
and tests it on the aggregated results: it holds, fails, cannot be decided (runs missing),
or is :data:`VACUOUS`, reported apart from the checks that hold:

- the cells it compares are all at chance level (:meth:`CheckContext.at_chance`: the mean accuracy
  less than ``max(2 s.e., CHANCE_MARGIN_PP)`` above the test set's majority-class rate, else 1/classes, and
  no run of the cell more than ``max(RUN_MARGIN_PP, 3 s.d. of a chance classifier on the test set)`` above it);
- a parameter it reads is within noise of its initial value (:func:`within_noise`: ``|mean - init| <
  max(2 s.e., PARAM_MIN_RELATIVE_CHANGE · |init|)``);
- the rows it compares ran the same function (:meth:`CheckContext.same_function`: equal final activation
  parameters, seed by seed), as ABU_norm, ABU_abs and ABU_pos do while every blend weight stays positive.

A :class:`Claim` is one comparison the paper makes (cell higher or lower than another cell, or than the
best of several rows); :mod:`adaptact.report.claims` decides it on the results with a paired test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from adaptact.train import RunRecord

__all__ = [
    "CHANCE_MARGIN_PP", "RUN_MARGIN_PP", "Check", "CheckContext", "Claim", "NOISE_SE", "PARAM_MIN_RELATIVE_CHANGE", "VACUOUS",
    "adact_weights_moved", "alpha_below", "at_least", "blend_weights_constrained", "cell_gap", "claims_per_column",
    "close_to_best", "finite_everywhere", "lower_by", "no_worse_than", "records_equal", "runs_finished",
    "train_loss_at_most_median", "within_noise", "within_spread",
]

VACUOUS = "vacuous"  #: the outcome of a check that compares nothing (see the module docstring)
#: a cell less than this many points (or 2 s.e.) above chance is at chance: 2 pp also covers records without class
#: counts, whose chance level falls back to 1/classes (MNIST's majority class is 11.35 %, not 10 %)
CHANCE_MARGIN_PP = 2.0
#: a run more than this many points (or 3 binomial s.d. of a chance classifier on its test set) above chance learned
#: something, and its cell is not at chance whatever the mean: a cell whose seeds split between 50 % and 94 % has a
#: mean within 2 s.e. of 50 % at three seeds
RUN_MARGIN_PP = 5.0
NOISE_SE = 2.0  #: standard errors within which a mean is noise
PARAM_MIN_RELATIVE_CHANGE = 0.05  #: a parameter that moved less than 5 % of its initial value did not move

Outcome = tuple[Any, str]  # (True | False | None (undecidable) | VACUOUS, detail)
Cells = Sequence[tuple[str, str]]


def within_noise(values: Sequence[float], init: float) -> tuple[bool, float, float]:
    """Whether the mean of per-run ``values`` is within noise of ``init``: ``|mean - init| < max(NOISE_SE ·
    s.e., PARAM_MIN_RELATIVE_CHANGE · |init|)`` (s.e. over runs; the relative floor alone for one run).
    Returns (within, mean, the noise bound)."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    se = float(np.std(x, ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else 0.0
    noise = max(NOISE_SE * se, PARAM_MIN_RELATIVE_CHANGE * abs(init))
    return abs(mean - init) < noise, mean, noise


def _leaves(value: Any, prefix: str = "") -> dict[str, np.ndarray]:
    if isinstance(value, dict):
        out: dict[str, np.ndarray] = {}
        for k in sorted(value):
            out.update(_leaves(value[k], f"{prefix}/{k}"))
        return out
    return {prefix: np.asarray(value, dtype=float)}


def _same_parameters(a: dict, b: dict) -> bool:
    la, lb = _leaves(a), _leaves(b)
    return la.keys() == lb.keys() and all(
        la[k].shape == lb[k].shape and np.allclose(la[k], lb[k], rtol=1e-5, atol=1e-7) for k in la)


@dataclass
class CheckContext:
    """The results a check may read: per-cell summary, per-run table, and the records by (row, column, seed)."""

    summary: pd.DataFrame
    runs: pd.DataFrame
    records: dict[tuple[str, str, int], RunRecord]

    def _cell(self, row: str, column: str) -> pd.Series | None:
        hit = self.summary[(self.summary["row"] == row) & (self.summary["column"] == column)]
        return hit.iloc[0] if len(hit) and hit["n"].iloc[0] else None

    def mean(self, row: str, column: str) -> float:
        cell = self._cell(row, column)
        return float(cell["mean"]) if cell is not None else math.nan

    def train_loss(self, row: str, column: str) -> float:
        ok = self.runs[(self.runs["row"] == row) & (self.runs["column"] == column) & (self.runs["status"] == "ok")]
        return float(ok["train_loss"].mean()) if len(ok) else math.nan

    def columns(self) -> list[str]:
        return list(dict.fromkeys(self.summary["column"]))

    def cell_records(self, row: str, column: str | None = None) -> list[RunRecord]:
        return [r for (rw, c, _), r in self.records.items() if rw == row and (column is None or c == column)
                and r.status == "ok"]

    # ------------------------------------------------------------------ vacuity

    def chance(self, row: str, column: str) -> float:
        """The cell's chance accuracy in %: the test set's majority-class rate where its records carry the class
        counts (``data["test_class_counts"]``), else 100 / classes; NaN when the records say neither."""
        levels = []
        for rec in self.cell_records(row, column):
            counts = rec.data.get("test_class_counts")
            if counts and sum(counts):
                levels.append(100.0 * max(counts) / sum(counts))
            elif rec.data.get("num_classes"):
                levels.append(100.0 / rec.data["num_classes"])
        return float(np.mean(levels)) if levels else math.nan

    def run_margin(self, row: str, column: str) -> float:
        """Points above chance beyond which one run of the cell learned something: ``max(RUN_MARGIN_PP,
        3 sqrt(p (1 - p) / n))`` with p the chance rate and n the test set's size (RUN_MARGIN_PP without counts)."""
        sds = []
        for rec in self.cell_records(row, column):
            counts = rec.data.get("test_class_counts")
            if counts and sum(counts):
                p = max(counts) / sum(counts)
                sds.append(100.0 * math.sqrt(p * (1.0 - p) / sum(counts)))
        return max([RUN_MARGIN_PP] + [3.0 * sd for sd in sds])

    def at_chance(self, row: str, column: str) -> bool | None:
        """Whether the cell is at chance: its mean accuracy less than ``max(2 s.e., CHANCE_MARGIN_PP)`` above its
        chance level (below chance counts as at chance) and none of its runs more than :meth:`run_margin` above
        it; None when the cell or its chance level is unknown."""
        cell, chance = self._cell(row, column), self.chance(row, column)
        if cell is None or math.isnan(chance):
            return None
        se = float(cell["se"]) if math.isfinite(cell["se"]) else 0.0
        values = self.runs[(self.runs["row"] == row) & (self.runs["column"] == column)
                           & (self.runs["status"] == "ok")]["value"].astype(float)
        best = float(values.max()) if len(values) else float(cell["mean"])
        return bool(cell["mean"] - chance < max(NOISE_SE * se, CHANCE_MARGIN_PP)
                    and best - chance <= self.run_margin(row, column))

    def chance_reason(self, cells: Cells) -> str | None:
        """Why comparing ``cells`` is vacuous (every one at chance), or None."""
        if not cells or not all(self.at_chance(r, c) for r, c in cells):
            return None
        levels = sorted({f"{self.chance(r, c):.2f}" for r, c in cells})
        return f"every compared cell is at chance level ({' / '.join(levels)} %)"

    def same_function(self, a: str, b: str, column: str) -> bool:
        """Rows ``a`` and ``b`` ran the same function in ``column``: for every seed both finished, their final
        activation parameters agree (to float tolerance); False without trainable parameters to compare."""
        ra = {s: r for (rw, c, s), r in self.records.items() if (rw, c) == (a, column) and r.status == "ok"}
        rb = {s: r for (rw, c, s), r in self.records.items() if (rw, c) == (b, column) and r.status == "ok"}
        seeds = ra.keys() & rb.keys()
        return bool(seeds) and all(ra[s].final_activations and _same_parameters(
            ra[s].final_activations, rb[s].final_activations) for s in seeds)


@dataclass(frozen=True)
class Check:
    """A claim in words and its test: ``test(ctx) -> (passed or None when undecidable, detail)``.

    ``compares(ctx)`` lists the cells the check compares; when every one is at chance the outcome is
    :data:`VACUOUS` whatever the test says.
    """

    text: str
    test: Callable[[CheckContext], Outcome]
    compares: Callable[[CheckContext], Cells] | None = None

    def evaluate(self, ctx: CheckContext) -> Outcome:
        try:
            passed, detail = self.test(ctx)
            reason = ctx.chance_reason(self.compares(ctx)) if self.compares is not None else None
        except (KeyError, IndexError, ValueError) as err:
            return None, f"cannot be decided ({err})"
        return (VACUOUS, f"{reason}: {detail}") if reason and passed is not None else (passed, detail)


@dataclass(frozen=True)
class Claim:
    """One comparison the paper makes, decided on our results by :mod:`adaptact.report.claims`.

    The cell (``row``, ``column``) is claimed ``higher`` (or lower) than (``than``, ``than_column``, default
    the same column). ``than`` is a row, or several rows: then the best of them in the claim's column (the
    highest mean for a ``higher`` claim, the lowest otherwise; never ``row`` itself), as the papers claim
    against their best baseline. ``metric`` is a column of the runs table: ``value`` (the accuracy in %) or
    ``train_loss``.
    """

    text: str
    row: str
    column: str
    than: str | tuple[str, ...]
    than_column: str | None = None
    higher: bool = True
    metric: str = "value"

    def rows(self) -> list[str]:
        return [self.row, *([self.than] if isinstance(self.than, str) else self.than)]

    def columns(self) -> list[str]:
        return [self.column, self.than_column or self.column]


def claims_per_column(text: str, row: str, than: str | tuple[str, ...], columns: Iterable[str],
                      higher: bool = True, metric: str = "value") -> tuple[Claim, ...]:
    """The same claim in each of ``columns`` (``text`` may name ``{column}``)."""
    return tuple(Claim(text.format(column=c), row, c, than, higher=higher, metric=metric) for c in columns)


def _fmt(x: float) -> str:
    return "missing" if math.isnan(x) else f"{x:.2f}"


def _undecided(*values: float) -> bool:
    return any(math.isnan(v) for v in values)


def close_to_best(unit: str, baselines: Sequence[str], column: str, pp: float) -> Check:
    """``unit`` at least the best of ``baselines`` minus ``pp`` percentage points in ``column``."""

    def test(ctx: CheckContext) -> Outcome:
        values = {b: ctx.mean(b, column) for b in baselines}
        values = {b: v for b, v in values.items() if not math.isnan(v)}
        u = ctx.mean(unit, column)
        if not values or _undecided(u):
            return None, "runs missing"
        best = max(values, key=values.get)
        return u >= values[best] - pp, f"{unit} {_fmt(u)} vs best baseline {best} {_fmt(values[best])}"

    return Check(f"{column}: {unit} within {pp} pp of the best baseline", test,
                 lambda ctx: [(r, column) for r in (unit, *baselines) if not math.isnan(ctx.mean(r, column))])


def cell_gap(a: tuple[str, str], b: tuple[str, str], at_least: float, text: str | None = None) -> Check:
    """Cell ``a`` (row, column) minus cell ``b`` is at least ``at_least`` points (negative: a tolerance)."""

    def test(ctx: CheckContext) -> Outcome:
        x, y = ctx.mean(*a), ctx.mean(*b)
        if _undecided(x, y):
            return None, "runs missing"
        return x - y >= at_least, f"{'/'.join(a)} {_fmt(x)} vs {'/'.join(b)} {_fmt(y)}"

    if text is None:
        rel = f">= {'/'.join(b)} {'+' if at_least >= 0 else '-'} {abs(at_least)} pp"
        text = f"{'/'.join(a)} {rel}"
    return Check(text, test, lambda ctx: [a, b])


def lower_by(row: str, than: str, column: str, pp: float) -> Check:
    """``row`` at least ``pp`` points below ``than`` in ``column``."""
    return cell_gap((than, column), (row, column), pp, f"{column}: {row} at least {pp} pp below {than}")


def no_worse_than(row: str, than: str, column: str, pp: float = 0.0) -> Check:
    """``row`` at least ``than`` minus ``pp`` points in ``column``."""
    slack = f" - {pp} pp" if pp else ""
    return cell_gap((row, column), (than, column), -pp, f"{column}: {row} >= {than}{slack}")


def at_least(rows: Iterable[str] | None, value: float, columns: Iterable[str] | None = None) -> Check:
    """Every listed row (default all) reaches ``value`` % in every listed column (default all)."""
    rows = list(rows) if rows is not None else None
    cols = list(columns) if columns is not None else None

    def test(ctx: CheckContext) -> Outcome:
        s = ctx.summary[ctx.summary["n"] > 0]
        if rows is not None:
            s = s[s["row"].isin(rows)]
        if cols is not None:
            s = s[s["column"].isin(cols)]
        if not len(s):
            return None, "runs missing"
        worst = s.loc[s["mean"].idxmin()]
        return bool(worst["mean"] >= value), f"lowest: {worst['row']} / {worst['column']} {_fmt(worst['mean'])}"

    where = f" ({', '.join(cols)})" if cols else ""
    return Check(f"{'every cell' if rows is None else ', '.join(rows)} >= {value}%{where}", test)


def _distinct_rows(ctx: CheckContext, rows: list[str], column: str) -> tuple[list[str], list[str]]:
    """``rows`` less those that ran the same function as an earlier one in ``column``; and notes on those."""
    kept: list[str] = []
    notes = []
    for r in rows:
        twin = next((k for k in kept if ctx.same_function(k, r, column)), None)
        if twin is None:
            kept.append(r)
        else:
            notes.append(f"{r} ran the same function as {twin} ({column})")
    return kept, notes


def within_spread(columns: Iterable[str] | None, pp: float, rows: Iterable[str] | None = None,
                  across_columns: bool = False) -> Check:
    """In each column (or over all cells, ``across_columns``) the listed rows' means lie within ``pp`` points.

    Rows that ran the same function as another listed row (:meth:`CheckContext.same_function`) are compared
    once; when that leaves fewer than two rows anywhere, the check is :data:`VACUOUS`.
    """
    rows = list(rows) if rows is not None else None

    def cells(ctx: CheckContext) -> list[tuple[str, str]]:
        s = ctx.summary[ctx.summary["n"] > 0]
        if rows is not None:
            s = s[s["row"].isin(rows)]
        if columns is not None:
            s = s[s["column"].isin(list(columns))]
        return list(zip(s["row"], s["column"]))

    def test(ctx: CheckContext) -> Outcome:
        present = cells(ctx)
        groups = [None] if across_columns else list(dict.fromkeys(c for _, c in present))
        spreads, notes, collapsed = {}, [], False
        for col in groups:
            here = [(r, c) for r, c in present if col is None or c == col]
            kept = here
            if col is not None:
                distinct, why = _distinct_rows(ctx, [r for r, _ in here], col)
                notes += why
                collapsed |= len(here) > 1 and len(distinct) < 2
                kept = [(r, col) for r in distinct]
            if len(kept) > 1:
                means = [ctx.mean(r, c) for r, c in kept]
                spreads[col or "all cells"] = float(max(means) - min(means))
        if collapsed:
            return VACUOUS, "; ".join(notes) + ": nothing left to compare"
        if not spreads:
            return None, "runs missing"
        widest = max(spreads, key=spreads.get)
        detail = f"widest spread {_fmt(spreads[widest])} pp ({widest})"
        return spreads[widest] <= pp, detail + (f"; compared once: {'; '.join(notes)}" if notes else "")

    where = "over all cells" if across_columns else "in each column"
    return Check(f"{'all rows' if rows is None else ', '.join(rows)} within {pp} pp of each other {where}", test,
                 cells)


def train_loss_at_most_median(unit: str, baselines: Sequence[str], column: str) -> Check:
    """``unit``'s final training loss at or below the median of the baselines' in ``column``."""

    def test(ctx: CheckContext) -> Outcome:
        losses = [ctx.train_loss(b, column) for b in baselines]
        losses = [v for v in losses if not math.isnan(v)]
        u = ctx.train_loss(unit, column)
        if not losses or _undecided(u):
            return None, "runs missing"
        med = float(np.median(losses))
        return u <= med, f"{unit} train loss {u:.4f} vs baseline median {med:.4f}"

    return Check(f"{column}: {unit}'s training loss at or below the median baseline's", test)


def finite_everywhere() -> Check:
    """No run diverged (a non-finite loss stops a run and marks it)."""

    def test(ctx: CheckContext) -> Outcome:
        bad = ctx.runs[ctx.runs["status"] == "diverged"]
        if len(bad):
            return False, f"{len(bad)} run(s) diverged: " + ", ".join(f"{r.row}/{r.column}" for r in bad.itertuples())
        done = (ctx.runs["status"] == "ok").sum()
        return (True, f"{done} runs, no NaN") if done else (None, "runs missing")

    return Check("no NaN (no run diverged)", test)


def alpha_below(rows: Sequence[str], column: str, value: float = 1.0) -> Check:
    """The final scale alpha (initialised at ``value``), averaged over layers per run, is below ``value`` for each
    listed row; :data:`VACUOUS` when a row's mean over runs is within noise of it (:func:`within_noise`)."""

    def test(ctx: CheckContext) -> Outcome:
        details, still, ok = [], [], True
        for row in rows:
            alphas = [float(np.mean(p["alpha"])) for r in ctx.cell_records(row, column)
                      for p in r.final_activations.values() if "alpha" in p]
            if not alphas:
                return None, f"{row}: runs missing"
            noise_only, mean, noise = within_noise(alphas, value)
            ok &= mean < value
            details.append(f"{row} mean alpha {mean:.3f} (noise ±{noise:.3f})")
            if noise_only:
                still.append(row)
        if still:
            return VACUOUS, f"{', '.join(still)} within noise of the initial {value}: " + ", ".join(details)
        return ok, ", ".join(details)

    return Check(f"{column}: the mean final alpha of {', '.join(rows)} below {value}", test)


def blend_weights_constrained(row: str, kind: str) -> Check:
    """Every unit's normalised weights of ``row`` obey ``kind``: ``pos``/``softmax`` (>= 0, sum 1)."""

    def test(ctx: CheckContext) -> Outcome:
        ws = [np.asarray(p["effective_weights"]) for r in ctx.cell_records(row) for p in r.final_activations.values()]
        if not ws:
            return None, "runs missing"
        worst_sum = max(abs(w.sum(-1) - 1).max() for w in ws)
        minimum = min(w.min() for w in ws)
        return bool(minimum >= 0 and worst_sum < 1e-5), f"min weight {minimum:.4f}, |sum - 1| <= {worst_sum:.1e}"

    return Check(f"{row}: normalised weights >= 0 and summing to 1 ({kind})", test)


def runs_finished(rows: Sequence[str]) -> Check:
    """Every planned run of the listed rows finished."""

    def test(ctx: CheckContext) -> Outcome:
        r = ctx.runs[ctx.runs["row"].isin(rows)]
        if not len(r):
            return None, "runs missing"
        ok = int((r["status"] == "ok").sum())
        return ok == len(r), f"{ok} of {len(r)} finished"

    return Check(f"{', '.join(rows)}: every run finished", test)


def records_equal(a: tuple[str, str], b: tuple[str, str], text: str) -> Check:
    """The final activation parameters of cells ``a`` and ``b`` are identical, seed by seed (bit-exact)."""

    def test(ctx: CheckContext) -> Outcome:
        pairs = [(ra, ctx.records.get((*b, seed))) for (row, col, seed), ra in ctx.records.items() if (row, col) == a]
        pairs = [(x, y) for x, y in pairs if y is not None and x.status == y.status == "ok"]
        if not pairs:
            return None, "runs missing"
        same = sum(x.final_activations == y.final_activations for x, y in pairs)
        return same == len(pairs), f"{same} of {len(pairs)} seed(s) identical"

    return Check(text, test)


def adact_weights_moved(rows: Sequence[str] = ("ConvNet-AdAct",)) -> Check:
    """In every AdAct layer (of every column) the largest softmax weight rose above the uniform 1/7, beyond noise:
    per (row, column, layer) the mean over seeds of the layer's largest weight, against :func:`within_noise` of
    1/7; :data:`VACUOUS` when some layer's maximum is within noise of 1/7 (its weights did not move)."""
    uniform = 1 / 7

    def test(ctx: CheckContext) -> Outcome:
        tops: dict[tuple[str, str, str], list[float]] = {}
        for (row, col, _), r in ctx.records.items():
            if row in rows and r.status == "ok":
                for layer, p in r.final_activations.items():
                    if "effective_weights" in p:
                        tops.setdefault((row, col, layer), []).append(max(p["effective_weights"]))
        if not tops:
            return None, "runs missing"
        verdicts = {k: within_noise(v, uniform) for k, v in tops.items()}
        key = min(verdicts, key=lambda k: verdicts[k][1])
        _, low, noise = verdicts[key]
        detail = (f"smallest layer maximum {low:.4f} ({'/'.join(key)}) vs 1/7 = {uniform:.4f}, noise ±{noise:.4f}")
        still = [k for k, (noise_only, _, _) in verdicts.items() if noise_only]
        if still:
            return VACUOUS, f"{len(still)} of {len(verdicts)} layers within noise of 1/7: {detail}"
        return all(m > uniform for _, m, _ in verdicts.values()), detail

    return Check("in every AdAct layer the largest softmax weight above 1/7 beyond noise (the weights moved)", test)
