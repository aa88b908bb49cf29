"""adaptact's bookkeeping for any training loop: curves, activation recording, the divergence guard,
the selection policy and the record, plus callbacks (loggers) that see every evaluation.

:func:`adaptact.train.run` trains through a :class:`RunTracker`; a loop of your own uses the same one
and ends with the same :class:`~adaptact.train.RunRecord` (see ``docs/own-loop.md``)::

    tracker = RunTracker(model, RunSpec(model="my-net", act="pau", data="my-data", record_every=100))
    tracker.start()
    for step in range(1, steps + 1):
        loss = criterion(model(xb), yb)
        tracker.guard(loss, step, xb)          # NaN/inf -> NonFiniteLoss naming the step and the unit
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        tracker.update(step, loss.item(), len(xb))
        if step % 100 == 0:
            tracker.evaluation(step, test_accuracy=..., val_accuracy=...)
        tracker.end_step(step)
    record = tracker.finish()                  # metrics chosen by spec.selection

The order of the calls within a step matters only for what a diverged run keeps: an evaluation that
raises :class:`NonFiniteLoss` comes before :meth:`RunTracker.end_step` records that step's parameters.
"""
from __future__ import annotations

import time
from typing import Any, Iterable

import torch
from torch import Tensor, nn

from adaptact.train.guard import NonFiniteLoss, diagnose_nonfinite
from adaptact.train.record import RunRecord, environment
from adaptact.train.recorders import ActivationRecorder, PreactivationRecorder, activation_state
from adaptact.train.selection import selected_metrics
from adaptact.train.spec import RunSpec

__all__ = ["CURVES", "Callback", "NonFiniteLoss", "RunTracker"]

#: the curves every record has, one value per evaluation (``train_accuracy`` too with ``eval_train``)
CURVES = ("step", "epoch", "lr", "train_loss", "val_accuracy", "val_loss", "test_accuracy", "test_loss")


class Callback:
    """Something told about a run as it goes; every hook is optional (the base class does nothing).

    ``on_start`` comes once, after a resume too (``tracker.step`` is then the step resumed from);
    ``on_evaluation`` with each point of the curves (``{"step": ..., "test_accuracy": ..., ...}``);
    ``on_activations`` whenever the units' parameters are recorded (``{unit: {param: values}}``);
    ``on_end`` with the finished record. Callbacks must not touch the model, the optimizer or any
    random generator: the run's numbers must not depend on them.
    """

    def on_start(self, tracker: "RunTracker") -> None:
        pass

    def on_evaluation(self, tracker: "RunTracker", step: int, point: dict[str, Any]) -> None:
        pass

    def on_activations(self, tracker: "RunTracker", step: int, state: dict[str, dict[str, Any]]) -> None:
        pass

    def on_end(self, tracker: "RunTracker", record: RunRecord) -> None:
        pass


