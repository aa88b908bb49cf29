"""The learnable baselines of the PAU paper: APL, SReLU, SLAF and Maxout."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from adaptact import functional as AF
from adaptact import kernels
from adaptact.fit import DEFAULT_INTERVAL, check_interval, check_polynomial_degree, fit_polynomial, target_function
from adaptact.registry import register
from adaptact.units.base import ActivationUnit, NumFeatures, check_int, check_num_features

__all__ = ["APL", "Maxout", "SLAF", "SReLU"]


class APL(ActivationUnit):
    r"""Adaptive piecewise linear unit (Agostinelli et al.): :math:`y = \max(0,x) + \sum_{s=1}^{S} a_s \max(0, -x + b_s)`.

    Args:
        num_features: ``None``, an int (one set per channel/neuron, the paper's choice) or ``"lazy"``.
        hinges: :math:`S` (default 2).

    Init: :math:`a_s = 0` (starts as ReLU), :math:`b_s \sim U(-1, 1)`.

    Attributes:
        a, b: ``(S,)`` or ``(C, S)``.
    """

    def __init__(self, num_features: NumFeatures = None, hinges: int = 2, *, channel_dim: int = 1, device=None, dtype=None) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.hinges = check_int("hinges", hinges, 1)
        self.add_parameter("a", hinges)
        self.add_parameter("b", hinges)
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        self.fill_("a", 0.0)
        with torch.no_grad():
            self.b.uniform_(-1.0, 1.0)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.apl(x, self.a, self.b)

    def _repr_options(self) -> dict[str, Any]:
        return {"hinges": self.hinges}


class SReLU(ActivationUnit):
    r"""S-shaped ReLU (Jin et al.): identity between two thresholds, linear with own slopes outside.

    .. math::
        y = t_r + a_r (x - t_r)\ (x \ge t_r);\quad x\ (t_l < x < t_r);\quad t_l + a_l (x - t_l)\ (x \le t_l)

    Init :math:`t_l = 0, a_l = 0.01, t_r = 1, a_r = 1` (leaky ReLU at the start).

    Attributes:
        t_left, a_left, t_right, a_right: ``()`` or ``(C,)`` each.
    """

    _INIT = (("t_left", 0.0), ("a_left", 0.01), ("t_right", 1.0), ("a_right", 1.0))

    def __init__(self, num_features: NumFeatures = None, *, channel_dim: int = 1, device=None, dtype=None) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        for name, _ in self._INIT:
            self.add_parameter(name)
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        for name, value in self._INIT:
            self.fill_(name, value)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.srelu(x, self.t_left, self.a_left, self.t_right, self.a_right)


class SLAF(ActivationUnit):
    r"""Self-learnable activation function (Goyal et al.): the polynomial :math:`y = \sum_{k=0}^{K} c_k x^k`.

    Args:
        degree: :math:`K`, an integer in ``[0, 16]`` (default 5).
        init: the function the polynomial starts out as: its least-squares fit
            in the Taylor basis :math:`1, x, \dots, x^K` on ``init_range``. Any
            fixed activation name (``adaptact.list_activations(family="fixed")``;
            default ``leaky_relu``, slope 0.01) or any callable ``Tensor -> Tensor``.
        init_range: the interval ``(lo, hi)`` of that fit; default ``(-3, 3)``.
            Outside it the polynomial follows its leading term :math:`c_K x^K`.

    Attributes:
        coefficients: ``(K+1,)`` or ``(C, K+1)``.
    """

    def __init__(
        self,
        num_features: NumFeatures = None,
        degree: int = 5,
        init: str | Callable = "leaky_relu",
        init_range: Sequence[float] = DEFAULT_INTERVAL,
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.degree = check_polynomial_degree(degree)
        target_function(init, "init")  # validates the name before any work
        self.init = init
        self.init_range = check_interval(init_range, "init_range")
        self._init_coefficients = fit_polynomial(init, degree, self.init_range, option="init")
        self.add_parameter("coefficients", degree + 1)
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        self.fill_("coefficients", self._init_coefficients)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.slaf(x, self.coefficients)

    def _repr_options(self) -> dict[str, Any]:
        init = self.init if isinstance(self.init, str) else getattr(self.init, "__name__", "custom")
        opts = {"degree": self.degree, "init": init}
        if self.init_range != DEFAULT_INTERVAL:
            opts["init_range"] = self.init_range
        return opts


class Maxout(nn.Module):
    r"""Maxout (Goodfellow et al.): the maximum over each group of ``k`` consecutive channels.

    The input must have ``k`` times the channels of the output, so the layer
    before must be made ``k`` times wider: the models in :mod:`adaptact.models`
    do this when given ``act="maxout"``. It cannot be swapped into an existing
    model by :func:`adaptact.replace_activations`.
    """

    changes_shape = True

    def __init__(self, num_features: NumFeatures = None, k: int = 2, dim: int = 1, *, device=None, dtype=None) -> None:
        super().__init__()
        check_num_features(num_features)
        self.k = check_int("k", k, 1)
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return AF.maxout(x, self.k, self.dim)

    def extra_repr(self) -> str:
        return f"k={self.k}, dim={self.dim}"


register("apl", APL, family="baseline", trainable=True, granularity="channel",
         summary="relu(x) + sum_s a_s relu(b_s - x), per channel (Agostinelli et al.)")
register("srelu", SReLU, family="baseline", trainable=True, granularity="channel",
         summary="S-shaped ReLU with 4 parameters per channel (Jin et al.)")
register("slaf", SLAF, family="baseline", trainable=True,
         summary="polynomial sum_k c_k x^k of degree 5 (Goyal et al.)")
register("maxout", Maxout, family="baseline", trainable=False,
         summary="max over groups of k=2 channels; the layer before must be k times wider")
