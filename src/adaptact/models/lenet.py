"""LeNet variants: the PAU paper's LeNet (32x32 input) and the LeNet-5 of Farhadi et al. (1000-unit dense layer)."""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from adaptact.models.layers import ActSpec, MaxPool2d, conv_act, linear_act

__all__ = ["LeNet", "LeNet5"]


class LeNet(nn.Module):
    """LeNet of the PAU paper (App. A.3.1), for 32x32 inputs.

    ``conv5x5x6 -> act -> maxpool2 -> conv5x5x16 -> act -> maxpool2 -> conv5x5x120 -> act
    -> linear 84 -> act -> linear classes``. With one channel and 10 classes it has
    61,706 weights (plus 10 per PAU: 61,746 with four PAUs), as the paper states.
    """

    required_size = 32

    def __init__(self, act: ActSpec = "relu", num_classes: int = 10, in_channels: int = 1,
                 act_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        o = act_options
        self.features = nn.Sequential(
            *conv_act(in_channels, 6, 5, act, o), MaxPool2d(2),
            *conv_act(6, 16, 5, act, o), MaxPool2d(2),
            *conv_act(16, 120, 5, act, o), nn.Flatten(),
        )
        self.classifier = nn.Sequential(*linear_act(120, 84, act, o), nn.Linear(84, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class LeNet5(nn.Module):
    """The "classical LeNet5" of Farhadi et al. (Theano tutorial layout), for 28x28 inputs.

    ``conv5x5x20 -> BN -> act_conv -> maxpool2 -> conv5x5x50 -> BN -> act_conv -> maxpool2
    -> linear 1000 -> BN -> act_fc -> linear classes``; about 0.84M parameters.
    Separate activations for the convolutional and the dense layers.
    """

    def __init__(
        self,
        act_conv: ActSpec = "relu",
        act_fc: ActSpec | None = None,
        num_classes: int = 10,
        in_channels: int = 1,
        conv_channels: tuple[int, int] = (20, 50),
        hidden: int = 1000,
        batch_norm: bool = True,
        input_size: int = 28,
        act_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        act_fc = act_conv if act_fc is None else act_fc
        c1, c2 = conv_channels
        o = act_options
        self.features = nn.Sequential(
            *conv_act(in_channels, c1, 5, act_conv, o, batch_norm=batch_norm), MaxPool2d(2),
            *conv_act(c1, c2, 5, act_conv, o, batch_norm=batch_norm), MaxPool2d(2), nn.Flatten(),
        )
        side = ((input_size - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            *linear_act(c2 * side * side, hidden, act_fc, o, batch_norm=batch_norm), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
