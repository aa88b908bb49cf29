"""Image data sets too large for memory (ImageNet): files decoded with Pillow batch by batch, indexed like a tensor.

:class:`StreamedImages` stands where a :class:`~adaptact.data.TensorData` holds a float image
tensor ``(N, 3, S, S)``: ``len()``, ``.shape``, ``.dim()``, ``.device`` and indexing with an index
tensor, a list or a slice, which decodes just those files and returns a normalised float32 batch
on the device. The training loop therefore runs on it unchanged.

Transforms (the standard ImageNet recipe of the PyTorch example):
- training: random resized crop (area share ``U(0.08, 1)``, aspect ratio log-uniform in
  ``[3/4, 4/3]``, ten tries, else the centre crop of the clamped ratio) resized to ``S x S``
  (bilinear), then a horizontal flip with probability 1/2;
- evaluation: the shorter side resized to ``R`` (bilinear), the centre ``S x S`` cut out;
- then pixels / 255, minus the mean, divided by the std per channel (ImageNet's by default).

Randomness: every training image drawn gets its own seed from the split's generator (seeded by
the data seed), drawn in order in the calling thread, so decoding in parallel threads repeats.
"""
from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from adaptact.data.errors import DataError
from adaptact.data.record import RawData, TensorData
from adaptact.data.splits import count, holdout, seeded, subset

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImageFiles", "StreamedImages", "center_box", "random_resized_box",
           "streamed_data"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageFiles:
    """What a streaming reader returns for a split: the image files, in label order with ``y``."""

    paths: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)


