"""The paper's claims decided on our results: reproduced, contradicted, undetermined (with what we could have
detected), vacuous, or not run.

Each :class:`~adaptact.experiments.checks.Claim` compares two cells paired by seed (the Nadeau–Bengio test
where the seeds are cross-validation folds). Its verdict:

- **reproduced**: significant after Holm's correction in the claimed direction;
- **contradicted**: significant after Holm's correction in the opposite direction;
- **undetermined**: not significant; the minimum detectable effect (80 % power, from the observed
  variance of the differences) says how large a difference these runs could have shown;
- **vacuous**: both cells at chance level, or the two rows ran the same function (see
  :mod:`adaptact.experiments.checks`): the comparison says nothing, and is left out of the family;
- **not run**: a cell has no finished run in this profile.

Beside the verdict, the paper's printed gap (single runs) is set against the range one run of each cell would
give on our setup (:func:`~adaptact.report.stats.single_run_interval`): a gap outside it is named in ``why``.

The Holm family is every claim of the experiment that has a test (n >= 2 pairs with some variance).
"""
from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from adaptact.experiments.base import Experiment
from adaptact.experiments.checks import CheckContext, Claim
from adaptact.report.stats import ALPHA, POWER, compare_cells, finished_cells, holm, summarize

__all__ = ["CLAIM_COLUMNS", "claims_markdown", "evaluate_claims", "paper_claims_markdown", "validate_claims"]

CLAIM_COLUMNS = ["claim", "row", "column", "than", "than_column", "higher", "metric", "paper_diff", "n", "diff",
                 "ci_low", "ci_high", "pi_low", "pi_high", "test", "p", "p_holm", "mde", "verdict", "why"]


def validate_claims(experiment: Experiment) -> None:
    """Refuse a claim that names a row or column the experiment does not have."""
    for claim in experiment.claims:
        for row in claim.rows():
            experiment.row(row)
        for column in claim.columns():
            experiment.column(column)
        if claim.metric not in ("value", "train_loss"):
            raise ValueError(f"{experiment.name}: claim {claim.text!r}: metric must be 'value' or 'train_loss', "
                             f"got {claim.metric!r}")


def _cell_means(runs: pd.DataFrame, column: str, metric: str) -> pd.Series:
    ok = runs[(runs["status"] == "ok") & (runs["column"] == column)]
    return ok.groupby("row", sort=False)[metric].mean().dropna()  # table order: ties go to the first row


def _unfinished_rows(runs: pd.DataFrame, column: str) -> dict[str, tuple[int, int]]:
    """Rows of ``column`` whose cell did not finish all its runs (the rule of :func:`finished_cells`, which
    ranks the report's tables): row -> (unfinished, planned)."""
    summary = summarize(runs[runs["column"] == column])
    finished = set(finished_cells(summary)["row"])
    return {r.row: (int(r.not_ok), int(r.n + r.not_ok)) for r in summary.itertuples() if r.row not in finished}


def _reference(claim: Claim, candidates: dict[str, float]) -> str | None:
    """The row a claim is compared with: ``than`` itself, or the best of ``than`` against the claim."""
    if isinstance(claim.than, str):
        return claim.than if claim.than in candidates else None
    options = {r: v for r, v in candidates.items() if r in claim.than and r != claim.row}
    if not options:
        return None
    return (max if claim.higher else min)(options, key=options.get)


def _paper_diff(experiment: Experiment, claim: Claim, ref: str | None) -> float:
    """The paper's printed gap for the claim: against our reference row where we have one, else the paper's best."""
    if claim.metric != "value":
        return math.nan
    mine = experiment.published.get((claim.row, claim.column))
    other_column = claim.than_column or claim.column
    printed = {r: p.value for (r, c), p in experiment.published.items() if c == other_column}
    ref = ref if ref in printed else _reference(claim, printed)
    if mine is None or ref is None:
        return math.nan
    return mine.value - printed[ref]


