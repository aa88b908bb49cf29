"""ImageNet (ILSVRC-2012) in the ImageFolder layout, streamed from disk; and a tiny synthetic copy for smoke runs.

Layout: ``<root>/train/<class>/<image>`` and ``<root>/val/<class>/<image>`` (``test/`` is accepted
for ``val/``), images ``.jpeg``/``.jpg``/``.png`` (any case). The class folders of ``train/``, sorted
by name, are the labels (for ImageNet the WordNet ids ``n01440764`` ...). Nothing is decoded when the
data set is opened: only the files are listed, and :mod:`adaptact.data.streaming` decodes each batch.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from adaptact.data.errors import DataError
from adaptact.data.paths import cache_root
from adaptact.data.record import RawData
from adaptact.data.streaming import ImageFiles

__all__ = ["IMAGE_SUFFIXES", "read_image_stream", "read_imagenet", "read_imagenet_synthetic",
           "write_synthetic_image_folders"]

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
EVAL_FOLDERS = ("val", "test")


def _split_files(folder: Path, classes: Sequence[str] | None) -> tuple[list[str], list[int], list[str]]:
    """(paths, labels, class names) of one split; classes default to the sorted folder names."""
    dirs = sorted(d.name for d in os.scandir(folder) if d.is_dir() and not d.name.startswith("."))
    names = list(classes) if classes is not None else dirs
    index = {c: i for i, c in enumerate(names)}
    unknown = sorted(set(dirs) - set(index))
    if unknown:
        raise DataError(f"{folder}: class folder(s) {unknown[:5]} are not among the {len(names)} training classes")
    paths, labels = [], []
    for d in dirs:
        files = sorted(e.name for e in os.scandir(folder / d)
                       if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES) and not e.name.startswith("."))
        paths += [str(folder / d / f) for f in files]
        labels += [index[d]] * len(files)
    if not paths:
        raise DataError(f"{folder}: no images found under <class>/ (suffixes {', '.join(IMAGE_SUFFIXES)})")
    return paths, labels, names


def read_image_stream(root: Path, *, image_size: int = 224, resize_size: int = 256, workers: int = 8) -> RawData:
    """List ``root/train/<class>/*`` and ``root/val/<class>/*`` (or ``test/``) for streaming.

    Raises:
        DataError: a split folder missing, an empty split, or an evaluation class not among the
            training classes; the message names the folder.
    """
    root = Path(root)
    if not (root / "train").is_dir():
        raise DataError(f"{root / 'train'}: no such folder (expected train/<class>/<image>)")
    evaluation = next((root / f for f in EVAL_FOLDERS if (root / f).is_dir()), None)
    if evaluation is None:
        raise DataError(f"{root / 'val'}: no such folder (expected val/<class>/<image>, or test/)")
    train_paths, train_labels, classes = _split_files(root / "train", None)
    test_paths, test_labels, _ = _split_files(evaluation, classes)
    meta = {"layout": "image folders, streamed", "root": str(root), "eval_folder": evaluation.name,
            "stream": {"image_size": image_size, "resize_size": resize_size, "workers": workers}}
    return RawData(ImageFiles(tuple(train_paths)), torch.tensor(train_labels, dtype=torch.int64),
                   ImageFiles(tuple(test_paths)), torch.tensor(test_labels, dtype=torch.int64), classes,
                   kind="stream", files=[str(root)], meta=meta, scale=None)


def read_imagenet(folders: Sequence[Path], *, image_size: int = 224, resize_size: int = 256,
                  workers: int = 8) -> RawData:
    """ImageNet from the first of ``folders`` holding ``train/`` (see the module docstring)."""
    for folder in folders:
        if (folder / "train").is_dir():
            return read_image_stream(folder, image_size=image_size, resize_size=resize_size, workers=workers)
    looked = "\n".join(f"  {f / 'train'}" for f in folders)
    raise DataError(f"no ImageNet training folder; looked for\n{looked}\n(expected DATA_DIR/imagenet/train/<class>/"
                    "<image> and DATA_DIR/imagenet/val/<class>/<image>)")


def write_synthetic_image_folders(root: Path, classes: int = 8, per_class: int = 4, eval_per_class: int = 2,
                                  seed: int = 0) -> Path:
    """Write a tiny ImageNet-layout copy: ``train/`` and ``val/`` with JPEGs of varied sizes (48-96 px,
    not square), each class a distinct colour with noise (learnable). Returns ``root``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("val", eval_per_class)):
        for c in range(classes):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            colour = np.array([(c * 67) % 256, (c * 131 + 60) % 256, (c * 197 + 120) % 256])
            for i in range(n):
                h, w = int(rng.integers(48, 97)), int(rng.integers(48, 97))
                pixels = np.clip(colour + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{split}_{c}_{i:04d}.JPEG", quality=90)
    return root


def read_imagenet_synthetic(*, classes: int = 8, per_class: int = 4, eval_per_class: int = 2,
                            image_size: int = 224, resize_size: int = 256, workers: int = 2,
                            cache_dir: str | Path | None | bool = None) -> RawData:
    """A synthetic ImageNet-layout folder (written once into the cache folder, or the temporary folder when
    ``cache_dir=False``), streamed like ImageNet: the smoke run of ``pau-imagenet``'s quick profile."""
    base = Path(tempfile.gettempdir()) / "adaptact" if cache_dir is False else cache_root(cache_dir)
    root = base / f"imagenet-synthetic-{classes}x{per_class}+{eval_per_class}"
    if not (root / "val").is_dir():
        tmp = root.with_name(root.name + f".tmp{os.getpid()}")
        write_synthetic_image_folders(tmp, classes, per_class, eval_per_class)
        try:
            tmp.rename(root)
        except OSError:  # another process wrote it first
            shutil.rmtree(tmp, ignore_errors=True)
    return read_image_stream(root, image_size=image_size, resize_size=resize_size, workers=workers)
