r"""Stateless reference math for every family of activation in adaptact.

Every function takes the input ``x`` and the unit's parameters explicitly and
returns a tensor of the same shape and dtype as ``x``. These are the
*reference* implementations: plain PyTorch, autograd-differentiable, easy to
read. The fast paths in :mod:`adaptact.kernels` are tested equal to them.

Parameter layout
----------------
A parameter is either *shared* by the whole layer (shape ``S``, e.g. ``()`` for
a scalar or ``(m,)`` for a coefficient vector) or *per channel* (shape
``(C,) + S``), where the channel axis of ``x`` is dim 1 (``x`` of shape
``(N, C, *)``). :func:`channel_view` turns a per-channel parameter into a view
that broadcasts against ``x``.

Precision
---------
float16 and bfloat16 inputs are computed in float32 and cast back (like
PyTorch's "opmath"); float32 and float64 inputs are computed in their own
precision, and the parameters are cast to that precision.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BasisFunction",
    "BASIS_FUNCTIONS",
    "NORMALIZATIONS",
    "RRELU_LOWER",
    "RRELU_MEAN",
    "RRELU_UPPER",
    "abu",
    "adact",
    "affine",
    "agumbel",
    "apl",
    "arelu",
    "basis_function",
    "batch_standardize",
    "blend",
    "blend_weights",
    "channel_view",
    "compute_dtype",
    "maxout",
    "metaneuron",
    "pau",
    "pau_denominator",
    "polynomial",
    "rational",
    "rpau",
    "rpau_training",
    "rpau_noise",
    "rrelu_uniform_source",
    "scaled",
    "slaf",
    "srelu",
    "stable_polynomial",
    "swish_beta",
    "vaf",
]


# --------------------------------------------------------------------------- helpers


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype the math is done in: float32 for half types, else ``x.dtype``."""
    if x.dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return x.dtype


def channel_view(p: Tensor, x: Tensor, trailing: int = 0) -> Tensor:
    """View a parameter so that it broadcasts against ``x``.

    ``p`` has shape ``S`` (shared by the layer; returned unchanged) or
    ``(C,) + S`` with ``C == x.shape[1]`` (one set per channel), where
    ``len(S) == trailing``. A per-channel parameter is reshaped to
    ``(1, C, 1, ..., 1) + S`` with as many ones as ``x`` has dims after the
    channel axis.
    """
    if p.dim() == trailing:
        return p
    if x.dim() < 2:
        raise ValueError(
            f"a per-channel parameter needs an input of shape (N, C, *); got shape {tuple(x.shape)}"
        )
    if p.shape[0] != x.shape[1]:
        raise ValueError(
            f"num_features mismatch: the unit has {p.shape[0]} channels but the input has "
            f"{x.shape[1]} channels (dim 1 of shape {tuple(x.shape)})"
        )
    shape = (1, p.shape[0]) + (1,) * (x.dim() - 2) + tuple(p.shape[1:])
    return p.reshape(shape)


def _coefficient(p: Tensor, j: int) -> Tensor:
    """The j-th entry along the last axis of an already channel-viewed parameter."""
    return p[..., j]


def _cast(x: Tensor, *params: Tensor | None) -> tuple[Tensor, ...]:
    dtype = compute_dtype(x)
    return (x.to(dtype),) + tuple(None if p is None else p.to(dtype) for p in params)


# --------------------------------------------------------------------------- fixed bases

Fn = Callable[..., Tensor]


@dataclass(frozen=True)
class BasisFunction:
    """A function usable as a basis element of a blend or as the base of a scaled unit.

    ``fn(x, *params, training=...)`` computes it; ``params`` names its own
    trainable scalars (per layer or per channel) with their initial values;
    ``stochastic`` marks functions that are random in training mode (RReLU).
    """

    name: str
    fn: Fn
    params: tuple[tuple[str, float], ...] = ()
    stochastic: bool = False

    @property
    def num_params(self) -> int:
        return len(self.params)


def _identity(x: Tensor, training: bool = False) -> Tensor:
    return x


def _fixed(f: Callable[[Tensor], Tensor]) -> Fn:
    def fn(x: Tensor, training: bool = False) -> Tensor:
        return f(x)

    return fn


def _gelu(x: Tensor) -> Tensor:
    r"""GELU :math:`x\,\Phi(x)`; above 10, where :math:`\Phi(x) = 1` even in float64, exactly ``x``
    (``F.gelu`` overflows in float32 above about 1.7e38)."""
    return torch.where(x > 10.0, x, F.gelu(x))


def _swish_beta_basis(x: Tensor, beta: Tensor, training: bool = False) -> Tensor:
    return x * torch.sigmoid(beta * x)


def _prelu_basis(x: Tensor, slope: Tensor, training: bool = False) -> Tensor:
    return torch.where(x >= 0, x, slope * x)


#: RReLU's slope bounds (torch's defaults) and the mean slope used in evaluation
RRELU_LOWER, RRELU_UPPER = 1.0 / 8, 1.0 / 3
RRELU_MEAN = (RRELU_LOWER + RRELU_UPPER) / 2


def _torch_uniform(x: Tensor) -> Tensor:
    return torch.rand_like(x)


