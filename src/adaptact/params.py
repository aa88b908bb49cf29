"""Finding the trainable-activation parameters of a model, for their own optimizer group."""
from __future__ import annotations

from typing import Any

from torch import nn

from adaptact.units.base import ActivationUnit

__all__ = [
    "activation_layers", "activation_parameters", "activation_units", "is_activation_layer", "is_activation_module",
    "param_groups",
]


def is_activation_module(m: nn.Module) -> bool:
    """True for adaptact's trainable units and ``nn.PReLU`` (a fixed activation with a trainable slope)."""
    return isinstance(m, (ActivationUnit, nn.PReLU))


def is_activation_layer(m: nn.Module) -> bool:
    """Any activation module: a trainable unit, or a fixed one (``nn.ReLU``, ``nn.Tanh``, ..., Maxout)."""
    from adaptact.units.baselines import Maxout
    from adaptact.units.fixed import FIXED_MODULES

    return is_activation_module(m) or isinstance(m, FIXED_MODULES + (Maxout,))


def activation_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every activation module of ``model`` (fixed ones too) with its qualified name."""
    return [(name, m) for name, m in model.named_modules() if is_activation_layer(m)]


def activation_units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The trainable activation units of ``model`` with their qualified names (the model itself if it is one)."""
    if is_activation_module(model):
        return [(type(model).__name__, model)]
    return [(name, m) for name, m in model.named_modules() if is_activation_module(m)]


def activation_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable parameters of every activation unit in ``model`` (each once, in module order)."""
    seen: set[int] = set()
    out = []
    for m in model.modules():
        if is_activation_module(m):
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
    return out


def param_groups(
    model: nn.Module,
    *,
    weight_decay: float = 0.0,
    act_lr: float | None = None,
    act_weight_decay: float = 0.0,
) -> list[dict[str, Any]]:
    """Two optimizer parameter groups: the network's weights, and the activation parameters.

    The activation group gets ``act_weight_decay`` (default none, the papers'
    recipe) and, if given, its own learning rate ``act_lr``. Frozen
    parameters (``requires_grad=False``) are left out. Empty groups are dropped.
    """
    act = [p for p in activation_parameters(model) if p.requires_grad]
    act_ids = {id(p) for p in act}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in act_ids]
    groups: list[dict[str, Any]] = []
    if rest:
        groups.append({"params": rest, "weight_decay": weight_decay, "name": "network"})
    if act:
        g: dict[str, Any] = {"params": act, "weight_decay": act_weight_decay, "name": "activations"}
        if act_lr is not None:
            g["lr"] = act_lr
        groups.append(g)
    return groups
