r"""Dropout on CPU float32 tensors in C, its mask drawn from a counter hash instead of torch's generator.

In training, with drop probability :math:`p` and the element's place :math:`i` in memory order,

.. math::  y_i = x_i \cdot m_i, \qquad m_i = \begin{cases} 1/(1-p) & h(s, i) \ge \lfloor p\,2^{32} \rceil \\
           0 & \text{otherwise,} \end{cases}

where :math:`h` is ``f_keyed_hash`` of ``cmath.h`` (one keyed lowbias32 round, RReLU's draw) of the call's seed
:math:`s` (drawn from torch's default generator, so ``torch.manual_seed`` fixes the masks) and :math:`i`: each
element is kept with probability :math:`1 - \lfloor p\,2^{32} \rceil / 2^{32}` (within :math:`2^{-33}` of
:math:`1-p`), independently of the others as far as the tests of ``tests/test_dropout.py`` can tell. The product
(not a select) is torch's: a dropped NaN or infinity gives NaN, as in ``F.dropout``.

The map :math:`x \mapsto y` is linear with the diagonal :math:`m`, so its backward is the same map applied to
the output gradient with the same seed (the mask is drawn again, never stored: backward saves nothing but the
seed), and so is every higher derivative. torch's CPU dropout draws a Bernoulli number per element from its
Mersenne twister (about 10 ns an element on these machines: a third of an SMCN training step at a quarter of
its width, ``benchmarks/dropout.py``); the hash costs a few integer instructions per element, vectorised.

Served: CPU float32 tensors whose elements are dense in memory (contiguous, channels-last, any permutation of
dimensions), ``0 < p < 1``, training, not in place, outside tracing/compiling/``torch.func`` transforms, with a
working C compiler and the kernels not forced to ``reference``; anything else is ``F.dropout`` itself (whose
masks come from torch's generator: the two never give the same masks).
"""
from __future__ import annotations

import ctypes
from functools import lru_cache
from importlib import resources
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from adaptact.kernels import c_build
from adaptact.kernels.backends import _untraceable
from adaptact.kernels.dispatch import current

__all__ = ["dropout", "keep_threshold", "served"]

#: seeds are drawn from torch's default generator in [0, 2**62), as the fused units' stochastic programs
_SEED_RANGE = 2**62

_SIGNATURES = (("dropout_apply", (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64,
                                  ctypes.c_uint32, ctypes.c_float, ctypes.c_int)),)

_KERNEL = r"""
/* y[i] = x[i] * (hash(seed, i) >= threshold ? scale : 0) over n elements in memory order */
void dropout_apply(const float *x, float *y, int64_t n, uint64_t seed, uint32_t threshold, float scale,
                   int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n >= 65536)
    for (int64_t start = 0; start < n; start += 16384) {
        const int64_t end = start + 16384 < n ? start + 16384 : n;
        #pragma omp simd
        for (int64_t i = start; i < end; ++i)
            y[i] = x[i] * (f_keyed_hash(seed, i) >= threshold ? scale : 0.0f);
    }
}
"""


@lru_cache(maxsize=1)
def _library() -> Optional[ctypes.CDLL]:
    if c_build.compiler() is None:
        return None
    prelude = resources.files("adaptact.kernels").joinpath("cmath.h").read_text()
    return c_build.load_library(prelude + _KERNEL, _SIGNATURES)


def keep_threshold(p: float) -> int:
    """The hash value below which an element is dropped: :math:`\\lfloor p\\,2^{32} \\rceil`, for ``0 < p < 1``."""
    return min(max(round(p * 2**32), 1), 2**32 - 1)


def _dense(x: Tensor) -> bool:
    """Whether ``x``'s elements fill its storage span without gaps or overlaps (any order of dimensions)."""
    expected = 1
    for size, stride in sorted((d for d in zip(x.shape, x.stride()) if d[0] > 1), key=lambda d: d[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def served(x: Tensor, p: float, training: bool = True, inplace: bool = False) -> bool:
    """Whether the C kernel computes ``F.dropout(x, p, training, inplace)`` (else ``F.dropout`` does)."""
    if not training or inplace or not 0.0 < p < 1.0:
        return False
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.numel() == 0 or not _dense(x):
        return False
    return _untraceable((x,)) is None and current() != "reference" and _library() is not None


def _apply(x: Tensor, seed: int, p: float) -> Tensor:
    y = torch.empty_like(x)  # the same strides: dense inputs keep their memory order
    _library().dropout_apply(x.data_ptr(), y.data_ptr(), x.numel(), seed, keep_threshold(p), 1.0 / (1.0 - p),
                             torch.get_num_threads())
    return y


def _like(g: Tensor, x_stride: tuple[int, ...]) -> Tensor:
    """``g`` with the strides of the tensor whose mask it takes (the mask follows that tensor's memory order)."""
    if g.stride() == x_stride and g.dtype == torch.float32:
        return g
    out = torch.empty_strided(g.shape, x_stride, dtype=torch.float32)
    return out.copy_(g)


class _HashDropout(torch.autograd.Function):
    """``y = m * x`` with the mask of ``seed``; backward is the same map of the gradient (and so on)."""

    @staticmethod
    def forward(ctx, x: Tensor, seed: int, p: float) -> Tensor:
        ctx.seed, ctx.p, ctx.stride = seed, p, x.stride()
        return _apply(x, seed, p)

    @staticmethod
    def backward(ctx, g: Tensor):
        return _HashDropout.apply(_like(g, ctx.stride), ctx.seed, ctx.p), None, None


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """``F.dropout(x, p, training, inplace)``: the same distribution of masks, drawn by the C kernel where
    :func:`served` (one seed from torch's default generator per call), else ``F.dropout`` itself."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not served(x, p, training, inplace):
        return F.dropout(x, p, training, inplace)
    seed = int(torch.randint(0, _SEED_RANGE, (1,)).item())
    return _HashDropout.apply(x, seed, float(p))
