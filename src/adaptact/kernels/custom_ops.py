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
backward by AOTAutograd, a handful of small ops). Their Python kernels run
the eager plan of :mod:`adaptact.kernels.backends` on the device's engine;
once the C++ node is loaded (:mod:`adaptact.kernels.native_node`), its CPU
kernels of both ops serve CPU calls: the first call of a token and tensor
signature asks Python for that signature's handle (``adaptact::_native_handle``),
every later one runs the kernels from C++, and a compiled graph's call (grad
mode off) goes from the graph to the kernels without Python (the C++ autograd
kernel sends calls that record a graph to the Python formula, so tracing is
unchanged). Fake kernels give the output shapes. The fused backward is
first-order only: a ``create_graph=True`` backward through a compiled graph is
refused (AOTAutograd refuses it too; the eager path recomputes the reference
for that).

:func:`calls` counts the ops' executions: tests use it to check that a compiled
graph runs the fused kernels and not the reference formulas.
"""
from __future__ import annotations

import collections
import hashlib
import json
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from adaptact.kernels import native_node
from adaptact.kernels.fused import ReferenceCall

__all__ = ["calls", "compiled_prepare", "fused_backward", "fused_forward"]

#: executions of each op's Python kernel in this process (op name -> count; see calls())
CALLS: collections.Counter = collections.Counter()

@lru_cache(maxsize=None)
def source_digest() -> str:
    """The digest of the kernels' Python sources, written into every token: torch's caches of compiled graphs
    key on the graph's constants but not on an op's implementation, and the compiled backward holds this
    module's formula and the lowering's packing, so a graph compiled by another version of them must not be
    reused. Read at the first trace (not at import: importing adaptact reads no sources)."""
    sources = sorted(Path(__file__).parent.glob("*.py"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]


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
        token = json.dumps([family, [_json_value(a) for a in args], {k: _json_value(v) for k, v in kwargs},
                            source_digest()])
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

    family, args, kwargs, _ = json.loads(token)
    holes = [i for i, a in enumerate(args) if a == _HOLE] + [k for k, v in kwargs.items() if v == _HOLE]
    x_index = 0 if holes and holes[0] == 0 else holes.index("x")
    return family, ReferenceCall(FAMILIES[family], tuple(map(value, args)), {k: value(v) for k, v in kwargs.items()},
                                 x_index)


def _native_handle(tensors: list[Tensor], token: str) -> int:
    """The C++ node's handle of this CPU call's signature (asked once per token and tensor sizes and dtypes by
    the C++ kernels of the ops, which remember the answer): -1 where the node cannot take the call, -2 while
    it cannot answer (switched off, or not ready: an answer that is not remembered)."""
    from adaptact.kernels.backends import _opaque_plan, native_prepare  # import cycle: backends imports this
    from adaptact.kernels.fused import FusedCall

    if not native_node.ready():
        return -2
    family, reference = _decoded(token)
    engine, plan, theta = _opaque_plan(family, reference, tensors)
    if engine.name != "c":
        return -1
    call = FusedCall(plan.program, engine, 0, reference, plan.gather)
    handle = native_prepare(family, call, tensors, theta, *reference.arguments(tensors))
    return -2 if handle is None and not native_node.ready() else (-1 if handle is None else handle)


def _opaque_forward(tensors: list[Tensor], token: str, seed: Tensor) -> Tensor:
    """The forward kernel in Python: the dispatcher's plan for the call, on the device's engine."""
    from adaptact.kernels.backends import opaque_forward

    if tensors[0].device.type == "cpu":
        native_node.ready()  # starts the C++ node's build: once loaded, its kernels serve the CPU calls
    family, reference = _decoded(token)
    return opaque_forward(family, reference, tensors, int(seed.item()))


def _opaque_backward(tensors: list[Tensor], dy: Tensor, token: str, seed: Tensor) -> tuple[Tensor, Tensor]:
    from adaptact.kernels.backends import opaque_backward

    family, reference = _decoded(token)
    return opaque_backward(family, reference, tensors, dy, int(seed.item()))


def _forward_kernel(tensors: list[Tensor], token: str, seed: Tensor) -> Tensor:
    CALLS["fused_forward"] += 1
    return _opaque_forward(tensors, token, seed)


def _backward_kernel(tensors: list[Tensor], dy: Tensor, token: str, seed: Tensor) -> tuple[Tensor, Tensor]:
    CALLS["fused_backward"] += 1
    return _opaque_backward(tensors, dy, token, seed)


def _forward_fake(tensors: list[Tensor], token: str, seed: Tensor) -> Tensor:
    return torch.empty_like(tensors[_decoded(token)[1].x_index])


def _lowered_theta(token: str, tensors: Sequence[Tensor]) -> Tensor:
    """The packed parameters of the call, by the family's lowering (differentiable where grad mode is on)."""
    from adaptact.kernels.backends import LOWERINGS

    family, reference = _decoded(token)
    return reference.with_tensors(tensors, LOWERINGS[family]).theta


def _backward_fake(tensors: list[Tensor], dy: Tensor, token: str, seed: Tensor) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        theta = _lowered_theta(token, tensors)
    return torch.empty_like(tensors[_decoded(token)[1].x_index]), torch.empty_like(theta, dtype=torch.float32)