class RunTracker:
    """The record of one run of ``model`` as ``spec`` describes it, fed by a training loop.

    Args:
        model: the network being trained (its activation units are found by :mod:`adaptact.params`).
        spec: what the run is; its ``selection`` picks the reported number, ``record_every`` how often
            the units' parameters are recorded (0: only at the start and the end is not recorded),
            ``eval_train`` whether evaluations carry ``train_accuracy``. Its ``key()`` names the record;
            for a model of your own ``spec.model`` is just a label.
        data: the data set's signature (:func:`adaptact.train.data_signature`), stored with the record.
        preact_probe: a fixed input batch: also record pre-activation statistics (``record_preact``).
        callbacks: :class:`Callback` objects (e.g. the loggers of :mod:`adaptact.train.loggers`).
        device: the device recorded in the record's environment (default: where the model's parameters are).
    """

    def __init__(self, model: nn.Module, spec: RunSpec, *, data: dict[str, Any] | None = None,
                 preact_probe: Tensor | None = None, callbacks: Iterable[Callback] = (),
                 device: str | None = None) -> None:
        self.model, self.spec, self.data = model, spec, dict(data or {})
        self.device = device or next((str(p.device) for p in model.parameters()), "cpu")
        self.callbacks = list(callbacks)
        self.activations = ActivationRecorder(model) if spec.record_every else None
        self.preactivations = PreactivationRecorder(model, preact_probe) if preact_probe is not None else None
        self.curves: dict[str, list] = {name: [] for name in CURVES}
        if spec.eval_train:
            self.curves["train_accuracy"] = []
        self.checkpoint_test: dict[int, float] = {}
        self.step, self.seen = 0, 0
        self.window_loss, self.window_n = 0.0, 0
        self.status, self.error = "ok", None
        self._started: float | None = None
        self._elapsed_before = 0.0

    # ------------------------------------------------------------------ the loop's calls

    def start(self) -> None:
        """Begin (or, after :meth:`load_state_dict`, continue) the run: record the units at step 0.

        Refuses a spec whose ``threads`` is not torch's thread count now: numbers depend on it, and the
        record would claim what did not happen."""
        if torch.get_num_threads() != self.spec.threads:
            raise ValueError(f"the spec says threads={self.spec.threads} but torch computes with "
                             f"{torch.get_num_threads()}: torch.set_num_threads({self.spec.threads}) or set the spec's threads")
        self._started = time.perf_counter()
        if self.step == 0:
            self._record_activations(0)
        for callback in self.callbacks:
            callback.on_start(self)

    def guard(self, loss: Tensor, step: int, inputs: Tensor) -> None:
        """Raise :class:`NonFiniteLoss` if ``loss`` is NaN/inf, naming ``step`` and the first unit (or
        module) that is non-finite on ``inputs`` (see :func:`~adaptact.train.guard.diagnose_nonfinite`)."""
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"step {step}: the loss is {loss.item()}; {diagnose_nonfinite(self.model, inputs)}")

    def update(self, step: int, loss: float, batch_size: int) -> None:
        """Update ``step`` is done; its training loss (a float, the batch mean) enters the mean reported at
        the next evaluation."""
        self.step = step
        self.window_loss += loss * batch_size
        self.window_n += batch_size
        self.seen += batch_size

    def evaluation(self, step: int, *, test_accuracy: float, epoch: float | None = None, lr: float | None = None,
                   val_accuracy: float | None = None, val_loss: float | None = None,
                   test_loss: float | None = None, train_accuracy: float | None = None) -> dict[str, Any]:
        """One point of the curves, with the mean training loss since the previous one; returns the point."""
        if isinstance(test_accuracy, bool) or not isinstance(test_accuracy, (int, float)):
            raise ValueError(f"evaluation at step {step}: test_accuracy must be a number, got {test_accuracy!r}")
        for split, acc, loss in (("val", val_accuracy, val_loss), ("test", test_accuracy, test_loss)):
            if acc is not None and loss is None:
                raise ValueError(f"evaluation at step {step}: give {split}_loss with {split}_accuracy (a record has both)")
        point: dict[str, Any] = {"val_accuracy": val_accuracy, "val_loss": val_loss, "test_accuracy": test_accuracy,
                                 "test_loss": test_loss}
        if "train_accuracy" in self.curves:
            point["train_accuracy"] = train_accuracy
        point.update(step=step, epoch=epoch, lr=lr, train_loss=self.window_loss / max(self.window_n, 1))
        self.window_loss, self.window_n = 0.0, 0
        for name, value in point.items():
            self.curves[name].append(value)
        for callback in self.callbacks:
            callback.on_evaluation(self, step, point)
        return point

    def selection_checkpoint(self, step: int, test_accuracy: float) -> None:
        """A checkpoint of post-hoc selection (``selection='posthoc'``): its test accuracy at ``step``."""
        self.checkpoint_test[step] = test_accuracy

    def end_step(self, step: int) -> None:
        """Step ``step`` is over: record the units' parameters when ``record_every`` divides it."""
        if self.spec.record_every and step % self.spec.record_every == 0:
            self._record_activations(step)

    def diverged(self, error: NonFiniteLoss | str) -> None:
        """The run stopped on a non-finite loss: its record says ``diverged`` and carries no metrics."""
        self.status, self.error = "diverged", str(error)

    def finish(self, total_steps: int | None = None, *, throughput: float | None = None,
               wall_time: float | None = None) -> RunRecord:
        """The record: curves, activation history (with the last step recorded), final unit parameters,
        AdAct choices, metrics by ``spec.selection`` (unless diverged). ``total_steps`` defaults to the
        last step; ``throughput`` (examples per second) and ``wall_time`` to what the tracker measured."""
        from adaptact.surgery import hardened_choices

        if self.activations is not None and self.activations.steps[-1] != self.step:
            self._record_activations(self.step)
        elapsed = self.elapsed()
        record = RunRecord(key=self.spec.key(), spec=self.spec.to_dict(), status=self.status, error=self.error,
                           environment=environment(self.device), data=self.data)
        if self.activations is not None:
            record.activations = self.activations.history()
        if self.preactivations is not None:
            record.preactivations = self.preactivations.history()
        record.final_activations = activation_state(self.model)
        choices = hardened_choices(self.model) if any(hasattr(m, "hardened") for m in self.model.modules()) else {}
        record.hardened = choices or None
        record.curves = self.curves
        if record.status == "ok":
            if not self.curves["test_accuracy"]:
                raise ValueError("the run finished without an evaluation: call tracker.evaluation(...) at least once")
            record.metrics = selected_metrics(self.spec.selection, self.curves, self.checkpoint_test,
                                              self.step if total_steps is None else total_steps)
        record.throughput = throughput if throughput is not None else (self.seen / elapsed if elapsed else None)
        record.wall_time = wall_time if wall_time is not None else elapsed
        for callback in self.callbacks:
            callback.on_end(self, record)
        return record

    # ------------------------------------------------------------------ resuming

    def elapsed(self) -> float:
        """Seconds the run has taken so far, over all its resumptions."""
        now = time.perf_counter() - self._started if self._started is not None else 0.0
        return self._elapsed_before + now

    def state_dict(self) -> dict[str, Any]:
        """Everything the tracker holds, as plain values (for a checkpoint)."""
        return {"curves": {k: list(v) for k, v in self.curves.items()}, "checkpoint_test": dict(self.checkpoint_test),
                "step": self.step, "seen": self.seen, "window_loss": self.window_loss, "window_n": self.window_n,
                "elapsed": self.elapsed(),
                "activations": self.activations.history() if self.activations is not None else None,
                "preactivations": self.preactivations.history() if self.preactivations is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (call before :meth:`start`)."""
        self.curves = {k: list(v) for k, v in state["curves"].items()}
        self.checkpoint_test = dict(state["checkpoint_test"])
        self.step, self.seen = state["step"], state["seen"]
        self.window_loss, self.window_n = state["window_loss"], state["window_n"]
        self._elapsed_before = state["elapsed"]
        if self.activations is not None:
            self.activations.load_history(state["activations"])
        if self.preactivations is not None:
            self.preactivations.load_history(state["preactivations"])

    # ------------------------------------------------------------------ inside

    def _record_activations(self, step: int) -> None:
        if self.activations is not None:
            self.activations.record(step)
            if self.callbacks:
                state = activation_state(self.model)
                for callback in self.callbacks:
                    callback.on_activations(self, step, state)
        if self.preactivations is not None:
            self.preactivations.record(step)
