r"""Max pooling on CPU float32 NCHW tensors in C: the values and gradients of ``torch.nn.functional.max_pool2d``,
bit for bit, several times faster.

torch's CPU kernel for contiguous NCHW float tensors is scalar and keeps an int64 index per output; on
the papers' networks it takes 14-22 % of a training step (LeNet-5: 9 ms per call at (100, 20, 24, 24);
SMCN's 3x3/2 pooling 70 ms), more than the activations. Here, per plane,

.. math::  y_{oh,ow} = \max_{0 \le i < k_h,\ 0 \le j < k_w} x_{oh s_h + i,\ ow s_w + j},

scanned as torch scans it (row-major; a larger value or a NaN replaces the current one, so the first of
equal maxima and the last NaN are taken), and the window position of the value taken is kept as one
byte. Backward adds each output gradient onto the input it came from, in torch's order (outputs
row-major per plane, onto zeros), so overlapping windows (SMCN's 3x3/2) sum in the same order and give
the same bits. The backward is itself differentiable (a gather at the same positions), so gradient
penalties and other double backwards work.

Served: CPU float32 tensors of 3 or 4 dimensions, contiguous, no padding, dilation 1, floor mode, windows
of at most 255 positions, outside tracing/compiling/``torch.func`` transforms, with a working C compiler
and the kernels not forced to ``reference``; anything else is ``F.max_pool2d`` itself.
"""
from __future__ import annotations

import ctypes
import math
from functools import lru_cache
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from adaptact.kernels import c_build
from adaptact.kernels.backends import _untraceable
from adaptact.kernels.dispatch import current

__all__ = ["max_pool2d", "served"]

_P, _I64, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
#: (pointers, then planes, H, W, OH, OW, kh, kw, sh, sw, threads)
_GEOMETRY = (_I64,) * 5 + (_INT,) * 5
_SIGNATURES = (
    ("pool_forward", (_P, _P, _P) + _GEOMETRY, _INT),
    ("pool_backward", (_P, _P, _P) + _GEOMETRY),
    ("pool_gather", (_P, _P, _P) + _GEOMETRY),
)

_SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* torch's scan: a larger value or a NaN replaces the current maximum */
#define TAKES(v, m) (((v) > (m)) | ((v) != (v)))

/* A KH x KW window fixed at compile time: the loop runs over outputs of whole planes (not along a row,
   which is 12 long in LeNet-5) with each window's origin from the table `origin`, so it vectorises with
   gathers. Starting from the window's first value is torch's start from -inf: that value is taken
   unless it is -inf, and then the maximum stays -inf at position 0. */
#define WINDOW_PLANE(KH, KW)                                                                            \
    _Pragma("omp simd")                                                                                 \
    for (int64_t o = 0; o < n; ++o) {                                                                   \
        const int32_t at = origin[o];                                                                   \
        float m = x[at];                                                                                \
        int k = 0;                                                                                      \
        for (int i = 0; i < KH; ++i) {                                                                  \
            for (int j = 0; j < KW; ++j) {                                                              \
                const float v = x[at + i * W + j];                                                      \
                const int t = TAKES(v, m);                                                              \
                m = t ? v : m;                                                                          \
                k = t ? i * KW + j : k;                                                                 \
            }                                                                                           \
        }                                                                                               \
        y[o] = m;                                                                                       \
        arg[o] = (uint8_t)k;                                                                            \
    }

/* n outputs of consecutive planes, the window of output o at origin[o] */
static void plane_forward(const float *x, float *y, uint8_t *arg, const int32_t *origin, int64_t W, int64_t n,
                          int kh, int kw) {
    if (kh == 2 && kw == 2) { WINDOW_PLANE(2, 2) }
    else if (kh == 3 && kw == 3) { WINDOW_PLANE(3, 3) }
    else {
        for (int64_t o = 0; o < n; ++o) {
            const int32_t at = origin[o];
            float m = x[at];
            int k = 0;
            for (int i = 0; i < kh; ++i)
                for (int j = 0; j < kw; ++j) {
                    const float v = x[at + i * W + j];
                    if (TAKES(v, m)) { m = v; k = i * kw + j; }
                }
            y[o] = m;
            arg[o] = (uint8_t)k;
        }
    }
}

static inline int64_t source_of(int k, int64_t oh, int64_t ow, int64_t W, int kw, int sh, int sw) {
    return (oh * sh + k / kw) * W + ow * sw + k % kw;
}

#define PLANES(body)                                                                                      \
    _Pragma("omp parallel for num_threads(threads) schedule(static) if (threads > 1 && planes * H * W >= 65536)") \
    for (int64_t p = 0; p < planes; ++p) { body }

/* Planes go in groups of B, one loop over the group's B * OH * OW outputs (LeNet-5's second pooling has 16
   outputs a plane: too few for a vector loop of their own); the origin table covers one group. Returns 0,
   or 1 when the table could not be allocated (nothing written). */
int pool_forward(const float *x, float *y, uint8_t *arg, int64_t planes, int64_t H, int64_t W, int64_t OH,
                 int64_t OW, int kh, int kw, int sh, int sw, int threads) {
    const int64_t n = OH * OW;
    int64_t B = (256 + n - 1) / n;
    if (B > planes) B = planes;
    while (B > 1 && B * H * W >= ((int64_t)1 << 31)) B /= 2;
    int32_t *origin = (int32_t *)malloc(sizeof(int32_t) * (size_t)(B * n));
    if (!origin) return 1;
    for (int64_t b = 0; b < B; ++b)
        for (int64_t o = 0; o < n; ++o) origin[b * n + o] = (int32_t)(b * H * W + (o / OW) * sh * W + (o % OW) * sw);
    const int64_t groups = (planes + B - 1) / B;
    #pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && planes * H * W >= 65536)
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t count = (g + 1) * B <= planes ? B : planes - g * B;
        plane_forward(x + g * B * H * W, y + g * B * n, arg + g * B * n, origin, W, count * n, kh, kw);
    }
    free(origin);
    return 0;
}

