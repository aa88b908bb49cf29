"""Activations as cumulative distribution functions (Farhadi, Nia & Lodi): adaptive Gumbel and adaptive ReLU."""
from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from adaptact import functional as AF
from adaptact import kernels
from adaptact.registry import register
from adaptact.units.base import ActivationUnit, NumFeatures, check_choice

__all__ = ["AdaptiveGumbel", "AdaptiveReLU"]


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
    r"""Adaptive ReLU (Farhadi et al.): :math:`y = x\,(1 - e^{-\alpha x})` for :math:`x>0`, else 0.

    With ``cdf="logistic"``: :math:`y = x\,\sigma(\alpha x)`. :math:`\alpha = e^{\rho}`,
    start 1; :math:`\alpha\to\infty` gives ReLU. One :math:`\alpha` per neuron in
    the paper: pass ``num_features``.

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
        self.cdf = check_choice("cdf", cdf, AF.ARELU_CDFS)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.arelu(x, self.rho, self.cdf)

    def _repr_options(self) -> dict[str, Any]:
        return {**super()._repr_options(), "cdf": self.cdf}


register("agumbel", AdaptiveGumbel, family="cdf", trainable=True, granularity="channel",
         aliases=("adaptive_gumbel",), summary="1 - (1 + alpha e^x)^(-1/alpha), alpha per neuron")
register("arelu", AdaptiveReLU, family="cdf", trainable=True, granularity="channel",
         aliases=("adaptive_relu",), summary="x (1 - e^(-alpha x)) for x > 0, alpha per neuron")
