"""Fast paths behind the functions of :mod:`adaptact.functional`, chosen automatically.

Each function here has the signature and the math of its namesake in
:mod:`adaptact.functional` and is tested equal to it; the dispatcher
(:mod:`adaptact.kernels.dispatch`) picks, per call, the first backend that
can serve it:

- ``triton``: fused Triton kernels on CUDA tensors (when triton is installed);
- ``c``: fused C kernels on CPU tensors, compiled at first use and cached
  (when a C compiler works);
- ``reference``: :mod:`adaptact.functional` itself (float64, tracing by
  torch.export, ONNX export, make_fx or TorchScript, torch.func transforms
  such as vmap, forward-mode AD, options without a fused formula).

Under ``torch.compile`` a fused call becomes the ``torch.library`` custom op
``adaptact::fused_forward`` (with ``adaptact::fused_backward`` as its
autograd formula, :mod:`adaptact.kernels.custom_ops`), so a compiled model
keeps the fused kernels, ``fullgraph=True`` included. A CPU call never asks
the Triton backend; each call signature's program and parameter packing are
built once and cached.

A fused path runs one pass forward and recomputes in backward from the input:
it saves only ``x`` and the parameters, and sums parameter gradients per
block of elements. A backward with ``create_graph=True`` recomputes the call
through the reference, so second-order gradients work on every path. Choose or force a backend with :func:`use` (``"auto"``,
``"fused"``, ``"c"``, ``"triton"``, ``"reference"``), as a setter or a
context manager, or with the environment variable ``ADAPTACT_KERNELS``;
``with record() as used:`` lists the backend of each call made in a block.
See ``docs/performance.md`` for the design and the measurements.
"""
from __future__ import annotations

from functools import wraps
from typing import Callable, Optional, Sequence

from torch import Tensor

from adaptact import functional as AF
from adaptact.kernels.backends import FAMILIES
from adaptact.kernels.dispatch import (
    KernelUnavailable, available, current, dispatch, implementations, record, use,
)

__all__ = [
    "KernelUnavailable", "abu", "adact", "adaptive_cdf", "affine", "agumbel", "apl", "arelu", "available", "blend",
    "cdf_relu", "current", "metaneuron", "srelu", "vaf",
    "implementations", "pau", "record", "rpau_training", "scaled", "slaf", "swish_beta", "use",
]


def _dispatched(family: str) -> Callable[..., Tensor]:
    """The public function of ``family``: the reference's signature and docstring, computed by the dispatcher."""
    reference = FAMILIES[family]

    @wraps(reference)
    def fn(*args, **kwargs):
        return dispatch(family, *args, **kwargs)

    return fn


pau = _dispatched("pau")
slaf = _dispatched("slaf")
blend = _dispatched("blend")
scaled = _dispatched("scaled")
swish_beta = _dispatched("swish_beta")
affine = _dispatched("affine")
agumbel = _dispatched("agumbel")
arelu = _dispatched("arelu")
adaptive_cdf = _dispatched("adaptive_cdf")
cdf_relu = _dispatched("cdf_relu")
rpau_training = _dispatched("rpau_training")
apl = _dispatched("apl")
srelu = _dispatched("srelu")
metaneuron = _dispatched("metaneuron")
vaf = _dispatched("vaf")


def abu(
    x: Tensor,
    weights: Tensor,
    basis_params: Optional[Tensor] = None,
    normalization: str = "none",
    basis: Sequence[str] = AF.ABU_BASIS,
    training: bool = False,
    basis_batchnorm: bool = False,
) -> Tensor:
    """Adaptive Blending Unit: :func:`blend` over ABU's basis (see :func:`adaptact.functional.abu`)."""
    return blend(x, weights, basis, basis_params, normalization, training, basis_batchnorm)


def adact(x: Tensor, weights: Tensor, prelu_slope: Tensor, training: bool = False) -> Tensor:
    """AdAct: :func:`blend` of AdAct's seven functions with softmax weights (see :func:`adaptact.functional.adact`)."""
    return blend(x, weights, AF.ADACT_BASIS, prelu_slope.unsqueeze(-1), "softmax", training)
