"""The result of one run: a JSON-serialisable record, written atomically."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunRecord", "environment", "write_json_atomic"]


def environment(device: str) -> dict[str, Any]:
    """Versions and machine facts stored with every record."""
    import numpy
    import torch

    import adaptact

    env = {
        "adaptact": adaptact.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "threads": torch.get_num_threads(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def _clean(value: Any) -> Any:
    """Replace NaN/inf by None so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and ``os.replace``: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_clean(data), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class RunRecord:
    """What one run produced.

    Attributes:
        key: the spec's identity hash; spec: the resolved spec as a dict.
        status: ``ok``, ``diverged`` (non-finite loss: ``error`` names step and unit; no metrics)
            or ``failed`` (an exception: ``error`` holds it).
        metrics: ``test_accuracy`` (by the spec's selection policy), ``final_test_accuracy``,
            ``best_test_accuracy``, ``val_accuracy``, ``train_loss``, ``selected_step``, ...
        curves: per evaluation: ``step``, ``epoch``, ``train_loss``, ``val_accuracy``, ``test_accuracy`` ...
        activations: activation parameters over training (see :class:`ActivationRecorder`).
        preactivations: pre-activation mean/variance over training (see :class:`PreactivationRecorder`).
        final_activations: every unit's final parameters (``{unit: {param: values}}``).
        hardened: AdAct units' argmax choices (``{unit: name}``), if the model has any.
        pruning: for pruned runs, :func:`adaptact.train.pruning.pruning_summary` (filter scores, removed filters).
        data: the data set's signature (input shape, classes, vocabulary size), to rebuild the model.
        environment: versions, device, threads; wall_time: seconds; throughput: training examples per second.
    """

    key: str
    spec: dict[str, Any]
    status: str = "ok"
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, list] = field(default_factory=dict)
    activations: dict[str, Any] = field(default_factory=dict)
    preactivations: dict[str, Any] = field(default_factory=dict)
    final_activations: dict[str, Any] = field(default_factory=dict)
    hardened: dict[str, str] | None = None
    pruning: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    wall_time: float = 0.0
    throughput: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunRecord":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def save(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RunRecord":
        with open(path) as f:
            return cls.from_dict(json.load(f))
