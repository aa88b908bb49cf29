"""The report's statistics against known values: scipy's and statsmodels' own functions, textbook examples."""
from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from adaptact.report.stats import (
    baseline_comparisons, finished_cells, holm, mean_interval, mean_ranks, minimum_detectable_effect,
    ordering_agreement, paired_difference, rank_block, single_run_interval, summarize, two_sided_power,
)

A = [91.0, 92.5, 90.0, 93.0, 91.5]
B = [90.0, 92.0, 90.5, 91.0, 90.0]


def test_mean_interval_is_scipys_one_sample_interval():
    ci = sps.ttest_1samp(A, 0.0).confidence_interval(0.95)
    assert mean_interval(A) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert all(math.isnan(v) for v in mean_interval([3.0]))


def test_summary_carries_the_interval_of_each_mean():
    runs = pd.DataFrame([{"row": "u", "column": "c", "seed": s, "status": "ok", "value": v} for s, v in enumerate(A)])
    s = summarize(runs).iloc[0]
    ci = sps.ttest_1samp(A, 0.0).confidence_interval(0.95)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert s["se"] == pytest.approx(sps.sem(A))


def test_paired_difference_is_scipys_paired_t_test():
    ref = sps.ttest_rel(A, B)
    ci = ref.confidence_interval(0.95)
    r = paired_difference(A, B)
    assert r["test"] == "paired t" and r["n"] == 5
    assert r["diff"] == pytest.approx(np.mean(np.subtract(A, B)))
    assert r["t"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue) == r["p_ttest"]
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_paired_difference_refuses_unpaired_samples_and_says_why_there_is_no_test():
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        paired_difference([1, 2, 3], [1, 2])
    same_gap = paired_difference([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])  # every pair differs by 1: no variance
    assert same_gap["diff"] == 1.0 and math.isnan(same_gap["p"]) and math.isnan(same_gap["mde"])
    assert math.isnan(paired_difference([1.0], [0.0])["p"])


def test_nadeau_bengio_worked_example():
    """Five folds of a 5-fold CV (n_test/n_train = 1/4); d = a - b = 1, 2, 0.5, 1.5, 1: mean 1.2, var 0.325,
    t = 1.2 / sqrt((1/5 + 1/4) * 0.325) = 3.1379, 4 degrees of freedom."""
    d = np.array([1.0, 2.0, 0.5, 1.5, 1.0])
    b = np.array([70.0, 71.0, 69.5, 70.5, 72.0])
    r = paired_difference(b + d, b, resampling=0.25)
    k, ratio = 5, 0.25
    t = d.mean() / math.sqrt((1 / k + ratio) * d.var(ddof=1))
    assert t == pytest.approx(3.1379, abs=1e-4)
    assert r["test"] == "Nadeau–Bengio"
    assert r["t"] == pytest.approx(t)
    assert r["p"] == pytest.approx(2 * sps.t.sf(t, k - 1))
    half = sps.t.ppf(0.975, k - 1) * math.sqrt((1 / k + ratio) * d.var(ddof=1))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert r["p"] > r["p_ttest"]  # the correction widens: the plain paired test is overconfident here
    assert r["p_ttest"] == pytest.approx(sps.ttest_rel(b + d, b).pvalue)


def test_single_run_interval_worked_example():
    """a = 1, 2, 3, 4 and b = 0, 2, 1, 3: d = 1, 0, 2, 1 (mean 1), s_a² = s_b² = 5/3, s_d² = 2/3, n = 4:
    1 ± t_{0.975, 3} · sqrt(5/3 + 5/3 + (2/3)/4) = 1 ± 3.18245 · 1.87083 = [-4.95382, 6.95382]."""
    lo, hi = single_run_interval([1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 1.0, 3.0])
    assert (lo, hi) == pytest.approx((-4.95382, 6.95382), abs=1e-4)
    # folds: the mean's share of the variance takes the Nadeau–Bengio factor, 2/3 · (1/4 + 1/3)
    lo, hi = single_run_interval([1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 1.0, 3.0], resampling=1 / 3)
    assert hi - 1.0 == pytest.approx(sps.t.ppf(0.975, 3) * math.sqrt(10 / 3 + 2 / 3 * (1 / 4 + 1 / 3)))
    # a single run of each spreads wider than the mean difference's interval
    r = paired_difference(A, B)
    lo, hi = single_run_interval(A, B)
    assert lo < r["ci_low"] < r["ci_high"] < hi
    assert all(math.isnan(v) for v in single_run_interval([1.0], [0.0]))
    assert all(math.isnan(v) for v in single_run_interval([1.0, 1.0], [0.0, 0.0]))


def test_holm_textbook_example_and_statsmodels():
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    assert holm(p) == pytest.approx(multitest.multipletests(p, alpha=0.05, method="holm")[1])


def test_holm_leaves_missing_tests_out_of_the_family(monkeypatch):
    out = holm([0.01, math.nan, 0.04])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert np.isnan(holm([math.nan])).all()
    monkeypatch.setitem(sys.modules, "statsmodels.stats.multitest", None)  # without statsmodels: same numbers
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_minimum_detectable_effect_is_statsmodels_solve_power(n):
    power = pytest.importorskip("statsmodels.stats.power")
    effect = power.TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8, alternative="two-sided")
    assert minimum_detectable_effect(1.0, n) == pytest.approx(effect, rel=1e-5)
    assert minimum_detectable_effect(0.4, n) == pytest.approx(0.4 * effect, rel=1e-5)


