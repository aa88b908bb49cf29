"""The CPU engine: runs programs with the C kernels of :mod:`adaptact.kernels.c_source`.

Layout choice (see ``c_source``): a per-layer unit (``G = 1``) is one long row;
a per-channel unit on ``(N, C, *)`` uses rows of the ``L = prod(*)`` elements
of one channel when ``L >= COLUMN_BELOW``, else the column layout over the
``C * L`` positions of a sample with a ``P x (C L)`` parameter table.
"""
from __future__ import annotations

import ctypes
import math
from functools import lru_cache
from typing import Optional

import torch
from torch import Tensor

from adaptact.kernels.c_build import compiler, load_library
from adaptact.kernels.c_source import c_source
from adaptact.kernels.program import Program

__all__ = ["CEngine", "COLUMN_BELOW"]

#: per-channel units whose channels hold fewer elements per sample than this use the column layout
COLUMN_BELOW = 128


@lru_cache(maxsize=None)
def _library(program: Program) -> ctypes.CDLL:
    return load_library(c_source(program))


def _pointer(t: Optional[Tensor]) -> Optional[int]:
    return None if t is None else t.data_ptr()


class CEngine:
    """Compiled C kernels, multithreaded with OpenMP over ``torch.get_num_threads()`` threads."""

    name = "c"

    def unavailable(self, x: Tensor) -> Optional[str]:
        if x.device.type != "cpu":
            return f"the C kernels run on CPU tensors, not {x.device.type}"
        if compiler() is None:
            return "no working C compiler (set CC), so the C kernels could not be built"
        return None

    @staticmethod
    def _layout(x: Tensor, groups: int) -> tuple[bool, int, int, int]:
        """``(columns, rows_or_N, L_or_J, C)``."""
        if groups == 1:
            return False, 1, x.numel(), 1
        n, c = x.shape[0], x.shape[1]
        length = math.prod(x.shape[2:])
        if length >= COLUMN_BELOW:
            return False, n * c, length, c
        return True, n, c * length, c

    @staticmethod
    def _table(theta: Tensor, columns: int) -> Tensor:
        """``P x (C L)``: each channel's parameters repeated over its ``L`` positions."""
        g, p = theta.shape
        return theta.t().unsqueeze(-1).expand(p, g, columns // g).reshape(p, columns).contiguous()

    def forward(self, program: Program, x: Tensor, theta: Tensor, seed: int) -> Tensor:
        lib = _library(program)
        y = torch.empty_like(x)
        columns, a, b, c = self._layout(x, theta.shape[0])
        threads = torch.get_num_threads()
        if columns:
            table = self._table(theta, b)
            lib.fwd_cols(x.data_ptr(), y.data_ptr(), table.data_ptr(), a, b, seed, threads)
        else:
            lib.fwd_rows(x.data_ptr(), y.data_ptr(), theta.data_ptr(), a, b, c, seed, threads)
        return y

    def backward(
        self, program: Program, x: Tensor, dy: Tensor, theta: Tensor, seed: int, need_x: bool, need_theta: bool
    ) -> tuple[Optional[Tensor], Optional[Tensor]]:
        lib = _library(program)
        dx = torch.empty_like(x) if need_x else None
        columns, a, b, c = self._layout(x, theta.shape[0])
        threads = torch.get_num_threads()
        if columns:
            table = self._table(theta, b)
            dtable = torch.zeros_like(table, dtype=torch.float64) if need_theta else None
            lib.bwd_cols(x.data_ptr(), dy.data_ptr(), table.data_ptr(), _pointer(dx), _pointer(dtable), a, b, seed, threads)
            dtheta = None if dtable is None else dtable.view(theta.shape[1], c, b // c).sum(-1).t()
        else:
            dtheta = torch.zeros_like(theta, dtype=torch.float64) if need_theta else None
            lib.bwd_rows(x.data_ptr(), dy.data_ptr(), theta.data_ptr(), _pointer(dx), _pointer(dtheta), a, b, c, seed, threads)
        return dx, None if dtheta is None else dtheta.to(torch.float32)