class _FusedForward(torch.autograd.Function):
    """The op's autograd formula: ``dx`` from ``fused_backward``; each parameter's gradient as the
    vector-Jacobian product of the packing with ``dtheta``. The packing is recomputed with a graph here, at
    the autograd level (the op's own kernels run below it): AOTAutograd traces it into the compiled backward.
    The fused backward is first-order (its autograd kernel refuses a graph)."""

    @staticmethod
    def forward(ctx: Any, token: str, seed: Tensor, *tensors: Tensor) -> Tensor:
        with torch._C._AutoDispatchBelowAutograd():
            y = torch.ops.adaptact.fused_forward.default(list(tensors), token, seed)
        ctx.save_for_backward(*tensors, seed)
        ctx.token = token
        return y

    @staticmethod
    def backward(ctx: Any, dy: Tensor) -> tuple:
        *tensors, seed = ctx.saved_tensors
        i = _decoded(ctx.token)[1].x_index
        dx, dtheta = torch.ops.adaptact.fused_backward.default(list(tensors), dy, ctx.token, seed)
        leaves = [t.detach().requires_grad_(j != i) for j, t in enumerate(tensors)]
        params = [leaf for j, leaf in enumerate(leaves) if j != i]
        with torch.enable_grad():
            theta = _lowered_theta(ctx.token, leaves)
            found = iter(torch.autograd.grad(theta, params, dtheta.to(theta.dtype), allow_unused=True))
        return (None, None, *(dx if j == i else next(found) for j in range(len(tensors))))


def _forward_with_graph(tensors: list[Tensor], token: str, seed: Tensor) -> Tensor:
    return _FusedForward.apply(token, seed, *tensors)


def _forward_autograd(keys: Any, tensors: list[Tensor], token: str, seed: Tensor) -> Tensor:
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _FusedForward.apply(token, seed, *tensors)
    return torch.ops.adaptact.fused_forward.default.redispatch(keys & torch._C._after_autograd_keyset, tensors,
                                                               token, seed)


def _backward_autograd(keys: Any, tensors: list[Tensor], dy: Tensor, token: str, seed: Tensor) -> tuple:
    if torch.is_grad_enabled() and any(t.requires_grad for t in (*tensors, dy)):
        raise RuntimeError("adaptact::fused_backward is first-order: a backward with create_graph=True through a "
                           "compiled fused unit is not supported (run that model eagerly: its fused units "
                           "differentiate the reference)")
    return torch.ops.adaptact.fused_backward.default.redispatch(keys & torch._C._after_autograd_keyset, tensors,
                                                                dy, token, seed)


#: the ops (kernels here serve every device until the C++ node is loaded; then its kernels serve CPU calls,
#: kernels/native_node.cpp); the underscored ones are the Python parts the C++ kernels call
_LIB = torch.library.Library("adaptact", "DEF")
_TAGS = (torch.Tag.pt2_compliant_tag,)
_LIB.define("fused_forward(Tensor[] tensors, str token, Tensor seed) -> Tensor", tags=_TAGS)
_LIB.define("fused_backward(Tensor[] tensors, Tensor dy, str token, Tensor seed) -> (Tensor, Tensor)", tags=_TAGS)
_LIB.define("_native_handle(Tensor[] tensors, str token) -> int")
_LIB.define("_opaque_forward(Tensor[] tensors, str token, Tensor seed) -> Tensor")
_LIB.define("_opaque_backward(Tensor[] tensors, Tensor dy, str token, Tensor seed) -> (Tensor, Tensor)")
_LIB.define("_fused_forward_autograd(Tensor[] tensors, str token, Tensor seed) -> Tensor")
_LIB.impl("fused_forward", _forward_kernel, "CompositeExplicitAutograd")
_LIB.impl("fused_backward", _backward_kernel, "CompositeExplicitAutograd")
_LIB.impl("fused_forward", _forward_autograd, "Autograd", with_keyset=True)
_LIB.impl("fused_backward", _backward_autograd, "Autograd", with_keyset=True)
_LIB.impl("_native_handle", _native_handle, "CompositeExplicitAutograd")
_LIB.impl("_opaque_forward", _opaque_forward, "CompositeExplicitAutograd")
_LIB.impl("_opaque_backward", _opaque_backward, "CompositeExplicitAutograd")
_LIB.impl("_fused_forward_autograd", _forward_with_graph, "CompositeImplicitAutograd")
torch.library.register_fake("adaptact::fused_forward", _forward_fake, lib=_LIB)
torch.library.register_fake("adaptact::fused_backward", _backward_fake, lib=_LIB)

fused_forward = torch.ops.adaptact.fused_forward.default
fused_backward = torch.ops.adaptact.fused_backward.default


def calls() -> dict[str, int]:
    """Executions of each op in this process: ``fused_forward`` and ``fused_backward`` (by their Python or
    C++ kernels), and of those ``native_forward`` / ``native_backward``: run by a C++ handle."""
    counts = {"fused_forward": CALLS["fused_forward"], "fused_backward": CALLS["fused_backward"],
              "native_forward": 0, "native_backward": 0}
    if native_node.loaded():
        forward, backward, native_forward, native_backward = torch.ops.adaptact_native.graph_counts()
        counts["fused_forward"] += forward
        counts["fused_backward"] += backward
        counts.update(native_forward=native_forward, native_backward=native_backward)
    return counts


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
