"""Activations as cumulative distribution functions (Farhadi, Nia & Lodi): adaptive Gumbel, adaptive ReLU, any CDF."""
from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from adaptact import functional as AF
from adaptact import kernels
from adaptact.cdfs import CDF_NAMES, resolve_cdf
from adaptact.registry import register
from adaptact.units.base import ActivationUnit, NumFeatures, check_choice

__all__ = ["AdaptiveCDF", "AdaptiveGumbel", "AdaptiveReLU"]


def _check_cdf(cdf: str) -> str:
    """The canonical name of a CDF of :mod:`adaptact.cdfs` (aliases resolved); an unknown one lists the choices."""
    return check_choice("cdf", resolve_cdf(cdf) if isinstance(cdf, str) else cdf, CDF_NAMES)


class _PositiveShape(ActivationUnit):
    """A unit with one positive shape parameter :math:`\\alpha = e^{\\rho}` per layer or per neuron."""

    def __init__(self, num_features: NumFeatures, alpha: float, channel_dim: int, device, dtype) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0 (it is exp(rho)), got {alpha!r}")
        self.alpha_init = float(alpha)
        self.add_parameter("rho")
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        self.fill_("rho", math.log(self.alpha_init))

    @property
    def alpha(self) -> Tensor:
        """The shape parameter :math:`\\alpha = e^{\\rho}` (always positive)."""
        return self.rho.exp()

    def _repr_options(self) -> dict[str, Any]:
        return {"alpha": self.alpha_init}


class AdaptiveGumbel(_PositiveShape):
    r"""Adaptive Gumbel (Farhadi et al.): :math:`y = 1 - (1 + \alpha e^{x})^{-1/\alpha}`.

    :math:`\alpha = e^{\rho} > 0` is trained through :math:`\rho`. :math:`\alpha = 1`
    (the default start) is the logistic sigmoid; :math:`\alpha \to 0` the Gumbel
    CDF :math:`1 - \exp(-e^{x})`. The paper learns one :math:`\alpha` per neuron:
    pass ``num_features`` (or ``"lazy"``) for that.

    Attributes:
        rho: :math:`\log\alpha`, ``()`` or ``(C,)``.
    """

    def __init__(self, num_features: NumFeatures = None, alpha: float = 1.0, *, channel_dim: int = 1, device=None, dtype=None) -> None:
        super().__init__(num_features, alpha, channel_dim, device, dtype)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.agumbel(x, self.rho)


class AdaptiveReLU(_PositiveShape):
    r"""Adaptive ReLU (Farhadi et al.): :math:`y = x\,F(\alpha x)`, by default :math:`x\,(1 - e^{-\alpha x})` for :math:`x>0`, else 0.

    ReLU is :math:`x\,H(x)` with :math:`H` the Heaviside step; :math:`F` is a smooth CDF of scale
    :math:`1/\alpha`, chosen by ``cdf`` (see :mod:`adaptact.cdfs`): ``"exponential"`` (the paper's
    eq. 2, default), ``"logistic"`` (:math:`x\,\sigma(\alpha x)`, Swish; SiLU at 1, quick GELU at
    1.702), ``"gumbel"``, ``"reverse_gumbel"``, ``"normal"`` (exact GELU at 1; alias
    ``"probit"``), ``"cauchy"``, ``"laplace"``. :math:`\alpha = e^{\rho}`, start 1;
    :math:`\alpha\to\infty` gives ReLU. One :math:`\alpha` per neuron in the paper: pass
    ``num_features``. Every CDF but ``normal`` and ``cauchy`` (whose erf and arctan the formula
    language lacks) runs on the fused kernels; those two on the reference
    (:func:`adaptact.functional.cdf_relu`).

    Attributes:
        rho: :math:`\log\alpha`, ``()`` or ``(C,)``.
    """

    def __init__(
        self,
        num_features: NumFeatures = None,
        alpha: float = 1.0,
        cdf: str = "exponential",
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(num_features, alpha, channel_dim, device, dtype)
        self.cdf = _check_cdf(cdf)

    def compute(self, x: Tensor) -> Tensor:
        if self.cdf in AF.ARELU_CDFS:
            return kernels.arelu(x, self.rho, self.cdf)
        return kernels.cdf_relu(x, self.rho, self.cdf)

    def _repr_options(self) -> dict[str, Any]:
        return {**super()._repr_options(), "cdf": self.cdf}


class AdaptiveCDF(_PositiveShape):
    r"""A CDF activation with a trainable scale (Farhadi et al.): :math:`y = F(\alpha x)`.

    Farhadi et al. read a bounded activation as a CDF and adapt it through a parameter of the
    distribution; here :math:`1/\alpha` is the scale of the standard CDF :math:`F` named by
    ``cdf`` (see :mod:`adaptact.cdfs`): ``"logistic"`` (default; the sigmoid at :math:`\alpha=1`),
    ``"gumbel"`` (:math:`1-\exp(-e^{\alpha x})`, the :math:`\alpha\to0` limit of ``agumbel``),
    ``"reverse_gumbel"`` (:math:`\exp(-e^{-\alpha x})`), ``"normal"`` (:math:`\Phi(\alpha x)`,
    alias ``"probit"``), ``"cauchy"``, ``"laplace"``, ``"exponential"``. :math:`\alpha = e^{\rho}`,
    start 1; :math:`\alpha\to\infty` gives the Heaviside step. Per neuron: pass ``num_features``.
    Fused kernels for every CDF but ``normal`` and ``cauchy`` (the reference,
    :func:`adaptact.functional.adaptive_cdf`, computes those).

    Attributes:
        rho: :math:`\log\alpha`, ``()`` or ``(C,)``.
    """

    def __init__(
        self,
        num_features: NumFeatures = None,
        alpha: float = 1.0,
        cdf: str = "logistic",
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(num_features, alpha, channel_dim, device, dtype)
        self.cdf = _check_cdf(cdf)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.adaptive_cdf(x, self.rho, self.cdf)

    def _repr_options(self) -> dict[str, Any]:
        return {**super()._repr_options(), "cdf": self.cdf}


register("agumbel", AdaptiveGumbel, family="cdf", trainable=True, granularity="channel",
         aliases=("adaptive_gumbel",), summary="1 - (1 + alpha e^x)^(-1/alpha), alpha per neuron")
register("arelu", AdaptiveReLU, family="cdf", trainable=True, granularity="channel",
         aliases=("adaptive_relu",), summary="x (1 - e^(-alpha x)) for x > 0, alpha per neuron")

_CDF_ALIASES = {"normal": ("probit",)}
for _cdf in CDF_NAMES:
    register(f"cdf_{_cdf}", AdaptiveCDF, family="cdf", trainable=True, granularity="channel",
             aliases=tuple(f"cdf_{a}" for a in _CDF_ALIASES.get(_cdf, ())), cdf=_cdf,
             summary=f"F(alpha x), F the {_cdf} CDF, alpha per neuron")
    if _cdf != "exponential":  # that one is arelu itself
        register(f"arelu_{_cdf}", AdaptiveReLU, family="cdf", trainable=True, granularity="channel",
                 aliases=tuple(f"arelu_{a}" for a in _CDF_ALIASES.get(_cdf, ())), cdf=_cdf,
                 summary=f"x F(alpha x), F the {_cdf} CDF, alpha per neuron")
