"""Model surgery: swap activation modules for trainable units, and harden AdAct units to fixed ones."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable

import torch
from torch import nn

from adaptact.registry import create, entry
from adaptact.units.fixed import FIXED_MODULES

__all__ = ["harden", "hardened_choices", "replace_activations"]

ActivationSpec = str | Callable[[], nn.Module]


def _target_types(targets: Iterable[type[nn.Module] | str] | None) -> tuple[type[nn.Module], ...]:
    if targets is None:
        return FIXED_MODULES
    out = []
    for t in targets:
        if isinstance(t, str):
            if entry(t).family != "fixed":
                raise ValueError(f"targets: {t!r} is not a fixed activation; name fixed ones or pass module classes")
            out.append(type(create(t)))
        elif isinstance(t, type) and issubclass(t, nn.Module):
            out.append(t)
        else:
            raise ValueError(f"targets must be activation module classes or names, got {t!r}")
    return tuple(out)


def _placement(model: nn.Module) -> dict[str, Any]:
    p = next(model.parameters(), None)
    if p is None:
        return {}
    return {"device": p.device, "dtype": p.dtype if p.dtype.is_floating_point else None}


def _swap(model: nn.Module, match: Callable[[nn.Module], bool], make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every child module for which ``match`` holds by ``make(child)``; return the count."""
    count = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if match(child):
                setattr(parent, child_name, make(child))
                count += 1
    return count


def replace_activations(
    model: nn.Module,
    name: ActivationSpec,
    *,
    targets: Iterable[type[nn.Module] | str] | None = None,
    **options: Any,
) -> nn.Module:
    """Swap the activation modules of ``model`` for new units, in place, and return the model.

    Args:
        model: any ``nn.Module``.
        name: a registered activation name (see :func:`adaptact.list_activations`)
            or a callable returning a fresh module.
        targets: which modules to swap: classes (``nn.ReLU``) or fixed names
            (``"relu"``); default every common activation class
            (:data:`adaptact.units.FIXED_MODULES`: ReLU, GELU, SiLU, ELU,
            LeakyReLU, Tanh, Sigmoid, ...).
        **options: passed to :func:`adaptact.create` for every new unit. Use
            ``num_features="lazy"`` for one parameter set per channel, the
            count taken from each layer's first batch.

    Each swapped module gets its own new unit, placed on the model's device
    and dtype. What it cannot replace: activations called as functions inside
    ``forward`` (``F.relu(x)``, ``torch.tanh(x)``, ``x.relu()``), which are not
    modules; one module object called at several places in ``forward`` stays
    one (shared) unit; and ``maxout``, which changes the channel count (build
    it into the model instead). A warning says when nothing was replaced.
    """
    types = _target_types(targets)
    if isinstance(name, str):
        if entry(name).name == "maxout":
            raise ValueError(
                "maxout changes the number of channels, so it cannot replace an activation in place; "
                "build the model with act='maxout' (adaptact.models) so the layer before is widened"
            )

        def build() -> nn.Module:
            return create(name, **{**_placement(model), **options})
    elif callable(name):
        if options:
            raise ValueError("options are only accepted with an activation name, not with a factory")

        def build() -> nn.Module:
            return name().to(**_placement(model))
    else:
        raise ValueError(f"name must be an activation name or a factory, got {name!r}")

    if isinstance(model, types):
        return build()
    count = _swap(model, lambda m: isinstance(m, types), lambda m: build())
    if count == 0:
        warnings.warn(
            f"replace_activations found no modules of types {[t.__name__ for t in types]} in "
            f"{type(model).__name__}; activations called as functions in forward() cannot be replaced",
            stacklevel=2,
        )
    return model


def _hardenable(m: nn.Module) -> bool:
    return callable(getattr(m, "hardened", None))


def hardened_choices(model: nn.Module) -> dict[str, str]:
    """For every AdAct unit in ``model``: its qualified name -> the name of its argmax activation."""
    return {name: m.choice() for name, m in model.named_modules() if _hardenable(m)}


@torch.no_grad()
def harden(model: nn.Module) -> nn.Module:
    """Replace every AdAct unit by the fixed activation it weights most (per layer), in place.

    This builds the AdAct paper's "Optimized" network; PReLU keeps the learned
    slope. Returns the model (or the hardened unit when ``model`` is itself one).
    """
    if _hardenable(model):
        return model.hardened()
    _swap(model, _hardenable, lambda m: m.hardened().to(**_placement(m)))
    return model
