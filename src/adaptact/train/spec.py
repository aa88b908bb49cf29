"""The description of one training run: a dataclass that is validated, resolved, serialised and hashed."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LOGGERS", "MAX_EPOCHS", "MAX_SEED", "MAX_STEPS", "MAX_THREADS", "OPTIMIZERS", "SCHEDULES", "SELECTIONS", "RunSpec"]

OPTIMIZERS = ("adam", "adamw", "sgd", "adadelta")
SCHEDULES = ("constant", "linear", "exponential", "step")
SELECTIONS = ("final", "best_test", "posthoc")
LOSSES = ("cross_entropy", "bce")
MEMORY_FORMATS = ("contiguous", "channels_last")
#: loggers a run can write to (see :mod:`adaptact.train.loggers`)
LOGGERS = ("csv", "tensorboard", "wandb", "mlflow")

#: bump when a default of RunSpec changes meaning: records made before then no longer match
IDENTITY_VERSION = 1
#: fields that do not change a run's result, left out of its identity hash (``device`` enters it by kind, see key())
_NOT_IDENTITY = ("data_dir", "progress", "device", "tags", "checkpoint_steps", "checkpoint_dir", "loggers", "log_dir")
#: bounds that keep one mistyped number from exhausting the machine (a run of 10**9 updates takes days)
MAX_STEPS = 10**9
MAX_EPOCHS = 10**6
MAX_SEED = 2**63 - 1
MAX_THREADS = 1024


@dataclass
class RunSpec:
    """Everything that defines one training run. ``resolve()`` fills paper defaults; ``key()`` is its identity.

    Model and activation:
        model: architecture name (:func:`adaptact.models.list_models`).
        act: activation name for every activation argument of the model, a list with one name per
            activation layer (models that support it), or a dict ``{"act_conv": ..., "act_fc": ...}``
            for models with several activation arguments.
        act_options: keyword options for every unit (e.g. ``{"normalization": "softmax"}``).
        model_options: keyword options for the architecture (``width_divisor``, ``hidden``, ...).
        act_trainable: ``False`` freezes the activation parameters from step 0.
        act_init: start the activation parameters from another run's final values:
            ``{"record": path-or-dict, "normalize": bool}`` (normalise = divide blend weights by their sum).
    Data:
        data: data set name (:func:`adaptact.data.list_datasets`); data_dir: where its files are
            (else ``ADAPTACT_DATA``); data_options: passed to :func:`adaptact.data.load`
            (normalization, resize, val_size, train_subset, fold, ...; its ``seed`` fixes the
            splits independently of the run seed).
        augment: on-device augmentation: ``{"crop_padding": 4, "flip": True, "rotation": 30}``.
    Optimisation:
        epochs, or steps (the number of updates; it wins when set); batch_size; eval_batch_size.
        optimizer (adam, adamw, sgd, adadelta), lr, momentum (sgd), weight_decay, betas (adam, adamw),
            rho (adadelta: Kim's 0.95).
        act_lr: own learning rate of the activation parameters (default: lr); their weight decay is
            act_weight_decay (default 0). act_schedule: whether the schedule also decays act_lr.
        schedule: constant; linear (per update to ``final_lr`` at the last step); exponential
            (``gamma`` per epoch); step (``gamma`` at ``milestones`` epochs).
        grad_clip: clip the global gradient norm to this value.
        max_norm: after every update, rescale each row (output unit) of the last linear layer to an L2
            norm of at most this (Kim's constraint on the softmax layer, 3).
        loss: cross_entropy, or bce (one logit, binary labels); l1, l2: penalties on the network's
            weights and biases (not on activation parameters).
    Evaluation and selection:
        eval_every: evaluate every N steps (default: once per epoch); eval_train: also measure the
            accuracy on up to 10,000 training examples.
        selection: final; best_test (highest test accuracy over the evaluations, as AdAct reports);
            posthoc (ABU: checkpoints every ``checkpoint_every`` steps, validation curve smoothed by a
            centred moving mean applied three times, the best checkpoint's test accuracy).
        record_every: record activation parameters every N steps (0: never);
        record_preact: also record per-layer pre-activation mean and variance (on a probe batch).
        top_k: also report the top-k test accuracy after the last step (``metrics["test_top{k}_accuracy"]``,
            ImageNet's Acc@5).
    Pruning:
        prune: one round of lottery-ticket filter pruning (:mod:`adaptact.train.pruning`): the filters
            removed from every convolution stay zero; the record keeps the trained filters' scores.
    Other:
        seed: initialisation, shuffling and augmentation, an int in [0, 2**63 - 1]; device: auto
            (CUDA when there is one), cpu, cuda; the device's kind (cpu or cuda) is part of the identity.
        threads: CPU threads of the run's math (``torch.set_num_threads``, the C kernels' OpenMP threads),
            set by :func:`adaptact.train.run` for the run and restored after it. Floating-point sums
            are split over the threads, so the numbers depend on it: it is part of the identity,
            default 1 on every machine (never derived from the machine or from ``--workers``), and
            parallel sweeps run one process per run instead.
        memory_format: ``contiguous`` (default) or ``channels_last``: the layout of the model's 4-d
            weights and of every 4-d input it is given. Channels-last convolutions take other (faster on
            CPU: 1.2-1.5x a LeNet-5, SMCN or AdAct ConvNet step) algorithms, so the rounding differs and
            the field is part of the identity; so are the draws of elementwise noise (dropout masks, RReLU's
            slopes), which follow the memory order.
        progress: show a progress bar; tags: free metadata (experiment, row, column), not part of
        the identity.
    Long runs (none of them part of the identity: they do not change the numbers):
        checkpoint_steps: save a resumable checkpoint every N steps into the ``checkpoint_dir`` given to
            :func:`adaptact.train.run`, else into ``<checkpoint_dir>/<key>/`` of this field (a sweep's
            runs: ``adaptact reproduce --checkpoint-steps N`` sets it to ``<out>/checkpoints``); not
            ``checkpoint_every``, ABU's post-hoc selection points.
        loggers: where to stream the metrics of every evaluation and the activation parameters:
            any of ``csv``, ``tensorboard``, ``wandb``, ``mlflow``; log_dir: the folder under which each
            run writes its logs, into ``<log_dir>/<key>/`` (or the ``log_dir`` given to ``run``).

    Fixed for every run (not fields): float32 as the default dtype, cuDNN's deterministic
    algorithms and no cuDNN benchmarking on CUDA.
    """

    model: str = "lenet"
    act: str | list[str] | dict[str, Any] = "relu"
    data: str = "mnist"
    act_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    act_trainable: bool = True
    act_init: dict[str, Any] | None = None
    data_dir: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    epochs: float | None = 1
    steps: int | None = None
    batch_size: int = 64
    eval_batch_size: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    rho: float = 0.95
    act_lr: float | None = None
    act_weight_decay: float = 0.0
    act_schedule: bool = True
    schedule: str = "constant"
    schedule_options: dict[str, Any] = field(default_factory=dict)
    grad_clip: float | None = None
    max_norm: float | None = None
    loss: str = "cross_entropy"
    l1: float = 0.0
    l2: float = 0.0
    eval_every: int | None = None
    eval_train: bool = False
    selection: str = "final"
    checkpoint_every: int | None = None
    record_every: int = 0
    record_preact: bool = False
    top_k: int | None = None
    prune: dict[str, Any] | None = None
    seed: int = 0
    device: str = "auto"
    threads: int = 1
    memory_format: str = "contiguous"
    progress: bool = False
    tags: dict[str, Any] = field(default_factory=dict)
    checkpoint_steps: int | None = None
    checkpoint_dir: str | None = None
    loggers: list[str] = field(default_factory=list)
    log_dir: str | None = None

    # ------------------------------------------------------------------ checks

    def validate(self) -> "RunSpec":
        """Check every field that can be checked without data; raise ``ValueError`` naming the field."""
        from adaptact.data import dataset_info
        from adaptact.models import model_info
        from adaptact.registry import entry

        info = model_info(self.model)  # unknown model -> lists the models
        dataset_info(self.data)  # unknown data set -> lists the names
        acts = self.act_arguments()
        unknown = sorted(set(acts) - set(info.act_arguments))
        if unknown:
            raise ValueError(
                f"model {self.model!r} has activation arguments {list(info.act_arguments)}, not {unknown}"
            )
        for arg, names in acts.items():
            for name in names if isinstance(names, (list, tuple)) else [names]:
                e = entry(name)  # unknown activation -> lists the names
                if e.name == "maxout" and not info.maxout:
                    raise ValueError(f"model {self.model!r} cannot use {arg}='maxout' (it cannot widen that layer)")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("selection", self.selection, SELECTIONS)
        _choice("loss", self.loss, LOSSES)
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a string (auto, cpu, cuda, cuda:N), got {self.device!r}")
        _choice("device", self.device.split(":")[0], ("auto", "cpu", "cuda"))
        _integer("seed", self.seed, 0, MAX_SEED)
        _integer("threads", self.threads, 1, MAX_THREADS)
        _choice("memory_format", self.memory_format, MEMORY_FORMATS)
        if self.epochs is None and self.steps is None:
            raise ValueError("give epochs or steps (steps wins when both are set)")
        if self.epochs is not None:
            _real("epochs", self.epochs, 0.0, MAX_EPOCHS, low_open=True)
        if self.steps is not None:
            _integer("steps", self.steps, 1, MAX_STEPS)
        for name in ("batch_size", "eval_batch_size"):
            _integer(name, getattr(self, name), 1, 2**31 - 1)
        for name in ("eval_every", "checkpoint_every", "checkpoint_steps"):
            if getattr(self, name) is not None:
                _integer(name, getattr(self, name), 1, MAX_STEPS)
        _integer("record_every", self.record_every, 0, MAX_STEPS)
        if not isinstance(self.loggers, (list, tuple)) or any(name not in LOGGERS for name in self.loggers):
            raise ValueError(f"loggers must be a list of {list(LOGGERS)}, got {self.loggers!r}")
        _real("lr", self.lr, 0.0, math.inf, low_open=True)
        for name in ("momentum", "rho", "weight_decay", "act_weight_decay", "l1", "l2"):
            _real(name, getattr(self, name), 0.0, math.inf)
        for name in ("act_lr", "grad_clip", "max_norm"):
            if getattr(self, name) is not None:
                _real(name, getattr(self, name), 0.0, math.inf, low_open=True)
        if self.selection == "posthoc" and not self.data_options.get("val_size"):
            raise ValueError("selection='posthoc' needs a validation split: set data_options['val_size']")
        if self.schedule == "linear" and "final_lr" not in self.schedule_options:
            raise ValueError("schedule='linear' needs schedule_options['final_lr']")
        if self.schedule in ("exponential", "step") and "gamma" not in self.schedule_options:
            raise ValueError(f"schedule={self.schedule!r} needs schedule_options['gamma']")
        if self.schedule == "step" and "milestones" not in self.schedule_options:
            raise ValueError("schedule='step' needs schedule_options['milestones'] (epochs)")
        if self.top_k is not None and not (isinstance(self.top_k, int) and self.top_k >= 1):
            raise ValueError(f"top_k must be an int >= 1, got {self.top_k!r}")
        if self.prune is not None:
            from adaptact.train.pruning import check_prune

            check_prune(self.prune)
        return self

    def act_arguments(self) -> dict[str, Any]:
        """The activation of every activation argument of the model, e.g. ``{"act": "pau"}``."""
        from adaptact.models import model_info

        if isinstance(self.act, dict):
            return dict(self.act)
        return {arg: self.act for arg in model_info(self.model).act_arguments}

    # ------------------------------------------------------------------ identity

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        d["loggers"] = list(self.loggers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown run spec field(s) {unknown}; fields are {sorted(known)}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    def replace(self, **changes: Any) -> "RunSpec":
        return dataclasses.replace(self, **changes)

    def device_kind(self) -> str:
        """``cpu`` or ``cuda``: the kind of device the run computes on (``auto`` resolved on this machine)."""
        kind = str(self.device).split(":")[0]
        if kind == "auto":
            import torch

            kind = "cuda" if torch.cuda.is_available() else "cpu"
        return kind

    def key(self) -> str:
        """A stable hash of everything that changes the result: the fields that differ from their
        defaults (so a field added later, with a default, leaves existing records valid), except the
        data location and tags; the device enters by kind, and only when it is not the CPU (so
        ``auto`` on a machine without CUDA, ``cpu`` and the records made before the device counted
        share their identity). Changing a default's value changes results, so it must come with
        a new :data:`IDENTITY_VERSION`."""
        defaults = RunSpec().to_dict()
        d = {k: v for k, v in self.to_dict().items() if k not in _NOT_IDENTITY and v != defaults[k]}
        if self.device_kind() != "cpu":
            d["device"] = self.device_kind()
        d["__version__"] = IDENTITY_VERSION
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _integer(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def _real(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not (low < value if low_open else low <= value) or value > high:
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be in {bounds}, got {value:g}")


def _choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
