r"""Least-squares fits of trainable units to target functions, and the cached PAU initialisations.

A PAU is initialised so that it approximates a familiar activation on
:math:`[-3, 3]` (the PAU paper, App. A.1). The coefficients are computed here,
by least squares under this library's own :func:`adaptact.functional.pau`, and
shipped in ``adaptact/tables/pau_init.json`` (written by
``scripts/make_init_tables.py``); degrees or targets not in the table are
fitted on first use and cached in memory.

Fitting a rational function :math:`P/Q`:

1. a linearised problem :math:`P(x) - f(x)(Q(x) - 1) = f(x)` is solved by
   linear least squares (exact when :math:`f` is itself rational);
2. the true residual :math:`P(x)/Q(x) - f(x)` with the safe denominator of the
   chosen form is minimised by Levenberg–Marquardt (SciPy), from the linear
   solution and from a few other starts; the best is kept.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from adaptact import functional as AF

__all__ = [
    "FitResult",
    "PAU_TARGETS",
    "fit_blend",
    "fit_pau",
    "fit_polynomial",
    "initial_coefficients",
    "load_table",
    "target_function",
]

#: the named targets of the shipped table, as float64 torch functions
PAU_TARGETS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "swish": F.silu,
    "gelu": F.gelu,
    "identity": lambda x: x,
}
_TARGET_ALIASES = {"lrelu": "leaky_relu", "silu": "swish", "linear": "identity"}

DEFAULT_INTERVAL = (-3.0, 3.0)
DEFAULT_POINTS = 6001
TABLE_FILE = "pau_init.json"


def target_function(target: str | Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    """Resolve a target name (``leaky_relu``, ``relu``, ``tanh``, ...) or pass a callable through."""
    if callable(target):
        return target
    key = _TARGET_ALIASES.get(target, target)
    if key not in PAU_TARGETS:
        raise ValueError(f"unknown fit target {target!r}; choose from {sorted(PAU_TARGETS)} or pass a function")
    return PAU_TARGETS[key]


def _canonical_target(target: str) -> str:
    return _TARGET_ALIASES.get(target, target)


@dataclass(frozen=True)
class FitResult:
    """Fitted PAU coefficients and their error on the fitting grid."""

    numerator: tuple[float, ...]
    denominator: tuple[float, ...]
    form: str
    max_error: float
    rms_error: float


def _grid(interval: tuple[float, float], points: int) -> torch.Tensor:
    lo, hi = interval
    if not hi > lo:
        raise ValueError(f"interval must have hi > lo, got {interval}")
    return torch.linspace(lo, hi, points, dtype=torch.float64)


def _check_degrees(degrees: Sequence[int]) -> tuple[int, int]:
    m, n = degrees
    for name, d in (("numerator degree", m), ("denominator degree", n)):
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise ValueError(f"degrees: the {name} must be an integer >= 0, got {d!r}")
    return m, n


def _linearised_start(x: np.ndarray, f: np.ndarray, m: int, n: int, absolute: bool) -> np.ndarray:
    """Solve P(x) - f(x) sum_k c_k g(x)^k = f(x) for (a, c) with g = |x| (form A) or x."""
    g = np.abs(x) if absolute else x
    cols = [x**j for j in range(m + 1)] + [-f * g**k for k in range(1, n + 1)]
    theta, *_ = np.linalg.lstsq(np.stack(cols, axis=1), f, rcond=None)
    return theta


def fit_pau(
    target: str | Callable,
    degrees: Sequence[int] = (5, 4),
    form: str = "A",
    interval: tuple[float, float] = DEFAULT_INTERVAL,
    points: int = DEFAULT_POINTS,
) -> FitResult:
    """Least-squares fit of a safe PAU of ``degrees`` (m, n) and ``form`` to ``target`` on ``interval``.

    The residual is computed with :func:`adaptact.functional.pau` itself in
    float64, so the coefficients are right for this library's forward.
    """
    from scipy.optimize import least_squares

    m, n = _check_degrees(degrees)
    if form not in AF.PAU_FORMS:
        raise ValueError(f"form must be one of {list(AF.PAU_FORMS)}, got {form!r}")
    xt = _grid(interval, points)
    ft = target_function(target)(xt)
    x, f = xt.numpy(), ft.numpy()

    def split(theta: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.as_tensor(theta, dtype=torch.float64)
        return t[: m + 1], t[m + 1 :]

    def residual(theta: np.ndarray) -> np.ndarray:
        a, b = split(theta)
        return (AF.pau(xt, a, b, form) - ft).numpy()

    powers = torch.stack([xt**j for j in range(max(m, n) + 1)], dim=1)  # (points, max(m, n) + 1)

    def jacobian(theta: np.ndarray) -> np.ndarray:
        # d(P/Q)/da_j = x^j / Q;  d(P/Q)/db_k = -(P/Q) dQ/db_k / Q, with dQ/db_k = sign(b_k)|x|^k (A)
        # or sign(sum_k b_k x^k) x^k (B). The residual itself is the library's own forward.
        a, b = split(theta)
        y = AF.pau(xt, a, b, form)
        q = AF.pau_denominator(xt, b, form)
        if form == "A":
            dq = torch.sign(b) * powers[:, 1 : n + 1].abs()
        else:
            dq = torch.sign(powers[:, 1 : n + 1] @ b)[:, None] * powers[:, 1 : n + 1]
        return torch.cat([powers[:, : m + 1] / q[:, None], -(y / q)[:, None] * dq], dim=1).numpy()

    linear = _linearised_start(x, f, m, n, absolute=(form == "A"))
    starts = [linear, np.abs(linear) if form == "A" else linear]
    poly = np.concatenate([np.polynomial.polynomial.polyfit(x, f, m), np.zeros(n)])
    starts.append(poly + np.concatenate([np.zeros(m + 1), np.full(n, 1e-3)]))
    best = None
    for start in starts:
        if n + m + 1 > points:
            raise ValueError("more coefficients than fitting points")
        sol = least_squares(residual, start, jac=jacobian, method="lm", xtol=1e-12, ftol=1e-12, gtol=1e-12,
                            max_nfev=2000)
        cost = float(np.mean(sol.fun**2))
        if best is None or cost < best[0]:
            best = (cost, sol.x)
    theta = best[1]
    if form == "A":  # only |b| matters: store the canonical non-negative denominator
        theta = np.concatenate([theta[: m + 1], np.abs(theta[m + 1 :])])
    err = np.abs(residual(theta))
    return FitResult(
        numerator=tuple(float(v) for v in theta[: m + 1]),
        denominator=tuple(float(v) for v in theta[m + 1 :]),
        form=form,
        max_error=float(err.max()),
        rms_error=float(np.sqrt(np.mean(err**2))),
    )


def fit_polynomial(
    target: str | Callable, degree: int = 5, interval: tuple[float, float] = DEFAULT_INTERVAL,
    points: int = DEFAULT_POINTS,
) -> tuple[float, ...]:
    """Least-squares polynomial :math:`\\sum_{k=0}^{K} c_k x^k` fitted to ``target`` (SLAF's start)."""
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise ValueError(f"degree must be an integer >= 0, got {degree!r}")
    xt = _grid(interval, points)
    coeffs = np.polynomial.polynomial.polyfit(xt.numpy(), target_function(target)(xt).numpy(), degree)
    return tuple(float(c) for c in coeffs)


def fit_blend(
    target: str | Callable,
    basis: Sequence[str] = AF.ABU_BASIS,
    interval: tuple[float, float] = DEFAULT_INTERVAL,
    points: int = DEFAULT_POINTS,
) -> tuple[float, ...]:
    """Least-squares blend weights :math:`w` with :math:`\\sum_j w_j f_j \\approx` target (normalisation ``none``).

    The basis functions' own parameters stay at their initial values
    (Swish's :math:`\\beta = 1`, PReLU's slope 0.25); stochastic ones are
    evaluated in eval mode.
    """
    from adaptact.units.base import basis_parameter_init

    xt = _grid(interval, points)
    own = torch.tensor(basis_parameter_init(basis), dtype=torch.float64)
    cols, offset = [], 0
    for name in basis:
        b = AF.basis_function(name)
        params = [own[offset + i] for i in range(b.num_params)]
        offset += b.num_params
        cols.append(b.fn(xt, *params, training=False).numpy())
    w, *_ = np.linalg.lstsq(np.stack(cols, axis=1), target_function(target)(xt).numpy(), rcond=None)
    return tuple(float(v) for v in w)


@functools.lru_cache(maxsize=None)
def load_table() -> dict:
    """The shipped table of PAU initial coefficients (empty if the file is missing)."""
    try:
        text = resources.files("adaptact").joinpath("tables", TABLE_FILE).read_text()
    except FileNotFoundError:
        return {"entries": {}}
    return json.loads(text)


def table_key(target: str, degrees: Sequence[int], form: str) -> str:
    m, n = degrees
    return f"{target}/{m},{n}/{form}"


@functools.lru_cache(maxsize=None)
def _fitted(target: str, degrees: tuple[int, int], form: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    r = fit_pau(target, degrees, form)
    return r.numerator, r.denominator


def initial_coefficients(
    target: str = "leaky_relu", degrees: Sequence[int] = (5, 4), form: str = "A"
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """PAU coefficients ``(a_0..a_m, b_1..b_n)`` approximating ``target`` on [-3, 3].

    Read from the shipped table, or fitted now (and cached) when the table
    lacks that target, degree pair or form.
    """
    degrees = _check_degrees(degrees)
    target_function(target)  # validates the name
    target = _canonical_target(target)
    hit = load_table()["entries"].get(table_key(target, degrees, form))
    if hit is not None:
        return tuple(hit["numerator"]), tuple(hit["denominator"])
    return _fitted(target, degrees, form)


#: what ``scripts/make_init_tables.py`` puts in the shipped table
TABLE_DEGREES = ((3, 2), (4, 3), (5, 4), (6, 5))


def build_table(
    targets: Sequence[str] = tuple(PAU_TARGETS),
    degrees: Sequence[tuple[int, int]] = TABLE_DEGREES,
    forms: Sequence[str] = AF.PAU_FORMS,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Fit every (target, degrees, form) and return the table written to ``tables/pau_init.json``."""
    entries = {}
    for target in targets:
        for deg in degrees:
            for form in forms:
                r = fit_pau(target, deg, form)
                key = table_key(target, deg, form)
                entries[key] = {
                    "numerator": list(r.numerator),
                    "denominator": list(r.denominator),
                    "max_error": r.max_error,
                    "rms_error": r.rms_error,
                }
                if progress:
                    progress(f"{key}: max error {r.max_error:.2e}")
    return {
        "about": "PAU initial coefficients: least-squares fits on the grid below under adaptact.functional.pau "
        "(generated by scripts/make_init_tables.py; do not edit by hand)",
        "interval": list(DEFAULT_INTERVAL),
        "points": DEFAULT_POINTS,
        "entries": entries,
    }
