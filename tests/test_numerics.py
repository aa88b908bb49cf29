"""Numerics: every unit is finite wherever its true value is, on the fused path and the reference alike.

"True value": the float64 reference on the same (dtype-rounded) input. An output must be finite where
that value is representable in the dtype; an input gradient where, in addition, its float64 value is;
a parameter gradient (a sum over elements) where every float64 term is finite and their absolute sum
is representable in float32. In the fuzz an element is judged only where ``|x| * max(1, max|theta|)^2``
is representable too: beyond, the products of the input with one or two parameters that a unit is
made of (``a_in x``, ``w_j f_j(x)``, ``a_out a_in x``) overflow whatever the formula (the PAU and the
other reported cases are checked up to the float32 maximum by the regression tests).

Regression tests for the reported cases come first, then a fuzz test (hypothesis) of every registered
trainable unit over random finite inputs (zero, subnormals, 1e-30 up to the float32 maximum) and
random parameters, in float32, float16, bfloat16 and under CPU autocast.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adaptact as aa
from adaptact import functional as AF
from adaptact import kernels as K

needs_c = pytest.mark.skipif("c" not in K.available(), reason="no C compiler: the C kernels are off")
PATHS = ["auto", "reference"]
F32_MAX = torch.finfo(torch.float32).max


def _grads(fn, x, *params):
    """``fn(x, *params)`` and the gradients of its sum (params that are not used get zeros)."""
    x = x.detach().requires_grad_(True)
    params = [p.detach().requires_grad_(True) for p in params]
    y = fn(x, *params)
    grads = torch.autograd.grad(y.sum(), [x] + params, allow_unused=True, materialize_grads=True)
    return y.detach(), grads


def _pau_case(m, n, seed):
    g = torch.Generator().manual_seed(seed)
    return (0.5 * torch.randn(m + 1, generator=g, dtype=torch.float64),
            0.5 * torch.randn(n, generator=g, dtype=torch.float64))


# --------------------------------------------------------------------------- PAU far from 0

BIG = [1e8, -1e8, 1e10, -1e10, 1e20, -1e20, 1e30, -1e30, 1e38, -1e38, 3e38, -3e38]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("form", ["A", "B"])
def test_pau_5_4_is_finite_and_right_up_to_the_float32_maximum(path, form):
    """Used to give inf at |x| = 1e8 (x^5 overflows) and NaN at 1e10 (inf/inf), on both paths."""
    unit = aa.create("pau", form=form)
    a, b = unit.numerator.detach(), unit.denominator.detach()
    x = torch.tensor(BIG)
    with K.use(path):
        y, (dx, da, db) = _grads(lambda x, a, b: K.pau(x, a, b, form), x, a, b)
    want = AF.pau(x.double(), a.double(), b.double(), form)
    torch.testing.assert_close(y.double(), want, rtol=1e-5, atol=0)
    # far from 0 a (5, 4) PAU is a5/|b4| x (form A) plus a constant: the slope is the derivative
    slope = (a[5] / b[3].abs()).item()  # the same in both forms
    torch.testing.assert_close(dx, torch.full_like(dx, slope), rtol=1e-4, atol=0)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("form", ["A", "B"])
@pytest.mark.parametrize("m, n", [(5, 4), (3, 2), (2, 6), (0, 1), (1, 1), (4, 4), (3, 5), (7, 2), (4, 0)])
def test_pau_of_any_degrees_equals_float64_far_from_0(path, form, m, n):
    a, b = _pau_case(m, n, seed=m * 10 + n)
    values = torch.tensor([0.3, -0.9, 1.0, -1.0, 1.0000001, -1.5, 3.0, 1e3, -1e4, 1e6, -1e7, 1e9, 1e15, -1e20, 1e30])
    x64 = values.double()
    y64 = AF.pau(x64, a, b, form)
    keep = y64.abs() < F32_MAX / 2  # degrees with m > n overflow float32 early, rightly
    with K.use(path):
        y, (dx, _, _) = _grads(lambda x, a, b: K.pau(x, a, b, form), values, a.float(), b.float())
    assert torch.isfinite(y[keep]).all() and torch.isfinite(dx[keep]).all()
    torch.testing.assert_close(y.double()[keep], y64[keep], rtol=2e-5, atol=1e-6)
    _, (dx64, _, _) = _grads(lambda x, a, b: AF.pau(x, a, b, form), x64, a, b)
    torch.testing.assert_close(dx.double()[keep], dx64[keep], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("path", PATHS)
def test_pau_parameter_gradients_far_from_0(path):
    """Each element's gradient: x^j/Q near 0, sign^n x^(j-n)/Q~ far; finite where representable."""
    unit = aa.create("pau")
    a, b = unit.numerator.detach(), unit.denominator.detach()
    for v in [3.0, -1e5, 1e10, -1e20, 1e30]:
        x = torch.tensor([v])
        with K.use(path):
            _, (_, da, db) = _grads(lambda x, a, b: K.pau(x, a, b), x, a, b)
        _, (_, da64, db64) = _grads(lambda x, a, b: AF.pau(x, a, b), x.double(), a.double(), b.double())
        for got, want in ((da, da64), (db, db64)):
            fine = want.abs() < F32_MAX / 2
            assert torch.isfinite(got[fine]).all(), (v, got, want)
            # atol: the float32 reference takes the terms in 1/x at 1/x = 2^-64 beyond 2^64 (errors below 1e-18)
            torch.testing.assert_close(got.double()[fine], want[fine], rtol=1e-4, atol=1e-18)