def test_nadeau_bengio_mde_has_80_percent_power_under_the_corrected_statistic(monkeypatch):
    power = pytest.importorskip("statsmodels.stats.power")
    n, ratio, sd = 5, 0.25, 0.7
    mde = minimum_detectable_effect(sd, n, ratio)
    nobs = 1 / (1 / n + ratio)
    assert power.ttest_power(mde / sd, nobs, 0.05, df=n - 1, alternative="two-sided") == pytest.approx(0.8, abs=1e-6)
    assert mde > minimum_detectable_effect(sd, n)
    monkeypatch.setitem(sys.modules, "statsmodels.stats.power", None)  # scipy's noncentral t: the same number
    assert minimum_detectable_effect(sd, n, ratio) == pytest.approx(mde, rel=1e-6)


def test_power_with_one_degree_of_freedom():
    """Two pairs: scipy's noncentral t returns NaN in the lower tail at this noncentrality; the power is then
    integrated from the definition and matches statsmodels' solve_power (effect 11.5499 for 80 %)."""
    assert two_sided_power(11.549889754978167, 2, 1) == pytest.approx(0.8, abs=1e-5)
    assert two_sided_power(1.0, 2, 1) == pytest.approx(0.0928, abs=1e-4)
    assert math.isnan(minimum_detectable_effect(1.0, 1)) and math.isnan(minimum_detectable_effect(0.0, 5))


def test_kendall_tau_is_scipys_and_the_share_counts_pairs():
    ours = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0}
    paper = {"a": 4.0, "b": 3.0, "c": 1.0, "d": 2.0, "e": 9.0}  # e: not ours, left out
    r = ordering_agreement(ours, paper)
    ref = sps.kendalltau([3, 2, 1, 0], [4, 3, 1, 2])
    assert r["n"] == 4 and r["tau"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)
    assert r["share"] == pytest.approx(5 / 6)
    tie = ordering_agreement({"a": 1.0, "b": 1.0, "c": 0.0}, {"a": 3.0, "b": 2.0, "c": 1.0})
    assert tie["share"] == pytest.approx(2.5 / 3)
    assert math.isnan(ordering_agreement({"a": 1.0}, {"a": 2.0})["tau"])


def _summary(cells: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([{"row": r, "column": c, "n": 1, "mean": m} for (r, c), m in cells.items()])


def test_ranks_use_the_largest_block_where_every_row_ran():
    """ABU's quick profile: seven rows on one column, two of them also on SMCN_S. Ranking the two alone in
    SMCN_S would mix a 2-row ranking with a 7-row one."""
    cells = {(r, "main"): m for r, m in zip("ABCDEFG", (7, 6, 5, 4, 3, 2, 1))}
    cells |= {("A", "small"): 1.0, ("G", "small"): 2.0}
    rows, columns = rank_block(_summary(cells))
    assert rows == list("ABCDEFG") and columns == ["main"]
    ranks = mean_ranks(_summary(cells), rows, columns).set_index("row")["mean_rank"]
    assert ranks["A"] == 1 and ranks["G"] == 7
    full = {(r, c): m for r, m in zip("AB", (2.0, 1.0)) for c in ("x", "y")}
    assert rank_block(_summary(full)) == (["A", "B"], ["x", "y"])


def test_each_unit_is_tested_against_its_baseline_and_the_best_fixed_one():
    s = _summary({("ReLU", "c"): 90.0, ("ELU", "c"): 92.0, ("PAU", "c"): 93.0, ("PReLU", "c"): 95.0,
                  ("ELU", "d"): 80.0, ("ReLU", "d"): 85.0, ("PAU", "d"): 86.0})
    tests = baseline_comparisons(s, [("PAU", "ReLU"), ("PReLU", "ReLU")], fixed=["ReLU", "ELU"])
    assert tests == [("PAU", "own baseline", "ReLU", "c"), ("PAU", "best fixed baseline", "ELU", "c"),
                     ("PReLU", "own baseline", "ReLU", "c"), ("PReLU", "best fixed baseline", "ELU", "c"),
                     ("PAU", "own baseline", "ReLU", "d")]  # in d the best fixed one is its own: tested once


def test_a_cell_with_unfinished_runs_is_neither_ranked_nor_the_best_fixed_baseline():
    """PAU's Fashion-MNIST SLAF: 4 of 5 seeds diverged; the one survivor's mean (above every other row) must
    not rank it first nor make it "the best fixed baseline"."""
    s = _summary({("ReLU", "c"): 90.0, ("SLAF", "c"): 99.0, ("ELU", "c"): 92.0, ("PAU", "c"): 93.0})
    s["not_ok"] = [0, 4, 0, 0]
    assert list(finished_cells(s)["row"]) == ["ReLU", "ELU", "PAU"]
    rows, columns = rank_block(s)
    assert rows == ["ReLU", "ELU", "PAU"] and columns == ["c"]
    ranks = mean_ranks(s, rows, columns).set_index("row")["mean_rank"]
    assert ranks.to_dict() == {"ReLU": 3.0, "ELU": 2.0, "PAU": 1.0}
    tests = baseline_comparisons(s, [("PAU", "ReLU")], fixed=["ReLU", "SLAF", "ELU"])
    assert tests == [("PAU", "own baseline", "ReLU", "c"), ("PAU", "best fixed baseline", "ELU", "c")]
