"""Exact repeatability means the same key, same numbers: what changes a run's numbers (threads, device, dtype) is
fixed by its spec or part of its identity, never chosen behind the user's back; the grid's own fields cannot be
overridden (cells never collapse); one bad number is refused instead of exhausting the machine."""
from __future__ import annotations

import dataclasses
import json
import math
import tracemalloc

import pytest
import torch

from adaptact.experiments import get_experiment, list_experiments, reproduce, run_specs
from adaptact.experiments.runner import load_records
from adaptact.train import RunSpec, run


def digits_spec(**changes) -> RunSpec:
    base = dict(model="mlp", data="digits", act="pau", model_options={"hidden": [16]}, epochs=1, batch_size=64,
                lr=3e-3, device="cpu")
    return RunSpec(**{**base, **changes})


def _numbers(record) -> dict:
    """Everything of a record but its timing (wall time, throughput)."""
    d = record.to_dict() if hasattr(record, "to_dict") else dict(record)
    return {k: v for k, v in d.items() if k not in ("wall_time", "throughput")}


# ----------------------------------------------------------------------------- threads, dtype, device


def test_a_run_computes_with_its_specs_threads_whatever_the_caller_set():
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        reference = run(digits_spec())
        torch.set_num_threads(2)
        again = run(digits_spec())
        assert torch.get_num_threads() == 2, "the caller's setting is restored"
        torch.set_num_threads(1)
        two = run(digits_spec(threads=2))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(saved)
    assert reference.environment["threads"] == again.environment["threads"] == 1
    assert _numbers(again) == _numbers(reference)
    assert two.environment["threads"] == 2 and two.key != reference.key


def test_a_run_computes_in_float32_whatever_the_callers_default_dtype():
    reference = run(digits_spec(steps=3))
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        again = run(digits_spec(steps=3))
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(saved)
    assert _numbers(again) == _numbers(reference) and again.environment["default_dtype"] == "float32"


def test_threads_and_device_kind_are_part_of_the_identity_and_old_keys_stay_valid(monkeypatch):
    # keys of records made before threads and device counted (computed with the code of ac17360)
    assert RunSpec(device="cpu").key() == "5f0d461e2be97373"
    assert RunSpec(model="mlp", data="digits", act="pau", epochs=1, device="cpu").key() == "b1eb662d58a124c0"
    cpu = RunSpec(device="cpu")
    assert RunSpec(device="cpu", threads=1).key() == cpu.key() != RunSpec(device="cpu", threads=2).key()
    assert RunSpec(device="cuda").key() == RunSpec(device="cuda:1").key() != cpu.key()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert RunSpec(device="auto").key() == cpu.key()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert RunSpec(device="auto").key() == RunSpec(device="cuda").key()


