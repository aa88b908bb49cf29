"""The fused autograd function shared by every engine: save only x and the parameters, recompute in backward.

An *engine* (:class:`Engine`: the C kernels on CPU, Triton on CUDA) runs a
:class:`~adaptact.kernels.program.Program` forward, and backward from the
input (never from saved intermediates). :class:`FusedUnit` wraps it for
autograd: forward saves the input ``x`` (in its own dtype and layout) and the
parameters (and keeps their packed ``(G, P)`` float32 copy), nothing else;
backward asks the engine only for the gradients autograd needs. When the
lowering's packing is a pure gather of parameter elements (:class:`Gather`,
every family but normalised blends), the parameters enter the function
themselves: they are packed inside forward and the packed gradient is
scattered back in backward, so that autograd sees one node per call.
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
from typing import Callable, NamedTuple, Optional, Protocol, Sequence, Union

import torch
from torch import Tensor

from adaptact import functional as AF
from adaptact.kernels.lowering import Lowered
from adaptact.kernels.program import Program

__all__ = ["COLUMN_BELOW", "Engine", "FusedCall", "FusedUnit", "Gather", "Layout", "ReferenceCall", "coefficient_uniform",
           "counter_uniform", "draw_seed", "engine_input", "run", "same_dtype", "tensor_arguments"]

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


def same_dtype(t: Tensor, dtype: torch.dtype) -> Tensor:
    """``t`` in ``dtype`` (itself when it already is)."""
    return t if t.dtype == dtype else t.to(dtype)


def _float32(t: Tensor) -> Tensor:
    return t if t.dtype == torch.float32 and t.is_contiguous() else t.to(torch.float32).contiguous()


def engine_input(t: Tensor, engine: Engine) -> Tensor:
    """``t`` as ``engine`` reads it: contiguous, and float32 unless the engine reads half types."""
    return t.contiguous() if engine.accepts_half else _float32(t)


#: the low 32 bits of an int64 tensor
_MASK32 = 0xFFFFFFFF


def _mul32(h: Union[Tensor, int], constant: int) -> Union[Tensor, int]:
    """``h * constant mod 2**32`` for uint32 values held in int64, without int64 overflow."""
    low, high = constant & 0xFFFF, constant >> 16
    return (h * low + (((h * high) & 0xFFFF) << 16)) & _MASK32


def _mix(h: Union[Tensor, int]) -> Union[Tensor, int]:
    """Chris Wellons' "lowbias32" integer hash, as ``f_mix`` in ``cmath.h``."""
    h = h ^ (h >> 16)
    h = _mul32(h, 0x7FEB352D)
    h = h ^ (h >> 15)
    h = _mul32(h, 0x846CA68B)
    return h ^ (h >> 16)


def _element_hash(idx: Tensor, seed: int) -> Tensor:
    """``f_element_hash`` of ``cmath.h``: the two-round hash of (seed, element index), uint32 values in int64."""
    h = _mix((idx & _MASK32) ^ (seed & _MASK32))
    return _mix(h ^ ((seed >> 32) & _MASK32) ^ ((idx >> 32) & _MASK32))


def _seed_key(seed: int, salt: int) -> int:
    """``f_seed_key`` of ``cmath.h``: a 32-bit key of the seed (on Python ints: :func:`_mix` takes them too)."""
    return _mix((seed & _MASK32) ^ _mix(((seed >> 32) & _MASK32) ^ salt))


def _keyed_hash(idx: Tensor, seed: int) -> Tensor:
    """``f_keyed_hash`` of ``cmath.h``: the one-round keyed hash of (seed, element index), uint32 values in
    int64 (RReLU's draw)."""
    h = (idx & _MASK32) ^ _seed_key(seed, 0)
    h = _mul32(h ^ (h >> 16), 0x7FEB352D)
    h = h ^ _seed_key(seed, 0x85EBCA6B) ^ ((idx >> 32) & _MASK32)
    h = _mul32(h ^ (h >> 15), 0x846CA68B)
    return h ^ (h >> 16)


