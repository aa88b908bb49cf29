"""Farhadi's CDF family: F(alpha x) and x F(alpha x) for every standard CDF of adaptact.cdfs.

Identities at the special parameter values, the limits the paper states, gradcheck in float64,
finite values and gradients at the float32 extremes, half precision, per-channel parameters,
and the fused arelu paths against the generic reference.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import adaptact as aa
from adaptact import functional as AF
from adaptact import kernels as K
from adaptact.cdfs import CDF_NAMES, standard_cdf
from adaptact.kernels.formulas import FUSED_CDFS

X = torch.linspace(-8, 8, 321, dtype=torch.float64)
RELU_CDFS = [c for c in CDF_NAMES if c != "exponential"]


def f64(name, **opts):
    return aa.create(name, dtype=torch.float64, **opts)


def naive_cdf(name: str, z: torch.Tensor) -> torch.Tensor:
    """The textbook formula of each CDF, in float64 (fine for moderate z)."""
    if name == "exponential":
        return torch.where(z > 0, 1 - torch.exp(-z), torch.zeros_like(z))
    if name == "logistic":
        return 1 / (1 + torch.exp(-z))
    if name == "gumbel":
        return 1 - torch.exp(-torch.exp(z))
    if name == "reverse_gumbel":
        return torch.exp(-torch.exp(-z))
    if name == "normal":
        return 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    if name == "cauchy":
        return 0.5 + torch.atan(z) / math.pi
    if name == "laplace":
        return torch.where(z < 0, 0.5 * torch.exp(z), 1 - 0.5 * torch.exp(-z))
    raise AssertionError(name)


# --------------------------------------------------------------------------- formulas and identities


@pytest.mark.parametrize("cdf", CDF_NAMES)
@pytest.mark.parametrize("alpha", [0.05, 1.0, 3.0, 40.0])
def test_each_unit_is_its_formula(cdf, alpha):
    z = alpha * X
    torch.testing.assert_close(f64(f"cdf_{cdf}", alpha=alpha)(X), naive_cdf(cdf, z), rtol=1e-10, atol=1e-13)
    relu = f64("arelu", alpha=alpha) if cdf == "exponential" else f64(f"arelu_{cdf}", alpha=alpha)
    torch.testing.assert_close(relu(X), X * naive_cdf(cdf, z), rtol=1e-10, atol=1e-13)


def test_each_standard_cdf_is_a_distribution_function():
    """Non-decreasing, from 0 to 1, and the reflection of Gumbel is 1 - Gumbel(-z)."""
    z = torch.linspace(-60, 60, 2001, dtype=torch.float64)
    for name in CDF_NAMES:
        f = standard_cdf(z, name)
        assert (f.diff() >= 0).all(), name
        assert f[0] < 0.02 and f[-1] > 0.98, name
    torch.testing.assert_close(standard_cdf(z, "reverse_gumbel"), 1 - standard_cdf(-z, "gumbel"), rtol=0, atol=1e-15)


def test_logistic_cdf_at_alpha_one_is_the_sigmoid_and_equals_agumbel_at_alpha_one():
    torch.testing.assert_close(f64("cdf_logistic")(X), torch.sigmoid(X), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(f64("cdf_logistic")(X), f64("agumbel")(X), rtol=1e-12, atol=1e-14)


def test_gumbel_cdf_is_the_limit_of_adaptive_gumbel_as_alpha_goes_to_zero():
    target = f64("cdf_gumbel")(X)
    torch.testing.assert_close(target, 1 - torch.exp(-torch.exp(X)), rtol=1e-12, atol=1e-14)
    errors = [(f64("agumbel", alpha=a)(X) - target).abs().max().item() for a in (1e-1, 1e-3, 1e-5, 1e-8)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-7


def test_normal_cdf_at_alpha_one_is_phi_and_its_adaptive_relu_is_the_exact_gelu():
    torch.testing.assert_close(f64("cdf_probit")(X), 0.5 * torch.erfc(-X / math.sqrt(2)), rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(f64("arelu_normal")(X), F.gelu(X), rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(f64("arelu_probit")(X), F.gelu(X), rtol=1e-13, atol=1e-15)


def test_logistic_adaptive_relu_is_silu_at_one_and_quick_gelu_at_1_702():
    torch.testing.assert_close(f64("arelu_logistic")(X), F.silu(X), rtol=1e-13, atol=1e-15)
    quick = f64("arelu_logistic", alpha=1.702)(X)
    torch.testing.assert_close(quick, X * torch.sigmoid(1.702 * X), rtol=1e-13, atol=1e-15)
    assert (quick - F.gelu(X)).abs().max() < 0.021  # quick GELU's known error against the exact one


@pytest.mark.parametrize("cdf", RELU_CDFS)
def test_adaptive_relu_tends_to_relu_as_alpha_grows(cdf):
    errors = [(f64(f"arelu_{cdf}", alpha=a)(X) - F.relu(X)).abs().max().item() for a in (1.0, 10.0, 1e3, 1e6)]
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 1e-6  # Cauchy's heavy tail: 1/(pi alpha); the others vanish much faster


@pytest.mark.parametrize("cdf", CDF_NAMES)
def test_cdf_tends_to_the_heaviside_step_as_alpha_grows(cdf):
    x = X[X.abs() > 0.01]
    errors = [(f64(f"cdf_{cdf}", alpha=a)(x) - (x > 0).double()).abs().max().item() for a in (1.0, 1e2, 1e5, 1e8)]
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 1e-5


def test_cauchy_adaptive_relu_keeps_its_tail_at_the_float32_extremes():
    """x F(alpha x) -> -1/(pi alpha) as x -> -inf: exact in float32 down to -3e38 (no cancellation, no 0 * inf)."""
    x = torch.tensor([-3e38, -1e30, -1e10])
    for alpha in (1.0, 1e4, 1e-10):
        y = aa.create("arelu_cauchy", alpha=alpha)(x).double()
        want = AF.cdf_relu(x.double(), torch.tensor(math.log(alpha), dtype=torch.float64), "cauchy")
        exact = x.double() * (torch.atan(-1 / (alpha * x.double())) / math.pi)
        torch.testing.assert_close(want, exact, rtol=1e-12, atol=0)
        torch.testing.assert_close(y, exact, rtol=1e-5, atol=0)
    y = aa.create("cdf_cauchy")(torch.tensor([-1e30, 1e30]))
    assert y[0].item() == pytest.approx(1 / (math.pi * 1e30), rel=1e-5) and y[1].item() == 1.0


# --------------------------------------------------------------------------- gradients

#: points on every evaluation branch (|x| <= 1 or not, |alpha x| <= 1 or not), away from the kinks
#: of Laplace and the exponential CDF at 0 and from Gumbel's cut-off at z = 7
GRAD_X = torch.tensor([-9.3, -2.2, -1.4, -0.61, -0.13, 0.07, 0.42, 0.93, 1.6, 3.1, 5.5], dtype=torch.float64)


@pytest.mark.parametrize("cdf", CDF_NAMES)
@pytest.mark.parametrize("construction", ["cdf", "relu"])
def test_gradcheck_and_gradgradcheck_float64(cdf, construction):
    fn = AF.adaptive_cdf if construction == "cdf" else AF.cdf_relu
    x = GRAD_X.reshape(1, 1, -1).expand(1, 3, -1).contiguous().requires_grad_(True)
    rho = torch.tensor([-1.3, 0.2, 1.1], dtype=torch.float64, requires_grad=True)
    f = lambda x, rho: fn(x, rho, cdf)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, rho), eps=1e-6, atol=1e-6, rtol=1e-4)
    assert torch.autograd.gradgradcheck(f, (x, rho), eps=1e-6, atol=1e-5, rtol=1e-3)


# --------------------------------------------------------------------------- extremes and half precision

HUGE = torch.tensor([-3.4e38, -3e38, -1e30, -1e20, -1e5, -2.5, -1.0, -0.5, -1e-30, 0.0, 1e-40, 0.5, 1.0, 2.5,
                     1e5, 1e20, 1e30, 3e38, 3.4e38])
RHOS = [-88.0, -60.0, -20.0, 0.0, 20.0, 60.0, 88.0]


def _value_and_grads(fn, x, rho):
    x = x.detach().requires_grad_(True)
    rho = rho.detach().requires_grad_(True)
    y = fn(x, rho)
    dx, dr = torch.autograd.grad(y.sum(), [x, rho])
    return y.detach(), dx, dr


@pytest.mark.parametrize("cdf", CDF_NAMES)
@pytest.mark.parametrize("construction", ["cdf", "relu"])
def test_float32_is_finite_and_right_up_to_the_largest_float_for_extreme_alpha(cdf, construction):
    fn = AF.adaptive_cdf if construction == "cdf" else AF.cdf_relu
    f = lambda x, rho: fn(x, rho, cdf)  # noqa: E731
    for rho in RHOS:
        y, dx, dr = _value_and_grads(f, HUGE, torch.tensor(rho))
        y64, dx64, dr64 = _value_and_grads(f, HUGE.double(), torch.tensor(rho, dtype=torch.float64))
        where = f"{construction} {cdf} rho={rho}"
        assert torch.isfinite(y).all() and torch.isfinite(dx).all() and torch.isfinite(dr).all(), where
        torch.testing.assert_close(y.double(), y64, rtol=1e-5, atol=1e-6, msg=where)
        torch.testing.assert_close(dx.double(), dx64, rtol=1e-4, atol=1e-6, msg=where)
        torch.testing.assert_close(dr.double(), dr64, rtol=1e-4, atol=1e-5, msg=where)


@pytest.mark.parametrize("cdf", FUSED_CDFS)
@pytest.mark.parametrize("construction", ["cdf", "relu"])
def test_the_fused_kernels_match_float64_up_to_the_largest_float_for_extreme_alpha(cdf, construction):
    """The C kernel (float32) against the float64 reference, also where alpha = e^rho under- or overflows."""
    fused = K.adaptive_cdf if construction == "cdf" else K.cdf_relu
    reference = AF.adaptive_cdf if construction == "cdf" else AF.cdf_relu
    for rho in RHOS + [-100.0, -45.0, -39.0, 89.0, 100.0]:
        with K.use("c"):
            y, dx, dr = _value_and_grads(lambda x, r: fused(x, r, cdf), HUGE, torch.tensor(rho))
        y64, dx64, dr64 = _value_and_grads(lambda x, r: reference(x, r, cdf), HUGE.double(),
                                           torch.tensor(rho, dtype=torch.float64))
        where = f"fused {construction} {cdf} rho={rho}"
        assert torch.isfinite(y).all() and torch.isfinite(dx).all() and torch.isfinite(dr).all(), where
        torch.testing.assert_close(y.double(), y64, rtol=1e-5, atol=1e-6, msg=where)
        torch.testing.assert_close(dx.double(), dx64, rtol=1e-4, atol=1e-6, msg=where)
        torch.testing.assert_close(dr.double(), dr64, rtol=1e-4, atol=1e-5, msg=where)


def test_normal_and_cauchy_stay_on_the_reference_and_the_others_run_fused():
    x = torch.randn(2, 3, 4)
    for cdf in CDF_NAMES:
        for name in (f"cdf_{cdf}", "arelu" if cdf == "exponential" else f"arelu_{cdf}"):
            with K.record() as used:
                aa.create(name)(x)
            assert used == (["reference"] if cdf in ("normal", "cauchy") else ["c"]), (name, used)
    with pytest.raises(K.KernelUnavailable, match="normal CDF has no fused formula"):
        with K.use("c"):
            K.adaptive_cdf(x, torch.tensor(0.0), "probit")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", [f"cdf_{c}" for c in CDF_NAMES] + [f"arelu_{c}" for c in RELU_CDFS])
def test_half_types_are_computed_in_float32(name, dtype):
    limit = torch.finfo(dtype).max
    x = torch.cat([torch.linspace(-6, 6, 49), torch.tensor([-limit, -1e4, 1e4, limit])]).to(dtype)
    unit = aa.create(name, num_features=2)
    unit.fill_("rho", torch.tensor([-3.0, 2.0]))
    xin = x.reshape(1, 1, -1).expand(2, 2, -1).contiguous().requires_grad_(True)
    y = unit(xin)
    (dx,) = torch.autograd.grad(y.float().sum(), [xin])
    assert y.dtype == dtype and torch.isfinite(y).all() and torch.isfinite(dx).all()
    assert torch.isfinite(unit.rho.grad if unit.rho.grad is not None else torch.zeros(1)).all()
    want = unit(xin.detach().float())
    torch.testing.assert_close(y, want.to(dtype), rtol=0, atol=0)


# --------------------------------------------------------------------------- per-channel parameters


@pytest.mark.parametrize("name", ["cdf_cauchy", "arelu_gumbel", "cdf_normal", "arelu_laplace"])
def test_per_channel_alpha_follows_channel_dim(name):
    alphas = torch.tensor([0.3, 1.0, 7.0], dtype=torch.float64)
    x = torch.randn(2, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3
    last = f64(name, num_features=3, channel_dim=-1)
    last.fill_("rho", alphas.log())
    first = f64(name, num_features=3)
    first.fill_("rho", alphas.log())
    y = last(x)
    for c, a in enumerate(alphas.tolist()):
        torch.testing.assert_close(y[..., c], f64(name, alpha=a)(x[..., c]), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(first(x.transpose(1, 2)).transpose(1, 2), y, rtol=0, atol=0)
    lazy = f64(name, num_features="lazy", channel_dim=-1)
    lazy(x)
    assert lazy.rho.shape == (3,)


def test_parameter_gradient_is_per_channel():
    unit = f64("arelu_normal", num_features=2)
    x = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]], dtype=torch.float64)  # channel 1 sees only zeros
    unit(x).sum().backward()
    assert unit.rho.grad[0] != 0 and unit.rho.grad[1] == 0


# --------------------------------------------------------------------------- the fused arelu paths and the registry


@pytest.mark.parametrize("path", ["auto", "reference"])
@pytest.mark.parametrize("cdf", ["exponential", "logistic"])
def test_the_fused_arelu_cdfs_equal_the_generic_construction(path, cdf):
    x = torch.cat([torch.linspace(-9, 9, 73), torch.tensor([-1e20, 1e20])]).reshape(1, 1, -1).expand(2, 3, -1)
    rho = torch.tensor([-2.0, 0.0, 2.5])
    with K.use(path):
        y, dx, dr = _value_and_grads(lambda x, r: aa.functional.arelu(x, r, cdf) if path == "reference"
                                     else K.arelu(x, r, cdf), x, rho)
    y2, dx2, dr2 = _value_and_grads(lambda x, r: AF.cdf_relu(x, r, cdf), x, rho)
    torch.testing.assert_close(y, y2, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(dx, dx2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dr, dr2, rtol=1e-5, atol=1e-5)


def test_every_cdf_has_registered_names():
    names = set(aa.list_activations(family="cdf", aliases=True))
    for cdf in CDF_NAMES:
        assert f"cdf_{cdf}" in names
        assert (f"arelu_{cdf}" if cdf != "exponential" else "arelu") in names
    assert {"cdf_probit", "arelu_probit"} <= names
    assert aa.create("arelu", cdf="probit").cdf == "normal"


def test_unknown_cdf_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown cdf 'weibull'; choose from \['exponential', 'logistic'"):
        aa.create("arelu", cdf="weibull")
    with pytest.raises(ValueError, match="unknown cdf 'weibull'"):
        AF.adaptive_cdf(torch.zeros(2), torch.zeros(()), "weibull")
    with pytest.raises(ValueError, match="alpha must be > 0"):
        aa.create("cdf_normal", alpha=0.0)
