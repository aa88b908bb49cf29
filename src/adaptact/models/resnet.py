"""Bottleneck ResNets for CIFAR (He et al. 2016): ResNet101 as the PAU paper trained it.

The CIFAR variant of the reference implementations: a 3x3 stride-1 stem with 64 channels
(no max-pool), four stages of bottleneck blocks ``1x1 -> BN -> act -> 3x3 -> BN -> act ->
1x1 (4x) -> BN``, added to the shortcut, then an activation; stage widths 64, 128, 256,
512, strides 1, 2, 2, 2; global average pool and a linear layer. Every activation layer
gets its own unit (a block has three), so ResNet101 has 1 + 33 x 3 = 100.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

from torch import Tensor, nn

from adaptact.models.layers import ActSpec, activation, conv_act, depth_entry, per_layer, widen

__all__ = ["Bottleneck", "ResNet", "STAGES"]

#: blocks per stage
STAGES = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3)}
EXPANSION = 4


class Bottleneck(nn.Module):
    """``x -> [1x1 -> BN -> act] -> [3x3 (stride) -> BN -> act] -> 1x1 (4 x planes) -> BN -> (+ shortcut) -> act``.

    The shortcut is the identity, or ``1x1 conv (stride) -> BN`` when the stride or the width changes.
    ``acts`` yields the specs of the block's three activation layers in order.

    Maxout (the PAU paper's 75,454,090 parameters; the placement is inferred from that count, which
    it matches exactly, and is the only one among the placements we tried that does): every
    convolution followed by an activation is ``k`` times wider and its BN normalises the wide
    channels (``conv(k C) -> BN(k C) -> Maxout``), and so are the projection shortcuts
    (``conv(k 4p) -> BN(k 4p) -> Maxout``); the activation after the sum has no layer of its own
    to widen, so with Maxout there is none (an identity).
    """

    def __init__(self, cin: int, planes: int, stride: int, acts: Iterator[ActSpec],
                 act_options: dict[str, Any] | None) -> None:
        super().__init__()
        o = act_options
        cout = EXPANSION * planes
        self.body = nn.Sequential(
            *conv_act(cin, planes, 1, next(acts), o, batch_norm=True, bias=False, wide_norm=True),
            *conv_act(planes, planes, 3, next(acts), o, stride=stride, padding=1, batch_norm=True, bias=False,
                      wide_norm=True),
            nn.Conv2d(planes, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        last = next(acts)
        maxout = widen(last, o) > 1
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            if maxout:
                self.shortcut = nn.Sequential(*conv_act(cin, cout, 1, last, o, stride=stride, batch_norm=True,
                                                        bias=False, wide_norm=True))
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(cout))
        self.act = nn.Identity() if maxout else activation(last, cout, o)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """Bottleneck ResNet for 32x32 inputs (``depth`` 50, 101 or 152; the PAU paper uses 101).

    ResNet101 has 42,512,970 parameters for 3 channels and 10 classes (as the paper states) and 100
    activation layers (+1,000 parameters with PAU); with Maxout 75,454,090 (see :class:`Bottleneck`). ``act`` is one spec for all layers or a list
    with one per layer. ``width_divisor`` divides every width (tests, quick profiles).
    """

    required_size = 32

    def __init__(
        self,
        act: ActSpec | Sequence[ActSpec] = "relu",
        num_classes: int = 10,
        in_channels: int = 3,
        depth: int = 101,
        width_divisor: int = 1,
        act_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        stages = depth_entry(STAGES, "resnet", depth)
        acts = iter(per_layer(act, self.activation_layers(depth)))
        o = act_options
        stem = max(1, 64 // width_divisor)
        layers: list[nn.Module] = conv_act(in_channels, stem, 3, next(acts), o, padding=1, batch_norm=True,
                                           bias=False, wide_norm=True)
        cin = stem
        for i, blocks in enumerate(stages):
            planes = max(1, (64 << i) // width_divisor)
            for j in range(blocks):
                layers.append(Bottleneck(cin, planes, 2 if (i > 0 and j == 0) else 1, acts, o))
                cin = EXPANSION * planes
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(cin, num_classes)

    @staticmethod
    def activation_layers(depth: int) -> int:
        """1 (stem) + 3 per bottleneck block: 100 for ResNet101."""
        return 1 + 3 * sum(depth_entry(STAGES, "resnet", depth))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
