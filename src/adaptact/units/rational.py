"""Padé Activation Units (Molina et al.): PAU and randomized PAU (RPAU)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from torch import Tensor

from adaptact import functional as AF
from adaptact import kernels
from adaptact.fit import initial_coefficients
from adaptact.registry import register
from adaptact.units.base import ActivationUnit, NumFeatures, check_choice, check_int

__all__ = ["PAU", "RPAU"]


def _check_degrees(degrees: Sequence[int]) -> tuple[int, int]:
    try:
        m, n = degrees
    except (TypeError, ValueError):
        raise ValueError(f"degrees must be a pair (m, n) of non-negative integers, got {degrees!r}") from None
    return check_int("degrees (numerator m)", m, 0), check_int("degrees (denominator n)", n, 0)


class PAU(ActivationUnit):
    r"""Padé Activation Unit: :math:`y = P(x) / Q(x)` with a pole-free denominator.

    .. math::
        P(x) = \sum_{j=0}^{m} a_j x^j, \qquad
        Q(x) = 1 + \sum_{k=1}^{n} |b_k|\,|x|^k \ \text{(form A)} \quad\text{or}\quad
        Q(x) = 1 + \Big|\sum_{k=1}^{n} b_k x^k\Big| \ \text{(form B)}

    Args:
        degrees: ``(m, n)``, any non-negative pair; default ``(5, 4)`` (10 parameters).
        form: ``"A"`` (the paper's kernels) or ``"B"``.
        init: the function the coefficients start out approximating on
            :math:`[-3, 3]`: ``leaky_relu`` (slope 0.01, the default),
            ``relu``, ``tanh``, ``sigmoid``, ``swish``, ``gelu``, ``identity``,
            or any callable on float64 tensors (fitted on first use).
        num_features: ``None`` (one PAU per layer, the paper's choice), an int or ``"lazy"``.

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
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.degrees = _check_degrees(degrees)
        self.form = check_choice("form", form, AF.PAU_FORMS)
        self.init = init
        self._init_coefficients = initial_coefficients(init, self.degrees, form) if isinstance(init, str) else None
        m, n = self.degrees
        self.add_parameter("numerator", m + 1)
        self.add_parameter("denominator", n)
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        if self._init_coefficients is None:
            from adaptact.fit import fit_pau

            r = fit_pau(self.init, self.degrees, self.form)
            self._init_coefficients = (r.numerator, r.denominator)
        a, b = self._init_coefficients
        self.fill_("numerator", a)
        self.fill_("denominator", b)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.pau(x, self.numerator, self.denominator, self.form)

    def _repr_options(self) -> dict[str, Any]:
        init = self.init if isinstance(self.init, str) else getattr(self.init, "__name__", "custom")
        return {"degrees": self.degrees, "form": self.form, "init": init}


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
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        if not delta >= 0:
            raise ValueError(f"delta must be >= 0, got {delta!r}")
        super().__init__(num_features, degrees, form, init, channel_dim=channel_dim, device=device, dtype=dtype)
        self.delta = float(delta)

    def compute(self, x: Tensor) -> Tensor:
        if not self.training or self.delta == 0:
            return kernels.pau(x, self.numerator, self.denominator, self.form)
        ua, ub = AF.rpau_noise(x, self.numerator, self.denominator, self.delta)
        return AF.rpau(x, self.numerator, self.denominator, ua, ub, self.form)

    def _repr_options(self) -> dict[str, Any]:
        return {**super()._repr_options(), "delta": self.delta}


register("pau", PAU, family="rational", trainable=True, summary="P(x)/Q(x), safe rational (5,4), per layer")
register("rpau", RPAU, family="rational", trainable=True, summary="PAU with coefficient noise c(1+u) in training")
