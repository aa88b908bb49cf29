"""Finding where a non-finite loss came from, so that a diverged run says which unit and step."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from adaptact.params import activation_units

__all__ = ["NonFiniteLoss", "diagnose_nonfinite"]


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss; the message names the step and, if found, the unit."""


@torch.no_grad()
def diagnose_nonfinite(model: nn.Module, x: Tensor) -> str:
    """Re-run ``x`` through ``model`` and name the first activation unit with non-finite parameters or
    output (from a finite input); else the first module of any kind with a non-finite output."""
    for name, unit in activation_units(model):
        for pname, p in unit.named_parameters():
            if not torch.isfinite(p).all():
                return f"activation unit {name!r} ({type(unit).__name__}) has non-finite parameter {pname!r}"
    culprit: list[str] = []
    units = {id(m) for _, m in activation_units(model)}
    hooks = []

    def check(name: str):
        def hook(module, args, out):
            if culprit or not isinstance(out, Tensor):
                return
            inp_ok = all(torch.isfinite(a).all() for a in args if isinstance(a, Tensor) and a.is_floating_point())
            if inp_ok and not torch.isfinite(out).all():
                kind = "activation unit" if id(module) in units else "module"
                culprit.append(f"{kind} {name!r} ({type(module).__name__}) turned finite inputs into non-finite outputs")
        return hook

    for name, m in model.named_modules():
        if name:
            hooks.append(m.register_forward_hook(check(name)))
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    if culprit:
        return culprit[0]
    return "the forward pass is finite again on this batch: the loss or its gradients overflowed"
