"""adaptact's C dropout: its masks are the counter hash of cmath.h (checked against the Python hash, element by
element), distributed as Bernoulli(1 - p) and independent as far as these tests can tell; backward and every
higher derivative apply the same mask; every call it does not serve is torch's own F.dropout."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from adaptact import kernels
from adaptact.kernels import c_build
from adaptact.kernels import dropout as D
from adaptact.kernels.fused import _keyed_hash
from adaptact.models import create_model
from adaptact.models.layers import Dropout

pytestmark = pytest.mark.skipif(c_build.compiler() is None, reason="needs a C compiler")


def expected_mask(n: int, seed: int, p: float) -> torch.Tensor:
    """The keep decisions of elements 0..n-1 in memory order, from the Python version of the hash."""
    return _keyed_hash(torch.arange(n, dtype=torch.int64), seed) >= D.keep_threshold(p)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("seed", [0, 7, 2**61 + 12345])
def test_mask_is_the_counter_hash(p, seed):
    x = torch.randn(3, 5, 7, 11) + 10.0  # no zeros: y != 0 exactly where kept
    y = D._apply(x, seed, p)
    keep = expected_mask(x.numel(), seed, p).view(x.shape)
    assert torch.equal(y != 0, keep)
    assert torch.equal(y[keep], x[keep] * torch.tensor(1.0 / (1.0 - p), dtype=torch.float32))


@pytest.mark.parametrize("p", [0.05, 0.5, 0.9])
def test_keep_rate_is_one_minus_p(p):
    n = 1 << 20
    kept = int(D._apply(torch.ones(n), 3, p).ne(0).sum())
    assert stats.binomtest(kept, n, 1.0 - p).pvalue > 1e-4


def test_masks_are_independent_of_neighbours_and_seeds():
    n = 1 << 20
    a = D._apply(torch.ones(n), 11, 0.5).ne(0).double()
    b = D._apply(torch.ones(n), 12, 0.5).ne(0).double()
    bound = 5.0 / n ** 0.5  # five standard errors of a correlation of independent draws
    for lag in (1, 2, 8, 16, 64, 1024, 16384):  # neighbours, channel and plane strides, the kernel's chunk
        assert abs(torch.corrcoef(torch.stack([a[:-lag], a[lag:]]))[0, 1]) < bound, lag
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1]) < bound
    # runs of kept elements as a Bernoulli(1/2) sequence has them: chi-square over run lengths 1..8
    changes = torch.nonzero(a[1:] != a[:-1]).flatten()
    runs = torch.diff(changes)
    counts = torch.bincount(runs, minlength=10)[1:9].double()
    expect = counts.sum() * torch.tensor([0.5 ** k for k in range(1, 9)], dtype=torch.float64)
    expect = expect / expect.sum() * counts.sum()
    assert stats.chisquare(counts.numpy(), expect.numpy()).pvalue > 1e-4


def test_backward_and_double_backward_apply_the_same_mask():
    x = (torch.randn(4, 6, 9, 9) + 10.0).requires_grad_()
    torch.manual_seed(5)
    y = D.dropout(x, 0.3)
    assert isinstance(y.grad_fn, D._HashDropout._backward_cls)
    keep = (y != 0).detach()
    scale = torch.tensor(1.0 / 0.7, dtype=torch.float32)
    g = torch.randn_like(y).requires_grad_()
    (gx,) = torch.autograd.grad(y, x, g, create_graph=True)
    assert torch.equal(gx, g.detach() * keep * scale)
    h = torch.randn_like(gx)
    (gg,) = torch.autograd.grad(gx, g, h)
    assert torch.equal(gg, h * keep * scale)


def test_the_adjoint_identity_holds():
    """<D x, g> = <x, D^T g>: backward is the transpose of forward (in float64 sums)."""
    x = torch.randn(2, 3, 17, 19, requires_grad=True)
    torch.manual_seed(9)
    y = D.dropout(x, 0.5)
    g = torch.randn_like(y)
    y.backward(g)
    assert torch.allclose((y.double() * g.double()).sum(), (x.double() * x.grad.double()).sum(), rtol=1e-6)


def test_channels_last_masks_follow_memory_order_and_gradients_of_other_strides():
    x = (torch.randn(2, 5, 6, 7) + 10.0).to(memory_format=torch.channels_last).requires_grad_()
    torch.manual_seed(1)
    y = D.dropout(x, 0.5)
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(1)
    seed = int(torch.randint(0, D._SEED_RANGE, (1,)).item())
    keep_nhwc = expected_mask(x.numel(), seed, 0.5).view(2, 6, 7, 5)
    assert torch.equal((y != 0).permute(0, 2, 3, 1), keep_nhwc)
    g = torch.randn(2, 5, 6, 7)  # contiguous: other strides than x's
    y.backward(g)
    assert torch.equal(x.grad != 0, y != 0)
    assert torch.equal(x.grad[y != 0], g[y != 0] * 2.0)


def test_non_dense_inputs_are_made_contiguous_by_torch():
    x = torch.randn(8, 10)[:, ::2]
    assert not D.served(x, 0.5)
    torch.manual_seed(0)
    assert torch.equal(D.dropout(x, 0.5), (torch.manual_seed(0), F.dropout(x, 0.5))[1])


def test_same_seed_same_bits_on_one_and_two_threads():
    x = torch.randn(64, 32, 16, 16)
    before = torch.get_num_threads()
    out = []
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            torch.manual_seed(4)
            out.append(D.dropout(x, 0.5))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(out[0], out[1])


def test_nan_and_inf_propagate_as_torch_does():
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0] * 64)
    y = D._apply(x, 2, 0.5)
    keep = expected_mask(x.numel(), 2, 0.5)
    assert torch.equal(torch.isnan(y), torch.isnan(x) | (~keep & torch.isinf(x)))  # inf * 0 = NaN, as in torch


@pytest.mark.parametrize("case", ["eval", "p0", "p1", "float64", "inplace", "reference", "empty"])
def test_calls_it_does_not_serve_are_torchs(case):
    x = torch.randn(6, 7, dtype=torch.float64 if case == "float64" else torch.float32)
    p, training, inplace = {"p0": 0.0, "p1": 1.0}.get(case, 0.5), case != "eval", case == "inplace"
    if case == "empty":
        x = torch.empty(0, 7)
    with kernels.use("reference") if case == "reference" else torch.no_grad():
        assert not D.served(x, p, training, inplace)
        torch.manual_seed(3)
        got = D.dropout(x.clone(), p, training, inplace)
        torch.manual_seed(3)
        want = F.dropout(x.clone(), p, training, inplace)
    assert torch.equal(got, want)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_probability_is_refused(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        D.dropout(torch.ones(3), p)


def test_compiled_and_traced_calls_take_torchs_dropout():
    x = torch.randn(4, 8)

    @torch.compile(fullgraph=True, backend="eager")
    def f(t):
        return D.dropout(t, 0.5)

    y = f(x)
    assert y.shape == x.shape and set((y[y != 0] / x[y != 0]).round(decimals=4).tolist()) <= {2.0}


def test_smcn_uses_it_and_eval_is_the_identity():
    m = create_model("smcn", in_channels=3, num_classes=10, input_size=32, act="relu", width_divisor=8)
    drops = [mod for mod in m.modules() if isinstance(mod, torch.nn.Dropout)]
    assert len(drops) == 3 and all(isinstance(d, Dropout) for d in drops)
    x = torch.randn(2, 3, 32, 32)
    m.eval()
    assert torch.equal(m(x), m(x))
    m.train()
    torch.manual_seed(0)
    a = m(x)
    torch.manual_seed(0)
    assert torch.equal(a, m(x))
