"""Statistics over seeds: means with confidence intervals, paired tests, power, multiple testing, ranks, agreement.

Every interval is t-based at :data:`LEVEL`; every test is two-sided at :data:`ALPHA`. Runs are
paired by seed (same seed = same data order, same initialisation, or the same cross-validation
fold). Where the runs of a comparison share training data across pairs (k-fold cross-validation:
each training set overlaps the others) the paired t-test underestimates the variance of the
mean difference; the Nadeau–Bengio corrected resampled t-test replaces its ``1/n`` by
``1/n + n_test/n_train`` (Nadeau & Bengio 2003, "Inference for the generalization error"):

    t = mean(d) / sqrt((1/n + n_test/n_train) · var(d, ddof=1)),   n - 1 degrees of freedom.

The distributions come from scipy (``scipy.stats.t``, ``scipy.stats.nct``) and, where installed,
statsmodels (power, Holm's correction); nothing here re-derives a distribution.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import integrate, optimize
from scipy import stats as sps

__all__ = [
    "ALPHA", "LEVEL", "POWER", "baseline_comparisons", "compare_cells", "finished_cells", "holm", "mean_interval",
    "mean_ranks", "minimum_detectable_effect", "ordering_agreement", "paired_difference", "paired_tests",
    "rank_block", "single_run_interval", "summarize", "two_sided_power",
]

ALPHA = 0.05  #: two-sided significance level of every test
LEVEL = 0.95  #: confidence level of every interval
POWER = 0.80  #: power at which the minimum detectable effect is stated

TEST_COLUMNS = ["row", "kind", "baseline", "column", "n", "diff", "ci_low", "ci_high", "test", "t", "p",
                "p_ttest", "p_wilcoxon", "mde"]


def mean_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """The t-based confidence interval of the mean, ``mean ± t_{(1+level)/2, n-1} · s/√n``; NaN below 2 values."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    se = float(np.std(x, ddof=1)) / math.sqrt(len(x))
    if se == 0.0:
        return float(x.mean()), float(x.mean())
    lo, hi = sps.t.interval(level, df=len(x) - 1, loc=float(x.mean()), scale=se)
    return float(lo), float(hi)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (row, column) over the finished runs: n, mean, se (σ/√n), std, best (max), the 95 % CI of the mean
    (``ci_low``, ``ci_high``) and the count of runs that did not finish."""
    ok = runs[runs["status"] == "ok"]
    out = []
    for (row, col), g in runs.groupby(["row", "column"], sort=False):
        values = ok[(ok["row"] == row) & (ok["column"] == col)]["value"].to_numpy(dtype=float)
        n = len(values)
        std = float(np.std(values, ddof=1)) if n > 1 else math.nan
        lo, hi = mean_interval(values)
        out.append({
            "row": row, "column": col, "n": n,
            "mean": float(values.mean()) if n else math.nan,
            "se": std / math.sqrt(n) if n > 1 else math.nan,
            "std": std,
            "best": float(values.max()) if n else math.nan,
            "ci_low": lo, "ci_high": hi,
            "not_ok": int((g["status"] != "ok").sum()),
        })
    return pd.DataFrame(out, columns=["row", "column", "n", "mean", "se", "std", "best", "ci_low", "ci_high",
                                      "not_ok"])


# ---------------------------------------------------------------------------------------------- power


def two_sided_power(effect_size: float, nobs: float, df: float, alpha: float = ALPHA) -> float:
    """Power of a two-sided t-test whose statistic is noncentral t with ``df`` degrees of freedom and
    noncentrality ``effect_size · √nobs`` (statsmodels' ``ttest_power`` where installed, else scipy's ``nct``).

    Where ``nct`` fails (it returns NaN for 1 degree of freedom and a large noncentrality) the power is
    integrated from its definition, T = (Z + nc) / √(V/df) with Z normal and V chi-square(df).
    """
    crit = sps.t.isf(alpha / 2, df)
    nc = effect_size * math.sqrt(nobs)
    try:
        from statsmodels.stats.power import ttest_power
    except ImportError:  # statsmodels is optional (the ``report`` extra): the same formula with scipy
        power = float(sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc))
    else:
        power = float(ttest_power(effect_size, nobs, alpha, df=df, alternative="two-sided"))
    if math.isnan(power):
        def rejects(v: float) -> float:
            scale = crit * math.sqrt(v / df)
            return (sps.norm.sf(scale - nc) + sps.norm.cdf(-scale - nc)) * sps.chi2.pdf(v, df)

        power = float(integrate.quad(rejects, 0, math.inf, limit=200)[0])
    return power


def minimum_detectable_effect(sd: float, n: int, resampling: float | None = None, alpha: float = ALPHA,
                              power: float = POWER) -> float:
    """The smallest true mean difference a two-sided paired test of ``n`` pairs detects with probability
    ``power``, given the standard deviation ``sd`` of the differences (same unit as ``sd``).

    Paired t: the effect size δ/sd solves power(δ/sd; nobs = n, df = n - 1) = ``power`` (what statsmodels'
    ``TTestPower().solve_power`` returns). Nadeau–Bengio (``resampling = n_test/n_train``): the statistic's
    noncentrality is δ / (sd · √(1/n + n_test/n_train)), i.e. nobs = 1 / (1/n + n_test/n_train), df = n - 1.
    NaN below 2 pairs or when ``sd`` is 0 or unknown.
    """
    if n < 2 or not math.isfinite(sd) or sd <= 0:
        return math.nan
    nobs = 1.0 / (1.0 / n + (resampling or 0.0))

    def shortfall(es: float) -> float:
        return two_sided_power(es, nobs, n - 1, alpha) - power

    high = 1.0
    while shortfall(high) < 0:  # bracket the root: power rises with the effect size
        high *= 2.0
    effect = optimize.brentq(shortfall, 1e-9, high, xtol=1e-12)
    return float(effect * sd)


# ---------------------------------------------------------------------------------------------- tests


def paired_difference(a: Sequence[float], b: Sequence[float], resampling: float | None = None,
                      level: float = LEVEL) -> dict:
    """Compare paired samples ``a`` and ``b`` (aligned: pair i is ``a[i]``, ``b[i]``).

    ``resampling=None``: the paired t-test (scipy's ``ttest_rel``); ``resampling = n_test/n_train``: the
    Nadeau–Bengio corrected resampled t-test (see the module docstring). Returns n, ``diff`` = mean(a - b),
    its t-based ``ci_low``/``ci_high``, the statistic ``t``, the two-sided ``p``, ``p_ttest`` (the plain paired
    t-test, whatever ``resampling``), ``p_wilcoxon`` (signed-rank, from 6 pairs), the minimum detectable
    effect ``mde`` at :data:`POWER` and the ``test`` used. Statistics are NaN below 2 pairs and when every
    pair differs by the same amount (no variance: the t statistic is undefined).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need the same length, got {len(a)} and {len(b)}")
    d = a - b
    n = len(d)
    out = {"n": n, "diff": float(d.mean()) if n else math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "test": "paired t" if resampling is None else "Nadeau–Bengio", "t": math.nan, "p": math.nan,
           "p_ttest": math.nan, "p_wilcoxon": math.nan, "mde": math.nan}
    if n >= 6 and np.any(d != 0):
        out["p_wilcoxon"] = float(sps.wilcoxon(d).pvalue)
    if n < 2 or not np.any(d != d[0]):
        return out
    out["p_ttest"] = float(sps.ttest_rel(a, b).pvalue)
    sd = float(np.std(d, ddof=1))
    scale = sd * math.sqrt(1.0 / n + (resampling or 0.0))
    t = out["diff"] / scale
    lo, hi = sps.t.interval(level, df=n - 1, loc=out["diff"], scale=scale)
    p = out["p_ttest"] if resampling is None else float(2 * sps.t.sf(abs(t), n - 1))
    out.update(t=t, p=p, ci_low=float(lo), ci_high=float(hi))
    out["mde"] = minimum_detectable_effect(sd, n, resampling)
    return out


def single_run_interval(a: Sequence[float], b: Sequence[float], resampling: float | None = None,
                        level: float = LEVEL) -> tuple[float, float]:
    """Where the difference of **one** run of each cell would fall (the papers print single runs), from ``n``
    runs of each paired by seed: the ``level`` prediction interval

        mean(d) ± t_{(1+level)/2, n-1} · sqrt(s_a² + s_b² + s_d² · (1/n + n_test/n_train)),   d = a - b,

    for a new run of cell ``a`` minus an independent new run of cell ``b`` (a paper's two rows are not paired
    by our seeds): the variance of that difference, s_a² + s_b², plus that of our estimate of its mean (the
    Nadeau–Bengio factor where the pairs are cross-validation folds). ``n - 1`` degrees of freedom, an
    approximation where s_a and s_b differ. A paper's printed gap outside it is not what one run of each
    would give on this setup. NaN below 2 pairs or without any spread.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = len(a)
    if n < 2 or len(b) != n:
        return math.nan, math.nan
    d = a - b
    var = float(np.var(a, ddof=1) + np.var(b, ddof=1) + np.var(d, ddof=1) * (1.0 / n + (resampling or 0.0)))
    if var <= 0.0:
        return math.nan, math.nan
    lo, hi = sps.t.interval(level, df=n - 1, loc=float(d.mean()), scale=math.sqrt(var))
    return float(lo), float(hi)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values over one family; NaN entries (no test) stay NaN and are not counted.

    Sorted ascending, p_(i) becomes max_{j <= i} min(1, (m - j + 1) · p_(j)) (statsmodels'
    ``multipletests(method="holm")`` where installed).
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.isfinite(p)
    if not finite.any():
        return out
    try:
        from statsmodels.stats.multitest import multipletests
    except ImportError:  # statsmodels is optional: the same step-down rule
        order = np.argsort(p[finite])
        m = len(order)
        stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[finite][order]))
        adjusted = np.empty(m)
        adjusted[order] = stepped
    else:
        adjusted = multipletests(p[finite], alpha=ALPHA, method="holm")[1]
    out[finite] = adjusted
    return out


def _by_seed(runs: pd.DataFrame, row: str, column: str, metric: str) -> pd.Series:
    ok = runs[(runs["status"] == "ok") & (runs["row"] == row) & (runs["column"] == column)]
    return ok.set_index("seed")[metric].astype(float).dropna()


def compare_cells(runs: pd.DataFrame, a: tuple[str, str], b: tuple[str, str], resampling: float | None = None,
                  metric: str = "value") -> dict:
    """:func:`paired_difference` of cell ``a`` (row, column) against cell ``b``, paired by seed over the seeds
    both finished, with ``pi_low``/``pi_high``, the :func:`single_run_interval` of the same pairs; ``metric``
    is a column of the runs table (``value``: the accuracy in %, ``train_loss``)."""
    x, y = _by_seed(runs, *a, metric), _by_seed(runs, *b, metric)
    seeds = x.index.intersection(y.index)
    x, y = x.loc[seeds].to_numpy(), y.loc[seeds].to_numpy()
    out = paired_difference(x, y, resampling)
    out["pi_low"], out["pi_high"] = single_run_interval(x, y, resampling)
    return out


def paired_tests(runs: pd.DataFrame, pairs: Sequence[tuple[str, str]], resampling: float | None = None,
                 kind: str = "own baseline") -> pd.DataFrame:
    """For each (unit, baseline) and every column both ran: :func:`compare_cells`, one line each (see
    ``TEST_COLUMNS``); ``p_holm`` is added by whoever decides the family."""
    ok = runs[runs["status"] == "ok"]
    out = []
    for unit, base in pairs:
        for col in ok["column"].unique():
            r = compare_cells(runs, (unit, col), (base, col), resampling)
            if r["n"]:
                out.append({"row": unit, "kind": kind, "baseline": base, "column": col, **r})
    return pd.DataFrame(out, columns=TEST_COLUMNS)


def baseline_comparisons(summary: pd.DataFrame, pairs: Sequence[tuple[str, str]],
                         fixed: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """The tests of each unit of ``pairs`` (unit, its own baseline) in each column: against its own baseline,
    and against the best (highest mean) of the ``fixed`` rows in that column when that is another row.

    The best is chosen among the cells whose every run finished (:func:`finished_cells`): a fixed row with
    diverged or missing seeds is not crowned on its survivors.

    Returns ``(unit, kind, baseline, column)`` with kind ``own baseline`` or ``best fixed baseline``.
    """
    s = summary[summary["n"] > 0]
    complete = finished_cells(summary)
    out = []
    for col in dict.fromkeys(s["column"]):
        here = s[s["column"] == col].set_index("row")["mean"]
        whole = complete[complete["column"] == col].set_index("row")["mean"]
        candidates = whole[whole.index.isin(fixed)]
        best = candidates.idxmax() if len(candidates) else None
        for unit, base in pairs:
            if unit not in here.index:
                continue
            if base in here.index:
                out.append((unit, "own baseline", base, col))
            if best is not None and best not in (base, unit):
                out.append((unit, "best fixed baseline", best, col))
    return out


# ---------------------------------------------------------------------------------------------- ranks


def finished_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The cells of a :func:`summarize` table whose every planned run finished (a mean, and ``not_ok`` = 0).

    A cell with a diverged, failed or missing seed has a mean over its survivors only, which flatters it
    (the papers print NaN for such a cell); rankings and "the best of several rows" use these cells only.
    """
    s = summary.dropna(subset=["mean"])
    return s[s["not_ok"] == 0] if "not_ok" in s else s


def rank_block(summary: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The largest block of rows x columns in which every cell finished all its runs (:func:`finished_cells`):
    ranks over it compare like with like.

    Candidates are the row sets of the columns; each is paired with every column that holds all its rows;
    the block with the most cells wins (ties: more rows). Returns (rows, columns) in table order.
    """
    s = finished_cells(summary)
    columns = list(dict.fromkeys(s["column"]))
    present = {c: set(s[s["column"] == c]["row"]) for c in columns}
    best: tuple[int, int, frozenset, list] = (0, 0, frozenset(), [])
    for rows in dict.fromkeys(frozenset(present[c]) for c in columns):
        cols = [c for c in columns if rows <= present[c]]
        key = (len(rows) * len(cols), len(rows))
        if key > best[:2]:
            best = (*key, rows, cols)
    order = list(dict.fromkeys(s["row"]))
    return [r for r in order if r in best[2]], best[3]


def mean_ranks(summary: pd.DataFrame, rows: Sequence[str] | None = None,
               columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Rank the rows within each column (1 = highest mean; ties share the average rank), then average per row.

    ``rows``/``columns`` restrict the ranking to a common block (see :func:`rank_block`); by default every
    row with a mean in a column is ranked in it.
    """
    s = summary.dropna(subset=["mean"]).copy()
    if rows is not None:
        s = s[s["row"].isin(rows)]
    if columns is not None:
        s = s[s["column"].isin(columns)]
    s["rank"] = s.groupby("column")["mean"].rank(ascending=False, method="average")
    return s.groupby("row", sort=False)["rank"].mean().rename("mean_rank").reset_index()


def ordering_agreement(ours: Mapping[str, float], paper: Mapping[str, float]) -> dict:
    """How well our ordering of rows matches the paper's, over the rows both give a finite number for.

    Returns n (rows), Kendall's τ-b and its p-value (``scipy.stats.kendalltau``; NaN below 2 rows or when one
    side is constant), and ``share``: of the row pairs the paper orders strictly, the share we order the same
    way (a pair we tie counts one half).
    """
    rows = [r for r in ours if r in paper and math.isfinite(ours[r]) and math.isfinite(paper[r])]
    x = np.array([ours[r] for r in rows], dtype=float)
    y = np.array([paper[r] for r in rows], dtype=float)
    out = {"n": len(rows), "tau": math.nan, "p": math.nan, "share": math.nan}
    if len(rows) < 2:
        return out
    res = sps.kendalltau(x, y)
    out["tau"], out["p"] = float(res.statistic), float(res.pvalue)
    i, j = np.triu_indices(len(rows), k=1)
    paper_sign, our_sign = np.sign(y[i] - y[j]), np.sign(x[i] - x[j])
    strict = paper_sign != 0
    if strict.any():
        agree = np.where(our_sign[strict] == 0, 0.5, (our_sign[strict] == paper_sign[strict]).astype(float))
        out["share"] = float(agree.mean())
    return out
