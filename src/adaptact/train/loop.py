"""One training run: a :class:`RunSpec` in, a :class:`RunRecord` out.

Reads top to bottom: resolve the device, load the data (tensors on the device, cached
per process), build the model with its units, the optimizer and schedule, train with
on-device shuffling and augmentation, evaluate every ``eval_every`` steps, record
activation parameters, select the reported number by the spec's policy.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from adaptact.models import create_model, model_info
from adaptact.params import activation_parameters, activation_units
from adaptact.train.callbacks import Callback, RunTracker
from adaptact.train.checkpoint import capture_rng, load_checkpoint, remove_checkpoint, restore_rng, save_checkpoint
from adaptact.train.evaluate import evaluate, loss_and_correct, top_k_accuracy
from adaptact.train.guard import NonFiniteLoss, diagnose_nonfinite
from adaptact.train.memory_format import apply_memory_format
from adaptact.train.optim import apply_max_norm, build_optimizer, build_schedule, penalty, steps_for
from adaptact.train.pruning import apply_pruning, pruning_summary
from adaptact.train.record import RunRecord
from adaptact.train.recorders import input_ranges
from adaptact.train.spec import MAX_STEPS, RunSpec

__all__ = ["build_model_for", "data_signature", "load_data_for", "model_from_record", "resolve_device", "run"]

TRAIN_ACCURACY_SAMPLE = 10_000


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU; asking for CUDA without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available on this machine")
    return torch.device(device)


@functools.lru_cache(maxsize=4)
def _cached_load(name: str, data_dir: str | None, options_json: str, device: str):
    from adaptact.data import load

    return load(name, data_dir, device=device, **json.loads(options_json))


def load_data_for(spec: RunSpec, device: torch.device):
    """The spec's data set as tensors on ``device`` (cached per process); images resized to what the model needs."""
    options = dict(spec.data_options)
    required = model_info(spec.model).required_size
    if required is not None and "resize" not in options:
        options["resize"] = required
    return _cached_load(spec.data, spec.data_dir, json.dumps(options, sort_keys=True), str(device))


def _check_compatible(spec: RunSpec, data) -> None:
    info = model_info(spec.model)
    x = data.x_train
    if info.input_kind == "tokens" and x.is_floating_point():
        raise ValueError(f"model {spec.model!r} reads token ids, but {spec.data!r} holds real-valued inputs")
    if info.input_kind == "image" and (x.dim() != 4 or not x.is_floating_point()):
        raise ValueError(f"model {spec.model!r} needs images (N, C, H, W); {spec.data!r} gives {tuple(x.shape)}")
    if spec.loss == "bce" and data.num_classes != 2:
        raise ValueError(f"loss='bce' needs a binary data set; {spec.data!r} has {data.num_classes} classes")


def data_signature(data) -> dict[str, Any]:
    """What a model needs to know of a data set: input shape (without N), classes, vocabulary size; and what a
    report needs: the split sizes and the test split's class counts (chance level, fold correction)."""
    return {"input_shape": list(data.x_train.shape[1:]), "num_classes": data.num_classes,
            "vocab_size": data.meta.get("vocab_size"), "sizes": data.meta.get("sizes"),
            "test_class_counts": (data.meta.get("class_counts") or {}).get("test")}


def build_model_for(spec: RunSpec, signature: dict[str, Any], data=None) -> nn.Module:
    """The spec's architecture sized for a data set (its :func:`data_signature`), with its activation units.

    ``data`` (the loaded data set) passes its pre-trained word vectors, if it has them, to the model."""
    info = model_info(spec.model)
    shape = signature["input_shape"]
    kwargs: dict[str, Any] = dict(spec.model_options)
    kwargs.update(spec.act_arguments())
    if spec.act_options:
        kwargs["act_options"] = dict(spec.act_options)
    word_vectors = data.meta.get("word_vectors") if data is not None else None
    if word_vectors is not None:
        kwargs.update(vectors=word_vectors.vectors, vectors_found=word_vectors.found)
    if info.input_kind == "vector":
        kwargs.setdefault("in_features", int(math.prod(shape)))
    image = len(shape) == 3
    return create_model(
        spec.model,
        in_channels=shape[0] if image else 1,
        num_classes=1 if spec.loss == "bce" else signature["num_classes"],
        input_size=shape[-1] if image else None,
        vocab_size=signature.get("vocab_size"),
        **kwargs,
    )


