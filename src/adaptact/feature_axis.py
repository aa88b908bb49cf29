"""Which axis of a layer's output holds its features, and how many there are.

A per-channel unit needs the axis of its input that holds the channels: dim 1
after convolutions and batch norms (``(N, C, *)``), the last dim after
Linear-like layers and layer norms (``(..., D)``: transformers, MLPs on
sequences). :func:`layer_features` answers for one layer;
:func:`producer_features` for the layer that feeds an activation, as far as
the model's structure tells without running it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.instancenorm import _InstanceNorm

__all__ = ["FIRST", "LAST", "Features", "layer_features", "producer_features"]

#: the channel axis of ``(N, C, *)`` outputs
FIRST = 1
#: the feature axis of ``(..., D)`` outputs
LAST = -1

#: class-name endings of Linear-like layers of other libraries (HF ``Conv1D`` is a transposed Linear)
_LAST_AXIS_NAMES = ("Linear", "Conv1D", "LayerNorm", "RMSNorm")


@dataclass(frozen=True)
class Features:
    """The feature axis of a layer's output and the feature count (None when the layer does not tell)."""

    channel_dim: int
    count: Optional[int]


def layer_features(m: nn.Module) -> Optional[Features]:
    """The output features of layer ``m``, or None when ``m`` is not a layer with a known layout."""
    if isinstance(m, _ConvNd):
        return Features(FIRST, m.out_channels)
    if isinstance(m, (_BatchNorm, _InstanceNorm)):
        return Features(FIRST, m.num_features)
    if isinstance(m, nn.GroupNorm):
        return Features(FIRST, m.num_channels)
    if isinstance(m, nn.Linear):
        return Features(LAST, m.out_features)
    if isinstance(m, (nn.LayerNorm, nn.RMSNorm)):
        shape = m.normalized_shape
        return Features(LAST, shape[-1] if shape else None)
    if isinstance(m, nn.Embedding):
        return Features(LAST, m.embedding_dim)
    if any(type(m).__name__.endswith(end) for end in _LAST_AXIS_NAMES):
        weight = getattr(m, "weight", None)
        count = None
        if type(m).__name__.endswith("Conv1D") and weight is not None and weight.dim() == 2:
            count = int(weight.shape[1])  # HF Conv1D: weight (in, out)
        elif type(m).__name__.endswith("Linear"):
            count = getattr(m, "out_features", None)
        return Features(LAST, count)
    return None


def _last_layer(m: nn.Module) -> Optional[Features]:
    """The features of the last layer with a known layout inside ``m`` (``m`` itself first), in registration order."""
    own = layer_features(m)
    if own is not None:
        return own
    found = None
    for child in m.children():
        inner = _last_layer(child)
        if inner is not None:
            found = inner
    return found


def producer_features(parent: nn.Module, slot: str) -> Optional[Features]:
    """The features of the input of ``parent.<slot>`` (an activation), from the model's structure alone.

    - In an ``nn.Sequential``, the nearest earlier item with a known layout feeds it:
      its axis and its feature count.
    - Elsewhere, the layers registered beside it in ``parent`` decide the axis when
      they all agree (all Linear-like: last; all conv/norm: dim 1); the count is not
      known (which sibling feeds the activation is in ``forward``).
    - None: the structure does not decide (no sibling layers, or both kinds).
    """
    items = list(parent._modules.items())
    if isinstance(parent, nn.Sequential):
        names = [name for name, _ in items]
        for _, earlier in reversed(items[: names.index(slot)]):
            if earlier is None:
                continue
            features = _last_layer(earlier)
            if features is not None:
                return features
        return None
    axes = {f.channel_dim for name, child in items if name != slot and child is not None
            for f in [_last_layer(child)] if f is not None}
    if len(axes) == 1:
        return Features(axes.pop(), None)
    return None
