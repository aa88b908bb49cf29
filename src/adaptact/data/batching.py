"""Mini-batches as index tensors, for a training loop that indexes data already on the device."""
from __future__ import annotations

from typing import Iterator

import torch

__all__ = ["Batches", "batches"]


class Batches:
    """An iterable of ``int64`` index tensors covering ``range(n)`` in batches; ``len()`` is the batch count.

    Each pass over it with ``shuffle=True`` draws a fresh permutation from the generator,
    so epoch ``e`` of two runs with equally seeded generators sees the same batches.
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None,
                 drop_last: bool, device: torch.device | str | None):
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if shuffle and generator is None:
            raise ValueError("shuffle=True needs generator= (a seeded torch.Generator) so that runs repeat")
        self.n, self.batch_size, self.shuffle, self.drop_last = n, batch_size, shuffle, drop_last
        self.generator = generator
        self.device = torch.device(device) if device is not None else (generator.device if generator else None)

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator, device=self.generator.device)
        else:
            order = torch.arange(self.n, device=self.generator.device if self.generator else None)
        if self.device is not None:
            order = order.to(self.device)
        for i in range(len(self)):
            yield order[i * self.batch_size:(i + 1) * self.batch_size]


def batches(
    n: int,
    batch_size: int,
    *,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    device: torch.device | str | None = None,
) -> Batches:
    """Batches of indices into ``range(n)``: shuffled with ``generator`` or in order; the last one may be short.

    Args:
        n: number of examples.
        batch_size: indices per batch.
        shuffle: draw a new permutation from ``generator`` on every pass (required then).
        generator: a seeded ``torch.Generator``; its device is where the permutation is drawn.
        drop_last: leave out a last batch shorter than ``batch_size``.
        device: where the index tensors live (default: the generator's device, else CPU);
            use the data's device so indexing needs no transfer.
    """
    return Batches(n, batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last, device=device)
