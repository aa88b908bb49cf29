"""Calls of every fused family, per layer and per channel, and the equality check against the reference.

Tolerances (float32 fast path against the float64 reference on the same
values): outputs and input gradients ``rtol=1e-5, atol=1e-5``; parameter
gradients, which sum over all elements, ``rtol=1e-4`` and
``atol=1e-5 * sqrt(numel) + 1e-4 * max|reference gradient|`` (a sum of large
terms of both signs, as at inputs of 1e4, leaves float32 rounding of that size).
float16/bfloat16: the fast path equals the reference's own half-precision
result to one unit in the last place of the half type.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from adaptact import functional as AF
from adaptact import kernels as K
from adaptact.kernels.formulas import FUSED_BASES, FUSED_CDFS

OUT_TOL = dict(rtol=1e-5, atol=1e-5)
HALF_TOL = {torch.float16: dict(rtol=1e-3, atol=1e-3), torch.bfloat16: dict(rtol=8e-3, atol=8e-3)}


@dataclass(frozen=True)
class Case:
    """A family call: ``make(channels)`` gives the parameters (``channels=None``: per layer) and options."""

    id: str
    family: str
    make: Callable[[int | None], tuple[list[torch.Tensor], dict]]

    def call(self, fn_module, x, params, options):
        return getattr(fn_module, self.family)(x, *params, **options)


def _p(channels, *trailing, scale=0.5, offset=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = ((channels,) if channels else ()) + trailing
    return (offset + scale * torch.randn(shape, generator=g, dtype=torch.float64)).requires_grad_(True)


def _pau(m, n, form):
    def make(c):
        return [_p(c, m + 1, seed=1), _p(c, n, seed=2)], {"form": form}
    return Case(f"pau{form}{m}{n}", "pau", make)


def _blend(basis, normalization, offset=0.2):
    k = sum(AF.basis_function(b).num_params for b in basis)

    def make(c):
        bp = _p(c, k, scale=0.1, offset=0.5, seed=4) if k else None
        return [_p(c, len(basis), offset=offset, seed=3)], {"basis": basis, "basis_params": bp, "normalization": normalization}

    return Case(f"blend[{'-'.join(basis)}|{normalization}]", "blend", make)


def _scaled(base):
    k = AF.basis_function(base).num_params

    def make(c):
        return [_p(c, offset=1.0, seed=5)], {"base": base, "basis_params": _p(c, k, offset=1.0, seed=6) if k else None}

    return Case(f"scaled[{base}]", "scaled", make)


def _affine(base, switches):
    def make(c):
        opts = {"base": base}
        for i, name in enumerate(("a_in", "b_in", "a_out", "b_out")):
            if name in switches:
                opts[name] = _p(c, offset=1.0 if name.startswith("a") else 0.0, seed=10 + i)
        k = AF.basis_function(base).num_params
        opts["basis_params"] = _p(c, k, offset=1.0, seed=9) if k else None
        return [], opts

    return Case(f"affine[{base}|{'-'.join(switches)}]", "affine", make)


def _metaneuron(inner, width, depth, linear_io):
    def make(c):
        g = c or 1
        shapes = [(), (), (width,), (width,), (depth - 1, width, width), (depth - 1, width), (width,), ()]
        scales = [0.5, 0.2, 1.0, 0.5, 0.4, 0.3, 0.7, 0.2]
        offsets = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        params = [_p(g, *shape, scale=sc, offset=off, seed=30 + i)
                  for i, (shape, sc, off) in enumerate(zip(shapes, scales, offsets))]
        return params, {"inner": inner, "linear_io": linear_io}

    return Case(f"metaneuron[{inner}|{width}x{depth}|{'linear' if linear_io else 'act'}]", "metaneuron", make)


def _vaf(inner, width):
    def make(c):
        g = c or 1
        return [_p(g, width, seed=40), _p(g, width, seed=41), _p(g, width, seed=42), _p(g, scale=0.2, seed=43)], \
            {"inner": inner}

    return Case(f"vaf[{inner}|{width}]", "vaf", make)


CASES = (
    [_pau(5, 4, "A"), _pau(5, 4, "B"), _pau(3, 2, "A"), _pau(2, 6, "B"), _pau(0, 1, "A"), _pau(4, 0, "B")]
    + [Case("slaf", "slaf", lambda c: ([_p(c, 6, seed=7)], {}))]
    + [_blend(AF.ABU_BASIS, n) for n in AF.NORMALIZATIONS]
    + [_blend(AF.ADACT_BASIS, "softmax", offset=0.0), _blend(("identity", "relu"), "pos")]
    + [_scaled(b) for b in sorted(FUSED_BASES)]
    + [Case("swish_beta", "swish_beta", lambda c: ([_p(c, offset=1.0, seed=8)], {}))]
    + [_affine("sigmoid", ("a_in", "b_in", "a_out", "b_out")), _affine("relu", ("b_in", "b_out")),
       _affine("swish_beta", ("a_in",)), _affine("tanh", ("a_out",))]
    + [Case("agumbel", "agumbel", lambda c: ([_p(c, scale=1.0, seed=9)], {}))]
    + [Case("apl2", "apl", lambda c: ([_p(c, 2, seed=11), _p(c, 2, scale=1.0, seed=12)], {})),
       Case("apl5", "apl", lambda c: ([_p(c, 5, seed=13), _p(c, 5, scale=1.5, seed=14)], {})),
       Case("srelu", "srelu", lambda c: ([_p(c, offset=-0.8, seed=15), _p(c, scale=0.2, offset=0.1, seed=16),
                                          _p(c, offset=1.0, seed=17), _p(c, scale=0.2, offset=0.9, seed=18)], {})),
       Case("srelu-crossed", "srelu", lambda c: ([_p(c, scale=0.1, offset=0.5, seed=19), _p(c, seed=20),
                                                  _p(c, scale=0.1, offset=-0.5, seed=21), _p(c, seed=22)], {}))]
    + [_metaneuron("sigmoid", 5, 1, False), _metaneuron("tanh", 3, 3, False), _metaneuron("relu", 4, 2, True),
       _vaf("relu", 5), _vaf("sigmoid", 5), _vaf("tanh", 2)]
    + [Case(f"arelu[{cdf}]", "arelu", (lambda cdf: lambda c: ([_p(c, scale=1.0, seed=9)], {"cdf": cdf}))(cdf))
       for cdf in AF.ARELU_CDFS]
    + [Case(f"{family}[{cdf}]", family, (lambda cdf: lambda c: ([_p(c, scale=1.0, seed=9)], {"cdf": cdf}))(cdf))
       for family in ("adaptive_cdf", "cdf_relu") for cdf in FUSED_CDFS]
)
CASE_IDS = [c.id for c in CASES]

#: (shape, channels or None): odd sizes, a dense per-feature shape (column layout), long rows with a tail
#: (not a multiple of the chunk or the lanes) and a per-layer input above the multithreading threshold
SHAPES = [
    ((2, 3, 5, 7), None), ((2, 3, 5, 7), 3), ((7, 3), 3), ((3, 3, 301), 3), ((5, 3, 2213), None), ((5, 3, 2213), 3),
]
SHAPE_IDS = [f"{'x'.join(map(str, s))}{'-c' if c else ''}" for s, c in SHAPES]


def make_x(shape, dtype=torch.float64, seed=0, extreme=False):
    g = torch.Generator().manual_seed(seed)
    x = 2.0 * torch.randn(shape, generator=g, dtype=torch.float64)
    if extreme:
        values = torch.tensor([-1e4, -1e3, -100.0, -20.5, -1.0, -1e-4, 0.0, 1e-4, 1.0, 20.5, 100.0, 1e3, 1e4],
                              dtype=torch.float64)
        x = values[torch.arange(x.numel()) % len(values)].reshape(shape)
    return x.to(dtype)


def check_equal(case: Case, x64: torch.Tensor, channels, backend: str, dtype=torch.float32, transform=None,
                device: str = "cpu"):
    """The fast path (``backend`` forced) on ``x64`` cast to ``dtype`` equals the reference (see module doc).

    Everything runs on ``device``; the float64 reference too.
    """
    params64, options = case.make(channels)
    params64 = [None if p is None else p.to(device) for p in params64]
    options = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in options.items()}
    tensor_opts = {k: v for k, v in options.items() if isinstance(v, torch.Tensor)}
    leaves64 = [p for p in params64 if p is not None] + list(tensor_opts.values())

    def run(fn_module, x, cast):
        params = [None if p is None else cast(p) for p in params64]
        opts = {k: (cast(v) if isinstance(v, torch.Tensor) else v) for k, v in options.items()}
        return case.call(fn_module, x, params, opts)

    x = x64.to(device, dtype)
    if transform is not None:
        x = transform(x)
    x = x.detach().requires_grad_(True)
    leaves = [p.detach().float().requires_grad_(True) for p in leaves64]
    mapping = dict(zip(map(id, leaves64), leaves))
    with K.use(backend):
        y = run(K, x, lambda p: mapping[id(p)])
    g = torch.Generator().manual_seed(1)
    dy = torch.randn(y.shape, generator=g, dtype=torch.float64).to(device)
    grads = torch.autograd.grad(y, [x] + leaves, dy.to(y.dtype))

    if dtype == torch.float32:
        x_ref = x.detach().double().requires_grad_(True)
        y_ref = run(AF, x_ref, lambda p: p)
        ref_grads = torch.autograd.grad(y_ref, [x_ref] + leaves64, dy, materialize_grads=True)
        torch.testing.assert_close(y.double(), y_ref.detach(), **OUT_TOL)
        torch.testing.assert_close(grads[0].double(), ref_grads[0], **OUT_TOL)
        for got, want in zip(grads[1:], ref_grads[1:]):
            largest = want.abs().max().item() if want.numel() else 0.0
            atol = 1e-5 * math.sqrt(x.numel()) + 1e-4 * largest
            torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=atol)
    else:  # half types: the reference's own result at the same half input
        x_ref = x.detach().requires_grad_(True)
        y_ref = run(AF, x_ref, lambda p: mapping[id(p)])
        assert y.dtype == dtype and grads[0].dtype == dtype
        torch.testing.assert_close(y.float(), y_ref.detach().float(), **HALF_TOL[dtype])
        ref_grads = torch.autograd.grad(y_ref, [x_ref] + leaves, dy.to(dtype))
        torch.testing.assert_close(grads[0].float(), ref_grads[0].float(), **HALF_TOL[dtype])
