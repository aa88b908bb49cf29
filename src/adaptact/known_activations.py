"""The activation modules of PyTorch, HuggingFace transformers and timm: what each computes.

:func:`identify` tells, for a module, whether it is an activation that
:func:`adaptact.replace_activations` may replace, which function it computes
(a label, and the registered fixed name when it is exactly one of ours), and
whether it is *squashing* (sigmoid- or tanh-like: often a gate or an output
rather than a hidden-layer activation). Classes of other libraries are
recognised by their class path along the MRO, so neither library is imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from torch import nn

__all__ = ["KnownActivation", "LIBRARY_CLASSES", "class_paths", "identify"]


@dataclass(frozen=True)
class KnownActivation:
    """What an activation module computes.

    Attributes:
        label: a short name of the function (``gelu_tanh``, ``quick_gelu``, ...).
        fixed: the registered fixed activation computing exactly this function
            (``adaptact.create(fixed)``), or None when there is none (then the
            module itself is the target a unit starts from).
        squashing: sigmoid/tanh-like; replaced by default only as a hidden
            layer (see :func:`adaptact.replace_activations`).
    """

    label: str
    fixed: Optional[str]
    squashing: bool = False


def _k(label: str, fixed: Optional[str] = None, squashing: bool = False) -> KnownActivation:
    return KnownActivation(label, fixed, squashing)


_TIMM_FAMILY = {
    "Swish": _k("silu", "silu"), "Mish": _k("mish", "mish"), "Sigmoid": _k("sigmoid", "sigmoid", True),
    "Tanh": _k("tanh", "tanh", True), "HardSwish": _k("hardswish"), "HardSigmoid": _k("hardsigmoid", None, True),
    "HardMish": _k("hardmish"), "GELU": _k("gelu", "gelu"), "GELUTanh": _k("gelu_tanh"),
    "QuickGELU": _k("quick_gelu"), "PReLU": _k("prelu", "prelu"),
}

#: class path (``module.QualName``) -> what it computes, for libraries that are not imported here
LIBRARY_CLASSES: dict[str, KnownActivation] = {
    "transformers.activations.GELUActivation": _k("gelu", "gelu"),
    "transformers.activations.NewGELUActivation": _k("gelu_tanh"),
    "transformers.activations.FastGELUActivation": _k("gelu_tanh"),
    "transformers.activations.GELUTanh": _k("gelu_tanh"),
    "transformers.activations.PytorchGELUTanh": _k("gelu_tanh"),
    "transformers.activations.AccurateGELUActivation": _k("gelu_accurate"),
    "transformers.activations.QuickGELUActivation": _k("quick_gelu"),
    "transformers.activations.ClippedGELUActivation": _k("gelu_clipped"),
    "transformers.activations.SiLUActivation": _k("silu", "silu"),
    "transformers.activations.MishActivation": _k("mish", "mish"),
    "transformers.activations.ReLUSquaredActivation": _k("relu_squared"),
    "transformers.activations.LaplaceActivation": _k("laplace"),
    "transformers.activations.SqrtSoftplusActivation": _k("sqrt_softplus"),
    "x_transformers.x_transformers.ReluSquared": _k("relu_squared"),
    **{f"timm.layers.activations.{name}": known for name, known in _TIMM_FAMILY.items()},
    **{f"timm.layers.activations_me.{name}Me": known for name, known in _TIMM_FAMILY.items()},
    **{f"timm.layers.activations_jit.{name}Jit": known for name, known in _TIMM_FAMILY.items()},
}


def _torch_activation(m: nn.Module) -> Optional[KnownActivation]:
    """PyTorch's own activation modules (checked by class, most specific first)."""
    if isinstance(m, nn.ReLU6):
        return _k("relu6", "relu6")
    if isinstance(m, nn.ReLU):
        return _k("relu", "relu")
    if isinstance(m, nn.LeakyReLU):
        return _k("lrelu", "lrelu") if m.negative_slope == 0.01 else _k(f"lrelu({m.negative_slope:g})")
    if isinstance(m, nn.PReLU):
        return _k("prelu", "prelu")
    if isinstance(m, nn.RReLU):
        default = (m.lower, m.upper) == (1.0 / 8, 1.0 / 3)
        return _k("rrelu", "rrelu" if default else None)
    if isinstance(m, nn.CELU):
        return _k("celu", "celu") if m.alpha == 1.0 else _k(f"celu({m.alpha:g})")
    if isinstance(m, nn.ELU):
        return _k("elu", "elu") if m.alpha == 1.0 else _k(f"elu({m.alpha:g})")
    if isinstance(m, nn.SELU):
        return _k("selu", "selu")
    if isinstance(m, nn.GELU):
        return _k("gelu", "gelu") if m.approximate == "none" else _k("gelu_tanh")
    if isinstance(m, nn.SiLU):
        return _k("silu", "silu")
    if isinstance(m, nn.Mish):
        return _k("mish", "mish")
    if isinstance(m, nn.Softplus):
        default = m.beta == 1.0 and m.threshold == 20.0
        return _k("softplus", "softplus" if default else None)
    if isinstance(m, nn.Hardswish):
        return _k("hardswish")
    if isinstance(m, nn.Tanh):
        return _k("tanh", "tanh", True)
    if isinstance(m, nn.Sigmoid):
        return _k("sigmoid", "sigmoid", True)
    if isinstance(m, nn.Hardsigmoid):
        return _k("hardsigmoid", None, True)
    if isinstance(m, nn.Hardtanh):
        return _k("hardtanh", None, True)
    if isinstance(m, nn.Softsign):
        return _k("softsign", None, True)
    return None


def class_paths(cls: type) -> list[str]:
    """``module.QualName`` of ``cls`` and of each of its bases, most specific first."""
    return [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__]


def identify(m: nn.Module) -> Optional[KnownActivation]:
    """What the activation module ``m`` computes, or None when it is not a known activation module."""
    known = _torch_activation(m)
    if known is not None:
        return known
    for path in class_paths(type(m)):
        if path in LIBRARY_CLASSES:
            return LIBRARY_CLASSES[path]
    return None
