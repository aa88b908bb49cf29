"""Fixed activations: PyTorch's own modules, registered under the names the papers use.

The factories accept ``num_features`` (ignored: a fixed function has no
parameters per channel; ``prelu`` uses it as ``num_parameters``), ``device``
and ``dtype``, so that models can build any activation the same way.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adaptact.registry import register
from adaptact.units.base import NumFeatures, check_num_features

__all__ = ["FIXED_MODULES", "PReLU", "RReLU"]

#: activation classes that :func:`adaptact.replace_activations` swaps by default
FIXED_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardswish, nn.Hardtanh, nn.Hardsigmoid,
)


def _register_fixed(name: str, cls: type[nn.Module], summary: str, aliases=(), **options) -> None:
    """Register ``cls`` with its keyword ``options`` and their defaults as the accepted options."""

    def factory(num_features: NumFeatures = None, device=None, dtype=None, **kw) -> nn.Module:
        check_num_features(num_features)
        return cls(**kw)

    params = [
        inspect.Parameter("num_features", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default=None),
    ] + [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in options.items()]
    factory.__signature__ = inspect.Signature(params)
    factory.__name__ = f"create_{name}"
    factory.__doc__ = f"{summary} (``torch.nn.{cls.__name__}``)."
    register(name, factory, family="fixed", trainable=False, summary=summary, aliases=aliases)


class PReLU(nn.PReLU):
    """``torch.nn.PReLU`` that also takes float16/bfloat16 inputs with float32 slopes (the slope is cast)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight.to(x.dtype))


class RReLU(nn.RReLU):
    """``torch.nn.RReLU`` that also takes float16/bfloat16 inputs on the CPU (computed in float32).

    In eval it is what RReLU is there, a leaky ReLU with the mean slope ``(lower + upper) / 2``,
    computed as such (so it exports to ONNX and runs under ``torch.func.vmap``).
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return F.leaky_relu(x, (self.lower + self.upper) / 2)
        if x.dtype in (torch.float16, torch.bfloat16):
            return super().forward(x.float()).to(x.dtype)
        return super().forward(x)


def _prelu(num_features: NumFeatures = None, *, device=None, dtype=None, init: float = 0.25) -> nn.Module:
    """PReLU: ``x`` if ``x >= 0`` else ``a x`` with a trainable slope ``a`` (one, or one per channel)."""
    n = check_num_features(num_features)
    if n == "lazy":
        raise ValueError("prelu does not support num_features='lazy'; pass the channel count")
    return PReLU(num_parameters=n or 1, init=init, device=device, dtype=dtype)


_register_fixed("relu", nn.ReLU, "max(0, x)")
_register_fixed("relu6", nn.ReLU6, "min(max(0, x), 6)")
_register_fixed("lrelu", nn.LeakyReLU, "leaky ReLU, slope 0.01 below 0", aliases=("leaky_relu",), negative_slope=0.01)
_register_fixed("rrelu", RReLU, "randomized leaky ReLU: slope ~ U(1/8, 1/3) in training, mean in eval",
                lower=1.0 / 8, upper=1.0 / 3)
_register_fixed("elu", nn.ELU, "x if x > 0 else alpha (e^x - 1)", alpha=1.0)
_register_fixed("celu", nn.CELU, "max(0, x) + min(0, alpha (e^(x/alpha) - 1))", alpha=1.0)
_register_fixed("selu", nn.SELU, "scaled ELU, lambda 1.0507, alpha 1.6733")
_register_fixed("gelu", nn.GELU, "x Phi(x)", approximate="none")
_register_fixed("silu", nn.SiLU, "x sigmoid(x) (Swish with beta = 1)", aliases=("swish",))
_register_fixed("mish", nn.Mish, "x tanh(softplus(x))")
_register_fixed("tanh", nn.Tanh, "hyperbolic tangent")
_register_fixed("sigmoid", nn.Sigmoid, "logistic sigmoid 1 / (1 + e^-x)")
_register_fixed("softplus", nn.Softplus, "log(1 + e^(beta x)) / beta", beta=1.0, threshold=20.0)
_register_fixed("identity", nn.Identity, "x (no activation)", aliases=("linear",))
register("prelu", _prelu, family="fixed", trainable=True, summary="leaky ReLU with a trainable slope (torch.nn.PReLU)")

