"""VGG-8: the PAU paper's MNIST/Fashion-MNIST variant and its CIFAR-10 variant."""
from __future__ import annotations

from typing import Any, Sequence

from torch import Tensor, nn

from adaptact.models.layers import ActSpec, MaxPool2d, conv_act

__all__ = ["VGG8"]

#: blocks of conv widths; a max-pool follows every block
MNIST_BLOCKS = ((64,), (128,), (256, 256), (512, 512), (512, 512))
CIFAR_BLOCKS = ((64,), (128,), (256,), (512,), (512,))


class VGG8(nn.Module):
    """VGG-8 with 3x3 convolutions (padding 1) and 2x2 max-pools, for 32x32 inputs.

    - ``variant="mnist"`` (PAU paper, App. A.3.1): blocks 64 | 128 | 256, 256 | 512, 512 |
      512, 512, one activation per block (none between the two convolutions of a pair),
      no batch norm; 9,224,458 weights for one channel and 10 classes (+5 PAUs = 9,224,508).
    - ``variant="cifar"`` (PAU paper's CIFAR-10 reference): conv -> BN -> act for 64, 128,
      256, 512, 512; 3,918,858 weights for 3 channels and 10 classes; with Maxout every
      convolution is twice as wide (7,829,642).

    ``width_divisor`` shrinks every width (the quick profiles use 4).
    """

    required_size = 32

    def __init__(
        self,
        act: ActSpec = "relu",
        num_classes: int = 10,
        in_channels: int = 1,
        variant: str = "mnist",
        width_divisor: int = 1,
        act_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if variant not in ("mnist", "cifar"):
            raise ValueError(f"variant must be 'mnist' or 'cifar', got {variant!r}")
        blocks: Sequence[Sequence[int]] = MNIST_BLOCKS if variant == "mnist" else CIFAR_BLOCKS
        batch_norm = variant == "cifar"
        layers: list[nn.Module] = []
        cin = in_channels
        for block in blocks:
            widths = [max(1, w // width_divisor) for w in block]
            for w in widths[:-1]:  # inner convolutions of a block: no activation (mnist variant)
                layers.append(nn.Conv2d(cin, w, 3, padding=1))
                cin = w
            layers += conv_act(cin, widths[-1], 3, act, act_options, padding=1, batch_norm=batch_norm)
            layers.append(MaxPool2d(2))
            cin = widths[-1]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
