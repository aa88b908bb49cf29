"""RPAU in training on the fused C kernel: noise from the counter hash, equal to the reference with the same draws.

The fused call is made as the dispatcher makes it (:func:`adaptact.kernels.fused.run` with the
lowering and the reference call), so these tests hold before the family is registered.
"""
from __future__ import annotations

import pytest
import torch
from scipy import stats

from adaptact import functional as AF
from adaptact import kernels as K
from adaptact.kernels.c_engine import CEngine
from adaptact.kernels.fused import ReferenceCall, coefficient_uniform, run, tensor_arguments
from adaptact.kernels.lowering import lower_rpau_training

pytestmark = pytest.mark.skipif("c" not in K.available(), reason="no C compiler: the C kernels are off")

DELTA = 0.05


def fused_rpau(x, a, b, delta=DELTA, form="A"):
    args, kwargs = (x, a, b, delta), {"form": form}
    lowered = lower_rpau_training(*args, **kwargs)
    assert not isinstance(lowered, str), lowered
    reference = ReferenceCall.of(AF.rpau_training, x, args, kwargs)
    return run(lowered, reference, tensor_arguments(args, kwargs), CEngine())


def _seeded(torch_seed):
    torch.manual_seed(torch_seed)
    return int(torch.randint(0, 2**62, (1,)).item())


def _coefficients(c=None):
    g = torch.Generator().manual_seed(0)
    shape = (c,) if c else ()
    a = (0.5 * torch.randn(shape + (6,), generator=g)).requires_grad_(True)
    b = (0.5 * torch.randn(shape + (4,), generator=g)).requires_grad_(True)
    return a, b


@pytest.mark.parametrize("form", ["A", "B"])
@pytest.mark.parametrize("shape,channels", [((3, 5000), None), ((2, 3, 7, 5), 3)], ids=["row", "channels"])
def test_fused_rpau_equals_the_reference_with_the_kernels_draws(form, shape, channels):
    x = (2.0 * torch.randn(shape)).requires_grad_(True)
    a, b = _coefficients(channels)
    seed = _seeded(5)
    torch.manual_seed(5)
    y = fused_rpau(x, a, b, form=form)
    # the float64 reference on the same values and the same (float32) draws, as every kernel equality test
    x64, a64, b64 = (t.detach().double().requires_grad_(True) for t in (x, a, b))
    with AF.rrelu_uniform_source(lambda t: coefficient_uniform(t, seed).to(t.dtype)):
        ref = AF.rpau_training(x64, a64, b64, DELTA, form)
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)
    dy = torch.randn(shape)
    got = torch.autograd.grad(y, [x, a, b], dy)
    want = torch.autograd.grad(ref, [x64, a64, b64], dy.double())
    torch.testing.assert_close(got[0].double(), want[0], rtol=1e-5, atol=1e-5)
    for g, w in zip(got[1:], want[1:]):
        torch.testing.assert_close(g.double(), w, rtol=1e-4,
                                   atol=1e-5 * x.numel() ** 0.5 + 1e-4 * w.abs().max().item())


def test_fused_rpau_noise_is_uniform_independent_and_fresh_per_call():
    """y = a0 (1 + u0) + a1 (1 + u1) x at x = 1 with a0 = 1, a1 = 2: y - 3 = u0 + 2 u1.

    At x = 0, y - 1 = u0 must be U(-delta, delta) (KS test); at x = 1 the variance of u0 + 2 u1 is
    5 delta^2 / 3 only if u0 and u1 are independent; two calls draw different noise."""
    a = torch.tensor([1.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    b = torch.zeros(4)
    u0 = fused_rpau(torch.zeros(20000), a, b) - 1.0
    ks = stats.kstest(u0.numpy(), stats.uniform(loc=-DELTA, scale=2 * DELTA).cdf)
    assert ks.pvalue > 1e-3, ks
    s = fused_rpau(torch.ones(20000), a, b) - 3.0
    assert abs(s.var().item() / (5 * DELTA**2 / 3) - 1.0) < 0.05
    assert abs(s.mean().item()) < 4 * (5 * DELTA**2 / 3 / 20000) ** 0.5
    assert not torch.equal(fused_rpau(torch.zeros(100), a, b), fused_rpau(torch.zeros(100), a, b))


def test_fused_rpau_double_backward_equals_the_reference_with_the_same_noise():
    x = torch.randn(4, 300, requires_grad=True)
    a, b = _coefficients()
    seed = _seeded(9)
    torch.manual_seed(9)
    y = fused_rpau(x, a, b)
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    got = torch.autograd.grad((gx**2).sum(), [x, a, b])
    with AF.rrelu_uniform_source(lambda t: coefficient_uniform(t, seed)):
        ref = AF.rpau_training(x, a, b, DELTA)
    (rgx,) = torch.autograd.grad(ref.sum(), x, create_graph=True)
    want = torch.autograd.grad((rgx**2).sum(), [x, a, b])
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4 * (1.0 + w.abs().max().item()))


def test_rpau_lowering_refuses_delta_of_one_or_more():
    a, b = _coefficients()
    assert "outside [0, 1)" in lower_rpau_training(torch.zeros(3), a, b, 1.0)


def test_coefficient_noise_is_uniform_uncorrelated_and_seeded():
    """Every coefficient's draws are U(0, 1) on the 2^-16 grid (KS), no two coefficients nor neighbouring
    elements are correlated (|r| < 4/sqrt(n)), and another seed gives other numbers."""
    n, k = 50_000, 10
    u = coefficient_uniform(torch.empty(n, k), seed=123456789012345)
    assert u.dtype == torch.float32 and float(u.min()) > 0.0 and float(u.max()) < 1.0
    for j in range(k):
        assert stats.kstest(u[:, j].numpy(), "uniform").pvalue > 1e-4, j
    r = torch.corrcoef(u.double().t())
    assert (r - torch.eye(k, dtype=torch.float64)).abs().max() < 4 / n**0.5
    lag = torch.corrcoef(torch.stack([u[:-1, 0], u[1:, 0]]).double())[0, 1]
    assert abs(lag) < 4 / n**0.5
    assert not torch.equal(u, coefficient_uniform(torch.empty(n, k), seed=123456789012346))
