"""The fused autograd function shared by every engine: save only x and the parameters, recompute in backward.

An *engine* (:class:`Engine`: the C kernels on CPU, Triton on CUDA) runs a
:class:`~adaptact.kernels.program.Program` forward, and backward from the
input (never from saved intermediates). :class:`FusedUnit` wraps it for
autograd: forward saves the input ``x`` (in its own dtype and layout) and the
parameters (and keeps their packed ``(G, P)`` float32 copy), nothing else;
backward asks the engine only for the gradients autograd needs.
float16/bfloat16 inputs are computed in float32 and the results cast back,
as in :mod:`adaptact.functional`.

The fused backward is itself not differentiable; a backward called with
``create_graph=True`` (gradient penalties, Hessian-vector products, MAML) is
computed through the reference function instead, from the same saved
tensors, so that higher derivatives work with no user action.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Protocol, Sequence

import torch
from torch import Tensor

from adaptact import functional as AF
from adaptact.kernels.lowering import Lowered
from adaptact.kernels.program import Program

__all__ = ["COLUMN_BELOW", "Engine", "FusedCall", "FusedUnit", "Layout", "ReferenceCall", "counter_uniform", "run",
           "tensor_arguments"]

#: seeds of stochastic programs are drawn from torch's default generator in [0, 2**62)
_SEED_RANGE = 2**62


#: per-channel units whose channels hold fewer elements per sample than this use the column layout
COLUMN_BELOW = 128


@dataclass(frozen=True)
class Layout:
    """How a contiguous input is cut for a program with ``groups`` parameter rows.

    *rows*: ``rows x length`` elements, row ``r`` with the parameters of channel
    ``r % channels`` (a per-layer unit is one row). *columns*: ``rows x length``
    = ``N x (C L)``, each column with its own parameters (per-channel units
    whose channels hold fewer than :data:`COLUMN_BELOW` elements per sample).
    """

    columns: bool
    rows: int
    length: int
    channels: int

    @staticmethod
    def of(x: Tensor, groups: int) -> "Layout":
        if groups == 1:
            return Layout(False, 1, x.numel(), 1)
        n, c = x.shape[0], x.shape[1]
        per_channel = math.prod(x.shape[2:])
        if per_channel >= COLUMN_BELOW:
            return Layout(False, n * c, per_channel, c)
        return Layout(True, n, c * per_channel, c)

    def table(self, theta: Tensor) -> Tensor:
        """The column layout's ``P x (C L)`` table: each channel's parameters repeated over its positions."""
        g, p = theta.shape
        return theta.t().unsqueeze(-1).expand(p, g, self.length // g).reshape(p, self.length).contiguous()

    def fold_table(self, dtable: Tensor) -> Tensor:
        """Gradients of the table ``P x (C L)`` summed back to ``(C, P)``."""
        return dtable.view(dtable.shape[0], self.channels, -1).sum(-1).t()


class Engine(Protocol):
    """Runs programs on one kind of device.

    ``accepts_half``: the engine reads and writes float16/bfloat16 tensors
    itself (else it is given float32 copies).
    """

    name: str
    accepts_half: bool

    def unavailable(self, x: Tensor) -> Optional[str]:
        """Why this engine cannot run on ``x``'s device (None when it can)."""

    def load(self, program: Program) -> Optional[str]:
        """Build or load the kernels of ``program``; why that failed (None when it worked)."""

    def forward(self, program: Program, x: Tensor, theta: Tensor, seed: int) -> Tensor:
        """``y`` for a contiguous ``x`` and ``(G, P)`` float32 ``theta``."""

    def backward(
        self, program: Program, x: Tensor, dy: Tensor, theta: Tensor, seed: int, need_x: bool, need_theta: bool
    ) -> tuple[Optional[Tensor], Optional[Tensor]]:
        """``(dx, dtheta)`` (``dx`` in ``x``'s dtype, ``dtheta`` float32; each None when not needed)."""


