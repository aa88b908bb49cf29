"""Activations computed by a small subnetwork per neuron: Davis' meta-neurons and the VAF of Apicella et al."""
from __future__ import annotations

import functools
import math
from typing import Any

import torch
from torch import Tensor

from adaptact import functional as AF
from adaptact import kernels
from adaptact.registry import register
from adaptact.units.base import ActivationUnit, NumFeatures, check_choice, check_int

__all__ = ["MetaNeuron", "VAF"]


def _check_inner(inner: str) -> str:
    b = AF.basis_function(inner)
    if b.num_params or b.stochastic:
        raise ValueError(f"inner must be a fixed deterministic activation, got {inner!r}")
    return inner


#: ``pytorch``: PyTorch's default Linear init (the function starts far from the inner activation);
#: ``fixed``: each subnetwork starts as (VAF: exactly; meta-neuron: a least-squares fit of) its inner activation
SUBNET_INITS = ("pytorch", "fixed")


@functools.lru_cache(maxsize=None)
def _meta_neuron_fit(inner: str, width: int, depth: int) -> tuple[tuple[float, ...], ...]:
    r"""Meta-neuron parameters (one group) whose function is close to ``inner`` on [-4, 4].

    ReLU is idempotent, so a chain of ReLUs through one hidden neuron is exactly ReLU
    (:math:`p=1, q=0, w_1=(1, 0, \dots), v=(1, 0, \dots)`, inner layers zero). Other inner
    functions: least squares by Adam from a fixed seed (deterministic; fitted once per
    ``inner, width, depth`` in a process).
    """
    shapes = {"p": (1,), "q": (1,), "w1": (1, width), "c1": (1, width), "wl": (1, depth - 1, width, width),
              "cl": (1, depth - 1, width), "v": (1, width), "d": (1,)}
    if inner == "relu":
        exact = {k: torch.zeros(shape, dtype=torch.float64) for k, shape in shapes.items()}
        exact["p"].fill_(1.0)
        exact["w1"][0, 0] = 1.0
        exact["v"][0, 0] = 1.0
        return tuple(tuple(exact[k].reshape(-1).tolist()) for k in shapes)
    g = torch.Generator().manual_seed(0)
    z = torch.linspace(-4, 4, 161, dtype=torch.float64)
    target = AF.basis_function(inner).fn(z)
    params = {k: (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
              for k, shape in shapes.items()}
    with torch.no_grad():
        params["p"].fill_(1.0)
        params["q"].zero_()
        params["wl"].mul_(0.1)
    opt = torch.optim.Adam(params.values(), lr=0.05)
    for _ in range(600):
        opt.zero_grad()
        y = AF.metaneuron(z, params["p"], params["q"], params["w1"], params["c1"], params["wl"], params["cl"],
                          params["v"], params["d"], inner=inner)
        (y - target).square().mean().backward()
        opt.step()
    return tuple(tuple(params[k].detach().reshape(-1).tolist()) for k in shapes)


class _Subnetwork(ActivationUnit):
    """Common parts: one parameter group per channel (or a single shared group), and the init choice."""

    shared_has_group_axis = True

    def _uniform_(self, name: str, fan_in: int) -> None:
        p = getattr(self, name)
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            p.uniform_(-bound, bound)


class MetaNeuron(_Subnetwork):
    r"""Meta-neuron (Davis): each neuron's activation is its own residual subnetwork :math:`\mathbb{R}\to\mathbb{R}`.

    .. math::
        u = A(p z + q),\quad h_1 = A(W_1 u + c_1),\quad
        h_{l+1} = h_l + A(W_{l+1} h_l + c_{l+1}),\quad y = A(v^\top h_L + d)

    The fixed activation :math:`A` is applied on the input and output neurons
    too. All neurons are computed together with batched matrix products.

    Args:
        num_features: ``None`` (one subnetwork shared by the layer), an int
            (one per channel/neuron, the paper's choice) or ``"lazy"``.
        width: hidden neurons per subnetwork layer :math:`h` (default 5).
        depth: hidden layers per subnetwork :math:`L` (default 1).
        inner: the fixed activation :math:`A` (default ``sigmoid``).

    Init (``init``): ``"pytorch"`` (default): :math:`p=1, q=0`; the rest as
    PyTorch's ``nn.Linear`` default (uniform in :math:`\pm 1/\sqrt{\text{fan-in}}`).
    With a sigmoid inside, the function then starts nearly flat (its slope is at
    most :math:`|W_1||v|/64`), so deep stacks of meta-neurons learn slowly.
    ``"fixed"``: every subnetwork starts as the least-squares fit of :math:`A`
    itself on :math:`[-4, 4]` (fitted once per ``inner, width, depth``), so the
    network starts as the same network with the fixed activation.

    Attributes (``G`` = channels, or 1 when shared):
        in_weight, in_bias (:math:`p, q`): ``(G,)``;
        hidden_weight, hidden_bias (:math:`W_1, c_1`): ``(G, h)``;
        inner_weights, inner_biases (:math:`W_{2..L}, c_{2..L}`): ``(G, L-1, h, h)``, ``(G, L-1, h)`` (only when ``L > 1``);
        out_weight, out_bias (:math:`v, d`): ``(G, h)``, ``(G,)``.
    """

    def __init__(
        self,
        num_features: NumFeatures = None,
        width: int = 5,
        depth: int = 1,
        inner: str = "sigmoid",
        init: str = "pytorch",
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.width = check_int("width", width, 1)
        self.depth = check_int("depth", depth, 1)
        self.inner = _check_inner(inner)
        self.init = check_choice("init", init, SUBNET_INITS)
        self.add_parameter("in_weight")
        self.add_parameter("in_bias")
        self.add_parameter("hidden_weight", width)
        self.add_parameter("hidden_bias", width)
        if depth > 1:
            self.add_parameter("inner_weights", depth - 1, width, width)
            self.add_parameter("inner_biases", depth - 1, width)
        self.add_parameter("out_weight", width)
        self.add_parameter("out_bias")
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        self.fill_("in_weight", 1.0)
        self.fill_("in_bias", 0.0)
        self._uniform_("hidden_weight", 1)
        self._uniform_("hidden_bias", 1)
        if self.depth > 1:
            self._uniform_("inner_weights", self.width)
            self._uniform_("inner_biases", self.width)
        self._uniform_("out_weight", self.width)
        self._uniform_("out_bias", self.width)
        if self.init == "fixed":
            p, q, w1, c1, wl, cl, v, d = _meta_neuron_fit(self.inner, self.width, self.depth)
            for name, values in (("in_weight", p), ("in_bias", q), ("hidden_weight", w1), ("hidden_bias", c1),
                                 ("out_weight", v), ("out_bias", d)):
                self.fill_(name, values)
            if self.depth > 1:
                self.fill_("inner_weights", torch.tensor(wl).view(self.depth - 1, self.width, self.width))
                self.fill_("inner_biases", torch.tensor(cl).view(self.depth - 1, self.width))

    def _inner_layers(self) -> tuple[Tensor, Tensor]:
        if self.depth > 1:
            return self.inner_weights, self.inner_biases
        g = self.in_weight.shape[0]
        return self.in_weight.new_zeros(g, 0, self.width, self.width), self.in_weight.new_zeros(g, 0, self.width)

    def compute(self, x: Tensor) -> Tensor:
        wl, cl = self._inner_layers()
        return kernels.metaneuron(
            x, self.in_weight, self.in_bias, self.hidden_weight, self.hidden_bias, wl, cl,
            self.out_weight, self.out_bias, inner=self.inner,
        )

    def _repr_options(self) -> dict[str, Any]:
        return {"width": self.width, "depth": self.depth, "inner": self.inner, "init": self.init}


class VAF(_Subnetwork):
    r"""Variable activation function (Apicella et al.): :math:`y = \sum_{k=1}^{h} v_k A(w_k z + c_k) + d`.

    One hidden layer with linear input and output neurons.

    Args:
        num_features: ``None``, an int (one per channel/neuron) or ``"lazy"``.
        width: hidden neurons :math:`h` (default 5).
        inner: the fixed activation :math:`A` (default ``relu``).
        init: ``"pytorch"`` (default: PyTorch's Linear init) or ``"fixed"``: hidden
            neuron 1 starts as :math:`A(z)` (:math:`w_1=1, c_1=0, v=(1, 0, \dots), d=0`),
            so the unit starts as exactly :math:`A`; the other neurons keep their
            random :math:`w_k, c_k` and start with :math:`v_k = 0`.

    Attributes (``G`` = channels or 1):
        in_weight, in_bias, out_weight (:math:`w, c, v`): ``(G, h)``; out_bias (:math:`d`): ``(G,)``.
    """

    def __init__(
        self, num_features: NumFeatures = None, width: int = 5, inner: str = "relu", init: str = "pytorch", *,
        channel_dim: int = 1, device=None, dtype=None,
    ) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.width = check_int("width", width, 1)
        self.inner = _check_inner(inner)
        self.init = check_choice("init", init, SUBNET_INITS)
        self.add_parameter("in_weight", width)
        self.add_parameter("in_bias", width)
        self.add_parameter("out_weight", width)
        self.add_parameter("out_bias")
        if not self.is_lazy:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        self._uniform_("in_weight", 1)
        self._uniform_("in_bias", 1)
        self._uniform_("out_weight", self.width)
        self._uniform_("out_bias", self.width)
        if self.init == "fixed":
            with torch.no_grad():
                self.in_weight[..., 0] = 1.0
                self.in_bias[..., 0] = 0.0
                self.out_weight.zero_()
                self.out_weight[..., 0] = 1.0
                self.out_bias.zero_()

    def compute(self, x: Tensor) -> Tensor:
        return kernels.vaf(x, self.in_weight, self.in_bias, self.out_weight, self.out_bias, inner=self.inner)

    def _repr_options(self) -> dict[str, Any]:
        return {"width": self.width, "inner": self.inner, "init": self.init}


register("metaneuron", MetaNeuron, family="subnet", trainable=True, granularity="channel",
         aliases=("meta_neuron",), summary="residual 1->h->...->h->1 subnetwork per neuron (Davis)")
register("vaf", VAF, family="subnet", trainable=True, granularity="channel",
         summary="sum_k v_k A(w_k z + c_k) + d per neuron (Apicella et al.)")
