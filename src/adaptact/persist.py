"""Saving and loading models whose activations were replaced.

A model's weights alone cannot be loaded into a freshly built copy of the
original architecture: the units' parameters have no place there. The record
of the replacements (``model.adaptact_replacements``, written by
:func:`adaptact.replace_activations`) travels beside the weights, and
:func:`apply_replacements` rebuilds the same units at the same places before
the weights are loaded.

- Plain PyTorch: :func:`save_model` / :func:`load_model` (one file, read with
  ``torch.load(weights_only=True)``).
- HuggingFace: the record is kept in ``model.config`` (so ``save_pretrained``
  writes it into ``config.json``); :func:`from_pretrained` builds the model,
  replays the record and loads every weight, the units' included.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from adaptact.cachedir import write_bytes_atomic
from adaptact.callsites import CallSites, install_reset_hook, reset_all_call_sites
from adaptact.registry import create
from adaptact.surgery import MANIFEST_ATTR, REPLACED_FUNCTION, _placement, record_replacements, saved_records

__all__ = ["apply_replacements", "from_pretrained", "load_model", "save_model"]

_FORMAT = "adaptact-model-1"


def _slot(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    parent_path, _, slot = path.rpartition(".")
    try:
        parent = model.get_submodule(parent_path) if parent_path else model
    except AttributeError:
        raise ValueError(f"the model has no module {parent_path!r} (from the saved replacement of {path!r}); "
                         f"is it built from the same architecture?") from None
    if slot not in parent._modules:
        raise ValueError(f"the model has no module {path!r} to replace; is it built from the same architecture?")
    return parent, slot


def apply_replacements(model: nn.Module, records: Iterable[dict[str, Any]]) -> nn.Module:
    """Replay saved replacement records on a freshly built ``model`` (in place; returns it).

    Units are built with the recorded options (a start fitted to the replaced
    function is left out: the loaded weights overwrite it); call sites and
    shared units are restored as they were.
    """
    records = list(records)
    placement = _placement(model)
    built: dict[str, nn.Module] = {}
    for r in records:
        parent, slot = _slot(model, r["path"])
        if "shared_with" in r:
            unit = built[r["shared_with"]]
        else:
            options = {k: (tuple(v) if isinstance(v, list) else v) for k, v in r["options"].items()
                       if v != REPLACED_FUNCTION}
            sites = r.get("call_sites")  # present when the slot holds a CallSites
            units = [create(r["name"], **{**placement, **options}) for _ in range(sites or 1)]
            if sites:
                unit = CallSites(units, r["path"])
                install_reset_hook(parent)
                install_reset_hook(model, reset_all_call_sites)
            else:
                unit = units[0]
        setattr(parent, slot, unit)
        built[r["path"]] = unit
    record_replacements(model, records)
    return model


def save_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model``'s weights and its replacement record to one file (atomically); return the path."""
    path = Path(path)
    payload = {"format": _FORMAT, "replacements": saved_records(model), "state_dict": model.state_dict()}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def load_model(model: nn.Module, path: str | os.PathLike, *, strict: bool = True) -> nn.Module:
    """Load a file written by :func:`save_model` into ``model``, a fresh build of the original architecture."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a model file written by adaptact.save_model")
    apply_replacements(model, payload["replacements"])
    model.load_state_dict(payload["state_dict"], strict=strict)
    return model


def from_pretrained(model_class: Any, path: str | os.PathLike, **kwargs: Any) -> nn.Module:
    """Load a HuggingFace model saved with ``save_pretrained`` after :func:`adaptact.replace_activations`.

    ``model_class`` is the transformers class (``GPT2LMHeadModel``, ``AutoModel`` ...).
    The model is built from its config, the replacements in ``config.json`` are
    replayed, and every weight (the units' included) is loaded strictly.
    """
    from safetensors.torch import load_file

    path = Path(path)
    config = model_class.config_class.from_pretrained(path) if hasattr(model_class, "config_class") else None
    if config is None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(path)
    records = getattr(config, MANIFEST_ATTR, None)
    if not records:
        raise ValueError(f"{path}: its config.json has no {MANIFEST_ATTR}; was it saved after replace_activations?")
    build = getattr(model_class, "from_config", None) or model_class._from_config
    model = build(config, **kwargs)
    setattr(model, MANIFEST_ATTR, [])
    apply_replacements(model, records)
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise ValueError(f"{path}: no .safetensors weights found")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = getattr(model, "_tied_weights_keys", None) or []
    tied = set(tied.keys() if isinstance(tied, dict) else tied)
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not match the rebuilt model (missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]})")
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    return model
