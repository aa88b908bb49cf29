"""The records passed around by the loaders: :class:`RawData` (as read) and :class:`TensorData` (ready to train on)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = ["RawData", "TensorData"]


@dataclass
class RawData:
    """A data set as its reader returns it, before splitting, normalising and moving to a device.

    Attributes:
        x_train, x_test: images as uint8 (or small-integer) tensors ``(N, C, H, W)``; feature
            vectors as float tensors ``(N, F)``; or, for text, lists of token lists.
        y_train, y_test: int64 labels ``(N,)``.
        classes: class names, index = label.
        kind: ``"image"``, ``"vector"`` or ``"text"``.
        files: the files read (strings, for ``meta``).
        meta: facts about the source (counts, order, options), JSON-serialisable.
        scale: for images, the pixel value meaning white (255 for 8-bit images); dividing by it gives [0, 1].
        encode: for text, ``encode(train_tokens, [other_tokens, ...]) -> (train, [others], meta, vocab)``
            turning token lists into padded id tensors with a vocabulary built from ``train_tokens``.
    """

    x_train: Any
    y_train: torch.Tensor
    x_test: Any
    y_test: torch.Tensor
    classes: list[str]
    kind: str = "image"
    files: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    scale: float | None = 255.0
    encode: Callable | None = None


@dataclass
class TensorData:
    """A data set as tensors on one device, split into train / validation / test.

    Attributes:
        name: canonical data set name (e.g. ``"fashion-mnist"``).
        x_train, y_train, x_val, y_val, x_test, y_test: images float32 ``(N, C, H, W)``,
            feature vectors float32 ``(N, F)``, or text token ids int64 ``(N, L)``; labels int64 ``(N,)``.
            The validation tensors have 0 rows when no validation split was asked for.
        num_classes: number of classes.
        input_shape: the shape of one example (``(C, H, W)``, ``(F,)`` or ``(L,)``).
        classes: class names, index = label.
        meta: JSON-serialisable facts: normalisation used, files read, sizes, options, cache status, ...
        vocab: for text, the vocabulary (index = token id; 0 is padding, 1 unknown); else ``None``.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    classes: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    vocab: list[str] | None = None

    def split(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of ``"train"``, ``"val"`` or ``"test"``."""
        if which not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {which!r}")
        return getattr(self, f"x_{which}"), getattr(self, f"y_{which}")

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(self.split(s)[1])}" for s in ("train", "val", "test"))
        return (
            f"TensorData({self.name!r}, {sizes}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes}, device={self.device})"
        )
