"""Canonical views of an activation's input: any memory format, any channel axis, no copies.

Every unit computes on a tensor whose channel axis (if it has one) is dim 1. An
input with its features last (``(B, T, D)`` from a Linear layer), or a
``channels_last`` image batch, is brought to that form as a *view* wherever the
strides allow:

1. the dims are permuted into the order of the input's strides (largest first),
   which is a contiguous view of the same storage for every dense tensor
   (standard contiguous, ``channels_last``, ``channels_last_3d``, transposed);
2. with a channel axis ``c`` at position ``p`` of that order, the view is
   reshaped to ``(outer, C, inner)`` with ``outer`` the product of the dims
   before ``p`` and ``inner`` of those after it; still a view.

The result is computed on that view and mapped back by the inverse steps, so
the output is contiguous in the input's own memory format (like ``nn.GELU``).
An input that is not dense (a slice with gaps) is made contiguous first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from torch import Tensor

__all__ = ["CanonicalView", "canonical_view", "check_channel_dim", "resolve_channel_dim"]


def check_channel_dim(channel_dim: object) -> int:
    """Validate the ``channel_dim`` option: an int (negative counts from the last dim)."""
    if isinstance(channel_dim, bool) or not isinstance(channel_dim, int):
        raise ValueError(f"channel_dim must be an int (1 for (N, C, *) layouts, -1 for features last), "
                         f"got {channel_dim!r}")
    return channel_dim


def resolve_channel_dim(channel_dim: int, shape: tuple[int, ...], owner: str) -> int:
    """``channel_dim`` as a non-negative index into ``shape``; a clear error when it is out of range."""
    ndim = len(shape)
    if not -ndim <= channel_dim < ndim or ndim < 1:
        raise ValueError(
            f"{owner}: channel_dim={channel_dim} is out of range for an input of shape {tuple(shape)} "
            f"({ndim} dims); set channel_dim to the axis that holds the channels/features"
        )
    return channel_dim % ndim


@dataclass(frozen=True)
class CanonicalView:
    """How an input was viewed, to map the result back (see the module docstring)."""

    order: Optional[tuple[int, ...]]
    permuted_shape: tuple[int, ...]

    def restore(self, y: Tensor) -> Tensor:
        """The result computed on the canonical view, in the input's shape and memory format."""
        y = y.contiguous().reshape(self.permuted_shape)
        if self.order is None:
            return y
        inverse = [0] * len(self.order)
        for position, dim in enumerate(self.order):
            inverse[dim] = position
        return y.permute(inverse)


def _stride_order(x: Tensor) -> Optional[tuple[int, ...]]:
    """The permutation that makes a dense ``x`` contiguous, or None when ``x`` is contiguous or not dense."""
    if x.is_contiguous():
        return None
    order = tuple(sorted(range(x.dim()), key=lambda d: (-x.stride(d), -x.shape[d])))
    if x.permute(order).is_contiguous():
        return order
    return None


def canonical_view(x: Tensor, channel_dim: Optional[int], owner: str = "unit") -> tuple[Tensor, CanonicalView]:
    """A view of ``x`` with its channel axis at dim 1 (``channel_dim=None``: any shape), and how to map back.

    Args:
        x: the input, any shape, any memory format.
        channel_dim: the axis of ``x`` holding the channels, or ``None`` for a
            unit with one parameter set (then only the memory format is handled).
        owner: names the unit in errors.

    Returns:
        ``(view, how)``: ``view`` is contiguous, of shape ``(outer, C, inner)``
        when ``channel_dim`` is given; ``how.restore(y)`` maps a result back.
    """
    if channel_dim is not None:
        channel_dim = resolve_channel_dim(channel_dim, tuple(x.shape), owner)
    order = _stride_order(x)
    if order is None and not x.is_contiguous():
        x = x.contiguous()
    xp = x if order is None else x.permute(order)
    how = CanonicalView(order, tuple(xp.shape))
    if channel_dim is None:
        return xp, how
    position = channel_dim if order is None else order.index(channel_dim)
    if position == 1 and xp.dim() >= 2:
        return xp, how
    shape = tuple(xp.shape)
    outer, inner = math.prod(shape[:position]), math.prod(shape[position + 1:])
    return xp.reshape(outer, shape[position], inner), how
