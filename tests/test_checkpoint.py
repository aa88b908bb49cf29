"""Checkpoints and resume mid-run: a run interrupted (in-process, or by SIGKILL) and started again ends with
the record of an uninterrupted run, bit for bit but wall time and throughput; trained weights load back."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import adaptact.train.loop as loop
from adaptact.train import RunSpec, load_trained, run, save_trained
from adaptact.train.checkpoint import CHECKPOINT_FILE, capture_rng, load_checkpoint, restore_rng, save_checkpoint

SPEC = RunSpec(model="mlp", act="pau", data="digits", steps=130, eval_every=20, record_every=30, batch_size=32,
               device="cpu", checkpoint_steps=25, augment={"crop_padding": 1, "flip": True}, record_preact=True)


def _comparable(record) -> dict:
    d = record if isinstance(record, dict) else record.to_dict()
    return {k: v for k, v in d.items() if k not in ("wall_time", "throughput")}


class Interrupted(Exception):
    pass


def _interrupt_at(monkeypatch, at_step: int) -> None:
    evaluation = loop._evaluation

    def failing(model, data, spec, step):
        if step == at_step:
            raise Interrupted
        return evaluation(model, data, spec, step)

    monkeypatch.setattr(loop, "_evaluation", failing)


@pytest.mark.parametrize("selection", ["final", "posthoc"])
def test_a_run_interrupted_mid_epoch_resumes_to_the_uninterrupted_record(tmp_path, monkeypatch, selection):
    extra = {"selection": selection}
    if selection == "posthoc":
        extra.update(data_options={"val_size": 200}, checkpoint_every=40)
    spec = SPEC.replace(**extra)
    clean = run(spec)
    folder = tmp_path / "ckpt"
    _interrupt_at(monkeypatch, 60)  # after the checkpoint of step 50, in the middle of the second epoch
    with pytest.raises(Interrupted):
        run(spec, checkpoint_dir=folder)
    assert (folder / CHECKPOINT_FILE).exists()
    assert load_checkpoint(folder, spec.key())["tracker"]["step"] == 50
    monkeypatch.undo()
    resumed = run(spec, checkpoint_dir=folder)
    assert _comparable(resumed) == _comparable(clean)
    assert not folder.exists(), "a finished run leaves its checkpoint behind"


def test_checkpoint_steps_are_not_part_of_the_identity():
    assert SPEC.key() == SPEC.replace(checkpoint_steps=None, loggers=["csv"], log_dir="x").key()


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    save_checkpoint(tmp_path, "0123456789abcdef", {})
    with pytest.raises(ValueError, match="a checkpoint of run 0123456789abcdef, not of this run"):
        run(SPEC, checkpoint_dir=tmp_path)


def test_a_damaged_checkpoint_is_refused(tmp_path):
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable adaptact checkpoint"):
        load_checkpoint(tmp_path, SPEC.key())


def test_every_random_generator_is_restored():
    generator = torch.Generator().manual_seed(3)
    state = capture_rng(generator)
    first = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    restore_rng(state, generator)
    again = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert first[2] == again[2] and torch.equal(first[3], again[3])


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_saved_model_loads_back_with_its_units_and_weights(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    spec = SPEC.replace(steps=20, checkpoint_steps=None, augment={}, record_preact=False)
    path = tmp_path / f"model{suffix}"
    captured = {}

    class Keep(loop.Callback):
        def on_end(self, tracker, record):
            captured["model"] = tracker.model
            save_trained(path, tracker.model, tracker.spec, tracker.data)

    record = run(spec, callbacks=[Keep()])
    model = load_trained(path)
    trained = captured["model"].eval()
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(model(x), trained(x))
    assert model.adaptact_spec.key() == record.key
    from adaptact.params import activation_units

    assert [n for n, _ in activation_units(model)] == list(record.final_activations)


def test_a_file_that_is_no_saved_model_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(1)}, path)
    with pytest.raises(ValueError, match="not a trained model saved by adaptact"):
        load_trained(path)
    with pytest.raises(ValueError, match="no such file"):
        load_trained(tmp_path / "missing.pt")


def _train_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "adaptact.cli", "train", "--model", "mlp", "--act", "pau", "--data", "digits",
            "--steps", "600", "--batch-size", "32", "--device", "cpu", "--threads", "1", "--checkpoint-steps", "40",
            "--set", "eval_every=50", "--set", 'augment={"flip": true}', "--log", "csv", "--out", str(out),
            "--quiet"]


@pytest.mark.slow
def test_adaptact_train_killed_by_sigkill_resumes_to_the_uninterrupted_record(tmp_path):
    out = tmp_path / "run.json"
    checkpoint = out.with_suffix(".ckpt") / CHECKPOINT_FILE
    proc = subprocess.Popen(_train_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists() and not out.exists(), "the run ended before it could be killed after a checkpoint"
    done = subprocess.run(_train_command(out), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resuming from the checkpoint" in done.stdout
    killed = json.loads(out.read_text())
    assert not checkpoint.parent.exists()
    steps = [int(line.split(",")[0]) for line in out.with_suffix(".logs").joinpath("metrics.csv").read_text().split()[1:]]
    assert steps == killed["curves"]["step"], "the CSV log repeats or misses evaluations after the resume"
    clean = run(RunSpec.from_dict(killed["spec"]), log_dir=tmp_path / "logs")  # uninterrupted, in this process
    assert _comparable(json.loads(json.dumps(clean.to_dict()))) == _comparable(killed)


# ----------------------------------------------------------------------------- sweeps


def test_a_spec_checkpoint_dir_gives_each_run_its_own_folder_and_resumes_from_it(tmp_path, monkeypatch):
    spec = SPEC.replace(checkpoint_dir=str(tmp_path))
    assert spec.key() == SPEC.key()  # a folder is not part of the identity
    clean = run(SPEC)
    _interrupt_at(monkeypatch, 60)
    with pytest.raises(Interrupted):
        run(spec)
    assert (tmp_path / spec.key() / CHECKPOINT_FILE).exists()
    monkeypatch.undo()
    resumed = _comparable(run(spec))
    assert resumed.pop("spec") == {**clean.spec, "checkpoint_dir": str(tmp_path)}
    assert resumed == {k: v for k, v in _comparable(clean).items() if k != "spec"}
    assert not (tmp_path / spec.key()).exists()  # removed when the run ends


def _sweep_experiment():
    from adaptact.experiments import Column, Experiment, Profile, Row

    spec = {k: v for k, v in SPEC.to_dict().items() if k in ("steps", "eval_every", "record_every", "batch_size",
                                                              "augment", "record_preact")}
    return Experiment("checkpointed-sweep", "t", "p", "s", [Row("PAU", {"act": "pau"})],
                      [Column("digits", {"data": "digits"})], {"quick": Profile("quick", spec, seeds=1)},
                      base={"model": "mlp", "device": "cpu"})


@pytest.mark.slow
def test_a_sweep_with_checkpoint_steps_resumes_its_unfinished_run_from_the_checkpoint(tmp_path, monkeypatch):
    """`reproduce --checkpoint-steps`: each run checkpoints under <out>/checkpoints/<key>/, and a sweep started
    again continues an unfinished run from there (shown by a checkpoint whose weights were halved: the curve
    equals the clean run's up to the checkpoint and departs from it after)."""
    from adaptact.experiments import reproduce

    exp = _sweep_experiment()
    (_, spec), = exp.plan("quick")[0]
    clean = run(spec)
    out = tmp_path / "out"
    folder = out / "checkpoints" / spec.key()
    _interrupt_at(monkeypatch, 60)
    with pytest.raises(Interrupted):
        run(spec.replace(checkpoint_steps=25), checkpoint_dir=folder)
    monkeypatch.undo()
    state = load_checkpoint(folder, spec.key())
    state["model"] = {k: v * 0.5 if v.is_floating_point() else v for k, v in state["model"].items()}
    save_checkpoint(folder, spec.key(), state)

    summary = reproduce(exp, "quick", out=out, workers=1, progress=False, overrides={"checkpoint_steps": 25})
    assert summary.ran == 1 and summary.failed == 0
    record = json.loads((out / "records" / f"{spec.key()}.json").read_text())
    assert record["key"] == spec.key() and record["spec"]["checkpoint_dir"] == str((out / "checkpoints").resolve())
    steps, resumed, fresh = record["curves"]["step"], record["curves"]["test_loss"], clean.curves["test_loss"]
    before = [i for i, s in enumerate(steps) if s <= 50]
    assert [resumed[i] for i in before] == [fresh[i] for i in before]
    assert resumed[len(before):] != fresh[len(before):]
    assert not folder.exists()


@pytest.mark.slow
def test_reproduce_cli_checkpoints_and_logs_every_run_of_the_sweep(tmp_path):
    import adaptact.experiments as experiments
    from adaptact.cli import main

    exp = _sweep_experiment()
    experiments.register_experiment(exp)
    try:
        out = tmp_path / "out"
        assert main(["reproduce", exp.name, "--out", str(out), "--workers", "1", "--quiet", "--no-figures",
                     "--checkpoint-steps", "40", "--log", "csv", "--set", "steps=60"]) == 0
    finally:
        experiments._USER.pop(exp.name, None)
    (record_file,) = (out / "records").glob("*.json")
    record = json.loads(record_file.read_text())
    assert record["spec"]["checkpoint_steps"] == 40
    rows = (out / "logs" / record["key"] / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in rows[1:]] == [str(s) for s in record["curves"]["step"]]
    assert not (out / "checkpoints" / record["key"]).exists()  # finished: its checkpoint is gone
