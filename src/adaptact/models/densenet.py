"""DenseNet for CIFAR (Huang et al. 2017): DenseNet121 as the PAU paper trained it.

The CIFAR variant of the reference implementations: a 3x3 stem with ``2 x growth``
channels, dense blocks of pre-activation bottleneck layers ``BN -> act -> 1x1 (4 x growth)
-> BN -> act -> 3x3 (growth)`` whose outputs are concatenated to their inputs, transitions
``BN -> act -> 1x1 (x reduction) -> 2x2 average pool`` between the blocks, and ``BN -> act
-> global average pool -> linear`` at the end. DenseNet121 (blocks 6, 12, 24, 16, growth 32,
reduction 0.5) has 2 x 58 + 3 + 1 = 120 activation layers, each with its own unit.

Maxout is not offered: in the pre-activation order the layer before an activation is a
batch norm, not a layer that can be widened, and the paper gives no Maxout DenseNet121
(no parameter count; its Table 3 prints "***" in two Maxout cells).
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import torch
from torch import Tensor, nn

from adaptact.models.layers import ActSpec, activation, depth_entry, per_layer, widen

__all__ = ["BLOCKS", "DenseNet", "DenseLayer"]

#: layers per dense block
BLOCKS = {"densenet121": (6, 12, 24, 16), "densenet169": (6, 12, 32, 32), "densenet201": (6, 12, 48, 32)}


def _norm_act(channels: int, acts: Iterator[ActSpec], act_options: dict[str, Any] | None) -> list[nn.Module]:
    """``BN -> act`` over ``channels`` (the pre-activation order)."""
    spec = next(acts)
    if widen(spec, act_options) > 1:
        raise ValueError("DenseNet cannot use Maxout: the layer before each activation is a batch norm")
    return [nn.BatchNorm2d(channels), activation(spec, channels, act_options)]


class DenseLayer(nn.Module):
    """``x -> cat([BN -> act -> 1x1 (4 growth) -> BN -> act -> 3x3 (growth)](x), x)``."""

    def __init__(self, cin: int, growth: int, acts: Iterator[ActSpec], act_options: dict[str, Any] | None) -> None:
        super().__init__()
        inner = 4 * growth
        self.body = nn.Sequential(
            *_norm_act(cin, acts, act_options), nn.Conv2d(cin, inner, 1, bias=False),
            *_norm_act(inner, acts, act_options), nn.Conv2d(inner, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.body(x), x], 1)


class DenseNet(nn.Module):
    """DenseNet-BC for 32x32 inputs (``depth`` 121, 169 or 201; the PAU paper uses 121).

    DenseNet121 has 6,956,298 parameters for 3 channels and 10 classes (as the paper states) and 120
    activation layers (+1,200 parameters with PAU). ``act`` is one spec for all layers or a list with
    one per layer. ``width_divisor`` divides the growth rate (tests, quick profiles).
    """

    required_size = 32

    def __init__(
        self,
        act: ActSpec | Sequence[ActSpec] = "relu",
        num_classes: int = 10,
        in_channels: int = 3,
        depth: int = 121,
        growth: int = 32,
        reduction: float = 0.5,
        width_divisor: int = 1,
        act_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        blocks = depth_entry(BLOCKS, "densenet", depth)
        if not 0 < reduction <= 1:
            raise ValueError(f"reduction must be in (0, 1], got {reduction}")
        growth = max(1, growth // width_divisor)
        acts = iter(per_layer(act, self.activation_layers(depth)))
        o = act_options
        channels = 2 * growth
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)]
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(channels, growth, acts, o))
                channels += growth
            if i < len(blocks) - 1:
                out = int(math.floor(channels * reduction))
                layers += [*_norm_act(channels, acts, o), nn.Conv2d(channels, out, 1, bias=False), nn.AvgPool2d(2)]
                channels = out
        layers += [*_norm_act(channels, acts, o), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    @staticmethod
    def activation_layers(depth: int) -> int:
        """2 per dense layer, 1 per transition, 1 at the end: 120 for DenseNet121."""
        blocks = depth_entry(BLOCKS, "densenet", depth)
        return 2 * sum(blocks) + len(blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
