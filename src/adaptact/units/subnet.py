"""Activations computed by a small subnetwork per neuron: Davis' meta-neurons and the VAF of Apicella et al."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from adaptact import functional as AF
from adaptact.registry import register
from adaptact.units.base import ActivationUnit, NumFeatures, check_int

__all__ = ["MetaNeuron", "VAF"]


def _check_inner(inner: str) -> str:
    b = AF.basis_function(inner)
    if b.num_params or b.stochastic:
        raise ValueError(f"inner must be a fixed deterministic activation, got {inner!r}")
    return inner


class _Subnetwork(ActivationUnit):
    """Common parts: one parameter group per channel (or a single shared group), PyTorch-default init."""

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

    Init: :math:`p=1, q=0`; the rest as PyTorch's ``nn.Linear`` default
    (uniform in :math:`\pm 1/\sqrt{\text{fan-in}}`). With a sigmoid inside,
    the function starts nearly flat (its slope is at most
    :math:`|W_1||v|/64`), so deep stacks of meta-neurons learn slowly.

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
        *,
        channel_dim: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.width = check_int("width", width, 1)
        self.depth = check_int("depth", depth, 1)
        self.inner = _check_inner(inner)
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

    def _inner_layers(self) -> tuple[Tensor, Tensor]:
        if self.depth > 1:
            return self.inner_weights, self.inner_biases
        g = self.in_weight.shape[0]
        return self.in_weight.new_zeros(g, 0, self.width, self.width), self.in_weight.new_zeros(g, 0, self.width)

    def compute(self, x: Tensor) -> Tensor:
        wl, cl = self._inner_layers()
        return AF.metaneuron(
            x, self.in_weight, self.in_bias, self.hidden_weight, self.hidden_bias, wl, cl,
            self.out_weight, self.out_bias, inner=self.inner,
        )

    def _repr_options(self) -> dict[str, Any]:
        return {"width": self.width, "depth": self.depth, "inner": self.inner}


class VAF(_Subnetwork):
    r"""Variable activation function (Apicella et al.): :math:`y = \sum_{k=1}^{h} v_k A(w_k z + c_k) + d`.

    One hidden layer with linear input and output neurons.

    Args:
        num_features: ``None``, an int (one per channel/neuron) or ``"lazy"``.
        width: hidden neurons :math:`h` (default 5).
        inner: the fixed activation :math:`A` (default ``relu``).

    Attributes (``G`` = channels or 1):
        in_weight, in_bias, out_weight (:math:`w, c, v`): ``(G, h)``; out_bias (:math:`d`): ``(G,)``.
    """

    def __init__(
        self, num_features: NumFeatures = None, width: int = 5, inner: str = "relu", *, channel_dim: int = 1, device=None, dtype=None
    ) -> None:
        super().__init__(num_features, channel_dim=channel_dim, device=device, dtype=dtype)
        self.width = check_int("width", width, 1)
        self.inner = _check_inner(inner)
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

    def compute(self, x: Tensor) -> Tensor:
        return AF.vaf(x, self.in_weight, self.in_bias, self.out_weight, self.out_bias, inner=self.inner)

    def _repr_options(self) -> dict[str, Any]:
        return {"width": self.width, "inner": self.inner}


register("metaneuron", MetaNeuron, family="subnet", trainable=True, granularity="channel",
         aliases=("meta_neuron",), summary="residual 1->h->...->h->1 subnetwork per neuron (Davis)")
register("vaf", VAF, family="subnet", trainable=True, granularity="channel",
         summary="sum_k v_k A(w_k z + c_k) + d per neuron (Apicella et al.)")
