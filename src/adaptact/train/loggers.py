"""Watching a long run: every evaluation's metrics and the activation parameters, streamed as the run goes.

Each logger is a :class:`~adaptact.train.callbacks.Callback`. What they write:

* ``csv``: ``metrics.csv``, one line per evaluation (the columns of the record's curves).
* ``tensorboard``: event files (``torch.utils.tensorboard``) with scalars ``metrics/<curve>`` per
  evaluation and, per activation unit parameter, ``act/<unit>/<param>`` (a scalar for a one-number
  parameter, else a histogram and a scalar ``act/<unit>/<param>/mean``) at every evaluation.
* ``wandb``, ``mlflow``: the same scalars to Weights & Biases or MLflow when installed (their usual
  settings apply: ``WANDB_MODE=offline``, ``MLFLOW_TRACKING_URI``; by default both write under the
  run's log folder).

A resumed run (see :mod:`adaptact.train.checkpoint`) continues its logs: the CSV drops the lines
after the step resumed from, TensorBoard purges the events after it.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import os
import time
from pathlib import Path
from typing import Any, Sequence

from adaptact.train.callbacks import Callback, RunTracker
from adaptact.train.record import write_text_atomic
from adaptact.train.recorders import activation_state

__all__ = ["CSVLogger", "MLflowLogger", "TensorBoardLogger", "WandbLogger", "make_loggers"]

_PACKAGES = {"tensorboard": ("tensorboard", "log"), "wandb": ("wandb", None), "mlflow": ("mlflow", None)}


def _need(name: str) -> None:
    package, extra = _PACKAGES[name]
    if importlib.util.find_spec(package) is None:
        how = f"pip install 'adaptact[{extra}]'" if extra else f"pip install {package}"
        raise ValueError(f"logger {name!r} needs the package {package!r}: {how}")


def _scalars(point: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in point.items() if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _unit_scalars(state: dict[str, dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """Activation parameters as scalars (one-number parameters, means of the others) and arrays (histograms)."""
    import numpy as np

    scalars, arrays = {}, {}
    for unit, params in state.items():
        for param, values in params.items():
            a = np.asarray(values, dtype=np.float64).ravel()
            tag = f"act/{unit}/{param}"
            if a.size == 1:
                scalars[tag] = float(a[0])
            elif a.size:
                arrays[tag] = a
                scalars[f"{tag}/mean"] = float(a.mean())
    return scalars, arrays


class CSVLogger(Callback):
    """``<folder>/metrics.csv``: a header, then one line per evaluation, flushed at once (``tail -f`` it)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / "metrics.csv"
        self.columns: list[str] | None = None

    def on_start(self, tracker: RunTracker) -> None:
        self.columns = list(tracker.curves)
        kept = []
        if tracker.step and self.path.exists():  # a resumed run: keep the lines up to the step resumed from
            with open(self.path, newline="") as f:
                kept = [row for row in csv.DictReader(f) if row.get("step", "").isdigit()
                        and int(row["step"]) <= tracker.step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        write_text_atomic(self.path, buffer.getvalue())

    def on_evaluation(self, tracker: RunTracker, step: int, point: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(
                {k: "" if point.get(k) is None else point.get(k) for k in self.columns})


class TensorBoardLogger(Callback):
    """TensorBoard event files in ``folder``: ``metrics/*`` per evaluation, ``act/*`` scalars and histograms."""

    def __init__(self, folder: str | os.PathLike) -> None:
        _need("tensorboard")
        self.folder, self.writer = Path(folder), None

    def on_start(self, tracker: RunTracker) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.folder), purge_step=tracker.step + 1 if tracker.step else None)

    def on_evaluation(self, tracker: RunTracker, step: int, point: dict[str, Any]) -> None:
        for name, value in _scalars(point).items():
            self.writer.add_scalar(f"metrics/{name}", value, step)
        scalars, arrays = _unit_scalars(activation_state(tracker.model))
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)
        for tag, values in arrays.items():
            self.writer.add_histogram(tag, values, step)
        self.writer.flush()

    def on_end(self, tracker: RunTracker, record) -> None:
        for name, value in _scalars(record.metrics).items():
            self.writer.add_scalar(f"final/{name}", value, tracker.step)
        self.writer.close()


