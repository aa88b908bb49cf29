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

Numerics. :math:`\alpha x` is never formed where it could overflow: for :math:`|x| \le 1` it is
:math:`x\,e^{\min(\rho, 88)}`; for :math:`|x| > 1` it is :math:`\mathrm{sign}(x)\,e^{\rho + \log|x|}`,
so the gradient of :math:`\rho` (:math:`\partial y/\partial z \cdot z`) never passes through
:math:`x^2`. The light-tailed CDFs (all but Cauchy) are constant in float64 beyond
:math:`|z| = 10^4` (their density is below :math:`e^{-700}`), so :math:`z` is clamped there. The
Cauchy CDF is evaluated through :math:`v = 1/z` (:math:`= \mathrm{sign}(x)\,e^{-\rho-\log|x|}`)
where :math:`|z| > 1`, with no cancellation in :math:`1/2 + \arctan(z)/\pi`, and its ReLU tail
:math:`x F(\alpha x) \to -1/(\pi\alpha)` as :math:`-e^{-\rho}\arctan(v)/(\pi v)`. Outputs and
gradients are finite for every finite float32 ``x`` and :math:`|\rho| \le 88`.

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


def _log_abs_far(x: Tensor, rho: Tensor, near: Tensor) -> Tensor:
    r""":math:`\rho + \log|x|` (:math:`= \log|\alpha x|`) where ``near`` is false; :math:`\rho` elsewhere."""
    return rho + torch.log(torch.where(near, 1.0, x.abs()))


def _z_near(x: Tensor, rho: Tensor, near: Tensor) -> Tensor:
    r""":math:`\alpha x` where ``near`` (:math:`|x| \le 1`, so finite), 0 elsewhere."""
    return torch.where(near, x, 0.0) * torch.exp(rho.clamp(max=_EXP_SAFE))


def _light_argument(x: Tensor, rho: Tensor) -> Tensor:
    r""":math:`z = \alpha x` clamped to :math:`\pm` ``Z_CAP``, without overflow and with :math:`\partial z/\partial\rho = z`."""
    near = x.abs() <= 1.0
    z_near = _z_near(x, rho, near).clamp(-Z_CAP, Z_CAP)
    z_far = torch.sign(x) * torch.exp(_log_abs_far(x, rho, near).clamp(max=_LOG_Z_CAP))
    return torch.where(near, z_near, z_far)


def _atan_ratio(v: Tensor) -> Tensor:
    r""":math:`\arctan(v)/v` for :math:`|v| \le 1` (1 at 0), with no division by a tiny number."""
    small = v.abs() < _SERIES_BELOW
    safe = torch.where(small, 1.0, v)
    return torch.where(small, 1.0 - v * v / 3.0, torch.atan(safe) / safe)


def _cauchy(x: Tensor, rho: Tensor, relu: bool) -> Tensor:
    r"""Cauchy :math:`F(\alpha x)` (or :math:`x F(\alpha x)`) through :math:`z` where :math:`|z| \le 1`, :math:`v = 1/z` beyond."""
    near = x.abs() <= 1.0
    sign = torch.sign(x)
    z_near = _z_near(x, rho, near)
    w = _log_abs_far(x, rho, near)  # log|z| for |x| > 1
    inner = torch.where(near, z_near.abs() <= 1.0, w <= 0.0)
    z_inner = torch.where(near, z_near, sign * torch.exp(w.clamp(max=0.0)))
    outer_near = torch.where(z_near.abs() > 1.0, z_near, 1.0)
    v = torch.where(near, 1.0 / outer_near, sign * torch.exp(-w.clamp(min=0.0)))  # 1/z where |z| > 1
    upper = v > 0
    v_atan = torch.atan(v) / math.pi
    f_outer = torch.where(upper, 1.0 - v_atan, -v_atan)
    f = torch.where(inner, _cauchy_small(z_inner), f_outer)
    if not relu:
        return f
    y = x * f
    # x F(z) for x < -1, z < -1: x atan(-1/z)/pi = -(e^{-rho}/pi) atan(v)/v, with e^{-rho} = |x| e^{-log|alpha x|}
    tail_scale = torch.exp(torch.log(torch.where(near, 1.0, x.abs())) - w.clamp(min=0.0))
    tail = -tail_scale * _atan_ratio(torch.where(upper, 0.0, v)) / math.pi
    return torch.where(~near & ~inner & ~upper, tail, y)


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