def model_from_record(record: RunRecord) -> nn.Module:
    """Rebuild a run's model (untrained weights) with its units' final parameters loaded: for pictures."""
    spec = RunSpec.from_dict(record.spec)
    model = build_model_for(spec, record.data)
    units = dict(activation_units(model))
    with torch.no_grad():
        for name, values in record.final_activations.items():
            for pname, p in units[name].named_parameters():
                p.copy_(torch.tensor(values[pname], dtype=p.dtype))
    return model


@torch.no_grad()
def _initialise_activations(model: nn.Module, spec: RunSpec) -> None:
    """Copy a previous run's final unit parameters in (``act_init``), optionally normalising blend weights;
    freeze the units when ``act_trainable`` is false."""
    if spec.act_init:
        source = spec.act_init["record"]
        if not isinstance(source, dict):
            source = RunRecord.load(source).final_activations
        units = dict(activation_units(model))
        missing = sorted(set(units) - set(source))
        if missing:
            raise ValueError(f"act_init: the source run has no parameters for units {missing}")
        for name, unit in units.items():
            for pname, p in unit.named_parameters():
                p.copy_(torch.tensor(source[name][pname], dtype=p.dtype, device=p.device))
            if spec.act_init.get("normalize") and hasattr(unit, "effective_weights"):
                unit.weight.div_(unit.weight.sum(-1, keepdim=True))
    if not spec.act_trainable:
        for p in activation_parameters(model):
            p.requires_grad_(False)


def _augmenter(spec: RunSpec, generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    from adaptact.data import random_crop, random_flip, random_rotation

    a = spec.augment
    unknown = sorted(set(a) - {"crop_padding", "flip", "rotation"})
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}; use crop_padding, flip, rotation")

    def apply(x: torch.Tensor) -> torch.Tensor:
        if a.get("rotation"):
            x = random_rotation(x, a["rotation"], generator)
        if a.get("crop_padding"):
            x = random_crop(x, a["crop_padding"], generator)
        if a.get("flip"):
            x = random_flip(x, generator)
        return x

    return apply


