"""Checks of what a profile should show, evaluated on its results and printed in the report.

A :class:`Check` states a claim in words (mostly the paper's, scaled down to the profile)
and tests it on the aggregated results: it passes, fails, or cannot be decided (runs
missing). The builders below cover the claims of the papers' tables.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from adaptact.train import RunRecord

__all__ = [
    "Check", "CheckContext", "alpha_below", "at_least", "blend_weights_constrained", "cell_gap", "close_to_best",
    "adact_weights_moved", "finite_everywhere", "lower_by", "no_worse_than", "records_equal", "runs_finished",
    "train_loss_at_most_median", "within_spread",
]

Outcome = tuple[bool | None, str]


@dataclass
class CheckContext:
    """The results a check may read: per-cell summary, per-run table, and the records by (row, column, seed)."""

    summary: pd.DataFrame
    runs: pd.DataFrame
    records: dict[tuple[str, str, int], RunRecord]

    def mean(self, row: str, column: str) -> float:
        hit = self.summary[(self.summary["row"] == row) & (self.summary["column"] == column)]
        return float(hit["mean"].iloc[0]) if len(hit) and hit["n"].iloc[0] else math.nan

    def train_loss(self, row: str, column: str) -> float:
        ok = self.runs[(self.runs["row"] == row) & (self.runs["column"] == column) & (self.runs["status"] == "ok")]
        return float(ok["train_loss"].mean()) if len(ok) else math.nan

    def columns(self) -> list[str]:
        return list(dict.fromkeys(self.summary["column"]))

    def cell_records(self, row: str, column: str | None = None) -> list[RunRecord]:
        return [r for (rw, c, _), r in self.records.items() if rw == row and (column is None or c == column)
                and r.status == "ok"]


@dataclass(frozen=True)
class Check:
    """A claim in words and its test: ``test(ctx) -> (passed or None when undecidable, detail)``."""

    text: str
    test: Callable[[CheckContext], Outcome]

    def evaluate(self, ctx: CheckContext) -> Outcome:
        try:
            return self.test(ctx)
        except (KeyError, IndexError, ValueError) as err:
            return None, f"cannot be decided ({err})"


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

    return Check(f"{column}: {unit} within {pp} pp of the best baseline", test)


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
    return Check(text, test)


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


def within_spread(columns: Iterable[str] | None, pp: float, rows: Iterable[str] | None = None,
                  across_columns: bool = False) -> Check:
    """In each column (or over all cells, ``across_columns``) the listed rows' means lie within ``pp`` points."""
    rows = list(rows) if rows is not None else None

    def test(ctx: CheckContext) -> Outcome:
        spreads = {}
        groups = [None] if across_columns else (list(columns) if columns is not None else ctx.columns())
        for col in groups:
            s = ctx.summary[ctx.summary["n"] > 0]
            if col is not None:
                s = s[s["column"] == col]
            if rows is not None:
                s = s[s["row"].isin(rows)]
            if len(s) > 1:
                spreads[col or "all cells"] = float(s["mean"].max() - s["mean"].min())
        if not spreads:
            return None, "runs missing"
        widest = max(spreads, key=spreads.get)
        return spreads[widest] <= pp, f"widest spread {_fmt(spreads[widest])} pp ({widest})"

    where = "over all cells" if across_columns else "in each column"
    return Check(f"{'all rows' if rows is None else ', '.join(rows)} within {pp} pp of each other {where}", test)


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
    """The final scale alpha, averaged over layers and seeds, is below ``value`` for each listed row."""

    def test(ctx: CheckContext) -> Outcome:
        details, ok = [], True
        for row in rows:
            alphas = [np.mean(p["alpha"]) for r in ctx.cell_records(row, column)
                      for p in r.final_activations.values() if "alpha" in p]
            if not alphas:
                return None, f"{row}: runs missing"
            mean = float(np.mean(alphas))
            ok &= mean < value
            details.append(f"{row} mean alpha {mean:.3f}")
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
    """In every AdAct layer the largest softmax weight rose above the uniform 1/7."""

    def test(ctx: CheckContext) -> Outcome:
        tops = [max(p["effective_weights"]) for row in rows for r in ctx.cell_records(row)
                for p in r.final_activations.values() if "effective_weights" in p]
        if not tops:
            return None, "runs missing"
        return min(tops) > 1 / 7, f"smallest layer maximum {min(tops):.4f} (1/7 = {1 / 7:.4f})"

    return Check("in every AdAct layer the largest softmax weight above 1/7 (the weights moved)", test)
