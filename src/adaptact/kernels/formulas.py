r"""The math of the fused kernels: each elementwise function with its derivatives, written once.

A :class:`Formula` is a scalar function :math:`f(x; \theta_1 \dots \theta_k)`
given as straight-line code: ``value`` statements that end by defining ``f``,
and ``derivative`` statements (which may use the value's temporaries) that
define ``dx`` :math:`= \partial f/\partial x` and ``d_<p>`` :math:`=\partial f/\partial p`
for each own parameter ``p``. The statements are in a tiny language that the C
and the Triton code generators both print: infix ``+ - * /``, comparisons,
float literals (always with a decimal point) and the functions ``exp expm1
log1p`` (on ``[0, 1]`` only) ``sigmoid abs sign min max where(cond, a, b)
uniform(seed, idx) uniform_k(seed, idx, k)``,
each implemented once per language (``cmath.h``, ``triton_math.py``).

Every formula follows :mod:`adaptact.functional` and torch's own derivative
conventions at the kinks (:math:`|z|'` is :math:`\mathrm{sign}(z)`, 0 at 0;
ReLU's derivative at 0 is 0; PReLU's branch at 0 is the identity).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["APL_HINGE", "SRELU", "Formula", "renamed", "basis_formula", "basis_formulas", "agumbel_formula",
           "arelu_formula", "cdf_formula",
           "pau_formula", "rpau_formula", "FUSED_BASES", "FUSED_CDFS"]

Statement = tuple[str, str]


@dataclass(frozen=True, eq=False)
class Formula:
    """A scalar function of ``x`` and its own parameters, with its derivatives.

    Formulas compare and hash by identity (cheap in the per-call cache lookups):
    each is built once, in the table or by a cached constructor.

    Attributes:
        name: unique name (part of the kernel's cache key).
        params: names of the own parameters, in the order of their slots.
        value: statements ending with the definition of ``f``.
        derivative: statements defining ``dx`` and ``d_<p>`` for every ``p`` in ``params``;
            optionally ``s_<p>``, a value of the parameters alone, in which case
            the derivative is ``s_<p> * d_<p>`` (kernels apply the scale once per block).
        stochastic: whether ``value`` draws ``uniform(seed, idx)`` (RReLU in training).
        fast: optionally, the same function written more cheaply, valid on a block of inputs
            wherever ``fast_guard`` allows it (PAU: direct Horner, no ``1/x`` far form).
        fast_guard: a formula of the same parameters whose ``f``, evaluated at ``x`` = the
            largest :math:`|x|` of a block, is positive when ``fast`` computes every element of
            that block without overflow (a NaN or infinite ``x`` must make it non-positive).
    """

    name: str
    params: tuple[str, ...]
    value: tuple[Statement, ...]
    derivative: tuple[Statement, ...]
    stochastic: bool = False
    fast: "Formula | None" = None
    fast_guard: "Formula | None" = None


def _fixed(name: str, value: list[Statement], dx: str, pre: list[Statement] = ()) -> Formula:
    return Formula(name, (), tuple(value), tuple(pre) + (("dx", dx),))


_SELU_SCALE = "1.0507009873554805"
_SELU_ALPHA = "1.6732632423543772"
#: RReLU's slope bounds (1/8, 1/3) and its evaluation slope, their mean
_RRELU_LOWER, _RRELU_UPPER, _RRELU_MEAN = "0.125", "0.3333333333333333", "0.22916666666666666"

# The shared vocabulary. Formulas of a blend are summed in one kernel, where identical
# statements are computed once (Program merges them), so the exponential functions of x are
# written the same way everywhere: ex = e^x and em = e^x - 1, with x capped at 20 (where
# sigmoid, tanh and tanh(softplus) are 1 in float32 and nothing overflows).
_EX = ("ex", "exp(min(x, 20.0))")
#: v kept finite in products with sigmoid'(v), which is 0 long before |v| reaches 1e30
_CAPPED_V = "max(min(v, 1.0e30), -1.0e30)"
_EM = ("em", "expm1(min(x, 20.0))")
_SIGMOID = [_EX, ("sg", "ex / (1.0 + ex)")]

_BASES: dict[str, Formula] = {
    f.name: f
    for f in (
        _fixed("identity", [("f", "x")], "1.0"),
        _fixed("relu", [("f", "max(x, 0.0)")], "where(x > 0.0, 1.0, 0.0)"),
        _fixed("relu6", [("f", "min(max(x, 0.0), 6.0)")], "where(x > 0.0, where(x < 6.0, 1.0, 0.0), 0.0)"),
        _fixed("lrelu", [("f", "where(x > 0.0, x, 0.01 * x)")], "where(x > 0.0, 1.0, 0.01)"),
        _fixed("elu", [_EM, ("f", "where(x > 0.0, x, em)")], "where(x > 0.0, 1.0, em + 1.0)"),
        _fixed("celu", [_EM, ("f", "where(x > 0.0, x, em)")], "where(x > 0.0, 1.0, em + 1.0)"),
        _fixed(
            "selu",
            [_EM, ("f", f"{_SELU_SCALE} * where(x > 0.0, x, {_SELU_ALPHA} * em)")],
            f"{_SELU_SCALE} * where(x > 0.0, 1.0, {_SELU_ALPHA} * (em + 1.0))",
        ),
        # tanh(x) = n / (n + 2) with n = e^{2x} - 1 = em (em + 2): accurate near 0
        _fixed("tanh", [_EM, ("tn", "em * (em + 2.0)"), ("t", "tn / (tn + 2.0)"), ("f", "t")], "1.0 - t * t"),
        _fixed("sigmoid", _SIGMOID + [("f", "sg")], "sg * (1.0 - sg)"),
        _fixed("silu", _SIGMOID + [("f", "x * sg")], "sg * (1.0 + x * (1.0 - sg))"),
        # mish: tanh(softplus(x)) = n / (n + 2) with n = ex (ex + 2); its derivative is (1 - t^2) sigmoid(x)
        _fixed(
            "mish",
            _SIGMOID + [("mn", "ex * (ex + 2.0)"), ("mt", "mn / (mn + 2.0)"), ("f", "x * mt")],
            "mt + x * (1.0 - mt * mt) * sg",
        ),
        # softplus(x) = max(x, 0) + log(1 + t), t = e^{-|x|}; its derivative sigmoid(x) = [1 or t] / (1 + t)
        _fixed(
            "softplus",
            [("t", "exp(-abs(x))"), ("f", "max(x, 0.0) + log1p(t)")],
            "where(x >= 0.0, 1.0, t) / (1.0 + t)",
        ),
        # v q and x (x q) rather than beta x q and x x q: q = s (1 - s) is 0 wherever |v| or x x overflow
        Formula(
            "swish_beta",
            ("beta",),
            (("v", "beta * x"), ("s", "sigmoid(v)"), ("f", "x * s")),
            (("q", "s * (1.0 - s)"), ("vq", f"{_CAPPED_V} * q"), ("dx", "s + vq"), ("d_beta", "x * (x * q)")),
        ),
        Formula(
            "prelu",
            ("slope",),
            (("f", "where(x >= 0.0, x, slope * x)"),),
            (("dx", "where(x >= 0.0, 1.0, slope)"), ("d_slope", "where(x >= 0.0, 0.0, x)")),
        ),
        # RReLU in evaluation: a leaky ReLU with the mean slope
        _fixed("rrelu", [("f", f"where(x > 0.0, x, {_RRELU_MEAN} * x)")], f"where(x > 0.0, 1.0, {_RRELU_MEAN})"),
    )
}

#: RReLU in training: slope r ~ U(1/8, 1/3) per element for x <= 0 (torch's rule), drawn from a
#: counter-based hash of (seed, element index), so that backward redraws the same r
_RRELU_TRAINING = Formula(
    "rrelu_training",
    (),
    (
        ("r", f"{_RRELU_LOWER} + ({_RRELU_UPPER} - {_RRELU_LOWER}) * uniform(seed, idx)"),
        ("f", "where(x <= 0.0, x * r, x)"),
    ),
    (("dx", "where(x <= 0.0, r, 1.0)"),),
    stochastic=True,
)

# SiLU and Mish in one blend (AdAct) share one division: with d1 = 1 + e^x, d2 = n + 2 (n = e^x (e^x + 2))
# and rd = 1 / (d1 d2), sigmoid = e^x d2 rd and tanh(softplus) = n d1 rd; x <= 20 keeps d1 d2 below 1.1e26
_SHARED_RECIPROCAL = [_EX, ("mn", "ex * (ex + 2.0)"), ("rd", "1.0 / ((1.0 + ex) * (mn + 2.0))"),
                      ("sg", "ex * (mn + 2.0) * rd")]
_SHARING: dict[str, Formula] = {
    "silu": _fixed("silu_shared", _SHARED_RECIPROCAL + [("f", "x * sg")], "sg * (1.0 + x * (1.0 - sg))"),
    "mish": _fixed("mish_shared", _SHARED_RECIPROCAL + [("mt", "mn * (1.0 + ex) * rd"), ("f", "x * mt")],
                   "mt + x * (1.0 - mt * mt) * sg"),
}

#: the basis functions the fused kernels compute (``gelu`` is left to the reference)
FUSED_BASES = frozenset(_BASES) | {"swish"}


def basis_formula(name: str, training: bool = False) -> Formula:
    """The formula of basis function ``name`` (see :data:`adaptact.functional.BASIS_FUNCTIONS`)."""
    if name == "swish":
        name = "silu"
    if name == "rrelu" and training:
        return _RRELU_TRAINING
    return _BASES[name]


def basis_formulas(names: tuple[str, ...], training: bool = False) -> tuple[Formula, ...]:
    """The formulas of a blend's basis: :func:`basis_formula` each, except that SiLU (or swish) and
    Mish together take the variants that share one division (identical statements, which
    the program computes once)."""
    canonical = ["silu" if n == "swish" else n for n in names]
    share = "silu" in canonical and "mish" in canonical
    return tuple(_SHARING[n] if share and n in _SHARING else basis_formula(n, training) for n in canonical)


@lru_cache(maxsize=None)
def agumbel_formula() -> Formula:
    r"""Adaptive Gumbel :math:`f = -\mathrm{expm1}(-w)`, :math:`w = e^{-\rho} \mathrm{softplus}(z)`, :math:`z = x+\rho`.

    As in :func:`adaptact.functional.agumbel`, for any finite :math:`x, \rho`:
    :math:`w = \min(s\,e^{-\rho}, 10^{30})` for :math:`z \ge -80` (where :math:`z < 0`, :math:`s = \log(1+t)`
    exactly; the cap acts only where :math:`f = 1` and :math:`e\,w = 0`) and :math:`w = e^{x}` below (where
    :math:`\log(1+t)/t = 1` in float32),
    with :math:`s = \max(z, 0) + \log(1 + t)`, :math:`t = e^{-|z|}`, and :math:`e^{-\rho}` applied
    as :math:`e^{-\rho/2}` twice, capped at :math:`e^{44}` (the cap acts only where :math:`w > e^8`
    and :math:`f = 1`): no overflow, and no underflow for :math:`|\rho| < 174`. With :math:`e = e^{-w} = 1 - f`
    and :math:`\sigma(z)/s = [1 \text{ or } t] / ((1+t)\,[s \text{ or } \log(1+t)])` (the second forms where
    :math:`z < 0`; one division):
    :math:`f_x = e\,w\,\sigma(z)/s` and :math:`f_\rho = e\,w\,(\sigma(z)/s - 1)`
    (:math:`e\,w` is 0, never :math:`0 \cdot \infty`, once :math:`w` is large).
    """
    return Formula(
        "agumbel",
        ("rho",),
        (
            # one exponential: t = e^{-|z|} where z >= -80; below, t is negligible and e^x is taken instead
            # k2 = e^{-rho/2} (capped at e^44), applied twice: w = e^{-rho} s for |rho| up to 174
            ("k2", "exp(min(-0.5 * rho, 44.0))"), ("z", "x + rho"), ("mid", "z >= -80.0"),
            ("ee", "exp(min(where(mid, -abs(z), x), 88.0))"), ("t", "where(mid, ee, 1.0e-30)"),
            ("lp", "log1p(t)"), ("s", "max(z, 0.0) + lp"),
            # s = lp exactly where z < 0, so one product serves both sides of z = 0
            ("w", "where(mid, min(s * k2 * k2, 1.0e30), ee)"),
            ("m", "expm1(-w)"), ("f", "-m"),
        ),
        (
            # sigma(z)/s = [1 or t] / ((1 + t) [s or lp]) (the second forms where z < 0): one division. t is
            # never 0 (at least e^-80; 1e-30 where z < -80, where only this quotient reads it), and below
            # t = 2^-24 every backend's log1p returns t itself (t^2/2 is under half an ulp of t): the quotient
            # is 1 / (1 + t) there, as log(1+t)/t rounds to 1
            ("neg", "z < 0.0"), ("rs", "where(neg, t, 1.0) / ((1.0 + t) * where(neg, lp, s))"),
            ("we", "w * (m + 1.0)"), ("dx", "we * rs"), ("d_rho", "we * (rs - 1.0)"),
        ),
    )


@lru_cache(maxsize=None)
def arelu_formula(cdf: str) -> Formula:
    r"""Adaptive ReLU, :math:`\alpha = e^{\rho}`.

    ``exponential``: :math:`f = -p\,\mathrm{expm1}(-u)`, :math:`p = \max(x, 0)`, :math:`u = \alpha p`;
    :math:`f_x = [x>0]\,(u\,(m+1) - m)`, :math:`f_\rho = p\,u\,(m+1)` with
    :math:`m = \mathrm{expm1}(-u)`.
    ``logistic``: :math:`f = x\,\sigma(v)`, :math:`v = \alpha x`; :math:`f_x = s + v\,s(1-s)`,
    :math:`f_\rho = x\,v\,s (1-s)`. :math:`u` and :math:`v` are capped at :math:`10^{30}` in the
    derivatives, where :math:`m + 1` and :math:`s(1-s)` are 0 (no :math:`\infty \cdot 0`).
    """
    if cdf == "exponential":
        return Formula(
            "arelu_exponential",
            ("rho",),
            (("al", "exp(rho)"), ("p", "max(x, 0.0)"), ("u", "min(al * p, 1.0e30)"), ("m", "expm1(-u)"),
             ("f", "-p * m")),
            (("ue", "u * (m + 1.0)"), ("dx", "where(x > 0.0, ue - m, 0.0)"), ("d_rho", "p * ue")),
        )
    return Formula(
        "arelu_logistic",
        ("rho",),
        (("al", "exp(rho)"), ("v", "al * x"), ("s", "sigmoid(v)"), ("f", "x * s")),
        (("q", "s * (1.0 - s)"), ("vq", f"{_CAPPED_V} * q"), ("dx", "s + vq"), ("d_rho", "x * vq")),
    )


#: e^{-40}: the scale that keeps alpha x exact where alpha = e^rho underflows (rho < -87)
_E_MINUS_40 = "4.248354255291589e-18"

#: the standard CDFs of :mod:`adaptact.cdfs` the formula language expresses (``normal`` needs erf and
#: ``cauchy`` arctan: they stay on the reference): F(z) statements, then the density ``ph`` from them
_CDF_PARTS: dict[str, tuple[tuple[Statement, ...], tuple[Statement, ...]]] = {
    "exponential": ((("zp", "max(z, 0.0)"), ("m", "expm1(-zp)"), ("F", "-m")),
                    (("ph", "where(z >= 0.0, m + 1.0, 0.0)"),)),
    "logistic": ((("F", "sigmoid(z)"),), (("ph", "F * (1.0 - F)"),)),
    "gumbel": ((("w", "exp(min(z, 7.0))"), ("m", "expm1(-w)"), ("F", "-m")),
               (("ph", "where(z <= 7.0, w * (m + 1.0), 0.0)"),)),
    "reverse_gumbel": ((("t", "exp(min(-z, 7.0))"), ("F", "exp(-t)")),
                       (("ph", "where(z >= -7.0, t * F, 0.0)"),)),
    "laplace": ((("e", "exp(-abs(z))"), ("F", "where(z < 0.0, 0.5 * e, 1.0 - 0.5 * e)")),
                (("ph", "0.5 * e"),)),
}
FUSED_CDFS = tuple(_CDF_PARTS)


@lru_cache(maxsize=None)
def cdf_formula(cdf: str, relu: bool) -> Formula:
    r"""A CDF activation :math:`f = F(z)` (``relu``: the adaptive ReLU :math:`f = x\,F(z)`), :math:`z = \alpha x`,
    :math:`\alpha = e^{\rho}`, as :func:`adaptact.cdfs.scaled_cdf` (``scaled_cdf_relu``) computes it.

    :math:`z` is clamped to :math:`\pm 10^4` (where every density here is 0) and formed as
    :math:`(x e^{-40}) e^{\rho + 40}` for :math:`\rho < -40`, so that neither :math:`\alpha x` nor
    :math:`\alpha` overflows or underflows where the product matters; :math:`\rho` above 88 acts as 88
    (with no gradient), as in the reference. With the density :math:`\varphi = F'`:
    :math:`f_x = \alpha\varphi(z)`, :math:`f_\rho = z\varphi(z)`; ReLU: :math:`f_x = F + z\varphi(z)`,
    :math:`f_\rho = x\,(z\varphi(z))`. The Gumbel densities are 0 where the reference clamps their
    exponent at 7 (:math:`e^{-e^7}` is 0 in float32 and float64 alike).
    """
    value_parts, density = _CDF_PARTS[cdf]
    value = (("lo", "rho < -40.0"), ("ea", "exp(min(where(lo, rho + 40.0, rho), 88.0))"),
             ("xs", f"where(lo, x * {_E_MINUS_40}, x)"), ("z", "max(min(xs * ea, 1.0e4), -1.0e4)"),
             *value_parts, ("f", "x * F" if relu else "F"))
    slope = ("zph", "where(rho > 88.0, 0.0, z * ph)")
    if relu:
        deriv = (*density, slope, ("dx", "F + z * ph"), ("d_rho", "x * zph"))
    else:
        deriv = (*density, slope, ("al", f"where(lo, ea * {_E_MINUS_40}, ea)"), ("dx", "al * ph"), ("d_rho", "zph"))
    return Formula(f"{'cdf_relu' if relu else 'cdf'}_{cdf}", ("rho",), value, deriv)


_WORD = re.compile(r"\b([A-Za-z_]\w*)\b(\()?")


#: APL's hinge :math:`\max(0, b - x)` with its own parameter :math:`b` (its weight :math:`a` is the term's)
APL_HINGE = Formula(
    "apl_hinge",
    ("b",),
    (("h", "b - x"), ("f", "max(h, 0.0)")),
    (("on", "where(h > 0.0, 1.0, 0.0)"), ("dx", "-on"), ("d_b", "on")),
)

#: SReLU: :math:`t_r + a_r (x - t_r)` for :math:`x \ge t_r`, else :math:`t_l + a_l (x - t_l)` for
#: :math:`x \le t_l`, else :math:`x` (the upper branch first where the thresholds cross, as the reference)
SRELU = Formula(
    "srelu",
    ("t_left", "a_left", "t_right", "a_right"),
    (("hi", "x >= t_right"), ("lo", "x <= t_left"),
     ("f", "where(hi, t_right + a_right * (x - t_right), where(lo, t_left + a_left * (x - t_left), x))")),
    (("low", "where(hi, 0.0, where(lo, 1.0, 0.0))"),
     ("high", "where(hi, 1.0, 0.0)"),
     ("dx", "where(hi, a_right, where(lo, a_left, 1.0))"),
     ("d_t_left", "low * (1.0 - a_left)"), ("d_a_left", "low * (x - t_left)"),
     ("d_t_right", "high * (1.0 - a_right)"), ("d_a_right", "high * (x - t_right)")),
)


def renamed(expr: str, names: dict[str, str]) -> str:
    """``expr`` with each variable (not function) name found in ``names`` replaced by its value."""
    return _WORD.sub(lambda mt: mt.group(0) if mt.group(2) else names.get(mt.group(1), mt.group(1)), expr)


def _noisy(base: Formula, name: str, delta_literal: str) -> Formula:
    """``base`` with each coefficient ``c`` replaced by ``c (1 + u_c)``, ``u_c`` from ``uniform_k`` (see
    :func:`rpau_formula`); its derivatives are those at the noisy coefficients, times ``1 + u_c``."""
    noisy = {p: f"n_{p}" for p in base.params}
    value: list[Statement] = []
    for k, p in enumerate(base.params):
        value += [(f"u_{p}", f"{delta_literal} * (2.0 * uniform_k(seed, idx, {k}) - 1.0)"),
                  (f"n_{p}", f"{p} * (1.0 + u_{p})")]
    value += [(n, renamed(expr, noisy)) for n, expr in base.value]
    grads = {f"d_{p}": f"dn_{p}" for p in base.params}
    deriv: list[Statement] = []
    for n, expr in base.derivative:
        if n.startswith("s_"):
            deriv.append((n, expr))
        else:
            deriv.append((grads.get(n, n), renamed(renamed(expr, grads), noisy)))
    deriv += [(f"d_{p}", f"dn_{p} * (1.0 + u_{p})") for p in base.params]
    return Formula(name, base.params, tuple(value), tuple(deriv), stochastic=True)


@lru_cache(maxsize=None)
def rpau_formula(m: int, n: int, form: str, delta: float) -> Formula:
    r"""RPAU in training: the PAU of :func:`pau_formula` with each coefficient :math:`c` replaced per
    element by :math:`c\,(1+u)`, :math:`u = \delta\,(2U - 1) \sim U(-\delta, \delta)`.

    Coefficient ``k`` (``a0 .. am`` then ``b1 .. bn``) of element ``idx`` draws :math:`U` =
    ``uniform_k(seed, idx, k)``: one two-round hash of ``(seed, idx)`` per element, one more
    round per pair of coefficients, 16 bits each (``cmath.h``); the numbers that
    :func:`adaptact.kernels.fused.coefficient_uniform` gives for a tensor of shape ``x.shape + (K,)``
    (what :func:`adaptact.functional.rpau_noise` draws, numerator first), so backward and the
    reference's double backward see the same noise. :math:`\partial f/\partial c =
    (1+u)\,\partial f/\partial \tilde c` at the noisy coefficient :math:`\tilde c`; the
    parameter-only scales (form A's :math:`\mathrm{sign}(b_k)`, unchanged by :math:`1+u > 0`)
    stay per block. As PAU, a block whose largest :math:`|x|` passes the direct form's guard at
    coefficients scaled by :math:`1 + \delta` (a bound on every noisy one) is computed by the plain
    Horner form, any other by the overflow-free form. ``delta < 1``.
    """
    base = pau_formula(m, n, form)
    lit = f"{float(delta):.9e}"
    name = f"rpau{form}_{m}_{n}_{lit}"
    main = _noisy(base, name, lit)
    if base.fast is None:
        return main
    fast = _noisy(base.fast, name + "_direct", lit)
    bound = {p: f"({p} * {1.0 + float(delta):.9e})" for p in base.params}
    g = base.fast_guard
    guard = Formula(f"{name}_guard", g.params, tuple((n_, renamed(e, bound)) for n_, e in g.value), ())
    return Formula(name, main.params, main.value, main.derivative, stochastic=True, fast=fast, fast_guard=guard)


def _horner(a: list[str], slope: str) -> tuple[list[Statement], list[Statement]]:
    r"""Horner's rule for :math:`p = \sum_j a_j x^j` (``h0``, from ``h<m>`` down) and for its derivative
    :math:`p'` (defined as ``slope``; ``0.0`` for a constant), both in :math:`x`, so that zero leading
    coefficients never meet an overflowing power."""
    m = len(a) - 1
    value: list[Statement] = [(f"h{m}", a[m])]
    value += [(f"h{j}", f"h{j + 1} * x + {a[j]}") for j in range(m - 1, -1, -1)]
    if m == 0:
        return value, [(slope, "0.0")]
    deriv: list[Statement] = [(f"e{m}", f"{float(m)} * {a[m]}")]
    deriv += [(f"e{j}", f"e{j + 1} * x + {float(j)} * {a[j]}") for j in range(m - 1, 0, -1)]
    deriv.append((slope, "e1"))
    return value, deriv


def _polynomial_formula(m: int) -> Formula:
    r"""The polynomial :math:`f = \sum_{j=0}^{m} a_j x^j` (a PAU with ``n = 0``; SLAF), by Horner's rule.

    :math:`f_x = \sum_j j a_j x^{j-1}` (Horner too, so zero leading coefficients never meet an
    overflowing power) and :math:`f_{a_j} = x^j`.
    """
    a = [f"a{j}" for j in range(m + 1)]
    value, deriv = _horner(a, "dx")
    value.append(("f", "h0"))
    deriv.append(("d_a0", "1.0"))
    deriv += [(f"d_{a[j]}", f"d_{a[j - 1]} * x") for j in range(1, m + 1)]
    return Formula(f"poly_{m}", tuple(a), tuple(value), tuple(deriv))


def _power(base: str, k: int) -> str:
    """``base`` multiplied ``k`` times, as an expression (``1.0`` for ``k = 0``)."""
    return " * ".join([base] * k) if k > 0 else "1.0"


def _chain(expr: str, factor: str, k: int) -> str:
    """``expr`` multiplied by ``factor`` ``k`` times, left to right (partial products never exceed the result)."""
    return " * ".join([f"({expr})"] + [factor] * k) if k > 0 else expr


def _pau_direct_formula(m: int, n: int, form: str) -> Formula:
    r"""The PAU :math:`f = P/Q` by Horner's rule in :math:`x` at every :math:`|x|` (cheap; overflows for large x).

    With :math:`q = 1/Q` (one division): :math:`f_x = (P' - f\,Q')\,q`, :math:`f_{a_j} = x^j q`, and
    :math:`f_{b_k} = -f\,q\,\mathrm{sign}(b_k)\,|x|^k` (form A) or :math:`-f\,q\,\mathrm{sign}(R)\,x^k`
    (form B, :math:`R = \sum_k b_k x^k`). Every intermediate is at most
    :math:`K (1 + A)(1 + K B) \max(1, |x|)^{m+n}` with :math:`A = \sum_j |a_j|`,
    :math:`B = \sum_k |b_k|`, :math:`K = \max(m, n, 1)`: :func:`_pau_direct_guard` bounds it.
    """
    a = [f"a{j}" for j in range(m + 1)]
    b = [f"b{k}" for k in range(1, n + 1)]
    value, deriv = _horner(a, "dp")
    if form == "A":
        value.append(("ax", "abs(x)"))
        value.append((f"s{n}", f"abs({b[n - 1]})"))
        value += [(f"s{k}", f"s{k + 1} * ax + abs({b[k - 1]})") for k in range(n - 1, 0, -1)]
        value.append(("q", "1.0 + s1 * ax"))
        deriv.append((f"u{n}", f"{float(n)} * abs({b[n - 1]})"))
        deriv += [(f"u{k}", f"u{k + 1} * ax + {float(k)} * abs({b[k - 1]})") for k in range(n - 1, 0, -1)]
        deriv.append(("dq", "sign(x) * u1"))
    else:
        value.append((f"r{n}", b[n - 1]))
        value += [(f"r{k}", f"r{k + 1} * x + {b[k - 1]}") for k in range(n - 1, 0, -1)]
        value += [("rr", "r1 * x"), ("q", "1.0 + abs(rr)")]
        deriv.append((f"v{n}", f"{float(n)} * {b[n - 1]}"))
        deriv += [(f"v{k}", f"v{k + 1} * x + {float(k)} * {b[k - 1]}") for k in range(n - 1, 0, -1)]
        deriv += [("sr", "sign(rr)"), ("dq", "sr * v1")]
    value += [("iq", "1.0 / q"), ("f", "h0 * iq")]
    deriv.append(("dx", "(dp - f * dq) * iq"))
    # x^j / Q and -f |x|^k / Q (form A) or -f x^k / Q (form B), each from the previous by one product
    deriv.append(("d_a0", "iq"))
    deriv += [(f"d_{a[j]}", f"d_{a[j - 1]} * x") for j in range(1, m + 1)]
    deriv.append(("w0", "-f * iq" if form == "A" else "-f * iq * sr"))
    deriv += [(f"w{k}", f"w{k - 1} * {'ax' if form == 'A' else 'x'}") for k in range(1, n + 1)]
    for k in range(1, n + 1):
        deriv.append((f"d_{b[k - 1]}", f"w{k}"))
        if form == "A":
            deriv.append((f"s_{b[k - 1]}", f"sign({b[k - 1]})"))
    return Formula(f"pau{form}_{m}_{n}_direct", tuple(a + b), tuple(value), tuple(deriv))


#: the largest intermediate the direct PAU may form (far below the float32 maximum 3.4e38, so that
#: ``dy`` times it stays finite too for any ``|dy| < 3e8``)
_DIRECT_LIMIT = "1.0e30"


#: form B's direct evaluation stays within the equality tolerances only up to this largest |x| of a block: its
#: dx reached 0.87 of the tolerance for |x| in [3, 4] over 40 random (5, 4) PAUs and exceeded it near x = -3.7
#: for one (tests/test_kernels.py::test_c_pau_form_b_is_accurate_where_its_direct_form_was_not); up
#: to 2 the worst was 0.26
_DIRECT_B_ACCURATE_UP_TO = "2.0"


def _pau_direct_guard(m: int, n: int, form: str = "A") -> Formula:
    r"""Positive at ``x`` = :math:`\max|x|` of a block when the direct PAU's bound
    :math:`K (1 + A)(1 + K B) \max(1, x)^{m+n}` is below ``1e30`` (false for NaN or infinite x or parameters)
    and, for form B, :math:`x \le 2` (where its float32 evaluation meets the equality tolerances)."""
    a = [f"a{j}" for j in range(m + 1)]
    b = [f"b{k}" for k in range(1, n + 1)]
    k = float(max(m, n, 1))
    value = [("xm", "max(x, 1.0)"), ("pw", _power("xm", m + n)),
             ("sa", " + ".join(["1.0"] + [f"abs({c})" for c in a])),
             ("sb", " + ".join(["1.0"] + [f"{k} * abs({c})" for c in b])),
             ("bound", f"{k} * sa * sb * pw")]
    if form == "B":
        value += [("ok", f"where(x <= {_DIRECT_B_ACCURATE_UP_TO}, bound, {_DIRECT_LIMIT})"),
                  ("f", f"where(ok < {_DIRECT_LIMIT}, 1.0, 0.0)")]
        return Formula(f"pau_{m}_{n}_guard_B", tuple(a + b), tuple(value), ())
    value.append(("f", f"where(bound < {_DIRECT_LIMIT}, 1.0, 0.0)"))
    return Formula(f"pau_{m}_{n}_guard", tuple(a + b), tuple(value), ())


@lru_cache(maxsize=None)
def pau_formula(m: int, n: int, form: str) -> Formula:
    r"""The PAU :math:`f = P/Q` of degrees ``(m, n)`` and ``form`` (see :func:`adaptact.functional.pau`).

    Parameters ``a0 .. am`` then ``b1 .. bn``. Near 0 (:math:`|x| \le 1`) it is :math:`P(x)/Q(x)`
    by Horner's rule. Far from 0 (:math:`|x| > 1`) no power of :math:`x` beyond :math:`x^{m-n}` is
    formed: with :math:`t = 1/x`, :math:`P = x^m \tilde P(t)` and :math:`Q = |x|^n \tilde Q(t)`,
    where :math:`\tilde P(t) = \sum_j a_j t^{m-j}` (the coefficients reversed) and
    :math:`\tilde Q(t) = |t|^n + \sum_k |b_k| |t|^{n-k}` (form A) or
    :math:`|t|^n + |\sum_k b_k t^{n-k}|` (form B), so

    .. math::
        f = \mathrm{sign}(x)^n\, x^{m-n}\, r, \qquad r = \tilde P(t)/\tilde Q(t).

    Both regimes run the same Horner loops on a variable :math:`z` (:math:`x` near, :math:`t` far)
    with the coefficients selected per element. With :math:`r_z = (P_z' - r\,Q_z')/Q_z`,
    :math:`f_x = r_z` near and :math:`\mathrm{sign}(x)^n x^{m-n-1} ((m-n)\,r - t\,r_z)` far;
    :math:`f_{a_j} = x^j/Q` near and :math:`\mathrm{sign}(x)^n x^{j-n}/\tilde Q` far;
    :math:`f_{b_k} = -f\,\mathrm{sign}(b_k)\,|z|^{k\text{ or }n-k}/Q_z` (form A) or
    :math:`-f\,\mathrm{sign}(R)\,z^{k\text{ or }n-k}/Q_z` (form B). Every product is
    formed so that no intermediate exceeds the result. ``n = 0`` is a polynomial (no far form needed).

    Its ``fast`` variant, :func:`_pau_direct_formula`, is the plain Horner evaluation in :math:`x`; a
    kernel uses it for a block whose largest :math:`|x|` passes :func:`_pau_direct_guard`.
    """
    if n == 0:
        poly = _polynomial_formula(m)
        return Formula(f"pau{form}_{m}_0", poly.params, poly.value, poly.derivative)
    far = "ax > 1.0"
    d = m - n
    a = [f"a{j}" for j in range(m + 1)]
    b = [f"b{k}" for k in range(1, n + 1)]

    def pick(far_expr: str, near_expr: str) -> str:
        return far_expr if far_expr == near_expr else f"where({far}, {far_expr}, {near_expr})"

    value: list[Statement] = [("ax", "abs(x)"), ("xf", f"where({far}, x, 1.0)"), ("t", "1.0 / xf"),
                              ("z", f"where({far}, t, x)")]
    # numerator: Horner on z with c_i = a_{m-i} near (P(x)) and a_i far (P~(t))
    value += [(f"pc{i}", pick(a[i], a[m - i])) for i in range(m + 1)]
    value += [("ph0", "pc0")] + [(f"ph{i}", f"ph{i - 1} * z + pc{i}") for i in range(1, m + 1)]
    if form == "A":
        beta = ["1.0"] + [f"abs({bk})" for bk in b]  # beta_k: the coefficient of |x|^k in Q
        value += [("az", "abs(z)")] + [(f"qc{i}", pick(beta[i], beta[n - i])) for i in range(n + 1)]
        value += [("qh0", "qc0")] + [(f"qh{i}", f"qh{i - 1} * az + qc{i}") for i in range(1, n + 1)]
        value.append(("q", f"qh{n}"))
    else:
        # R = x * Rh(x) near with Rh = sum_k b_k x^(k-1); Rh(t) = sum_k b_k t^(n-k) far; |t|^n is 1 near
        value += [(f"qc{i}", pick(b[i], b[n - 1 - i])) for i in range(n)]
        value += [("qh0", "qc0")] + [(f"qh{i}", f"qh{i - 1} * z + qc{i}") for i in range(1, n)]
        value += [("rr", f"where({far}, qh{n - 1}, qh{n - 1} * x)"), ("at", "abs(t)"),
                  ("tn", _power("at", n)), ("q", "tn + abs(rr)")]
    value += [("iq", "1.0 / q"), ("rt", f"ph{m} * iq")]
    sign = n % 2 == 1
    if sign:
        value.append(("sk", f"where({far}, sign(x), 1.0)"))
    scaled = _chain("rt", "xf", d) if d >= 0 else _chain("rt", "t", -d)
    value.append(("f", f"({scaled}) * sk" if sign else scaled))

    deriv: list[Statement] = []
    if m == 0:
        deriv.append(("dp", "0.0"))
    else:  # derivative coefficients (parameters only: computed once per block), selected per element
        deriv += [(f"pkn{i}", f"{float(m - i)} * {a[m - i]}") for i in range(m)]
        deriv += [(f"pkf{i}", f"{float(m - i)} * {a[i]}") for i in range(m)]
        deriv += [(f"pk{i}", pick(f"pkf{i}", f"pkn{i}")) for i in range(m)]
        deriv += [("pe0", "pk0")] + [(f"pe{i}", f"pe{i - 1} * z + pk{i}") for i in range(1, m)]
        deriv.append(("dp", f"pe{m - 1}"))
    if form == "A":
        deriv += [(f"qkn{i}", f"{float(n - i)} * {beta[n - i]}") for i in range(n)]
        deriv += [(f"qkf{i}", f"{float(n - i)} * {beta[i]}") for i in range(n)]
        deriv += [(f"qk{i}", pick(f"qkf{i}", f"qkn{i}")) for i in range(n)]
        deriv += [("qe0", "qk0")] + [(f"qe{i}", f"qe{i - 1} * az + qk{i}") for i in range(1, n)]
        deriv.append(("dq", f"sign(z) * qe{n - 1}"))
    else:
        coef = ["0.0"] + b  # b_0 = 0: Rh'(t) = sum_i (n - i) b_i t^(n-1-i)
        deriv += [(f"qkn{i}", f"{float(n - i)} * {b[n - 1 - i]}") for i in range(n)]
        deriv += [(f"qkf{i}", f"{float(n - i)} * {coef[i]}") for i in range(n)]
        deriv += [(f"qk{i}", pick(f"qkf{i}", f"qkn{i}")) for i in range(n)]
        deriv += [("qe0", "qk0")] + [(f"qe{i}", f"qe{i - 1} * z + qk{i}") for i in range(1, n)]
        deriv += [("sr", "sign(rr)"),
                  ("dqa", f"where({far}, {float(n)} * {_power('at', n - 1)} * sign(t), 0.0)"),
                  ("dq", f"dqa + sr * qe{n - 1}")]
    deriv += [("rz", "(dp - rt * dq) * iq"), ("gi", f"where({far}, {float(d)} * rt - t * rz, rz)")]
    grad = _chain("gi", "xf", d - 1) if d >= 1 else _chain("gi", "t", 1 - d)
    deriv.append(("dx", f"({grad}) * sk" if sign else grad))
    # f_aj: x^j / Q near; sign^n x^(j-n) / Q~ far (t^(n-j) for j < n)
    top = max(m, n)
    deriv += [("zp1", "z")] + [(f"zp{k}", f"zp{k - 1} * z") for k in range(2, top + 1)]
    deriv += [(f"xp{k}", _power("xf", k)) for k in range(1, d + 1)]
    power = lambda k: "1.0" if k == 0 else f"zp{k}"  # noqa: E731
    deriv.append(("isg", "iq * sk" if sign else "iq"))
    for j in range(m + 1):
        far_j = power(n - j) if j < n else ("1.0" if j == n else f"xp{j - n}")
        deriv.append((f"d_{a[j]}", f"{pick(far_j, power(j))} * isg"))
    for k in range(1, n + 1):
        sel = pick(power(n - k), power(k))
        if form == "A":
            deriv += [(f"d_{b[k - 1]}", f"-(f * abs({sel})) * iq"), (f"s_{b[k - 1]}", f"sign({b[k - 1]})")]
        else:
            deriv.append((f"d_{b[k - 1]}", f"-(f * sr * {sel}) * iq"))
    return Formula(f"pau{form}_{m}_{n}", tuple(a + b), tuple(value), tuple(deriv),
                   fast=_pau_direct_formula(m, n, form), fast_guard=_pau_direct_guard(m, n, form))