def random_resized_box(width: int, height: int, rng: random.Random, scale=(0.08, 1.0),
                       ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """``(left, top, w, h)`` of a random crop with area share in ``scale`` and aspect ratio in ``ratio``
    (log-uniform); after ten failed tries the centre crop with the ratio clamped to ``ratio``."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def center_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """``(left, top, size, size)``: the centre square of side ``size`` (the image must be at least that big)."""
    return (width - size) // 2, (height - size) // 2, size, size


class StreamedImages:
    """A split of image files that decodes on indexing: ``x[idx]`` is a float32 ``(len(idx), 3, S, S)`` batch.

    Args:
        paths: image files. size: ``S``, the side of the output. resize: ``R``, the shorter side before
            the evaluation centre crop. train: use the training transform (random resized crop, flip).
        mean, std: per-channel normalisation of pixels in [0, 1]. seed: seeds the training randomness.
        device: where batches go. workers: decoding threads. hint: appended to decoding errors
            (how to get the data set).
    """

    def __init__(self, paths: Sequence[str], *, size: int, resize: int, train: bool,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, seed: int = 0,
                 device: torch.device | str = "cpu", workers: int = 4, hint: str = "") -> None:
        if size < 1 or resize < size:
            raise ValueError(f"need 1 <= size <= resize, got size={size}, resize={resize}")
        self.paths = tuple(str(p) for p in paths)
        self.size, self.resize, self.train = size, resize, train
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.device = torch.device(device)
        self.workers, self.hint = max(1, int(workers)), hint
        self.seed = seed
        self._rng = random.Random(seed)
        self.dtype = torch.float32

    # tensor-like surface used by the training loop
    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), 3, self.size, self.size))

    def dim(self) -> int:
        return 4

    def is_floating_point(self) -> bool:
        return True

    def subset(self, indices: Sequence[int]) -> "StreamedImages":
        """The same stream over ``paths[indices]`` (its own generator, from the same seed)."""
        out = StreamedImages([self.paths[i] for i in indices], size=self.size, resize=self.resize, train=self.train,
                             mean=self.mean.flatten().tolist(), std=self.std.flatten().tolist(), seed=self.seed,
                             device=self.device, workers=self.workers, hint=self.hint)
        return out

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, slice):
            ids = list(range(len(self.paths)))[index]
        elif isinstance(index, torch.Tensor):
            ids = index.reshape(-1).tolist()
        elif isinstance(index, int):
            return self[[index]][0]
        else:
            ids = list(index)
        seeds = [self._rng.getrandbits(64) for _ in ids] if self.train else [0] * len(ids)
        jobs = [(self.paths[i], s) for i, s in zip(ids, seeds)]
        if self.workers > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(min(self.workers, len(jobs))) as pool:
                arrays = list(pool.map(lambda job: self._decode(*job), jobs))
        else:
            arrays = [self._decode(*job) for job in jobs]
        if not arrays:
            return torch.empty((0, 3, self.size, self.size), device=self.device)
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255)
        return ((batch - self.mean) / self.std).to(self.device)

    def _decode(self, path: str, seed: int) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                if self.train:
                    rng = random.Random(seed)
                    left, top, w, h = random_resized_box(im.width, im.height, rng)
                    im = im.resize((self.size, self.size), Image.BILINEAR, box=(left, top, left + w, top + h))
                    arr = np.asarray(im, dtype=np.uint8)
                    if rng.random() < 0.5:
                        arr = arr[:, ::-1]
                else:
                    scale = self.resize / min(im.width, im.height)
                    im = im.resize((max(self.size, round(im.width * scale)), max(self.size, round(im.height * scale))),
                                   Image.BILINEAR)
                    left, top, w, h = center_box(im.width, im.height, self.size)
                    arr = np.asarray(im.crop((left, top, left + w, top + h)), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise DataError(f"{path}: cannot decode the image ({e}){self.hint}") from e
        return np.ascontiguousarray(arr)

    def __repr__(self) -> str:
        return (f"StreamedImages({len(self.paths)} files, size={self.size}, "
                f"{'train transform' if self.train else f'resize {self.resize} + centre crop'}, device={self.device})")


def streamed_data(
    name: str,
    raw: RawData,
    *,
    device: str | torch.device = "cpu",
    normalization: str | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    resize: int | None = None,
    val_size: int | float = 0,
    val_from: str = "front",
    train_subset: int | float | None = None,
    test_subset: int | float | None = None,
    seed: int = 0,
    hint: str = "",
) -> TensorData:
    """:func:`adaptact.data.load`'s result for a streaming reader (``raw.kind == "stream"``).

    The validation split and the subsets are drawn as :func:`~adaptact.data.load` draws them (same
    seeded streams); images stay on disk. ``normalization`` may be ``None`` or ``"mean-std"`` (default
    statistics ImageNet's); ``resize`` (an int) sets the output side ``S`` (the models' required size),
    otherwise the reader's ``image_size`` does.
    """
    if normalization not in (None, "mean-std"):
        raise ValueError(f"{name} is streamed from disk: only normalization='mean-std' applies, got {normalization!r}")
    if resize is not None and not isinstance(resize, int):
        raise ValueError(f"{name} is streamed from disk: resize must be one int (the side), got {resize!r}")
    opts = raw.meta["stream"]
    size = resize or opts["image_size"]
    short_side = opts["resize_size"] if resize is None else round(resize * opts["resize_size"] / opts["image_size"])
    mean = IMAGENET_MEAN if mean is None else ((mean,) * 3 if isinstance(mean, (int, float)) else tuple(mean))
    std = IMAGENET_STD if std is None else ((std,) * 3 if isinstance(std, (int, float)) else tuple(std))

    def pick(idx: torch.Tensor, size_: int | float | None, stream: str) -> torch.Tensor:
        return idx if size_ is None else idx[subset(len(idx), count(size_, len(idx), stream), seeded(seed, stream))]

    n_train = len(raw.y_train)
    k_val = count(val_size, n_train, "val_size")
    train_idx, val_idx = holdout(n_train, k_val, how=val_from, generator=seeded(seed, "val"))
    train_idx = pick(train_idx, train_subset, "train_subset")
    test_idx = pick(torch.arange(len(raw.y_test)), test_subset, "test_subset")
    device = torch.device(device)
    common = dict(size=size, resize=short_side, mean=mean, std=std, device=device, workers=opts["workers"], hint=hint)
    splits = []
    for files, y, idx, train in ((raw.x_train, raw.y_train, train_idx, True), (raw.x_train, raw.y_train, val_idx, False),
                                 (raw.x_test, raw.y_test, test_idx, False)):
        paths = [files.paths[i] for i in idx.tolist()]
        splits.append((StreamedImages(paths, train=train, seed=seed, **common), y[idx].to(device)))
    meta = {**raw.meta, "dataset": name, "kind": "image", "files": list(raw.files),
            "normalization": {"mode": "mean-std", "mean": list(mean), "std": list(std)},
            "resize": size, "val_size": k_val, "val_from": val_from, "train_subset": train_subset,
            "test_subset": test_subset, "seed": seed, "device": str(device),
            "sizes": {s: len(y) for s, (_, y) in zip(("train", "val", "test"), splits)},
            "released_sizes": {"train": n_train, "test": len(raw.y_test)}, "cache": None}
    (xt, yt), (xv, yv), (xs, ys) = splits
    return TensorData(name, xt, yt, xv, yv, xs, ys, len(raw.classes), (3, size, size), list(raw.classes), meta)

