"""Experiment specs, the resumable runner, and the reports."""
from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from adaptact.experiments import get_experiment, list_experiments, reproduce
from adaptact.experiments.runner import load_records
from adaptact.report import experiment_reports, write_figures, write_report
from adaptact.report.stats import mean_ranks, paired_tests
from adaptact.train import RunSpec, run
from fakedata import write_fake_data_root

ALL = list_experiments()
RUNNABLE = [n for n in ALL if not get_experiment(n).unavailable]


@pytest.fixture(scope="session")
def fake_root(tmp_path_factory) -> Path:
    return write_fake_data_root(tmp_path_factory.mktemp("fakedata"))


def test_the_catalogue_has_every_experiment_of_experiments_md():
    ids = {"abu-table1", "abu-table2", "abu-table3", "farhadi-sim", "farhadi-mnist", "farhadi-mr", "farhadi-url",
           "davis-mnist-fixed-vs-trainable", "davis-mnist-width", "davis-mnist-subdepth", "davis-mnist-subwidth",
           "davis-mnist-depth", "davis-mnist-subact", "adact-table1", "pau-mnist-fmnist", "pau-table5", "digits"}
    assert ids <= set(ALL)


MEDIUM = [n for n in ALL if "medium" in get_experiment(n).profiles]


def test_the_campaigns_experiments_have_a_medium_profile():
    assert {"pau-mnist-fmnist", "adact-table1", "davis-mnist-fixed-vs-trainable", "davis-mnist-width",
            "davis-mnist-depth", "abu-table1", "abu-table2", "farhadi-mnist", "farhadi-mr", "farhadi-sim"} <= set(MEDIUM)


@pytest.mark.parametrize("name,profile", [(n, p) for n in ALL for p in ("quick", "full")] + [(n, "medium") for n in MEDIUM])
def test_every_spec_expands_and_validates(name, profile):
    exp = get_experiment(name)
    if exp.unavailable:
        with pytest.raises(ValueError, match="cannot be reproduced"):
            reproduce(name, profile)
        return
    planned, waiting = exp.plan(profile)
    for cell, spec in planned:
        spec.validate()
        assert spec.tags["row"] == cell.row and spec.tags["experiment"] == name
    assert len({spec.key() for _, spec in planned}) == len(planned), "two cells share one spec"
    derived_rows = {r.label for r in exp.rows if r.derive is not None}
    assert {c.row for c in waiting} <= derived_rows


def _tiny(spec: RunSpec, data_dir: Path) -> RunSpec:
    """A few steps on tiny data: the same spec with the sizes cut down."""
    opts = {k: v for k, v in spec.data_options.items() if k not in ("train_subset", "test_subset", "samples")}
    if opts.get("val_size"):
        opts["val_size"] = 8
    if spec.data == "teacher":
        opts["samples"] = 200
    return spec.replace(data_dir=str(data_dir), epochs=None, steps=2, eval_every=1, checkpoint_every=1,
                        batch_size=8, eval_batch_size=64, data_options=opts, device="cpu",
                        model_options={**spec.model_options, **({"width_divisor": 8}
                                                                 if spec.model.startswith(("smcn", "vgg")) else {})})


@pytest.mark.parametrize("name", [n for n in RUNNABLE if get_experiment(n).rows])
def test_one_run_of_each_experiment_executes_on_tiny_data(name, fake_root):
    exp = get_experiment(name)
    planned, _ = exp.plan("quick")
    cell, spec = planned[-1]
    record = run(_tiny(spec, fake_root))
    assert record.status == "ok", record.error
    assert 0 <= record.metrics["test_accuracy"] <= 1


def test_derived_rows_run_after_their_sources(fake_root, tmp_path):
    """AdAct's Optimized net is built from the AdAct run's choices; ABU Table 3 starts from Table 1's final weights."""
    over = {"data_dir": str(fake_root), "device": "cpu", "steps": 2, "epochs": None, "batch_size": 8,
            "data_options": {"train_subset": None, "test_subset": None}}
    exp = get_experiment("adact-table1")  # without FER's own subset: the grid's fields cannot be overridden
    exp = dataclasses.replace(exp, profiles={"quick": dataclasses.replace(exp.profiles["quick"], columns_spec={})})
    summary = reproduce(exp, "quick", out=tmp_path, progress=False, overrides=over)
    assert summary.failed == 0 and not summary.waiting
    runs = {(r.spec["tags"]["row"], r.spec["tags"]["column"]): r for r in load_records(tmp_path)}
    for col in ("FMNIST", "CIFAR10", "FER"):
        adact, optimized = runs[("ConvNet-AdAct", col)], runs[("ConvNet-Optimized", col)]
        assert optimized.spec["act"] == list(adact.hardened.values())
        assert all("effective_weights" not in v for v in optimized.final_activations.values())  # no AdAct left


def test_a_missing_data_set_is_reported_not_failed(fake_root, tmp_path):
    exp = get_experiment("adact-table1")
    quick = dataclasses.replace(exp.profiles["quick"], columns=("SVHN",), rows=("ConvNet-ReLU",))
    exp = dataclasses.replace(exp, profiles={"quick": quick})
    summary = reproduce(exp, "quick", out=tmp_path, progress=False,
                        overrides={"data_dir": str(fake_root), "device": "cpu", "steps": 1})
    assert summary.ran == 0 and summary.failed == 0
    message = summary.unavailable["adact-table1/SVHN"]
    assert "train_32x32.mat" in message and "ufldl.stanford.edu" in message
    assert not list((tmp_path / "records").glob("*.json"))  # nothing recorded: it runs once the data are there


