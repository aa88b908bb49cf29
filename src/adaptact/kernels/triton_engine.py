"""The CUDA engine: runs programs with the Triton kernels of :mod:`adaptact.kernels.triton_source`.

Each program's module is generated once, written to the kernel cache folder
(Triton reads kernel source from files) and imported. Triton compiles and
caches the kernels per dtype on first launch. Under ``TRITON_INTERPRET=1``
the same kernels run on CPU tensors through Triton's interpreter; this engine
then serves CPU calls only when forced with ``kernels.use("triton")`` (it is a
checking tool, far slower than the C kernels).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from functools import lru_cache
from types import ModuleType
from typing import Optional

import torch
from torch import Tensor

from adaptact.cachedir import write_bytes_atomic
from adaptact.kernels.c_build import cache_dir
from adaptact.kernels.dispatch import current
from adaptact.kernels.fused import Layout
from adaptact.kernels.program import Program
from adaptact.kernels.triton_source import BLOCK, BLOCK_J, BLOCK_N, triton_source

__all__ = ["TritonEngine", "interpreting", "triton_unavailable"]


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@lru_cache(maxsize=None)
def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def triton_unavailable() -> Optional[str]:
    """Why the Triton kernels cannot run in this process (None when they can)."""
    if not _triton_installed():
        return "triton is not installed (pip install 'adaptact[gpu]')"
    if not interpreting() and not torch.cuda.is_available():
        return "no CUDA device"
    return None


@lru_cache(maxsize=None)
def _module(program: Program, interpret: bool) -> ModuleType:
    source = triton_source(program)
    key = hashlib.sha256(f"{interpret}\n{source}".encode()).hexdigest()[:24]
    path = cache_dir() / f"adaptact_triton_{key}.py"
    if not path.exists() or path.read_bytes() != source.encode():  # never import a damaged or foreign file
        write_bytes_atomic(path, source.encode())
    spec = importlib.util.spec_from_file_location(f"adaptact_triton_{key}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


class TritonEngine:
    """Triton kernels on CUDA tensors, float32/float16/bfloat16 read and written in place of a cast."""

    name = "triton"
    accepts_half = True

    def unavailable(self, x: Tensor) -> Optional[str]:
        reason = triton_unavailable()
        if reason:
            return reason
        if x.device.type == "cuda":
            return None
        if x.device.type == "cpu" and interpreting() and current() == "triton":
            return None
        return "the Triton kernels run on CUDA tensors (on CPU only under TRITON_INTERPRET=1 and use('triton'))"

    def load(self, program: Program) -> Optional[str]:
        try:
            _module(program, interpreting())
        except (OSError, ImportError, SyntaxError) as e:
            return f"loading the Triton kernels failed: {e}"
        return None

    def forward(self, program: Program, x: Tensor, theta: Tensor, seed: int) -> Tensor:
        mod = _module(program, interpreting())
        y = torch.empty_like(x)
        lay = Layout.of(x, theta.shape[0])
        if lay.columns:
            grid = (_cdiv(lay.rows, BLOCK_N), _cdiv(lay.length, BLOCK_J))
            mod.fwd_cols[grid](x, y, lay.table(theta), lay.rows, lay.length, seed)
        else:
            chunks = _cdiv(lay.length, BLOCK)
            mod.fwd_rows[(lay.rows * chunks,)](x, y, theta, lay.length, lay.channels, chunks, seed)
        return y

    def backward(
        self, program: Program, x: Tensor, dy: Tensor, theta: Tensor, seed: int, need_x: bool, need_theta: bool
    ) -> tuple[Optional[Tensor], Optional[Tensor]]:
        mod = _module(program, interpreting())
        p = program.num_slots
        dx = torch.empty_like(x) if need_x else x  # x is a placeholder the kernel never writes
        lay = Layout.of(x, theta.shape[0])
        if lay.columns:
            grid = (_cdiv(lay.rows, BLOCK_N), _cdiv(lay.length, BLOCK_J))
            partial = torch.empty(grid[0], p, lay.length, device=x.device) if need_theta else theta
            mod.bwd_cols[grid](x, dy, lay.table(theta), dx, partial, lay.rows, lay.length, seed,
                               WANT_DX=need_x, WANT_P=need_theta)
            dtheta = lay.fold_table(partial.double().sum(0)) if need_theta else None
        else:
            chunks = _cdiv(lay.length, BLOCK)
            partial = torch.empty(lay.rows * chunks, p, device=x.device) if need_theta else theta
            mod.bwd_rows[(lay.rows * chunks,)](x, dy, theta, dx, partial, lay.length, lay.channels, chunks, seed,
                                               WANT_DX=need_x, WANT_P=need_theta)
            dtheta = None
            if need_theta:
                per_row = partial.double().view(lay.rows // lay.channels, lay.channels, chunks, p)
                dtheta = per_row.sum((0, 2))
        return (dx if need_x else None), (None if dtheta is None else dtheta.to(torch.float32))