class WandbLogger(Callback):
    """The evaluation scalars and activation parameters to Weights & Biases (``wandb.init(dir=folder)``)."""

    def __init__(self, folder: str | os.PathLike, project: str = "adaptact") -> None:
        _need("wandb")
        self.folder, self.project, self.run = Path(folder), project, None

    def on_start(self, tracker: RunTracker) -> None:
        import wandb

        self.folder.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=self.project, dir=str(self.folder), name=tracker.spec.key(), id=tracker.spec.key(),
                              resume="allow", config=tracker.spec.to_dict(), reinit=True)

    def on_evaluation(self, tracker: RunTracker, step: int, point: dict[str, Any]) -> None:
        scalars, _ = _unit_scalars(activation_state(tracker.model))
        self.run.log({**{f"metrics/{k}": v for k, v in _scalars(point).items()}, **scalars}, step=step)

    def on_end(self, tracker: RunTracker, record) -> None:
        self.run.summary.update({f"final/{k}": v for k, v in _scalars(record.metrics).items()})
        self.run.finish()


class MLflowLogger(Callback):
    """The evaluation scalars and activation parameters to MLflow, through an ``MlflowClient`` of its own
    (the process's fluent MLflow state, its active run and tracking URI, is left alone).

    The store is ``$MLFLOW_TRACKING_URI``, else a file store ``<folder>/mlruns`` (which MLflow 3 opens
    only with ``MLFLOW_ALLOW_FILE_STORE=true``; this logger sets it for that default). Metric names
    use ``.`` for ``/``. A resumed run continues the MLflow run of its key that did not finish (the
    evaluations between its last checkpoint and the interruption then appear twice in its history)."""

    def __init__(self, folder: str | os.PathLike, experiment: str = "adaptact") -> None:
        _need("mlflow")
        self.folder, self.experiment = Path(folder), experiment

    def tracking_uri(self) -> str:
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return (self.folder / "mlruns").resolve().as_uri()

    def on_start(self, tracker: RunTracker) -> None:
        from mlflow.tracking import MlflowClient

        self.folder.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=self.tracking_uri())
        found = self.client.get_experiment_by_name(self.experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment)
        key = tracker.spec.key()
        unfinished = self.client.search_runs([experiment_id], f"tags.adaptact_key = '{key}' and "
                                             "attributes.status = 'RUNNING'", max_results=1)
        if unfinished:
            self.run_id = unfinished[0].info.run_id
            return
        self.run_id = self.client.create_run(experiment_id, run_name=key, tags={"adaptact_key": key}).info.run_id
        for name, value in tracker.spec.to_dict().items():
            self.client.log_param(self.run_id, name, str(value)[:250])

    def _log(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k.replace("/", ".").replace(":", "."), v, now, step) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_evaluation(self, tracker: RunTracker, step: int, point: dict[str, Any]) -> None:
        scalars, _ = _unit_scalars(activation_state(tracker.model))
        self._log({**_scalars(point), **scalars}, step)

    def on_end(self, tracker: RunTracker, record) -> None:
        self._log({f"final/{k}": v for k, v in _scalars(record.metrics).items()}, tracker.step)
        self.client.set_terminated(self.run_id)


_LOGGERS = {"csv": CSVLogger, "tensorboard": TensorBoardLogger, "wandb": WandbLogger, "mlflow": MLflowLogger}


def make_loggers(names: Sequence[str], folder: str | os.PathLike) -> list[Callback]:
    """The loggers named (``csv``, ``tensorboard``, ``wandb``, ``mlflow``), each writing under ``folder``.

    An unknown name, or one whose package is not installed, is refused with a one-line ``ValueError``."""
    unknown = sorted(set(names) - set(_LOGGERS))
    if unknown:
        raise ValueError(f"unknown logger(s) {unknown}; loggers are {sorted(_LOGGERS)}")
    return [_LOGGERS[name](folder) for name in dict.fromkeys(names)]
