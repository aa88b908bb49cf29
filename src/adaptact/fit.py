r"""Least-squares fits of trainable units to target functions, and the cached PAU initialisations.

A PAU starts out approximating a familiar activation on an interval, by default
:math:`[-3, 3]` (the PAU paper, App. A.1). The coefficients are computed here,
by least squares on a grid of the interval, and checked under this library's
own :func:`adaptact.functional.pau`. The target is any registered fixed
activation (:func:`adaptact.list_activations` with ``family="fixed"``: ``elu``,
``gelu``, ``silu``, ``tanh``, ... ``prelu`` with its initial slope 0.25,
``rrelu`` as in eval: a leaky ReLU with the mean slope) or any callable
``Tensor -> Tensor`` (called once on a float64 grid).

Where the coefficients come from
--------------------------------
1. ``adaptact/tables/pau_init.json``: every fixed activation at degrees
   (3, 2), (4, 3), (5, 4), (6, 5), both forms, on :math:`[-3, 3]` (written by
   ``scripts/make_init_tables.py``; never typed in by hand);
2. else a fit already made by this process (kept in memory), or by an earlier
   one (a JSON file under ``adaptact.cachedir.cache_home("fits")``, written
   atomically and checked when read: a damaged or foreign file is ignored and
   the fit redone);
3. else a fit now: for any degrees up to (8, 8), either form, at most about
   0.3 s of CPU (0.7 s wall on the shared 2-core machine; see
   ``benchmarks/results/fit-times.json``), plus importing SciPy once per
   process (about 1 s there); (16, 16) takes up to about 2 s of CPU. A fit that
   takes longer than :data:`PROGRESS_AFTER_S` (1 s) says so on stderr.

A fit is identified by the target's values on the grid (so a lambda and a
named function that agree share one fit), the degrees, the form, the interval,
the number of grid points and the version of the solver.

The solver
----------
The residual :math:`r_i = P(x_i)/Q(x_i) - f(x_i)` is linear in the numerator
:math:`a` once the denominator :math:`b` is fixed, so :math:`a` is eliminated
by linear least squares (variable projection, Golub–Pereyra with Kaufman's
Jacobian) and only the :math:`n` denominator coefficients are optimised, by
Levenberg–Marquardt (form B) or a trust-region method keeping
:math:`|b_k| = b_k \ge 0` (form A; only :math:`|b_k|` matters there), in float64
on :math:`t = x / \max|x|` for conditioning. It starts from the linearised fit
:math:`P - f\,(Q - 1) = f` reweighted by :math:`1/Q` (Sanathanan–Koerner; exact
when :math:`f` is itself such a rational function), from an even denominator
and from a near-polynomial one, on a coarse sub-grid; the best is refined on
the full grid.

Outside the fitted interval
---------------------------
The fit only constrains the unit on the interval. Outside it a PAU follows its
leading terms. With :math:`a_m \ne 0` the highest non-zero numerator
coefficient and :math:`b_n \ne 0` the highest non-zero denominator one (a fit
may leave a top coefficient at about 0: then the effective degree is lower),
both forms have :math:`Q(x) \sim |b_n|\,|x|^n`, so for :math:`|x| \to \infty`

.. math::
    y \sim \frac{a_m}{|b_n|}\,\mathrm{sign}(x)^m\,|x|^{m-n}.

- :math:`m = n + 1` (the default (5, 4), the paper's choice): :math:`y`
  becomes linear, :math:`y \approx c\,x` with *one* slope
  :math:`c = a_m/|b_n|` on both sides for odd :math:`m`
  (:math:`y \approx c\,|x|` for even :math:`m`). A ReLU-like target cannot
  keep its two slopes: the shipped LReLU(0.01) (5, 4) form-A set has
  :math:`c \approx 0.72` and :math:`y(-10) \approx -2.7`. The sign of
  :math:`c` is not forced either: the GELU (5, 4) form-B fit has
  :math:`c \approx -0.5`, :math:`y(10) \approx -6.3`; the ELU form-B fit turns
  down beyond :math:`x \approx 7`.
- :math:`m = n`: :math:`y` tends to the constant :math:`a_m/|b_n|` on both
  sides for even :math:`m`, to :math:`\pm a_m/|b_n|` for odd :math:`m`
  (tanh's :math:`\pm 1` fit this, sigmoid's 0 and 1 do not).
- :math:`m < n`: :math:`y \to 0` like :math:`|x|^{m-n}`;
  :math:`m > n + 1`: :math:`y` grows like :math:`|x|^{m-n}`.

Measured for the shipped (5, 4) sets on :math:`[-20, 20]`, the first
:math:`|x|` where the error passes 0.1: lrelu 3.8 (form A, left) to 4.7,
gelu 3.8 (form B) to 5 (form A), elu 5 (left), silu 9, tanh 11; sigmoid
stays within 0.1.

Choosing the interval: make it cover the bulk of the unit's inputs. After a
normalisation layer (BatchNorm, LayerNorm) inputs are roughly standard, so the
paper's :math:`[-3, 3]` holds 99.7 % of them; elsewhere (e.g. the MLP of a
transformer, whose GELU inputs often go well beyond :math:`\pm 3`) look at a batch of
pre-activations (e.g. their 0.1 % and 99.9 % quantiles) and pass
``init_range=(lo, hi)`` to the unit (``interval=`` here). A wider interval at
the same degrees gives a larger error inside it (the ``max_error`` of
:func:`fit_pau`: lrelu (5, 4) 0.03 on :math:`[-3, 3]`, 0.08 on
:math:`[-8, 8]`; (7, 6) brings it back to 0.03). Training moves the
coefficients anyway: the fit only decides where training starts.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import numbers
import os
import sys
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from adaptact import functional as AF
from adaptact.cachedir import cache_home, write_bytes_atomic
from adaptact.naming import resolve_name

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_POINTS",
    "MAX_PAU_DEGREE",
    "MAX_POLYNOMIAL_DEGREE",
    "FitResult",
    "PAU_TARGETS",
    "check_degrees",
    "check_interval",
    "clear_fit_cache",
    "fit_blend",
    "fit_cache_folder",
    "fit_pau",
    "fit_polynomial",
    "fixed_targets",
    "initial_coefficients",
    "load_table",
    "target_function",
]

log = logging.getLogger("adaptact.fit")

#: the targets of the PAU paper's Fig. 1 (each a fixed activation name or alias)
PAU_TARGETS = ("leaky_relu", "relu", "tanh", "sigmoid", "swish", "gelu", "identity")

DEFAULT_INTERVAL = (-3.0, 3.0)
DEFAULT_POINTS = 6001
#: the largest numerator or denominator degree a PAU may have: beyond it the monomial
#: basis is too ill-conditioned for a meaningful fit and the float32 forward loses its digits
MAX_PAU_DEGREE = 16
#: the largest SLAF polynomial degree (the same reasons)
MAX_POLYNOMIAL_DEGREE = 16
MAX_POINTS = 1_000_000
TABLE_FILE = "pau_init.json"
#: what ``scripts/make_init_tables.py`` puts in the shipped table (every fixed activation as target)
TABLE_DEGREES = ((3, 2), (4, 3), (5, 4), (6, 5))

#: bump when the solver changes: older cached fits are then not used
FIT_VERSION = 2
_RECORD_FORMAT = "adaptact-pau-fit"
#: a fit running longer than this (seconds) says so on stderr
PROGRESS_AFTER_S = 1.0

# solver settings: the exploration sub-grid, and the evaluation budgets per start and for the refinement
_COARSE_POINTS = 1000
_EXPLORE_NFEV = 100
_REFINE_NFEV = 300
_TOL = 1e-12


# --------------------------------------------------------------------------- validation


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_degrees(degrees: Any, option: str = "degrees") -> tuple[int, int]:
    """Validate PAU degrees: a pair ``(m, n)`` of integers in ``[0, MAX_PAU_DEGREE]``."""
    what = (f"{option} must be a pair (m, n) of integers in [0, {MAX_PAU_DEGREE}] "
            f"(numerator degree m, denominator degree n)")
    if isinstance(degrees, (str, bytes)):
        raise ValueError(f"{what}, got {degrees!r}")
    try:
        m, n = degrees
    except (TypeError, ValueError):
        raise ValueError(f"{what}, got {degrees!r}") from None
    for d in (m, n):
        if not _is_int(d) or not 0 <= d <= MAX_PAU_DEGREE:
            raise ValueError(f"{what}, got {degrees!r}")
    return int(m), int(n)


def check_interval(interval: Any, option: str = "interval") -> tuple[float, float]:
    """Validate a fit interval: a pair ``(lo, hi)`` of finite numbers with ``lo < hi``."""
    what = f"{option} must be a pair (lo, hi) of finite numbers with lo < hi"
    if isinstance(interval, (str, bytes)):
        raise ValueError(f"{what}, got {interval!r}")
    try:
        lo, hi = interval
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ValueError(f"{what}, got {interval!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{what}, got {interval!r}")
    return lo, hi


def _check_points(points: Any, unknowns: int) -> int:
    lo = max(16, 4 * unknowns)
    if not _is_int(points) or not lo <= points <= MAX_POINTS:
        raise ValueError(f"points must be an integer in [{lo}, {MAX_POINTS}], got {points!r}")
    return int(points)


def _check_form(form: Any) -> str:
    if form not in AF.PAU_FORMS:
        raise ValueError(f"form must be one of {list(AF.PAU_FORMS)}, got {form!r}")
    return form


# --------------------------------------------------------------------------- targets


def fixed_targets() -> list[str]:
    """The names a target (or a unit's ``init``) may take: every registered fixed activation."""
    from adaptact.registry import list_activations

    return list_activations(family="fixed")


def _canonical_target(name: str, option: str) -> str:
    from adaptact.registry import entry

    names = fixed_targets()
    aliases = {alias: n for n in names for alias in entry(n).aliases}
    try:
        return resolve_name(str(name).strip().lower().replace("-", "_"), names, aliases, "activation")
    except ValueError as e:
        raise ValueError(f"{option}: {e}; or pass a callable Tensor -> Tensor") from None


@functools.lru_cache(maxsize=None)
def _fixed_function(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    from adaptact.registry import create

    module = create(name).eval()  # rrelu in eval: the mean slope; prelu: its initial slope 0.25

    def f(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return module(x)

    f.__name__ = name
    return f


def target_function(target: str | Callable, option: str = "target") -> Callable[[torch.Tensor], torch.Tensor]:
    """Resolve a fixed activation name (or alias) to its function; pass a callable through.

    Raises:
        ValueError: naming ``option``, for an unknown name (listing the valid
            ones) or a value that is neither a string nor callable.
    """
    if isinstance(target, str):
        return _fixed_function(_canonical_target(target, option))
    if callable(target):
        return target
    raise ValueError(f"{option} must be a fixed activation name or a callable Tensor -> Tensor, got {target!r}")


def _grid(interval: tuple[float, float], points: int) -> torch.Tensor:
    lo, hi = interval
    return torch.linspace(lo, hi, points, dtype=torch.float64)


def _target_values(target: str | Callable, grid: torch.Tensor, option: str = "target") -> torch.Tensor:
    """``target`` on ``grid`` as a float64 tensor, checked: same shape, finite."""
    fn = target_function(target, option)
    with torch.no_grad():
        y = fn(grid.clone())
    if not isinstance(y, torch.Tensor):
        y = torch.as_tensor(np.asarray(y))
    if tuple(y.shape) != tuple(grid.shape):
        raise ValueError(f"{option}: the function must return a tensor of its input's shape {tuple(grid.shape)}, "
                         f"got {tuple(y.shape)}")
    y = y.detach().to(device="cpu", dtype=torch.float64)
    if not torch.isfinite(y).all():
        raise ValueError(f"{option}: the function has non-finite values on the fit interval "
                         f"[{grid[0].item():g}, {grid[-1].item():g}]")
    return y


# --------------------------------------------------------------------------- the solver


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    # the matrices are small: several BLAS threads only fight over the cores (50x slower when
    # torch's OpenMP threads are awake beside them)
    import scipy.linalg  # noqa: F401  (loaded first: threadpoolctl limits only the libraries loaded already)
    import scipy.optimize  # noqa: F401

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


class _Projection:
    r"""The fit of :math:`P/Q` to ``f`` on ``t`` with the numerator eliminated (variable projection).

    For denominator coefficients :math:`\theta` the numerator is the linear
    least-squares solution of :math:`(V / Q)\,\alpha \approx f` (``V`` the
    monomials :math:`t^0 \dots t^m`), and the residual is
    :math:`r(\theta) = (V/Q)\alpha - f`. Its Jacobian (Kaufman's) is
    :math:`(I - UU^\top)\,D` with :math:`U` an orthonormal basis of
    :math:`V/Q` and :math:`D_{ik} = -(y_i / Q_i)\,\partial Q_i/\partial\theta_k`.
    """

    def __init__(self, t: np.ndarray, f: np.ndarray, m: int, n: int, form: str) -> None:
        self.f, self.m, self.n, self.form = f, m, n, form
        self.V = t[:, None] ** np.arange(m + 1)
        g = np.abs(t) if form == "A" else t
        self.G = g[:, None] ** np.arange(1, n + 1)
        self._memo: tuple[bytes, tuple] | None = None

    def denominator(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.G @ theta
        return s, 1.0 + (s if self.form == "A" else np.abs(s))

    def _state(self, theta: np.ndarray) -> tuple:
        key = theta.tobytes()
        if self._memo is None or self._memo[0] != key:
            s, q = self.denominator(theta)
            a = self.V / q[:, None]
            u, r = np.linalg.qr(a)
            alpha = np.linalg.solve(r, u.T @ self.f)
            self._memo = (key, (s, q, u, alpha, a @ alpha))
        return self._memo[1]

    def residual(self, theta: np.ndarray) -> np.ndarray:
        return self._state(theta)[4] - self.f

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        s, q, u, _, y = self._state(theta)
        dq = self.G if self.form == "A" else np.sign(s)[:, None] * self.G
        d = -(y / q)[:, None] * dq
        return d - u @ (u.T @ d)

    def numerator(self, theta: np.ndarray) -> np.ndarray:
        return self._state(theta)[3]

    def cost(self, theta: np.ndarray) -> float:
        return float(np.mean(self.residual(theta) ** 2))

    def minimise(self, start: np.ndarray, max_nfev: int) -> np.ndarray:
        from scipy.optimize import least_squares

        if self.form == "A":  # Q uses |b_k|: optimise b_k >= 0
            sol = least_squares(self.residual, np.maximum(start, 0.0), jac=self.jacobian, bounds=(0.0, np.inf),
                                method="trf", x_scale="jac", xtol=_TOL, ftol=_TOL, gtol=_TOL, max_nfev=max_nfev)
        else:
            sol = least_squares(self.residual, start, jac=self.jacobian, method="lm", x_scale="jac",
                                xtol=_TOL, ftol=_TOL, gtol=_TOL, max_nfev=max_nfev)
        return sol.x

    def linearised(self, sweeps: int = 4, even_only: bool = False) -> np.ndarray:
        r"""Denominator of the reweighted linearised fit :math:`(P - f\,(Q-1) - f)/Q_{prev} \approx 0`.

        Form A (and ``even_only``, the even powers of form B) keep the
        coefficients :math:`\ge 0`, so that :math:`Q \ge 1` holds without the
        absolute value.
        """
        from scipy.optimize import lsq_linear

        m, n = self.m, self.n
        cols = np.concatenate([self.V, -self.f[:, None] * self.G], axis=1)
        keep = np.ones(m + 1 + n, dtype=bool)
        if even_only:
            keep[m + 1:] = np.arange(1, n + 1) % 2 == 0
        cols = cols[:, keep]
        bounded = self.form == "A" or even_only
        lower = np.full(cols.shape[1], -np.inf)
        lower[m + 1:] = 0.0 if bounded else -np.inf
        w = np.ones_like(self.f)
        theta = np.zeros(n)
        for _ in range(sweeps):
            if bounded:
                sol = lsq_linear(cols * w[:, None], self.f * w, bounds=(lower, np.inf), method="bvls")
                x = sol.x
            else:
                x = np.linalg.lstsq(cols * w[:, None], self.f * w, rcond=None)[0]
            theta = np.zeros(n)
            theta[keep[m + 1:]] = x[m + 1:]
            w = 1.0 / self.denominator(theta)[1]
        return theta

    def starts(self, scattered: int = 3) -> list[np.ndarray]:
        """Starting denominators: the linearised fit, an even one, near-polynomial ones, and
        ``scattered`` pseudo-random ones (a fixed seed: the fit is deterministic)."""
        n = self.n
        even = np.where(np.arange(1, n + 1) % 2 == 0, 0.5, 0.0)
        out = [self.linearised(), even, np.full(n, 1e-3), np.zeros(n)]
        if self.form == "B" and n >= 2:
            out.append(self.linearised(even_only=True))
        rng = np.random.default_rng(12345)
        for _ in range(scattered):
            theta = np.abs(rng.standard_normal(n)) * 10.0 ** rng.uniform(-2.0, 1.0)
            out.append(theta if self.form == "A" else theta * rng.choice([-1.0, 1.0], n))
        return out


def _solve_rational(x: np.ndarray, f: np.ndarray, m: int, n: int, form: str) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(a_0..a_m, b_1..b_n)`` minimising :math:`\\sum_i (P(x_i)/Q(x_i) - f_i)^2`."""
    scale = float(np.max(np.abs(x))) or 1.0
    t = x / scale
    with _one_blas_thread():
        full = _Projection(t, f, m, n, form)
        if n == 0:
            theta = np.zeros(0)
        else:
            stride = max(1, len(t) // _COARSE_POINTS)
            coarse = _Projection(t[::stride], f[::stride], m, n, form) if stride > 1 else full
            explored = [coarse.minimise(start, _EXPLORE_NFEV) for start in coarse.starts()]
            refined = full.minimise(min(explored, key=coarse.cost), _REFINE_NFEV)
            # the plain polynomial (b = 0) stays a candidate: the bounded solver only nears it
            theta = min((refined, np.zeros(n)), key=full.cost)
        alpha = full.numerator(theta)
    a = alpha / scale ** np.arange(m + 1)
    b = theta / scale ** np.arange(1, n + 1)
    return a, (np.abs(b) if form == "A" else b)


# --------------------------------------------------------------------------- fit_pau and its cache


def _canonical_denominator(b: Sequence[float], form: str) -> tuple[float, ...]:
    """Form B's denominator 1 + |sum_k b_k x^k| is the same function for b and -b: the fit returns the one
    whose first non-zero coefficient is positive, so that a fit's coefficients do not depend on where the
    solver happened to land (form A's only |b_k| matters: its b_k are kept >= 0 by the solver)."""
    b = tuple(map(float, b))
    if form == "B":
        first = next((v for v in b if v != 0.0), 0.0)
        if first < 0.0:
            b = tuple(-v for v in b)
    return b


@dataclass(frozen=True)
class FitResult:
    """Fitted PAU coefficients and their error on the fitting grid (under :func:`adaptact.functional.pau`)."""

    numerator: tuple[float, ...]
    denominator: tuple[float, ...]
    form: str
    max_error: float
    rms_error: float
    interval: tuple[float, float] = DEFAULT_INTERVAL


def _errors(grid: torch.Tensor, values: torch.Tensor, a: Sequence[float], b: Sequence[float],
            form: str) -> tuple[float, float]:
    y = AF.pau(grid, torch.tensor(list(a), dtype=torch.float64), torch.tensor(list(b), dtype=torch.float64), form)
    err = (y - values).abs()
    return float(err.max()), float(err.square().mean().sqrt())


_MEMORY: dict[str, FitResult] = {}


def fit_cache_folder() -> Path:
    """Where fits are kept between processes: ``adaptact.cachedir.cache_home("fits")``."""
    return cache_home("fits")


def clear_fit_cache(disk: bool = False) -> None:
    """Forget the fits kept in memory; ``disk=True`` also deletes this library's files in :func:`fit_cache_folder`."""
    _MEMORY.clear()
    if disk:
        for path in fit_cache_folder().glob("pau-*.json"):
            with contextlib.suppress(OSError):
                path.unlink()


def _fit_key(values: torch.Tensor, m: int, n: int, form: str, interval: tuple[float, float], points: int) -> str:
    h = hashlib.sha256()
    problem = {"version": FIT_VERSION, "degrees": [m, n], "form": form, "interval": list(interval), "points": points}
    h.update(json.dumps(problem, sort_keys=True).encode())
    h.update(values.numpy().astype("<f8").tobytes())
    return h.hexdigest()


def _cache_path(key: str, m: int, n: int, form: str) -> Path:
    return fit_cache_folder() / f"pau-{m}-{n}-{form}-{key[:32]}.json"


def _read_cached(path: Path, key: str, m: int, n: int, form: str, interval: tuple[float, float],
                 grid: torch.Tensor, values: torch.Tensor) -> FitResult | None:
    """The fit stored at ``path`` if it is ours, complete and true (its error recomputed), else ``None``."""
    try:
        if hasattr(os, "getuid") and path.stat().st_uid != os.getuid():
            log.info("ignoring %s: not owned by this user", path)
            return None
        rec = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.info("ignoring the damaged fit cache file %s (%s)", path, e)
        return None
    try:
        a, b = rec["numerator"], rec["denominator"]
        ok = (rec["format"] == _RECORD_FORMAT and rec["key"] == key and rec["form"] == form
              and list(rec["degrees"]) == [m, n] and len(a) == m + 1 and len(b) == n
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in a + b)
              and (form == "B" or all(v >= 0 for v in b)))
        if ok:
            max_err, rms = _errors(grid, values, a, b, form)
            ok = abs(max_err - float(rec["max_error"])) <= 1e-9 + 1e-6 * max_err
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        log.info("ignoring the fit cache file %s: it does not hold this fit", path)
        return None
    return FitResult(tuple(map(float, a)), _canonical_denominator(b, form), form, max_err, rms, interval)


def _write_cached(path: Path, key: str, m: int, n: int, r: FitResult) -> None:
    """Write the record atomically (a temporary file in the same folder, then a rename); failures only logged."""
    rec = {"format": _RECORD_FORMAT, "version": FIT_VERSION, "key": key, "degrees": [m, n], "form": r.form,
           "interval": list(r.interval), "numerator": list(r.numerator), "denominator": list(r.denominator),
           "max_error": r.max_error, "rms_error": r.rms_error}
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_bytes_atomic(path, json.dumps(rec).encode())
    except OSError as e:
        log.info("could not write the fit cache file %s (%s)", path, e)


@contextlib.contextmanager
def _progress(what: str, after: float | None = None) -> Iterator[None]:
    """Say on stderr what is being computed if it takes longer than ``after`` seconds, and when it is done."""
    after = PROGRESS_AFTER_S if after is None else after
    start = time.perf_counter()
    lock = threading.Lock()
    state = {"shown": False, "done": False}

    def announce() -> None:
        with lock:
            if not state["done"]:
                state["shown"] = True
                print(f"adaptact: {what} ...", file=sys.stderr, flush=True)

    timer = threading.Timer(after, announce)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["done"] = True
            if state["shown"]:
                print(f"adaptact: {what}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def _describe(target: Any) -> str:
    return repr(target) if isinstance(target, str) else getattr(target, "__name__", "a function")


def fit_pau(
    target: str | Callable = "leaky_relu",
    degrees: Sequence[int] = (5, 4),
    form: str = "A",
    interval: Sequence[float] = DEFAULT_INTERVAL,
    points: int = DEFAULT_POINTS,
    *,
    cache: bool = True,
    option: str = "target",
) -> FitResult:
    r"""Least-squares fit of a safe PAU of ``degrees`` (m, n) and ``form`` to ``target`` on ``interval``.

    Minimises :math:`\sum_i (P(x_i)/Q(x_i) - f(x_i))^2` over ``points``
    equally spaced :math:`x_i` (the module docstring says how). ``target`` is
    a fixed activation name or a callable on float64 tensors. The errors are
    those of :func:`adaptact.functional.pau` itself in float64 on the grid.

    With ``cache`` (the default) the result is kept in memory and on disk
    (:func:`fit_cache_folder`), identified by the target's values on the grid,
    the degrees, the form, the interval and ``points``; ``cache=False``
    always fits anew and stores nothing. ``option`` names the argument in
    error messages (units pass ``"init"``).
    """
    m, n = check_degrees(degrees)
    form = _check_form(form)
    interval = check_interval(interval, "interval" if option == "target" else f"{option}_range")
    points = _check_points(points, m + n + 1)
    grid = _grid(interval, points)
    values = _target_values(target, grid, option)
    key = _fit_key(values, m, n, form, interval, points)
    if cache:
        hit = _MEMORY.get(key)
        if hit is None:
            path = _cache_path(key, m, n, form)
            hit = _read_cached(path, key, m, n, form, interval, grid, values)
            if hit is not None:
                _MEMORY[key] = hit
        if hit is not None:
            return hit
    what = (f"fitting a PAU of degrees ({m}, {n}), form {form}, to {_describe(target)} on "
            f"[{interval[0]:g}, {interval[1]:g}] (once: then cached)")
    with _progress(what):
        a, b = _solve_rational(grid.numpy(), values.numpy(), m, n, form)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise RuntimeError(f"the PAU fit of degrees ({m}, {n}) form {form} to {_describe(target)} failed "
                           "(non-finite coefficients)")
    max_err, rms = _errors(grid, values, a, b, form)
    result = FitResult(tuple(map(float, a)), _canonical_denominator(b, form), form, max_err, rms, interval)
    if cache:
        _MEMORY[key] = result
        _write_cached(_cache_path(key, m, n, form), key, m, n, result)
    return result


# --------------------------------------------------------------------------- polynomial and blend fits


def check_polynomial_degree(degree: Any, option: str = "degree") -> int:
    """Validate a polynomial degree: an integer in ``[0, MAX_POLYNOMIAL_DEGREE]``."""
    if not _is_int(degree) or not 0 <= degree <= MAX_POLYNOMIAL_DEGREE:
        raise ValueError(f"{option} must be an integer in [0, {MAX_POLYNOMIAL_DEGREE}], got {degree!r}")
    return int(degree)


def fit_polynomial(
    target: str | Callable, degree: int = 5, interval: Sequence[float] = DEFAULT_INTERVAL,
    points: int = DEFAULT_POINTS, *, option: str = "target",
) -> tuple[float, ...]:
    """Least-squares polynomial :math:`\\sum_{k=0}^{K} c_k x^k` fitted to ``target`` on ``interval`` (SLAF's start).

    ``target`` is a fixed activation name or a callable; ``option`` names it in error messages.
    """
    degree = check_polynomial_degree(degree)
    interval = check_interval(interval, "interval" if option == "target" else f"{option}_range")
    grid = _grid(interval, _check_points(points, degree + 1))
    values = _target_values(target, grid, option)
    coeffs = np.polynomial.polynomial.polyfit(grid.numpy(), values.numpy(), degree)
    return tuple(float(c) for c in coeffs)


def fit_blend(
    target: str | Callable,
    basis: Sequence[str] = AF.ABU_BASIS,
    interval: Sequence[float] = DEFAULT_INTERVAL,
    points: int = DEFAULT_POINTS,
) -> tuple[float, ...]:
    """Least-squares blend weights :math:`w` with :math:`\\sum_j w_j f_j \\approx` target (normalisation ``none``).

    The basis functions' own parameters stay at their initial values
    (Swish's :math:`\\beta = 1`, PReLU's slope 0.25); stochastic ones are
    evaluated in eval mode.
    """
    from adaptact.units.base import basis_parameter_init

    grid = _grid(check_interval(interval), _check_points(points, len(basis)))
    own = torch.tensor(basis_parameter_init(basis), dtype=torch.float64)
    cols, offset = [], 0
    for name in basis:
        b = AF.basis_function(name)
        params = [own[offset + i] for i in range(b.num_params)]
        offset += b.num_params
        cols.append(b.fn(grid, *params, training=False).numpy())
    w, *_ = np.linalg.lstsq(np.stack(cols, axis=1), _target_values(target, grid).numpy(), rcond=None)
    return tuple(float(v) for v in w)


# --------------------------------------------------------------------------- the shipped table


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


def initial_coefficients(
    target: str | Callable = "leaky_relu",
    degrees: Sequence[int] = (5, 4),
    form: str = "A",
    interval: Sequence[float] = DEFAULT_INTERVAL,
    *,
    option: str = "target",
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """PAU coefficients ``(a_0..a_m, b_1..b_n)`` approximating ``target`` on ``interval``.

    Read from the shipped table (a named target on the default interval), else
    from :func:`fit_pau` (cached in memory and on disk).
    """
    m, n = check_degrees(degrees)
    form = _check_form(form)
    interval = check_interval(interval, "interval" if option == "target" else f"{option}_range")
    if isinstance(target, str) and interval == DEFAULT_INTERVAL:
        table = load_table()
        hit = table["entries"].get(table_key(_canonical_target(target, option), (m, n), form))
        if hit is not None and table.get("points") == DEFAULT_POINTS:
            return tuple(hit["numerator"]), tuple(hit["denominator"])
    r = fit_pau(target, (m, n), form, interval, option=option)
    return r.numerator, r.denominator


def build_table(
    targets: Sequence[str] | None = None,
    degrees: Sequence[tuple[int, int]] = TABLE_DEGREES,
    forms: Sequence[str] = AF.PAU_FORMS,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Fit every (target, degrees, form) anew and return the table written to ``tables/pau_init.json``.

    ``targets`` defaults to every fixed activation (:func:`fixed_targets`).
    """
    entries = {}
    for target in fixed_targets() if targets is None else targets:
        name = _canonical_target(target, "target")
        for deg in degrees:
            for form in forms:
                r = fit_pau(name, deg, form, cache=False)
                key = table_key(name, deg, form)
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
        "fit_version": FIT_VERSION,
        "entries": entries,
    }
