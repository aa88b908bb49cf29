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
from torch.autograd import forward_ad
from torch.nn import Parameter
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from adaptact import functional as AF
from adaptact.kernels.c_build import compiler
from adaptact.kernels.c_engine import CEngine
from adaptact.kernels.dispatch import Backend, Implementation, Prepared, register_backend, register_implementation
from adaptact.kernels.fused import Engine, ReferenceCall, run, tensor_arguments
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
    "rpau_training": AF.rpau_training,
}

FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _untraceable(tensors: tuple[Tensor, ...]) -> Optional[str]:
    """Contexts where an opaque kernel must not run: they see (trace, transform, count) only torch ops.

    The reference is traced or transformed by them instead: ``torch.compile``
    and ``torch.export`` (which the default ONNX exporter uses), TorchScript
    and the TorchScript ONNX exporter, ``torch.func`` transforms (``vmap``,
    ``grad``, ``jvp``, ...), forward-mode AD, any ``TorchDispatchMode``
    (``make_fx`` tracing, fake tensors, functionalization, FLOP counters) and
    tensor subclasses (``DTensor``, ``FakeTensor``, ...). ``is_compiling`` comes
    first: dynamo folds it to a constant and never traces the checks after it.
    """
    if torch.compiler.is_compiling():
        return "inside torch.compile or torch.export (the reference formulas are traced instead)"
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return "inside TorchScript"
    if torch._C._are_functorch_transforms_active():
        return "inside a torch.func transform"
    if is_in_torch_dispatch_mode():
        return "inside a TorchDispatchMode (tracing, fake tensors or another mode that must see every op)"
    if getattr(forward_ad, "_current_level", -1) >= 0:
        return "inside forward-mode AD (a dual level)"
    if any(type(t) is not Tensor and type(t) is not Parameter for t in tensors):
        return "a tensor subclass"
    return None


def _fused_prepare(
    engine: Engine, lowering: Callable[..., Any], reference: Callable[..., Tensor], *args: Any, **kwargs: Any
) -> Prepared:
    x = args[0] if args else kwargs["x"]
    tensors = tensor_arguments(args, kwargs)
    reason = _untraceable(tensors) or engine.unavailable(x)
    if reason:
        return reason
    if x.dtype not in FUSED_DTYPES:
        return f"dtype {x.dtype} (the fused kernels compute float32, float16 and bfloat16)"
    if x.numel() == 0:
        return "empty input"
    if any(t.device != x.device for t in tensors):
        return "parameters on another device than the input"
    lowered = lowering(*args, **kwargs)
    if isinstance(lowered, str):
        return lowered
    failed = engine.load(lowered.program)
    if failed:
        return failed
    return partial(run, lowered, ReferenceCall.of(reference, x, args, kwargs), tensors, engine)


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
            prepare = partial(_fused_prepare, engine, LOWERINGS[family], reference)
            register_implementation(Implementation(family, backend, prepare))


_register()
