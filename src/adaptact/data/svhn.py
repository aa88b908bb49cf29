"""SVHN cropped digits (format 2): ``train_32x32.mat``, ``test_32x32.mat`` and optional ``extra_32x32.mat``.

Each MATLAB file (http://ufldl.stanford.edu/housenumbers/) holds ``X``, uint8
``(32, 32, 3, N)``, and ``y``, ``(N, 1)`` with labels 1..10 where 10 means the digit 0.
Read with ``scipy.io.loadmat``; images become ``(N, 3, 32, 32)`` and label 10 becomes 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from adaptact.data.errors import DataError, missing_files
from adaptact.data.paths import find_file
from adaptact.data.record import RawData

__all__ = ["read_svhn", "read_svhn_mat"]


def read_svhn_mat(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 ``(N, 3, 32, 32)`` and labels int64 0..9 from one SVHN ``.mat`` file.

    Raises:
        DataError: unreadable file, missing ``X``/``y``, wrong shapes or labels outside 1..10.
    """
    from scipy.io import loadmat

    path = Path(path)
    try:
        mat = loadmat(path)
    except Exception as e:  # scipy raises several types for damaged files
        raise DataError(f"{path}: cannot read the MATLAB file ({type(e).__name__}: {e})") from e
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: expected variables 'X' and 'y', found {sorted(k for k in mat if k[0] != '_')}")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != len(y):
        raise DataError(f"{path}: expected X of shape (H, W, 3, N) and N labels, got X {x.shape}, {len(y)} labels")
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise DataError(f"{path}: labels must lie in 1..10 (10 = digit 0), got {int(y.min())}..{int(y.max())}")
    images = torch.from_numpy(np.ascontiguousarray(x.astype(np.uint8).transpose(3, 2, 0, 1)))
    return images, torch.from_numpy((y.astype(np.int64) % 10))


def read_svhn(folders: Sequence[Path], *, extra: bool = False) -> RawData:
    """Read SVHN's train and test files (73,257 / 26,032) from the first folder holding them.

    ``extra=True`` appends the 531,131 ``extra_32x32.mat`` digits to the training split.
    """
    paths = {}
    for split in ("train", "test") + (("extra",) if extra else ()):
        name = f"{split}_32x32.mat"
        paths[split] = find_file(folders, [name])
        if paths[split] is None:
            raise missing_files(f"SVHN {split} split", [f / name for f in folders])
    train_x, train_y = read_svhn_mat(paths["train"])
    test_x, test_y = read_svhn_mat(paths["test"])
    if extra:
        extra_x, extra_y = read_svhn_mat(paths["extra"])
        train_x, train_y = torch.cat([train_x, extra_x]), torch.cat([train_y, extra_y])
    return RawData(train_x, train_y, test_x, test_y, [str(d) for d in range(10)],
                   files=[str(p) for p in paths.values()], meta={"order": "file order", "extra": extra})
