r"""Adadelta (Zeiler 2012) in one pass of C over each CPU float32 parameter.

Per element, with gradient :math:`g`, running averages :math:`s` (of :math:`g^2`) and :math:`a` (of the
squared updates), learning rate :math:`\eta` and no weight decay:

.. math::

    s &\leftarrow \rho\, s + (1 - \rho)\, g^2, \qquad
    \delta = \frac{\sqrt{a + \epsilon}}{\sqrt{s + \epsilon}}\, g, \\
    a &\leftarrow \rho\, a + (1 - \rho)\, \delta^2, \qquad
    \theta \leftarrow \theta - \eta\, \delta.

torch's CPU Adadelta makes eleven passes over every parameter for this, each reading and writing whole
tensors: on the movie-review CNN of farhadi-mr (a 16,984 x 300 trainable embedding) a quarter to a third
of a training step (``benchmarks/sentence_cnn.py``). Here each element is read once and updated in registers, by the same
float32 operations in the same order (``rho * s`` then one fused multiply-add of ``(1 - rho) * g`` and
``g``, as torch's AVX2 and AVX-512 kernels contract it; the same for :math:`a` and the parameter). One
difference is left, and it is torch's: its vectorised CPU ``sqrt`` is not the correctly rounded square
root (about one float32 value in five is one unit in the last place off), and this pass takes IEEE's.
The two optimizers therefore agree to an ulp per step, not bit for bit (``tests/test_fused_adadelta.py``
bounds the difference and checks that this one is the closer to the float64 formulas).

Served: CPU float32 parameters whose parameter, gradient and both state tensors are contiguous, in groups
with a float learning rate and none of weight decay, ``maximize``, ``differentiable``, ``capturable`` or
``foreach=True``, outside ``torch.compile``, with a working C compiler and the kernels not forced to
``reference`` (``adaptact.kernels.use``); every other parameter takes torch's own step. The state
(``step``, ``square_avg``, ``acc_delta``) is torch's, so state dicts move between the two.
"""
from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Optional

import torch
from torch import Tensor
from torch.optim.adadelta import adadelta as torch_adadelta

from adaptact.kernels import c_build
from adaptact.kernels.dispatch import current

__all__ = ["Adadelta", "served"]

_P, _I64, _F, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
#: (param, grad, square_avg, acc_delta, n, rho, 1 - rho, eps, -lr, threads)
_SIGNATURES = (("adadelta_step", (_P, _P, _P, _P, _I64, _F, _F, _F, _F, _INT)),)

_SOURCE = r"""
#pragma GCC optimize ("fp-contract=off")
#include <math.h>
#include <stdint.h>

void adadelta_step(float *restrict p, const float *restrict g, float *restrict sa, float *restrict ad, int64_t n,
                   float rho, float keep, float eps, float neg_lr, int threads) {
    #pragma omp parallel for simd num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t i = 0; i < n; ++i) {
        const float gi = g[i];
        const float s = fmaf(keep * gi, gi, rho * sa[i]);
        sa[i] = s;
        const float d = sqrtf(ad[i] + eps) / sqrtf(s + eps) * gi;
        ad[i] = fmaf(keep * d, d, rho * ad[i]);
        p[i] = fmaf(d, neg_lr, p[i]);
    }
}
"""

#: below this many elements a step runs on one thread (a parallel region costs more than it saves)
_PARALLEL_FROM = 65536


@lru_cache(maxsize=1)
def _library() -> Optional[ctypes.CDLL]:
    if c_build.compiler() is None:
        return None
    return c_build.load_library(_SOURCE, _SIGNATURES)


def _group_served(group: dict) -> bool:
    return (group["weight_decay"] == 0 and not group["maximize"] and not group["differentiable"]
            and not group["capturable"] and group["foreach"] is not True
            and type(group["lr"]) in (float, int))


def served(p: Tensor, grad: Tensor, square_avg: Tensor, acc_delta: Tensor) -> bool:
    """Whether the C pass updates this parameter (its group's options are checked apart)."""
    return (all(t.device.type == "cpu" and t.dtype == torch.float32 and t.layout == torch.strided
                and t.is_contiguous() and t.shape == p.shape for t in (p, grad, square_avg, acc_delta))
            and not torch.compiler.is_compiling() and current() != "reference" and _library() is not None)


def _c_step(p: Tensor, g: Tensor, square_avg: Tensor, acc_delta: Tensor, lr: float, rho: float,
            eps: float) -> None:
    n = p.numel()
    threads = torch.get_num_threads() if n >= _PARALLEL_FROM else 1
    _library().adadelta_step(p.data_ptr(), g.data_ptr(), square_avg.data_ptr(), acc_delta.data_ptr(), n,
                             rho, 1 - rho, eps, -lr, threads)
    for t in (p, square_avg, acc_delta):  # as torch's in-place ops do: autograd sees the tensors changed
        torch.autograd.graph.increment_version(t)


class Adadelta(torch.optim.Adadelta):
    """``torch.optim.Adadelta`` (same arguments and state) whose CPU float32 parameters are updated by one
    pass of C where :func:`served`; every other parameter, and every group with an option the pass does not
    have, takes torch's own step."""

    def step(self, closure=None):
        if not all(_group_served(group) for group in self.param_groups):
            return super().step(closure)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                self._group_step(group)
        return loss

    def _group_step(self, group: dict) -> None:
        found: list[list[Tensor]] = [[], [], [], [], []]  # params, grads, square_avgs, acc_deltas, steps
        has_complex = self._init_group(group, *found)
        rest: list[list[Tensor]] = [[], [], [], [], []]
        for entry in zip(*found):
            p, g, s, a, k = entry
            if not has_complex and served(p, g, s, a):
                k += 1
                _c_step(p, g, s, a, float(group["lr"]), group["rho"], group["eps"])
            else:
                for bucket, t in zip(rest, entry):
                    bucket.append(t)
        if rest[0]:
            torch_adadelta(*rest, lr=group["lr"], rho=group["rho"], eps=group["eps"], weight_decay=0.0,
                           foreach=group["foreach"], maximize=False, differentiable=False, capturable=False,
                           has_complex=has_complex)
