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

from typing import Optional, Protocol

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from adaptact.kernels.lowering import Lowered
from adaptact.kernels.program import Program

__all__ = ["Engine", "FusedUnit", "run"]

#: seeds of stochastic programs are drawn from torch's default generator in [0, 2**62)
_SEED_RANGE = 2**62


class Engine(Protocol):
    """Runs programs on one kind of device."""

    name: str

    def unavailable(self, x: Tensor) -> Optional[str]:
        """Why this engine cannot run on ``x``'s device (None when it can)."""

    def forward(self, program: Program, x: Tensor, theta: Tensor, seed: int) -> Tensor:
        """``y`` for a contiguous float32 ``x`` and ``(G, P)`` float32 ``theta``."""

    def backward(
        self, program: Program, x: Tensor, dy: Tensor, theta: Tensor, seed: int, need_x: bool, need_theta: bool
    ) -> tuple[Optional[Tensor], Optional[Tensor]]:
        """``(dx, dtheta)`` (float32; each None when not needed)."""


def _float32(t: Tensor) -> Tensor:
    return t.to(torch.float32).contiguous()


class FusedUnit(torch.autograd.Function):
    """``y = program(x; theta)`` with a backward that recomputes from ``x``."""

    @staticmethod
    def forward(ctx, x: Tensor, theta: Tensor, program: Program, engine: Engine, seed: int) -> Tensor:
        y = engine.forward(program, _float32(x), _float32(theta.detach()), seed)
        ctx.save_for_backward(x, theta)
        ctx.program, ctx.engine, ctx.seed = program, engine, seed
        return y.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor):
        x, theta = ctx.saved_tensors
        need_x, need_theta = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        dx, dtheta = ctx.engine.backward(
            ctx.program, _float32(x), _float32(dy), _float32(theta), ctx.seed, need_x, need_theta
        )
        dx = None if dx is None else dx.to(x.dtype)
        dtheta = None if dtheta is None else dtheta.to(theta.dtype)
        return dx, dtheta, None, None, None


def run(lowered: Lowered, x: Tensor, engine: Engine) -> Tensor:
    """Apply a lowered call with ``engine``; the output has ``x``'s shape and dtype."""
    seed = int(torch.randint(0, _SEED_RANGE, (1,)).item()) if lowered.program.stochastic else 0
    return FusedUnit.apply(x, lowered.theta, lowered.program, engine, seed)