/* gx = 0, then gx[source of each output] += gy[output], outputs row-major per plane (torch's order) */
void pool_backward(const float *gy, const uint8_t *arg, float *gx, int64_t planes, int64_t H, int64_t W,
                   int64_t OH, int64_t OW, int kh, int kw, int sh, int sw, int threads) {
    (void)kh;
    PLANES(
        float *g = gx + p * H * W;
        const float *go = gy + p * OH * OW;
        const uint8_t *a = arg + p * OH * OW;
        memset(g, 0, sizeof(float) * (size_t)(H * W));
        for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow)
                g[source_of(a[oh * OW + ow], oh, ow, W, kw, sh, sw)] += go[oh * OW + ow];
    )
}

/* the derivative of pool_backward: out[output] = gg[source of the output] */
void pool_gather(const float *gg, const uint8_t *arg, float *out, int64_t planes, int64_t H, int64_t W,
                 int64_t OH, int64_t OW, int kh, int kw, int sh, int sw, int threads) {
    (void)kh;
    PLANES(
        const float *g = gg + p * H * W;
        const uint8_t *a = arg + p * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow)
                out[p * OH * OW + oh * OW + ow] = g[source_of(a[oh * OW + ow], oh, ow, W, kw, sh, sw)];
    )
}
"""


@lru_cache(maxsize=1)
def _library() -> Optional[ctypes.CDLL]:
    if c_build.compiler() is None:
        return None
    return c_build.load_library(_SOURCE, _SIGNATURES)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def served(x: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
           return_indices=False) -> Optional[tuple[int, int, int, int]]:
    """``(kh, kw, sh, sw)`` when the C kernel computes this call, else ``None`` (``F.max_pool2d`` does)."""
    if (return_indices or ceil_mode or x.device.type != "cpu" or x.dtype != torch.float32 or x.dim() not in (3, 4)
            or not x.is_contiguous()):
        return None
    if _pair(padding) != (0, 0) or _pair(dilation) != (1, 1):
        return None
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride if stride not in (None, ()) else kernel_size)
    if not (0 < kh * kw <= 255 and sh > 0 and sw > 0 and kh <= x.shape[-2] and kw <= x.shape[-1]
            and x.shape[-2] * x.shape[-1] < 2**31):  # window origins are int32 offsets in a plane
        return None
    if x.numel() == 0 or _untraceable((x,)) is not None or current() == "reference" or _library() is None:
        return None
    return kh, kw, sh, sw


def _geometry(shape: torch.Size, window: tuple[int, int, int, int]) -> tuple[int, ...]:
    kh, kw, sh, sw = window
    H, W = shape[-2], shape[-1]
    return math.prod(shape[:-2]), H, W, (H - kh) // sh + 1, (W - kw) // sw + 1, kh, kw, sh, sw, torch.get_num_threads()


def _call(name: str, a: Tensor, b: Tensor, out: Tensor, geometry: tuple[int, ...]) -> Tensor:
    if getattr(_library(), name)(a.data_ptr(), b.data_ptr(), out.data_ptr(), *geometry):
        raise MemoryError(f"adaptact max_pool2d: no memory for the window table of {geometry[3] * geometry[4]} outputs")
    return out


class _Pool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, window: tuple[int, int, int, int]) -> Tensor:
        g = _geometry(x.shape, window)
        out_shape = (*x.shape[:-2], g[3], g[4])
        y = torch.empty(out_shape, dtype=x.dtype)
        arg = torch.empty(out_shape, dtype=torch.uint8)
        _call("pool_forward", x, y, arg, g)
        ctx.save_for_backward(arg)
        ctx.geometry, ctx.in_shape = g, x.shape
        return y

    @staticmethod
    def backward(ctx, gy: Tensor):
        (arg,) = ctx.saved_tensors
        return _Scatter.apply(gy, arg, ctx.geometry, ctx.in_shape), None


class _Scatter(torch.autograd.Function):
    """The input gradient of a pooling: each output gradient onto its source position (linear in ``gy``)."""

    @staticmethod
    def forward(ctx, gy: Tensor, arg: Tensor, geometry: tuple[int, ...], in_shape: torch.Size) -> Tensor:
        ctx.save_for_backward(arg)
        ctx.geometry = geometry
        return _call("pool_backward", gy.contiguous(), arg, torch.empty(in_shape, dtype=gy.dtype), geometry)

    @staticmethod
    def backward(ctx, gg: Tensor):
        (arg,) = ctx.saved_tensors
        return _Gather.apply(gg, arg, ctx.geometry), None, None, None


class _Gather(torch.autograd.Function):
    """The adjoint of :class:`_Scatter`: each output takes the value at its source position."""

    @staticmethod
    def forward(ctx, gg: Tensor, arg: Tensor, geometry: tuple[int, ...]) -> Tensor:
        ctx.save_for_backward(arg)
        ctx.geometry, ctx.in_shape = geometry, gg.shape
        return _call("pool_gather", gg.contiguous(), arg, torch.empty(arg.shape, dtype=gg.dtype), geometry)

    @staticmethod
    def backward(ctx, g: Tensor):
        (arg,) = ctx.saved_tensors
        return _Scatter.apply(g, arg, ctx.geometry, ctx.in_shape), None, None


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """``F.max_pool2d`` with the same arguments and results; computed by the C kernel where :func:`served`."""
    window = served(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    if window is None:
        return F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode,
                            return_indices=return_indices)
    return _Pool.apply(x, window)
