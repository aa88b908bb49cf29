"""MobileNetV2 (Sandler et al. 2018): the CIFAR-10 variant the PAU paper trained, and the ImageNet layout.

Both are stacks of inverted residual blocks ``[1x1 expand -> BN -> act] -> 3x3 depthwise
-> BN -> act -> 1x1 project -> BN`` with the block table ``(t, c, n, s)`` = expansion,
output channels, repeats, stride of the first repeat. One activation unit per
activation layer: ``act`` may be one spec for all, or a list with one per layer.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch
from torch import Tensor, nn

from adaptact.models.layers import ActSpec, conv_act, per_layer

__all__ = ["CIFAR_BLOCKS", "IMAGENET_BLOCKS", "InvertedResidual", "MobileNetV2", "make_divisible"]

#: (expansion t, channels c, repeats n, stride s); CIFAR: stride 1 in the second row (and a stride-1 stem)
CIFAR_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))
IMAGENET_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                   (6, 320, 1, 1))


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor``, never more than 10 % below it (the
    width rule of the MobileNet papers' code)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class InvertedResidual(nn.Module):
    """One inverted residual block; ``acts`` yields the specs of its activation layers in order.

    Args:
        expand_always: build the 1x1 expansion convolution even when ``expansion == 1`` (the CIFAR
            reference implementation does; the ImageNet layout leaves it out).
        project_shortcut: every stride-1 block is residual, with a 1x1 convolution + BN on the shortcut
            when the channel count changes (CIFAR reference); otherwise only stride-1 blocks that keep
            the channel count are residual (ImageNet layout).
    """

    def __init__(self, cin: int, cout: int, expansion: int, stride: int, acts: Iterator[ActSpec],
                 act_options: dict[str, Any] | None, *, expand_always: bool, project_shortcut: bool) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expand_always or expansion != 1:
            layers += conv_act(cin, hidden, 1, next(acts), act_options, batch_norm=True, bias=False)
        layers += conv_act(hidden, hidden, 3, next(acts), act_options, stride=stride, padding=1, groups=hidden,
                           batch_norm=True, bias=False)
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and (project_shortcut or cin == cout)
        self.shortcut: nn.Module = nn.Identity()
        if self.residual and cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        return out + self.shortcut(x) if self.residual else out


class MobileNetV2(nn.Module):
    """MobileNetV2 for CIFAR-10 (``variant="cifar"``) or ImageNet (``variant="imagenet"``).

    - ``cifar`` (the PAU paper's reference implementation, App. A.4.2): stride-1 3x3 stem with 32
      channels, :data:`CIFAR_BLOCKS`, every block with its expansion convolution and a residual
      connection when its stride is 1 (1x1 projection when the width changes), 1x1 convolution to
      1280, global average pool, linear. 2,296,922 parameters for 3 channels and 10 classes;
      36 activation layers (+360 parameters with PAU); with Maxout every convolution before an
      activation is twice as wide (3,524,506). ``width_divisor`` divides every width (quick profiles).
    - ``imagenet`` (Sandler et al.; the layout of PyTorch's reference model): stride-2 stem,
      :data:`IMAGENET_BLOCKS`, no expansion convolution in the first block, residual only where
      stride 1 keeps the width, 1x1 convolution to 1280, dropout 0.2, linear; widths times
      ``width_mult`` rounded by :func:`make_divisible`. 3,504,872 parameters for 1000 classes;
      35 activation layers. Initialisation as the reference: convolutions Kaiming normal (fan out),
      linear N(0, 0.01).
    """

    def __init__(
        self,
        act: ActSpec | Sequence[ActSpec] = "relu",
        num_classes: int = 10,
        in_channels: int = 3,
        variant: str = "cifar",
        width_divisor: int = 1,
        width_mult: float = 1.0,
        dropout: float | None = None,
        act_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if variant not in ("cifar", "imagenet"):
            raise ValueError(f"variant must be 'cifar' or 'imagenet', got {variant!r}")
        cifar = variant == "cifar"
        if cifar and width_mult != 1.0:
            raise ValueError("width_mult belongs to the imagenet variant; the cifar variant takes width_divisor")
        if not cifar and width_divisor != 1:
            raise ValueError("width_divisor belongs to the cifar variant; the imagenet variant takes width_mult")
        blocks = CIFAR_BLOCKS if cifar else IMAGENET_BLOCKS

        def width(c: int) -> int:
            return max(1, c // width_divisor) if cifar else make_divisible(c * width_mult)

        count = self.activation_layers(variant)
        acts = iter(per_layer(act, count))
        o = act_options
        stem, last = width(32), (width(1280) if cifar else make_divisible(1280 * max(1.0, width_mult)))
        layers: list[nn.Module] = conv_act(in_channels, stem, 3, next(acts), o, stride=1 if cifar else 2, padding=1,
                                           batch_norm=True, bias=False)
        cin = stem
        for t, c, n, s in blocks:
            for i in range(n):
                layers.append(InvertedResidual(cin, width(c), t, s if i == 0 else 1, acts, o,
                                               expand_always=cifar, project_shortcut=cifar))
                cin = width(c)
        layers += conv_act(cin, last, 1, next(acts), o, batch_norm=True, bias=False)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        p = (0.0 if cifar else 0.2) if dropout is None else dropout
        self.classifier = nn.Sequential(*([nn.Dropout(p)] if p > 0 else []), nn.Linear(last, num_classes))
        if not cifar:
            self._init_reference()

    @staticmethod
    def activation_layers(variant: str) -> int:
        """How many activation layers the variant has (36 for cifar, 35 for imagenet)."""
        blocks = CIFAR_BLOCKS if variant == "cifar" else IMAGENET_BLOCKS
        per_block = sum(n * (2 if (variant == "cifar" or t != 1) else 1) for t, _, n, _ in blocks)
        return 2 + per_block

    @torch.no_grad()
    def _init_reference(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
