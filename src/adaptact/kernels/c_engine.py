"""The CPU engine: runs programs with the C kernels of :mod:`adaptact.kernels.c_source`.

The input is cut by :class:`~adaptact.kernels.fused.Layout` (one long row per
layer, rows of channels, or columns for small channels); all work is split
over ``torch.get_num_threads()`` OpenMP threads.
"""
from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Optional

import torch
from torch import Tensor

from adaptact.kernels.c_build import compiler, load_library, log
from adaptact.kernels.c_source import c_source
from adaptact.kernels.fused import Layout
from adaptact.kernels.program import Program

__all__ = ["CEngine"]


@lru_cache(maxsize=None)
def _build(program: Program) -> ctypes.CDLL:
    return load_library(c_source(program))


#: id(program) -> (program, library): a per-call lookup without hashing the program
_LOADED: dict[int, tuple[Program, ctypes.CDLL]] = {}


def _library(program: Program) -> ctypes.CDLL:
    hit = _LOADED.get(id(program))
    if hit is not None and hit[0] is program:
        return hit[1]
    lib = _build(program)
    _LOADED[id(program)] = (program, lib)
    return lib


def _clear_libraries() -> None:
    _LOADED.clear()
    _build.cache_clear()


_library.cache_clear = _clear_libraries  # type: ignore[attr-defined]  (as functools' caches: for tests)


def _pointer(t: Optional[Tensor]) -> Optional[int]:
    return None if t is None else t.data_ptr()


class CEngine:
    """Compiled C kernels, multithreaded with OpenMP over ``torch.get_num_threads()`` threads."""

    name = "c"
    accepts_half = False

    def unavailable(self, x: Tensor) -> Optional[str]:
        if x.device.type != "cpu":
            return f"the C kernels run on CPU tensors, not {x.device.type}"
        if compiler() is None:
            return "no working C compiler (set CC), so the C kernels could not be built"
        return None

    def load(self, program: Program) -> Optional[str]:
        try:
            _library(program)
        except (OSError, RuntimeError) as e:
            log.warning("adaptact.kernels: the C kernels of %s could not be built (%s); using the reference",
                        program.key, str(e).splitlines()[0])
            return f"building the C kernels failed: {str(e).splitlines()[0]}"
        return None

    def forward(self, program: Program, x: Tensor, theta: Tensor, seed: int) -> Tensor:
        lib = _library(program)
        y = torch.empty_like(x)
        lay = Layout.of(x, theta.shape[0])
        threads = torch.get_num_threads()
        if lay.columns:
            table = lay.table(theta)
            lib.fwd_cols(x.data_ptr(), y.data_ptr(), table.data_ptr(), lay.rows, lay.length, seed, threads)
        else:
            lib.fwd_rows(x.data_ptr(), y.data_ptr(), theta.data_ptr(), lay.rows, lay.length, lay.channels, seed, threads)
        return y

    def backward(
        self, program: Program, x: Tensor, dy: Tensor, theta: Tensor, seed: int, need_x: bool, need_theta: bool,
        sums64: bool = False,
    ) -> tuple[Optional[Tensor], Optional[Tensor]]:
        """As :meth:`Engine.backward`; ``sums64``: ``dtheta`` in the float64 the kernels accumulate it in."""
        lib = _library(program)
        dx = torch.empty_like(x) if need_x else None
        lay = Layout.of(x, theta.shape[0])
        threads = torch.get_num_threads()
        if lay.columns:
            table = lay.table(theta)
            dtable = torch.zeros_like(table, dtype=torch.float64) if need_theta else None
            lib.bwd_cols(x.data_ptr(), dy.data_ptr(), table.data_ptr(), _pointer(dx), _pointer(dtable),
                         lay.rows, lay.length, seed, threads)
            dtheta = None if dtable is None else lay.fold_table(dtable)
        else:
            dtheta = torch.zeros_like(theta, dtype=torch.float64) if need_theta else None
            lib.bwd_rows(x.data_ptr(), dy.data_ptr(), theta.data_ptr(), _pointer(dx), _pointer(dtheta),
                         lay.rows, lay.length, lay.channels, seed, threads)
        return dx, None if dtheta is None else dtheta if sums64 else dtheta.float()