def counter_uniform(x: Tensor, seed: int) -> Tensor:
    """The fused kernels' ``uniform(seed, idx)`` for every element of ``x`` (``idx`` its flat index), in torch.

    The same float32 numbers in ``[0, 1)`` as ``f_uniform`` in ``cmath.h`` (and the Triton twin):
    double backward recomputes a stochastic fused call through the reference with these draws.
    """
    idx = torch.arange(x.numel(), dtype=torch.int64, device=x.device).view(x.shape)
    return (_keyed_hash(idx, seed) >> 8).to(torch.float32) * 2.0**-24


def coefficient_uniform(t: Tensor, seed: int) -> Tensor:
    """The fused kernels' ``uniform_k(seed, idx, k)`` for a tensor of shape ``x.shape + (K,)`` (``idx`` the
    flat index into ``x``, ``k`` the last index), in torch: the same float32 numbers as ``f_uniform_k`` in
    ``cmath.h``; double backward of RPAU replays its noise with them."""
    elements = t.shape[:-1]
    idx = torch.arange(math.prod(elements), dtype=torch.int64, device=t.device).view(elements + (1,))
    k = torch.arange(t.shape[-1], dtype=torch.int64, device=t.device)
    g = _mix(_element_hash(idx, seed) ^ _mul32(k // 2 + 1, 0x9E3779B9))
    bits = torch.where(k % 2 == 1, g >> 16, g & 0xFFFF)
    return (bits.to(torch.float32) + 0.5) * 2.0**-16


#: where a tensor argument stood in a :class:`ReferenceCall`'s arguments
_TENSOR = object()


def hole() -> object:
    """The placeholder a :class:`ReferenceCall` holds where a tensor stood."""
    return _TENSOR


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

    def arguments(self, tensors: Sequence[Tensor]) -> tuple[tuple, dict]:
        """``(args, kwargs)`` of the call with ``tensors`` in the tensors' places."""
        swap = iter(tensors)
        args = tuple(next(swap) if a is _TENSOR else a for a in self.args)
        kwargs = {k: next(swap) if v is _TENSOR else v for k, v in self.kwargs.items()}
        return args, kwargs

    def with_tensors(self, tensors: Sequence[Tensor], fn: Optional[Callable[..., object]] = None) -> Tensor:
        """The reference (or ``fn``, a function of the same signature) with ``tensors`` in the tensors' places."""
        args, kwargs = self.arguments(tensors)
        return (fn or self.fn)(*args, **kwargs)


def tensor_arguments(args: tuple, kwargs: dict) -> tuple[Tensor, ...]:
    """The tensors among a call's arguments: positional first, then keyword in their order."""
    return tuple(a for a in args if isinstance(a, Tensor)) + tuple(
        v for v in kwargs.values() if isinstance(v, Tensor)
    )


#: codes of the gather probe stay exact in float32 below this many parameter elements
_PROBE_LIMIT = 2**20


def _probe_codes(n: int, offset: int) -> Tensor:
    """``n`` distinct float32 codes, signed and fractional (no map but a selection keeps all of them codes)."""
    k = torch.arange(offset, offset + n, dtype=torch.float64)
    sign = 1.0 - 2.0 * (k % 2)
    return (sign * (k + 1.25)).to(torch.float32)


def _code_index(values: Tensor, total: int) -> Optional[Tensor]:
    """The global element index of each code in ``values``, or None when one of them is no code."""
    k = (values.double().abs() - 1.25).round().long()
    if values.numel() == 0 or bool((k < 0).any()) or bool((k >= total).any()):
        return None
    if not torch.equal(_probe_codes(total, 0)[k], values):
        return None
    return k


@dataclass(frozen=True)
class Gather:
    """A lowering's packing that only selects parameter elements: ``theta.flatten() = concat(params)[index]``.

    Found once per call signature by :meth:`probe`: the lowering is run on
    parameters filled with distinct signed fractional codes; when every packed
    slot holds exactly one code, the packing is this gather (any arithmetic, a
    normalisation or an absolute value would turn codes into non-codes).
    :meth:`pack` then computes ``theta`` without autograd and :meth:`unpack`
    scatters its gradient back to each parameter. This relies on the
    lowering's packing depending on the parameters' shapes only, not their
    values (true of every lowering: shapes pick the slots, values fill them).
    """

    index: Tensor
    sizes: tuple[int, ...]
    shape: tuple[int, int]
    x_index: int
    #: the index is 0, 1, ..., n-1: theta is the parameters' concatenation itself (no gather, no scatter)
    identity: bool = False
    #: with ``identity``, the position of the call's only parameter tensor (None when there are several)
    single: Optional[int] = None

    @staticmethod
    def probe(lower: Callable[..., object], args: tuple, kwargs: dict, tensors: Sequence[Tensor],
              x_index: int) -> Optional["Gather"]:
        sizes = tuple(0 if i == x_index else t.numel() for i, t in enumerate(tensors))
        total = sum(sizes)
        if total >= _PROBE_LIMIT:
            return None
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        probes = [t if i == x_index else _probe_codes(t.numel(), offsets[i]).view(t.shape).to(t.device)
                  for i, t in enumerate(tensors)]
        swap = iter(probes)
        probe_args = tuple(next(swap) if isinstance(a, Tensor) else a for a in args)
        probe_kwargs = {k: next(swap) if isinstance(v, Tensor) else v for k, v in kwargs.items()}
        with torch.no_grad():
            lowered = lower(*probe_args, **probe_kwargs)
        theta = getattr(lowered, "theta", None)
        if theta is None or theta.dim() != 2 or theta.dtype != torch.float32:
            return None
        index = _code_index(theta.detach().cpu().reshape(-1), total)
        if index is None:
            return None
        identity = bool(torch.equal(index, torch.arange(total)))
        params = [i for i in range(len(tensors)) if i != x_index]
        single = params[0] if identity and len(params) == 1 else None
        return Gather(index.to(theta.device), sizes, (theta.shape[0], theta.shape[1]), x_index, identity, single)

    def pack(self, tensors: Sequence[Tensor]) -> Tensor:
        """The ``(G, P)`` float32 packed parameters of ``tensors`` (the call's tensors), outside autograd."""
        if self.single is not None:
            t = tensors[self.single]
            if t.dtype == torch.float32 and t.is_contiguous():
                return t.detach().view(self.shape)  # theta is the parameter itself
        parts = [_float32(t.detach()).view(-1) for i, t in enumerate(tensors) if i != self.x_index]
        flat = parts[0] if len(parts) == 1 else torch.cat(parts)
        return (flat if self.identity else flat[self.index]).view(self.shape)

    def unpack(self, dtheta: Tensor, tensors: Sequence[Tensor], needed: Sequence[bool]) -> list[Optional[Tensor]]:
        """Each parameter's gradient from the packed ``dtheta`` (None where not ``needed``; None for ``x``)."""
        if self.identity:
            flat = _float32(dtheta).view(-1)
        else:
            flat = torch.zeros(sum(self.sizes), dtype=torch.float32, device=dtheta.device)
            flat.index_add_(0, self.index, _float32(dtheta).view(-1))
        pieces = iter(flat.split_with_sizes([n for i, n in enumerate(self.sizes) if i != self.x_index]))
        grads: list[Optional[Tensor]] = []
        for i, t in enumerate(tensors):
            piece = None if i == self.x_index else next(pieces)
            if piece is None or not needed[i]:
                grads.append(None)
            else:
                grads.append(same_dtype(piece if piece.dim() == t.dim() == 1 else piece.view(t.shape), t.dtype))
        return grads


class FusedCall(NamedTuple):
    """Everything :class:`FusedUnit` needs besides its tensors (``gather``: see :class:`FusedUnit`)."""

    program: Program
    engine: Engine
    seed: int
    reference: ReferenceCall
    gather: Optional[Gather] = None


class FusedUnit(torch.autograd.Function):
    """``y = program(x; theta)`` with a backward that recomputes from ``x``.

    Inputs: the packed ``theta`` and the reference call's tensors (``x`` among
    them). The fused backward returns the gradient of ``theta`` (autograd maps
    it back to the parameters through the packing) and of ``x``. With a
    ``call.gather``, ``theta`` is None: forward packs the parameters itself and
    backward returns their gradients directly (no packing nodes in the graph). A backward
    run with ``create_graph=True`` (grad mode on inside backward) instead
    recomputes the reference from the same tensors and differentiates it with
    a graph, returning the gradients of the tensors directly: second and
    higher derivatives then follow the reference's math, and the fast path
    stays the fused one. A stochastic call (RReLU in training) is recomputed
    with the kernel's own draws (:func:`counter_uniform`).
    """

    @staticmethod
    def forward(ctx, call: FusedCall, theta: Optional[Tensor], *tensors: Tensor) -> Tensor:
        x = tensors[call.reference.x_index]
        packed = call.gather.pack(tensors) if theta is None else _float32(theta.detach())
        y = call.engine.forward(call.program, engine_input(x, call.engine), packed, call.seed)
        ctx.save_for_backward(*tensors)
        ctx.call, ctx.packed = call, packed
        ctx.theta_dtype = torch.float32 if theta is None else theta.dtype
        return same_dtype(y, x.dtype)

    @staticmethod
    def backward(ctx, dy: Tensor):
        tensors = ctx.saved_tensors
        call: FusedCall = ctx.call
        if torch.is_grad_enabled():
            return (None, None) + _differentiable_grads(call, tensors, dy, ctx.needs_input_grad[2:])
        i = call.reference.x_index
        x, engine = tensors[i], call.engine
        needed = ctx.needs_input_grad[2:]
        need_theta = ctx.needs_input_grad[1] or (
            call.gather is not None and any(n for j, n in enumerate(needed) if j != i))
        dx, dtheta = engine.backward(
            call.program, engine_input(x, engine), engine_input(same_dtype(dy, x.dtype), engine), ctx.packed,
            call.seed, needed[i], need_theta,
        )
        if call.gather is not None:
            grads = call.gather.unpack(dtheta, tensors, needed) if dtheta is not None else [None] * len(tensors)
            dtheta = None
        else:
            grads = [None] * len(tensors)
        grads[i] = None if dx is None else same_dtype(dx, x.dtype)
        return (None, None if dtheta is None else same_dtype(dtheta, ctx.theta_dtype), *grads)


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

    x_dims = tensors[call.reference.x_index].dim()

    def kernel_draws(t: Tensor) -> Tensor:
        draws[0] += 1
        # RReLU draws one number per element (t has x's shape), RPAU one per element and coefficient
        replay = coefficient_uniform if t.dim() == x_dims + 1 else counter_uniform
        return replay(t, call.seed).to(t.dtype)

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


def draw_seed(program: Program) -> int:
    """A fresh seed from torch's default generator for a stochastic program (0 for the others)."""
    return int(torch.randint(0, _SEED_RANGE, (1,)).item()) if program.stochastic else 0


def run(lowered: Lowered, reference: ReferenceCall, tensors: Sequence[Tensor], engine: Engine,
        gather: Optional[Gather] = None) -> Tensor:
    """Apply a lowered call with ``engine``; the output has ``x``'s shape and dtype.

    ``reference`` and ``tensors`` are the call of the reference function it
    computes, and that call's tensors (what double backward recomputes). With
    a ``gather`` the parameters are packed inside :class:`FusedUnit` and
    ``lowered.theta`` is not used (it may be None).
    """
    call = FusedCall(lowered.program, engine, draw_seed(lowered.program), reference, gather)
    return FusedUnit.apply(call, None if gather is not None else lowered.theta, *tensors)