def test_auto_is_recorded_as_the_device_the_run_used():
    record = run(digits_spec(device="auto", steps=1))
    assert record.spec["device"] == record.environment["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert record.key == RunSpec.from_dict(record.spec).key()


@pytest.mark.slow
def test_the_same_sweep_gives_the_same_records_with_any_number_of_workers(tmp_path):
    exp = get_experiment("digits")
    exp = dataclasses.replace(exp, profiles={"quick": dataclasses.replace(exp.profiles["quick"], rows=("ReLU", "PAU"))})
    results = {}
    for workers in (1, 2):
        reproduce(exp, "quick", seeds=2, out=tmp_path / str(workers), workers=workers, progress=False,
                  overrides={"epochs": 1})
        results[workers] = {r.key: _numbers(r) for r in load_records(tmp_path / str(workers))}
    assert len(results[1]) == 4
    assert results[1] == results[2]
    assert all(r["environment"]["threads"] == 1 for r in results[1].values())


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2"])
def test_workers_must_be_a_positive_integer(tmp_path, workers):
    with pytest.raises(ValueError, match=r"workers must be a positive integer \(parallel runs\), got"):
        reproduce("digits", seeds=1, out=tmp_path / "x", workers=workers, progress=False)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        run_specs([digits_spec()], tmp_path / "y", workers=workers, progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused_before_the_sweep(tmp_path):
    with pytest.raises(ValueError, match="device 'cuda' asked for, but CUDA is not available"):
        reproduce("digits", seeds=1, out=tmp_path / "x", progress=False, overrides={"device": "cuda"})
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("seeds", [0, -3, True, 2.0, 10**7])
def test_seeds_must_be_a_sane_positive_integer(tmp_path, seeds):
    with pytest.raises(ValueError, match=r"seeds must be an integer in \[1, 1000000\]"):
        reproduce("digits", seeds=seeds, out=tmp_path / "x", progress=False)


# ----------------------------------------------------------------------------- the grid is not overridable


@pytest.mark.parametrize("name,overrides,field", [
    ("digits", {"seed": 7}, "seed"),
    ("digits", {"act": "relu"}, "act"),
    ("digits", {"data": "mnist"}, "data"),
    ("digits", {"tags": {"row": "x"}}, "tags.row"),
    ("farhadi-mr", {"data_options": {"fold": 1}}, "data_options.fold"),
    ("farhadi-mnist", {"act": "relu"}, "act.act_conv"),
    ("farhadi-mnist", {"act": {"act_fc": "relu"}}, "act.act_fc"),
    ("adact-table1", {"data_options": {"train_subset": 500}}, "data_options.train_subset"),
    ("davis-mnist-width", {"act_options": {"width": 3}}, "act_options.width"),
])
def test_an_override_of_what_the_grid_sets_per_cell_is_refused(tmp_path, name, overrides, field):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"{name}: cannot override '{field}': the grid sets it per cell"):
        reproduce(name, "quick", out=out, progress=False, overrides={"device": "cpu", **overrides})
    assert not out.exists(), "refused before anything was written"
    with pytest.raises(ValueError, match=rf"cannot override '{field}'"):
        get_experiment(name).plan("quick", None, **overrides)


def test_dict_overrides_merge_into_each_cell_instead_of_replacing_it():
    planned, _ = get_experiment("adact-table1").plan("quick", 1, data_options={"test_subset": 500}, epochs=1)
    options = {cell.column: spec.data_options for cell, spec in planned}
    assert options["FER"] == {"normalization": "minus-one-one", "split": "train-80-20", "train_subset": 8000,
                              "test_subset": 500}
    assert options["FMNIST"]["train_subset"] == 10_000 and options["FMNIST"]["test_subset"] == 500


@pytest.mark.parametrize("name", [n for n in list_experiments() if not get_experiment(n).unavailable])
def test_allowed_overrides_never_collapse_cells(name):
    exp = get_experiment(name)
    overrides = {"data_dir": "/elsewhere", "threads": 2}
    if ("epochs",) not in exp.grid_fields("quick"):  # pau-cifar10 sets epochs per column: refused there
        overrides["epochs"] = 1
    planned, _ = exp.plan("quick", 2, **overrides)
    assert len({spec.key() for _, spec in planned}) == len(planned)
    assert all(spec.threads == 2 and spec.epochs == overrides.get("epochs", spec.epochs) for _, spec in planned)


# ----------------------------------------------------------------------------- bounds instead of exhaustion


@pytest.mark.parametrize("field,value,match", [
    ("threads", 0, r"threads must be in \[1, 1024\], got 0"),
    ("threads", -1, r"threads must be in \[1, 1024\]"),
    ("threads", 1.5, r"threads must be an integer in \[1, 1024\], got 1.5"),
    ("threads", True, "threads must be an integer"),
    ("threads", 5000, r"threads must be in \[1, 1024\]"),
    ("seed", -1, r"seed must be in \[0, 9223372036854775807\], got -1"),
    ("seed", 2**63, r"seed must be in \[0, 9223372036854775807\]"),
    ("seed", 2**70, "seed must be in"),
    ("seed", 1.5, "seed must be an integer"),
    ("seed", "7", "seed must be an integer"),
    ("seed", True, "seed must be an integer"),
    ("epochs", math.inf, "epochs must be a finite number, got inf"),
    ("epochs", math.nan, "epochs must be a finite number, got nan"),
    ("epochs", 1e12, r"epochs must be in \(0, 1e\+06\], got 1e\+12"),
    ("epochs", 0, r"epochs must be in \(0, 1e\+06\], got 0"),
    ("epochs", -2, "epochs must be in"),
    ("epochs", "3", "epochs must be a finite number"),
    ("epochs", True, "epochs must be a finite number"),
    ("steps", 0, r"steps must be in \[1, 1000000000\], got 0"),
    ("steps", 2**70, r"steps must be in \[1, 1000000000\]"),
    ("steps", 2.5, "steps must be an integer"),
    ("batch_size", 0, "batch_size must be in"),
    ("batch_size", 1.5, "batch_size must be an integer"),
    ("eval_every", 0, "eval_every must be in"),
    ("checkpoint_every", -5, "checkpoint_every must be in"),
    ("record_every", -1, "record_every must be in"),
    ("lr", math.nan, "lr must be a finite number"),
    ("lr", math.inf, "lr must be a finite number"),
    ("lr", 0.0, r"lr must be in \(0, inf\]"),
    ("device", 3, "device must be a string"),
    ("momentum", -0.1, r"momentum must be in \[0, inf\], got -0.1"),
    ("weight_decay", math.nan, "weight_decay must be a finite number"),
    ("grad_clip", 0.0, r"grad_clip must be in \(0, inf\]"),
    ("max_norm", math.inf, "max_norm must be a finite number"),
])
def test_absurd_numbers_are_refused_naming_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        digits_spec(**{field: value}).validate()


def test_too_many_updates_are_refused_before_training():
    with pytest.raises(ValueError, match=r"epochs=1e\+06 of \d+ examples in batches of 1 is 1.\d+e\+09 updates, "
                                         r"more than the limit of 1e\+09"):
        run(digits_spec(epochs=1e6, batch_size=1))


def test_a_long_run_does_not_build_a_set_of_its_checkpoint_steps():
    """--epochs 1e12 used to build every checkpoint step up front; a run that stops at step 1 now costs nothing."""
    source = run(digits_spec(steps=1))
    bad = json.loads(json.dumps(source.final_activations))
    bad["net.2"]["denominator"][0] = float("nan")
    tracemalloc.start()
    try:
        record = run(digits_spec(steps=10**7, checkpoint_every=1, act_init={"record": bad}))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert record.status == "diverged" and record.error.startswith("step 1:")
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MiB for a run that stopped at step 1"


# ----------------------------------------------------------------------------- the guard checks evaluations too


def test_an_update_that_breaks_the_network_at_the_last_step_is_a_divergence():
    """The training loss of step 1 is finite (it is computed before the update); the evaluation after it is not."""
    record = run(digits_spec(act="relu", steps=1, optimizer="sgd", lr=1e20, momentum=0.0))
    assert record.status == "diverged"
    assert record.error.startswith("step 1: the test loss is nan after this update")
    assert record.metrics == {} and record.curves["test_loss"] == [] and record.curves["step"] == []


def test_a_broken_validation_split_is_caught_first_and_named():
    record = run(digits_spec(act="relu", steps=2, eval_every=1, optimizer="sgd", lr=1e20, momentum=0.0,
                             data_options={"val_size": 100}))
    assert record.status == "diverged" and "the validation loss is nan" in record.error
    assert record.metrics == {}
