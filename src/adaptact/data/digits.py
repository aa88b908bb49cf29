"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, values 0..16): the data set that needs no files."""
from __future__ import annotations

import numpy as np
import torch

from adaptact.data.record import RawData

__all__ = ["read_digits"]


def read_digits(*, test_fraction: float = 0.25, split_seed: int = 0) -> RawData:
    """Digits as uint8 images ``(N, 1, 8, 8)`` (0..16, so ``scale`` 16) with a stratified train/test split.

    The split is ``sklearn.model_selection.train_test_split(test_size=test_fraction,
    stratify=labels, random_state=split_seed)``: 1,347 / 450 images with the defaults.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    x, y = load_digits(return_X_y=True)
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=y,
                                           random_state=split_seed)
    images = torch.from_numpy(x.astype(np.uint8).reshape(-1, 1, 8, 8))
    labels = torch.from_numpy(y.astype(np.int64))
    tr, te = torch.from_numpy(np.sort(idx_train)), torch.from_numpy(np.sort(idx_test))
    return RawData(images[tr], labels[tr], images[te], labels[te], [str(d) for d in range(10)],
                   files=["sklearn.datasets.load_digits"], scale=16.0,
                   meta={"test_fraction": test_fraction, "split_seed": split_seed, "order": "bundled order"})
