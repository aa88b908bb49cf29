"""The result of one run: a JSON-serialisable record, written atomically."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adaptact.cachedir import write_bytes_atomic
from adaptact.source_revision import source_revision

__all__ = ["DamagedRecord", "ResultsError", "RunRecord", "STATUSES", "environment", "record_problem",
           "write_json_atomic", "write_text_atomic"]

#: every status a record may carry
STATUSES = ("ok", "diverged", "failed")


class ResultsError(ValueError):
    """A results file (record, manifest, report) is missing, damaged or foreign; the message names the file."""


class DamagedRecord(ResultsError):
    """A record file that is not a well-formed record of the run its file name says (see :meth:`RunRecord.load`)."""


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
        "default_dtype": str(torch.get_default_dtype()).removeprefix("torch."),
        "source": source_revision(),
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


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file, ``fsync`` and ``os.replace``: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | os.PathLike, data: Any, compact: bool = False) -> None:
    """Write ``data`` as strict JSON (NaN/inf as null) to ``path`` atomically (see :func:`write_text_atomic`):
    indented, or ``compact`` (no whitespace: run records, whose parameter histories hold many numbers)."""
    text = json.dumps(_clean(data), separators=(",", ":")) if compact else json.dumps(_clean(data), indent=1)
    write_text_atomic(path, text)


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
        write_json_atomic(path, self.to_dict(), compact=True)

    @classmethod
    def load(cls, path: str | os.PathLike, *, check_name: bool = False) -> "RunRecord":
        """Read and check a record file; raise :class:`DamagedRecord` naming the file and what is wrong.

        A record must be a JSON object with a string ``key``, a ``spec`` that is a valid RunSpec whose
        identity is ``key`` (as computed where it ran), a known ``status``, dict-valued ``metrics``,
        ``curves``, ... and, when ``ok``, a finite ``test_accuracy`` in [0, 1]. Its ``environment``
        must show the thread count its spec asks for. ``check_name``: the file must be ``<key>.json``
        (records in a results folder are found by their file name).
        """
        path = Path(path)
        try:
            with open(path) as f:
                data = json.load(f)
        except UnicodeDecodeError as err:
            raise DamagedRecord(f"{path}: not a text file ({err.reason})") from None
        except json.JSONDecodeError as err:
            raise DamagedRecord(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
        problem = record_problem(data, path.stem if check_name else None)
        if problem:
            raise DamagedRecord(f"{path}: {problem}")
        return cls.from_dict(data)


_DICT_FIELDS = ("spec", "metrics", "curves", "activations", "preactivations", "final_activations", "data",
                "environment")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "number")


def record_problem(data: Any, expected_key: str | None = None) -> str | None:
    """What makes ``data`` (a parsed JSON file) not a record of the run ``expected_key``, or ``None`` when it is one."""
    from adaptact.train.spec import RunSpec

    if not isinstance(data, dict):
        return f"a JSON {_json_kind(data)}, not a run record (an object with key, spec, status)"
    missing = [k for k in ("key", "spec", "status") if k not in data]
    if missing:
        return f"not a run record: no {', '.join(map(repr, missing))}"
    key, status = data["key"], data["status"]
    if not isinstance(key, str):
        return f"its key is a JSON {_json_kind(key)}, not a string"
    if expected_key is not None and key != expected_key:
        return f"its key {key!r} differs from its file name {expected_key!r}"
    for name in _DICT_FIELDS:
        if data.get(name) is not None and not isinstance(data[name], dict):
            return f"its {name!r} is a JSON {_json_kind(data[name])}, not an object"
    if status not in STATUSES:
        return f"unknown status {status!r} (statuses are {list(STATUSES)})"
    try:
        spec = RunSpec.from_dict(data["spec"])
    except (TypeError, ValueError) as err:
        return f"its spec is not a run spec: {' '.join(str(err).split())}"
    env = data.get("environment") or {}
    ran_on = env.get("device")
    if spec.device == "auto" and isinstance(ran_on, str):
        spec = spec.replace(device=ran_on)  # identity as computed where it ran
    try:
        own = spec.key()
    except (TypeError, ValueError) as err:
        return f"its spec has no identity: {err}"
    if own != key:
        return f"its key {key!r} is not the identity {own!r} of its spec (edited, or made by another version)"
    threads = env.get("threads")
    if status != "failed" and threads is not None and threads != spec.threads:
        return (f"made with {threads} thread(s) but its spec says threads={spec.threads} "
                "(numbers depend on the thread count)")
    if status == "ok":
        value = (data.get("metrics") or {}).get("test_accuracy")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            return f"status 'ok' without a finite test_accuracy in [0, 1] (got {value!r})"
        curves = data.get("curves") or {}
        for split in ("val", "test"):
            pairs = zip(curves.get(f"{split}_accuracy") or (), curves.get(f"{split}_loss") or ())
            if any(acc is not None and not _finite(loss) for acc, loss in pairs):
                return f"status 'ok' with a non-finite {split} loss in its curves (the run diverged)"
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
