"""The fused kernels as ``torch.library`` custom ops, so that ``torch.compile`` keeps them in its graph.

Under ``torch.compile`` (not ``torch.export``: ONNX has no form for these
ops, so export traces the reference) a dispatched call becomes

.. code-block:: text

    y = adaptact::fused_forward(tensors, token, seed)

where ``tensors`` are the reference call's tensors (input and parameters, as
given: the packing happens inside the op), ``token`` is a JSON string naming
the family and every non-tensor argument (so a compiled graph is
self-describing, also when inductor's cache reloads it in another process)
and ``seed`` is a one-element int64 tensor (drawn in the graph for stochastic
programs, 0 otherwise). Its autograd formula calls
``adaptact::fused_backward``, which returns the input's gradient and the
packed parameters' gradient; the parameters' own gradients are the
vector-Jacobian product of the family's packing (traced into the compiled
backward by AOTAutograd, a handful of small ops). Both run the eager plan of
:mod:`adaptact.kernels.backends` on the device's engine; their fake kernels
give the output shapes. The fused backward is first-order only: a
``create_graph=True`` backward through a compiled graph is refused by autograd
(the eager path recomputes the reference for that).

:data:`CALLS` counts the op's executions (by op name): tests use it to check
that a compiled graph runs the fused kernels and not the reference formulas.
"""
from __future__ import annotations

import collections
import json
from functools import lru_cache, partial
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from adaptact.kernels.fused import ReferenceCall

__all__ = ["CALLS", "compiled_prepare", "fused_backward", "fused_forward"]

#: executions of each op in this process (op name -> count)
CALLS: collections.Counter = collections.Counter()

#: how a tensor argument is written in a token
_HOLE = {"tensor": True}

#: the dtypes the fused kernels compute (as in backends.FUSED_DTYPES)
_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _channels(x: Tensor, tensors: Sequence[Tensor]) -> int:
    """The channel count (dim 1) of ``x`` as the lowering needs it, a constant also where torch.compile
    traces the count as a symbol (``dynamic=True``, or a count that changed between calls; dynamo answers
    ``isinstance(count, int)`` with True for a symbol, so no test tells the two apart).

    The count is compared with the leading size of each other tensor of the call (the parameters, whose
    sizes are static), which guards the graph on the outcome: it is that size where they agree, else 0, a
    count no per-channel parameter has (so the lowering refuses per-channel parameters, as it would the real
    count, and the call takes the reference); a per-layer lowering does not read it.
    """
    count = x.shape[1]
    for t in tensors:
        if t is not x and t.dim() and count == t.shape[0]:
            return int(t.shape[0])
    return 0


def _describe(a: Any, x: Tensor, channels: int) -> Any:
    """An argument as the compile-time check sees it: a tensor by its shape and dtype, a sequence as a tuple.

    The input ``x`` is described by its rank and ``channels`` only (the lowering reads no more), so that no
    dynamic size of it reaches the check (a symbolic size cannot be a constant of the graph).
    """
    if a is x:
        shape = tuple(channels if d == 1 else 1 for d in range(x.dim()))
        return ("tensor", shape, x.dtype)
    if isinstance(a, Tensor):
        return ("tensor", tuple(int(s) for s in a.shape), a.dtype)
    if isinstance(a, (list, tuple)):
        return tuple(_describe(v, x, channels) for v in a)
    return a


def _meta(described: Any) -> Any:
    if isinstance(described, tuple) and len(described) == 3 and described[0] == "tensor":
        return torch.empty(described[1], dtype=described[2], device="meta")
    return described


def _json_value(described: Any) -> Any:
    if isinstance(described, tuple) and len(described) == 3 and described[0] == "tensor":
        return _HOLE
    if isinstance(described, tuple):
        return [_json_value(v) for v in described]
    return described