def _as(t: Tensor, dtype: torch.dtype) -> Tensor:
    return t if t.dtype == dtype else t.to(dtype)


def _float32(t: Tensor) -> Tensor:
    return t if t.dtype == torch.float32 and t.is_contiguous() else t.to(torch.float32).contiguous()


def _engine_input(t: Tensor, engine: Engine) -> Tensor:
    return t.contiguous() if engine.accepts_half else _float32(t)


#: the low 32 bits of an int64 tensor
_MASK32 = 0xFFFFFFFF


def _mul32(h: Tensor, constant: int) -> Tensor:
    """``h * constant mod 2**32`` for uint32 values held in int64, without int64 overflow."""
    low, high = constant & 0xFFFF, constant >> 16
    return (h * low + (((h * high) & 0xFFFF) << 16)) & _MASK32


def _mix(h: Tensor) -> Tensor:
    """Chris Wellons' "lowbias32" integer hash, as ``f_mix`` in ``cmath.h``."""
    h = h ^ (h >> 16)
    h = _mul32(h, 0x7FEB352D)
    h = h ^ (h >> 15)
    h = _mul32(h, 0x846CA68B)
    return h ^ (h >> 16)


def counter_uniform(x: Tensor, seed: int) -> Tensor:
    """The fused kernels' ``uniform(seed, idx)`` for every element of ``x`` (``idx`` its flat index), in torch.

    The same float32 numbers in ``[0, 1)`` as ``f_uniform`` in ``cmath.h`` (and the Triton twin):
    double backward recomputes a stochastic fused call through the reference with these draws.
    """
    idx = torch.arange(x.numel(), dtype=torch.int64, device=x.device).view(x.shape)
    h = _mix((idx & _MASK32) ^ (seed & _MASK32))
    h = _mix(h ^ ((seed >> 32) & _MASK32) ^ ((idx >> 32) & _MASK32))
    return (h >> 8).to(torch.float32) * 2.0**-24


#: where a tensor argument stood in a :class:`ReferenceCall`'s arguments
_TENSOR = object()


class ReferenceCall(NamedTuple):
    """The reference function's call that a fused call stands for, without its tensors.

    ``args`` and ``kwargs`` hold every non-tensor argument, and a placeholder
    where each tensor stood (so that the call keeps no tensor alive: saved
    tensor hooks such as checkpointing and offloading see every saved
    tensor); ``x_index`` is the input's position among the tensors of
    :func:`tensor_arguments`. ``with_tensors(ts)`` computes the reference with
    ``ts`` in the tensors' places.
    """

    fn: Callable[..., Tensor]
    args: tuple
    kwargs: dict
    x_index: int

    @staticmethod
    def of(fn: Callable[..., Tensor], x: Tensor, args: tuple, kwargs: dict) -> "ReferenceCall":
        def hole(a: object) -> object:
            return _TENSOR if isinstance(a, Tensor) else a

        x_index = next(i for i, t in enumerate(tensor_arguments(args, kwargs)) if t is x)
        return ReferenceCall(fn, tuple(map(hole, args)), {k: hole(v) for k, v in kwargs.items()}, x_index)

    def with_tensors(self, tensors: Sequence[Tensor]) -> Tensor:
        swap = iter(tensors)
        args = [next(swap) if a is _TENSOR else a for a in self.args]
        kwargs = {k: next(swap) if v is _TENSOR else v for k, v in self.kwargs.items()}
        return self.fn(*args, **kwargs)


def tensor_arguments(args: tuple, kwargs: dict) -> tuple[Tensor, ...]:
    """The tensors among a call's arguments: positional first, then keyword in their order."""
    return tuple(a for a in args if isinstance(a, Tensor)) + tuple(
        v for v in kwargs.values() if isinstance(v, Tensor)
    )


class FusedCall(NamedTuple):
    """Everything :class:`FusedUnit` needs besides its tensors."""

    program: Program
    engine: Engine
    seed: int
    reference: ReferenceCall


