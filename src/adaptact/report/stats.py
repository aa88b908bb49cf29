"""Statistics over seeds: mean ± standard error, ranks, and paired tests of a unit against its baseline."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = ["mean_ranks", "paired_tests", "summarize"]


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (row, column) over the finished runs: n, mean, se (σ/√n), std, best (max), and the failed count."""
    ok = runs[runs["status"] == "ok"]
    out = []
    for (row, col), g in runs.groupby(["row", "column"], sort=False):
        values = ok[(ok["row"] == row) & (ok["column"] == col)]["value"].to_numpy(dtype=float)
        n = len(values)
        std = float(np.std(values, ddof=1)) if n > 1 else math.nan
        out.append({
            "row": row, "column": col, "n": n,
            "mean": float(values.mean()) if n else math.nan,
            "se": std / math.sqrt(n) if n > 1 else math.nan,
            "std": std,
            "best": float(values.max()) if n else math.nan,
            "not_ok": int((g["status"] != "ok").sum()),
        })
    return pd.DataFrame(out, columns=["row", "column", "n", "mean", "se", "std", "best", "not_ok"])


def mean_ranks(summary: pd.DataFrame) -> pd.DataFrame:
    """Rank the rows within each column (1 = highest mean; ties share the average rank), then average per row."""
    s = summary.dropna(subset=["mean"]).copy()
    s["rank"] = s.groupby("column")["mean"].rank(ascending=False, method="average")
    return s.groupby("row", sort=False)["rank"].mean().rename("mean_rank").reset_index()


def paired_tests(runs: pd.DataFrame, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """For each (unit, baseline) and column: mean difference (pp) over seeds both finished, and the two-sided
    paired t-test p-value (Wilcoxon signed-rank as well from 6 pairs on); p is missing below 2 pairs and
    when every pair differs by the same amount (the t statistic is undefined)."""
    ok = runs[runs["status"] == "ok"]
    out = []
    for unit, base in pairs:
        for col in ok["column"].unique():
            a = ok[(ok["row"] == unit) & (ok["column"] == col)].set_index("seed")["value"]
            b = ok[(ok["row"] == base) & (ok["column"] == col)].set_index("seed")["value"]
            seeds = a.index.intersection(b.index)
            if len(seeds) == 0:
                continue
            d = (a.loc[seeds] - b.loc[seeds]).to_numpy(dtype=float)
            p_t = p_w = math.nan
            if len(d) > 1 and np.any(d != d[0]):  # identical differences: no variance, no t-test
                p_t = float(sps.ttest_rel(a.loc[seeds], b.loc[seeds]).pvalue)
            if len(d) >= 6 and np.any(d != 0):
                p_w = float(sps.wilcoxon(d).pvalue)
            out.append({"row": unit, "baseline": base, "column": col, "n": len(d),
                        "diff": float(d.mean()), "p_ttest": p_t, "p_wilcoxon": p_w})
    return pd.DataFrame(out, columns=["row", "baseline", "column", "n", "diff", "p_ttest", "p_wilcoxon"])
