r"""Standard cumulative distribution functions scaled by :math:`\alpha = e^{\rho}` (Farhadi, Nia & Lodi).

Farhadi et al. read an activation as a CDF :math:`F` and adapt it through a parameter of the
distribution; for the bounded part of an unbounded activation they recommend "any continuous
random variable with a scale parameter". This module evaluates, for the standard CDFs below,

- the CDF activation :math:`F(\alpha x)` (:func:`scaled_cdf`): the distribution with scale
  :math:`1/\alpha`, and
- the adaptive-ReLU construction :math:`x\,F(\alpha x)` (:func:`scaled_cdf_relu`): ReLU is
  :math:`x\,H(x)` with :math:`H` the Heaviside step (a degenerate CDF), recovered as
  :math:`\alpha \to \infty`.

========================= ===================================================== ==================
name                      :math:`F(z)`                                          special cases
========================= ===================================================== ==================
``exponential``           :math:`(1 - e^{-z})` for :math:`z > 0`, else 0         ``arelu`` (paper eq. 2)
``logistic``              :math:`1 / (1 + e^{-z})`                               sigmoid; SiLU (:math:`x F(x)`), quick GELU (:math:`x F(1.702x)`), Swish
``gumbel``                :math:`1 - \exp(-e^{z})` (minimum Gumbel, cloglog)     the :math:`\alpha\to 0` limit of ``agumbel``
``reverse_gumbel``        :math:`\exp(-e^{-z}) = 1 - F_{gumbel}(-z)` (maximum)   its reflection
``normal``                :math:`\Phi(z)` (probit)                               :math:`x\Phi(x)` = exact GELU
``cauchy``                :math:`1/2 + \arctan(z)/\pi`                            heavy tails
``laplace``               :math:`e^{z}/2` for :math:`z < 0`, else :math:`1 - e^{-z}/2`
========================= ===================================================== ==================

Numerics. :math:`z = \alpha x` is formed as :math:`(x e^{-L})\,e^{\rho + L}` with
:math:`L = \log|x|` for :math:`|x| > 1` (0 otherwise) held constant for autograd: the value and
all derivatives are those of :math:`x e^{\rho}`, but nothing overflows and the gradient of
:math:`\rho` (:math:`\partial y/\partial z \cdot z`) never passes through :math:`x^2`. The
light-tailed CDFs (all but Cauchy) are constant in float64 beyond :math:`|z| = 10^4` (their density
is below :math:`e^{-700}`), so :math:`z` is clamped there. The Cauchy CDF is evaluated through
:math:`v = 1/z` where :math:`|z| > 1`, with no cancellation in :math:`1/2 + \arctan(z)/\pi`, and
its ReLU tail :math:`x F(\alpha x) \to -1/(\pi\alpha)` as :math:`-e^{-\rho}\arctan(v)/(\pi v)`.
Outputs and gradients are finite, and match float64 to float32 precision, for every finite float32
``x`` and :math:`|\rho| \le 88` (beyond, :math:`\rho` is taken as :math:`\pm 88` where
:math:`|x| \le 1`).

These functions take ``x`` and ``rho`` already in the compute dtype and broadcastable; use
:func:`adaptact.functional.adaptive_cdf` and :func:`adaptact.functional.cdf_relu`.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

__all__ = ["CDF_NAMES", "CDF_ALIASES", "resolve_cdf", "scaled_cdf", "scaled_cdf_relu", "standard_cdf"]

CDF_NAMES = ("exponential", "logistic", "gumbel", "reverse_gumbel", "normal", "cauchy", "laplace")
#: other names accepted for a CDF
CDF_ALIASES = {"probit": "normal", "gaussian": "normal", "sigmoid": "logistic"}

#: beyond |z| = Z_CAP every light-tailed CDF is 0 or 1 and its density 0, even in float64
Z_CAP = 1e4
_LOG_Z_CAP = math.log(Z_CAP)
#: e^88 < float32 max: the largest exponent of alpha used for |x| <= 1
_EXP_SAFE = 88.0
#: beyond z = 7 the Gumbel CDF is 1 and its density e^z exp(-e^z) below 1e-300
_GUMBEL_TOP = 7.0
#: below this |v|, arctan(v)/v is 1 - v^2/3 (error below 1e-17)
_SERIES_BELOW = 1e-4


def resolve_cdf(name: str) -> str:
    """The canonical CDF name for ``name`` (or an alias); a ``ValueError`` listing the choices otherwise."""
    canonical = CDF_ALIASES.get(name, name)
    if canonical not in CDF_NAMES:
        raise ValueError(f"unknown cdf {name!r}; choose from {list(CDF_NAMES)} (aliases {sorted(CDF_ALIASES)})")
    return canonical


# --------------------------------------------------------------------------- standard CDFs of a bounded argument


def _exponential(z: Tensor) -> Tensor:
    return -torch.expm1(-z.clamp(min=0))


def _gumbel(z: Tensor) -> Tensor:
    return -torch.expm1(-torch.exp(z.clamp(max=_GUMBEL_TOP)))


def _reverse_gumbel(z: Tensor) -> Tensor:
    return torch.exp(-torch.exp((-z).clamp(max=_GUMBEL_TOP)))


def _laplace(z: Tensor) -> Tensor:
    lower = z < 0
    below = 0.5 * torch.exp(torch.where(lower, z, 0.0))
    above = 1.0 - 0.5 * torch.exp(-torch.where(lower, 0.0, z))
    return torch.where(lower, below, above)


def _cauchy_small(z: Tensor) -> Tensor:
    return 0.5 + torch.atan(z) / math.pi


_LIGHT: dict[str, Callable[[Tensor], Tensor]] = {
    "exponential": _exponential,
    "logistic": torch.sigmoid,
    "gumbel": _gumbel,
    "reverse_gumbel": _reverse_gumbel,
    "normal": torch.special.ndtr,
    "laplace": _laplace,
}


def standard_cdf(z: Tensor, name: str) -> Tensor:
    r"""The standard CDF :math:`F(z)` named ``name`` (see the module table), for any finite ``z``."""
    name = resolve_cdf(name)
    if name == "cauchy":
        return scaled_cdf(z, torch.zeros((), dtype=z.dtype, device=z.device), name)
    return _LIGHT[name](z.clamp(-Z_CAP, Z_CAP))


# --------------------------------------------------------------------------- the scaled argument


def _split(x: Tensor, rho: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r"""``(far, unit, e)`` with :math:`\alpha x = u\,e^{e}` exactly in value and in every derivative.

    ``far`` is :math:`|x| > 1`; :math:`L = \log|x|` there (0 elsewhere) is a constant for autograd, so
    :math:`u = x e^{-L}` (:math:`\approx \pm 1` where far, :math:`x` elsewhere) and :math:`e = \rho + L`
    (:math:`\log|\alpha x|` where far, :math:`\rho` elsewhere). The gradient of :math:`\rho` is then
    :math:`\partial y/\partial z \cdot z` (never through :math:`x^2`), and no rounding of :math:`L`
    reaches :math:`z` (it cancels between the two factors).
    """
    far = x.abs() > 1.0
    log_abs = torch.log(torch.where(far, x.abs(), 1.0)).detach()
    return far, x * torch.exp(-log_abs), rho + log_abs


def _light_argument(x: Tensor, rho: Tensor) -> Tensor:
    r""":math:`z = \alpha x` clamped to :math:`\pm` ``Z_CAP``, never overflowing (:func:`_split`)."""
    far, unit, e = _split(x, rho)
    e = torch.where(far, e.clamp(max=_LOG_Z_CAP), e.clamp(max=_EXP_SAFE))
    return (unit * torch.exp(e)).clamp(-Z_CAP, Z_CAP)


def _atan_ratio(v: Tensor) -> Tensor:
    r""":math:`\arctan(v)/v` for :math:`|v| \le 1` (1 at 0), with no division by a tiny number."""
    small = v.abs() < _SERIES_BELOW
    safe = torch.where(small, 1.0, v)
    return torch.where(small, 1.0 - v * v / 3.0, torch.atan(safe) / safe)


def _cauchy(x: Tensor, rho: Tensor, relu: bool) -> Tensor:
    r"""Cauchy :math:`F(\alpha x)` (or :math:`x F(\alpha x)`) through :math:`z` where :math:`|z| \le 1`, :math:`v = 1/z` beyond."""
    far, unit, e = _split(x, rho)
    z_near = torch.where(far, 0.0, unit) * torch.exp(e.clamp(max=_EXP_SAFE))  # alpha x where |x| <= 1
    inner = (far & (e <= 0.0)) | (~far & (z_near.abs() <= 1.0))  # |z| <= 1 (no where on bools: ONNX)
    z_inner = torch.where(far, unit * torch.exp(e.clamp(max=0.0)), z_near)
    outer_near = torch.where(z_near.abs() > 1.0, z_near, 1.0)
    v = torch.where(far, torch.exp(-e.clamp(min=0.0)) / torch.where(far, unit, 1.0), 1.0 / outer_near)  # 1/z
    upper = x > 0  # the sign of z (v may underflow to 0)
    v_atan = torch.atan(v) / math.pi
    f = torch.where(inner, _cauchy_small(z_inner), torch.where(upper, 1.0 - v_atan, -v_atan))
    if not relu:
        return f
    # x F(z) for x < -1, z < -1: x atan(-1/z)/pi = -(e^{-rho}/pi) atan(v)/v (e^{-rho} < |x| there)
    tail_branch = far & ~inner & ~upper
    scale = torch.exp(torch.minimum(-rho, e - rho))  # e - rho = log|x| bounds it off the branch
    tail = -scale * _atan_ratio(torch.where(tail_branch, v, 0.0)) / math.pi
    return torch.where(tail_branch, tail, x * f)


# --------------------------------------------------------------------------- the two constructions


def scaled_cdf(x: Tensor, rho: Tensor, name: str) -> Tensor:
    r"""The CDF activation :math:`F(e^{\rho} x)`; ``x`` and ``rho`` in the compute dtype, broadcastable."""
    name = resolve_cdf(name)
    if name == "cauchy":
        return _cauchy(x, rho, relu=False)
    return _LIGHT[name](_light_argument(x, rho))


def scaled_cdf_relu(x: Tensor, rho: Tensor, name: str) -> Tensor:
    r"""The adaptive ReLU :math:`x\,F(e^{\rho} x)`; ``x`` and ``rho`` in the compute dtype, broadcastable."""
    name = resolve_cdf(name)
    if name == "cauchy":
        return _cauchy(x, rho, relu=True)
    return x * _LIGHT[name](_light_argument(x, rho))
