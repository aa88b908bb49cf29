r"""A blend of batch-normalised basis outputs (ABU in SMCN_BN) in four passes of the fused C kernels.

:func:`adaptact.functional.blend` with ``basis_batchnorm=True`` computes

.. math::
    y = \sum_j \hat w_j\,(f_j - \mu_j)\,r_j, \qquad r_j = (\sigma_j^2 + \epsilon)^{-1/2},

with :math:`\mu_j, \sigma_j^2` the biased batch mean and variance of :math:`f_j(x)` over the :math:`M`
elements of each channel (dim 1; a 1-D input is one channel). Per channel that is an ordinary blend with an
output shift, :math:`y = \sum_j a_j f_j + b` with :math:`a_j = \hat w_j r_j`, :math:`b = -\sum_j a_j \mu_j`;
and batch norm's backward, written for :math:`f_j` with :math:`S_0 = \sum dy` and
:math:`S_j = \sum dy\, f_j` over the channel, is

.. math::
    \frac{\partial L}{\partial f_j} = a_j\,dy + c_j + d_j f_j, \quad
    K_j = a_j r_j^2 (S_j - \mu_j S_0) / M, \quad c_j = K_j \mu_j - a_j S_0 / M, \quad d_j = -K_j,

so :math:`\partial L/\partial x = \sum_j a_j f_j'\,dy + \sum_j (c_j f_j' + d_j f_j f_j')`,
:math:`\partial L/\partial \hat w_j = r_j (S_j - \mu_j S_0)` and each basis parameter :math:`\beta` of
:math:`f_j` gets :math:`\sum (a_j\,dy + c_j + d_j f_j)\,\partial f_j/\partial\beta`.

Four passes, each one fused program over the input (the reference takes about forty):

1. forward: the *moments program* (terms :math:`f_j` and :math:`f_j^2`, weights 1) run backward at
   :math:`dy = 1` sums each term per channel, as the gradient of its weight: :math:`\sum f_j, \sum f_j^2`;
2. forward: the blend program with weights :math:`a`, output shift :math:`b`: :math:`y`;
3. backward: the blend program's backward at :math:`dy`: :math:`\sum_j a_j f_j'\,dy`, :math:`S_j` (its
   weights' gradients), :math:`S_0` (its shift's) and the basis parameters' first part;
4. backward: the moments program's backward at :math:`dy = 1` with weights :math:`(c_j, d_j / 2)`:
   :math:`\sum_j c_j f_j' + d_j f_j f_j'` and the basis parameters' second part.

The variance is :math:`E[f^2] - \mu^2` from float64 sums of float32 chunk sums; where that cancels (a channel
whose :math:`\sigma_j^2 < 10^{-2} E[f_j^2]`, e.g. a saturated tanh) the call is computed by the reference
instead, so no channel loses more than about three digits of its variance.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence

import torch
from torch import Tensor

from adaptact import functional as AF
from adaptact.kernels.c_engine import CEngine
from adaptact.kernels.formulas import FUSED_BASES, Formula, basis_formulas, renamed
from adaptact.kernels.program import Program, Term

__all__ = ["CANCELLATION", "blend_batchnorm_prepare", "squared"]

#: a channel whose variance is below this share of its mean square takes the reference (see the module doc)
CANCELLATION = 1e-2


@lru_cache(maxsize=None)
def squared(f: Formula) -> Formula:
    r""":math:`f^2` with :math:`(f^2)' = 2 f f'` and :math:`\partial(f^2)/\partial p = 2 f\,\partial f/\partial p`
    (a scale ``s_<p>`` of ``f``'s stays the scale)."""
    names = {"f": "sq_f", "dx": "sq_dx", **{f"d_{p}": f"sq_d_{p}" for p in f.params}}
    value = tuple((names.get(n, n), renamed(e, names)) for n, e in f.value) + (("f", "sq_f * sq_f"),)
    derivative = tuple((names.get(n, n), renamed(e, names)) for n, e in f.derivative)
    derivative += (("dx", "2.0 * sq_f * sq_dx"),) + tuple((f"d_{p}", f"2.0 * sq_f * sq_d_{p}") for p in f.params)
    return Formula(f"{f.name}^2", f.params, value, derivative, f.stochastic)


@lru_cache(maxsize=None)
def _programs(basis: tuple[str, ...]) -> tuple[Program, Program, int]:
    """(blend program, moments program, k): slots of the blend ``a_0..a_{m-1}, params (k), b``; of the
    moments ``w_0..w_{m-1}`` (of :math:`f_j`), ``v_0..v_{m-1}`` (of :math:`f_j^2`), params of the first terms,
    params of the squared terms."""
    formulas = basis_formulas(basis, False)
    m, k = len(formulas), sum(len(f.params) for f in formulas)
    blend, moments, squares, slot = [], [], [], 0
    for j, f in enumerate(formulas):
        own = tuple(range(slot, slot + len(f.params)))
        blend.append(Term(f, j, tuple(m + s for s in own)))
        moments.append(Term(f, j, tuple(2 * m + s for s in own)))
        squares.append(Term(squared(f), m + j, tuple(2 * m + k + s for s in own)))
        slot += len(f.params)
    return (Program(tuple(blend), m + k + 1, output_shift=m + k),
            Program(tuple(moments + squares), 2 * m + 2 * k), k)


def _per_channel(t: Optional[Tensor], channels: int, width: int) -> Tensor:
    """``t`` (``(width,)`` shared or ``(C, width)``) as a ``(C, width)`` float64 table (empty when None)."""
    if t is None or width == 0:
        return torch.zeros(channels, 0, dtype=torch.float64)
    return t.detach().to(torch.float64).reshape(-1, width).expand(channels, width)


#: the C engine whose programs the four passes run (stateless: its libraries are cached by program)
_ENGINE = CEngine()


def _kernel_view(t: Tensor, channels_last: bool) -> Tensor:
    """``t`` as the contiguous float32 tensor the kernels read, channel at dim 1: a channels-last 4-D tensor as
    its ``(N H W, C)`` view (no copy; the column layout), any other as itself made contiguous."""
    if channels_last:
        return t.detach().permute(0, 2, 3, 1).to(torch.float32).contiguous().view(-1, t.shape[1])
    return t.detach().to(torch.float32).contiguous()


def _restore(y: Tensor, like: Tensor, channels_last: bool) -> Tensor:
    """The kernels' output in ``like``'s shape and memory format (the inverse of :func:`_kernel_view`)."""
    if channels_last:
        n, c, h, w = like.shape
        return y.view(n, h, w, c).permute(0, 3, 1, 2)
    return y.view(like.shape)


def _is_channels_last(x: Tensor) -> bool:
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


class _Statistics:
    """The batch statistics of one call: per channel ``(C, m)`` float64 mean, mean square, and ``r``."""

    def __init__(self, x: Tensor, basis: tuple[str, ...], params: Tensor) -> None:
        _, moments, _ = _programs(basis)
        m = len(basis)
        channels = x.shape[1] if x.dim() >= 2 else 1  # x: a kernel view (channels at dim 1)
        self.count = x.numel() // channels
        self.view = x  # the kernel view the statistics were taken of: forward and backward read it again
        theta = torch.cat([torch.ones(channels, 2 * m, dtype=torch.float64), params, params], 1)
        _, sums = _ENGINE.backward(moments, x, torch.ones_like(x), theta.float().contiguous(), 0, False, True,
                                     sums64=True)
        self.mean = sums[:, :m] / self.count
        self.square = sums[:, m:2 * m] / self.count
        self.var = (self.square - self.mean ** 2).clamp(min=0.0)
        self.r = (self.var + AF.BATCH_NORM_EPS).rsqrt()

    def cancels(self) -> bool:
        """Whether some channel's variance lost more than the module doc allows to cancellation."""
        return bool(((self.var < CANCELLATION * self.square) & (self.square > 0)).any())


class _BlendBatchNorm(torch.autograd.Function):
    """The blend of the module doc given the call's :class:`_Statistics`; inputs ``x``, the normalised weights
    and the basis parameters (or None). A backward with ``create_graph=True`` differentiates the reference
    with a graph instead (second derivatives follow its math), as :class:`~adaptact.kernels.fused.FusedUnit`."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, params: Optional[Tensor], basis: tuple[str, ...],
                stats: _Statistics) -> Tensor:
        blend, _, k = _programs(basis)
        channels = stats.mean.shape[0]
        a = _per_channel(w, channels, len(basis)) * stats.r
        b = -(a * stats.mean).sum(1, keepdim=True)
        own = _per_channel(params, channels, k)
        theta = torch.cat([a, own, b], 1).float().contiguous()
        ctx.save_for_backward(x, w, params)
        ctx.basis, ctx.stats, ctx.a, ctx.own, ctx.theta = basis, stats, a, own, theta
        ctx.channels_last = cl = _is_channels_last(x)
        return _restore(_ENGINE.forward(blend, stats.view, theta, 0), x, cl)

    @staticmethod
    def backward(ctx, dy: Tensor):
        x, w, params = ctx.saved_tensors
        if torch.is_grad_enabled():
            return _differentiable_grads(x, w, params, ctx.basis, dy, ctx.needs_input_grad[:3]) + (None, None)
        basis, stats, a, own = ctx.basis, ctx.stats, ctx.a, ctx.own
        blend, moments, k = _programs(basis)
        m, n = len(basis), stats.count
        cl = ctx.channels_last
        xc = stats.view
        dx1, g1 = _ENGINE.backward(blend, xc, _kernel_view(dy, cl), ctx.theta, 0, True, True, sums64=True)
        s_0 = g1[:, m + k:m + k + 1]
        spread = g1[:, :m] - stats.mean * s_0  # S_j - mu_j S_0
        big_k = a * stats.r ** 2 * spread / n
        theta2 = torch.cat([big_k * stats.mean - a * s_0 / n, -big_k / 2, own, own], 1).float().contiguous()
        need_params = params is not None and ctx.needs_input_grad[2]
        dx2, g2 = _ENGINE.backward(moments, xc, torch.ones_like(xc), theta2, 0, True, need_params, sums64=True)
        dx = _restore(dx1.add_(dx2), x, cl) if ctx.needs_input_grad[0] else None
        dw = None
        if ctx.needs_input_grad[1]:
            dw = stats.r * spread
            dw = (dw.sum(0) if w.dim() == 1 else dw).to(w.dtype)
        dparams = None
        if need_params:
            dp = g1[:, m:m + k] + g2[:, 2 * m:2 * m + k] + g2[:, 2 * m + k:]
            dparams = (dp.sum(0) if params.dim() == 1 else dp).to(params.dtype).view(params.shape)
        return dx, dw, dparams, None, None


def _differentiable_grads(x: Tensor, w: Tensor, params: Optional[Tensor], basis: tuple[str, ...], dy: Tensor,
                          needed: Sequence[bool]) -> tuple[Optional[Tensor], ...]:
    """The reference's vector-Jacobian product with a graph, each tensor through a fresh alias."""
    aliases = [None if t is None else t.view_as(t) for t in (x, w, params)]
    wanted = [a for a, need in zip(aliases, needed) if need and a is not None]
    with torch.enable_grad():
        y = AF.blend(aliases[0], aliases[1], basis, aliases[2], "none", False, True)
    grads = iter(torch.autograd.grad(y, wanted, dy, create_graph=True, allow_unused=True) if wanted else ())
    return tuple(next(grads) if need and a is not None else None for a, need in zip(aliases, needed))


def blend_batchnorm_prepare(x: Tensor, weights: Tensor, basis: Sequence[str], basis_params: Optional[Tensor] = None,
                            normalization: str = "none", training: bool = False, basis_batchnorm: bool = True):
    """The C computation of a ``basis_batchnorm`` blend call as a zero-argument callable, or why there is none
    (the dispatcher then takes the reference): float32 CPU input of shape ``(N, C, *)`` or 1-D, at least two
    elements per channel, a deterministic basis the fused kernels know, parameters shaped per layer or per
    channel."""
    basis = tuple(basis)
    if x.dtype != torch.float32:
        return f"dtype {x.dtype} (the fused batch-normalised blend computes float32)"
    if any(b not in FUSED_BASES for b in basis):
        return f"basis functions {[b for b in basis if b not in FUSED_BASES]} have no fused formula"
    if any(basis_formulas(basis, training)[j].stochastic for j in range(len(basis))):
        return "a stochastic basis function (RReLU in training) in a batch-normalised blend"
    channels = x.shape[1] if x.dim() >= 2 else 1
    if x.dim() == 0 or x.numel() < 2 * channels:
        return "batch statistics need at least two values per channel"
    m = len(basis)
    k = _programs(basis)[2]
    if x.dim() == 1 and (weights.dim() == 2 or (basis_params is not None and basis_params.dim() == 2)):
        return "per-channel parameters with a 1-D input (no channel axis)"
    if weights.shape[-1] != m or weights.dim() > 2 or (weights.dim() == 2 and weights.shape[0] != channels):
        return "blend weights do not match the basis and the input's channels"
    if k and (basis_params is None or basis_params.shape[-1] != k or basis_params.dim() > 2
              or (basis_params.dim() == 2 and basis_params.shape[0] != channels)):
        return "basis_params do not match the basis and the input's channels"

    engine = _ENGINE
    failed = engine.unavailable(x) or next(filter(None, map(engine.load, _programs(basis)[:2])), None)
    if failed:
        return failed

    def call() -> Tensor:
        stats = _Statistics(_kernel_view(x, _is_channels_last(x)), basis,
                            _per_channel(basis_params if k else None, channels, k))
        if stats.cancels():
            return AF.blend(x, weights, basis, basis_params, normalization, training, True)
        w_hat = AF.blend_weights(weights, normalization)
        return _BlendBatchNorm.apply(x, w_hat, basis_params if k else None, basis, stats)

    return call
