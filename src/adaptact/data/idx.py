"""IDX files (MNIST, Fashion-MNIST), gzipped or not, and the MNIST-style data set made of four of them.

IDX format (LeCun): two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, each dimension as
a big-endian uint32, then the values big-endian in C order. A gzip stream is
recognised by its magic bytes, not by the file name.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from adaptact.data.errors import DataError, missing_files
from adaptact.data.paths import find_file
from adaptact.data.record import RawData

__all__ = ["FASHION_CLASSES", "read_idx", "read_mnist_like"]

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: damaged gzip stream ({e})") from e


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzipped or raw), in native byte order.

    Args:
        path: the file.
        ndim: the number of dimensions it must have (3 for images, 1 for labels), or ``None``.

    Raises:
        DataError: bad magic number, unknown type code, wrong number of dimensions, or a
            size that does not match the header (truncated or padded file); the message names the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (magic number {data[:4].hex() or 'missing'})")
    dims = data[3]
    if ndim is not None and dims != ndim:
        raise DataError(f"{path}: IDX file has {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(f"{path}: IDX header truncated")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=dims, offset=4))
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(f"{path}: IDX size mismatch: header {shape} needs {expected} bytes, file has {len(data)}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folders: Sequence[Path], stem: str) -> Path:
    names = [stem + ".gz", stem, stem.replace("-idx", ".idx")]  # the last: some mirrors' spelling
    path = find_file(folders, names)
    if path is None:
        raise missing_files(stem, [f / n for f in folders for n in names[:2]])
    return path


def read_mnist_like(folders: Sequence[Path], classes: list[str]) -> RawData:
    """Read the four standard IDX files of MNIST or Fashion-MNIST from the first folder that has them.

    Looks for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each with or without ``.gz``),
    checks that images are ``(N, H, W)`` uint8 and that image and label counts agree, and
    returns images as uint8 ``(N, 1, H, W)`` in file order (60,000 train, 10,000 test).
    """
    out, files = {}, []
    for split, (images_stem, labels_stem) in MNIST_FILES.items():
        images_path, labels_path = _find(folders, images_stem), _find(folders, labels_stem)
        images, labels = read_idx(images_path, ndim=3), read_idx(labels_path, ndim=1)
        if images.dtype != np.uint8:
            raise DataError(f"{images_path}: expected uint8 pixels, got {images.dtype}")
        if len(images) != len(labels):
            raise DataError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
        if len(labels) and int(labels.max()) >= len(classes):
            raise DataError(f"{labels_path}: label {int(labels.max())} out of range 0..{len(classes) - 1}")
        out[split] = (torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))
        files += [str(images_path), str(labels_path)]
    return RawData(out["train"][0], out["train"][1], out["test"][0], out["test"][1], list(classes),
                   files=files, meta={"order": "file order"})
