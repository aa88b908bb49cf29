"""Index arithmetic for splits: hold-out, subsets, k-fold, class interleaving. All seeded, all on CPU.

Every function returns sorted ``int64`` index tensors (so selected examples keep
their original relative order) and draws its randomness from a
``torch.Generator`` seeded by the caller, so a seed always gives the same split.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

__all__ = ["count", "holdout", "interleave_classes", "kfold", "seeded", "subset", "take"]

# distinct random streams derived from one seed, so that e.g. asking for a validation
# split does not change which training subset is drawn
STREAMS = {"val": 1, "train_subset": 2, "test_subset": 3, "split": 4, "folds": 5, "teacher": 6}


def seeded(seed: int, stream: str) -> torch.Generator:
    """A CPU generator for ``stream`` (one of :data:`STREAMS`) seeded from ``seed``."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + STREAMS[stream])


def count(size: int | float | None, n: int, what: str) -> int:
    """Resolve ``size`` (``None``/0, an int count, or a float fraction in [0, 1]) against ``n`` items."""
    if size is None:
        return 0
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise ValueError(f"{what} must be an int count or a float fraction, got {size!r}")
    if isinstance(size, float):
        if not 0.0 <= size <= 1.0:
            raise ValueError(f"{what} as a fraction must lie in [0, 1], got {size}")
        return int(round(size * n))
    if not 0 <= size <= n:
        raise ValueError(f"{what} must lie in [0, {n}] (the number available), got {size}")
    return size


def holdout(n: int, k: int, *, how: str = "front", generator: torch.Generator | None = None):
    """Split ``range(n)`` into ``(rest, held)``, holding out the first ``k`` (``"front"``), the last ``k``
    (``"back"``, the Theano tutorial's MNIST validation set) or a seeded random ``k``."""
    if how == "front":
        idx = torch.arange(n)
    elif how == "back":
        idx = torch.arange(n).flip(0)
    elif how == "random":
        if generator is None:
            raise ValueError("a random hold-out needs a torch.Generator")
        idx = torch.randperm(n, generator=generator)
    else:
        raise ValueError(f"how must be 'front', 'back' or 'random', got {how!r}")
    return idx[k:].sort().values, idx[:k].sort().values


def subset(n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """A seeded random ``k`` of ``range(n)``, sorted."""
    return torch.randperm(n, generator=generator)[:k].sort().values


def kfold(labels: torch.Tensor, folds: int, fold: int, generator: torch.Generator):
    """Stratified k-fold: ``(train, test)`` indices with fold ``fold`` as the test part.

    Each class's examples are shuffled with ``generator``, the shuffled classes are
    concatenated and dealt round-robin into ``folds`` folds, so fold sizes differ by
    at most one and every fold has each class in proportion. The folds partition
    ``range(len(labels))``.
    """
    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an int >= 2, got {folds!r}")
    if not isinstance(fold, int) or not 0 <= fold < folds:
        raise ValueError(f"fold must be an int in [0, {folds}), got {fold!r}")
    order = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        order.append(members[torch.randperm(len(members), generator=generator)])
    order = torch.cat(order)
    assignment = torch.empty_like(order)
    assignment[order] = torch.arange(len(order)) % folds
    return torch.nonzero(assignment != fold).flatten(), torch.nonzero(assignment == fold).flatten()


def interleave_classes(labels: torch.Tensor) -> torch.Tensor:
    """A permutation taking class-grouped data to round-robin class order (c0, c1, ..., c0, c1, ...).

    Within a class the original order is kept: the i-th example of every class
    comes before the (i+1)-th of any. Used for sources whose files are grouped by
    class (image folders, one text file per class) so that a front slice (e.g. a
    validation split taken "from the front") has every class.
    """
    rank = torch.zeros_like(labels)
    for c in torch.unique(labels).tolist():
        members = labels == c
        rank[members] = torch.arange(int(members.sum()))
    return torch.argsort(rank * (int(labels.max()) + 1) + labels, stable=True)


def take(x: Any, idx: torch.Tensor) -> Any:
    """``x[idx]`` for a tensor (``x`` itself if ``idx`` is ``0..len(x)-1``), or ``[x[i] for i in idx]`` for a list."""
    if isinstance(x, torch.Tensor):
        if len(idx) == len(x) and torch.equal(idx, torch.arange(len(x))):
            return x  # no copy of a whole split
        return x[idx]
    if isinstance(x, Sequence):
        return [x[i] for i in idx.tolist()]
    raise TypeError(f"cannot index {type(x).__name__}")
