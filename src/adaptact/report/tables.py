"""The report of one experiment: our numbers beside the paper's, as markdown and CSV.

Besides the table: 95 % confidence intervals of the means; mean ranks over the largest block of rows x
columns that all have results; the agreement of our ordering with the paper's (Kendall τ per column); each
unit tested against its own baseline and against the best fixed baseline of the column, with Holm's
correction over that family; the paper's claims decided (:mod:`adaptact.report.claims`); the profile's checks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from adaptact.experiments.base import Experiment
from adaptact.experiments.checks import VACUOUS, CheckContext
from adaptact.report.claims import claims_markdown, evaluate_claims
from adaptact.report.stats import (
    ALPHA, LEVEL, POWER, TEST_COLUMNS, baseline_comparisons, compare_cells, finished_cells, holm, mean_ranks,
    ordering_agreement, rank_block, summarize,
)

__all__ = ["AggregateReport", "ExperimentReport", "build_report", "paper_agreement", "resampling_ratio", "unit_tests"]


LEVEL_TEXT = f"{LEVEL * 100:.0f} %"


def _fmt(value: float, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _cell(mean: float, se: float, n: int) -> str:
    if n == 0:
        return "–"
    return f"{_fmt(mean)} ± {_fmt(se)}" if n > 1 else _fmt(mean)


@dataclass
class ExperimentReport:
    """Everything the report of one experiment shows, as tables; :meth:`markdown` and :meth:`csv` render it."""

    experiment: Experiment
    profile: dict[str, Any]
    runs: pd.DataFrame
    summary: pd.DataFrame
    ranks: pd.DataFrame
    tests: pd.DataFrame
    unavailable: dict[str, str]
    checks: list[tuple[str, Any, str]]
    derived_acts: dict[tuple[str, str, int], list[str]]
    claims: pd.DataFrame | None = None
    agreement: pd.DataFrame | None = None
    rank_rows: list[str] | None = None
    rank_columns: list[str] | None = None
    resampling: float | None = None
    sections: list[str] = field(default_factory=list)

    # ---------------------------------------------------------------- long table

    def long(self) -> pd.DataFrame:
        """One line per (row, column): ours (n, mean, se, std, best, rank) and the paper's number and the difference."""
        s = self.summary.copy()
        finished = s.index.isin(finished_cells(s).index)  # a cell with unfinished runs is not ranked
        s["rank"] = s["mean"].where(finished).groupby(s["column"]).rank(ascending=False, method="average")
        paper = [self.experiment.published.get((r, c)) for r, c in zip(s["row"], s["column"])]
        s["paper"] = [p.value if p else math.nan for p in paper]
        s["paper_spread"] = [p.spread if p and p.spread is not None else math.nan for p in paper]
        s["diff"] = s["mean"] - s["paper"]
        own = self.tests[self.tests["kind"] == "own baseline"].set_index(["row", "column"])
        s["baseline"] = [self.experiment.row(r).baseline for r in s["row"]]
        for name, field in (("p_vs_baseline", "p"), ("p_holm_vs_baseline", "p_holm"), ("mde_vs_baseline", "mde")):
            s[name] = [own.loc[(r, c), field] if (r, c) in own.index else math.nan
                       for r, c in zip(s["row"], s["column"])]
        s.insert(0, "experiment", self.experiment.name)
        return s

    def csv(self) -> str:
        return self.long().to_csv(index=False, float_format="%.4f")

    # ---------------------------------------------------------------- markdown

    def _columns(self) -> list[str]:
        present = list(dict.fromkeys(self.summary["column"]))
        return [c.label for c in self.experiment.columns if c.label in present]

    def _rows(self) -> list[str]:
        present = set(self.summary["row"])
        return [r.label for r in self.experiment.rows if r.label in present]

    def markdown(self) -> str:
        e = self.experiment
        cols, rows = self._columns(), self._rows()
        lines = [f"## {e.name}: {e.title}", "",
                 f"Paper: {e.paper}, {e.source}. Metric: test accuracy (%), "
                 f"{self.profile.get('selection', 'final')} selection; profile **{self.profile.get('name')}**, "
                 f"{self.profile.get('seeds')} seed(s). Ours: mean ± standard error over seeds "
                 "(a single value where there is one seed); **bold** = best in the column (of the cells whose every "
                 "run finished); "
                 "paper = the published number, Δ = ours − paper.", ""]
        if self.profile.get("name") != "full" and e.published:
            lines += ["*This profile trains smaller or shorter than the paper (see the experiment's spec), so Δ "
                      "measures the profile, not a failure to reproduce: compare the pattern across rows.*", ""]
        has_paper = any((r, c) in e.published for r in rows for c in cols)
        extra = [s for s in e.statistics if s in ("std", "best")]
        header = ["activation"]
        for c in cols:
            header.append(f"{c}: ours")
            header += [f"{c}: {s}" for s in extra]
            if has_paper:
                header += [f"{c}: paper", f"{c}: Δ"]
        header.append("mean rank")
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        summ = self.summary.set_index(["row", "column"])
        finished = finished_cells(self.summary)
        best = {c: finished[finished["column"] == c]["mean"].max() for c in cols}
        ranks = self.ranks.set_index("row")["mean_rank"] if len(self.ranks) else pd.Series(dtype=float)
        best_rank = ranks.min() if len(ranks) else math.nan
        for r in rows:
            cells = [r]
            for c in cols:
                if (r, c) in summ.index:
                    x = summ.loc[(r, c)]
                    text = _cell(x["mean"], x["se"], int(x["n"]))
                    if x["n"] and not x["not_ok"] and x["mean"] == best[c]:
                        text = f"**{text}**"
                    if x["not_ok"]:
                        text += f" ({int(x['not_ok'])} not finished)"
                    cells.append(text)
                    cells += [_fmt(x[s]) for s in extra]
                else:
                    cells += ["–"] * (1 + len(extra))
                if has_paper:
                    p = e.published.get((r, c))
                    mine = summ.loc[(r, c), "mean"] if (r, c) in summ.index else math.nan
                    cells.append("–" if p is None else (_fmt(p.value) if p.spread is None
                                                        else f"{_fmt(p.value)} ± {_fmt(p.spread)}"))
                    cells.append("–" if p is None else _fmt(mine - p.value, 2))
            rank = ranks.get(r, math.nan)
            cells.append(f"**{_fmt(rank)}**" if rank == best_rank else _fmt(rank))
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", self._rank_note()]
        for part in (self._ci_markdown(), self._agreement_markdown()):
            if part:
                lines += ["", part]
        if e.published_note:
            lines += ["", f"*About the paper's numbers:* {e.published_note}"]
        if self.unavailable:
            lines += ["", "**Not run here:**"] + [f"- {k}: {v}" for k, v in self.unavailable.items()]
        if self.derived_acts:
            lines += ["", "**Per-layer activations of the derived rows** (from their source runs):", ""]
            lines += [f"- {r} / {c} / seed {seed}: {', '.join(acts)}"
                      for (r, c, seed), acts in sorted(self.derived_acts.items())]
        lines += ["", self._tests_markdown()]
        if self.claims is not None and len(self.claims):
            lines += ["", claims_markdown(self.claims)]
        for section in self.sections:
            lines += ["", section.rstrip("\n")]
        problems = self.runs[self.runs["status"] != "ok"]
        if len(problems):
            lines += ["", "**Runs that did not finish:**"]
            for _, p in problems.iterrows():
                error = p["error"] if isinstance(p["error"], str) else ""
                first = error.splitlines()[0] if error else ("not run yet" if p["status"] == "missing" else "")
                lines.append(f"- {p['row']} / {p['column']} / seed {p['seed']}: {p['status']}: {first}")
        if self.checks:
            mark = {True: "✔ holds", False: "✘ does not hold", None: "– undecided", VACUOUS: "○ VACUOUS"}
            lines += ["", "**What this profile should show, checked on these results** (VACUOUS: the check compares "
                      "cells at chance level, a parameter within noise of its initial value, or rows that ran the "
                      "same function, so it says nothing):", ""]
            lines += [f"- {mark[ok]}: {text} ({detail})" for text, ok, detail in self.checks]
        elif self.profile.get("expect"):
            lines += ["", f"*What this profile should show:* {self.profile['expect']}"]
        return "\n".join(lines) + "\n"

    def _unfinished_note(self) -> str:
        """The cells with some runs finished and some not, named (their mean is over the survivors: they are
        kept out of the ranks and out of "the best" of several rows), and the count of cells with none, or ''."""
        unfinished = self.summary[self.summary["not_ok"] > 0]
        s = unfinished[unfinished["n"] > 0]
        cells = [f"{r} in {c} ({int(u)} of {int(n + u)})"
                 for r, c, n, u in zip(s["row"], s["column"], s["n"], s["not_ok"])]
        text = " Cells with unfinished runs (not ranked, never 'the best'): " + "; ".join(cells) + "." if cells else ""
        empty = len(unfinished) - len(s)
        return text + (f" Cells without a finished run: {empty}." if empty else "")

    def _rank_note(self) -> str:
        rows, cols = self.rank_rows or [], self.rank_columns or []
        every = set(self.summary.dropna(subset=["mean"])["row"])
        if set(rows) == every and set(cols) == set(self._columns()):
            return "Mean rank: the per-column rank (1 = best) averaged over the columns run here."
        if not rows:
            return "Mean rank: no common set of rows whose every run finished." + self._unfinished_note()
        return (f"Mean rank: the per-column rank (1 = best) over a common set of rows whose every run finished, "
                f"{', '.join(rows)}, averaged over the columns that ran them all: {'; '.join(cols)} (other rows: –)."
                + self._unfinished_note())

    def _ci_markdown(self) -> str:
        s = self.summary[self.summary["n"] > 1]
        if not len(s):
            return ""
        cols = [c for c in self._columns() if c in set(s["column"])]
        cells = s.set_index(["row", "column"])
        lines = [f"{LEVEL_TEXT} confidence intervals of the means (t-based, n − 1 degrees of freedom):", "",
                 "| activation | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
        for r in self._rows():
            texts = [f"[{_fmt(cells.loc[(r, c), 'ci_low'])}, {_fmt(cells.loc[(r, c), 'ci_high'])}]"
                     if (r, c) in cells.index else "–" for c in cols]
            lines.append(f"| {r} | " + " | ".join(texts) + " |")
        return "\n".join(lines)

    def _agreement_markdown(self) -> str:
        if self.agreement is None or not len(self.agreement):
            return ""
        lines = ["Agreement with the paper's ordering of the rows, per column (Kendall τ-b over the rows both have, "
                 "its p-value; share of the row pairs the paper orders strictly that we order the same way, a tie "
                 "counting one half):", "", "| column | rows | Kendall τ | p | pairs in the paper's order |",
                 "|---|---|---|---|---|"]
        for _, a in self.agreement.iterrows():
            lines.append(f"| {a['column']} | {a['n']} | {_fmt(a['tau'])} | {_fmt(a['p'], 3)} | "
                         f"{'–' if math.isnan(a['share']) else f'{a.share:.0%}'} |")
        return "\n".join(lines)

    def _tests_markdown(self) -> str:
        if not len(self.tests):
            return "No unit/baseline pairs with common seeds to test."
        test = ("Nadeau–Bengio corrected resampled t-test (the seeds are cross-validation folds: 1/n + "
                f"n_test/n_train = 1/n + {self.resampling:.3f})" if self.resampling is not None
                else "two-sided paired t-test")
        lines = [f"Each unit against its own fixed baseline and against the best fixed baseline of the column, "
                 f"paired by seed ({test}; {LEVEL_TEXT} CI of the mean difference). Holm's correction over the family "
                 f"of all {int(self.tests['p'].notna().sum())} unit-vs-baseline tests of this table with a p-value. "
                 f"MDE: the smallest difference these pairs detect with {POWER:.0%} power at α = {ALPHA} (from the "
                 "observed variance of the differences). The best fixed baseline is chosen among the cells whose "
                 "every run finished.", "",
                 "| unit | against | baseline | column | n | mean Δ (pp) [95 % CI] | p | p (Holm) | MDE (pp) |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for _, t in self.tests.iterrows():
            p_holm = _fmt(t["p_holm"], 3)
            if math.isfinite(t["p_holm"]) and t["p_holm"] < ALPHA:
                p_holm = f"**{p_holm}**"
            lines.append(f"| {t['row']} | {t['kind']} | {t['baseline']} | {t['column']} | {t['n']} | "
                         f"{t['diff']:+.2f} [{_fmt(t['ci_low'])}, {_fmt(t['ci_high'])}] | {_fmt(t['p'], 3)} | "
                         f"{p_holm} | {_fmt(t['mde'])} |")
        if (self.tests["n"] < 2).all():
            lines.append("")
            lines.append("With one seed there is no test: run more seeds (`--seeds N`) for p-values.")
        return "\n".join(lines)


def resampling_ratio(experiment: Experiment, records: dict) -> float | None:
    """n_test / n_train of the Nadeau–Bengio correction when the experiment's seeds are cross-validation folds
    (``seed_is_fold``), else None: from the records' data sizes where they carry them, else 1/(k - 1) for k folds.
    """
    if not experiment.seed_is_fold:
        return None
    ratios = []
    for rec in records.values():
        sizes = rec.data.get("sizes") or {}
        folds = (rec.spec.get("data_options") or {}).get("folds")
        if sizes.get("train") and sizes.get("test") is not None:
            ratios.append(sizes["test"] / sizes["train"])
        elif folds and folds > 1:
            ratios.append(1.0 / (folds - 1))
        else:
            raise ValueError(f"{experiment.name}: record {rec.key} gives neither data sizes nor a fold count, so the "
                             "Nadeau–Bengio correction cannot be computed")
    return sum(ratios) / len(ratios) if ratios else None


def unit_tests(experiment: Experiment, runs: pd.DataFrame, summary: pd.DataFrame,
               resampling: float | None) -> pd.DataFrame:
    """Each unit (a row with a baseline) against its baseline and the best fixed baseline (a row without one) of
    each column, with Holm's correction over all these tests (``p_holm``)."""
    pairs = [(r.label, r.baseline) for r in experiment.rows if r.baseline]
    fixed = [r.label for r in experiment.rows if not r.baseline]
    lines = []
    for unit, kind, base, col in baseline_comparisons(summary, pairs, fixed):
        result = compare_cells(runs, (unit, col), (base, col), resampling)
        if result["n"]:
            lines.append({"row": unit, "kind": kind, "baseline": base, "column": col, **result})
    tests = pd.DataFrame(lines, columns=TEST_COLUMNS)
    tests["p_holm"] = holm(tests["p"].to_numpy(dtype=float))
    return tests


def paper_agreement(experiment: Experiment, summary: pd.DataFrame) -> pd.DataFrame:
    """Per column where the paper printed numbers: :func:`~adaptact.report.stats.ordering_agreement`."""
    lines = []
    for col in dict.fromkeys(summary["column"]):
        paper = {r: p.value for (r, c), p in experiment.published.items() if c == col}
        if len(paper) < 2:
            continue
        here = summary[summary["column"] == col]
        ours = dict(zip(here["row"], here["mean"]))
        result = ordering_agreement(ours, paper)
        if result["n"] >= 2:
            lines.append({"column": col, **result})
    return pd.DataFrame(lines, columns=["column", "n", "tau", "p", "share"])


def build_report(experiment: Experiment, runs: pd.DataFrame, profile: dict[str, Any],
                 unavailable: dict[str, str], records: dict | None = None, checks: tuple = ()) -> ExperimentReport:
    """Aggregate the runs of one experiment (a :func:`adaptact.report.collect.runs_table`); ``records``
    by (row, column, seed) feed the profile's ``checks``, the claims' vacuity rule and the fold correction."""
    records = records or {}
    summary = summarize(runs)
    ctx = CheckContext(summary, runs, records)
    results = [(c.text, *c.evaluate(ctx)) for c in checks]
    derived_rows = {r.label for r in experiment.rows if r.derive is not None}
    derived = {cell: rec.spec["act"] for cell, rec in records.items()
               if cell[0] in derived_rows and isinstance(rec.spec.get("act"), list)}
    resampling = resampling_ratio(experiment, records)
    rank_rows, rank_columns = rank_block(summary)
    sections = report_sections(experiment, list(records.values()))
    return ExperimentReport(experiment, profile, runs, summary, mean_ranks(summary, rank_rows, rank_columns),
                            unit_tests(experiment, runs, summary, resampling), unavailable, results, derived,
                            claims=evaluate_claims(experiment, runs, ctx, resampling),
                            agreement=paper_agreement(experiment, summary), rank_rows=rank_rows,
                            rank_columns=rank_columns, resampling=resampling, sections=sections)


def report_sections(experiment: Experiment, records: list) -> list[str]:
    """Markdown tables that some experiments' figure lists name besides pictures (``abu-spread``: the
    spread over runs of the final scaling and blending weights, :mod:`adaptact.report.figures_abu`)."""
    sections = []
    if "abu-spread" in experiment.figures:
        from adaptact.report.figures_abu import parameter_spread_markdown

        text = parameter_spread_markdown(experiment, records)
        if text:
            sections.append(text)
    return sections


@dataclass
class AggregateReport:
    """The report of an experiment that aggregates others' results (PAU Table 5): its own markdown and table."""

    experiment: Experiment
    text: str
    table: pd.DataFrame

    def markdown(self) -> str:
        e = self.experiment
        lines = [f"## {e.name}: {e.title}", "", f"Paper: {e.paper}, {e.source}. From: {', '.join(e.includes)}.", "",
                 self.text]
        if e.published_note:
            lines += ["", f"*About the paper's numbers:* {e.published_note}"]
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        return self.table.to_csv(index=False)
