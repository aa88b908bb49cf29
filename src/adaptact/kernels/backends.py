"""Registration of the backends: the reference (every family) and the fused engines (lowered families).

A fused implementation prepares a call in three steps: the checks every fused
engine shares (:func:`_untraceable`, dtype, empty input), the engine's own
device check, then the family's lowering (:mod:`adaptact.kernels.lowering`).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from adaptact import functional as AF
from adaptact.kernels.c_build import compiler
from adaptact.kernels.c_engine import CEngine
from adaptact.kernels.dispatch import Backend, Implementation, Prepared, register_backend, register_implementation
from adaptact.kernels.fused import Engine, run
from adaptact.kernels.lowering import LOWERINGS
from adaptact.kernels.triton_engine import TritonEngine, triton_unavailable

__all__ = ["FAMILIES"]

#: family -> the reference function (the signature every backend accepts)
FAMILIES: dict[str, Callable[..., Tensor]] = {
    "pau": AF.pau,
    "slaf": AF.slaf,
    "blend": AF.blend,
    "scaled": AF.scaled,
    "swish_beta": AF.swish_beta,
    "affine": AF.affine,
    "agumbel": AF.agumbel,
    "arelu": AF.arelu,
}

FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _untraceable() -> Optional[str]:
    """Contexts where an opaque kernel must not run: the reference is traced and fused by them instead."""
    if torch.compiler.is_compiling():
        return "inside torch.compile (inductor fuses the reference formulas itself)"
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return "inside TorchScript"
    if torch._C._are_functorch_transforms_active():
        return "inside a torch.func transform"
    return None


def _tensors(args: tuple, kwargs: dict) -> list[Tensor]:
    return [a for a in list(args) + list(kwargs.values()) if isinstance(a, Tensor)]


def _fused_prepare(engine: Engine, lowering: Callable[..., Any], *args: Any, **kwargs: Any) -> Prepared:
    x = args[0] if args else kwargs["x"]
    reason = _untraceable() or engine.unavailable(x)
    if reason:
        return reason
    if x.dtype not in FUSED_DTYPES:
        return f"dtype {x.dtype} (the fused kernels compute float32, float16 and bfloat16)"
    if x.numel() == 0:
        return "empty input"
    if any(t.device != x.device for t in _tensors(args, kwargs)):
        return "parameters on another device than the input"
    lowered = lowering(*args, **kwargs)
    if isinstance(lowered, str):
        return lowered
    return engine.load(lowered.program) or partial(run, lowered, x, engine)


def _reference_prepare(reference: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Prepared:
    return partial(reference, *args, **kwargs)


def _register() -> None:
    register_backend(Backend("reference", lambda: None))
    register_backend(Backend("c", lambda: None if compiler() is not None else "no working C compiler"))
    register_backend(Backend("triton", triton_unavailable))
    engines = {"c": CEngine(), "triton": TritonEngine()}
    for family, reference in FAMILIES.items():
        register_implementation(Implementation(family, "reference", partial(_reference_prepare, reference)))
        for backend, engine in engines.items():
            prepare = partial(_fused_prepare, engine, LOWERINGS[family])
            register_implementation(Implementation(family, backend, prepare))


_register()