class FusedUnit(torch.autograd.Function):
    """``y = program(x; theta)`` with a backward that recomputes from ``x``.

    Inputs: the packed ``theta`` and the reference call's tensors (``x`` among
    them). The fused backward returns the gradient of ``theta`` (autograd maps
    it back to the parameters through the packing) and of ``x``. A backward
    run with ``create_graph=True`` (grad mode on inside backward) instead
    recomputes the reference from the same tensors and differentiates it with
    a graph, returning the gradients of the tensors directly: second and
    higher derivatives then follow the reference's math, and the fast path
    stays the fused one. A stochastic call (RReLU in training) is recomputed
    with the kernel's own draws (:func:`counter_uniform`).
    """

    @staticmethod
    def forward(ctx, call: FusedCall, theta: Tensor, *tensors: Tensor) -> Tensor:
        x = tensors[call.reference.x_index]
        packed = _float32(theta.detach())
        y = call.engine.forward(call.program, _engine_input(x, call.engine), packed, call.seed)
        ctx.save_for_backward(*tensors)
        ctx.call, ctx.packed, ctx.theta_dtype = call, packed, theta.dtype
        return _as(y, x.dtype)

    @staticmethod
    def backward(ctx, dy: Tensor):
        tensors = ctx.saved_tensors
        call: FusedCall = ctx.call
        if torch.is_grad_enabled():
            return (None, None) + _differentiable_grads(call, tensors, dy, ctx.needs_input_grad[2:])
        i = call.reference.x_index
        x, engine = tensors[i], call.engine
        dx, dtheta = engine.backward(
            call.program, _engine_input(x, engine), _engine_input(_as(dy, x.dtype), engine), ctx.packed,
            call.seed, ctx.needs_input_grad[2 + i], ctx.needs_input_grad[1],
        )
        grads: list[Optional[Tensor]] = [None] * len(tensors)
        grads[i] = None if dx is None else _as(dx, x.dtype)
        return (None, None if dtheta is None else _as(dtheta, ctx.theta_dtype), *grads)


def _differentiable_grads(
    call: FusedCall, tensors: Sequence[Tensor], dy: Tensor, needed: Sequence[bool]
) -> tuple[Optional[Tensor], ...]:
    """The vector-Jacobian product of the reference call with a graph (for ``create_graph=True``).

    Each tensor enters through a fresh alias (``view_as``), so that the
    gradients are the partial derivatives of this call only, even when the
    input was itself computed from the parameters.
    """
    aliases = [t.view_as(t) for t in tensors]
    wanted = [a for a, need in zip(aliases, needed) if need]
    draws = [0]

    def kernel_draws(x: Tensor) -> Tensor:
        draws[0] += 1
        return counter_uniform(x, call.seed).to(x.dtype)

    with torch.enable_grad(), AF.rrelu_uniform_source(kernel_draws):
        y = call.reference.with_tensors(aliases)
    stochastic_terms = sum(t.formula.stochastic for t in call.program.terms)
    if draws[0] != stochastic_terms:
        raise RuntimeError(
            f"double backward of the fused {call.program.key} cannot redraw its noise through the reference "
            f"({stochastic_terms} stochastic terms, {draws[0]} draws); use kernels.use('reference') for this unit"
        )
    grads = iter(torch.autograd.grad(y, wanted, dy, create_graph=True, allow_unused=True) if wanted else ())
    return tuple(next(grads) if need else None for need in needed)


def run(lowered: Lowered, reference: ReferenceCall, tensors: Sequence[Tensor], engine: Engine) -> Tensor:
    """Apply a lowered call with ``engine``; the output has ``x``'s shape and dtype.

    ``reference`` and ``tensors`` are the call of the reference function it
    computes, and that call's tensors (what double backward recomputes).
    """
    seed = int(torch.randint(0, _SEED_RANGE, (1,)).item()) if lowered.program.stochastic else 0
    return FusedUnit.apply(FusedCall(lowered.program, engine, seed, reference), lowered.theta, *tensors)
