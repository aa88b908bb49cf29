"""Resumable checkpoints of a run, and trained weights saved with their spec.

A checkpoint is one file, ``<folder>/checkpoint.pt``, replaced atomically (written to a temporary
file in the same folder, ``fsync``, ``os.replace``): a run killed at any moment, SIGKILL included,
leaves either the previous checkpoint or the new one, never half a file. It holds the run's key and
everything its remaining steps depend on: model, optimizer and schedule state, every random
generator (torch's global CPU and CUDA generators, numpy's, Python's, the run's shuffling and
augmentation generator), the current epoch's data order and position in it, and the tracker's
curves and recordings. Resumed from it, a run computes the same numbers as without the interruption.

Trained weights (:func:`save_trained`) are a state dict together with the spec and data signature
that built the model, so :func:`load_trained` rebuilds it with its activation units.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from adaptact.train.callbacks import Callback

__all__ = ["CHECKPOINT_FILE", "SaveTrained", "capture_rng", "load_checkpoint", "load_trained", "remove_checkpoint",
           "restore_rng", "save_checkpoint", "save_trained"]

CHECKPOINT_FILE = "checkpoint.pt"
_FORMAT, _VERSION = "adaptact-checkpoint", 1
_MODEL_FORMAT = "adaptact-trained-model"


def capture_rng(generator: torch.Generator | None = None) -> dict[str, Any]:
    """The state of every random generator a run may draw from (``generator``: the run's own)."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "generator": generator.get_state() if generator is not None else None,
    }
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Put every generator back as :func:`capture_rng` found it."""
    torch.set_rng_state(state["torch"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None:
        generator.set_state(state["generator"])


def _save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(folder: str | os.PathLike, key: str, state: dict[str, Any]) -> Path:
    """Write ``state`` as the checkpoint of run ``key`` in ``folder`` (atomically); return its path."""
    path = Path(folder) / CHECKPOINT_FILE
    _save_atomic({"format": _FORMAT, "version": _VERSION, "key": key, "state": state}, path)
    return path


def load_checkpoint(folder: str | os.PathLike, key: str) -> dict[str, Any] | None:
    """The state saved by :func:`save_checkpoint` for run ``key``, or ``None`` when ``folder`` has none.

    Raises ``ValueError`` (naming the file) for a checkpoint of another run or one that cannot be read:
    resuming from it would silently mix two runs."""
    path = Path(folder) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a foreign or damaged file: say which, never resume from it
        raise ValueError(f"{path}: not a readable adaptact checkpoint ({type(err).__name__}); "
                         "remove it to start the run afresh") from None
    if not isinstance(saved, dict) or saved.get("format") != _FORMAT or saved.get("version") != _VERSION:
        raise ValueError(f"{path}: not an adaptact checkpoint (version {_VERSION}); remove it to start the run afresh")
    if saved["key"] != key:
        raise ValueError(f"{path}: a checkpoint of run {saved['key']}, not of this run {key}; "
                         "give each run its own checkpoint folder")
    return saved["state"]


def remove_checkpoint(folder: str | os.PathLike) -> None:
    """Delete the checkpoint folder of a finished run (and the folder itself when nothing else is in it)."""
    folder = Path(folder)
    (folder / CHECKPOINT_FILE).unlink(missing_ok=True)
    for stale in folder.glob(f".{CHECKPOINT_FILE}.*.tmp"):  # left by a kill while writing
        stale.unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        shutil.rmtree(folder)


# ----------------------------------------------------------------------------- trained weights


def save_trained(path: str | os.PathLike, model: nn.Module, spec, data_signature: dict[str, Any]) -> Path:
    """Keep ``model``'s weights with the ``spec`` (a RunSpec) and the data signature that built it.

    ``*.safetensors`` writes a safetensors file (the spec and signature in its metadata; needs the
    ``safetensors`` package); any other name a ``torch.save`` file. Written atomically."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    spec_dict = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import save
        except ImportError:
            raise ValueError(f"{path}: writing .safetensors needs the package 'safetensors' (pip install "
                             "safetensors); or give a file name ending in .pt") from None
        blob = save(state, metadata={"format": _MODEL_FORMAT, "spec": json.dumps(spec_dict),
                                     "data": json.dumps(data_signature)})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    else:
        _save_atomic({"format": _MODEL_FORMAT, "spec": spec_dict, "data": data_signature, "state_dict": state}, path)
    return path


class SaveTrained(Callback):
    """A callback that keeps the trained model (:func:`save_trained`) at ``path`` when a run ends well
    (a diverged run's weights are not worth keeping and are not written)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def on_end(self, tracker, record) -> None:
        if record.status == "ok":
            save_trained(self.path, tracker.model, tracker.spec, tracker.data)


def _read_trained(path: Path) -> tuple[dict, dict, dict]:
    if not path.is_file():
        raise ValueError(f"{path}: no such file (a model saved by `adaptact train --save-model`)")
    if path.suffix == ".safetensors":
        try:
            from safetensors import safe_open
        except ImportError:
            raise ValueError(f"{path}: reading .safetensors needs the package 'safetensors' (pip install safetensors)") from None
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
        if meta.get("format") != _MODEL_FORMAT:
            raise ValueError(f"{path}: a safetensors file without adaptact's spec (not saved by save_trained)")
        return json.loads(meta["spec"]), json.loads(meta["data"]), state
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: not a readable trained model ({type(err).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != _MODEL_FORMAT:
        raise ValueError(f"{path}: not a trained model saved by adaptact (save_trained / --save-model)")
    return saved["spec"], saved["data"], saved["state_dict"]


def load_trained(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> nn.Module:
    """The model saved by :func:`save_trained` (``adaptact train --save-model PATH``): rebuilt from its
    spec with its activation units, its trained weights loaded (all of them, strictly), in eval mode.
    Its spec is at ``model.adaptact_spec`` (a RunSpec)."""
    from adaptact.train.loop import build_model_for
    from adaptact.train.spec import RunSpec

    spec_dict, signature, state = _read_trained(Path(path))
    spec = RunSpec.from_dict(spec_dict)
    model = build_model_for(spec, signature)
    model.load_state_dict(state, strict=True)
    model.adaptact_spec = spec
    return model.to(device).eval()