@torch.compiler.assume_constant_result
def _compiled_token(engine: str, family: str, device_type: str, args: tuple, kwargs: tuple) -> Optional[tuple]:
    """``(token, stochastic)`` when ``engine`` can compute this call in a compiled graph, else None.

    Runs once at trace time (its result is a constant of the graph): the
    engine must run on the input's device, the dtype be a fused one and the
    lowering accept the call (checked on meta tensors of the same shapes).
    """
    from adaptact.kernels.backends import ENGINES, LOWERINGS  # import cycle: backends imports this module

    x = args[0] if args else dict(kwargs)["x"]
    if x[2] not in _DTYPES or ENGINES[engine].unavailable(torch.empty(0, device=device_type)) is not None:
        return None
    meta_args = tuple(_meta(a) for a in args)
    meta_kwargs = {k: _meta(v) for k, v in kwargs}
    try:
        lowered = LOWERINGS[family](*meta_args, **meta_kwargs)
        token = json.dumps([family, [_json_value(a) for a in args], {k: _json_value(v) for k, v in kwargs}])
    except (TypeError, ValueError, RuntimeError):  # options JSON cannot hold, or a lowering that needs values
        return None
    if isinstance(lowered, str):
        return None
    return token, lowered.program.stochastic


@lru_cache(maxsize=256)
def _decoded(token: str) -> tuple[str, ReferenceCall]:
    """The family and the reference call (tensors left as holes) that ``token`` names."""
    from adaptact.kernels.backends import FAMILIES  # import cycle: backends imports this module
    from adaptact.kernels.fused import hole

    def value(v: Any) -> Any:
        if v == _HOLE:
            return hole()
        return tuple(map(value, v)) if isinstance(v, list) else v

    family, args, kwargs = json.loads(token)
    holes = [i for i, a in enumerate(args) if a == _HOLE] + [k for k, v in kwargs.items() if v == _HOLE]
    x_index = 0 if holes and holes[0] == 0 else holes.index("x")
    return family, ReferenceCall(FAMILIES[family], tuple(map(value, args)), {k: value(v) for k, v in kwargs.items()},
                                 x_index)


#: (token, the tensors' shapes and dtypes) -> the C++ node's handle of that CPU signature, or None (the
#: node is not built, or cannot take the call): a compiled graph's calls of a known signature then run the
#: kernels from C++ (adaptact_native::kernel_forward/backward), without the dispatcher's Python per call
_NATIVE: dict[tuple, Optional[int]] = {}
_NATIVE_LIMIT = 4096


def _native_handle(token: str, tensors: Sequence[Tensor]) -> Optional[int]:
    from adaptact.kernels import native_node  # import cycle: native_node imports the C engine, backends this
    from adaptact.kernels.backends import _opaque_plan, native_prepare
    from adaptact.kernels.fused import FusedCall

    if not native_node.enabled() or tensors[0].device.type != "cpu":
        return None
    key = (token, tuple((t.shape, t.dtype) for t in tensors))
    if key in _NATIVE:
        return _NATIVE[key]
    if not native_node.ready():  # still building: ask again next call
        return None
    family, reference = _decoded(token)
    engine, plan, theta = _opaque_plan(family, reference, tensors)
    handle = None
    if engine.name == "c":
        call = FusedCall(plan.program, engine, 0, reference, plan.gather)
        handle = native_prepare(family, call, tensors, theta, *reference.arguments(tensors))
    if len(_NATIVE) >= _NATIVE_LIMIT:
        _NATIVE.clear()
    _NATIVE[key] = handle
    return handle


@torch.library.custom_op("adaptact::fused_forward", mutates_args=())
def fused_forward(tensors: list[Tensor], token: str, seed: Tensor) -> Tensor:
    """``y`` of the fused call ``token`` names, on its tensors (the input among them)."""
    from adaptact.kernels.backends import opaque_forward

    CALLS["fused_forward"] += 1
    handle = _native_handle(token, tensors)
    if handle is not None:
        return torch.ops.adaptact_native.kernel_forward.default(handle, int(seed.item()), None, tensors)
    family, reference = _decoded(token)
    return opaque_forward(family, reference, tensors, int(seed.item()))


