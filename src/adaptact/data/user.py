"""A user's data set: what their loader returns, turned into the :class:`RawData` the built-in readers give.

A loader is ``loader(**options)``, plus a ``data_dir`` argument if it wants the data directory
(``--data-dir`` / ``$ADAPTACT_DATA``). It returns one of:

- ``(x_train, y_train, x_test, y_test)``: tensors or NumPy arrays; images ``(N, C, H, W)``
  (uint8 pixels 0..255, or floats already in [0, 1]), feature vectors ``(N, F)``; labels integers ``(N,)``;
- ``(train, test)`` of ``torch.utils.data.Dataset``: every item ``(x, label)``; read once, stacked into tensors;
- a dict with ``"train"`` and ``"test"`` (each a Dataset or an ``(x, y)`` pair) and optionally ``"classes"``;
- a :class:`RawData`, as the built-in readers return.

Class names default to ``"0" .. "K-1"`` (K = largest label + 1). Everything is then split, subset,
normalised and moved to the device by :func:`adaptact.data.load` exactly as a built-in data set.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from adaptact.data.record import RawData

__all__ = ["reader_for", "to_raw"]


def _tensor(x: Any, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise ValueError(f"{what} must be a tensor or a NumPy array, got {type(x).__name__}")


def _stack(dataset: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``(x, label)`` of a map-style or iterable Dataset, stacked."""
    xs, ys = [], []
    for i, item in enumerate(dataset):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"{what}: item {i} must be a pair (x, label), got {type(item).__name__}")
        xs.append(_tensor(item[0], f"{what}: item {i}'s x") if not isinstance(item[0], (int, float))
                  else torch.tensor([item[0]]))
        ys.append(int(item[1]))
    if not xs:
        raise ValueError(f"{what} is empty")
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise ValueError(f"{what}: items differ in shape {sorted(shapes)[:3]}; resize them in the loader")
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)


def _pair(part: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    iterable = hasattr(part, "__iter__") and not isinstance(part, (tuple, list))
    if isinstance(part, torch.utils.data.Dataset) or iterable:
        return _stack(part, what)
    if isinstance(part, (tuple, list)) and len(part) == 2:
        return _tensor(part[0], f"{what} x"), _tensor(part[1], f"{what} labels")
    raise ValueError(f"{what} must be a torch Dataset or a pair (x, y), got {type(part).__name__}")


def _labels(y: torch.Tensor, n: int, what: str) -> torch.Tensor:
    if y.dim() != 1 or len(y) != n:
        raise ValueError(f"{what} labels must have shape ({n},), got {tuple(y.shape)}")
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise ValueError(f"{what} labels must be integers 0..K-1, got real values")
    y = y.to(torch.int64)
    if n and int(y.min()) < 0:
        raise ValueError(f"{what} labels must be integers 0..K-1, got {int(y.min())}")
    return y


def to_raw(result: Any, name: str) -> RawData:
    """The :class:`RawData` of what a user's loader returned (forms in the module docstring).

    Raises:
        ValueError: another form, mismatched lengths, non-integer labels, train and test of different kinds.
    """
    if isinstance(result, RawData):
        return result
    classes = None
    if isinstance(result, dict):
        missing = {"train", "test"} - set(result)
        if missing:
            raise ValueError(f"data set {name!r}: the loader's dict needs 'train' and 'test', "
                             f"missing {sorted(missing)}")
        classes = result.get("classes")
        parts = [_pair(result["train"], f"{name} train"), _pair(result["test"], f"{name} test")]
    elif isinstance(result, (tuple, list)) and len(result) == 4:
        parts = [(_tensor(result[0], f"{name} x_train"), _tensor(result[1], f"{name} y_train")),
                 (_tensor(result[2], f"{name} x_test"), _tensor(result[3], f"{name} y_test"))]
    elif isinstance(result, (tuple, list)) and len(result) == 2:
        parts = [_pair(result[0], f"{name} train"), _pair(result[1], f"{name} test")]
    else:
        raise ValueError(f"data set {name!r}: the loader must return (x_train, y_train, x_test, y_test), "
                         f"(train_dataset, test_dataset), a dict with 'train' and 'test', or RawData; "
                         f"got {type(result).__name__}")
    (x_train, y_train), (x_test, y_test) = parts
    y_train, y_test = _labels(y_train, len(x_train), f"{name} train"), _labels(y_test, len(x_test), f"{name} test")
    if x_train.shape[1:] != x_test.shape[1:] or x_train.dtype != x_test.dtype:
        raise ValueError(f"data set {name!r}: train inputs {tuple(x_train.shape[1:])} {x_train.dtype} and test "
                         f"inputs {tuple(x_test.shape[1:])} {x_test.dtype} differ")
    if x_train.dim() == 4:
        kind, scale = "image", (255.0 if x_train.dtype == torch.uint8 else 1.0)
    elif x_train.dim() == 2:
        kind, scale = "vector", None
        x_train, x_test = x_train.float(), x_test.float()
    else:
        raise ValueError(f"data set {name!r}: inputs must be images (N, C, H, W) or feature vectors (N, F), "
                         f"got {tuple(x_train.shape)}")
    k = int(torch.cat([y_train, y_test]).max()) + 1 if len(y_train) + len(y_test) else 0
    classes = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    if len(classes) < k:
        raise ValueError(f"data set {name!r}: {len(classes)} class names for labels up to {k - 1}")
    return RawData(x_train, y_train, x_test, y_test, classes, kind=kind, meta={"source": "user loader"},
                   scale=scale)


def reader_for(name: str, loader: Callable[..., Any]) -> Callable[..., RawData]:
    """A reader with the built-ins' contract (``folders`` first when the loader takes ``data_dir``, then its
    keyword options) calling ``loader`` and converting its result with :func:`to_raw`."""
    if not callable(loader):
        raise ValueError(f"data set {name!r}: the loader must be callable, got {type(loader).__name__}")
    params = inspect.signature(loader).parameters.values()
    wants_dir = any(p.name == "data_dir" for p in params)
    options = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params
               if p.name != "data_dir" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def read(*args: Sequence[Path], **kwargs: Any) -> RawData:
        if wants_dir:
            kwargs["data_dir"] = args[0][-1]  # the data directory itself (the last candidate folder)
        return to_raw(loader(**kwargs), name)

    head = [inspect.Parameter("folders", inspect.Parameter.POSITIONAL_ONLY)] if wants_dir else []
    read.__signature__ = inspect.Signature(head + options)  # type: ignore[attr-defined]
    return read