def evaluate_claims(experiment: Experiment, runs: pd.DataFrame, ctx: CheckContext,
                    resampling: float | None = None) -> pd.DataFrame:
    """One line per claim of ``experiment`` (see ``CLAIM_COLUMNS``) with its verdict on ``runs``."""
    validate_claims(experiment)
    lines = []
    for claim in experiment.claims:
        other_column = claim.than_column or claim.column
        candidates = _cell_means(runs, other_column, claim.metric).to_dict()
        left_out = {}
        if not isinstance(claim.than, str):
            # the best of several rows is chosen among rows whose every run finished: a row with diverged
            # (or missing) seeds has no mean, as the papers' NaNs, and is not crowned on its survivors
            left_out = {r: n for r, n in _unfinished_rows(runs, other_column).items()
                        if r in claim.than and r in candidates}
            candidates = {r: v for r, v in candidates.items() if r not in left_out}
        ref = _reference(claim, candidates)
        mine = _cell_means(runs, claim.column, claim.metric)
        than = ref or (claim.than if isinstance(claim.than, str) else f"the best of {len(claim.than)} rows")
        line = {"claim": claim.text, "row": claim.row, "column": claim.column, "than": than,
                "than_column": other_column, "higher": claim.higher, "metric": claim.metric,
                "paper_diff": _paper_diff(experiment, claim, ref)}
        if ref is None or claim.row not in mine.index:
            planned = set(runs["column"])
            absent = [c for c in dict.fromkeys((claim.column, other_column)) if c not in planned]
            why = (f"this profile does not run {' or '.join(absent)}" if absent
                   else "a compared cell has no finished run")
            lines.append({**line, "n": 0, "verdict": "not run", "why": why})
            continue
        result = compare_cells(runs, (claim.row, claim.column), (ref, other_column), resampling, claim.metric)
        line.update({k: result[k] for k in ("n", "diff", "ci_low", "ci_high", "pi_low", "pi_high", "test", "p",
                                            "mde")})
        cells = [(claim.row, claim.column), (ref, other_column)]
        reason = ctx.chance_reason(cells) if claim.metric == "value" else None
        if reason is None and claim.column == other_column and ctx.same_function(claim.row, ref, claim.column):
            reason = f"{claim.row} and {ref} ran the same function"
        if result["n"] == 0:
            line.update(verdict="not run", why="no seed finished in both cells")
        elif reason:
            line.update(verdict="vacuous", why=reason, p=math.nan)
        lines.append(line)
        if left_out:
            line["left_out"] = "; not eligible as the best: " + ", ".join(
                f"{r} ({u} of {n} runs unfinished)" for r, (u, n) in left_out.items())
    adjusted = holm([line.get("p", math.nan) for line in lines])
    for line, p_holm in zip(lines, adjusted):
        line["p_holm"] = p_holm
        if "verdict" not in line:
            line["verdict"], line["why"] = _verdict(line)
            line["why"] += _paper_outside(line)
        line["why"] += line.pop("left_out", "")
    return pd.DataFrame(lines, columns=CLAIM_COLUMNS)


def _verdict(t: dict) -> tuple[str, str]:
    unit = "pp" if t["metric"] == "value" else "in loss"
    if not math.isfinite(t["p_holm"]):
        why = "one pair: no test" if t["n"] < 2 else "every pair differs by the same amount: no test"
        return "undetermined", why
    if t["p_holm"] < ALPHA:
        agrees = (t["diff"] > 0) == bool(t["higher"])
        return ("reproduced" if agrees else "contradicted"), f"Holm p = {t['p_holm']:.3g}"
    return "undetermined", (f"Holm p = {t['p_holm']:.3g}; could detect {_amount(t['mde'], t['metric'])} {unit} "
                            f"({POWER:.0%} power)")


def _paper_outside(t: dict) -> str:
    """``why``'s note where the paper's printed gap lies outside the range one run of each cell gives here."""
    d, lo, hi = t.get("paper_diff"), t.get("pi_low"), t.get("pi_high")
    if not all(v is not None and math.isfinite(v) for v in (d, lo, hi)) or lo <= d <= hi:
        return ""
    return (f"; the paper's single-run Δ ({_num(d, sign=True)}) is outside the range one run of each gives here "
            f"[{_num(lo)}, {_num(hi)}]")


def _single_run(t: pd.Series) -> str:
    """The claims table's cell of the single-run range: ``[lo, hi]``, flagged where the paper's Δ is outside."""
    lo, hi, d = t["pi_low"], t["pi_high"], t["paper_diff"]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    text = f"[{_amount(lo, t['metric'])}, {_amount(hi, t['metric'])}]"
    return text + (" paper's Δ outside" if math.isfinite(d) and not lo <= d <= hi else "")


