r"""The math of the fused kernels: each elementwise function with its derivatives, written once.

A :class:`Formula` is a scalar function :math:`f(x; \theta_1 \dots \theta_k)`
given as straight-line code: ``value`` statements that end by defining ``f``,
and ``derivative`` statements (which may use the value's temporaries) that
define ``dx`` :math:`= \partial f/\partial x` and ``d_<p>`` :math:`=\partial f/\partial p`
for each own parameter ``p``. The statements are in a tiny language that the C
and the Triton code generators both print: infix ``+ - * /``, comparisons,
float literals (always with a decimal point) and the functions ``exp expm1
log1p`` (on ``[0, 1]`` only) ``sigmoid abs sign min max where(cond, a, b)
uniform(seed, idx)``,
each implemented once per language (``cmath.h``, ``triton_math.py``).

Every formula follows :mod:`adaptact.functional` and torch's own derivative
conventions at the kinks (:math:`|z|'` is :math:`\mathrm{sign}(z)`, 0 at 0;
ReLU's derivative at 0 is 0; PReLU's branch at 0 is the identity).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Formula", "basis_formula", "agumbel_formula", "arelu_formula", "pau_formula", "FUSED_BASES"]

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
    """

    name: str
    params: tuple[str, ...]
    value: tuple[Statement, ...]
    derivative: tuple[Statement, ...]
    stochastic: bool = False


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
        Formula(
            "swish_beta",
            ("beta",),
            (("s", "sigmoid(beta * x)"), ("f", "x * s")),
            (("q", "s * (1.0 - s)"), ("dx", "s + beta * x * q"), ("d_beta", "x * x * q")),
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

#: the basis functions the fused kernels compute (``gelu`` is left to the reference)
FUSED_BASES = frozenset(_BASES) | {"swish"}


def basis_formula(name: str, training: bool = False) -> Formula:
    """The formula of basis function ``name`` (see :data:`adaptact.functional.BASIS_FUNCTIONS`)."""
    if name == "swish":
        name = "silu"
    if name == "rrelu" and training:
        return _RRELU_TRAINING
    return _BASES[name]


@lru_cache(maxsize=None)
def agumbel_formula() -> Formula:
    r"""Adaptive Gumbel :math:`f = -\mathrm{expm1}(-k\,s)`, :math:`k = e^{-\rho}`, :math:`s = \mathrm{softplus}(z)`, :math:`z = x+\rho`.

    :math:`s = \max(z, 0) + \log(1 + t)` with :math:`t = e^{-|z|}`, which also gives
    :math:`\sigma(z) = [1 \text{ or } t]/(1+t)`. With :math:`e = e^{-ks} = 1 - f`:
    :math:`f_x = e\,k\,\sigma(z)` and :math:`f_\rho = e\,k\,(\sigma(z) - s)`.
    """
    return Formula(
        "agumbel",
        ("rho",),
        (
            ("k", "exp(-rho)"), ("z", "x + rho"), ("t", "exp(-abs(z))"), ("s", "max(z, 0.0) + log1p(t)"),
            ("m", "expm1(-k * s)"), ("f", "-m"),
        ),
        (
            ("g", "(m + 1.0) * k"), ("sz", "where(z >= 0.0, 1.0, t) / (1.0 + t)"),
            ("dx", "g * sz"), ("d_rho", "g * (sz - s)"),
        ),
    )


@lru_cache(maxsize=None)
def arelu_formula(cdf: str) -> Formula:
    r"""Adaptive ReLU, :math:`\alpha = e^{\rho}`.

    ``exponential``: :math:`f = -p\,\mathrm{expm1}(-\alpha p)`, :math:`p = \max(x, 0)`;
    :math:`f_x = [x>0]\,(-m + \alpha p\,(m+1))`, :math:`f_\rho = \alpha p^2 (m+1)` with
    :math:`m = \mathrm{expm1}(-\alpha p)`.
    ``logistic``: :math:`f = x\,\sigma(\alpha x)`; :math:`f_x = s + \alpha x\,s(1-s)`,
    :math:`f_\rho = \alpha x^2 s (1-s)`.
    """
    if cdf == "exponential":
        return Formula(
            "arelu_exponential",
            ("rho",),
            (("al", "exp(rho)"), ("p", "max(x, 0.0)"), ("m", "expm1(-al * p)"), ("f", "-p * m")),
            (("e", "m + 1.0"), ("dx", "where(x > 0.0, al * p * e - m, 0.0)"), ("d_rho", "al * p * p * e")),
        )
    return Formula(
        "arelu_logistic",
        ("rho",),
        (("al", "exp(rho)"), ("s", "sigmoid(al * x)"), ("f", "x * s")),
        (("q", "s * (1.0 - s)"), ("dx", "s + al * x * q"), ("d_rho", "al * x * x * q")),
    )


@lru_cache(maxsize=None)
def pau_formula(m: int, n: int, form: str) -> Formula:
    r"""The PAU :math:`f = P/Q` of degrees ``(m, n)`` and ``form`` (see :func:`adaptact.functional.pau`).

    Parameters ``a0 .. am`` then ``b1 .. bn``. With :math:`q = 1/Q` (one division):
    :math:`f_x = (P' - f\,Q')\,q`, :math:`f_{a_j} = x^j q`, and
    :math:`f_{b_k} = -f\,q\,\mathrm{sign}(b_k)\,|x|^k` (form A) or
    :math:`-f\,q\,\mathrm{sign}(R)\,x^k` (form B, :math:`R = \sum_k b_k x^k`).
    P, Q and their derivatives are evaluated by Horner's rule.
    """
    a = [f"a{j}" for j in range(m + 1)]
    b = [f"b{k}" for k in range(1, n + 1)]
    value: list[Statement] = [(f"h{m}", a[m])]
    value += [(f"h{j}", f"h{j + 1} * x + {a[j]}") for j in range(m - 1, -1, -1)]
    deriv: list[Statement] = []
    base = "ax" if form == "A" else "x"
    if m == 0:
        deriv.append(("dp", "0.0"))
    else:
        deriv.append((f"e{m}", f"{float(m)} * {a[m]}"))
        deriv += [(f"e{j}", f"e{j + 1} * x + {float(j)} * {a[j]}") for j in range(m - 1, 0, -1)]
        deriv.append(("dp", "e1"))
    if n == 0:
        value += [("q", "1.0")]
        deriv.append(("dq", "0.0"))
    elif form == "A":
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
    if n:
        deriv.append(("w0", "-f * iq" if form == "A" else "-f * iq * sr"))
        deriv += [(f"w{k}", f"w{k - 1} * {base}") for k in range(1, n + 1)]
    for k in range(1, n + 1):
        deriv.append((f"d_{b[k - 1]}", f"w{k}"))
        if form == "A":
            deriv.append((f"s_{b[k - 1]}", f"sign({b[k - 1]})"))
    return Formula(f"pau{form}_{m}_{n}", tuple(a + b), tuple(value), tuple(deriv))

