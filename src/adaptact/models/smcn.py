"""SMCN, the "simple multi-layer convolutional network" of the ABU paper, and its variants."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from adaptact.models.layers import ActSpec, Dropout, SamePadMaxPool2d, conv_act, he_truncated_normal_, linear_act
from adaptact.units.blend import Blend

__all__ = ["SMCN", "SMCN_VARIANTS"]

SMCN_VARIANTS = ("vanilla", "smcn10", "s", "bn")


class _AlwaysBatchStats(nn.BatchNorm2d):
    """Batch norm that normalises with the batch statistics at test time too (the ABU authors' code)."""

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class SMCN(nn.Module):
    """SMCN (Sütfeld et al., ABU paper) for 32x32x3 inputs; one activation unit per hidden layer.

    vanilla: ``conv5x5x64 -> act -> dropout | conv3x3x64 -> act -> maxpool3/2 | conv1x1x64 -> act
    -> dropout | conv5x5x64 -> act -> maxpool3/2 | dense 384 -> act -> dropout | dense 192 -> act
    | dense classes``; "SAME" padding everywhere (1,797,514 parameters for 10 classes).

    Variants:
        ``smcn10``: the block {conv1x1 -> act -> dropout -> conv5x5 -> act} three times between
        the pools (10 hidden layers, 2,010,762 parameters);
        ``s``: no dropout, average pools 2x2/2 (the activations are the only non-linearity);
        ``bn``: no dropout, batch norm before every activation (``bn_batch_stats_at_test=True``
        keeps using batch statistics at test time, as the authors' code does;
        ``blend_basis_batchnorm=True`` also batch-normalises each basis output of every
        blend unit (ABU) before blending, as that code does for ABU).

    Args:
        width_divisor: divides every width (the quick profiles use 4: conv 16, dense 96/48).
        dense_init: ``"he"`` (the paper: std sqrt(2/fan_in)) or ``"code"`` (the authors'
            code: std sqrt(2/(fan_in*fan_out))). Convolutions: He truncated normal; biases
            0.1, except the first convolution's 0.
    """

    required_size = 32

    def __init__(
        self,
        act: ActSpec = "relu",
        num_classes: int = 10,
        in_channels: int = 3,
        variant: str = "vanilla",
        width_divisor: int = 1,
        dropout: float = 0.5,
        dense_init: str = "he",
        bn_batch_stats_at_test: bool = False,
        blend_basis_batchnorm: bool = False,
        act_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if variant not in SMCN_VARIANTS:
            raise ValueError(f"variant must be one of {SMCN_VARIANTS}, got {variant!r}")
        if dense_init not in ("he", "code"):
            raise ValueError(f"dense_init must be 'he' or 'code', got {dense_init!r}")
        self.variant = variant
        c = max(1, 64 // width_divisor)
        d1, d2 = max(1, 384 // width_divisor), max(1, 192 // width_divisor)
        bn = variant == "bn"
        o = act_options

        def drop() -> list[nn.Module]:
            return [Dropout(dropout)] if variant in ("vanilla", "smcn10") and dropout > 0 else []

        def pool() -> nn.Module:
            return nn.AvgPool2d(2, 2) if variant == "s" else SamePadMaxPool2d(3, 2)

        def conv(cin: int, k: int) -> list[nn.Module]:
            layers = conv_act(cin, c, k, act, o, padding=k // 2, batch_norm=bn)
            if bn and bn_batch_stats_at_test:
                layers = [_AlwaysBatchStats(m.num_features) if isinstance(m, nn.BatchNorm2d) else m for m in layers]
            return layers

        middle = conv(c, 1) + drop() + conv(c, 5)
        if variant == "smcn10":
            for _ in range(2):
                middle += conv(c, 1) + drop() + conv(c, 5)
        self.features = nn.Sequential(
            *conv(in_channels, 5), *drop(), *conv(c, 3), pool(), *middle, pool(), nn.Flatten()
        )
        self.classifier = nn.Sequential(
            *linear_act(c * 8 * 8, d1, act, o, batch_norm=bn), *drop(),
            *linear_act(d1, d2, act, o, batch_norm=bn), nn.Linear(d2, num_classes),
        )
        self._init(dense_init)
        if blend_basis_batchnorm:
            if variant != "bn":
                raise ValueError("blend_basis_batchnorm belongs to the 'bn' variant (SMCN_BN)")
            for m in self.modules():
                if isinstance(m, Blend):
                    m.basis_batchnorm = True

    @torch.no_grad()
    def _init(self, dense_init: str) -> None:
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        for i, m in enumerate(convs):
            he_truncated_normal_(m.weight)
            m.bias.fill_(0.0 if i == 0 else 0.1)
        for m in self.classifier:
            if isinstance(m, nn.Linear):
                fan_out, fan_in = m.weight.shape
                std = math.sqrt(2.0 / fan_in) if dense_init == "he" else math.sqrt(2.0 / (fan_in * fan_out))
                nn.init.trunc_normal_(m.weight, 0.0, std, -2 * std, 2 * std)
                m.bias.fill_(0.1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
