"""The AdAct paper's ConvNet: four conv -> BN -> act -> max-pool blocks and one linear layer."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from adaptact.models.layers import ActSpec, MaxPool2d, conv_act, per_layer

__all__ = ["AdActConvNet"]


class AdActConvNet(nn.Module):
    """``4 x [conv3x3 (padding 1) -> BN -> act -> maxpool2]`` with 32, 64, 128, 256 channels, then a linear layer.

    One activation unit per convolution (4 AdAct units = 32 parameters). With ReLU:
    391,370 parameters for 28x28x1 / 10 classes, 399,626 for 32x32x3 / 10,
    404,935 for 48x48x1 / 7. Convolutions use Kaiming-uniform init for ReLU.
    ``act`` may be a list with one activation per convolution (the "Optimized" network).
    """

    def __init__(
        self,
        act: ActSpec | Sequence[ActSpec] = "relu",
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        act_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, side = in_channels, input_size
        for cout, layer_act in zip(channels, per_layer(act, len(channels))):
            layers += conv_act(cin, cout, 3, layer_act, act_options, padding=1, batch_norm=True)
            layers.append(MaxPool2d(2))
            cin, side = cout, side // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Linear(cin * side * side, num_classes)
        with torch.no_grad():
            for m in self.features:
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