def _num(x: float, digits: int = 2, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _amount(x: float, metric: str, sign: bool = False) -> str:
    """A difference of ``metric``: accuracy points with 2 decimals, a loss with 3 significant digits (its
    differences are often below 0.005)."""
    if metric == "value" or x is None or not math.isfinite(x):
        return _num(x, sign=sign)
    return f"{x:+.3g}" if sign else f"{x:.3g}"


def _paper_gap(t: pd.Series) -> str:
    """The paper's printed Δ of a claim, flagged where its sign is against the claim: the text says one thing
    and the paper's own table another (Farhadi's "adaptive Gumbel in the conv layers is best", ReLU's row on top)."""
    d = t["paper_diff"]
    if d is None or not math.isfinite(d):
        return "–"
    against = d < 0 if t["higher"] else d > 0
    return _num(d, sign=True) + (" (the paper's own table disagrees)" if against else "")


def _compared(t: pd.Series) -> str:
    """The two cells of a claim in words: ``a > b (column)``, ``row: column a > column b`` or ``a/x > b/y``."""
    sign = ">" if t["higher"] else "<"
    metric = "" if t["metric"] == "value" else ", train loss"
    if t["than_column"] == t["column"]:
        return f"{t['row']} {sign} {t['than']} ({t['column']}{metric})"
    if t["than"] == t["row"]:
        return f"{t['row']}: {t['column']} {sign} {t['than_column']}{metric}"
    return f"{t['row']} / {t['column']} {sign} {t['than']} / {t['than_column']}{metric}"


def claims_markdown(table: pd.DataFrame) -> str:
    """The claims table of one experiment as markdown (empty string when it declares none)."""
    if not len(table):
        return ""
    tests = sorted(set(table["test"].dropna()))
    lines = ["**The paper's claims, decided on these results** (Δ = first cell − second, paired by seed; against "
             "several rows, the second cell is the best of those run here; "
             f"two-sided {' / '.join(tests) or 'paired'} test; Holm over the {int(table['p'].notna().sum())} claims "
             f"of this table with a test; MDE = the smallest difference these runs detect with {POWER:.0%} power; "
             "one run each: the 95 % range of the difference of a single run of each cell, as the paper printed "
             "them, from these runs' spread):",
             "", "| claim | compared | paper Δ | ours Δ [95 % CI] | one run each | n | p (Holm) | MDE | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, t in table.iterrows():
        m = t["metric"]
        ours = ("–" if not t["n"] else
                f"{_amount(t['diff'], m, sign=True)} [{_amount(t['ci_low'], m)}, {_amount(t['ci_high'], m)}]")
        lines.append(f"| {t['claim']} | {_compared(t)} | {_paper_gap(t)} "
                     f"| {ours} | {_single_run(t)} | {int(t['n'])} | {_num(t['p_holm'], 3)} | {_amount(t['mde'], m)} | "
                     f"**{t['verdict']}**: {t['why']} |")
    counts = table["verdict"].value_counts()
    lines += ["", "Verdicts: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in
                                          ("reproduced", "contradicted", "undetermined", "vacuous", "not run"))
              + "."]
    return "\n".join(lines)


def paper_claims_markdown(reports: Sequence) -> str:
    """Every claim of every report, grouped by paper: one line each with its verdict (the report's summary)."""
    by_paper: dict[str, list[str]] = {}
    for rep in reports:
        table = getattr(rep, "claims", None)
        if table is None or not len(table):
            continue
        rows = by_paper.setdefault(rep.experiment.paper, [])
        for _, t in table.iterrows():
            rows.append(f"| {rep.experiment.name} | {t['claim']} | {_paper_gap(t)} | "
                        f"{_amount(t['diff'], t['metric'], sign=True)} | **{t['verdict']}** | {t['why']} |")
    if not by_paper:
        return ""
    lines = ["## Claims of the papers", "",
             "Each line: one comparison the paper makes, decided on the runs of this folder (details and the "
             "test in each experiment's section).", ""]
    for paper, rows in by_paper.items():
        lines += [f"### {paper}", "", "| experiment | claim | paper Δ | ours Δ | verdict | why |",
                  "|---|---|---|---|---|---|",
                  *rows, ""]
    return "\n".join(lines)
