"""The report of one experiment: our numbers beside the paper's, as markdown and CSV."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from adaptact.experiments.base import Experiment
from adaptact.report.stats import mean_ranks, paired_tests, summarize

__all__ = ["AggregateReport", "ExperimentReport", "build_report"]


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
    checks: list[tuple[str, bool | None, str]]
    derived_acts: dict[tuple[str, str, int], list[str]]

    # ---------------------------------------------------------------- long table

    def long(self) -> pd.DataFrame:
        """One line per (row, column): ours (n, mean, se, std, best, rank) and the paper's number and the difference."""
        s = self.summary.copy()
        s["rank"] = s.groupby("column")["mean"].rank(ascending=False, method="average")
        paper = [self.experiment.published.get((r, c)) for r, c in zip(s["row"], s["column"])]
        s["paper"] = [p.value if p else math.nan for p in paper]
        s["paper_spread"] = [p.spread if p and p.spread is not None else math.nan for p in paper]
        s["diff"] = s["mean"] - s["paper"]
        tests = self.tests.set_index(["row", "column"]) if len(self.tests) else None
        s["baseline"] = [self.experiment.row(r).baseline for r in s["row"]]
        s["p_vs_baseline"] = [
            tests.loc[(r, c), "p_ttest"] if tests is not None and (r, c) in tests.index else math.nan
            for r, c in zip(s["row"], s["column"])
        ]
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
                 "(a single value where there is one seed); **bold** = best in the column; "
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
        best = {c: summ.xs(c, level="column")["mean"].max() for c in cols}
        ranks = self.ranks.set_index("row")["mean_rank"] if len(self.ranks) else pd.Series(dtype=float)
        best_rank = ranks.min() if len(ranks) else math.nan
        for r in rows:
            cells = [r]
            for c in cols:
                if (r, c) in summ.index:
                    x = summ.loc[(r, c)]
                    text = _cell(x["mean"], x["se"], int(x["n"]))
                    if x["n"] and x["mean"] == best[c]:
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
        lines.append("")
        lines.append("Mean rank: the per-column rank (1 = best) averaged over the columns run here.")
        if e.published_note:
            lines += ["", f"*About the paper's numbers:* {e.published_note}"]
        if self.unavailable:
            lines += ["", "**Not run here:**"] + [f"- {k}: {v}" for k, v in self.unavailable.items()]
        if self.derived_acts:
            lines += ["", "**Per-layer activations of the derived rows** (from their source runs):", ""]
            lines += [f"- {r} / {c} / seed {seed}: {', '.join(acts)}"
                      for (r, c, seed), acts in sorted(self.derived_acts.items())]
        lines += ["", self._tests_markdown()]
        problems = self.runs[self.runs["status"] != "ok"]
        if len(problems):
            lines += ["", "**Runs that did not finish:**"]
            for _, p in problems.iterrows():
                first = str(p["error"]).splitlines()[0] if p["error"] else ""
                lines.append(f"- {p['row']} / {p['column']} / seed {p['seed']}: {p['status']}: {first}")
        if self.checks:
            mark = {True: "✔ holds", False: "✘ does not hold", None: "– undecided"}
            lines += ["", "**What this profile should show, checked on these results:**", ""]
            lines += [f"- {mark[ok]}: {text} ({detail})" for text, ok, detail in self.checks]
        elif self.profile.get("expect"):
            lines += ["", f"*What this profile should show:* {self.profile['expect']}"]
        return "\n".join(lines) + "\n"

    def _tests_markdown(self) -> str:
        if not len(self.tests):
            return "No unit/baseline pairs with common seeds to test."
        lines = ["Unit against its fixed baseline, paired by seed (two-sided paired t-test; Wilcoxon from 6 pairs):",
                 "", "| unit | baseline | column | n | mean Δ (pp) | p (t) | p (Wilcoxon) |", "|---|---|---|---|---|---|---|"]
        for _, t in self.tests.iterrows():
            lines.append(f"| {t['row']} | {t['baseline']} | {t['column']} | {t['n']} | {t['diff']:+.2f} | "
                         f"{_fmt(t['p_ttest'], 3)} | {_fmt(t['p_wilcoxon'], 3)} |")
        if (self.tests["n"] < 2).all():
            lines.append("")
            lines.append("With one seed there is no test: run more seeds (`--seeds N`) for p-values.")
        return "\n".join(lines)


def build_report(experiment: Experiment, runs: pd.DataFrame, profile: dict[str, Any],
                 unavailable: dict[str, str], records: dict | None = None, checks: tuple = ()) -> ExperimentReport:
    """Aggregate the runs of one experiment (a :func:`adaptact.report.collect.runs_table`); ``records``
    by (row, column, seed) feed the profile's ``checks``."""
    from adaptact.experiments.checks import CheckContext

    summary = summarize(runs)
    pairs = [(r.label, r.baseline) for r in experiment.rows if r.baseline]
    ctx = CheckContext(summary, runs, records or {})
    results = [(c.text, *c.evaluate(ctx)) for c in checks]
    derived_rows = {r.label for r in experiment.rows if r.derive is not None}
    derived = {cell: rec.spec["act"] for cell, rec in (records or {}).items()
               if cell[0] in derived_rows and isinstance(rec.spec.get("act"), list)}
    return ExperimentReport(experiment, profile, runs, summary, mean_ranks(summary), paired_tests(runs, pairs),
                            unavailable, results, derived)


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