#: where RReLU's training slopes come from: ``draw(x)`` gives one U[0, 1) number per element of ``x``
#: (torch's generator by default; :mod:`adaptact.kernels` sets it to the fused kernels' counter-based
#: draws when it recomputes a fused call for double backward, see :func:`rrelu_uniform_source`)
_RRELU_UNIFORM: ContextVar[Callable[[Tensor], Tensor]] = ContextVar("adaptact_rrelu_uniform", default=_torch_uniform)


@contextmanager
def rrelu_uniform_source(draw: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Within the block, RReLU and RPAU in training take their uniforms from ``draw(t)`` (same shape as ``t``)."""
    token = _RRELU_UNIFORM.set(draw)
    try:
        yield
    finally:
        _RRELU_UNIFORM.reset(token)


def _rrelu_basis(x: Tensor, training: bool = False) -> Tensor:
    r"""RReLU: :math:`x` for :math:`x > 0`, else :math:`r x`.

    In training :math:`r \sim U(1/8, 1/3)` per element (torch's rule, slope used for :math:`x \le 0`);
    in evaluation :math:`r` is the mean slope 11/48, i.e. a leaky ReLU (which exports and vmaps).
    """
    if not training:
        return F.leaky_relu(x, RRELU_MEAN)
    r = RRELU_LOWER + (RRELU_UPPER - RRELU_LOWER) * _RRELU_UNIFORM.get()(x)
    return torch.where(x <= 0, x * r, x)


BASIS_FUNCTIONS: dict[str, BasisFunction] = {
    b.name: b
    for b in (
        BasisFunction("identity", _identity),
        BasisFunction("relu", _fixed(F.relu)),
        BasisFunction("relu6", _fixed(F.relu6)),
        BasisFunction("lrelu", _fixed(lambda x: F.leaky_relu(x, 0.01))),
        BasisFunction("elu", _fixed(F.elu)),
        BasisFunction("celu", _fixed(F.celu)),
        BasisFunction("selu", _fixed(F.selu)),
        BasisFunction("gelu", _fixed(_gelu)),
        BasisFunction("tanh", _fixed(torch.tanh)),
        BasisFunction("sigmoid", _fixed(torch.sigmoid)),
        BasisFunction("silu", _fixed(F.silu)),
        BasisFunction("mish", _fixed(F.mish)),
        BasisFunction("softplus", _fixed(F.softplus)),
        BasisFunction("swish_beta", _swish_beta_basis, params=(("beta", 1.0),)),
        BasisFunction("prelu", _prelu_basis, params=(("slope", 0.25),)),
        BasisFunction("rrelu", _rrelu_basis, stochastic=True),
    )
}
BASIS_FUNCTIONS["swish"] = BASIS_FUNCTIONS["silu"]


def basis_function(name: str) -> BasisFunction:
    """Look up a basis function by name, with an error listing the choices."""
    try:
        return BASIS_FUNCTIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown basis function {name!r}; choose from {sorted(BASIS_FUNCTIONS)}"
        ) from None


def _apply_basis(
    x: Tensor, b: BasisFunction, own: Tensor | None, offset: int, training: bool
) -> Tensor:
    """Evaluate one basis function; its parameters are ``own[..., offset:offset+k]``."""
    params = [_coefficient(own, offset + i) for i in range(b.num_params)] if b.num_params else []
    return b.fn(x, *params, training=training)


def _basis_param_view(basis_params: Tensor | None, x: Tensor) -> Tensor | None:
    if basis_params is None:
        return None
    return channel_view(basis_params, x, trailing=1)


# --------------------------------------------------------------------------- adaptive scaling


def scaled(
    x: Tensor,
    alpha: Tensor,
    base: str = "relu",
    basis_params: Tensor | None = None,
    training: bool = False,
) -> Tensor:
    r"""Adaptive scaling (Sütfeld et al.): :math:`y = \alpha \cdot f(x)`.

    Args:
        x: input ``(N, C, *)`` or any shape when ``alpha`` is shared.
        alpha: scale, shape ``()`` or ``(C,)``.
        base: name of the fixed function ``f`` (see :data:`BASIS_FUNCTIONS`).
        basis_params: the base's own parameters (e.g. Swish's :math:`\beta`),
            shape ``(k,)`` or ``(C, k)``.
        training: passed to stochastic bases.
    """
    b = basis_function(base)
    xc, a, own = _cast(x, alpha, basis_params)
    own = _basis_param_view(own, xc)
    y = channel_view(a, xc) * _apply_basis(xc, b, own, 0, training)
    return y.to(x.dtype)


def swish_beta(x: Tensor, beta: Tensor) -> Tensor:
    r"""Swish with a trainable slope: :math:`y = x \cdot \sigma(\beta x)`; ``beta`` is ``()`` or ``(C,)``."""
    xc, b = _cast(x, beta)
    y = xc * torch.sigmoid(channel_view(b, xc) * xc)
    return y.to(x.dtype)


def affine(
    x: Tensor,
    base: str = "sigmoid",
    a_in: Tensor | None = None,
    b_in: Tensor | None = None,
    a_out: Tensor | None = None,
    b_out: Tensor | None = None,
    basis_params: Tensor | None = None,
    training: bool = False,
) -> Tensor:
    r"""Affine-wrapped activation :math:`y = a_{out} f(a_{in} x + b_{in}) + b_{out}`.

    Each of the four parameters may be ``None`` (then :math:`a=1` or
    :math:`b=0`, i.e. switched off). AGSig is ``base="sigmoid"`` with
    :math:`a_{in}=\beta, a_{out}=\alpha`; FReLU is ``base="relu"`` with
    :math:`b_{in}=\delta, b_{out}=\eta`.
    """
    b = basis_function(base)
    xc, ai, bi, ao, bo, own = _cast(x, a_in, b_in, a_out, b_out, basis_params)
    z = xc
    if ai is not None:
        z = channel_view(ai, xc) * z
    if bi is not None:
        z = z + channel_view(bi, xc)
    y = _apply_basis(z, b, _basis_param_view(own, xc), 0, training)
    if ao is not None:
        y = channel_view(ao, xc) * y
    if bo is not None:
        y = y + channel_view(bo, xc)
    return y.to(x.dtype)


# --------------------------------------------------------------------------- blends (ABU, AdAct, Mixture)

NORMALIZATIONS = ("none", "sum", "abs", "pos", "softmax")
_TINY = 1e-12


def blend_weights(raw: Tensor, normalization: str = "none") -> Tensor:
    r"""Normalise raw blend weights along the last axis.

    - ``none``: :math:`w`
    - ``sum``: :math:`w / \sum_j w_j`
    - ``abs``: :math:`w / \sum_j |w_j|`
    - ``pos``: :math:`\max(w,0) / \sum_j \max(w_j,0)` (negative weights clipped;
      the denominator is kept above 1e-12 so an all-negative vector gives 0)
    - ``softmax``: :math:`e^{w} / \sum_j e^{w_j}`
    """
    if normalization == "none":
        return raw
    if normalization == "sum":
        return raw / raw.sum(-1, keepdim=True)
    if normalization == "abs":
        return raw / raw.abs().sum(-1, keepdim=True)
    if normalization == "pos":
        pos = raw.clamp(min=0)
        return pos / pos.sum(-1, keepdim=True).clamp(min=_TINY)
    if normalization == "softmax":
        return torch.softmax(raw, dim=-1)
    raise ValueError(f"unknown normalization {normalization!r}; choose from {list(NORMALIZATIONS)}")


#: epsilon of :func:`batch_standardize` (TensorFlow's batch-norm default, which the ABU authors' code used)
BATCH_NORM_EPS = 1e-3


def batch_standardize(t: Tensor, eps: float = BATCH_NORM_EPS) -> Tensor:
    r"""Batch normalisation without parameters or running statistics: :math:`(t - \mu) / \sqrt{\sigma^2 + \epsilon}`.

    :math:`\mu, \sigma^2` (biased) are taken per channel (dim 1) over every other dim of an
    ``(N, C, *)`` input, as ``BatchNorm1d``/``BatchNorm2d`` in training mode do; a 1-D input is one
    channel. Always the current batch's statistics, in training and evaluation alike.

    Computed by torch's own batch norm (``F.batch_norm`` in training mode, no affine parameters, no running
    statistics): one node with an analytic backward (and a double backward), 3-4x faster forward+backward
    on CPU than the same formula from ``var_mean`` and three elementwise ops. The formula itself serves
    where that op refuses: one value per channel (the result is 0) and the dtypes it has no kernel for.
    """
    per_channel = t.numel() // (t.shape[1] if t.dim() >= 2 else 1) if t.numel() else 0
    if per_channel > 1 and t.dtype in (torch.float32, torch.float64, torch.bfloat16):
        view = t.reshape(-1, 1) if t.dim() == 1 else t
        return F.batch_norm(view, None, None, None, None, True, 0.0, eps).reshape(t.shape)
    dims = [0] + list(range(2, t.dim())) if t.dim() >= 2 else [0]
    var, mean = torch.var_mean(t, dim=dims, keepdim=True, unbiased=False)
    return (t - mean) * torch.rsqrt(var + eps)


def blend(
    x: Tensor,
    weights: Tensor,
    basis: Sequence[str],
    basis_params: Tensor | None = None,
    normalization: str = "none",
    training: bool = False,
    basis_batchnorm: bool = False,
) -> Tensor:
    r"""Weighted blend of basis functions: :math:`y = \sum_j \hat w_j f_j(x)`.

    Args:
        x: input.
        weights: raw weights, shape ``(m,)`` or ``(C, m)`` with ``m = len(basis)``.
        basis: names of the basis functions (see :data:`BASIS_FUNCTIONS`).
        basis_params: the basis functions' own parameters concatenated in basis
            order (e.g. Swish's :math:`\beta`, PReLU's slope), ``(k,)`` or ``(C, k)``.
        normalization: how raw weights become :math:`\hat w` (:func:`blend_weights`).
        training: passed to stochastic basis functions (RReLU).
        basis_batchnorm: batch-normalise each basis output before blending,
            :math:`y = \sum_j \hat w_j\,\mathrm{BN}(f_j(x))` with :func:`batch_standardize`
            (the ABU authors' code does this in SMCN_BN).
    """
    fns = [basis_function(n) for n in basis]
    if weights.shape[-1] != len(fns):
        raise ValueError(f"weights have {weights.shape[-1]} entries for a basis of {len(fns)}")
    xc, w, own = _cast(x, weights, basis_params)
    w = channel_view(blend_weights(w, normalization), xc, trailing=1)
    own = _basis_param_view(own, xc)
    y = None
    offset = 0
    for j, b in enumerate(fns):
        f = _apply_basis(xc, b, own, offset, training)
        term = _coefficient(w, j) * (batch_standardize(f) if basis_batchnorm else f)
        offset += b.num_params
        y = term if y is None else y + term
    return y.to(x.dtype)


ABU_BASIS = ("tanh", "elu", "relu", "identity", "swish_beta")
ADACT_BASIS = ("relu", "elu", "lrelu", "prelu", "rrelu", "silu", "mish")


def abu(
    x: Tensor,
    weights: Tensor,
    basis_params: Tensor | None = None,
    normalization: str = "none",
    basis: Sequence[str] = ABU_BASIS,
    training: bool = False,
    basis_batchnorm: bool = False,
) -> Tensor:
    r"""Adaptive Blending Unit (Sütfeld et al.): :math:`y = \sum_j \hat w_j f_j(x)`.

    Default basis ``tanh, elu, relu, identity, swish_beta``;
    ``basis_params`` holds Swish's :math:`\beta`. See :func:`blend`.
    """
    return blend(x, weights, basis, basis_params, normalization, training, basis_batchnorm)


def adact(x: Tensor, weights: Tensor, prelu_slope: Tensor, training: bool = False) -> Tensor:
    r"""AdAct (Maiti): :math:`y = \sum_{i=1}^{7} \mathrm{softmax}(w)_i \, \mathrm{Act}_i(x)`.

    Act = ReLU, ELU, LReLU(0.01), PReLU(slope), RReLU(1/8, 1/3), SiLU, Mish.
    ``weights`` is ``(7,)`` or ``(C, 7)``; ``prelu_slope`` ``()`` or ``(C,)``.
    RReLU draws random slopes only when ``training`` is true.
    """
    return blend(x, weights, ADACT_BASIS, prelu_slope.unsqueeze(-1), "softmax", training)


# --------------------------------------------------------------------------- CDF units (Farhadi et al.)


#: the float32 exponent below which e^{-rho} is evaluated (e^88 < float32 max); beyond it w is huge anyway
_EXP_SAFE = 88.0
#: the largest w = e^{-rho} softplus(x + rho) computed: 1 - e^{-w} is already 1 there
_W_CAP = 1e30
#: below this t = e^{-|z|}, log1p(t)/t is 1 - t/2 + t^2/3 - t^3/4 (error below 1e-17)
_SERIES_BELOW = 1e-4


def _log1p_ratio(t: Tensor) -> Tensor:
    r""":math:`\log(1+t)/t` for :math:`0 \le t \le 1` (1 at 0), with no division by a tiny number."""
    series = 1.0 - t * (0.5 - t * (1.0 / 3.0 - 0.25 * t))
    safe = t.clamp(min=_SERIES_BELOW)
    return torch.where(t < _SERIES_BELOW, series, torch.log1p(safe) / safe)


def agumbel(x: Tensor, rho: Tensor) -> Tensor:
    r"""Adaptive Gumbel: :math:`y = 1 - (1 + \alpha e^{x})^{-1/\alpha}`, :math:`\alpha = e^{\rho}`.

    :math:`y = -\mathrm{expm1}(-w)` with :math:`w = e^{-\rho}\,\mathrm{softplus}(z)`,
    :math:`z = x + \rho`, evaluated without overflow or underflow for any finite
    :math:`x, \rho`: for :math:`z \ge 0`, :math:`w = \min(e^{-\rho}, 10^{30}/s)\,s`
    (:math:`e^{-\rho}` taken at :math:`\rho \ge -88`; where either bound acts,
    :math:`w \ge 10^{30}` and :math:`y = 1`); for :math:`z < 0`,
    :math:`w = e^{x} \log(1+t)/t` with :math:`t = e^{z}` (since :math:`e^{-\rho}e^{z} = e^{x}`;
    the old form lost everything to underflow once :math:`\rho \lesssim -86`).
    :math:`\alpha=1` is the logistic sigmoid; :math:`\alpha\to 0` the Gumbel CDF
    :math:`1-\exp(-e^{x})`. ``rho`` is ``()`` or ``(C,)``.
    """
    xc, r = _cast(x, rho)
    r = channel_view(r, xc)
    z = xc + r
    t = torch.exp(-z.abs())  # e^z where z < 0
    upper = z >= 0
    s = F.softplus(z)
    s_up = s.clamp(min=0.5)  # s >= log 2 where z >= 0; the clamp only keeps the other branch finite
    k = torch.exp((-r).clamp(max=_EXP_SAFE))
    w_up = torch.minimum(k, _W_CAP / s_up) * s_up
    w_low = torch.exp(xc.clamp(max=_EXP_SAFE)) * _log1p_ratio(t)
    w = torch.where(upper, w_up, w_low)
    y = -torch.expm1(-w)
    return y.to(x.dtype)


ARELU_CDFS = ("exponential", "logistic")


def arelu(x: Tensor, rho: Tensor, cdf: str = "exponential") -> Tensor:
    r"""Adaptive ReLU: :math:`y = x\,(1 - e^{-\alpha x})` for :math:`x>0`, else 0; :math:`\alpha = e^{\rho}`.

    With ``cdf="logistic"``: :math:`y = x\,\sigma(\alpha x)` (Swish with slope
    :math:`\alpha`). :math:`\alpha \to \infty` gives ReLU in both cases.
    ``rho`` is ``()`` or ``(C,)``.
    """
    xc, r = _cast(x, rho)
    alpha = torch.exp(channel_view(r, xc))
    if cdf == "exponential":
        pos = F.relu(xc)
        y = -pos * torch.expm1(-alpha * pos)
    elif cdf == "logistic":
        y = xc * torch.sigmoid(alpha * xc)
    else:
        raise ValueError(f"unknown cdf {cdf!r}; choose from {list(ARELU_CDFS)}")
    return y.to(x.dtype)


# --------------------------------------------------------------------------- rational (PAU)

PAU_FORMS = ("A", "B")


def polynomial(x: Tensor, coefficients: Tensor) -> Tensor:
    r"""Horner evaluation of :math:`\sum_{j=0}^{m} c_j x^j`; ``coefficients`` viewed for ``x``, last axis ``m+1``."""
    m = coefficients.shape[-1] - 1
    y = _coefficient(coefficients, m).expand_as(x) if m >= 0 else torch.zeros_like(x)
    for j in range(m - 1, -1, -1):
        y = y * x + _coefficient(coefficients, j)
    return y


def _polynomial_scaled(x: Tensor, coefficients: Tensor) -> Tensor:
    r""":func:`polynomial` for :math:`|x| \ge 1`: :math:`\sum_j (c_j s^j)\,\xi^j`, :math:`s = |x|/m`, :math:`\xi = x/s`.

    :math:`s` is a constant for autograd (the value does not depend on it, so every derivative is
    exact), and :math:`\xi = \pm m` (the degree): backward never forms a power of :math:`x` on its
    own (plain Horner's backward does, :math:`x^j`, which overflows in float32 where
    :math:`c_j x^j` need not), and :math:`\partial y/\partial\xi = s\,y' \approx y` stays finite.
    """
    scale = x.detach().abs() / max(coefficients.shape[-1] - 1, 1)
    xi = x / scale
    y = None
    for j in range(coefficients.shape[-1] - 1, -1, -1):
        c = _coefficient(coefficients, j)
        for _ in range(j):
            c = c * scale
        y = c.expand_as(x) if y is None else y * xi + c
    return y


def stable_polynomial(x: Tensor, coefficients: Tensor) -> Tensor:
    r""":func:`polynomial` with gradients finite wherever the true ones are: by
    :func:`_polynomial_scaled` where :math:`|x| > 1` (each branch sees a harmless 0 or 1 where unused)."""
    far = x.abs() > 1.0
    near = polynomial(torch.where(far, torch.zeros_like(x), x), coefficients)
    return torch.where(far, _polynomial_scaled(torch.where(far, x, torch.ones_like(x)), coefficients), near)


def pau_denominator(x: Tensor, denominator: Tensor, form: str = "A") -> Tensor:
    r"""The safe denominator :math:`Q(x) \ge 1` of a PAU.

    - form ``"A"``: :math:`Q = 1 + \sum_{k=1}^{n} |b_k|\,|x|^k`
    - form ``"B"``: :math:`Q = 1 + |\sum_{k=1}^{n} b_k x^k|`

    ``denominator`` is already viewed for ``x``; its last axis holds
    :math:`b_1 \dots b_n`.
    """
    n = denominator.shape[-1]
    if form == "A":
        ax = x.abs()
        s = torch.zeros_like(x)
        for k in range(n - 1, -1, -1):
            s = (s + _coefficient(denominator, k).abs()) * ax
        return 1.0 + s
    if form == "B":
        s = torch.zeros_like(x)
        for k in range(n - 1, -1, -1):
            s = (s + _coefficient(denominator, k)) * x
        return 1.0 + s.abs()
    _check_form(form)


def _check_form(form: str) -> None:
    if form not in PAU_FORMS:
        raise ValueError(f"unknown PAU form {form!r}; choose from {list(PAU_FORMS)}")


def rational(x: Tensor, numerator: Tensor, denominator: Tensor, form: str = "A") -> Tensor:
    r""":math:`P(x)/Q(x)` of :func:`pau` for coefficients already viewed for ``x``, finite wherever the value is.

    For :math:`|x| \le 1` it is ``polynomial(x, a) / pau_denominator(x, b)``. For
    :math:`|x| > 1` both are divided by :math:`|x|^n` first (:func:`_rational_far`), so no power of
    :math:`x` beyond :math:`x^{m-n}` is formed: a (5, 4) PAU in float32 is finite up to the largest
    float instead of overflowing (``x^5``) at :math:`|x| \approx 10^8`. The two branches see
    harmless inputs where they are not used (0 and 1), so gradients stay finite too.
    """
    if denominator.shape[-1] == 0:
        _check_form(form)
        return stable_polynomial(x, numerator)
    far = x.abs() > 1.0
    x_near = torch.where(far, torch.zeros_like(x), x)
    near = polynomial(x_near, numerator) / pau_denominator(x_near, denominator, form)
    x_far = torch.where(far, x, torch.ones_like(x))
    return torch.where(far, _rational_far(x_far, numerator, denominator, form), near)


def _rational_far(x: Tensor, a: Tensor, b: Tensor, form: str) -> Tensor:
    r""":math:`P/Q` for :math:`|x| \ge 1` as :math:`\mathrm{sign}(x)^n N / D`, :math:`t = 1/x`.

    :math:`N = x^{-n} P = H(x) + L(t)` with :math:`H = \sum_{j \ge n} a_j x^{j-n}` and
    :math:`L = \sum_{j < n} a_j t^{n-j}`; :math:`D = |x|^{-n} Q`, a polynomial in :math:`t` with
    bounded coefficients: :math:`|t|^n + \sum_k |b_k| |t|^{n-k}` (form A) or
    :math:`|t|^n + |\sum_k b_k t^{n-k}|` (form B).
    """
    m, n = a.shape[-1] - 1, b.shape[-1]
    t = 1.0 / x
    # Beyond sqrt(max) (2^64 in float32) the denominator's dependence on x is left out of autograd:
    # its share of dy/dx is below 1/|x| relative there, and its chain (dy/dD = -y/D, then dD/dx)
    # overflows first. Values and parameter gradients stay exact.
    cap = torch.finfo(x.dtype).max ** 0.5
    td = torch.where(x.abs() > cap, t.detach(), t)
    low = min(m, n - 1)
    tail = polynomial(t, a[..., : low + 1].flip(-1))  # sum_{j <= low} a_j t^(low - j)
    for _ in range(n - low):
        tail = tail * t
    num = tail if m < n else _polynomial_scaled(x, a[..., n:]) + tail
    if form == "A":
        beta = torch.cat([torch.ones_like(b[..., :1]), b.abs()], dim=-1)  # 1, |b_1| .. |b_n|
        den = polynomial(td.abs(), beta.flip(-1))
    else:
        den = td.abs() ** n + polynomial(td, b.flip(-1)).abs()
    y = num / den
    return y * torch.sign(x) if n % 2 else y


def pau(x: Tensor, numerator: Tensor, denominator: Tensor, form: str = "A") -> Tensor:
    r"""Padé Activation Unit (Molina et al.): :math:`y = P(x) / Q(x)`.

    :math:`P(x) = \sum_{j=0}^{m} a_j x^j` and the safe :math:`Q` of
    :func:`pau_denominator`. ``numerator`` is ``(m+1,)`` or ``(C, m+1)``
    (:math:`a_0 \dots a_m`); ``denominator`` is ``(n,)`` or ``(C, n)``
    (:math:`b_1 \dots b_n`). The derivative of :math:`|z|` is taken as
    :math:`\mathrm{sign}(z)`. Evaluated by :func:`rational`: finite wherever the value is.
    """
    xc, a, b = _cast(x, numerator, denominator)
    a = channel_view(a, xc, trailing=1)
    b = channel_view(b, xc, trailing=1)
    return rational(xc, a, b, form).to(x.dtype)


def rpau_noise(
    x: Tensor, numerator: Tensor, denominator: Tensor, delta: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    r"""Draw RPAU's multiplicative noise :math:`u \sim U(-\delta, \delta)`, one per element and coefficient.

    Returns tensors of shape ``x.shape + (m+1,)`` and ``x.shape + (n,)``. Without ``generator``
    the uniforms come, in one draw of shape ``x.shape + (m+1+n,)`` (numerator first), from the
    current uniform source (:func:`rrelu_uniform_source`; torch's generator by default), so that
    the fused kernel's double backward can replay its own counter-hash draws.
    """
    dtype = compute_dtype(x)
    m1, n = numerator.shape[-1], denominator.shape[-1]
    if generator is None:
        u = _RRELU_UNIFORM.get()(torch.empty(x.shape + (m1 + n,), dtype=dtype, device=x.device)).to(dtype)
    else:
        u = torch.rand(x.shape + (m1 + n,), dtype=dtype, device=x.device, generator=generator)
    u = (2.0 * u - 1.0) * delta
    return u[..., :m1], u[..., m1:]


def rpau_training(x: Tensor, numerator: Tensor, denominator: Tensor, delta: float, form: str = "A") -> Tensor:
    r"""RPAU in training: :func:`rpau` with fresh noise from :func:`rpau_noise` (the fused kernels' reference)."""
    ua, ub = rpau_noise(x, numerator, denominator, delta)
    return rpau(x, numerator, denominator, ua, ub, form)


def rpau(
    x: Tensor,
    numerator: Tensor,
    denominator: Tensor,
    numerator_noise: Tensor | None,
    denominator_noise: Tensor | None,
    form: str = "A",
) -> Tensor:
    r"""Randomized PAU: a PAU whose coefficients are :math:`c\,(1+u)` per element.

    ``*_noise`` are the :math:`u` of :func:`rpau_noise` (shape ``x.shape + (k,)``)
    or ``None`` for no noise (evaluation), which is exactly :func:`pau`.
    """
    if numerator_noise is None and denominator_noise is None:
        return pau(x, numerator, denominator, form)
    xc, a, b, ua, ub = _cast(x, numerator, denominator, numerator_noise, denominator_noise)
    a = channel_view(a, xc, trailing=1) * (1.0 + ua)
    b = channel_view(b, xc, trailing=1) * (1.0 + ub)
    return rational(xc, a, b, form).to(x.dtype)


# --------------------------------------------------------------------------- learnable baselines of the PAU paper


def slaf(x: Tensor, coefficients: Tensor) -> Tensor:
    r"""SLAF (Goyal et al.): the polynomial :math:`y = \sum_{k=0}^{K} c_k x^k`; ``(K+1,)`` or ``(C, K+1)``."""
    xc, c = _cast(x, coefficients)
    return stable_polynomial(xc, channel_view(c, xc, trailing=1)).to(x.dtype)


def apl(x: Tensor, a: Tensor, b: Tensor) -> Tensor:
    r"""Adaptive piecewise linear unit (Agostinelli et al.).

    :math:`y = \max(0, x) + \sum_{s=1}^{S} a_s \max(0, -x + b_s)`;
    ``a`` and ``b`` are ``(S,)`` or ``(C, S)``.
    """
    xc, a, b = _cast(x, a, b)
    a = channel_view(a, xc, trailing=1)
    b = channel_view(b, xc, trailing=1)
    y = F.relu(xc)
    for s in range(a.shape[-1]):
        y = y + _coefficient(a, s) * F.relu(_coefficient(b, s) - xc)
    return y.to(x.dtype)


def srelu(x: Tensor, t_left: Tensor, a_left: Tensor, t_right: Tensor, a_right: Tensor) -> Tensor:
    r"""S-shaped ReLU (Jin et al.).

    .. math::
        y = \begin{cases} t_r + a_r (x - t_r) & x \ge t_r \\
                          x & t_l < x < t_r \\
                          t_l + a_l (x - t_l) & x \le t_l \end{cases}

    Each parameter is ``()`` or ``(C,)``.
    """
    xc, tl, al, tr, ar = _cast(x, t_left, a_left, t_right, a_right)
    tl, al, tr, ar = (channel_view(p, xc) for p in (tl, al, tr, ar))
    y = torch.where(xc >= tr, tr + ar * (xc - tr), torch.where(xc <= tl, tl + al * (xc - tl), xc))
    return y.to(x.dtype)


def maxout(x: Tensor, k: int = 2, dim: int = 1) -> Tensor:
    r"""Maxout (Goodfellow et al.): the maximum over groups of ``k`` consecutive channels.

    An input with ``k*C`` channels along ``dim`` gives ``C`` channels.
    """
    if k < 1:
        raise ValueError(f"maxout k must be >= 1, got {k}")
    size = x.shape[dim]
    if size % k:
        raise ValueError(
            f"maxout with k={k} needs the channel count ({size}, dim {dim}) to be a multiple of k; "
            "the layer before a Maxout unit must be k times wider"
        )
    dim = dim % x.dim()
    shape = x.shape[:dim] + (size // k, k) + x.shape[dim + 1 :]
    return x.reshape(shape).amax(dim=dim + 1)


# --------------------------------------------------------------------------- subnetworks (meta-neurons, VAF)


def _to_channel_rows(x: Tensor, channels: int) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """Reshape ``x`` to ``(G, M)`` rows, one per parameter group, and return the inverse."""
    if channels == 1:
        return x.reshape(1, -1), lambda y: y.reshape(x.shape)
    if x.dim() < 2 or x.shape[1] != channels:
        raise ValueError(
            f"num_features mismatch: the unit has {channels} channels but the input has shape "
            f"{tuple(x.shape)} (channels are dim 1)"
        )
    moved = x.transpose(0, 1)
    rows = moved.reshape(channels, -1)
    return rows, lambda y: y.reshape(moved.shape).transpose(0, 1)


def metaneuron(
    x: Tensor,
    in_weight: Tensor,
    in_bias: Tensor,
    hidden_weight: Tensor,
    hidden_bias: Tensor,
    inner_weights: Tensor,
    inner_biases: Tensor,
    out_weight: Tensor,
    out_bias: Tensor,
    inner: str = "sigmoid",
    linear_io: bool = False,
) -> Tensor:
    r"""A residual subnetwork :math:`\mathbb{R}\to\mathbb{R}` per neuron (Davis' meta-neuron; VAF).

    With :math:`A` the inner activation and ``G`` parameter groups (1 shared or
    ``C`` channels), for each element :math:`z` of group :math:`g`:

    .. math::
        u &= A(p z + q) \\
        h_1 &= A(W_1 u + c_1) \\
        h_{l+1} &= h_l + A(W_{l+1} h_l + c_{l+1}), \quad l = 1 \dots L-1 \\
        y &= A(v^\top h_L + d)

    With ``linear_io=True`` the input and output neurons are linear
    (:math:`u = pz+q`, :math:`y = v^\top h_L + d`): with ``L = 1`` this is the
    VAF of Apicella et al., :math:`y = \sum_k v_k A(w_k z + c_k) + d`.

    Shapes (``h`` the width, ``L`` the depth): ``in_weight``, ``in_bias``,
    ``out_bias``: ``(G,)``; ``hidden_weight``, ``hidden_bias``, ``out_weight``:
    ``(G, h)``; ``inner_weights``: ``(G, L-1, h, h)``; ``inner_biases``:
    ``(G, L-1, h)``. All groups are computed at once with batched matrix products.
    """
    act = basis_function(inner)
    if act.num_params or act.stochastic:
        raise ValueError(f"inner activation {inner!r} must be a fixed deterministic function")
    f = act.fn
    xc, p, q, w1, c1, wl, cl, v, d = _cast(
        x, in_weight, in_bias, hidden_weight, hidden_bias, inner_weights, inner_biases, out_weight, out_bias
    )
    groups = p.shape[0]
    rows, restore = _to_channel_rows(xc, groups)  # (G, M)
    u = p[:, None] * rows + q[:, None]
    if not linear_io:
        u = f(u)
    h = f(u[..., None] * w1[:, None, :] + c1[:, None, :])  # (G, M, h)
    for layer in range(wl.shape[1]):
        h = h + f(torch.baddbmm(cl[:, layer, None, :], h, wl[:, layer].transpose(1, 2)))
    y = torch.bmm(h, v[:, :, None]).squeeze(-1) + d[:, None]  # (G, M)
    if not linear_io:
        y = f(y)
    return restore(y).to(x.dtype)


def vaf(
    x: Tensor,
    in_weight: Tensor,
    in_bias: Tensor,
    out_weight: Tensor,
    out_bias: Tensor,
    inner: str = "relu",
) -> Tensor:
    r"""Variable activation function (Apicella et al.): :math:`y = \sum_k v_k A(w_k z + c_k) + d`.

    ``in_weight`` (:math:`w`), ``in_bias`` (:math:`c`), ``out_weight``
    (:math:`v`): ``(G, h)``; ``out_bias`` (:math:`d`): ``(G,)``. Same as
    :func:`metaneuron` with one hidden layer and linear input/output neurons.
    """
    groups, width = in_weight.shape
    ones = torch.ones(groups, dtype=in_weight.dtype, device=in_weight.device)
    empty_w = in_weight.new_zeros(groups, 0, width, width)
    empty_b = in_weight.new_zeros(groups, 0, width)
    return metaneuron(
        x, ones, torch.zeros_like(ones), in_weight, in_bias, empty_w, empty_b, out_weight, out_bias,
        inner=inner, linear_io=True,
    )


# --------------------------------------------------------------------------- Farhadi's CDF family (any standard CDF)
# The CDFs and their stable evaluation live in adaptact.cdfs; these are the stateless entry points.

from adaptact import cdfs as _cdfs  # noqa: E402  (kept with its section)

CDF_NAMES = _cdfs.CDF_NAMES


def adaptive_cdf(x: Tensor, rho: Tensor, cdf: str = "logistic") -> Tensor:
    r"""A CDF activation with a scale parameter (Farhadi et al.): :math:`y = F(\alpha x)`, :math:`\alpha = e^{\rho}`.

    :math:`F` is the standard CDF named ``cdf`` (one of :data:`CDF_NAMES`, see :mod:`adaptact.cdfs`):
    the distribution of scale :math:`1/\alpha`. ``cdf="logistic"`` at :math:`\alpha = 1` is the
    sigmoid, ``"gumbel"`` at :math:`\alpha = 1` the :math:`\alpha \to 0` limit of :func:`agumbel`;
    :math:`\alpha \to \infty` gives the Heaviside step. ``rho`` is ``()`` or ``(C,)``.
    """
    xc, r = _cast(x, rho)
    return _cdfs.scaled_cdf(xc, channel_view(r, xc), cdf).to(x.dtype)


def cdf_relu(x: Tensor, rho: Tensor, cdf: str = "logistic") -> Tensor:
    r"""Adaptive ReLU from any CDF (Farhadi et al.): :math:`y = x\,F(\alpha x)`, :math:`\alpha = e^{\rho}`.

    ReLU is :math:`x\,H(x)`; replacing the step :math:`H` by the CDF :math:`F` of scale
    :math:`1/\alpha` gives ReLU back as :math:`\alpha \to \infty`. ``cdf="exponential"`` is
    :func:`arelu`; ``"logistic"`` is Swish (SiLU at :math:`\alpha = 1`, quick GELU at 1.702);
    ``"normal"`` at :math:`\alpha = 1` is the exact GELU :math:`x\Phi(x)`. ``rho`` is ``()`` or ``(C,)``.
    """
    xc, r = _cast(x, rho)
    return _cdfs.scaled_cdf_relu(xc, channel_view(r, xc), cdf).to(x.dtype)
