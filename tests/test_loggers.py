"""Watching a long run: the CSV and TensorBoard logs of run() and of `adaptact train` hold every evaluation
and the activation parameters; Weights & Biases and MLflow when installed (offline); a resumed run's logs
do not repeat evaluations."""
from __future__ import annotations

import csv
import os

import pytest

import adaptact.train.loop as loop
from adaptact.cli import main
from adaptact.train import RunSpec, run

SPEC = RunSpec(model="mlp", act="pau", data="digits", steps=60, eval_every=20, batch_size=32, device="cpu")


def _csv_rows(folder):
    with open(folder / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_the_csv_log_has_one_line_per_evaluation_equal_to_the_curves(tmp_path):
    record = run(SPEC.replace(loggers=["csv"]), log_dir=tmp_path)
    rows = _csv_rows(tmp_path)
    assert [int(r["step"]) for r in rows] == record.curves["step"] == [20, 40, 60]
    assert [float(r["test_accuracy"]) for r in rows] == record.curves["test_accuracy"]
    assert [r["val_accuracy"] for r in rows] == ["", "", ""]  # digits has no validation split


def test_tensorboard_event_files_hold_the_metrics_and_the_activation_parameters(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    record = run(SPEC.replace(loggers=["tensorboard"]), log_dir=tmp_path)
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    unit = next(iter(record.final_activations))
    for tag in ("metrics/test_accuracy", "metrics/train_loss", "metrics/test_loss", f"act/{unit}/numerator/mean",
                "final/test_accuracy"):
        assert tag in tags["scalars"], (tag, tags["scalars"])
    assert f"act/{unit}/numerator" in tags["histograms"]
    accuracy = events.Scalars("metrics/test_accuracy")
    assert [e.step for e in accuracy] == record.curves["step"]
    assert [e.value for e in accuracy] == pytest.approx(record.curves["test_accuracy"], abs=1e-6)
    last = events.Histograms(f"act/{unit}/numerator")[-1].histogram_value
    assert last.num == len(record.final_activations[unit]["numerator"])


def _interrupted_at_80(spec, tmp_path, monkeypatch) -> None:
    """Run ``spec`` (checkpoints in tmp_path/ckpt, logs in tmp_path/logs) until its evaluation at step 80 fails."""
    evaluation = loop._evaluation

    def failing(model, data, spec, step):
        if step == 80:
            raise KeyboardInterrupt
        return evaluation(model, data, spec, step)

    with monkeypatch.context() as m:
        m.setattr(loop, "_evaluation", failing)
        with pytest.raises(KeyboardInterrupt):
            run(spec, checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs")


def test_a_resumed_run_does_not_repeat_its_logged_evaluations(tmp_path, monkeypatch):
    spec = SPEC.replace(steps=100, checkpoint_steps=30, loggers=["csv"])
    _interrupted_at_80(spec, tmp_path, monkeypatch)
    assert [r["step"] for r in _csv_rows(tmp_path / "logs")] == ["20", "40", "60"]  # 40, 60 logged after the checkpoint at 30
    record = run(spec, checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs")
    assert [int(r["step"]) for r in _csv_rows(tmp_path / "logs")] == record.curves["step"] == [20, 40, 60, 80, 100]


def test_loggers_without_a_folder_and_unknown_loggers_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"loggers \['csv'\] need a folder"):
        run(SPEC.replace(loggers=["csv"]))
    with pytest.raises(ValueError, match="loggers must be a list of"):
        SPEC.replace(loggers=["stdout"]).validate()


def test_a_spec_log_dir_gives_each_run_its_own_folder(tmp_path):
    spec = SPEC.replace(steps=20, loggers=["csv"], log_dir=str(tmp_path))
    run(spec)
    assert (tmp_path / spec.key() / "metrics.csv").exists()


def test_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    spec = SPEC.replace(steps=20, loggers=["wandb"])
    run(spec, log_dir=tmp_path)
    (run_dir,) = (tmp_path / "wandb").glob(f"offline-run-*-{spec.key()}")
    assert list(run_dir.glob("*.wandb"))  # the run's history, ready for `wandb sync`


def test_mlflow_to_a_local_store_holds_every_evaluation(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = SPEC.replace(loggers=["mlflow"])
    record = run(spec, log_dir=tmp_path)
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").resolve().as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name("adaptact").experiment_id])
    assert found.info.status == "FINISHED" and found.data.tags["adaptact_key"] == spec.key()
    history = client.get_metric_history(found.info.run_id, "test_accuracy")
    assert [m.step for m in history] == record.curves["step"]
    assert [m.value for m in history] == pytest.approx(record.curves["test_accuracy"])
    unit = next(iter(record.final_activations))
    assert f"act.{unit}.numerator.mean" in found.data.metrics
    assert found.data.metrics["final.test_accuracy"] == pytest.approx(record.metrics["test_accuracy"])
    assert found.data.params["act"] == "pau"


def test_a_resumed_run_continues_its_mlflow_run(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = SPEC.replace(steps=100, checkpoint_steps=30, loggers=["mlflow"])
    _interrupted_at_80(spec, tmp_path, monkeypatch)
    record = run(spec, checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs")
    client = MlflowClient(tracking_uri=(tmp_path / "logs" / "mlruns").resolve().as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name("adaptact").experiment_id])
    assert found.info.status == "FINISHED"
    steps = sorted({m.step for m in client.get_metric_history(found.info.run_id, "test_accuracy")})
    assert steps == record.curves["step"]


def test_adaptact_train_records_activations_and_logs_by_default(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["train", "--model", "mlp", "--act", "pau", "--data", "digits", "--steps", "220", "--device", "cpu",
                 "--out", str(out), "--quiet"]) == 0
    from adaptact.train import RunRecord

    record = RunRecord.load(out)
    assert record.activations["steps"] == [0, 100, 200, 220]
    assert [int(r["step"]) for r in _csv_rows(tmp_path / "r.logs")] == record.curves["step"]
    assert not (tmp_path / "r.ckpt").exists()


def test_adaptact_train_refuses_an_unknown_logger(tmp_path, capsys):
    status = main(["train", "--model", "mlp", "--data", "digits", "--log", "csv,stdout", "--out", str(tmp_path / "r.json")])
    assert status == 2
    assert "argument --log: unknown logger(s) ['stdout']" in capsys.readouterr().err