class _Progress:
    """A rich progress bar with loss, accuracy and speed; a no-op when switched off."""

    def __init__(self, enabled: bool, total: int, title: str) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[info]}"), TimeRemainingColumn())
            self.task = self.bar.add_task(title, total=total, info="")
            self.bar.start()

    def update(self, step: int, info: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@contextlib.contextmanager
def fixed_numerics(spec: RunSpec) -> Iterator[None]:
    """Run the body with every process-wide setting that changes a run's numbers fixed as the spec
    says: ``spec.threads`` CPU threads, float32 as the default dtype, cuDNN deterministic and not
    benchmarking; the caller's settings are restored afterwards."""
    cudnn = torch.backends.cudnn
    saved = (torch.get_num_threads(), torch.get_default_dtype(), cudnn.deterministic, cudnn.benchmark)
    torch.set_num_threads(spec.threads)
    torch.set_default_dtype(torch.float32)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.set_default_dtype(saved[1])
        cudnn.deterministic, cudnn.benchmark = saved[2], saved[3]


def _evaluate_finite(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: RunSpec, step: int,
                     what: str) -> tuple[float, float]:
    """:func:`evaluate`, but a non-finite evaluation loss stops the run as a divergence naming the step."""
    acc, value = evaluate(model, x, y, spec.eval_batch_size, spec.loss)
    if not math.isfinite(value):
        model.eval()
        try:
            where = diagnose_nonfinite(model, x[: spec.eval_batch_size])
        finally:
            model.train()
        raise NonFiniteLoss(f"step {step}: the {what} loss is {value} after this update; {where}")
    return acc, value


def _evaluation(model: nn.Module, data, spec: RunSpec, step: int) -> dict[str, float | None]:
    """One point of the curves: accuracy and loss on the validation and test splits (``None`` for an
    empty split), and the accuracy on a training sample when ``eval_train``."""
    point: dict[str, float | None] = {}
    for split, name in (("val", "validation"), ("test", "test")):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        acc, value = _evaluate_finite(model, x, y, spec, step, name) if len(x) else (None, None)
        point[f"{split}_accuracy"], point[f"{split}_loss"] = acc, value
    if spec.eval_train:
        x, y = data.x_train[:TRAIN_ACCURACY_SAMPLE], data.y_train[:TRAIN_ACCURACY_SAMPLE]
        point["train_accuracy"] = _evaluate_finite(model, x, y, spec, step, "training-sample")[0]
    return point


def run(spec: RunSpec | dict, *, data=None, checkpoint_dir: str | os.PathLike | None = None,
        log_dir: str | os.PathLike | None = None, callbacks: Sequence[Callback] = ()) -> RunRecord:
    """Train one network as ``spec`` says and return its record.

    ``data`` may pass an already loaded data set (a ``TensorData``) instead of loading
    ``spec.data``. A NaN/inf training loss, or a NaN/inf loss on any evaluation (validation,
    test, training sample, checkpoint), stops the run: the record's status is ``diverged`` and
    its error names the step and the unit; it carries no metrics. The run computes under
    :func:`fixed_numerics` (``spec.threads`` threads ...), so the same spec gives the same
    record bit for bit on the same machine, whatever the caller's settings. ``device="auto"``
    is resolved first and recorded as the device the run used.

    Long runs: with ``checkpoint_dir`` (default ``<spec.checkpoint_dir>/<key>`` when the spec names
    one) and ``spec.checkpoint_steps``, a checkpoint is saved there
    every ``checkpoint_steps`` updates (atomically, see :mod:`adaptact.train.checkpoint`); a run
    that finds a checkpoint of its own key there continues from it and ends with the record an
    uninterrupted run gives (but ``wall_time`` and ``throughput``); the checkpoint is removed when
    the run ends. ``spec.loggers`` stream every evaluation into ``log_dir`` (default
    ``<spec.log_dir>/<key>``); ``callbacks`` are further :class:`~adaptact.train.callbacks.Callback` s.
    """
    spec = RunSpec.from_dict(spec) if isinstance(spec, dict) else spec
    spec.validate()
    device = resolve_device(spec.device)
    if spec.device == "auto":
        spec = spec.replace(device=str(device))
    if spec.loggers:
        if log_dir is None and spec.log_dir is None:
            raise ValueError(f"loggers {list(spec.loggers)} need a folder: set the spec's log_dir or pass log_dir=")
        from adaptact.train.loggers import make_loggers

        callbacks = [*make_loggers(spec.loggers, log_dir or Path(spec.log_dir) / spec.key()), *callbacks]
    if checkpoint_dir is None and spec.checkpoint_dir is not None:
        checkpoint_dir = Path(spec.checkpoint_dir) / spec.key()
    with fixed_numerics(spec):
        return _run(spec, device, data, checkpoint_dir if spec.checkpoint_steps else None, list(callbacks))


def _run(spec: RunSpec, device: torch.device, data, checkpoint_dir, callbacks: list[Callback]) -> RunRecord:
    data = data if data is not None else load_data_for(spec, device)
    _check_compatible(spec, data)
    signature = data_signature(data)

    torch.manual_seed(spec.seed)
    model = build_model_for(spec, signature, data).to(device)
    _initialise_activations(model, spec)
    apply_pruning(model, spec.prune)
    apply_memory_format(model, spec.memory_format)
    act_ids = {id(p) for p in activation_parameters(model)}
    x_train, y_train = data.x_train, data.y_train
    n_train = len(x_train)
    total_steps, per_epoch = steps_for(spec, n_train)
    if total_steps > MAX_STEPS:
        raise ValueError(f"epochs={spec.epochs:g} of {n_train} examples in batches of {spec.batch_size} is "
                         f"{total_steps:.3g} updates, more than the limit of {MAX_STEPS:.0e}")
    optimizer = build_optimizer(model, spec)
    schedule = build_schedule(optimizer, spec, total_steps, per_epoch)
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    augment = _augmenter(spec, generator)
    eval_every = spec.eval_every or per_epoch
    checkpoint_every = spec.checkpoint_every or 8 * per_epoch
    probe = data.x_val[:1000] if len(data.x_val) else data.x_test[:1000]
    tracker = RunTracker(model, spec, data=signature, preact_probe=probe if spec.record_preact else None,
                         callbacks=callbacks, device=str(device))

    key = spec.key()
    saved = load_checkpoint(checkpoint_dir, key) if checkpoint_dir is not None else None
    order, position, train_seconds = None, 0, 0.0
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        restore_rng(saved["rng"], generator)
        tracker.load_state_dict(saved["tracker"])
        order, position, train_seconds = saved["order"].to(generator.device), saved["position"], saved["train_seconds"]
    step = tracker.step
    bar = _Progress(spec.progress, total_steps, f"{spec.model}/{spec.act if isinstance(spec.act, str) else spec.act}")
    bar.update(step, "resumed" if step else "")
    tracker.start()
    model.train()
    try:
        while step < total_steps:
            if order is None:  # a new pass over the data, as adaptact.data.batches draws it
                order = torch.randperm(n_train, generator=generator, device=generator.device)
            for position in range(position, per_epoch):
                idx = order[position * spec.batch_size:(position + 1) * spec.batch_size]
                tick = time.perf_counter()
                xb, yb = augment(x_train[idx]), y_train[idx]
                loss, _ = loss_and_correct(model(xb), yb, spec.loss)
                objective = loss + penalty(model, spec, act_ids)
                tracker.guard(objective, step + 1, xb)
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                if spec.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
                optimizer.step()
                schedule.step()
                if spec.max_norm:
                    apply_max_norm(model, spec.max_norm)
                step += 1
                tracker.update(step, loss.item(), len(idx))
                train_seconds += time.perf_counter() - tick

                if step % eval_every == 0 or step == total_steps:
                    point = _evaluation(model, data, spec, step)  # raises before anything of this step is kept
                    point = tracker.evaluation(step, epoch=step / per_epoch, lr=optimizer.param_groups[0]["lr"],
                                               **point)
                    bar.update(step, f"loss {point['train_loss']:.4f}  test {100 * point['test_accuracy']:.2f}%"
                                     f"  {tracker.seen / max(train_seconds, 1e-9):.0f} ex/s")
                if spec.selection == "posthoc" and (step % checkpoint_every == 0 or step == total_steps):
                    tracker.selection_checkpoint(step, _evaluate_finite(model, data.x_test, data.y_test, spec, step,
                                                                        "checkpoint test")[0])
                tracker.end_step(step)
                if step >= total_steps:
                    break
                if checkpoint_dir is not None and step % spec.checkpoint_steps == 0:
                    save_checkpoint(checkpoint_dir, key, {
                        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(), "rng": capture_rng(generator),
                        "tracker": tracker.state_dict(), "order": order.cpu(), "position": position + 1,
                        "train_seconds": train_seconds})
            else:
                order, position = None, 0
    except NonFiniteLoss as err:
        tracker.diverged(err)
    finally:
        bar.close()

    record = tracker.finish(total_steps, throughput=tracker.seen / train_seconds if train_seconds else None)
    if record.status == "ok" and record.final_activations:  # the inputs each unit saw (Davis Fig. 10)
        record.preactivations["input_range"] = input_ranges(model, probe)
    record.pruning = pruning_summary(model, spec.prune)
    if record.status == "ok" and spec.top_k:
        record.metrics[f"test_top{spec.top_k}_accuracy"] = top_k_accuracy(
            model, data.x_test, data.y_test, spec.top_k, spec.eval_batch_size)
    if checkpoint_dir is not None:
        remove_checkpoint(checkpoint_dir)
    return record
