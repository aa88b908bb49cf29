"""Multi-layer perceptrons: for the simulated teacher data and for meta-neuron networks on MNIST."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from adaptact.models.layers import ActSpec, lecun_uniform_, linear_act, per_layer

__all__ = ["MLP"]


class MLP(nn.Module):
    """``flatten -> [linear -> (BN) -> act] x len(hidden) -> linear outputs``.

    Args:
        in_features: input size (inputs are flattened).
        hidden: widths of the hidden layers.
        num_classes: outputs (1 gives a single logit for binary cross-entropy).
        act: one activation spec for every hidden layer, or a sequence of one per layer.
        init: ``"default"`` (PyTorch) or ``"lecun"`` (uniform sqrt(3/fan_in) for weights and
            biases, Farhadi et al.).
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (100,),
        num_classes: int = 10,
        act: ActSpec | Sequence[ActSpec] = "relu",
        init: str = "default",
        batch_norm: bool = False,
        act_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        acts = per_layer(act, len(hidden))
        if init not in ("default", "lecun"):
            raise ValueError(f"init must be 'default' or 'lecun', got {init!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        fin = in_features
        for width, a in zip(hidden, acts):
            layers += linear_act(fin, width, a, act_options, batch_norm=batch_norm)
            fin = width
        layers.append(nn.Linear(fin, num_classes))
        self.net = nn.Sequential(*layers)
        if init == "lecun":
            with torch.no_grad():
                for m in self.net:
                    if isinstance(m, nn.Linear):
                        lecun_uniform_(m.weight, m.in_features)
                        lecun_uniform_(m.bias, m.in_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