@fused_forward.register_fake
def _fused_forward_fake(tensors: list[Tensor], token: str, seed: Tensor) -> Tensor:
    return torch.empty_like(tensors[_decoded(token)[1].x_index])


@torch.library.custom_op("adaptact::fused_backward", mutates_args=())
def fused_backward(tensors: list[Tensor], dy: Tensor, token: str, seed: Tensor) -> tuple[Tensor, Tensor]:
    """``(dx, dtheta)``: the input's gradient and the packed ``(G, P)`` parameters' gradient for ``dy``."""
    from adaptact.kernels.backends import opaque_backward

    CALLS["fused_backward"] += 1
    handle = _native_handle(token, tensors)
    if handle is not None:
        return torch.ops.adaptact_native.kernel_backward.default(handle, int(seed.item()), None, tensors, dy)
    family, reference = _decoded(token)
    return opaque_backward(family, reference, tensors, dy, int(seed.item()))


def _lowered_theta(token: str, tensors: Sequence[Tensor]) -> Tensor:
    """The packed parameters of the call, by the family's lowering (differentiable where grad mode is on)."""
    from adaptact.kernels.backends import LOWERINGS

    family, reference = _decoded(token)
    return reference.with_tensors(tensors, LOWERINGS[family]).theta


@fused_backward.register_fake
def _fused_backward_fake(tensors: list[Tensor], dy: Tensor, token: str, seed: Tensor) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        theta = _lowered_theta(token, tensors)
    return torch.empty_like(tensors[_decoded(token)[1].x_index]), torch.empty_like(theta, dtype=torch.float32)


def _setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
    tensors, token, seed = inputs
    ctx.save_for_backward(*tensors, seed)
    ctx.token = token


def _backward(ctx: Any, dy: Tensor) -> tuple:
    """``dx`` from the op; each parameter's gradient as the vector-Jacobian product of the packing with ``dtheta``.

    The packing is recomputed with a graph here, at the autograd level (the op's
    own kernels run below it): AOTAutograd traces it into the compiled backward.
    """
    *tensors, seed = ctx.saved_tensors
    i = _decoded(ctx.token)[1].x_index
    dx, dtheta = fused_backward(list(tensors), dy, ctx.token, seed)
    leaves = [t.detach().requires_grad_(j != i) for j, t in enumerate(tensors)]
    params = [leaf for j, leaf in enumerate(leaves) if j != i]
    with torch.enable_grad():
        theta = _lowered_theta(ctx.token, leaves)
        found = iter(torch.autograd.grad(theta, params, dtheta.to(theta.dtype), allow_unused=True))
    grads = [dx if j == i else next(found) for j in range(len(tensors))]
    return grads, None, None


fused_forward.register_autograd(_backward, setup_context=_setup_context)


def _call(token: str, stochastic: bool, tensors: Sequence[Tensor]) -> Tensor:
    if stochastic:
        seed = torch.randint(0, 2**62, (1,), dtype=torch.int64)
    else:
        seed = torch.zeros(1, dtype=torch.int64)
    return fused_forward(list(tensors), token, seed)


def compiled_prepare(engine: str, family: str, x: Tensor, args: tuple, kwargs: dict) -> Any:
    """The dispatcher's preparation of a call traced by ``torch.compile``: the custom op, or why not."""
    from adaptact.kernels.fused import tensor_arguments

    tensors = tensor_arguments(args, kwargs)
    channels = _channels(x, tensors) if x.dim() > 1 else 1
    described = _compiled_token(engine, family, x.device.type, tuple(_describe(a, x, channels) for a in args),
                                tuple((k, _describe(v, x, channels)) for k, v in kwargs.items()))
    if described is None:
        return f"{engine}: cannot compute this call in a compiled graph"
    token, stochastic = described
    return partial(_call, token, stochastic, tensors)
