"""Blends of basis functions: ABU and its normalisations, AdAct, Mixture."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from adaptact import functional as AF
from adaptact import kernels
from adaptact.registry import create, register
from adaptact.units.base import ActivationUnit, NumFeatures, basis_parameter_init, check_choice

__all__ = ["AdAct", "Blend"]


class Blend(ActivationUnit):
    r"""A trainable blend of basis functions: :math:`y = \sum_j \hat w_j f_j(x)`.

    This is the Adaptive Blending Unit (Sütfeld et al.) with its default
    basis, the Mixture of Manessi & Rozza with ``basis=("identity", "relu"),
    normalization="pos"``, and (as :class:`AdAct`) Maiti's AdAct.

    Args:
        basis: names of the basis functions (see
            :data:`adaptact.functional.BASIS_FUNCTIONS`); default ABU's
            ``tanh, elu, relu, identity, swish_beta``.
        normalization: how raw weights :math:`w` become :math:`\hat w`:
            ``none``, ``sum`` (:math:`w/\sum w`), ``abs`` (:math:`w/\sum|w|`),
            ``pos`` (negatives clipped, then :math:`/\sum`), ``softmax``.
        num_features: ``None`` (one weight vector per layer), an int (per channel) or ``"lazy"``.
        init: initial raw weights: a number for all, a sequence of ``m``, or
            ``None`` for :math:`1/m` each.
        basis_batchnorm: batch-normalise each basis output before blending
            (:func:`adaptact.functional.batch_standardize`: per channel, batch
            statistics in training and evaluation alike, no parameters), as the
            ABU authors' code does in SMCN_BN. Runs on the reference path.

    Attributes:
        weight: raw blend weights, ``(m,)`` or ``(C, m)``.
        basis_params: the basis functions' own parameters (Swish's
            :math:`\beta` init 1, PReLU's slope init 0.25), ``(k,)`` or
            ``(C, k)``, or ``None`` when the basis has none.
    """

    def __init__(
        self,
        basis: Sequence[str] = AF.ABU_BASIS,
        normalization: str = "none",
        num_features: NumFeatures = None,
        init: float | Sequence[float] | None = None,
        basis_batchnorm: bool = False,
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        if not isinstance(basis_batchnorm, bool):
            raise ValueError(f"basis_batchnorm must be True or False, got {basis_batchnorm!r}")
        self.basis_batchnorm = basis_batchnorm
        self.uses_channel_axis = basis_batchnorm  # batch statistics per channel
        basis = tuple(basis)
        if not basis:
            raise ValueError("basis must name at least one function")
        for name in basis:
            AF.basis_function(name)
        self.basis = basis
        self.normalization = check_choice("normalization", normalization, AF.NORMALIZATIONS)
        self.init = self._check_init(init, len(basis))
        self._basis_init = basis_parameter_init(basis)
        self.add_parameter("weight", len(basis))
        if self._basis_init:
            self.add_parameter("basis_params", len(self._basis_init))
        else:
            self.basis_params = None
        if not self.is_lazy:
            self.reset_parameters()

    @staticmethod
    def _check_init(init, m: int) -> list[float]:
        if init is None:
            return [1.0 / m] * m
        if isinstance(init, (int, float)):
            return [float(init)] * m
        values = [float(v) for v in init]
        if len(values) != m:
            raise ValueError(f"init must give {m} weights (one per basis function), got {len(values)}")
        return values

    def reset_parameters(self) -> None:
        self.fill_("weight", self.init)
        if self._basis_init:
            self.fill_("basis_params", self._basis_init)

    def effective_weights(self) -> Tensor:
        """The normalised weights :math:`\\hat w` actually used, ``(m,)`` or ``(C, m)``."""
        return AF.blend_weights(self.weight, self.normalization)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.blend(x, self.weight, self.basis, self.basis_params, self.normalization, self.training,
                             self.basis_batchnorm)

    def _repr_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"basis": self.basis, "normalization": self.normalization}
        if self.basis_batchnorm:
            options["basis_batchnorm"] = True
        return options


def _hardened_module(name: str, own: list[float]) -> nn.Module:
    """The fixed module computing basis function ``name`` with its own parameter values ``own``."""
    if name == "prelu":
        return create("prelu", init=own[0])
    return create(name)


class AdAct(Blend):
    r"""AdAct (Maiti): :math:`y = \sum_{i=1}^{7} \mathrm{softmax}(w)_i\,\mathrm{Act}_i(x)`.

    Act = ReLU, ELU, LReLU(0.01), PReLU (trainable slope, init 0.25),
    RReLU(1/8, 1/3: random slope in training, mean slope in eval), SiLU, Mish.
    8 parameters per unit (7 weights and the PReLU slope). :meth:`hardened`
    returns the fixed activation with the largest weight (the paper's
    "Optimized" network); :func:`adaptact.harden` does it for a whole model.

    Args:
        num_features: ``None`` (the paper's per-layer unit), an int or ``"lazy"``.
        init: initial raw weights (default 0: a uniform blend).
    """

    def __init__(
        self, num_features: NumFeatures = None, init: float | Sequence[float] = 0.0, *, channel_dim: int = 1, device=None, dtype=None
    ) -> None:
        super().__init__(AF.ADACT_BASIS, "softmax", num_features, init, channel_dim=channel_dim, device=device,
                         dtype=dtype)

    def choice(self) -> str:
        """Name of the basis function with the largest weight (per-layer units only)."""
        if self.weight.dim() != 1:
            raise ValueError(
                "choice()/hardened() need a per-layer AdAct (num_features=None); this one has "
                f"{self.weight.shape[0]} channels with their own weights"
            )
        return self.basis[int(torch.argmax(self.weight))]

    def hardened(self) -> nn.Module:
        """The fixed activation this unit's weights favour (PReLU keeps the learned slope)."""
        name = self.choice()
        return _hardened_module(name, [float(self.basis_params.detach()[0])] if name == "prelu" else [])

    def _repr_options(self) -> dict[str, Any]:
        return {}


register("abu", Blend, family="blend", trainable=True,
         summary="sum_j w_j f_j(x) over tanh, elu, relu, identity, swish_beta")
register("abu_nrm", Blend, family="blend", trainable=True, aliases=("abu_norm", "abu_sum"),
         summary="ABU with weights w / sum(w)", normalization="sum")
register("abu_abs", Blend, family="blend", trainable=True, summary="ABU with weights w / sum|w|",
         normalization="abs")
register("abu_pos", Blend, family="blend", trainable=True,
         summary="ABU with weights max(w, 0) / sum max(w, 0)", normalization="pos")
register("abu_soft", Blend, family="blend", trainable=True, aliases=("abu_softmax",),
         summary="ABU with weights softmax(w)", normalization="softmax")
register("mixture", Blend, family="blend", trainable=True,
         summary="convex blend of identity and relu (Manessi & Rozza)",
         basis=("identity", "relu"), normalization="pos", init=(0.5, 0.5))
register("adact", AdAct, family="blend", trainable=True,
         summary="softmax blend of relu, elu, lrelu, prelu, rrelu, silu, mish (Maiti)")