def test_abu_table3_fixed_weights_stay_bit_exact(fake_root, tmp_path):
    over = {"data_dir": str(fake_root), "device": "cpu", "steps": 3, "batch_size": 8, "eval_every": 1,
            "checkpoint_every": 1, "model_options": {"width_divisor": 8},
            "data_options": {"train_subset": None, "test_subset": None, "val_size": 8}}
    summary = reproduce("abu-table3", "quick", out=tmp_path, progress=False, overrides=over)
    assert summary.failed == 0 and not summary.waiting
    recs = {(r.spec["tags"]["row"], r.spec["tags"]["column"]): r for r in load_records(tmp_path)}
    fresh = recs[("ABU", "1/m, trainable")].final_activations
    assert recs[("ABU", "pre-trained, fixed")].final_activations == fresh
    assert recs[("ABU", "pre-trained, trainable")].final_activations != fresh
    normed = recs[("ABU", "pre-trained (norm.), fixed")].final_activations
    for unit, params in normed.items():
        assert math.isclose(sum(params["weight"]), 1.0, abs_tol=1e-6)
    text = write_report(tmp_path)[0].read_text()
    assert "pre-trained, fixed" in text and "80.93" in text  # the paper's number beside ours


def test_ray_engine_runs_a_sweep(tmp_path):
    """A local single-node Ray instance (Ray 2.60 has no `local_mode` any more)."""
    pytest.importorskip("ray")
    exp = get_experiment("digits")
    exp = dataclasses.replace(exp, profiles={"quick": dataclasses.replace(exp.profiles["quick"], rows=("ReLU", "PAU"))})
    options = dict(seeds=1, out=tmp_path, engine="ray", workers=2, progress=False,
                   overrides={"epochs": 1, "device": "cpu"})
    summary = reproduce(exp, "quick", **options)
    assert summary.ran == 2 and summary.failed == 0
    assert {r.spec["tags"]["row"] for r in load_records(tmp_path)} == {"ReLU", "PAU"}
    assert reproduce(exp, "quick", **options).ran == 0


def test_unknown_experiment_lists_what_exists(capsys):
    with pytest.raises(ValueError, match="unknown experiment 'abu-tabel1'.*abu-table1"):
        reproduce("abu-tabel1")
    from adaptact.cli import main

    assert main(["reproduce", "nope", "--quiet"]) == 2
    assert "pau-mnist-fmnist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown run spec field"):
        reproduce("digits", overrides={"epoch": 1})


def test_report_and_figures_for_a_digits_sweep(tmp_path):
    reproduce("digits", "quick", seeds=2, out=tmp_path, progress=False, overrides={"epochs": 2, "device": "cpu"})
    paths = write_report(tmp_path)
    text = paths[0].read_text()
    assert "## digits" in text and "mean rank" in text and "**" in text
    assert "paired t-test" in text
    df = pd.read_csv(tmp_path / "report-digits.csv")
    assert set(df["row"]) >= {"ReLU", "PAU", "ABU"} and (df["n"] == 2).all()
    figures = write_figures(tmp_path)
    names = {p.name for p in figures}
    assert "digits-curves.png" in names and any("activations" in n for n in names)
    assert all(p.stat().st_size > 5_000 for p in figures)


def test_mean_ranks_recompute_the_abu_table():
    """The ABU paper's printed mean ranks follow from its printed means (our rank rule is theirs)."""
    exp = get_experiment("abu-table1")
    rows = [{"row": r, "column": c, "mean": p.value} for (r, c), p in exp.published.items()]
    ranks = mean_ranks(pd.DataFrame(rows)).set_index("row")["mean_rank"]
    printed = {"I": 12.00, "αI": 11.50, "tanh": 12.00, "αtanh": 9.83, "ReLU": 8.17, "αReLU": 7.17, "ELU": 5.83,
               "αELU": 3.50, "SELU": 6.83, "αSELU": 4.33, "Swish": 4.33, "αSwish": 3.17, "ABU": 2.33}
    for row, value in printed.items():
        assert ranks[row] == pytest.approx(value, abs=0.01)


def test_paired_test_matches_scipy():
    from scipy.stats import ttest_rel

    a, b = [91.0, 92.5, 90.0, 93.0], [90.0, 92.0, 90.5, 91.0]
    runs = pd.DataFrame([{"row": r, "column": "c", "seed": s, "status": "ok", "value": v}
                         for r, vals in (("u", a), ("b", b)) for s, v in enumerate(vals)])
    t = paired_tests(runs, [("u", "b")]).iloc[0]
    assert t["n"] == 4 and t["diff"] == pytest.approx(0.75)
    assert t["p_ttest"] == pytest.approx(ttest_rel(a, b).pvalue)


@pytest.mark.parametrize("source, sharing, runs", [("abu-table1", "abu-table2", 3),
                                                    ("farhadi-mr", "farhadi-mr-optimizer", 15)])
def test_medium_profiles_share_the_runs_they_have_in_common(source, sharing, runs):
    """What docs/long-runs.md says --reuse-records saves the campaign: the same cells are the same runs (keys)."""
    def keys(name):
        return {spec.key() for _, spec in get_experiment(name).plan("medium", data_dir="/data")[0]}

    assert len(keys(source) & keys(sharing)) == runs
