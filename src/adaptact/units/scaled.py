"""Adaptive scaling and affine-wrapped activations: ``scaled_<base>``, ``swish_beta``, ``affine_<base>``, AGSig, FReLU."""
from __future__ import annotations

from typing import Any

from torch import Tensor

from adaptact import kernels
from adaptact.registry import register
from adaptact.units.base import ActivationUnit, NumFeatures, basis_parameter_init, check_choice

__all__ = ["Affine", "SCALED_BASES", "Scaled", "SwishBeta"]

#: fixed functions available as the base of ``scaled_<base>`` and ``affine_<base>``
SCALED_BASES = (
    "identity", "tanh", "relu", "elu", "selu", "swish_beta", "silu", "sigmoid",
    "mish", "lrelu", "gelu", "softplus", "relu6", "celu",
)


class _WithBase(ActivationUnit):
    """A unit built around one base function, holding the base's own parameters (Swish's beta)."""

    def __init__(self, base: str, num_features: NumFeatures, channel_dim: int, device, dtype) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.base = check_choice("base", base, SCALED_BASES)
        self._base_init = basis_parameter_init([base])
        if self._base_init:
            self.add_parameter("basis_params", len(self._base_init))
        else:
            self.basis_params = None

    def _reset_base(self) -> None:
        if self._base_init:
            self.fill_("basis_params", self._base_init)


class Scaled(_WithBase):
    r"""Adaptive scaling (Sütfeld et al.): :math:`y = \alpha \cdot f(x)`.

    Args:
        base: the fixed function :math:`f` (one of :data:`SCALED_BASES`);
            ``swish_beta`` carries its own trainable :math:`\beta` (init 1).
        num_features: ``None`` (one :math:`\alpha` per layer, the paper's
            choice), an int (one per channel) or ``"lazy"``.
        init: initial :math:`\alpha` (default 1).

    Shape: input ``(N, C, *)`` (any shape when shared), output the same.

    Attributes:
        alpha: the scale, ``()`` or ``(C,)``.
        basis_params: the base's own parameters (``(1,)`` for ``swish_beta``) or ``None``.
    """

    def __init__(
        self, base: str = "relu", num_features: NumFeatures = None, init: float = 1.0, *, channel_dim: int = 1, device=None, dtype=None
    ) -> None:
        super().__init__(base, num_features, channel_dim, device, dtype)
        self.init = float(init)
        self.add_parameter("alpha")
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        self.fill_("alpha", self.init)
        self._reset_base()

    def compute(self, x: Tensor) -> Tensor:
        return kernels.scaled(x, self.alpha, self.base, self.basis_params, self.training)

    def _repr_options(self) -> dict[str, Any]:
        return {"base": self.base, "init": self.init}


class SwishBeta(ActivationUnit):
    r"""Swish with a trainable slope: :math:`y = x\,\sigma(\beta x)`, :math:`\beta` init 1 (per layer or channel).

    Attributes:
        beta: ``()`` or ``(C,)``.
    """

    def __init__(self, num_features: NumFeatures = None, init: float = 1.0, *, channel_dim: int = 1, device=None, dtype=None) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.init = float(init)
        self.add_parameter("beta")
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        self.fill_("beta", self.init)

    def compute(self, x: Tensor) -> Tensor:
        return kernels.swish_beta(x, self.beta)

    def _repr_options(self) -> dict[str, Any]:
        return {"init": self.init}


_AFFINE_SLOTS = (("a_in", 1.0), ("b_in", 0.0), ("a_out", 1.0), ("b_out", 0.0))


class Affine(_WithBase):
    r"""Affine-wrapped activation: :math:`y = a_{out}\, f(a_{in} x + b_{in}) + b_{out}`.

    Each of the four parameters is switched on or off by its flag (off means
    fixed at :math:`a=1`, :math:`b=0`); on, it starts at those values.
    Presets: ``agsig`` = sigmoid with :math:`a_{in}=\beta`, :math:`a_{out}=\alpha`
    (:math:`\alpha / (1+e^{-\beta x})`); ``frelu`` = ReLU with :math:`b_{in}=\delta`,
    :math:`b_{out}=\eta` (:math:`\mathrm{relu}(x+\delta)+\eta`).

    Attributes:
        a_in, b_in, a_out, b_out: ``()`` or ``(C,)`` each, or ``None`` when switched off.
    """

    def __init__(
        self,
        base: str = "sigmoid",
        num_features: NumFeatures = None,
        a_in: bool = True,
        b_in: bool = True,
        a_out: bool = True,
        b_out: bool = True,
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(base, num_features, channel_dim, device, dtype)
        self.switches = {"a_in": bool(a_in), "b_in": bool(b_in), "a_out": bool(a_out), "b_out": bool(b_out)}
        for name, _ in _AFFINE_SLOTS:
            if self.switches[name]:
                self.add_parameter(name)
            else:
                setattr(self, name, None)
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        for name, init in _AFFINE_SLOTS:
            if self.switches[name]:
                self.fill_(name, init)
        self._reset_base()

    def compute(self, x: Tensor) -> Tensor:
        return kernels.affine(
            x, self.base, self.a_in, self.b_in, self.a_out, self.b_out, self.basis_params, self.training
        )

    def _repr_options(self) -> dict[str, Any]:
        return {"base": self.base, **self.switches}


for _base in SCALED_BASES:
    _aliases = ("scaled_swish",) if _base == "silu" else ()
    register(f"scaled_{_base}", Scaled, family="scaled", trainable=True, aliases=_aliases,
             summary=f"alpha * {_base}(x), alpha per layer", base=_base)
    register(f"affine_{_base}", Affine, family="scaled", trainable=True,
             summary=f"a_out * {_base}(a_in x + b_in) + b_out", base=_base)
register("scaled", Scaled, family="scaled", trainable=True,
         summary="alpha * f(x); replace_activations wraps the replaced f (default base relu)")
register("affine", Affine, family="scaled", trainable=True,
         summary="a_out * f(a_in x + b_in) + b_out; replace_activations wraps the replaced f (default base sigmoid)")
register("swish_beta", SwishBeta, family="scaled", trainable=True, summary="x sigmoid(beta x), beta per layer")
register("agsig", Affine, family="scaled", trainable=True, summary="alpha / (1 + e^(-beta x))",
         base="sigmoid", b_in=False, b_out=False)
register("frelu", Affine, family="scaled", trainable=True, summary="relu(x + delta) + eta",
         base="relu", a_in=False, a_out=False)