def test_the_far_form_is_smooth_across_the_switch():
    """float64 gradcheck and gradgradcheck where the formulas switch (|x| = 1) and far from 0, both forms."""
    a, b = _pau_case(5, 4, seed=3)
    x = torch.tensor([-1.0 - 1e-9, -1.0 + 1e-9, 1.0 - 1e-9, 1.0 + 1e-9, 2.5, -7.0, 1e3], dtype=torch.float64,
                     requires_grad=True)
    for form in "AB":
        args = (x, a.clone().requires_grad_(True), b.clone().requires_grad_(True))
        f = lambda x, a, b: AF.pau(x, a, b, form)  # noqa: E731
        assert torch.autograd.gradcheck(f, args, eps=1e-7, atol=1e-5, rtol=1e-4)
        assert torch.autograd.gradgradcheck(f, args, eps=1e-7, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("path", PATHS)
def test_slaf_gradient_is_finite_where_its_value_is(path):
    """A polynomial with a ~0 leading coefficient: y(1e10) = -1.5e38 is finite, and so is y'; plain
    Horner's backward formed x^4 = 1e40 and gave inf."""
    c = aa.create("slaf").coefficients.detach()
    x = torch.tensor([1e10, -1e10, 1e9])
    with K.use(path):
        y, (dx, dc) = _grads(K.slaf, x, c)
    y64, (dx64, _) = _grads(AF.slaf, x.double(), c.double())
    assert (y64.abs() < F32_MAX).all()
    torch.testing.assert_close(y.double(), y64, rtol=1e-5, atol=0)
    torch.testing.assert_close(dx.double(), dx64, rtol=1e-4, atol=0)


# --------------------------------------------------------------------------- parameter gradients of the fused path

HUGE = torch.tensor([-3e38, -1e30, -1e20, -2.5, -0.5, 0.0, 0.5, 2.5, 1e20, 1e30, 3e38])

SWISH_UNITS = ["swish_beta", "arelu", "abu", "abu_soft", "scaled_swish_beta", "affine_swish_beta"]


@needs_c
@pytest.mark.parametrize("name, options", [(n, {}) for n in SWISH_UNITS] + [("arelu", {"cdf": "logistic"})])
def test_fused_parameter_gradients_stay_finite_at_huge_inputs(name, options):
    """The C kernels gave NaN parameter gradients (beta, rho, ...) once one |x| >= 1e20: x*x*sigmoid'(..) was
    inf*0. The huge inputs contribute 0, so the gradients equal those of the moderate inputs alone."""
    unit = aa.create(name, **options)
    x = HUGE.clone().requires_grad_(True)
    with K.use("c"):
        y = unit(x)
    names = ["x"] + [n for n, _ in unit.named_parameters()]
    grads = torch.autograd.grad(y.sum(), [x] + list(unit.parameters()))
    ref = copy.deepcopy(unit).double()
    x64 = HUGE.double().requires_grad_(True)
    with K.use("reference"):
        want = torch.autograd.grad(ref(x64).sum(), [x64] + list(ref.parameters()))
    for pname, got, w in zip(names, grads, want):
        assert torch.isfinite(got).all(), (name, pname, got)
        if pname in ("x", "beta", "rho", "basis_params"):  # the others sum terms of 1e38 (float32 rounding)
            torch.testing.assert_close(got.double(), w, rtol=1e-4, atol=1e-5)


@needs_c
@pytest.mark.parametrize("cdf", ["exponential", "logistic"])
@pytest.mark.parametrize("rho", [-80.0, -50.0, -20.0, 0.0, 20.0, 80.0])
def test_fused_arelu_is_right_for_extreme_rho(cdf, rho):
    """alpha = e^rho from 2e-35 to 6e34: alpha x overflows, and exp(-alpha x) or sigmoid'(alpha x) is 0 there."""
    r = torch.tensor(rho)
    with K.use("c"):
        y, (dx, dr) = _grads(lambda x, r: K.arelu(x, r, cdf), HUGE, r)
    y64, (dx64, dr64) = _grads(lambda x, r: AF.arelu(x, r, cdf), HUGE.double(), r.double())
    assert torch.isfinite(y).all() and torch.isfinite(dx).all() and torch.isfinite(dr).all()
    torch.testing.assert_close(y.double(), y64, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dx.double(), dx64, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(dr.double(), dr64, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- AGumbel at extreme shapes

AG_X = torch.tensor([-3e38, -1e10, -200.0, -100.0, -90.0, -50.0, -10.0, -3.0, -1.0, 0.0, 1.0, 3.0, 10.0, 50.0,
                     100.0, 1e4, 3e38])


def _agumbel_exact(x, rho):
    """1 - (1 + a e^x)^(-1/a), a = e^rho, in float64 through log1p/expm1 (moderate x and rho only)."""
    a = math.exp(rho)
    return -torch.expm1(-torch.log1p(a * torch.exp(x)) / a)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("rho", [-150.0, -100.0, -88.5, -86.0, -20.0, 0.0, 3.0, 20.0, 90.0])
def test_agumbel_is_right_for_extreme_rho(path, rho):
    """The C path returned 0 for rho <= -86 (e^{-rho} s underflowed) and NaN from -88.5 (inf * 0)."""
    r = torch.tensor(rho)
    with K.use(path):
        y, (dx, dr) = _grads(K.agumbel, AG_X, r)
    y64, (dx64, dr64) = _grads(AF.agumbel, AG_X.double(), r.double())
    assert torch.isfinite(y).all() and torch.isfinite(dx).all() and torch.isfinite(dr).all()
    torch.testing.assert_close(y.double(), y64, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dx.double(), dx64, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(dr.double(), dr64, rtol=1e-4, atol=1e-6)
    if abs(rho) <= 20:
        moderate = AG_X.abs() <= 100
        torch.testing.assert_close(y64[moderate], _agumbel_exact(AG_X.double()[moderate], rho), rtol=1e-9,
                                   atol=1e-12)


def test_agumbel_reference_is_smooth_across_its_branches():
    """float64 gradcheck where the evaluation switches: z = x + rho at 0, where t = e^z passes 1e-4, large w."""
    rho = torch.tensor(-1.5, dtype=torch.float64, requires_grad=True)
    x = torch.tensor([1.5 - 1e-7, 1.5 + 1e-7, -7.71, -7.72, -30.0, 5.0, 40.0], dtype=torch.float64,
                     requires_grad=True)
    assert torch.autograd.gradcheck(AF.agumbel, (x, rho), eps=1e-7, atol=1e-6, rtol=1e-4)
    assert torch.autograd.gradgradcheck(AF.agumbel, (x, rho), eps=1e-7, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["scaled_gelu", "affine_gelu"])
def test_gelu_is_finite_up_to_the_float32_maximum(path, name):
    unit = aa.create(name)
    x = torch.tensor([1e30, 1.7e38, 3e38, -3e38]).requires_grad_(True)
    with K.use(path):
        y = unit(x)
    (dx,) = torch.autograd.grad(y.sum(), [x])
    torch.testing.assert_close(y, torch.tensor([1e30, 1.7e38, 3e38, 0.0]), rtol=1e-6, atol=0)
    torch.testing.assert_close(dx, torch.tensor([1.0, 1.0, 1.0, 0.0]))


# --------------------------------------------------------------------------- fuzz

TRAINABLE = aa.list_activations(trainable=True)
SPECIAL = [0.0, 1e-45, 1e-40, 1.2e-38, 1e-30, 1e-7, 0.5, 1.0, 1.5, 20.0, 88.7, 1e4, 7e4, 1e8, 1e10, 1e20, 1e30,
           1e38, 3e38, 3.4e38]
#: parameter noise scales: the unit's own start, small and large changes
SCALES = [0.0, 0.1, 1.0, 5.0]
DTYPES = ["float32", "float16", "bfloat16", "autocast"]


def _value():
    magnitude = st.one_of(
        st.sampled_from(SPECIAL),
        st.floats(-45.0, 38.5).map(lambda e: 10.0**e),
        st.floats(0.0, 10.0),
    )
    return st.tuples(st.sampled_from([1.0, -1.0]), magnitude).map(lambda sv: sv[0] * sv[1])


def _perturbed(unit, scale: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in unit.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype))
    return unit


def _contributions(unit64, x64):
    """float64 parameter-gradient terms of each element: a list (one per parameter) of ``(numel(x), *p.shape)``."""
    params = list(unit64.parameters())
    x64 = x64.detach().requires_grad_(True)
    with K.use("reference"):
        y = unit64(x64).reshape(-1)
    rows = []
    for i in range(y.numel()):
        rows.append(torch.autograd.grad(y[i], params, retain_graph=True, allow_unused=True, materialize_grads=True))
    return [torch.stack([r[k] for r in rows]) for k in range(len(params))]


def _check_unit(name: str, per_channel: bool, dtype_name: str, values: list[float], scale: float, seed: int):
    channels = 2
    length = max(1, len(values) // channels)
    values = (values * (channels * length))[: channels * length]
    unit = aa.create(name, num_features=channels) if per_channel else aa.create(name)
    unit = _perturbed(unit, scale, seed).eval()
    unit64 = copy.deepcopy(unit).double()
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(dtype_name, torch.float32)
    limit = torch.finfo(torch.bfloat16 if dtype_name == "autocast" else dtype).max * 0.99
    x64 = torch.tensor(values, dtype=torch.float64).clamp(-limit, limit).reshape(1, channels, length)
    x = x64.to(dtype)
    x_seen = x.double()  # the input the unit actually gets
    with K.use("reference"):
        y64, dx64 = _input_grads(unit64, x_seen)
    largest = max([1.0] + [p.detach().abs().max().item() for p in unit.parameters()])
    y_ok = torch.isfinite(y64) & (y64.abs() < limit) & (x_seen.abs() * largest**2 < limit)
    dx_ok = y_ok & torch.isfinite(dx64) & (dx64.abs() < limit)
    benign = torch.where(y_ok & dx_ok, x_seen, torch.zeros_like(x_seen))
    terms = _contributions(unit64, benign)
    for path in PATHS:
        where = f"{name}{'[per-channel]' if per_channel else ''} {dtype_name} {path} x={values} scale={scale}"
        with K.use(path):
            if dtype_name == "autocast":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    y, dx = _input_grads(unit, x)
            else:
                y, dx = _input_grads(unit, x)
        assert torch.isfinite(y[y_ok]).all(), f"{where}: output {y[y_ok].tolist()} want {y64[y_ok].tolist()}"
        assert torch.isfinite(dx[dx_ok]).all(), f"{where}: dx {dx[dx_ok].tolist()} want {dx64[dx_ok].tolist()}"
        xb = benign.to(dtype).requires_grad_(True)
        unit.zero_grad()
        with K.use(path):
            if dtype_name == "autocast":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out = unit(xb)
            else:
                out = unit(xb)
        out.float().sum().backward()
        for (pname, p), term in zip(unit.named_parameters(), terms):
            fine = torch.isfinite(term).all(0) & (term.abs().sum(0) < F32_MAX * 0.5)
            got = p.grad if p.grad is not None else torch.zeros_like(p)
            assert torch.isfinite(got[fine]).all(), f"{where}: d{pname} {got.tolist()} want {term.sum(0).tolist()}"


def _input_grads(unit, x):
    x = x.detach().requires_grad_(True)
    y = unit(x)
    (dx,) = torch.autograd.grad(y.float().sum(), [x])
    return y.detach().double(), dx.double()


def _fuzz_settings(examples: int):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


_FUZZ = dict(
    per_channel=st.booleans(),
    dtype_name=st.sampled_from(DTYPES),
    values=st.lists(_value(), min_size=1, max_size=6),
    scale=st.sampled_from(SCALES),
    seed=st.integers(0, 2**31 - 1),
)


@pytest.mark.parametrize("name", TRAINABLE)
@_fuzz_settings(8)
@given(**_FUZZ)
def test_fuzz_units_are_finite_where_the_true_value_is(name, per_channel, dtype_name, values, scale, seed):
    _check_unit(name, per_channel, dtype_name, values, scale, seed)


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINABLE)
@_fuzz_settings(40)
@given(**_FUZZ)
def test_fuzz_units_are_finite_where_the_true_value_is_more_examples(name, per_channel, dtype_name, values, scale,
                                                                   seed):
    _check_unit(name, per_channel, dtype_name, values, scale, seed)
