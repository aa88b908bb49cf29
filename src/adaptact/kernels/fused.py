"""The fused autograd function shared by every engine: save only x and the parameters, recompute in backward.

An *engine* (:class:`Engine`: the C kernels on CPU, Triton on CUDA) runs a
:class:`~adaptact.kernels.program.Program` forward, and backward from the
input (never from saved intermediates). :class:`FusedUnit` wraps it for
autograd: forward saves the input ``x`` (in its own dtype and layout) and the
packed ``(G, P)`` parameters, nothing else; backward asks the engine only for
the gradients autograd needs. float16/bfloat16 inputs are computed in float32
and the results cast back, as in :mod:`adaptact.functional`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Protocol

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from adaptact.kernels.lowering import Lowered
from adaptact.kernels.program import Program

__all__ = ["COLUMN_BELOW", "Engine", "FusedUnit", "Layout", "run"]

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


class FusedUnit(torch.autograd.Function):
    """``y = program(x; theta)`` with a backward that recomputes from ``x``."""

    @staticmethod
    def forward(ctx, x: Tensor, theta: Tensor, program: Program, engine: Engine, seed: int) -> Tensor:
        y = engine.forward(program, _engine_input(x, engine), _float32(theta.detach()), seed)
        ctx.save_for_backward(x, theta)
        ctx.program, ctx.engine, ctx.seed = program, engine, seed
        return _as(y, x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor):
        x, theta = ctx.saved_tensors
        need_x, need_theta = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        engine = ctx.engine
        dx, dtheta = engine.backward(
            ctx.program, _engine_input(x, engine), _engine_input(_as(dy, x.dtype), engine), _float32(theta),
            ctx.seed, need_x, need_theta,
        )
        dx = None if dx is None else _as(dx, x.dtype)
        dtheta = None if dtheta is None else _as(dtheta, theta.dtype)
        return dx, dtheta, None, None, None


def run(lowered: Lowered, x: Tensor, engine: Engine) -> Tensor:
    """Apply a lowered call with ``engine``; the output has ``x``'s shape and dtype."""
    seed = int(torch.randint(0, _SEED_RANGE, (1,)).item()) if lowered.program.stochastic else 0
    return FusedUnit.apply(x, lowered.theta, lowered.program, engine, seed)
