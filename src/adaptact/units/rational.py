"""Padé Activation Units (Molina et al.): PAU and randomized PAU (RPAU)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from torch import Tensor

from adaptact import functional as AF
from adaptact import kernels
from adaptact.fit import DEFAULT_INTERVAL, check_degrees, check_interval, initial_coefficients, target_function
from adaptact.registry import register
from adaptact.units.base import ActivationUnit, NumFeatures, check_choice

__all__ = ["PAU", "RPAU"]


class PAU(ActivationUnit):
    r"""Padé Activation Unit: :math:`y = P(x) / Q(x)` with a pole-free denominator.

    .. math::
        P(x) = \sum_{j=0}^{m} a_j x^j, \qquad
        Q(x) = 1 + \sum_{k=1}^{n} |b_k|\,|x|^k \ \text{(form A)} \quad\text{or}\quad
        Q(x) = 1 + \Big|\sum_{k=1}^{n} b_k x^k\Big| \ \text{(form B)}

    Args:
        degrees: ``(m, n)``, integers in ``[0, 16]`` (:data:`adaptact.fit.MAX_PAU_DEGREE`);
            default ``(5, 4)`` (10 parameters).
        form: ``"A"`` (the paper's kernels) or ``"B"``.
        init: the function the coefficients start out approximating (by least
            squares on ``init_range``): any fixed activation name
            (``adaptact.list_activations(family="fixed")``: ``lrelu`` alias
            ``leaky_relu``, slope 0.01, the default; ``elu``, ``gelu``,
            ``silu``, ``tanh``, ``sigmoid``, ``softplus``, ``prelu`` with
            slope 0.25, ``rrelu`` with its mean slope, ``identity``, ...) or
            any callable ``Tensor -> Tensor`` (called once on a float64 grid).
            Fits come from the shipped table or are computed once (well under
            a second) and cached in memory and on disk: see :mod:`adaptact.fit`.
        init_range: the interval ``(lo, hi)`` of that fit; default ``(-3, 3)``
            as in the paper.
        num_features: ``None`` (one PAU per layer, the paper's choice), an int or ``"lazy"``.

    Outside ``init_range`` the unit follows its leading terms,
    :math:`y \sim (a_m/|b_n|)\,\mathrm{sign}(x)^m |x|^{m-n}`: for the
    default :math:`m = n + 1` a line of one slope on both sides (odd
    :math:`m`), for :math:`m = n` a constant. Choose ``init_range`` to cover
    the bulk of the unit's inputs; :mod:`adaptact.fit` says more.

    Attributes:
        numerator: :math:`a_0 \dots a_m`, ``(m+1,)`` or ``(C, m+1)``.
        denominator: :math:`b_1 \dots b_n`, ``(n,)`` or ``(C, n)``.
    """

    def __init__(
        self,
        num_features: NumFeatures = None,
        degrees: Sequence[int] = (5, 4),
        form: str = "A",
        init: str | Callable = "leaky_relu",
        init_range: Sequence[float] = DEFAULT_INTERVAL,
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.degrees = check_degrees(degrees)
        self.form = check_choice("form", form, AF.PAU_FORMS)
        target_function(init, "init")  # validates the name before any work
        self.init = init
        self.init_range = check_interval(init_range, "init_range")
        self._init_coefficients = initial_coefficients(init, self.degrees, form, self.init_range, option="init")
        m, n = self.degrees
        self.add_parameter("numerator", m + 1)
        self.add_parameter("denominator", n)
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        a, b = self._init_coefficients
        self.fill_("numerator", a)
        self.fill_("denominator", b)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.pau(x, self.numerator, self.denominator, self.form)

    def _repr_options(self) -> dict[str, Any]:
        init = self.init if isinstance(self.init, str) else getattr(self.init, "__name__", "custom")
        opts = {"degrees": self.degrees, "form": self.form, "init": init}
        if self.init_range != DEFAULT_INTERVAL:
            opts["init_range"] = self.init_range
        return opts


class RPAU(PAU):
    r"""Randomized PAU: in training each coefficient :math:`c` becomes :math:`c\,(1+u)`,
    :math:`u \sim U(-\delta, \delta)` drawn anew for every input element; in eval it is a PAU.

    Args:
        delta: relative noise size (default 0.01); the other arguments as :class:`PAU`.
    """

    def __init__(
        self,
        num_features: NumFeatures = None,
        degrees: Sequence[int] = (5, 4),
        form: str = "A",
        init: str | Callable = "leaky_relu",
        delta: float = 0.01,
        init_range: Sequence[float] = DEFAULT_INTERVAL,
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        if not delta >= 0:
            raise ValueError(f"delta must be >= 0, got {delta!r}")
        super().__init__(num_features, degrees, form, init, init_range, channel_dim=channel_dim, device=device,
                         dtype=dtype)
        self.delta = float(delta)

    def compute(self, x: Tensor) -> Tensor:
        if not self.training or self.delta == 0:
            return kernels.pau(x, self.numerator, self.denominator, self.form)
        # the fused kernel draws each element's coefficient noise from a counter hash, in place
        return kernels.rpau_training(x, self.numerator, self.denominator, self.delta, self.form)

    def _repr_options(self) -> dict[str, Any]:
        return {**super()._repr_options(), "delta": self.delta}


register("pau", PAU, family="rational", trainable=True, summary="P(x)/Q(x), safe rational (5,4), per layer")
register("rpau", RPAU, family="rational", trainable=True, summary="PAU with coefficient noise c(1+u) in training")
